//! Builds or configurations of the service side by side on one page: the
//! throughput at saturation of each (closed loop), then each one's tail
//! under the same open-loop arrival rate, 70% of the first variant's peak.
//! Rounds alternate the variants' order, and each variant's median round is
//! kept (this machine is shared; single runs vary).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::rounds::{measure, median_round, Measured};
use crate::http::{self, Call, LoadResult};
use crate::pages::Page;
use crate::servers::{Kind, Server};

/// Rounds per variant, each measuring every variant once.
const ROUNDS: usize = 4;

/// A build of the service (None: this one) and the arguments it runs with.
pub struct Variant<'a> {
    pub name: &'a str,
    pub binary: Option<&'a Path>,
    pub args: Vec<String>,
}

impl Variant<'_> {
    async fn start(&self, page: &Page, workers: usize) -> Result<Server, String> {
        let call = Call::render(page.component, &page.props);
        match self.binary {
            Some(binary) => {
                Server::start_service_from(binary, &page.bundle, workers, &call, &self.args).await
            }
            None => Server::start(Kind::Service, &page.bundle, workers, &call, &self.args).await,
        }
    }
}

/// What one variant did on one page.
#[derive(serde::Serialize)]
pub struct Compared {
    pub variant: String,
    /// Median round at saturation.
    pub peak: Measured,
    /// Median round (by p99/p50) at 70% of the first variant's peak.
    pub at_70: LoadResult,
}

impl Compared {
    pub fn tail_ratio(&self) -> f64 {
        tail_ratio(&self.at_70)
    }
}

/// Every variant on `page` with `workers` workers.
pub async fn compare(
    variants: &[Variant<'_>],
    page: &Page,
    workers: usize,
    seconds: Duration,
) -> Result<Vec<Compared>, String> {
    let call = Call::render(page.component, &page.props);
    let peaks = in_rounds(variants, |variant| {
        let call = call.clone();
        async move {
            let server = variant.start(page, workers).await?;
            measure(&server, call, 2 * workers, seconds).await
        }
    })
    .await?;
    let peaks: Vec<Measured> = peaks.into_iter().map(median_round).collect();
    let rate = 0.7 * peaks[0].load.per_sec;
    let calls = Arc::new(vec![call]);
    let tails = in_rounds(variants, |variant| {
        let calls = calls.clone();
        async move {
            let server = variant.start(page, workers).await?;
            let warmup = Duration::from_secs(1);
            let addr = server.addr;
            http::closed_loop(addr, calls.clone(), 2 * workers, warmup, warmup, u64::MAX).await?;
            http::open_loop(addr, calls, rate, seconds, 64).await
        }
    })
    .await?;
    Ok(variants
        .iter()
        .zip(peaks.into_iter().zip(tails))
        .map(|(variant, (peak, tails))| Compared {
            variant: variant.name.to_owned(),
            peak,
            at_70: median_tail(tails),
        })
        .collect())
}

/// `ROUNDS` results of `run` per variant, the variants' order rotating
/// from round to round.
async fn in_rounds<'v, T, F>(
    variants: &'v [Variant<'v>],
    run: impl Fn(&'v Variant<'v>) -> F,
) -> Result<Vec<Vec<T>>, String>
where
    F: std::future::Future<Output = Result<T, String>>,
{
    let mut results: Vec<Vec<T>> = variants.iter().map(|_| Vec::new()).collect();
    for round in 0..ROUNDS {
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            results[i].push(run(&variants[i]).await?);
        }
    }
    Ok(results)
}

/// The round of median p99/p50.
fn median_tail(mut rounds: Vec<LoadResult>) -> LoadResult {
    rounds.sort_by(|a, b| tail_ratio(a).total_cmp(&tail_ratio(b)));
    rounds.swap_remove(rounds.len() / 2)
}

fn tail_ratio(load: &LoadResult) -> f64 {
    load.p99_us as f64 / load.p50_us.max(1) as f64
}

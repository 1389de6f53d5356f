//! What the HTTP benchmarks of streamed pages share: one closed-loop round
//! of a call against a server, with the CPU time the server's processes
//! used and their memory, and the median of alternating rounds (this
//! machine is shared; single runs vary).

use std::sync::Arc;
use std::time::Duration;

use crate::http::{self, Call, LoadResult};
use crate::servers::Server;

/// Rounds per configuration: the configurations of a server are measured
/// in turn, and each one's median round is reported.
pub const ROUNDS: usize = 3;

/// One round of one call on one server.
#[derive(serde::Serialize)]
pub struct Measured {
    #[serde(flatten)]
    pub load: LoadResult,
    pub cpu_ms_per_render: f64,
    /// Resident memory of the server's processes at the end of the round.
    pub rss_mib: f64,
}

/// `concurrency` connections sending `call` for `seconds`, after a second
/// of warm-up.
pub async fn measure(
    server: &Server,
    call: Call,
    concurrency: usize,
    seconds: Duration,
) -> Result<Measured, String> {
    let calls = Arc::new(vec![call]);
    let warmup = Duration::from_secs(1);
    let addr = server.addr;
    http::closed_loop(addr, calls.clone(), concurrency, warmup, warmup, u64::MAX).await?;
    let cpu_before = server.cpu_time();
    let load =
        http::closed_loop(addr, calls, concurrency, Duration::ZERO, seconds, u64::MAX).await?;
    let cpu = server.cpu_time().saturating_sub(cpu_before);
    Ok(Measured {
        cpu_ms_per_render: cpu.as_secs_f64() * 1e3 / load.requests.max(1) as f64,
        rss_mib: server.rss_kib().0 as f64 / 1024.0,
        load,
    })
}

/// The round of median throughput.
pub fn median_round(mut rounds: Vec<Measured>) -> Measured {
    rounds.sort_by(|a, b| a.load.per_sec.total_cmp(&b.load.per_sec));
    rounds.swap_remove(rounds.len() / 2)
}

/// One line per configuration of a server.
pub fn print(label: &str, rows: &[(&str, &Measured)]) {
    println!("{label}:");
    for (name, m) in rows {
        let l = &m.load;
        println!(
            "  {name:<19} {:>6.0} renders/s  first byte p50 {:>6} us p99 {:>6} us  last byte p50 {:>6} us p99 {:>6} us  cpu {:.2} ms/render  rss {:.0} MiB  errors {}",
            l.per_sec, l.first_byte_p50_us, l.first_byte_p99_us, l.p50_us, l.p99_us, m.cpu_ms_per_render, m.rss_mib, l.errors
        );
    }
}

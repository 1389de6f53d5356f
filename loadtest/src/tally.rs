//! What each load task counts (the latency of every successful request in
//! an hdr histogram, and the failures), and how the tasks' counts are
//! joined.

use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::task::JoinHandle;

/// Latencies in microseconds of the successful requests, and the failures.
pub struct Tally {
    pub hist: Histogram<u64>,
    pub errors: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"),
            errors: 0,
        }
    }
}

impl Tally {
    /// Counts one request: its latency when it succeeded, else a failure.
    pub fn record(&mut self, ok: bool, latency: Duration) {
        if ok {
            self.hist.record(latency.as_micros().max(1) as u64).ok();
        } else {
            self.errors += 1;
        }
    }

    /// Joins the tallies of `tasks` into one.
    pub async fn merge(tasks: Vec<JoinHandle<Tally>>) -> Result<Tally, String> {
        let mut all = Tally::default();
        for t in tasks {
            let one = t.await.map_err(|e| e.to_string())?;
            all.hist.add(one.hist).map_err(|e| e.to_string())?;
            all.errors += one.errors;
        }
        Ok(all)
    }
}

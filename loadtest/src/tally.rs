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

    fn add(&mut self, other: Tally) -> Result<(), String> {
        self.hist.add(other.hist).map_err(|e| e.to_string())?;
        self.errors += other.errors;
        Ok(())
    }

    /// Joins the tallies of `tasks` into one.
    pub async fn merge(tasks: Vec<JoinHandle<Tally>>) -> Result<Tally, String> {
        let mut all = Tally::default();
        for t in tasks {
            all.add(t.await.map_err(|e| e.to_string())?)?;
        }
        Ok(all)
    }

    /// Joins the pairs of tallies of `tasks` into one pair.
    pub async fn merge_pairs(
        tasks: Vec<JoinHandle<(Tally, Tally)>>,
    ) -> Result<(Tally, Tally), String> {
        let (mut first, mut second) = (Tally::default(), Tally::default());
        for t in tasks {
            let (a, b) = t.await.map_err(|e| e.to_string())?;
            first.add(a)?;
            second.add(b)?;
        }
        Ok((first, second))
    }
}

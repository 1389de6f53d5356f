//! Settings of a render pool. Defaults are chosen to serve a first run.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a pool runs its isolates. Every field has a sensible default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Worker threads, one isolate each. 0 means the available parallelism.
    pub workers: usize,
    /// Renders each worker runs before it reports ready, so the first real
    /// request does not pay for unoptimized code.
    pub warmup_renders: usize,
    /// Warm-up renders of an isolate that replaces a poisoned or worn-out
    /// one: fewer, so the worker is back sooner (its code comes from the
    /// code cache; the JIT warms up on the first requests).
    pub replacement_warmup_renders: usize,
    /// Jobs that may wait for a free worker before `render` answers `Overloaded`.
    pub queue_capacity: usize,
    /// How long a job may wait in the queue before it is refused.
    #[serde(with = "millis")]
    pub queue_timeout: Duration,
    /// Default deadline of one render (including awaited promises and timers).
    #[serde(with = "millis")]
    pub render_timeout: Duration,
    /// Upper bound for a per-request deadline.
    #[serde(with = "millis")]
    pub max_render_timeout: Duration,
    /// Deadline for evaluating the bundle's top level.
    #[serde(with = "millis")]
    pub load_timeout: Duration,
    /// Per-isolate heap limit in MiB.
    pub heap_limit_mb: usize,
    /// Size of one young-generation semi-space in MiB (V8's scavenger).
    /// Measured (`ssr-bench semi-space`): 32 MiB gives pages of 100-200 KB
    /// of HTML 2-15% more throughput and a p99 2-3x lower than 16 MiB,
    /// at about 9% less throughput on a 26 KB page.
    pub semi_space_mb: usize,
    /// Replace an isolate after this many renders (0 = never).
    pub max_renders_per_isolate: u64,
    /// Replace an isolate when its heap after a render exceeds this fraction
    /// of the heap limit.
    pub recycle_heap_fraction: f64,
    /// Largest HTML a render may return, in bytes.
    pub max_output_bytes: usize,
    /// Give every render a fresh context with the bundle evaluated anew:
    /// nothing a render leaves in globals or module state reaches the next
    /// one. Much slower; see the README's "Isolation" section.
    pub fresh_context: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            warmup_renders: 200,
            replacement_warmup_renders: 50,
            queue_capacity: 1024,
            queue_timeout: Duration::from_secs(5),
            render_timeout: Duration::from_secs(5),
            max_render_timeout: Duration::from_secs(30),
            load_timeout: Duration::from_secs(30),
            heap_limit_mb: 512,
            semi_space_mb: 32,
            max_renders_per_isolate: 0,
            recycle_heap_fraction: 0.8,
            max_output_bytes: 64 * 1024 * 1024,
            fresh_context: false,
        }
    }
}

impl PoolConfig {
    /// The worker count with 0 resolved to the available parallelism.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    /// The deadline for a request that asked for `requested` (clamped to the maximum).
    pub fn deadline_for(&self, requested: Option<Duration>) -> Duration {
        requested
            .unwrap_or(self.render_timeout)
            .min(self.max_render_timeout)
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

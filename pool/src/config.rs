//! Settings of a render pool. Defaults are chosen to serve a first run.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The smallest heap an isolate with the runtime and a React bundle can
/// load in.
pub const MIN_HEAP_LIMIT_MB: usize = 32;

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
    /// Renders one isolate may have in flight at once (waiting on timers,
    /// promises or a slow reader); CPU-bound JavaScript still runs one at
    /// a time. Fresh-context mode allows one. It should cover an isolate's
    /// renders per second times their longest wait: with 100 ms waits and
    /// ~700 renders/s per isolate, 32 reached 0.43 of the throughput without
    /// waits, 64 0.70, 128 0.88, 256 0.90 (`ssr-bench suspense`).
    pub max_renders_in_flight: usize,
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
    /// Lower bound for a per-request deadline: shorter ones are raised to it,
    /// so no caller can ask for renders that could only time out.
    #[serde(with = "millis")]
    pub min_render_timeout: Duration,
    /// How long JavaScript may keep the CPU past a render's deadline before
    /// the isolate's execution is terminated (and the isolate replaced). A
    /// render that misses its deadline but yields within the grace is just
    /// abandoned; the isolate keeps serving.
    #[serde(with = "millis")]
    pub termination_grace: Duration,
    /// Deadline for evaluating the bundle's top level.
    #[serde(with = "millis")]
    pub load_timeout: Duration,
    /// Per-isolate heap limit in MiB.
    pub heap_limit_mb: usize,
    /// Size of one young-generation semi-space in MiB (V8's scavenger);
    /// the young generation starts at its full size. With scavenges
    /// between renders (`idle_gc`), 16 MiB spends less time in GC per
    /// render than the old default of 32 MiB grown by V8 did, on every
    /// benchmark page, and a worker costs about 45 MiB under load instead
    /// of 90-110 (32 MiB at full size: two thirds of the GC time of 16,
    /// about 20 MiB more a worker).
    pub semi_space_mb: usize,
    /// Collect an isolate's young generation between renders: when its
    /// worker has nothing else to do and it is half full, and before a job
    /// when it has no render in flight and is three quarters full. Renders
    /// then rarely pay for a scavenge, and their objects are not promoted.
    /// Off, every collection happens inside a render. Measured with
    /// `ssr-bench gc`.
    pub idle_gc: bool,
    /// Memory one worker's isolates may hold together, in MiB (0 = no
    /// budget). A worker serving several bundles drops the isolate of the
    /// least recently used idle one to stay within it, and builds it again
    /// (from the code cache, with the replacement warm-up) at its next job.
    /// The isolate in use is always kept, so one isolate may exceed it.
    pub worker_memory_budget_mb: usize,
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
    /// Start isolates from a start-up snapshot of the warmed bundle when
    /// the code-cache store holds one (script bundles; not with
    /// `fresh_context`), and have one taken when it does not (see the
    /// pool builder's `snapshot_maker`).
    pub snapshots: bool,
    /// Origins `fetch` may reach (`https://api.internal:8443`); empty turns
    /// fetch off. Any other origin, also one reached by a redirect, is
    /// refused.
    pub fetch_allow: Vec<String>,
    /// Requests one render may start with `fetch`.
    pub fetch_max_requests: usize,
    /// Response body bytes one render may receive over all its fetches.
    pub fetch_max_response_bytes: usize,
    /// How long one fetch may take, until its whole body is in.
    #[serde(with = "millis")]
    pub fetch_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl PoolConfig {
    /// The defaults, usable in constant contexts (the CLI's `--help`).
    pub const DEFAULT: PoolConfig = PoolConfig {
        workers: 0,
        warmup_renders: 200,
        replacement_warmup_renders: 50,
        max_renders_in_flight: 128,
        queue_capacity: 1024,
        queue_timeout: Duration::from_secs(5),
        render_timeout: Duration::from_secs(5),
        max_render_timeout: Duration::from_secs(30),
        min_render_timeout: Duration::from_millis(10),
        termination_grace: Duration::from_millis(500),
        load_timeout: Duration::from_secs(30),
        heap_limit_mb: 512,
        semi_space_mb: 16,
        idle_gc: true,
        worker_memory_budget_mb: 0,
        max_renders_per_isolate: 0,
        recycle_heap_fraction: 0.8,
        max_output_bytes: 64 * 1024 * 1024,
        fresh_context: false,
        snapshots: true,
        fetch_allow: Vec::new(),
        fetch_max_requests: 32,
        fetch_max_response_bytes: 8 * 1024 * 1024,
        fetch_timeout: Duration::from_secs(3),
    };

    /// The memory budget of one worker's isolates, in bytes.
    pub fn worker_memory_budget(&self) -> Option<usize> {
        (self.worker_memory_budget_mb > 0).then_some(self.worker_memory_budget_mb << 20)
    }

    /// The worker count with 0 resolved to the available parallelism.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    /// The deadline for a request that asked for `requested`, clamped to
    /// the minimum and maximum.
    pub fn deadline_for(&self, requested: Option<Duration>) -> Duration {
        requested
            .unwrap_or(self.render_timeout)
            .clamp(self.min_render_timeout, self.max_render_timeout)
    }

    /// Refuses settings no pool can serve with, naming the setting and the
    /// allowed range.
    pub fn validate(&self) -> Result<(), String> {
        fn at_least<T: PartialOrd + std::fmt::Debug>(
            name: &str,
            value: T,
            min: T,
        ) -> Result<(), String> {
            if value < min {
                return Err(format!("{name} must be at least {min:?} (got {value:?})"));
            }
            Ok(())
        }
        let ms = Duration::from_millis;
        at_least("queue_capacity", self.queue_capacity, 1)?;
        at_least("max_renders_in_flight", self.max_renders_in_flight, 1)?;
        at_least("queue_timeout", self.queue_timeout, ms(1))?;
        at_least("min_render_timeout", self.min_render_timeout, ms(1))?;
        at_least("render_timeout", self.render_timeout, ms(1))?;
        // Deadlines are clamped to [min, max]: the range must not be empty.
        at_least(
            "max_render_timeout",
            self.max_render_timeout,
            self.min_render_timeout,
        )?;
        at_least("load_timeout", self.load_timeout, ms(100))?;
        at_least("heap_limit_mb", self.heap_limit_mb, MIN_HEAP_LIMIT_MB)?;
        at_least("semi_space_mb", self.semi_space_mb, 1)?;
        at_least("max_output_bytes", self.max_output_bytes, 1)?;
        at_least("fetch_max_requests", self.fetch_max_requests, 1)?;
        at_least("fetch_timeout", self.fetch_timeout, ms(1))?;
        for origin in &self.fetch_allow {
            crate::fetch::parse_origin(origin)?;
        }
        if !(0.1..=1.0).contains(&self.recycle_heap_fraction) {
            return Err(format!(
                "recycle_heap_fraction must be between 0.1 and 1.0 (got {})",
                self.recycle_heap_fraction
            ));
        }
        Ok(())
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

//! A pool of V8 isolates, one per worker thread, each holding one evaluated
//! React server bundle. This is the only crate that names `v8::`; everything
//! it hands out is owned and `Send`.
//!
//! ```text
//! RenderPool::render(req) -> bounded queue -> idle worker thread
//!   -> isolate: call the component's render(props) -> settle promises/timers
//!   -> owned html / RenderError -> oneshot reply
//! ```

mod config;
mod error;
mod event_loop;
mod exception;
mod fetch;
mod isolate;
mod job;
mod limits;
mod module;
mod observe;
mod open;
pub mod platform;
mod render;
mod run;
mod runtime;
mod script;
mod sink;
mod timers;
mod web_host;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bundles::{Bundle, ContentHash};
use tokio::sync::{oneshot, watch};

pub use config::PoolConfig;
pub use error::{ErrorKind, JsError, RenderError, RenderOutcome, ReplaceReason, StartError};
pub use isolate::LoadReport;
pub use observe::{CodeCacheStore, FetchOutcome, NoopObserver, PoolObserver};
pub use open::open_bundle;
pub use script::CacheOutcome;
pub use sink::{RenderBody, RenderStream};
pub use worker::PoolStatus;

use job::{Job, JobClaim, LeaveOnDrop};
use worker::{BundleEntry, Control, Shared};

/// Identifies a render in flight on one isolate.
pub(crate) type RenderId = u64;

/// One render: a registered component and its props as JSON text.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub component: String,
    /// The props as JSON text; parsed inside the isolate.
    pub props: String,
    /// A per-request deadline (clamped to the pool's maximum).
    pub timeout: Option<Duration>,
    /// Headers of the original request the render sees as
    /// `context.headers` (lower-case names): only those the operator
    /// passes through.
    pub headers: Vec<(String, String)>,
    /// The bundle to render with; None renders with the pool's first one.
    pub bundle: Option<ContentHash>,
}

impl RenderRequest {
    pub fn new(component: impl Into<String>, props: impl Into<String>) -> Self {
        Self {
            component: component.into(),
            props: props.into(),
            timeout: None,
            headers: Vec::new(),
            bundle: None,
        }
    }
}

/// The HTML of a successful render and where the time went.
#[derive(Debug, Clone)]
pub struct RenderOutput {
    pub html: String,
    /// Time inside the isolate (including awaited promises and timers).
    pub render_time: Duration,
    /// Time the job waited for a free worker.
    pub queue_time: Duration,
    /// Which worker rendered it.
    pub worker: usize,
}

/// A render's first answer: the whole HTML, or a stream of chunks.
pub struct Rendered {
    pub body: RenderBody,
    /// Time inside the isolate to the HTML, or to a stream's first chunk.
    pub render_time: Duration,
    /// Time the job waited for a free worker.
    pub queue_time: Duration,
    /// Which worker rendered it.
    pub worker: usize,
}

impl Rendered {
    /// The whole HTML (a stream read to its end).
    pub async fn into_html(self) -> Result<String, RenderError> {
        match self.body {
            RenderBody::Html(html) => Ok(html),
            RenderBody::Stream(stream) => stream.collect().await,
        }
    }
}

/// A warm-up (or `warm` build step) render.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Sample {
    pub component: String,
    /// Props as JSON text.
    #[serde(with = "props_text")]
    pub props: String,
}

mod props_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(props: &str, s: S) -> Result<S::Ok, S::Error> {
        let value: serde_json::Value =
            serde_json::from_str(props).map_err(serde::ser::Error::custom)?;
        serde::Serialize::serialize(&value, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let value = Option::<serde_json::Value>::deserialize(d)?;
        Ok(value.map_or_else(|| "{}".to_owned(), |v| v.to_string()))
    }
}

/// Builds a [`RenderPool`].
pub struct PoolBuilder {
    bundle: Bundle,
    config: PoolConfig,
    samples: Vec<Sample>,
    observer: Arc<dyn PoolObserver>,
    code_cache: Option<Arc<dyn CodeCacheStore>>,
    v8_flags: String,
}

impl PoolBuilder {
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// Renders used to warm each isolate (default: every registered
    /// component once with `{}` props, cycled).
    pub fn samples(mut self, samples: Vec<Sample>) -> Self {
        self.samples = samples;
        self
    }

    pub fn observer(mut self, observer: Arc<dyn PoolObserver>) -> Self {
        self.observer = observer;
        self
    }

    pub fn code_cache(mut self, store: Arc<dyn CodeCacheStore>) -> Self {
        self.code_cache = Some(store);
        self
    }

    /// V8 flags for the process (only the first pool of a process sets them).
    pub fn v8_flags(mut self, flags: impl Into<String>) -> Self {
        self.v8_flags = flags.into();
        self
    }

    /// Starts the worker threads. They load and warm their isolates in the
    /// background; see [`RenderPool::wait_ready`].
    pub fn start(self) -> Result<RenderPool, StartError> {
        self.config.validate().map_err(StartError::Config)?;
        platform::init(&self.v8_flags).map_err(StartError::Config)?;
        let workers = self.config.worker_count();
        let (jobs_tx, jobs_rx) = async_channel::bounded(self.config.queue_capacity);
        let (status_tx, status_rx) = watch::channel(PoolStatus::default());
        let fetcher = fetch::Fetcher::new(&self.config, Arc::clone(&self.observer))
            .map_err(StartError::Config)?
            .map(Arc::new);
        let first = BundleEntry::new(self.bundle, self.samples);
        let shared = Arc::new(Shared {
            config: self.config,
            observer: self.observer,
            fetcher,
            code_cache: self.code_cache,
            v8_tag: platform::cached_data_version_tag(),
            status: status_tx,
            busy_since: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            epoch: Instant::now(),
        });
        let mut threads = Vec::with_capacity(workers);
        let mut controls = Vec::with_capacity(workers);
        for id in 0..workers {
            let shared = Arc::clone(&shared);
            let (first, jobs) = (Arc::clone(&first), jobs_rx.clone());
            let (control_tx, control_rx) = async_channel::unbounded();
            controls.push(control_tx);
            let thread = std::thread::Builder::new()
                .name(format!("ssr-worker-{id}"))
                // V8 sizes its JS stack limit from the thread's stack.
                .stack_size(8 << 20)
                .spawn(move || worker::run(id, shared, first, jobs, control_rx))
                .map_err(|e| StartError::Thread(e.to_string()));
            match thread {
                Ok(t) => threads.push(t),
                Err(e) => {
                    jobs_tx.close();
                    for t in threads {
                        let _ = t.join();
                    }
                    return Err(e);
                }
            }
        }
        let default = first.bundle.hash();
        let routes = HashMap::from([(
            default,
            Route {
                jobs: jobs_tx,
                entry: first,
            },
        )]);
        Ok(RenderPool {
            inner: Arc::new(Inner {
                routes: RwLock::new(routes),
                default,
                controls,
                threads: Mutex::new(threads),
                status: status_rx,
                workers,
                shared,
            }),
        })
    }
}

/// Where the jobs of one bundle go: its queue, which every worker with a
/// lane for it takes from.
struct Route {
    jobs: async_channel::Sender<Job>,
    entry: Arc<BundleEntry>,
}

struct Inner {
    /// The bundles served, by content hash.
    routes: RwLock<HashMap<ContentHash, Route>>,
    /// The bundle the pool started with, which requests that name none get.
    default: ContentHash,
    /// Per worker: how the pool asks it to add a bundle.
    controls: Vec<async_channel::Sender<Control>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    status: watch::Receiver<PoolStatus>,
    workers: usize,
    shared: Arc<Shared>,
}

impl Inner {
    fn routes(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ContentHash, Route>> {
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes every queue (the workers finish what is queued, then stop).
    fn close(&self) {
        for route in self.routes().values() {
            route.jobs.close();
        }
        for control in &self.controls {
            control.close();
        }
    }

    fn close_and_join(&self) {
        self.close();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close_and_join();
    }
}

/// A pool of warm isolates rendering one bundle. Cheap to clone; the
/// threads stop when [`RenderPool::shutdown`] is called or the last clone
/// is dropped.
#[derive(Clone)]
pub struct RenderPool {
    inner: Arc<Inner>,
}

impl RenderPool {
    pub fn builder(bundle: Bundle) -> PoolBuilder {
        PoolBuilder {
            bundle,
            config: PoolConfig::default(),
            samples: Vec::new(),
            observer: Arc::new(NoopObserver),
            code_cache: None,
            v8_flags: platform::DEFAULT_V8_FLAGS.to_owned(),
        }
    }

    /// Renders on the next worker with room and returns the whole HTML (a
    /// streamed render is read to its end). Refuses at once with
    /// `Overloaded` when the queue is full, and with `QueueTimeout` when no
    /// worker has started the job within the queue timeout. Dropping the
    /// future cancels the job (queued or in flight). Must be awaited inside
    /// a tokio runtime (for the timer).
    pub async fn render(&self, request: RenderRequest) -> Result<RenderOutput, RenderError> {
        let started = Instant::now();
        let rendered = self.render_streaming(request).await?;
        let (queue_time, worker) = (rendered.queue_time, rendered.worker);
        let html = rendered.into_html().await?;
        Ok(RenderOutput {
            html,
            render_time: started.elapsed().saturating_sub(queue_time),
            queue_time,
            worker,
        })
    }

    /// Like [`RenderPool::render`], but answers at the first byte: a render
    /// that returns a stream is handed over as [`RenderBody::Stream`], its
    /// chunks arriving as the isolate emits them. Dropping the stream
    /// cancels the render.
    pub async fn render_streaming(&self, request: RenderRequest) -> Result<Rendered, RenderError> {
        let (reply, mut answer) = oneshot::channel();
        let claim = Arc::new(JobClaim::default());
        let bundle = request.bundle.unwrap_or(self.inner.default);
        let jobs = match self.inner.routes().get(&bundle) {
            Some(route) => route.jobs.clone(),
            None => return Err(RenderError::UnknownBundle(bundle)),
        };
        let job = Job {
            request,
            enqueued: Instant::now(),
            reply,
            claim: Arc::clone(&claim),
        };
        match jobs.try_send(job) {
            Ok(()) => {}
            Err(async_channel::TrySendError::Full(_)) => {
                return Err(RenderError::Overloaded {
                    capacity: self.inner.shared.config.queue_capacity,
                })
            }
            Err(async_channel::TrySendError::Closed(_)) => return Err(RenderError::ShuttingDown),
        }
        // Tells the worker when this future is dropped before its answer.
        let leave = LeaveOnDrop::new(Arc::clone(&claim));
        // Refuse the job when no worker has started it by the queue timeout,
        // instead of letting the caller wait for its turn only to be told so.
        let queue_timeout = self.inner.shared.config.queue_timeout;
        let answer = match tokio::time::timeout(queue_timeout, &mut answer).await {
            Ok(result) => result,
            Err(_) if claim.abandon() => Ok(Err(RenderError::QueueTimeout(queue_timeout))),
            Err(_) => answer.await,
        };
        let answer = answer.unwrap_or(Err(RenderError::WorkerLost));
        match answer {
            Ok(Rendered {
                body: RenderBody::Stream(stream),
                render_time,
                queue_time,
                worker,
            }) => Ok(Rendered {
                // From here the stream tells the worker when its reader left.
                body: RenderBody::Stream(stream.leaving(leave)),
                render_time,
                queue_time,
                worker,
            }),
            other => {
                leave.keep();
                other
            }
        }
    }

    /// Waits until every worker is warm, or fails with the reason the bundle
    /// cannot be loaded.
    pub async fn wait_ready(&self) -> Result<(), StartError> {
        let mut status = self.inner.status.clone();
        let workers = self.inner.workers;
        let status = status
            .wait_for(|s| s.failed.is_some() || s.ready >= workers)
            .await
            .map_err(|_| StartError::Thread("workers stopped".into()))?;
        match &status.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// A snapshot of readiness and the first load report.
    pub fn status(&self) -> PoolStatus {
        self.inner.status.borrow().clone()
    }

    /// True when every worker is warm and none is stuck on a job for
    /// longer than any job may take.
    pub fn is_ready(&self) -> bool {
        self.inner.status.borrow().ready >= self.inner.workers
            && self.inner.shared.stuck_workers() == 0
    }

    /// Workers on one job for longer than its deadline and grace allow.
    pub fn stuck_workers(&self) -> usize {
        self.inner.shared.stuck_workers()
    }

    pub fn workers(&self) -> usize {
        self.inner.workers
    }

    /// Jobs waiting for a worker, over all bundles.
    pub fn queue_depth(&self) -> usize {
        self.inner.routes().values().map(|r| r.jobs.len()).sum()
    }

    pub fn config(&self) -> &PoolConfig {
        &self.inner.shared.config
    }

    /// The bundle the pool started with (what requests naming none get).
    pub fn bundle(&self) -> Bundle {
        self.bundle_by_hash(&self.inner.default)
            .expect("the first bundle stays served")
    }

    /// The bundle with this content hash, when the pool serves it.
    pub fn bundle_by_hash(&self, hash: &ContentHash) -> Option<Bundle> {
        let routes = self.inner.routes();
        routes.get(hash).map(|route| route.entry.bundle.clone())
    }

    /// The content hashes of the bundles served.
    pub fn bundles(&self) -> Vec<ContentHash> {
        self.inner.routes().keys().copied().collect()
    }

    /// Serves another bundle beside those served: every worker loads it
    /// and warms an isolate for it (warm-up `samples`, default every
    /// component with `{}`) while it keeps serving the others, and requests
    /// naming it are taken only once every worker is warm on it, so none is
    /// rendered cold. Fails with the first worker's load error (the bundle
    /// is then not served). Adding a bundle already served does nothing.
    pub async fn add_bundle(&self, bundle: Bundle, samples: Vec<Sample>) -> Result<(), StartError> {
        let hash = bundle.hash();
        if self.inner.routes().contains_key(&hash) {
            return Ok(());
        }
        let entry = BundleEntry::new(bundle, samples);
        let (jobs_tx, jobs_rx) = async_channel::bounded(self.inner.shared.config.queue_capacity);
        let (loaded_tx, mut loaded) = tokio::sync::mpsc::unbounded_channel();
        for control in &self.inner.controls {
            let add = Control::Add {
                entry: Arc::clone(&entry),
                jobs: jobs_rx.clone(),
                loaded: loaded_tx.clone(),
            };
            if control.try_send(add).is_err() {
                return Err(StartError::Thread("the pool is shutting down".into()));
            }
        }
        drop((jobs_rx, loaded_tx));
        for _ in 0..self.inner.workers {
            match loaded.recv().await {
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    // Workers that loaded it drop their lane once its queue
                    // closes.
                    jobs_tx.close();
                    return Err(error);
                }
                None => {
                    jobs_tx.close();
                    return Err(StartError::Thread("workers stopped".into()));
                }
            }
        }
        let route = Route {
            jobs: jobs_tx,
            entry,
        };
        let mut routes = self.inner.routes.write().unwrap_or_else(|e| e.into_inner());
        routes.insert(hash, route);
        Ok(())
    }

    /// Stops serving a bundle: requests naming it fail with
    /// `UnknownBundle` from now on, the jobs already queued and the renders
    /// in flight finish, and then every worker drops its isolate. The
    /// pool's first bundle cannot be removed. False when it was not served.
    pub fn remove_bundle(&self, hash: &ContentHash) -> bool {
        if *hash == self.inner.default {
            return false;
        }
        let mut routes = self.inner.routes.write().unwrap_or_else(|e| e.into_inner());
        match routes.remove(hash) {
            Some(route) => {
                route.jobs.close();
                true
            }
            None => false,
        }
    }

    /// Stops taking jobs, lets the workers finish what is queued, and joins
    /// their threads (each isolate is dropped on its own thread).
    pub async fn shutdown(&self) {
        self.inner.close();
        let inner = Arc::clone(&self.inner);
        let _ = tokio::task::spawn_blocking(move || inner.close_and_join()).await;
    }

    /// Like [`RenderPool::shutdown`], but gives up on workers still running
    /// after `timeout` (they are left to the process's exit) and says how
    /// many there were.
    pub async fn shutdown_within(&self, timeout: Duration) -> Result<(), usize> {
        self.inner.close();
        let threads =
            std::mem::take(&mut *self.inner.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(threads.len()));
        let (done, finished) = oneshot::channel();
        let counter = Arc::clone(&running);
        // A plain thread, so nothing waits for it if it never finishes.
        std::thread::spawn(move || {
            for thread in threads {
                let _ = thread.join();
                counter.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            }
            let _ = done.send(());
        });
        match tokio::time::timeout(timeout, finished).await {
            Ok(_) => Ok(()),
            Err(_) => Err(running.load(std::sync::atomic::Ordering::Acquire)),
        }
    }

    /// Blocking variant of [`RenderPool::shutdown`] for non-async callers.
    pub fn shutdown_blocking(&self) {
        self.inner.close_and_join();
    }
}

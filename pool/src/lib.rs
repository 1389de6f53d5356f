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
mod lane;
mod limits;
mod loading;
mod module;
mod observe;
mod open;
pub mod platform;
mod render;
mod run;
mod runtime;
mod script;
mod sink;
pub mod snapshot;
mod timers;
mod warmup;
mod web_host;
mod worker;

use std::collections::HashMap;
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

/// The app the pool's first bundle serves, and requests that name none.
pub const DEFAULT_APP: &str = "default";

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
    /// The app whose bundle renders it; None is [`DEFAULT_APP`].
    pub app: Option<String>,
    /// A bundle to render with, whatever the apps point at (wins over
    /// `app`).
    pub bundle: Option<ContentHash>,
}

impl RenderRequest {
    pub fn new(component: impl Into<String>, props: impl Into<String>) -> Self {
        Self {
            component: component.into(),
            props: props.into(),
            timeout: None,
            headers: Vec::new(),
            app: None,
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
    /// The bundle that rendered it.
    pub bundle: ContentHash,
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
    /// The bundle that rendered it.
    pub bundle: ContentHash,
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
    /// Props as JSON text (`{}` when absent).
    #[serde(with = "props_text", default = "props_text::empty")]
    pub props: String,
}

mod props_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn empty() -> String {
        "{}".to_owned()
    }

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
        let fetcher = fetch::Fetcher::new(&self.config, Arc::clone(&self.observer))
            .map_err(StartError::Config)?
            .map(Arc::new);
        let first = BundleEntry::new(self.bundle, self.samples, false);
        let (shared, status_rx) = Shared::new(self.config, self.observer, fetcher, self.code_cache);
        let shared = Arc::new(shared);
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
        let by_hash = HashMap::from([(
            default,
            Route {
                jobs: jobs_tx,
                entry: first,
            },
        )]);
        Ok(RenderPool {
            inner: Arc::new(Inner {
                routes: RwLock::new(Routes {
                    by_hash,
                    apps: HashMap::from([(DEFAULT_APP.to_owned(), default)]),
                }),
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

/// The bundles served, by content hash, and the apps: names requests use,
/// each pointing at one of them. Routing a request and switching an app
/// both happen under this one lock, so a request is queued on the bundle
/// its app pointed at when it arrived, and that bundle is not removed
/// before the request is queued.
struct Routes {
    by_hash: HashMap<ContentHash, Route>,
    apps: HashMap<String, ContentHash>,
}

impl Routes {
    /// The queue of the bundle `request` names (by hash or app).
    fn jobs_for(&self, request: &RenderRequest) -> Result<&Route, RenderError> {
        let hash = match (&request.bundle, &request.app) {
            (Some(hash), _) => *hash,
            (None, app) => {
                let app = app.as_deref().unwrap_or(DEFAULT_APP);
                *self
                    .apps
                    .get(app)
                    .ok_or_else(|| RenderError::UnknownApp(app.to_owned()))?
            }
        };
        self.by_hash
            .get(&hash)
            .ok_or(RenderError::UnknownBundle(hash))
    }
}

struct Inner {
    routes: RwLock<Routes>,
    /// Per worker: how the pool asks it to add a bundle.
    controls: Vec<async_channel::Sender<Control>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    status: watch::Receiver<PoolStatus>,
    workers: usize,
    shared: Arc<Shared>,
}

impl Inner {
    /// Queues `job` on the bundle its request names. Under the routes'
    /// lock: a bundle is removed (its queue closed) only between requests,
    /// never between routing one and queueing it.
    fn queue(&self, job: Job) -> Result<(), RenderError> {
        let routes = self.routes();
        let jobs = &routes.jobs_for(&job.request)?.jobs;
        match jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(async_channel::TrySendError::Full(_)) => Err(RenderError::Overloaded {
                capacity: self.shared.config.queue_capacity,
            }),
            Err(async_channel::TrySendError::Closed(_)) => Err(RenderError::ShuttingDown),
        }
    }

    fn routes(&self) -> std::sync::RwLockReadGuard<'_, Routes> {
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }

    fn routes_mut(&self) -> std::sync::RwLockWriteGuard<'_, Routes> {
        self.routes.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes every queue (the workers finish what is queued, then stop).
    fn close(&self) {
        for route in self.routes().by_hash.values() {
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
        let (queue_time, worker, bundle) = (rendered.queue_time, rendered.worker, rendered.bundle);
        let html = rendered.into_html().await?;
        Ok(RenderOutput {
            html,
            render_time: started.elapsed().saturating_sub(queue_time),
            queue_time,
            worker,
            bundle,
        })
    }

    /// Like [`RenderPool::render`], but answers at the first byte: a render
    /// that returns a stream is handed over as [`RenderBody::Stream`], its
    /// chunks arriving as the isolate emits them. Dropping the stream
    /// cancels the render.
    pub async fn render_streaming(&self, request: RenderRequest) -> Result<Rendered, RenderError> {
        let (reply, mut answer) = oneshot::channel();
        let claim = Arc::new(JobClaim::default());
        self.inner.queue(Job {
            request,
            enqueued: Instant::now(),
            reply,
            claim: Arc::clone(&claim),
        })?;
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
                bundle,
            }) => Ok(Rendered {
                // From here the stream tells the worker when its reader left.
                body: RenderBody::Stream(stream.leaving(leave)),
                render_time,
                queue_time,
                worker,
                bundle,
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
        self.inner
            .routes()
            .by_hash
            .values()
            .map(|r| r.jobs.len())
            .sum()
    }

    pub fn config(&self) -> &PoolConfig {
        &self.inner.shared.config
    }

    /// The bundle of the `default` app (at first, the one the pool started
    /// with).
    pub fn bundle(&self) -> Bundle {
        let routes = self.inner.routes();
        routes.by_hash[&routes.apps[DEFAULT_APP]]
            .entry
            .bundle
            .clone()
    }

    /// The bundle with this content hash, when the pool serves it.
    pub fn bundle_by_hash(&self, hash: &ContentHash) -> Option<Bundle> {
        let routes = self.inner.routes();
        routes
            .by_hash
            .get(hash)
            .map(|route| route.entry.bundle.clone())
    }

    /// The content hashes of the bundles served.
    pub fn bundles(&self) -> Vec<ContentHash> {
        self.inner.routes().by_hash.keys().copied().collect()
    }

    /// The apps and the bundle each points at.
    pub fn apps(&self) -> Vec<(String, ContentHash)> {
        let routes = self.inner.routes();
        let mut apps: Vec<_> = routes.apps.iter().map(|(n, h)| (n.clone(), *h)).collect();
        apps.sort();
        apps
    }

    /// Points `app` at a served bundle, at once for every request that
    /// arrives from now on (those already queued render on the bundle they
    /// were queued for). Returns the bundle it pointed at before. Fails
    /// with `UnknownBundle` when the pool does not serve `bundle`.
    pub fn set_app(
        &self,
        app: &str,
        bundle: &ContentHash,
    ) -> Result<Option<ContentHash>, RenderError> {
        let mut routes = self.inner.routes_mut();
        if !routes.by_hash.contains_key(bundle) {
            return Err(RenderError::UnknownBundle(*bundle));
        }
        Ok(routes.apps.insert(app.to_owned(), *bundle))
    }

    /// Forgets an app (not `default`). Returns the bundle it pointed at.
    pub fn remove_app(&self, app: &str) -> Option<ContentHash> {
        if app == DEFAULT_APP {
            return None;
        }
        self.inner.routes_mut().apps.remove(app)
    }

    /// Serves another bundle beside those served: every worker in turn
    /// loads it and warms an isolate for it (warm-up `samples`, default
    /// every component with `{}`) while the others keep serving, and requests
    /// naming it are taken only once every worker is warm on it, so none is
    /// rendered cold. Fails with the first worker's load error, or when one
    /// of the given `samples` fails (the bundle is then not served). Adding
    /// a bundle already served does nothing.
    pub async fn add_bundle(&self, bundle: Bundle, samples: Vec<Sample>) -> Result<(), StartError> {
        let hash = bundle.hash();
        if self.inner.routes().by_hash.contains_key(&hash) {
            return Ok(());
        }
        let must_pass = !samples.is_empty();
        let entry = BundleEntry::new(bundle, samples, must_pass);
        let (jobs_tx, jobs_rx) = async_channel::bounded(self.inner.shared.config.queue_capacity);
        // One worker at a time: a worker loading a bundle takes no jobs, so
        // the others keep serving; and a bundle that cannot load is found
        // out by the first worker alone.
        for control in &self.inner.controls {
            let (loaded_tx, loaded) = oneshot::channel();
            let add = Control::Add {
                entry: Arc::clone(&entry),
                jobs: jobs_rx.clone(),
                loaded: loaded_tx,
            };
            let result = match control.try_send(add) {
                Ok(()) => loaded
                    .await
                    .unwrap_or_else(|_| Err(StartError::Thread("workers stopped".into()))),
                Err(_) => Err(StartError::Thread("the pool is shutting down".into())),
            };
            if let Err(error) = result {
                // Workers that loaded it drop their lane once its queue
                // closes.
                jobs_tx.close();
                return Err(error);
            }
        }
        let route = Route {
            jobs: jobs_tx,
            entry,
        };
        self.inner.routes_mut().by_hash.insert(hash, route);
        Ok(())
    }

    /// Stops serving a bundle: requests naming it fail with
    /// `UnknownBundle` from now on, the jobs already queued and the renders
    /// in flight finish, and then every worker drops its isolate. A bundle
    /// an app points at is not removed (point the app elsewhere first).
    /// False when it was not served or an app points at it.
    pub fn remove_bundle(&self, hash: &ContentHash) -> bool {
        let mut routes = self.inner.routes_mut();
        if routes.apps.values().any(|h| h == hash) {
            return false;
        }
        match routes.by_hash.remove(hash) {
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

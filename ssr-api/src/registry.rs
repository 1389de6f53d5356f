//! The bundle registry: the bundles the service holds, by content hash,
//! the state of each, and the app table (which bundle each app renders
//! with). It keeps the pool's routes and its own files in step:
//!
//! - an upload is stored under `<cache dir>/registry/bundles/<sha256>.js`
//!   (its warm-up samples beside it), then loaded and warmed on every
//!   worker (`loading`, `warming`, then `ready` or `failed`);
//! - pointing an app at a bundle waits until it is `ready`, then switches
//!   the app in the pool at once and writes `apps.json` atomically;
//! - a bundle no app points at any more is drained and dropped from memory
//!   (`unloaded`); deleting it removes its files.
//!
//! At start the service serves what `apps.json` says it served, unless the
//! `--bundle` it is started with changed since (a deploy by restart), in
//! which case `default` follows `--bundle`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use bundles::{Bundle, ContentHash};
use pool::{RenderPool, Sample, DEFAULT_APP};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::errors::ApiError;
use crate::metrics::Metrics;
use crate::snapshot::SnapshotTaker;

/// Where a bundle is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum BundleState {
    /// Stored; being read and checked.
    Loading,
    /// Every worker is loading and warming an isolate for it.
    Warming,
    /// Warm on every worker: an app may point at it.
    Ready,
    /// Refused, with the reason. Nothing of it is kept but this record.
    Failed { reason: String },
    /// Stored, but no app points at it, so no isolate holds it.
    Unloaded,
}

impl BundleState {
    fn settled(&self) -> bool {
        !matches!(self, BundleState::Loading | BundleState::Warming)
    }
}

/// A bundle as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleInfo {
    pub sha256: ContentHash,
    #[serde(flatten)]
    pub state: BundleState,
    pub bytes: usize,
    pub samples: usize,
    /// The apps pointing at it.
    pub apps: Vec<String>,
    /// Milliseconds from upload to ready, once ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_ms: Option<u64>,
}

/// Where a bundle's source comes from when it is (re)loaded.
#[derive(Clone)]
enum Origin {
    /// Uploaded: read from the registry's directory.
    Stored,
    /// The bundle given at start (`--bundle` or the example): kept in
    /// memory, never written to the registry.
    Startup(Bundle),
}

struct Record {
    origin: Origin,
    /// The pool's identity of the bundle (the upload's sha256 for a script;
    /// a module bundle's identity also covers its file names).
    served: Option<ContentHash>,
    bytes: usize,
    samples: Vec<Sample>,
    state: watch::Sender<BundleState>,
    warm_ms: Option<u64>,
}

/// The registry's files: `apps.json` and `bundles/`.
struct Store {
    dir: PathBuf,
}

/// `apps.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppTable {
    /// The `--bundle` the service last started with.
    started_with: Option<String>,
    apps: BTreeMap<String, String>,
}

impl Store {
    fn open(cache_dir: &Path) -> std::io::Result<Self> {
        let dir = cache_dir.join("registry");
        std::fs::create_dir_all(dir.join("bundles"))?;
        Ok(Self { dir })
    }

    fn bundle_path(&self, id: &ContentHash) -> PathBuf {
        self.dir.join("bundles").join(format!("{id}.js"))
    }

    fn samples_path(&self, id: &ContentHash) -> PathBuf {
        self.dir.join("bundles").join(format!("{id}.samples.json"))
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        let dir = path.parent().unwrap_or(&self.dir);
        cache::write_atomic(dir, path, bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn remove(&self, id: &ContentHash) {
        let _ = std::fs::remove_file(self.bundle_path(id));
        let _ = std::fs::remove_file(self.samples_path(id));
    }

    fn read_table(&self) -> AppTable {
        let path = self.dir.join("apps.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::error!(path = %path.display(), %error, "unreadable app table; starting from --bundle alone");
                AppTable::default()
            }),
            Err(_) => AppTable::default(),
        }
    }

    fn write_table(&self, table: &AppTable) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(table).expect("the app table serialises");
        self.write(&self.dir.join("apps.json"), &text)
    }

    fn read_samples(&self, id: &ContentHash) -> Vec<Sample> {
        std::fs::read(self.samples_path(id))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }
}

/// Limits and settings uploads are loaded with.
pub struct RegistryConfig {
    pub cache_dir: Option<PathBuf>,
    pub max_bundle_bytes: usize,
    pub v8_flags: String,
    /// Takes a start-up snapshot of each bundle once it is warm, for a
    /// start that begins with it; None when snapshots are off.
    pub snapshots: Option<SnapshotTaker>,
}

/// See the module documentation.
pub struct Registry {
    pool: RenderPool,
    store: Option<Store>,
    records: Mutex<HashMap<ContentHash, Record>>,
    /// Serialises changes of the app table (in the pool and on disk).
    apps_changing: tokio::sync::Mutex<()>,
    /// Set once the apps of before a restart are back.
    restored: std::sync::atomic::AtomicBool,
    config: RegistryConfig,
    metrics: std::sync::Arc<Metrics>,
}

/// What start-up takes from the registry before the pool exists.
pub struct StartPlan {
    /// The bundle the `default` app served before (or `--bundle`), and its
    /// registry id.
    pub default: Bundle,
    default_id: ContentHash,
    /// The warm-up samples stored with it, when it was uploaded.
    pub samples: Option<Vec<Sample>>,
    /// The other apps to restore once the pool runs.
    restore: BTreeMap<String, ContentHash>,
    startup: Bundle,
}

/// Decides what the pool starts with: `--bundle`, or what `default` served
/// before a restart when `--bundle` is the same as then.
pub fn plan_start(config: &RegistryConfig, startup: Bundle) -> StartPlan {
    let store = config
        .cache_dir
        .as_deref()
        .and_then(|d| Store::open(d).ok());
    let table = store.as_ref().map(Store::read_table).unwrap_or_default();
    let parse = |hex: &String| hex.parse::<ContentHash>().ok();
    let mut restore: BTreeMap<String, ContentHash> = table
        .apps
        .iter()
        .filter_map(|(app, hex)| Some((app.clone(), parse(hex)?)))
        .collect();
    let same_start = table.started_with.as_ref().and_then(parse) == Some(startup.hash());
    let previous = restore.remove(DEFAULT_APP);
    let (default, default_id, samples) = match (store, previous) {
        (Some(store), Some(id)) if same_start && id != startup.hash() => {
            match open(&store.bundle_path(&id), config) {
                Ok(bundle) => (bundle, id, Some(store.read_samples(&id))),
                Err(error) => {
                    tracing::error!(bundle = %id, %error, "cannot load the bundle default served before; serving --bundle");
                    (startup.clone(), startup.hash(), None)
                }
            }
        }
        _ => (startup.clone(), startup.hash(), None),
    };
    StartPlan {
        default,
        default_id,
        samples,
        restore,
        startup,
    }
}

fn open(path: &Path, config: &RegistryConfig) -> Result<Bundle, String> {
    pool::open_bundle(path, None, config.max_bundle_bytes, &config.v8_flags)
        .map_err(|e| e.to_string())
}

impl Registry {
    /// The registry of a pool started on `plan.default`. The other apps of
    /// the plan are restored in the background (see [`Registry::restore`]).
    pub fn new(
        pool: RenderPool,
        config: RegistryConfig,
        plan: &StartPlan,
        startup_samples: Vec<Sample>,
        metrics: std::sync::Arc<Metrics>,
    ) -> Self {
        let store = config.cache_dir.as_deref().and_then(|dir| {
            Store::open(dir)
                .map_err(|e| tracing::error!(dir = %dir.display(), error = %e, "cannot open the bundle registry; uploads are off"))
                .ok()
        });
        let mut records = HashMap::new();
        let startup = &plan.startup;
        let origin = Origin::Startup(startup.clone());
        let record = Record::new(origin, Some(startup.hash()), startup.len(), startup_samples);
        records.insert(startup.hash(), record);
        let default = plan.default_id;
        if let (Some(store), true) = (&store, default != startup.hash()) {
            let (served, bytes) = (plan.default.hash(), plan.default.len());
            records.insert(
                default,
                Record::stored(store, &default, Some(served), bytes),
            );
        }
        records[&default].state.send_replace(BundleState::Warming);
        metrics.app_switched(DEFAULT_APP, None, Some(&default));
        Self {
            pool,
            store,
            records: Mutex::new(records),
            apps_changing: tokio::sync::Mutex::new(()),
            restored: std::sync::atomic::AtomicBool::new(false),
            config,
            metrics,
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<ContentHash, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the default bundle ready once the pool is warm, then brings
    /// back the other apps of `plan` and writes the app table.
    pub async fn restore(&self, plan: StartPlan) {
        let default = plan.default_id;
        let warm = self.pool.wait_ready().await;
        self.set_state(
            &default,
            match warm {
                Ok(()) => BundleState::Ready,
                Err(error) => BundleState::Failed {
                    reason: error.to_string(),
                },
            },
        );
        for (app, id) in plan.restore {
            if let Some(store) = &self.store {
                self.records().entry(id).or_insert_with(|| {
                    let bytes = std::fs::metadata(store.bundle_path(&id)).map_or(0, |m| m.len());
                    Record::stored(store, &id, None, bytes as usize)
                });
            }
            if let Err(error) = self.point(&app, &id).await {
                tracing::error!(app, bundle = %id, %error, "cannot restore app");
            }
        }
        self.remove_strays();
        if let Err(error) = self.write_table(Some(plan.startup.hash())) {
            tracing::error!(%error, "cannot write the app table");
        }
        self.restored
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Removes stored bundles nothing points at (left by a restart).
    fn remove_strays(&self) {
        let Some(store) = &self.store else { return };
        let Ok(entries) = std::fs::read_dir(store.dir.join("bundles")) else {
            return;
        };
        let keep: Vec<String> = self.records().keys().map(|id| id.to_string()).collect();
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let id = name.split('.').next().unwrap_or_default();
            if !keep.iter().any(|k| k == id) {
                tracing::info!(file = name, "removing a stored bundle no app points at");
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn set_state(&self, id: &ContentHash, state: BundleState) {
        if let Some(record) = self.records().get(id) {
            record.state.send_replace(state);
        }
    }

    /// True when the apps served before a restart are back and every
    /// app's bundle is warm on every worker.
    pub fn is_ready(&self) -> bool {
        let records = self.records();
        self.restored.load(std::sync::atomic::Ordering::Acquire)
            && self.pool.is_ready()
            && self.pool.apps().iter().all(|(_, served)| {
                records
                    .values()
                    .any(|r| r.served == Some(*served) && *r.state.borrow() == BundleState::Ready)
            })
    }

    /// The pool's identity of the bundle uploaded as `id`.
    pub fn served(&self, id: &ContentHash) -> Option<ContentHash> {
        self.records().get(id).and_then(|r| r.served)
    }

    /// The registry id of the bundle the pool serves as `served`.
    pub fn id_of(&self, served: &ContentHash) -> ContentHash {
        let records = self.records();
        records
            .iter()
            .find(|(_, r)| r.served == Some(*served))
            .map_or(*served, |(id, _)| *id)
    }

    /// The apps and the registry id of each one's bundle.
    pub fn apps(&self) -> BTreeMap<String, ContentHash> {
        self.pool
            .apps()
            .into_iter()
            .map(|(app, served)| (app, self.id_of(&served)))
            .collect()
    }

    pub fn info(&self, id: &ContentHash) -> Option<BundleInfo> {
        let apps = self.apps();
        let records = self.records();
        let record = records.get(id)?;
        let state = record.state.borrow().clone();
        Some(BundleInfo {
            sha256: *id,
            state,
            bytes: record.bytes,
            samples: record.samples.len(),
            apps: apps
                .iter()
                .filter(|(_, bundle)| *bundle == id)
                .map(|(app, _)| app.clone())
                .collect(),
            warm_ms: record.warm_ms,
        })
    }

    pub fn list(&self) -> Vec<BundleInfo> {
        let mut ids: Vec<ContentHash> = self.records().keys().copied().collect();
        ids.sort();
        ids.iter().filter_map(|id| self.info(id)).collect()
    }

    /// Stores the warm-up samples of bundle `id`, to be used when it is
    /// uploaded (and whenever it is loaded again).
    pub fn put_samples(&self, id: &ContentHash, samples: &[Sample]) -> Result<(), ApiError> {
        let store = self.store()?;
        let text = serde_json::to_vec(samples).expect("samples serialise");
        store
            .write(&store.samples_path(id), &text)
            .map_err(ApiError::BundleRefused)
    }

    fn store(&self) -> Result<&Store, ApiError> {
        self.store.as_ref().ok_or_else(|| {
            ApiError::BundleRefused("the service has no cache directory to store bundles in".into())
        })
    }

    /// Stores `bytes` as bundle `id`, loads it and warms it on every worker
    /// (with the samples stored for it, if any). Fails, keeping nothing but
    /// the reason, when it does not load or a sample fails.
    pub async fn upload(&self, id: ContentHash, bytes: &[u8]) -> Result<BundleInfo, ApiError> {
        let actual = ContentHash::of(bytes);
        if actual != id {
            return Err(ApiError::HashMismatch {
                expected: id,
                actual,
            });
        }
        let store = self.store()?;
        {
            let mut records = self.records();
            let busy = records
                .get(&id)
                .is_some_and(|r| !matches!(*r.state.borrow(), BundleState::Failed { .. }));
            if !busy {
                store
                    .write(&store.bundle_path(&id), bytes)
                    .map_err(ApiError::BundleRefused)?;
                records.insert(id, Record::stored(store, &id, None, bytes.len()));
            }
        }
        self.ensure_loaded(&id).await?;
        self.info(&id).ok_or(ApiError::unknown_bundle(id))
    }

    /// Loads and warms bundle `id` unless it is loaded or loading, and
    /// waits until it is ready or refused.
    async fn ensure_loaded(&self, id: &ContentHash) -> Result<(), ApiError> {
        let (mut state, load) = {
            let records = self.records();
            let record = records.get(id).ok_or(ApiError::unknown_bundle(*id))?;
            let load = *record.state.borrow() == BundleState::Unloaded;
            if load {
                record.state.send_replace(BundleState::Loading);
            }
            (record.state.subscribe(), load)
        };
        if load {
            let outcome = self.load(id).await;
            self.finish_load(id, outcome);
        }
        let state = state
            .wait_for(BundleState::settled)
            .await
            .map(|s| s.clone())
            .unwrap_or(BundleState::Unloaded);
        match state {
            BundleState::Ready => Ok(()),
            BundleState::Failed { reason } => Err(ApiError::BundleRefused(reason)),
            _ => Err(ApiError::BundleRefused("the bundle was deleted".into())),
        }
    }

    /// Reads, checks and warms bundle `id`; its pool identity on success.
    async fn load(&self, id: &ContentHash) -> Result<(ContentHash, Instant), String> {
        let started = Instant::now();
        let (origin, samples) = {
            let records = self.records();
            let record = &records[id];
            (record.origin.clone(), record.samples.clone())
        };
        let bundle = match origin {
            Origin::Startup(bundle) => bundle,
            Origin::Stored => {
                let store = self.store.as_ref().ok_or("no registry directory")?;
                let path = store.bundle_path(id);
                let config = RegistryConfig {
                    cache_dir: None,
                    max_bundle_bytes: self.config.max_bundle_bytes,
                    v8_flags: self.config.v8_flags.clone(),
                    snapshots: None,
                };
                tokio::task::spawn_blocking(move || open(&path, &config))
                    .await
                    .map_err(|e| e.to_string())??
            }
        };
        self.set_state(id, BundleState::Warming);
        self.pool
            .add_bundle(bundle.clone(), samples.clone())
            .await
            .map_err(|e| e.to_string())?;
        if let Some(taker) = &self.config.snapshots {
            taker.take_if_missing(bundle.clone(), samples);
        }
        Ok((bundle.hash(), started))
    }

    fn finish_load(&self, id: &ContentHash, outcome: Result<(ContentHash, Instant), String>) {
        let mut records = self.records();
        let Some(record) = records.get_mut(id) else {
            return;
        };
        match outcome {
            Ok((served, started)) => {
                record.served = Some(served);
                record.warm_ms = Some(started.elapsed().as_millis() as u64);
                record.state.send_replace(BundleState::Ready);
                tracing::info!(bundle = %id, ms = record.warm_ms, "bundle warm on every worker");
            }
            Err(reason) => {
                // Name the upload by its hash, not by where it is stored.
                let reason = match &self.store {
                    Some(store) => {
                        reason.replace(&path_text(&store.bundle_path(id)), &format!("sha256:{id}"))
                    }
                    None => reason,
                };
                tracing::warn!(bundle = %id, %reason, "bundle refused");
                if matches!(record.origin, Origin::Stored) {
                    if let Some(store) = &self.store {
                        store.remove(id);
                    }
                }
                record.state.send_replace(BundleState::Failed { reason });
            }
        }
    }

    /// Points `app` at bundle `id` once it is warm on every worker (loading
    /// it first when unloaded); the bundle the app leaves is drained and
    /// dropped when no app points at it any more.
    pub async fn point(&self, app: &str, id: &ContentHash) -> Result<(), ApiError> {
        check_app_name(app)?;
        self.ensure_loaded(id).await?;
        let _changing = self.apps_changing.lock().await;
        let served = self.served(id).ok_or(ApiError::unknown_bundle(*id))?;
        let previous = self.pool.set_app(app, &served)?;
        tracing::info!(app, bundle = %id, "app switched");
        let previous_id = previous.map(|p| self.id_of(&p));
        self.metrics
            .app_switched(app, previous_id.as_ref(), Some(id));
        if let Some(previous) = previous.filter(|p| *p != served) {
            self.unload_if_unused(&previous);
        }
        self.write_table(None).map_err(ApiError::BundleRefused)
    }

    /// Forgets an app (not `default`).
    pub async fn remove_app(&self, app: &str) -> Result<(), ApiError> {
        if app == DEFAULT_APP {
            return Err(ApiError::BadRequest(
                "the default app cannot be removed".into(),
            ));
        }
        let _changing = self.apps_changing.lock().await;
        let previous = self
            .pool
            .remove_app(app)
            .ok_or_else(|| ApiError::Render(pool::RenderError::UnknownApp(app.to_owned())))?;
        let previous_id = self.id_of(&previous);
        self.metrics.app_switched(app, Some(&previous_id), None);
        self.unload_if_unused(&previous);
        self.write_table(None).map_err(ApiError::BundleRefused)
    }

    fn unload_if_unused(&self, served: &ContentHash) {
        if self.pool.remove_bundle(served) {
            let id = self.id_of(served);
            tracing::info!(bundle = %id, "no app points at the bundle; draining and dropping it");
            self.set_state(&id, BundleState::Unloaded);
        }
    }

    /// Deletes bundle `id` from memory and disk; refused while an app
    /// points at it.
    pub async fn delete(&self, id: &ContentHash) -> Result<(), ApiError> {
        let _changing = self.apps_changing.lock().await;
        let apps: Vec<String> = self
            .apps()
            .into_iter()
            .filter(|(_, bundle)| bundle == id)
            .map(|(app, _)| app)
            .collect();
        if !apps.is_empty() {
            return Err(ApiError::BundleInUse { bundle: *id, apps });
        }
        let record = self
            .records()
            .remove(id)
            .ok_or(ApiError::unknown_bundle(*id))?;
        if let Some(served) = record.served {
            self.pool.remove_bundle(&served);
        }
        if let (Origin::Stored, Some(store)) = (&record.origin, &self.store) {
            store.remove(id);
        }
        record.state.send_replace(BundleState::Unloaded);
        tracing::info!(bundle = %id, "bundle deleted");
        Ok(())
    }

    /// Writes `apps.json` (keeping the recorded `--bundle` unless given).
    fn write_table(&self, started_with: Option<ContentHash>) -> Result<(), String> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let mut table = store.read_table();
        if let Some(started) = started_with {
            table.started_with = Some(started.to_string());
        }
        table.apps = self
            .apps()
            .into_iter()
            .map(|(app, id)| (app, id.to_string()))
            .collect();
        store.write_table(&table)
    }
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

impl Record {
    fn new(
        origin: Origin,
        served: Option<ContentHash>,
        bytes: usize,
        samples: Vec<Sample>,
    ) -> Self {
        Record {
            origin,
            served,
            bytes,
            samples,
            state: watch::channel(BundleState::Unloaded).0,
            warm_ms: None,
        }
    }

    /// A stored bundle's record (`served` once the pool serves it).
    fn stored(store: &Store, id: &ContentHash, served: Option<ContentHash>, bytes: usize) -> Self {
        Record::new(Origin::Stored, served, bytes, store.read_samples(id))
    }
}

/// App names are path segments and metric labels: short and plain.
fn check_app_name(app: &str) -> Result<(), ApiError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if (1..=64).contains(&app.len()) && app.chars().all(plain) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "app names are 1 to 64 letters, digits, '-' or '_', not \"{}\"",
            crate::errors::echo(app)
        )))
    }
}

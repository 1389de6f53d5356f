//! Start-up snapshots: an isolate with the runtime installed and a script
//! bundle evaluated and warmed up, serialised by V8, so that the bundle's
//! later isolates start by deserialising it instead of compiling,
//! evaluating and running cold.
//!
//! Taking one ([`take`]) loads the bundle in a snapshot-creating isolate,
//! runs its warm-up renders, drops what the runtime caches, and has V8
//! serialise the heap with every compiled function's bytecode kept. The
//! runtime's entry points and the registered components travel as the
//! context's data; the natives are registered as external references (one
//! list: [`crate::runtime::natives`]).
//!
//! **One snapshot per process.** V8 moves what it can of the bundle's
//! immutable objects into the snapshot's read-only space, and every isolate
//! of a process shares the read-only space of the first isolate the process
//! created. Isolates from two different snapshots, or from a snapshot whose
//! read-only space was not the first, crash the process (seen on this V8:
//! a failed check while it deserialises the string table). Isolates from V8's own start-up
//! state are compatible with a snapshot's read-only space, which extends it.
//! So a process [`install`]s at most one snapshot, before it creates any
//! other isolate, and an isolate from it is kept alive for the life of the
//! process so that its read-only space stays the process's; every other
//! bundle's isolates are compiled as before.
//!
//! V8 also cannot serialise everything a bundle may hold (an `Intl`
//! formatter it made at load, a FinalizationRegistry) and aborts the process
//! when asked to: a service takes snapshots in a child process.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use bundles::{Bundle, BundleFormat, ContentHash};

use crate::config::PoolConfig;
use crate::isolate::{ContextHandles, RenderIsolate};
use crate::runtime::{self, RuntimeEntries};
use crate::warmup::warm_up;
use crate::worker::{BundleEntry, Shared};
use crate::Sample;

/// Where the runtime's entry points and the components are in the
/// context's snapshot data.
const DATA_INDEX: usize = 0;

/// Bumped when what a snapshot holds for the host changes shape.
const LAYOUT: u32 = 1;

/// The snapshot this process's isolates of one bundle start from.
struct Installed {
    bundle: ContentHash,
    bytes: &'static [u8],
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Isolates created in this process from V8's own start-up state (snapshot
/// creators excepted): a snapshot installed after one would not own the
/// read-only space.
pub(crate) static BLANK_ISOLATES: AtomicUsize = AtomicUsize::new(0);

/// Whether isolates of `bundle` start from snapshots under `config`: script
/// bundles only (a module's instance lives in host tables no snapshot
/// holds), and not with a fresh context per render (that mode evaluates
/// the bundle in a new context for every render; the snapshot holds one).
pub fn applies(bundle: &Bundle, config: &PoolConfig) -> bool {
    config.snapshots && !config.fresh_context && bundle.format() == BundleFormat::Script
}

/// What a snapshot depends on besides the bundle and V8's version and flags
/// (the code-cache tag `v8_tag`): the runtime it holds and the natives it
/// refers to, by position. Stores key snapshots by it.
pub fn tag(v8_tag: u32) -> String {
    static RUNTIME: OnceLock<String> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        let names: Vec<&str> = runtime::natives().iter().map(|(name, _)| *name).collect();
        let mut parts = Vec::new();
        parts.extend_from_slice(runtime::SOURCES.0.as_bytes());
        parts.extend_from_slice(runtime::SOURCES.1.as_bytes());
        parts.extend_from_slice(names.join(",").as_bytes());
        ContentHash::of(&parts).short()
    });
    format!("snapshot v{LAYOUT} tag {v8_tag:08x} runtime {runtime}")
}

/// The natives as V8's external references, in [`runtime::natives`] order.
pub(crate) fn external_references() -> Cow<'static, [v8::ExternalReference]> {
    let references = runtime::natives()
        .into_iter()
        .map(|(_, function)| v8::ExternalReference { function })
        .collect::<Vec<_>>();
    Cow::Owned(references)
}

/// Why [`install`] refused a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The process cannot take this one (see the module docs).
    #[error("{0}")]
    Refused(&'static str),
    /// The bytes are no snapshot an isolate of this bundle starts from.
    #[error("{0}")]
    Unusable(String),
}

/// Makes `bytes`, a snapshot of `bundle` ([`take`]), the one this process's
/// isolates of that bundle start from. Refused once another snapshot is
/// installed or an isolate was created (see the module docs); unusable
/// when this V8 does not take the bytes as a snapshot or an isolate
/// started from them finds no runtime or components. Starts one isolate
/// from it and keeps it for the life of the process. V8 must be
/// initialised.
pub fn install(bundle: &Bundle, bytes: Vec<u8>, config: &PoolConfig) -> Result<(), InstallError> {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if INSTALLED.get().is_some() {
        return Err(InstallError::Refused(
            "a start-up snapshot is installed already",
        ));
    }
    if !v8::StartupData::from(bytes.clone()).is_valid() {
        let reason = "not a start-up snapshot of this V8 version";
        return Err(InstallError::Unusable(reason.into()));
    }
    if BLANK_ISOLATES.load(Ordering::SeqCst) > 0 {
        let reason = "isolates were created before the start-up snapshot was installed";
        return Err(InstallError::Refused(reason));
    }
    // Kept for the life of the process (also when refused below: one
    // isolate may have started from it).
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let (isolate, _) = RenderIsolate::from_snapshot("ssr-snapshot", bundle, config, bytes)
        .map_err(|e| InstallError::Unusable(format!("an isolate could not start from it: {e}")))?;
    // Never dropped: while it lives, the snapshot's read-only space is the
    // process's whatever else comes and goes.
    std::mem::forget(isolate);
    let installed = Installed {
        bundle: bundle.hash(),
        bytes,
    };
    // Set once: this runs under the lock, after the check above.
    let _ = INSTALLED.set(installed);
    Ok(())
}

/// The installed snapshot, when it is `bundle`'s.
pub(crate) fn installed_for(bundle: &ContentHash) -> Option<&'static [u8]> {
    INSTALLED
        .get()
        .filter(|installed| installed.bundle == *bundle)
        .map(|installed| installed.bytes)
}

/// Takes a snapshot of `bundle`, on a thread of its own (warm-up renders
/// block on their own runtime): loads it, runs `config.warmup_renders`
/// renders of `samples` (every component with `{}` when empty), and
/// serialises it. V8 must be initialised; V8 aborts the process on a bundle
/// it cannot serialise (see the module docs).
pub fn take(bundle: &Bundle, samples: &[Sample], config: &PoolConfig) -> Result<Vec<u8>, String> {
    if bundle.format() != BundleFormat::Script {
        return Err("only script bundles are snapshotted".into());
    }
    let (bundle, samples, config) = (bundle.clone(), samples.to_vec(), config.clone());
    std::thread::Builder::new()
        .name("ssr-snapshot".into())
        .stack_size(8 << 20)
        .spawn(move || take_here(&bundle, samples, &config))
        .map_err(|e| e.to_string())?
        .join()
        .map_err(|_| "taking the snapshot panicked".to_owned())?
}

fn take_here(
    bundle: &Bundle,
    samples: Vec<Sample>,
    config: &PoolConfig,
) -> Result<Vec<u8>, String> {
    let started = Instant::now();
    let shared = Shared::standalone(config.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    let entry = BundleEntry::new(bundle.clone(), samples, false);
    let (isolate, report) =
        RenderIsolate::for_snapshot("ssr-snapshot", bundle, config).map_err(|e| e.to_string())?;
    let renders = config.warmup_renders;
    let (isolate, _) = warm_up(0, &shared, &entry, &runtime, isolate, &report, renders);
    if let Some(reason) = isolate.poisoned {
        let reason = reason.as_str();
        return Err(format!(
            "a warm-up render left the isolate unusable ({reason})"
        ));
    }
    let blob = isolate.into_snapshot()?;
    tracing::debug!(
        bytes = blob.len(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "start-up snapshot taken"
    );
    Ok(blob)
}

/// In the context about to be serialised: drops the runtime's caches, makes
/// it the snapshot's default context, and attaches the entry points and
/// `components` as its data.
pub(crate) fn prepare(
    scope: &mut v8::PinScope,
    handles: &ContextHandles,
    components: HashMap<String, v8::Global<v8::Function>>,
) -> Option<()> {
    crate::render::call_entry(scope, &handles.entries.prepare_snapshot, &[])?;
    let entries = handles.entries.to_object(scope)?;
    let registered = v8::Object::new(scope);
    for (name, render) in components {
        let key = v8::String::new(scope, &name)?;
        let render = v8::Local::new(scope, render);
        registered.set(scope, key.into(), render.into())?;
    }
    let data = v8::Array::new_with_elements(scope, &[entries.into(), registered.into()]);
    let context = scope.get_current_context();
    scope.set_default_context(context);
    (scope.add_context_data(context, data) == DATA_INDEX).then_some(())
}

/// What an isolate started from a snapshot needs from it: its context, the
/// runtime's entry points and the registered components. None when the
/// snapshot does not hold them.
pub(crate) type Restored = (
    v8::Global<v8::Context>,
    RuntimeEntries,
    HashMap<String, v8::Global<v8::Function>>,
);

/// Creates the snapshot's context in `isolate` (started from the snapshot)
/// and reads its data.
pub(crate) fn restore(isolate: &mut v8::Isolate) -> Option<Restored> {
    v8::scope!(let hs, isolate);
    let context = crate::runtime::context(hs);
    let scope = &mut v8::ContextScope::new(hs, context);
    let data = scope
        .get_context_data_from_snapshot_once::<v8::Array>(DATA_INDEX)
        .ok()?;
    let entries = data.get_index(scope, 0)?;
    let entries = v8::Local::<v8::Object>::try_from(entries).ok()?;
    let entries = RuntimeEntries::from_object(scope, entries)?;
    let registered = data.get_index(scope, 1)?;
    let registered = v8::Local::<v8::Object>::try_from(registered).ok()?;
    let names = registered.get_own_property_names(scope, Default::default())?;
    let mut components = HashMap::new();
    for i in 0..names.length() {
        let name = names.get_index(scope, i)?;
        let render = registered.get(scope, name)?;
        let render = v8::Local::<v8::Function>::try_from(render).ok()?;
        let name = name.to_rust_string_lossy(scope);
        components.insert(name, v8::Global::new(scope, render));
    }
    Some((v8::Global::new(scope, context), entries, components))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_no_snapshot_and_a_snapshot_after_other_isolates_are_refused() {
        crate::platform::init(crate::platform::DEFAULT_V8_FLAGS).unwrap();
        let source = "SsrPool.register('Page', () => '<p>page</p>');";
        let bundle = Bundle::from_bytes("page.js", source, 1 << 20).unwrap();
        let config = PoolConfig::default();
        let junk = install(&bundle, vec![7; 4096], &config);
        assert!(matches!(junk, Err(InstallError::Unusable(_))), "{junk:?}");
        let blank = RenderIsolate::new("blank", &bundle, &config, None).unwrap();
        let bytes = take(&bundle, &[], &config).unwrap();
        let late = install(&bundle, bytes, &config);
        assert!(matches!(late, Err(InstallError::Refused(_))), "{late:?}");
        drop(blank);
    }
}

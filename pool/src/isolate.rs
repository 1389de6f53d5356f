//! One V8 isolate holding one evaluated bundle: created, used and dropped on
//! its worker's thread. Nothing in here is `Send`; only owned data leaves.

use std::time::{Duration, Instant};

use bundles::{Bundle, BundleFormat};

use crate::config::PoolConfig;
use crate::error::{JsError, ReplaceReason, StartError};
use crate::limits::{BufferBudget, HeapGuard, IsolateAllocations, Watchdog};
use crate::module::{self, ModuleTable};
use crate::run::{run_bounded, Budget, Outcome, Settle};
use crate::runtime::{self, RuntimeEntries, RuntimeState};
use crate::script::{self, CacheOutcome};
use crate::snapshot;

/// When a worker collects an isolate's young generation itself, between
/// renders, where almost nothing in it is alive (see
/// [`RenderIsolate::collect_young_if_due`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum ScavengeDue {
    /// The worker is about to sleep: its time is free, so half full will do.
    Idle,
    /// A job waits for this isolate, which has no render in flight: three
    /// quarters full, or the scavenges' fixed cost shows at saturation
    /// (`ssr-bench gc`: 0.96x on the app page at half full).
    BeforeJob,
}

impl ScavengeDue {
    fn percent(self) -> usize {
        match self {
            ScavengeDue::Idle => 50,
            ScavengeDue::BeforeJob => 75,
        }
    }
}

/// Bytes in the young generation (new space and new large objects, such as
/// a render's HTML string) and the new space's capacity. Called before
/// jobs: the two spaces' indices are looked up by name once, as V8 numbers
/// its spaces the same in every isolate.
fn young_generation(isolate: &mut v8::Isolate) -> Option<(usize, usize)> {
    static SPACES: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    let (new, new_large) = (*SPACES.get_or_init(|| {
        let mut index = |name: &[u8]| {
            (0..isolate.number_of_heap_spaces()).find(|&i| {
                isolate
                    .get_heap_space_statistics(i)
                    .is_some_and(|space| space.space_name().to_bytes() == name)
            })
        };
        Some((index(b"new_space")?, index(b"new_large_object_space")?))
    }))?;
    let new = isolate.get_heap_space_statistics(new)?;
    let new_large = isolate.get_heap_space_statistics(new_large)?;
    let used = new.space_used_size() + new_large.space_used_size();
    Some((used, new.space_used_size() + new.space_available_size()))
}

/// How a bundle was loaded into an isolate.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub format: BundleFormat,
    /// Files compiled: 1 for a script, every module of a module bundle.
    pub files: usize,
    /// Every file's cache outcome combined: a hit only when all hit.
    pub cache: CacheOutcome,
    /// Time to compile the bundle (with or without the code cache).
    pub compile: Duration,
    /// Time to run the bundle's top level.
    pub evaluate: Duration,
    /// Registered component names, sorted.
    pub components: Vec<String>,
}

/// The settings an isolate applies to every render, copied from the pool's
/// configuration.
#[derive(Debug, Clone)]
pub(crate) struct IsolateLimits {
    pub heap_limit_mb: usize,
    pub max_output_bytes: usize,
    pub load_timeout: Duration,
    pub grace: Duration,
    pub fresh_context: bool,
}

/// The current context and the runtime's entry points in it.
pub(crate) struct ContextHandles {
    pub context: v8::Global<v8::Context>,
    /// Compares the shared intrinsics with those captured after load.
    pub intact: v8::Global<v8::Function>,
    pub entries: RuntimeEntries,
}

/// The bundle's compiled code.
enum Code {
    Script(v8::Global<v8::UnboundScript>),
    /// Deserialised from a start-up snapshot with the bundle evaluated:
    /// nothing to compile, and no second context to instantiate it in.
    Snapshot,
    /// A module is instantiated in one context only. `compiled` holds the
    /// modules compiled with the isolate, for its first context; later
    /// (fresh) contexts compile them again, consuming `caches`.
    Modules {
        compiled: Option<ModuleTable>,
        caches: Vec<Option<Vec<u8>>>,
    },
}

/// An isolate with the runtime and the bundle loaded, ready to render.
pub(crate) struct RenderIsolate {
    // Field order is drop order: handles into the isolate go first, then the
    // isolate, then what its callbacks point at (`allocations`).
    pub(crate) handles: Option<ContextHandles>,
    code: Code,
    pub(crate) isolate: v8::OwnedIsolate,
    pub(crate) allocations: IsolateAllocations,
    pub(crate) limits: IsolateLimits,
    /// What it runs; maps the stacks of errors its top level throws.
    bundle: Bundle,
    pub(crate) renders: u64,
    /// A render ran in the current context (fresh-context mode makes a new
    /// one before the next render).
    pub(crate) context_used: bool,
    /// Why the isolate must not be used again.
    pub(crate) poisoned: Option<ReplaceReason>,
}

/// Runs `f` with `isolate` entered on this thread. A worker may hold
/// several isolates (one per bundle) and V8 works on the thread's current
/// one, so every use of an isolate enters and exits it, and none stays
/// entered between uses (any may then be dropped first: see the Drop impl
/// of [`RenderIsolate`]).
pub(crate) fn entered<T>(isolate: &mut v8::Isolate, f: impl FnOnce(&mut v8::Isolate) -> T) -> T {
    // SAFETY: the isolate belongs to this thread, and `f` cannot drop it.
    unsafe { isolate.enter() };
    let result = f(isolate);
    // SAFETY: entered above.
    unsafe { isolate.exit() };
    result
}

/// What a new isolate starts from.
#[derive(Clone, Copy)]
enum Origin {
    /// V8's own start-up state: the bundle is compiled and evaluated next.
    Blank,
    /// A start-up snapshot of the bundle (see `snapshot.rs`), which lives
    /// as long as the process: V8 reads it in place, with no copy per
    /// isolate.
    Snapshot(&'static [u8]),
    /// A blank isolate that can be serialised into a snapshot once loaded.
    SnapshotCreator,
}

/// A new isolate with its limits installed, and what must outlive it.
fn create_isolate(
    name: &str,
    config: &PoolConfig,
    origin: Origin,
) -> Result<(v8::OwnedIsolate, IsolateAllocations), StartError> {
    let heap_bytes = config.heap_limit_mb << 20;
    // The young generation is three semi-spaces: from, to, and new large
    // objects. It starts at its full size: V8 grows it only when scavenges
    // find much alive, which those between renders never do, so it would
    // stay at its smallest and be scavenged once or more every render.
    let young_bytes = (config.semi_space_mb.max(1) << 20) * 3;
    let buffers = BufferBudget::new(heap_bytes);
    let params = v8::CreateParams::default()
        .heap_limits(0, heap_bytes)
        .set_max_young_generation_size_in_bytes(young_bytes)
        .set_initial_young_generation_size_in_bytes(young_bytes)
        .array_buffer_allocator(BufferBudget::allocator(&buffers).make_shared());
    let mut isolate = match origin {
        Origin::Blank => {
            snapshot::BLANK_ISOLATES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            v8::Isolate::new(params)
        }
        Origin::Snapshot(blob) => v8::Isolate::new(
            params
                .snapshot_blob(blob.into())
                .external_references(snapshot::external_references()),
        ),
        Origin::SnapshotCreator => {
            v8::Isolate::snapshot_creator(Some(snapshot::external_references()), Some(params))
        }
    };
    isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
    isolate.set_slot(RuntimeState::new(config.max_output_bytes));
    module::install_callbacks(&mut isolate);
    let heap = HeapGuard::install(&mut isolate, &buffers);
    let watchdog = Watchdog::start(format!("{name}-watchdog"), isolate.thread_safe_handle())
        .map_err(|e| StartError::Thread(e.to_string()))?;
    // A new isolate is entered; uses enter it again (see `Entered`).
    // SAFETY: entered once, by its creation, on this thread.
    unsafe { isolate.exit() };
    Ok((
        isolate,
        IsolateAllocations {
            heap,
            watchdog,
            buffers,
        },
    ))
}

impl RenderIsolate {
    /// Creates the isolate, compiles the bundle (consuming `cached` when
    /// given), and instantiates it in a fresh context.
    pub fn new(
        name: &str,
        bundle: &Bundle,
        config: &PoolConfig,
        cached: Option<&[u8]>,
    ) -> Result<(Self, LoadReport), StartError> {
        Self::compiled(name, bundle, config, cached, Origin::Blank)
    }

    /// Like [`RenderIsolate::new`], in an isolate that
    /// [`RenderIsolate::into_snapshot`] can serialise.
    pub fn for_snapshot(
        name: &str,
        bundle: &Bundle,
        config: &PoolConfig,
    ) -> Result<(Self, LoadReport), StartError> {
        Self::compiled(name, bundle, config, None, Origin::SnapshotCreator)
    }

    fn compiled(
        name: &str,
        bundle: &Bundle,
        config: &PoolConfig,
        cached: Option<&[u8]>,
        origin: Origin,
    ) -> Result<(Self, LoadReport), StartError> {
        let (mut isolate, allocations) = create_isolate(name, config, origin)?;
        let started = Instant::now();
        let (code, cache) = match compile(&mut isolate, bundle, cached, config.fresh_context) {
            Ok(compiled) => compiled,
            Err(error) => {
                // Dropped while current, as V8 requires.
                // SAFETY: this thread's isolate, not entered now.
                unsafe { isolate.enter() };
                return Err(error);
            }
        };
        let compile = started.elapsed();
        let mut this = Self::assemble(isolate, allocations, code, bundle, config);
        let started = Instant::now();
        this.instantiate()?;
        let evaluate = started.elapsed();
        this.report(cache, compile, evaluate)
    }

    /// An isolate started from `snapshot`, a start-up snapshot of `bundle`
    /// ([`RenderIsolate::into_snapshot`]): the runtime and the bundle come
    /// deserialised, warm functions with their bytecode. Reported as
    /// [`CacheOutcome::Snapshot`], with the deserialisation as its compile
    /// time and finding the entry points as its evaluation.
    pub fn from_snapshot(
        name: &str,
        bundle: &Bundle,
        config: &PoolConfig,
        snapshot: &'static [u8],
    ) -> Result<(Self, LoadReport), StartError> {
        let started = Instant::now();
        let (mut isolate, allocations) = create_isolate(name, config, Origin::Snapshot(snapshot))?;
        let restored = entered(&mut isolate, snapshot::restore);
        let compile = started.elapsed();
        let started = Instant::now();
        let mut this = Self::assemble(isolate, allocations, Code::Snapshot, bundle, config);
        let Some((context, entries, components)) = restored else {
            return Err(StartError::BundleThrew {
                bundle: bundle.name().to_owned(),
                error: JsError::plain("the start-up snapshot holds no runtime entry points"),
            });
        };
        runtime::state(&mut this.isolate).restore_components(components);
        this.capture(context, entries)?;
        let evaluate = started.elapsed();
        this.report(CacheOutcome::Snapshot, compile, evaluate)
    }

    fn assemble(
        isolate: v8::OwnedIsolate,
        allocations: IsolateAllocations,
        code: Code,
        bundle: &Bundle,
        config: &PoolConfig,
    ) -> Self {
        Self {
            handles: None,
            code,
            isolate,
            allocations,
            limits: IsolateLimits {
                heap_limit_mb: config.heap_limit_mb,
                max_output_bytes: config.max_output_bytes,
                load_timeout: config.load_timeout,
                grace: config.termination_grace,
                fresh_context: config.fresh_context,
            },
            bundle: bundle.clone(),
            renders: 0,
            context_used: false,
            poisoned: None,
        }
    }

    /// The report of a load that took `compile` and `evaluate`; fails when
    /// the bundle registered no component.
    fn report(
        mut self,
        cache: CacheOutcome,
        compile: Duration,
        evaluate: Duration,
    ) -> Result<(Self, LoadReport), StartError> {
        let mut components = runtime::state(&mut self.isolate).component_names();
        components.sort();
        if components.is_empty() {
            return Err(StartError::NoComponents {
                bundle: self.bundle.name().to_owned(),
            });
        }
        let report = LoadReport {
            format: self.bundle.format(),
            files: self.bundle.files().len(),
            cache,
            compile,
            evaluate,
            components,
        };
        Ok((self, report))
    }

    /// Serialises the isolate into a start-up snapshot: the context as the
    /// bundle's load and warm-up left it (the runtime's caches dropped
    /// first), every function compiled so far kept, and the runtime's entry
    /// points and the registered components as the context's data.
    ///
    /// V8 aborts the process on objects it cannot serialise (an `Intl`
    /// formatter a bundle made at load, a FinalizationRegistry): call this
    /// only in a process that may end (see [`crate::SnapshotMaker`]).
    pub fn into_snapshot(mut self) -> Result<Vec<u8>, String> {
        if !matches!(self.code, Code::Script(_)) {
            return Err("only script bundles are snapshotted".into());
        }
        let handles = self.handles.take().ok_or("the isolate has no context")?;
        let components = runtime::state(&mut self.isolate).take_components();
        let budget = Budget::new(Instant::now() + self.limits.load_timeout, Duration::ZERO);
        let outcome = run_bounded(
            &mut self.isolate,
            &handles.context,
            &mut self.allocations,
            budget,
            Settle::Microtasks,
            |scope| snapshot::prepare(scope, &handles, components),
        );
        if !matches!(outcome, Outcome::Done(())) {
            return Err("the runtime could not prepare the context for a snapshot".into());
        }
        drop(handles);
        self.code = Code::Snapshot;
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; each field is read
        // out once, and the fields left behind (plain data, the bundle
        // handle, no V8 handles: `handles` and `code` were emptied above)
        // own nothing V8 needs.
        let (isolate, allocations, bundle) = unsafe {
            (
                std::ptr::read(&this.isolate),
                std::ptr::read(&this.allocations),
                std::ptr::read(&this.bundle),
            )
        };
        drop(bundle);
        // V8 serialises (and then disposes) the isolate while it is current.
        // SAFETY: this thread's isolate, not entered now.
        unsafe { isolate.enter() };
        let blob = isolate.create_blob(v8::FunctionCodeHandling::Keep);
        drop(allocations);
        blob.map(|blob| blob.to_vec())
            .ok_or_else(|| "V8 produced no snapshot".to_owned())
    }

    /// Runs `f` in the current context through the one bounded run.
    pub(crate) fn run<T>(
        &mut self,
        budget: Budget,
        settle: Settle,
        f: impl FnOnce(&mut v8::PinScope, &ContextHandles) -> Option<T>,
    ) -> Outcome<T> {
        let Some(handles) = &self.handles else {
            return Outcome::Threw(JsError::plain("the isolate has no context"));
        };
        run_bounded(
            &mut self.isolate,
            &handles.context,
            &mut self.allocations,
            budget,
            settle,
            |scope| f(scope, handles),
        )
    }

    /// Creates a new context, installs the runtime, runs the bundle's top
    /// level in it (settling what it queued, top-level awaits included),
    /// and captures the runtime's entry points, all under the load deadline.
    pub(crate) fn instantiate(&mut self) -> Result<(), StartError> {
        let bundle = self.bundle.name().to_owned();
        if matches!(self.code, Code::Snapshot) {
            // Snapshots are not taken in fresh-context mode (see `loading.rs`).
            return Err(StartError::BundleThrew {
                bundle,
                error: JsError::plain("an isolate started from a snapshot has only that context"),
            });
        }
        self.handles = None;
        runtime::state(&mut self.isolate).reset_for_load();
        if let Code::Modules { compiled, caches } = &mut self.code {
            let table = match compiled.take() {
                Some(table) => table,
                None => compile_modules(&mut self.isolate, &self.bundle, caches)?.0,
            };
            self.isolate.set_slot(table);
        }
        let context = entered(&mut self.isolate, |isolate| {
            v8::scope!(let hs, isolate);
            let context = runtime::context(hs);
            v8::Global::new(hs, context)
        });
        let budget = Budget::new(Instant::now() + self.limits.load_timeout, Duration::ZERO);
        let code = &self.code;
        let outcome = run_bounded(
            &mut self.isolate,
            &context,
            &mut self.allocations,
            budget,
            Settle::Microtasks,
            |scope| {
                let entries = runtime::install(scope)?;
                let evaluation = match code {
                    Code::Script(script) => {
                        let unbound = v8::Local::new(scope, script);
                        unbound.bind_to_current_context(scope).run(scope)?;
                        None
                    }
                    Code::Modules { .. } => {
                        let promise = module::evaluate_entry(scope)?;
                        Some(v8::Global::new(scope, promise))
                    }
                    Code::Snapshot => None,
                };
                Some((entries, evaluation))
            },
        );
        let entries = match outcome {
            Outcome::Done((entries, evaluation)) => {
                if let Some(evaluation) = evaluation {
                    self.check_evaluated(&context, evaluation)?;
                }
                entries
            }
            Outcome::Threw(error) => {
                let error = error.mapped(&self.bundle);
                return Err(StartError::BundleThrew { bundle, error });
            }
            Outcome::HeapLimit => {
                return Err(StartError::BundleOutOfMemory {
                    bundle,
                    limit_mb: self.limits.heap_limit_mb,
                })
            }
            Outcome::Terminated | Outcome::DeadlinePassed => {
                return Err(StartError::BundleTimeout {
                    bundle,
                    timeout: self.limits.load_timeout,
                })
            }
        };
        // Timers the top level left are dropped, as after a render; the
        // registry closes: components register while the bundle loads.
        runtime::state(&mut self.isolate).finish_load();
        self.capture(context, entries)
    }

    /// Captures the shared intrinsics as the bundle left them in `context`
    /// and makes it the isolate's context.
    fn capture(
        &mut self,
        context: v8::Global<v8::Context>,
        entries: RuntimeEntries,
    ) -> Result<(), StartError> {
        let budget = Budget::new(Instant::now() + self.limits.load_timeout, Duration::ZERO);
        let outcome = run_bounded(
            &mut self.isolate,
            &context,
            &mut self.allocations,
            budget,
            Settle::Nothing,
            |scope| runtime::capture_intrinsics(scope, &entries),
        );
        let Outcome::Done(intact) = outcome else {
            return Err(StartError::BundleThrew {
                bundle: self.bundle.name().to_owned(),
                error: JsError::plain("cannot capture the intrinsics after load"),
            });
        };
        self.handles = Some(ContextHandles {
            context,
            intact,
            entries,
        });
        Ok(())
    }

    /// Fails the load when the entry module's evaluation (its top-level
    /// awaits) rejected, or did not settle once microtasks ran out.
    fn check_evaluated(
        &mut self,
        context: &v8::Global<v8::Context>,
        evaluation: v8::Global<v8::Promise>,
    ) -> Result<(), StartError> {
        let bundle = self.bundle.name().to_owned();
        let mapped_bundle = self.bundle.clone();
        entered(&mut self.isolate, |isolate| {
            check_settled(isolate, context, evaluation, bundle, &mapped_bundle)
        })
    }

    /// Ends a render in the isolate in one bounded run: `forget` drops what
    /// the prelude holds for it, then the shared intrinsics are checked
    /// against those captured after load (that check calls no bundle code).
    /// Poisons the isolate when they changed.
    pub fn end_render(
        &mut self,
        component: &str,
        forget: impl FnOnce(&mut v8::PinScope, &ContextHandles) -> Option<()>,
    ) {
        if self.poisoned.is_some() {
            return;
        }
        // A fresh context per render is dropped whole; nothing is shared.
        let check = !self.limits.fresh_context;
        let budget = Budget::cpu(Instant::now() + self.limits.grace);
        let intact = self.run(budget, Settle::Nothing, |scope, handles| {
            forget(scope, handles)?;
            if !check {
                return Some(true);
            }
            crate::render::call_entry(scope, &handles.intact, &[]).map(|v| v.is_true())
        });
        match intact {
            Outcome::Done(true) => {}
            Outcome::HeapLimit => self.poisoned = Some(ReplaceReason::HeapLimit),
            _ => {
                tracing::warn!(
                    component,
                    "a render replaced shared intrinsics; the isolate will be replaced"
                );
                self.poisoned = Some(ReplaceReason::GlobalsTampered);
            }
        }
    }

    /// Collects the young generation when it is as full as `due` says.
    /// Between renders little in it is alive, so the scavenge takes a
    /// tenth of a millisecond or so; left to V8, it happens inside the
    /// render that fills the space, copies that render's live objects, and
    /// promotes those it finds twice (which then fill the old generation
    /// until a mark-compact). True when it collected; the isolate is
    /// poisoned if that took its heap to the limit.
    pub fn collect_young_if_due(&mut self, due: ScavengeDue) -> bool {
        if self.poisoned.is_some() {
            return false;
        }
        let collected = entered(&mut self.isolate, |isolate| {
            let Some((used, capacity)) = young_generation(isolate) else {
                return false;
            };
            if used * 100 < capacity * due.percent() {
                return false;
            }
            isolate.request_garbage_collection_for_testing(v8::GarbageCollectionType::Minor);
            true
        });
        // What the scavenge promoted may take the heap to its limit (the
        // renders in flight hold it all): the isolate is done, as if a
        // render had got it there.
        if self.allocations.heap.hit() {
            self.poisoned = Some(ReplaceReason::HeapLimit);
        }
        collected
    }

    /// The bundle loaded in this isolate.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// Starts counting renders towards `max_renders_per_isolate` from zero
    /// (called after warm-up, which does not count).
    pub fn reset_render_count(&mut self) {
        self.renders = 0;
    }

    /// Why the isolate should be replaced before the next render, if it
    /// should.
    pub fn needs_replacement(
        &mut self,
        config: &PoolConfig,
        check_heap: bool,
    ) -> Option<ReplaceReason> {
        if self.allocations.heap.hit() {
            return Some(ReplaceReason::HeapLimit);
        }
        if let Some(reason) = self.poisoned {
            return Some(reason);
        }
        if config.max_renders_per_isolate > 0 && self.renders >= config.max_renders_per_isolate {
            return Some(ReplaceReason::MaxRenders);
        }
        if !check_heap {
            return None;
        }
        let threshold = (self.limits.heap_limit_mb << 20) as f64 * config.recycle_heap_fraction;
        if self.memory_used() as f64 > threshold {
            // Garbage counts as used until a GC runs: collect, then decide on
            // what is really alive.
            entered(&mut self.isolate, |isolate| {
                isolate.low_memory_notification()
            });
            if self.memory_used() as f64 > threshold {
                return Some(ReplaceReason::HeapHighWater);
            }
        }
        None
    }

    /// Bytes of JS heap in use.
    pub fn heap_used(&mut self) -> usize {
        entered(&mut self.isolate, |isolate| {
            isolate.get_heap_statistics().used_heap_size()
        })
    }

    /// Memory the isolate holds beyond its JS objects' live size: the heap
    /// pages it committed, V8's own malloc'ed memory, and ArrayBuffer
    /// backing stores. This is what the process pays for the isolate.
    pub fn memory_used(&mut self) -> usize {
        let stats = entered(&mut self.isolate, |isolate| isolate.get_heap_statistics());
        stats.used_heap_size() + stats.malloced_memory() + self.allocations.buffers.used()
    }

    /// What the process pays for the isolate: the heap pages it has
    /// committed, V8's own malloc'ed memory and ArrayBuffer backing stores.
    pub fn resident(&mut self) -> usize {
        let stats = entered(&mut self.isolate, |isolate| isolate.get_heap_statistics());
        stats.total_physical_size() + stats.malloced_memory() + self.allocations.buffers.used()
    }

    /// Serialises the compiled bundle, including every function compiled so
    /// far (top level and warm-up renders), as V8 code cache: the script's,
    /// or every module's framed in one blob.
    pub fn create_code_cache(&mut self) -> Option<Vec<u8>> {
        match &self.code {
            Code::Script(script) => entered(&mut self.isolate, |isolate| {
                v8::scope!(let hs, isolate);
                let script = v8::Local::new(hs, script);
                script.create_code_cache().map(|data| data.to_vec())
            }),
            Code::Modules { .. } => {
                let modules = self.isolate.get_slot::<ModuleTable>()?.modules().to_vec();
                let caches = module_caches(&mut self.isolate, &modules)?;
                let paths = self.bundle.files().iter().map(|f| f.path());
                Some(module::cache::join(paths.zip(caches).collect()))
            }
            Code::Snapshot => None,
        }
    }
}

/// Fails the load when the entry module's `evaluation` rejected, or did
/// not settle once microtasks ran out.
fn check_settled(
    isolate: &mut v8::Isolate,
    context: &v8::Global<v8::Context>,
    evaluation: v8::Global<v8::Promise>,
    bundle: String,
    mapped: &Bundle,
) -> Result<(), StartError> {
    v8::scope_with_context!(scope, isolate, context);
    let evaluation = v8::Local::new(scope, evaluation);
    match evaluation.state() {
        v8::PromiseState::Fulfilled => Ok(()),
        v8::PromiseState::Rejected => {
            let reason = evaluation.result(scope);
            let error = crate::exception::caught(scope, Some(reason), "the module threw");
            Err(StartError::BundleThrew {
                bundle,
                error: error.mapped(mapped),
            })
        }
        v8::PromiseState::Pending => Err(StartError::StalledAwait {
            bundle,
            at: module::stalled_await(scope),
        }),
    }
}

impl Drop for RenderIsolate {
    fn drop(&mut self) {
        // V8 (and the binding) drop an isolate only while it is the
        // thread's current one; the fields (handles first) go after this.
        // SAFETY: this thread's isolate, not entered between uses.
        unsafe { self.isolate.enter() };
    }
}

/// Compiles `bundle`, consuming `cached` (the blob the store had); a syntax
/// error is a start error. With `keep_caches` (fresh contexts compile the
/// modules again), the modules' code caches are kept for those compiles.
fn compile(
    isolate: &mut v8::Isolate,
    bundle: &Bundle,
    cached: Option<&[u8]>,
    keep_caches: bool,
) -> Result<(Code, CacheOutcome), StartError> {
    if bundle.format() == BundleFormat::Module {
        let split = cached.map(|blob| module::cache::split(bundle, blob));
        let mut caches = split.clone().flatten().unwrap_or_default();
        let (table, mut cache) = compile_modules(isolate, bundle, &caches)?;
        if split.is_some_and(|s| s.is_none()) {
            // A blob that is not a module bundle's frame.
            cache = CacheOutcome::Rejected;
        }
        if keep_caches && cache != CacheOutcome::Hit {
            caches = module_caches(isolate, table.modules())
                .map(|caches| caches.into_iter().map(Some).collect())
                .unwrap_or_default();
        }
        let compiled = Some(table);
        return Ok((Code::Modules { compiled, caches }, cache));
    }
    entered(isolate, |isolate| compile_script(isolate, bundle, cached))
}

/// Compiles `bundle`'s script; a syntax error is a start error.
fn compile_script(
    isolate: &mut v8::Isolate,
    bundle: &Bundle,
    cached: Option<&[u8]>,
) -> Result<(Code, CacheOutcome), StartError> {
    v8::scope!(let hs, isolate);
    let context = v8::Context::new(hs, Default::default());
    let scope = &mut v8::ContextScope::new(hs, context);
    v8::tc_scope!(let tc, scope);
    match script::compile_script(tc, bundle.entry(), cached) {
        Some((unbound, cache)) => Ok((Code::Script(v8::Global::new(tc, unbound)), cache)),
        None => {
            let exception = tc.exception();
            Err(crate::exception::syntax_error(tc, bundle.name(), exception))
        }
    }
}

/// Compiles every module of `bundle`; a syntax error is a start error
/// naming the file.
fn compile_modules(
    isolate: &mut v8::Isolate,
    bundle: &Bundle,
    caches: &[Option<Vec<u8>>],
) -> Result<(ModuleTable, CacheOutcome), StartError> {
    entered(isolate, |isolate| {
        v8::scope!(let hs, isolate);
        let context = v8::Context::new(hs, Default::default());
        let scope = &mut v8::ContextScope::new(hs, context);
        v8::tc_scope!(let tc, scope);
        match module::compile(tc, bundle, caches) {
            Some(compiled) => Ok(compiled),
            None => {
                let exception = tc.exception();
                Err(crate::exception::syntax_error(tc, bundle.name(), exception))
            }
        }
    })
}

/// The code cache of each of `modules`, in order.
fn module_caches(
    isolate: &mut v8::Isolate,
    modules: &[v8::Global<v8::Module>],
) -> Option<Vec<Vec<u8>>> {
    entered(isolate, |isolate| module_caches_entered(isolate, modules))
}

fn module_caches_entered(
    isolate: &mut v8::Isolate,
    modules: &[v8::Global<v8::Module>],
) -> Option<Vec<Vec<u8>>> {
    v8::scope!(let hs, isolate);
    let context = v8::Context::new(hs, Default::default());
    let hs = &mut v8::ContextScope::new(hs, context);
    modules
        .iter()
        .map(|module| {
            let module = v8::Local::new(hs, module);
            let unbound = module.get_unbound_module_script(hs);
            unbound.create_code_cache().map(|data| data.to_vec())
        })
        .collect()
}

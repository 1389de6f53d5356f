//! Hard limits on a running isolate: CPU held without yielding (a watchdog
//! thread that terminates execution through the `IsolateHandle`), the heap
//! limit (V8's near-heap-limit callback) and off-heap buffer memory (an
//! ArrayBuffer allocator with a budget). What these point at must outlive
//! the isolate; [`IsolateAllocations`] holds it.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// What must outlive the isolate, in one place: the near-heap-limit
/// callback's data, the watchdog (whose thread holds an `IsolateHandle`) and
/// the buffer budget the ArrayBuffer allocator charges. `RenderIsolate`
/// declares its isolate before this field, so the isolate is dropped first.
pub(crate) struct IsolateAllocations {
    pub heap: Arc<HeapGuard>,
    pub watchdog: Watchdog,
    pub buffers: Arc<BufferBudget>,
}

#[derive(Default)]
struct WatchState {
    /// The armed deadline and its generation.
    armed: Option<(u64, Instant)>,
    /// The generation the watchdog terminated, if any.
    fired: Option<u64>,
    /// When the sleeping watchdog looks again on its own (None: only when
    /// woken). Arming for a later deadline need not wake it: it looks at
    /// the new deadline then.
    looks_at: Option<Instant>,
    stop: bool,
}

/// One watchdog thread per isolate. `arm` before running JS, `disarm` after;
/// if the limit passes in between, the watchdog terminates the isolate's
/// execution and `disarm` reports it. Arming and disarming only take a lock:
/// the thread is woken only when it would otherwise look too late, so an
/// isolate entering JavaScript thousands of times a second (timers, stream
/// chunks) does not pay a thread switch each time.
pub(crate) struct Watchdog {
    shared: Arc<(Mutex<WatchState>, Condvar)>,
    generation: u64,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(name: String, handle: v8::IsolateHandle) -> std::io::Result<Self> {
        let shared = Arc::new((Mutex::new(WatchState::default()), Condvar::new()));
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(name)
            .stack_size(64 * 1024)
            .spawn(move || watch(&theirs, &handle))?;
        Ok(Self {
            shared,
            generation: 0,
            thread: Some(thread),
        })
    }

    /// Arms the watchdog for `deadline`.
    pub fn arm(&mut self, deadline: Instant) {
        self.generation += 1;
        let (lock, cvar) = &*self.shared;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        state.armed = Some((self.generation, deadline));
        state.fired = None;
        if state.looks_at.is_none_or(|at| at > deadline) {
            cvar.notify_one();
        }
    }

    /// Disarms the watchdog; true when it fired for the current arming.
    pub fn disarm(&mut self) -> bool {
        let (lock, _) = &*self.shared;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        state.armed = None;
        state.fired.take() == Some(self.generation)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        {
            let (lock, cvar) = &*self.shared;
            let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
            state.stop = true;
            cvar.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(shared: &(Mutex<WatchState>, Condvar), handle: &v8::IsolateHandle) {
    let (lock, cvar) = shared;
    let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if state.stop {
            return;
        }
        match state.armed {
            None => {
                state.looks_at = None;
                state = cvar.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            Some((generation, deadline)) => {
                let now = Instant::now();
                if now >= deadline {
                    // Under the lock, so `disarm` sees either "not fired" (and
                    // the render ended in time) or "fired" (and must cancel
                    // the termination).
                    handle.terminate_execution();
                    state.fired = Some(generation);
                    state.armed = None;
                } else {
                    state.looks_at = Some(deadline);
                    state = cvar
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

/// What the near-heap-limit callback needs; boxed so its address is stable
/// for the lifetime of the isolate.
pub(crate) struct HeapGuard {
    handle: v8::IsolateHandle,
    /// The buffer budget: when it is refusing an allocation, the collection
    /// V8 runs before giving up on the buffer is not heap exhaustion.
    buffers: Arc<BufferBudget>,
    hit: AtomicBool,
    /// Times the callback granted more room to this isolate.
    grants: std::sync::atomic::AtomicU32,
}

/// Grants after which an isolate that keeps allocating despite termination
/// is left to V8's out-of-memory handling (which ends the process) rather
/// than allowed to take the machine's memory.
const MAX_GRANTS: u32 = 8;

impl HeapGuard {
    /// Registers the near-heap-limit callback on `isolate`. The returned Arc
    /// must outlive the isolate: it is kept in [`IsolateAllocations`].
    pub fn install(isolate: &mut v8::Isolate, buffers: &Arc<BufferBudget>) -> Arc<HeapGuard> {
        let guard = Arc::new(HeapGuard {
            handle: isolate.thread_safe_handle(),
            buffers: Arc::clone(buffers),
            hit: AtomicBool::new(false),
            grants: std::sync::atomic::AtomicU32::new(0),
        });
        let data = Arc::as_ptr(&guard) as *mut c_void;
        isolate.add_near_heap_limit_callback(near_heap_limit, data);
        guard
    }

    /// True once the heap limit was reached; the isolate must be replaced.
    pub fn hit(&self) -> bool {
        self.hit.load(Ordering::Acquire)
    }
}

/// Terminates the running script and grants V8 some room to unwind, so the
/// process does not abort. The worker then replaces the isolate.
extern "C" fn near_heap_limit(data: *mut c_void, current: usize, _initial: usize) -> usize {
    // SAFETY: `data` is the `Arc<HeapGuard>` pointer registered in
    // `install`; `IsolateAllocations` keeps that Arc alive until after the
    // isolate is dropped, and the callback runs on the isolate's own thread.
    let guard = unsafe { &*(data as *const HeapGuard) };
    if guard.buffers.refusing() {
        // V8 collects garbage before it gives up on a buffer the budget
        // refused, and may call this on the way. The heap is not what ran
        // out: leave the limit, let the allocation fail, and the script gets
        // its RangeError.
        return current;
    }
    guard.hit.store(true, Ordering::Release);
    guard.handle.terminate_execution();
    let grants = guard.grants.fetch_add(1, Ordering::AcqRel) + 1;
    if grants > MAX_GRANTS {
        tracing::error!(
            heap_limit = current,
            "an isolate kept allocating after termination past its heap limit; giving up"
        );
        return current;
    }
    current + (current / 4).max(16 << 20)
}

/// Off-heap memory (ArrayBuffer backing stores) an isolate may hold. V8
/// counts these bytes outside its heap limit, so without a budget a typed
/// array loop could take the whole machine's memory.
pub(crate) struct BufferBudget {
    used: std::sync::atomic::AtomicUsize,
    limit: usize,
    /// The last allocation asked for was refused (cleared by the next one
    /// that fits).
    refusing: AtomicBool,
}

const BUFFER_ALIGN: usize = 16;

impl BufferBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(BufferBudget {
            used: std::sync::atomic::AtomicUsize::new(0),
            limit,
            refusing: AtomicBool::new(false),
        })
    }

    fn refusing(&self) -> bool {
        self.refusing.load(Ordering::Acquire)
    }

    /// Bytes of ArrayBuffer memory held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// An ArrayBuffer allocator charging `budget`: allocations past its limit
    /// are refused (V8 then throws a RangeError in the script).
    pub fn allocator(budget: &Arc<BufferBudget>) -> v8::UniqueRef<v8::Allocator> {
        static VTABLE: v8::RustAllocatorVtable<BufferBudget> = v8::RustAllocatorVtable {
            allocate: budget_allocate,
            allocate_uninitialized: budget_allocate_uninitialized,
            free: budget_free,
            drop: budget_drop,
        };
        // SAFETY: the allocator owns one strong count of `budget` and gives
        // it back in `budget_drop`; the vtable is 'static.
        unsafe { v8::new_rust_allocator(Arc::into_raw(Arc::clone(budget)), &VTABLE) }
    }

    fn reserve(&self, len: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(len).filter(|n| *n <= self.limit) else {
                return false;
            };
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    fn allocate(&self, len: usize, zeroed: bool) -> *mut c_void {
        if len == 0 {
            return std::ptr::NonNull::<u128>::dangling().as_ptr().cast();
        }
        let Ok(layout) = std::alloc::Layout::from_size_align(len, BUFFER_ALIGN) else {
            return std::ptr::null_mut();
        };
        if !self.reserve(len) {
            self.refusing.store(true, Ordering::Release);
            return std::ptr::null_mut();
        }
        self.refusing.store(false, Ordering::Release);
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe {
            if zeroed {
                std::alloc::alloc_zeroed(layout)
            } else {
                std::alloc::alloc(layout)
            }
        };
        if ptr.is_null() {
            self.used.fetch_sub(len, Ordering::AcqRel);
        }
        ptr.cast()
    }
}

unsafe extern "C" fn budget_allocate(budget: &BufferBudget, len: usize) -> *mut c_void {
    budget.allocate(len, true)
}

unsafe extern "C" fn budget_allocate_uninitialized(
    budget: &BufferBudget,
    len: usize,
) -> *mut c_void {
    budget.allocate(len, false)
}

unsafe extern "C" fn budget_free(budget: &BufferBudget, data: *mut c_void, len: usize) {
    if len == 0 || data.is_null() {
        return;
    }
    // SAFETY: V8 frees with the length it allocated, so the layout matches
    // the one `allocate` used.
    unsafe {
        std::alloc::dealloc(
            data.cast(),
            std::alloc::Layout::from_size_align_unchecked(len, BUFFER_ALIGN),
        );
    }
    budget.used.fetch_sub(len, Ordering::AcqRel);
}

unsafe extern "C" fn budget_drop(budget: *const BufferBudget) {
    // SAFETY: gives back the strong count taken in `allocator`.
    drop(unsafe { Arc::from_raw(budget) });
}

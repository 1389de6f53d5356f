//! Process-wide V8 initialisation: once, before the first isolate.

use std::sync::OnceLock;

static PLATFORM: OnceLock<String> = OnceLock::new();

/// Flags every isolate in this process runs with. They are part of the code
/// cache key because V8 rejects caches produced under other flags.
///
/// `--single-threaded-gc` keeps the garbage collector on the worker's own
/// thread: with one isolate per core, helper GC threads only steal time from
/// the neighbouring workers.
pub const DEFAULT_V8_FLAGS: &str = "--single-threaded-gc";

/// Initialises V8 once per process with `flags` (space-separated V8 flags).
/// Later calls return the flags of the first call, whatever they pass.
pub fn init(flags: &str) -> &'static str {
    PLATFORM.get_or_init(|| {
        if !flags.trim().is_empty() {
            v8::V8::set_flags_from_string(flags);
        }
        // Zero worker threads for the platform's own tasks: V8 then runs
        // them on the calling thread. Combined with single-threaded GC this
        // keeps one isolate's work on one core.
        let platform = v8::new_default_platform(0, false).make_shared();
        v8::V8::initialize_platform(platform);
        v8::V8::initialize();
        flags.to_owned()
    })
}

/// The V8 version string, e.g. `15.2.124.1`.
pub fn v8_version() -> &'static str {
    v8::V8::get_version()
}

/// V8's code-cache compatibility tag for this version and the active flags.
/// Only meaningful after [`init`].
pub fn cached_data_version_tag() -> u32 {
    v8::script_compiler::cached_data_version_tag()
}

//! Process-wide V8 initialisation: once, before the first isolate, with
//! flags checked first.

use std::sync::OnceLock;

static PLATFORM: OnceLock<Result<String, String>> = OnceLock::new();

/// Flags every isolate in this process runs with. They are part of the code
/// cache key because V8 rejects caches produced under other flags.
///
/// `--single-threaded-gc` keeps the garbage collector on the worker's own
/// thread: with one isolate per core, helper GC threads only steal time from
/// the neighbouring workers.
///
/// `--no-allocation-site-pretenuring`: V8 allocates objects straight into
/// the old generation from sites whose objects survived scavenges. A
/// render's objects survive only the scavenges that fall inside that
/// render, then die: pretenured, they filled the old generation with
/// garbage that only mark-compacts (20-40 ms each on the divs page) freed.
/// Measured with `ssr-bench gc`.
pub const DEFAULT_V8_FLAGS: &str = "--single-threaded-gc --no-allocation-site-pretenuring";

/// Flags set in every process, whatever `--v8-flags` says.
///
/// V8 keeps the heap pages of a dropped isolate in a pool shared by the
/// process and frees them from a task it posts to another isolate; this
/// service runs no V8 task queue, so without this flag the pages of every
/// isolate dropped (a bundle replaced by a deploy, an isolate replaced
/// after a timeout) stayed in the process: after eight deploys of a 600 KB
/// page with two workers, 419 MiB resident instead of 303. With it, a
/// dropped isolate frees its pages at once.
///
/// `--expose-gc`: the embedder API's only way to ask for a scavenge
/// (`RequestGarbageCollectionForTesting`, which idle workers use: see
/// `RenderIsolate::collect_young_if_due`) checks it. It also puts a `gc`
/// function on every context's global; `runtime::context` takes it away
/// before any bundle code runs.
const PROCESS_V8_FLAGS: &str = "--no-memory-pool-share-memory-on-teardown --expose-gc";

/// Flags refused in a process whose isolates run untrusted bundles: they
/// would lift the limits the pool sets on each isolate, or expose engine
/// internals to bundle code.
const REFUSED_FLAGS: &[&str] = &[
    "max-old-space-size",
    "max-semi-space-size",
    "max-heap-size",
    "initial-heap-size",
    "initial-old-space-size",
    "allow-natives-syntax",
    "expose-gc",
    "expose-gc-as",
    "expose-externalize-string",
    "expose-statistics",
    "expose-trigger-failure",
    "expose-inspector-scripts",
];

/// Largest `--stack-size` (KiB) that the worker threads' 8 MiB stacks leave
/// room for: past it, a deep recursion overruns the thread and ends the
/// process instead of throwing a RangeError.
pub const MAX_STACK_SIZE_KB: u64 = 4096;

/// Checks space-separated V8 flags without applying them: each must be
/// `--name` or `--name=value`, none may be refused, and `--stack-size` must
/// fit the worker threads.
pub fn check_flags(flags: &str) -> Result<(), String> {
    for token in flags.split_whitespace() {
        let Some(flag) = token.strip_prefix("--") else {
            return Err(format!(
                "V8 flag {token:?} must start with -- (write --name=value)"
            ));
        };
        let (name, value) = flag.split_once('=').unwrap_or((flag, ""));
        let name = name.replace('_', "-");
        let base = name.strip_prefix("no-").unwrap_or(&name);
        if REFUSED_FLAGS.contains(&base) {
            return Err(format!(
                "V8 flag --{name} is refused: it would lift the isolates' limits or expose engine internals to bundles"
            ));
        }
        if base == "stack-size" {
            match value.parse::<u64>() {
                Ok(kb) if (64..=MAX_STACK_SIZE_KB).contains(&kb) => {}
                _ => {
                    return Err(format!(
                        "V8 flag --stack-size must be --stack-size=N with N between 64 and {MAX_STACK_SIZE_KB} (KiB; worker threads have 8 MiB stacks)"
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Initialises V8 once per process with `flags` (space-separated V8 flags).
/// Fails on flags [`check_flags`] refuses or V8 does not know. Later calls
/// return the first call's outcome, whatever they pass.
pub fn init(flags: &str) -> Result<&'static str, String> {
    PLATFORM
        .get_or_init(|| {
            check_flags(flags)?;
            let mut args = vec!["ssr-pool".to_owned()];
            args.extend(flags.split_whitespace().map(str::to_owned));
            let unknown: Vec<String> = v8::V8::set_flags_from_command_line(args)
                .into_iter()
                .skip(1)
                .collect();
            if !unknown.is_empty() {
                return Err(format!("unknown V8 flags: {}", unknown.join(" ")));
            }
            v8::V8::set_flags_from_string(PROCESS_V8_FLAGS);
            // Zero lets V8 size its pool of background threads (compile
            // jobs, and GC helpers unless --single-threaded-gc) from the
            // processors online.
            let platform = v8::new_default_platform(0, false).make_shared();
            v8::V8::initialize_platform(platform);
            v8::V8::initialize();
            Ok(flags.to_owned())
        })
        .as_deref()
        .map_err(Clone::clone)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_that_lift_limits_or_overrun_stacks_are_refused() {
        assert!(check_flags("--single-threaded-gc --max-lazy").is_ok());
        assert!(check_flags("--stack-size=2000").is_ok());
        for bad in [
            "--stack-size=100000",
            "--stack-size",
            "--max-old-space-size=4096",
            "--max_heap_size=1",
            "--allow-natives-syntax",
            "--no-expose-gc",
            "single-threaded-gc",
        ] {
            assert!(check_flags(bad).is_err(), "{bad}");
        }
    }
}

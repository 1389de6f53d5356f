//! Compiling a bundle's files, as an unbound script or as modules, with
//! V8's code cache when one is offered.

use bundles::BundleFile;

/// What happened to the code cache offered at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// V8 accepted the cached data.
    Hit,
    /// No cached data was available.
    Miss,
    /// Cached data was offered and V8 rejected it (other version, flags,
    /// source, or corrupt bytes).
    Rejected,
    /// Nothing was compiled: the isolate started from a start-up snapshot
    /// of the bundle.
    Snapshot,
}

impl CacheOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Rejected => "rejected",
            CacheOutcome::Snapshot => "snapshot",
        }
    }
}

impl CacheOutcome {
    /// The outcome of a bundle whose files each had `outcomes`: a hit only
    /// when every file hit, rejected when any was rejected.
    pub fn combine(outcomes: impl IntoIterator<Item = CacheOutcome>) -> CacheOutcome {
        let mut combined = None;
        for outcome in outcomes {
            combined = Some(match (combined, outcome) {
                (_, CacheOutcome::Rejected) | (Some(CacheOutcome::Rejected), _) => {
                    CacheOutcome::Rejected
                }
                (None, outcome) => outcome,
                (Some(previous), outcome) if previous == outcome => outcome,
                // Some files hit and some had no cache: not a full hit.
                _ => CacheOutcome::Miss,
            });
        }
        combined.unwrap_or(CacheOutcome::Miss)
    }
}

/// Compiles the script `file` in the current context, consuming `cached`
/// when given. Returns the script and the cache outcome, or None with the
/// syntax error thrown.
pub(crate) fn compile_script<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    file: &BundleFile,
    cached: Option<&[u8]>,
) -> Option<(v8::Local<'s, v8::UnboundScript>, CacheOutcome)> {
    compile(scope, file, false, cached, |scope, source, options| {
        v8::script_compiler::compile_unbound_script(
            scope,
            source,
            options,
            v8::script_compiler::NoCacheReason::NoReason,
        )
    })
}

/// Compiles the module `file`, consuming `cached` when given. Returns the
/// (uninstantiated) module and the cache outcome, or None with the syntax
/// error thrown.
pub(crate) fn compile_module<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    file: &BundleFile,
    cached: Option<&[u8]>,
) -> Option<(v8::Local<'s, v8::Module>, CacheOutcome)> {
    compile(scope, file, true, cached, |scope, source, options| {
        v8::script_compiler::compile_module2(
            scope,
            source,
            options,
            v8::script_compiler::NoCacheReason::NoReason,
        )
    })
}

/// The source, origin and cache handling both kinds of compile share.
fn compile<'s, T>(
    scope: &mut v8::PinScope<'s, '_>,
    file: &BundleFile,
    is_module: bool,
    cached: Option<&[u8]>,
    compile: impl FnOnce(
        &mut v8::PinScope<'s, '_>,
        &mut v8::script_compiler::Source,
        v8::script_compiler::CompileOptions,
    ) -> Option<T>,
) -> Option<(T, CacheOutcome)> {
    let source_text = if file.is_ascii() {
        // An external one-byte string: no UTF-8 decoding, and the source
        // lives outside the JS heap.
        v8::String::new_external_onebyte(scope, file.source().as_bytes().into())?
    } else {
        v8::String::new(scope, file.source())?
    };
    let name = v8::String::new(scope, file.name())?;
    let origin = v8::ScriptOrigin::new(
        scope,
        name.into(),
        0,
        0,
        false,
        0,
        None,
        false,
        false,
        is_module,
        None,
    );
    let Some(bytes) = cached else {
        let mut source = v8::script_compiler::Source::new(source_text, Some(&origin));
        let compiled = compile(
            scope,
            &mut source,
            v8::script_compiler::CompileOptions::NoCompileOptions,
        )?;
        return Some((compiled, CacheOutcome::Miss));
    };
    let data = v8::script_compiler::CachedData::new(bytes);
    let mut source =
        v8::script_compiler::Source::new_with_cached_data(source_text, Some(&origin), data);
    let compiled = compile(
        scope,
        &mut source,
        v8::script_compiler::CompileOptions::ConsumeCodeCache,
    )?;
    let rejected = source.get_cached_data().is_none_or(|c| c.rejected());
    let outcome = if rejected {
        CacheOutcome::Rejected
    } else {
        CacheOutcome::Hit
    };
    Some((compiled, outcome))
}

#[cfg(test)]
mod tests {
    use super::CacheOutcome::{self, *};

    #[test]
    fn a_bundle_hits_only_when_every_file_hits() {
        assert_eq!(CacheOutcome::combine([Hit, Hit]), Hit);
        assert_eq!(CacheOutcome::combine([Miss, Miss]), Miss);
        assert_eq!(CacheOutcome::combine([Hit, Miss]), Miss);
        assert_eq!(CacheOutcome::combine([Hit, Rejected, Miss]), Rejected);
        assert_eq!(CacheOutcome::combine([]), Miss);
    }
}

//! Compiling the bundle: once per isolate, as an unbound script, with V8's
//! code cache when one is offered.

use bundles::Bundle;

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
}

impl CacheOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Rejected => "rejected",
        }
    }
}

/// Compiles `bundle` in the current context, consuming `cached` when given.
/// Returns the script and the cache outcome, or the syntax error's exception.
pub(crate) fn compile<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    bundle: &Bundle,
    cached: Option<&[u8]>,
) -> Option<(v8::Local<'s, v8::UnboundScript>, CacheOutcome)> {
    let source_text = if bundle.is_ascii() {
        // An external one-byte string: no UTF-8 decoding, and the source
        // lives outside the JS heap.
        v8::String::new_external_onebyte(scope, bundle.source().as_bytes().into())?
    } else {
        v8::String::new(scope, bundle.source())?
    };
    let name = v8::String::new(scope, bundle.name())?;
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
        false,
        None,
    );
    match cached {
        Some(bytes) => {
            let data = v8::script_compiler::CachedData::new(bytes);
            let mut source =
                v8::script_compiler::Source::new_with_cached_data(source_text, Some(&origin), data);
            let script = v8::script_compiler::compile_unbound_script(
                scope,
                &mut source,
                v8::script_compiler::CompileOptions::ConsumeCodeCache,
                v8::script_compiler::NoCacheReason::NoReason,
            )?;
            let rejected = source.get_cached_data().is_none_or(|c| c.rejected());
            let outcome = if rejected {
                CacheOutcome::Rejected
            } else {
                CacheOutcome::Hit
            };
            Some((script, outcome))
        }
        None => {
            let mut source = v8::script_compiler::Source::new(source_text, Some(&origin));
            let script = v8::script_compiler::compile_unbound_script(
                scope,
                &mut source,
                v8::script_compiler::CompileOptions::NoCompileOptions,
                v8::script_compiler::NoCacheReason::NoReason,
            )?;
            Some((script, CacheOutcome::Miss))
        }
    }
}

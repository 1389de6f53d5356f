//! ES module bundles in an isolate: every file compiled as a module, the
//! entry instantiated and evaluated (top-level await settles within the
//! load), imports resolved only to files of the bundle, `import.meta.url`,
//! and `import()` of the bundle's own chunks. Once loaded, a module bundle
//! renders exactly like a script: components registered themselves.
//!
//! V8 instantiates a module once, in one context, so the fresh-context mode
//! compiles the modules again for every context (from their code caches).

use std::collections::HashMap;

use bundles::{resolve_import, Bundle, RefusedImport};

use crate::script::{self, CacheOutcome};

/// A module bundle's compiled modules in the isolate, indexed like the
/// bundle's files. Kept in an isolate slot, where the resolve, import.meta
/// and dynamic import callbacks find it.
pub(crate) struct ModuleTable {
    bundle: Bundle,
    modules: Vec<v8::Global<v8::Module>>,
    /// Module identity hash -> indices (hashes may collide).
    by_identity: HashMap<i32, Vec<usize>>,
}

impl ModuleTable {
    /// The entry module.
    pub fn entry(&self) -> &v8::Global<v8::Module> {
        &self.modules[0]
    }

    pub fn modules(&self) -> &[v8::Global<v8::Module>] {
        &self.modules
    }

    fn index_of(&self, scope: &mut v8::PinScope, module: v8::Local<v8::Module>) -> Option<usize> {
        let candidates = self.by_identity.get(&module.get_identity_hash().get())?;
        candidates
            .iter()
            .copied()
            .find(|&i| v8::Local::new(scope, &self.modules[i]) == module)
    }

    /// The file `specifier` names when imported by file `referrer`.
    fn resolve(&self, referrer: usize, specifier: &str) -> Result<usize, RefusedImport> {
        let from = self.bundle.files()[referrer].path();
        let path = resolve_import(from, specifier)?;
        self.bundle
            .file_index(&path)
            .ok_or_else(|| RefusedImport::Missing {
                referrer: from.to_owned(),
                specifier: specifier.to_owned(),
                path,
            })
    }
}

/// Compiles every file of `bundle` as a module, consuming each file's entry
/// of `cached` when it has one. None on a syntax error, with the exception
/// left in the scope's TryCatch.
pub(crate) fn compile(
    scope: &mut v8::PinScope,
    bundle: &Bundle,
    cached: &[Option<Vec<u8>>],
) -> Option<(ModuleTable, CacheOutcome)> {
    let mut modules = Vec::with_capacity(bundle.files().len());
    let mut by_identity: HashMap<i32, Vec<usize>> = HashMap::new();
    let mut outcomes = Vec::with_capacity(bundle.files().len());
    for (index, file) in bundle.files().iter().enumerate() {
        let offered = cached.get(index).and_then(Option::as_deref);
        let (module, outcome) = script::compile_module(scope, file, offered)?;
        by_identity
            .entry(module.get_identity_hash().get())
            .or_default()
            .push(index);
        modules.push(v8::Global::new(scope, module));
        outcomes.push(outcome);
    }
    let table = ModuleTable {
        bundle: bundle.clone(),
        modules,
        by_identity,
    };
    Some((table, CacheOutcome::combine(outcomes)))
}

/// Installs the callbacks through which modules reach their table.
pub(crate) fn install_callbacks(isolate: &mut v8::Isolate) {
    isolate.set_host_initialize_import_meta_object_callback(import_meta);
    isolate.set_host_import_module_dynamically_callback(import_dynamically);
}

/// Instantiates the table's entry (linking its imports) and evaluates it.
/// Returns the promise of its evaluation (settled by top-level awaits), or
/// None with the exception thrown.
pub(crate) fn evaluate_entry<'s>(
    scope: &mut v8::PinScope<'s, '_>,
) -> Option<v8::Local<'s, v8::Promise>> {
    let entry = {
        let table = scope.get_slot::<ModuleTable>()?;
        table.entry().clone()
    };
    let entry = v8::Local::new(scope, entry);
    entry.instantiate_module(scope, resolve)?;
    let evaluated = entry.evaluate(scope)?;
    v8::Local::<v8::Promise>::try_from(evaluated).ok()
}

/// Where the entry's top-level await is stuck, `file:line`, for the error
/// of a load that did not settle.
pub(crate) fn stalled_await(scope: &mut v8::PinScope) -> String {
    let Some(entry) = scope.get_slot::<ModuleTable>().map(|t| t.entry().clone()) else {
        return "the entry".to_owned();
    };
    let entry = v8::Local::new(scope, entry);
    let stalled = entry.get_stalled_top_level_await_message(scope);
    let Some((_, message)) = stalled.first() else {
        return "the entry".to_owned();
    };
    let file = message
        .get_script_resource_name(scope)
        .map(|name| name.to_rust_string_lossy(scope))
        .unwrap_or_default();
    let line = message.get_line_number(scope).unwrap_or(0);
    format!("{file}:{line}")
}

fn resolve<'s>(
    context: v8::Local<'s, v8::Context>,
    specifier: v8::Local<'s, v8::String>,
    _import_attributes: v8::Local<'s, v8::FixedArray>,
    referrer: v8::Local<'s, v8::Module>,
) -> Option<v8::Local<'s, v8::Module>> {
    v8::callback_scope!(unsafe scope, context);
    let specifier = specifier.to_rust_string_lossy(scope);
    match find(scope, Some(referrer), &specifier) {
        Ok((module, _)) => Some(v8::Local::new(scope, module)),
        Err(message) => {
            crate::runtime::throw_type_error(scope, &message);
            None
        }
    }
}

/// The module `specifier` names, imported by `referrer` (a module of the
/// bundle; None when a script imports), and its index.
fn find(
    scope: &mut v8::PinScope,
    referrer: Option<v8::Local<v8::Module>>,
    specifier: &str,
) -> Result<(v8::Global<v8::Module>, usize), String> {
    // The table leaves its slot while in use: looking modules up needs the
    // scope, which also owns the slot.
    let Some(table) = scope.remove_slot::<ModuleTable>() else {
        return Err(format!("cannot import \"{specifier}\": this bundle is a classic script, and only module bundles import their files"));
    };
    let found = (|| {
        let referrer = referrer.and_then(|module| table.index_of(scope, module));
        let referrer = referrer.ok_or_else(|| {
            format!("cannot import \"{specifier}\": only the bundle's own modules import its files")
        })?;
        let index = table
            .resolve(referrer, specifier)
            .map_err(|refused| refused.to_string())?;
        Ok((table.modules[index].clone(), index))
    })();
    scope.set_slot(table);
    found
}

unsafe extern "C" fn import_meta(
    context: v8::Local<v8::Context>,
    module: v8::Local<v8::Module>,
    meta: v8::Local<v8::Object>,
) {
    v8::callback_scope!(unsafe scope, context);
    let Some(table) = scope.remove_slot::<ModuleTable>() else {
        return;
    };
    if let Some(index) = table.index_of(scope, module) {
        let url = table.bundle.files()[index].url();
        if let (Some(key), Some(value)) =
            (v8::String::new(scope, "url"), v8::String::new(scope, url))
        {
            meta.create_data_property(scope, key.into(), value.into());
        }
    }
    scope.set_slot(table);
}

/// `import(specifier)`: a promise of the namespace of a module of the
/// bundle. The module is linked and evaluated in a reaction to a settled
/// promise (a microtask), outside of this host callback.
fn import_dynamically<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    _host_defined_options: v8::Local<'s, v8::Data>,
    resource_name: v8::Local<'s, v8::Value>,
    specifier: v8::Local<'s, v8::String>,
    _import_attributes: v8::Local<'s, v8::FixedArray>,
) -> Option<v8::Local<'s, v8::Promise>> {
    let resolver = v8::PromiseResolver::new(scope)?;
    let promise = resolver.get_promise(scope);
    let specifier = specifier.to_rust_string_lossy(scope);
    let referrer = referrer_module(scope, resource_name);
    match find(scope, referrer, &specifier) {
        Ok((_, index)) => {
            let job = v8::Function::builder(link_and_evaluate)
                .data(v8::Integer::new(scope, index as i32).into())
                .build(scope)?;
            let undefined = v8::undefined(scope);
            resolver.resolve(scope, undefined.into());
            promise.then(scope, job)
        }
        Err(message) => {
            let message = v8::String::new(scope, &message)?;
            let error = v8::Exception::type_error(scope, message);
            resolver.reject(scope, error);
            Some(promise)
        }
    }
}

/// The module of the bundle whose resource name is `resource_name`.
fn referrer_module<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    resource_name: v8::Local<'s, v8::Value>,
) -> Option<v8::Local<'s, v8::Module>> {
    let name = resource_name.to_rust_string_lossy(scope);
    let table = scope.get_slot::<ModuleTable>()?;
    let index = table.bundle.files().iter().position(|f| f.name() == name)?;
    let module = table.modules[index].clone();
    Some(v8::Local::new(scope, module))
}

/// The reaction of an `import()` (the module's index is the data): links
/// the module if it is not yet, evaluates it (a no-op when it was) and
/// returns a promise of its namespace once the evaluation settles. What
/// it throws rejects the import.
fn link_and_evaluate(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue,
) {
    let index = args.data().uint32_value(scope).unwrap_or(0) as usize;
    let Some(module) = scope
        .get_slot::<ModuleTable>()
        .and_then(|table| table.modules.get(index).cloned())
    else {
        return;
    };
    let module = v8::Local::new(scope, module);
    let linked = module.get_status() != v8::ModuleStatus::Uninstantiated
        || module.instantiate_module(scope, resolve).is_some();
    let Some(evaluated) = linked
        .then(|| module.evaluate(scope))
        .flatten()
        .and_then(|v| v8::Local::<v8::Promise>::try_from(v).ok())
    else {
        return;
    };
    let namespace = module.get_module_namespace();
    let to_namespace = v8::Function::builder(
        |_: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue| {
            rv.set(args.data())
        },
    )
    .data(namespace)
    .build(scope);
    if let Some(settled) = to_namespace.and_then(|f| evaluated.then(scope, f)) {
        rv.set(settled.into());
    }
}

/// A module bundle's code cache: every file's cache, framed with its path,
/// in one blob for the content-hashed store.
pub(crate) mod cache {
    use bundles::Bundle;

    const MAGIC: &[u8; 8] = b"ssrmods1";

    /// Frames the files' caches.
    pub fn join(files: Vec<(&str, Vec<u8>)>) -> Vec<u8> {
        let size: usize = files.iter().map(|(p, c)| 8 + p.len() + c.len()).sum();
        let mut out = Vec::with_capacity(MAGIC.len() + 4 + size);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(files.len() as u32).to_le_bytes());
        for (path, bytes) in files {
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(path.as_bytes());
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(&bytes);
        }
        out
    }

    /// Each of `bundle`'s files' cache from `blob`, in file order; None
    /// when the blob is not such a frame (a script's cache, or corrupt).
    pub fn split(bundle: &Bundle, blob: &[u8]) -> Option<Vec<Option<Vec<u8>>>> {
        let mut reader = Reader(blob.strip_prefix(MAGIC.as_slice())?);
        let count = reader.number()?;
        let mut caches = vec![None; bundle.files().len()];
        for _ in 0..count {
            let path_len = reader.number()?;
            let path = std::str::from_utf8(reader.take(path_len)?).ok()?;
            let len = reader.number()?;
            let bytes = reader.take(len)?;
            if let Some(index) = bundle.file_index(path) {
                caches[index] = Some(bytes.to_vec());
            }
        }
        reader.0.is_empty().then_some(caches)
    }

    struct Reader<'a>(&'a [u8]);

    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            let (head, tail) = (self.0.get(..n)?, self.0.get(n..)?);
            self.0 = tail;
            Some(head)
        }

        fn number(&mut self) -> Option<usize> {
            let bytes = self.take(4)?;
            Some(u32::from_le_bytes(bytes.try_into().ok()?) as usize)
        }
    }
}

//! Reading a bundle from disk: whether it is a classic script or an ES
//! module, and which files make up a module bundle. Both need the parser,
//! so this runs V8 (in a throwaway isolate, parsing only: no bundle code
//! runs here).

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use bundles::{
    dynamic_import_candidates, read_file, resolve_import, Bundle, BundleError, BundleFile,
    BundleFormat, RefusedImport,
};

use crate::error::StartError;
use crate::platform;

/// Reads the bundle at `path` (its entry, for a module bundle) in `format`,
/// detected when None: a `.mjs` file is a module, a `.cjs` file a script,
/// and any other a script unless only a module parses it (it uses
/// `import`, `export`, `import.meta` or top-level `await`), as Node
/// detects. A module bundle is the entry and every file it imports,
/// statically or by `import()` of a literal relative path, all inside the
/// entry's directory; `max_bytes` bounds them together.
pub fn open_bundle(
    path: &Path,
    format: Option<BundleFormat>,
    max_bytes: usize,
    v8_flags: &str,
) -> Result<Bundle, StartError> {
    let refused = |e: BundleError| StartError::Bundle(e.to_string());
    let bytes = read_file(path, max_bytes).map_err(refused)?;
    platform::init(v8_flags).map_err(StartError::Config)?;
    let mut parser = Parser::new();
    let format = match format {
        Some(format) => format,
        None => parser.detect(path, &bytes),
    };
    match format {
        BundleFormat::Script => Bundle::from_file(path, max_bytes).map_err(refused),
        BundleFormat::Module => {
            let files = parser.module_files(path, bytes, max_bytes)?;
            Bundle::modules(path, files).map_err(refused)
        }
    }
}

/// An isolate that only parses, created when first needed.
struct Parser {
    isolate: Option<v8::OwnedIsolate>,
}

impl Parser {
    fn new() -> Self {
        Self { isolate: None }
    }

    fn isolate(&mut self) -> &mut v8::OwnedIsolate {
        self.isolate
            .get_or_insert_with(|| v8::Isolate::new(Default::default()))
    }

    fn detect(&mut self, path: &Path, bytes: &[u8]) -> BundleFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some("mjs") => return BundleFormat::Module,
            Some("cjs") => return BundleFormat::Script,
            _ => {}
        }
        let source = String::from_utf8_lossy(bytes);
        v8::scope!(let hs, self.isolate());
        let context = v8::Context::new(hs, Default::default());
        let scope = &mut v8::ContextScope::new(hs, context);
        v8::tc_scope!(let tc, scope);
        let parses = |scope: &mut v8::PinScope, is_module: bool| {
            let file = BundleFile::standalone("detect.js", &source);
            if is_module {
                crate::script::compile_module(scope, &file, None).is_some()
            } else {
                crate::script::compile_script(scope, &file, None).is_some()
            }
        };
        // A file neither parses keeps today's path: its syntax error is
        // reported as a script's.
        if !parses(tc, false) && parses(tc, true) {
            BundleFormat::Module
        } else {
            BundleFormat::Script
        }
    }

    /// The entry and the files it imports, transitively, as (path relative
    /// to the entry's directory, bytes), the entry first.
    fn module_files(
        &mut self,
        entry: &Path,
        entry_bytes: Vec<u8>,
        max_bytes: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StartError> {
        let dir = match entry.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let root = dir.canonicalize().map_err(|source| {
            StartError::Bundle(
                BundleError::Read {
                    path: dir.clone(),
                    source,
                }
                .to_string(),
            )
        })?;
        let entry_name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut seen = HashSet::from([entry_name.clone()]);
        let mut queue = VecDeque::from([(entry_name, entry_bytes)]);
        let mut files = Vec::new();
        let mut total = 0usize;
        while let Some((path, bytes)) = queue.pop_front() {
            total += bytes.len();
            if total > max_bytes {
                return Err(StartError::Bundle(
                    BundleError::TooLarge {
                        name: entry.display().to_string(),
                        size: total,
                        limit: max_bytes,
                    }
                    .to_string(),
                ));
            }
            let name = dir.join(&path).display().to_string();
            let (statics, dynamics) = self.imports(entry, &name, &bytes)?;
            for specifier in statics {
                let target = resolve_import(&path, &specifier).map_err(|e| refused(entry, e))?;
                if seen.insert(target.clone()) {
                    let bytes = read_inside(&root, &target, max_bytes).ok_or_else(|| {
                        refused(
                            entry,
                            RefusedImport::Missing {
                                referrer: path.clone(),
                                specifier,
                                path: target.clone(),
                            },
                        )
                    })?;
                    queue.push_back((target, bytes));
                }
            }
            // Lazily loaded chunks, when they are files of the bundle.
            for specifier in dynamics {
                let Ok(target) = resolve_import(&path, &specifier) else {
                    continue;
                };
                if !seen.contains(&target) {
                    if let Some(bytes) = read_inside(&root, &target, max_bytes) {
                        seen.insert(target.clone());
                        queue.push_back((target, bytes));
                    }
                }
            }
            files.push((path, bytes));
        }
        Ok(files)
    }

    /// A module's static import specifiers and its literal relative
    /// `import()` specifiers; a syntax error is a start error naming it.
    fn imports(
        &mut self,
        entry: &Path,
        name: &str,
        bytes: &[u8],
    ) -> Result<(Vec<String>, Vec<String>), StartError> {
        let source = String::from_utf8_lossy(bytes);
        let dynamics = dynamic_import_candidates(&source)
            .into_iter()
            .map(str::to_owned)
            .collect();
        v8::scope!(let hs, self.isolate());
        let context = v8::Context::new(hs, Default::default());
        let scope = &mut v8::ContextScope::new(hs, context);
        v8::tc_scope!(let tc, scope);
        let file = BundleFile::standalone(name, &source);
        let Some((module, _)) = crate::script::compile_module(tc, &file, None) else {
            let exception = tc.exception();
            let bundle = entry.display().to_string();
            return Err(crate::exception::syntax_error(tc, &bundle, exception));
        };
        let requests = module.get_module_requests();
        let statics = (0..requests.length())
            .filter_map(|i| {
                let request = requests.get(tc, i)?;
                let request = v8::Local::<v8::ModuleRequest>::try_from(request).ok()?;
                Some(request.get_specifier().to_rust_string_lossy(tc))
            })
            .collect();
        Ok((statics, dynamics))
    }
}

fn refused(entry: &Path, refused: RefusedImport) -> StartError {
    StartError::Bundle(
        BundleError::Import {
            name: entry.display().to_string(),
            refused,
        }
        .to_string(),
    )
}

/// The bytes of the bundle file at `relative` under `root`; None when it is
/// not a file, is too large, or is a link leading outside `root`.
fn read_inside(root: &Path, relative: &str, max_bytes: usize) -> Option<Vec<u8>> {
    let path = root.join(relative).canonicalize().ok()?;
    if !path.starts_with(root) || !path.is_file() {
        return None;
    }
    read_file(&path, max_bytes).ok()
}

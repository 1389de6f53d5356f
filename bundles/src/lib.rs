//! React server bundles, identified by the sha256 of their content.
//!
//! A [`Bundle`] is the JavaScript that registers components with the render
//! runtime (see the README's "Bundle contract"): a classic script (one
//! file), or an ES module entry with the chunks it imports from its
//! directory. It is validated once here (UTF-8, size limit) so every layer
//! above can rely on it. Which files make up a module bundle is found by
//! the pool, which parses them (see `pool::open_bundle`); this crate holds
//! them, hashes them and says where their imports may lead.

mod hash;
mod imports;
mod source_map;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use hash::{ContentHash, ParseContentHashError};
pub use imports::{dynamic_import_candidates, resolve_import, RefusedImport};
use source_map::SourceMap;

/// Default upper bound for a bundle's size (all its files): 64 MiB.
pub const DEFAULT_MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;

/// Why a bundle could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read bundle {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bundle {name} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        name: String,
        size: usize,
        limit: usize,
    },
    #[error("bundle {name} is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 { name: String, offset: usize },
    #[error("bundle {name} is empty")]
    Empty { name: String },
    #[error("bundle {name}: {refused}")]
    Import {
        name: String,
        refused: RefusedImport,
    },
}

/// How the bundle's code is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BundleFormat {
    /// A classic script (an IIFE, as esbuild's `format: "iife"` writes).
    Script,
    /// An ES module entry, with the chunks it imports by relative path.
    Module,
}

impl BundleFormat {
    /// A stable label for logs, metrics and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            BundleFormat::Script => "script",
            BundleFormat::Module => "module",
        }
    }
}

impl std::fmt::Display for BundleFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One JavaScript file of a bundle.
pub struct BundleFile {
    /// Relative to the bundle's directory, with `/` separators; how imports
    /// name it. A script's one file is its file name.
    path: Arc<str>,
    /// The resource name V8 gives it in stack traces: the path the bundle
    /// was loaded from, or its label.
    name: Arc<str>,
    /// `import.meta.url`: the file's absolute `file:` URL when it was read
    /// from disk.
    url: Arc<str>,
    source: Arc<str>,
    ascii: bool,
    source_map: SourceMap,
}

impl BundleFile {
    fn new(path: &str, name: String, url: String, bytes: Vec<u8>) -> Result<Self, BundleError> {
        let source = String::from_utf8(bytes).map_err(|e| BundleError::NotUtf8 {
            name: name.clone(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        Ok(Self {
            path: path.into(),
            name: name.into(),
            url: url.into(),
            ascii: source.is_ascii(),
            source: source.into(),
            source_map: SourceMap::default(),
        })
    }

    /// A file of no bundle, named `name`: for parsing a source before its
    /// bundle is assembled.
    pub fn standalone(name: &str, source: &str) -> Self {
        Self {
            path: name.into(),
            name: name.into(),
            url: name.into(),
            ascii: source.is_ascii(),
            source: source.into(),
            source_map: SourceMap::default(),
        }
    }

    /// The path relative to the bundle's directory.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The name stack traces show for this file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's URL, as `import.meta.url` gives it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The JavaScript source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the source is pure ASCII (esbuild's default output), which
    /// lets the engine use it without decoding.
    pub fn is_ascii(&self) -> bool {
        self.ascii
    }
}

/// An immutable, validated bundle. Cheap to clone (the files are shared).
#[derive(Clone)]
pub struct Bundle {
    name: Arc<str>,
    format: BundleFormat,
    /// The entry first.
    files: Arc<[BundleFile]>,
    hash: ContentHash,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("files", &self.files.len())
            .field("bytes", &self.len())
            .field("hash", &self.hash)
            .finish()
    }
}

/// Reads one file of a bundle, refusing it unread when it is over
/// `max_bytes`.
pub fn read_file(path: &Path, max_bytes: usize) -> Result<Vec<u8>, BundleError> {
    let read_err = |source| BundleError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    if size > max_bytes as u64 {
        return Err(BundleError::TooLarge {
            name: path.display().to_string(),
            size: usize::try_from(size).unwrap_or(usize::MAX),
            limit: max_bytes,
        });
    }
    std::fs::read(path).map_err(read_err)
}

/// The absolute `file:` URL of `path` (as given when it cannot be made
/// absolute).
fn file_url(path: &Path) -> String {
    let absolute = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    url::Url::from_file_path(&absolute)
        .map(String::from)
        .unwrap_or_else(|()| absolute.display().to_string())
}

impl Bundle {
    /// Reads and validates a classic-script bundle file, refusing files over
    /// `max_bytes`.
    pub fn from_file(path: impl AsRef<Path>, max_bytes: usize) -> Result<Self, BundleError> {
        let path = path.as_ref();
        let bytes = read_file(path, max_bytes)?;
        let mut bundle = Self::from_bytes(path.display().to_string(), bytes, max_bytes)?;
        let files = Arc::get_mut(&mut bundle.files).expect("a new bundle is not shared");
        files[0].url = file_url(path).into();
        files[0].source_map = SourceMap::find(path, &files[0].source);
        Ok(bundle)
    }

    /// Validates a classic-script bundle held in memory. `name` is used in
    /// messages and as the script's resource name in stack traces.
    pub fn from_bytes(
        name: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
        max_bytes: usize,
    ) -> Result<Self, BundleError> {
        let name = name.into();
        let bytes = bytes.into();
        if bytes.len() > max_bytes {
            return Err(BundleError::TooLarge {
                name,
                size: bytes.len(),
                limit: max_bytes,
            });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(BundleError::Empty { name });
        }
        let hash = ContentHash::of(&bytes);
        let file = BundleFile::new(&name, name.clone(), name.clone(), bytes)?;
        Ok(Self {
            name: name.into(),
            format: BundleFormat::Script,
            files: Arc::from([file]),
            hash,
        })
    }

    /// A module bundle read from disk: `files` are `(path relative to the
    /// entry's directory, bytes)`, the entry first. Its identity is the
    /// sha256 over every file with its path.
    pub fn modules(entry: &Path, files: Vec<(String, Vec<u8>)>) -> Result<Self, BundleError> {
        let name = entry.display().to_string();
        let Some((_, first)) = files.first() else {
            return Err(BundleError::Empty { name });
        };
        if first.iter().all(u8::is_ascii_whitespace) {
            return Err(BundleError::Empty { name });
        }
        let hash = ContentHash::of_files(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
        let dir = match entry.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::new(),
        };
        let files = files
            .into_iter()
            .map(|(path, bytes)| {
                let on_disk = dir.join(&path);
                let name = on_disk.display().to_string();
                let mut file = BundleFile::new(&path, name, file_url(&on_disk), bytes)?;
                file.source_map = SourceMap::find(&on_disk, &file.source);
                Ok(file)
            })
            .collect::<Result<Vec<_>, BundleError>>()?;
        Ok(Self {
            name: name.into(),
            format: BundleFormat::Module,
            files: files.into(),
            hash,
        })
    }

    /// `stack` (of an error thrown in this bundle) with its frames mapped
    /// through the source maps of the files they are in; frames of files
    /// without a map (or with a broken one, logged once) stay unchanged.
    pub fn map_stack(&self, stack: &str) -> String {
        source_map::map_stack(&self.files, stack)
    }

    /// The name given at load (a path or a label), used in logs and stacks.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Script or module.
    pub fn format(&self) -> BundleFormat {
        self.format
    }

    /// Every file, the entry first (a script has only the entry).
    pub fn files(&self) -> &[BundleFile] {
        &self.files
    }

    /// The file compiled first: the script, or the entry module.
    pub fn entry(&self) -> &BundleFile {
        &self.files[0]
    }

    /// The index in [`Bundle::files`] of the file at a bundle-relative path.
    pub fn file_index(&self, path: &str) -> Option<usize> {
        self.files.iter().position(|f| &*f.path == path)
    }

    /// The JavaScript source of the entry.
    pub fn source(&self) -> &str {
        self.entry().source()
    }

    /// The bundle's identity: the sha256 of a script's bytes, or over a
    /// module bundle's files and their paths.
    pub fn hash(&self) -> ContentHash {
        self.hash
    }

    /// Size in bytes, over all files.
    pub fn len(&self) -> usize {
        self.files.iter().map(|f| f.source.len()).sum()
    }

    /// Always false for a validated bundle; present for API completeness.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_hashes() {
        let b = Bundle::from_bytes("t.js", "var x = 1;", 1024).unwrap();
        assert_eq!(b.source(), "var x = 1;");
        assert_eq!(b.hash(), ContentHash::of(b"var x = 1;"));
        assert!(b.entry().is_ascii());
        assert_eq!(b.format(), BundleFormat::Script);
        assert!(!Bundle::from_bytes("u.js", "var s = 'ü';", 1024)
            .unwrap()
            .entry()
            .is_ascii());
        assert_ne!(b.hash(), ContentHash::of(b"var x = 2;"));
    }

    #[test]
    fn refuses_non_utf8_with_offset() {
        let err = Bundle::from_bytes("bad.js", b"ok\xffno".to_vec(), 1024).unwrap_err();
        assert!(
            matches!(err, BundleError::NotUtf8 { offset: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn refuses_oversized_bytes_and_files() {
        let err = Bundle::from_bytes("big.js", vec![b'a'; 11], 10).unwrap_err();
        assert!(matches!(
            err,
            BundleError::TooLarge {
                size: 11,
                limit: 10,
                ..
            }
        ));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.js");
        std::fs::write(&path, vec![b'a'; 11]).unwrap();
        let err = Bundle::from_file(&path, 10).unwrap_err();
        assert!(matches!(err, BundleError::TooLarge { .. }), "{err}");
        assert!(Bundle::from_file(&path, 11).is_ok());
    }

    #[test]
    fn refuses_empty_and_missing() {
        assert!(matches!(
            Bundle::from_bytes("e.js", " \n", 10),
            Err(BundleError::Empty { .. })
        ));
        let err = Bundle::from_file("/nonexistent/bundle.js", 10).unwrap_err();
        assert!(matches!(err, BundleError::Read { .. }));
    }
}

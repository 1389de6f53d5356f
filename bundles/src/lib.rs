//! React server bundles, identified by the sha256 of their bytes.
//!
//! A [`Bundle`] is the JavaScript source of a classic script that registers
//! components with the render runtime (see the README's "Bundle contract").
//! It is validated once here (UTF-8, size limit) so every layer above can
//! rely on it.

mod hash;
mod source_map;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use hash::{ContentHash, ParseContentHashError};
use source_map::SourceMap;

/// Default upper bound for a bundle's size: 64 MiB.
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
}

/// An immutable, validated bundle. Cheap to clone (the source is shared).
#[derive(Clone)]
pub struct Bundle {
    name: Arc<str>,
    source: Arc<str>,
    hash: ContentHash,
    ascii: bool,
    source_map: Arc<SourceMap>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("name", &self.name)
            .field("bytes", &self.source.len())
            .field("hash", &self.hash)
            .finish()
    }
}

impl Bundle {
    /// Reads and validates a bundle file, refusing files over `max_bytes`.
    pub fn from_file(path: impl AsRef<Path>, max_bytes: usize) -> Result<Self, BundleError> {
        let path = path.as_ref();
        let read_err = |source| BundleError::Read {
            path: path.to_path_buf(),
            source,
        };
        let name = path.display().to_string();
        // Check the size before reading so a huge file is never loaded.
        let size = std::fs::metadata(path).map_err(read_err)?.len();
        if size > max_bytes as u64 {
            return Err(BundleError::TooLarge {
                name,
                size: usize::try_from(size).unwrap_or(usize::MAX),
                limit: max_bytes,
            });
        }
        let bytes = std::fs::read(path).map_err(read_err)?;
        let mut bundle = Self::from_bytes(name, bytes, max_bytes)?;
        bundle.source_map = Arc::new(SourceMap::find(path, &bundle.source));
        Ok(bundle)
    }

    /// Validates bundle bytes held in memory. `name` is used in messages and
    /// as the script's resource name in stack traces.
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
        let source = String::from_utf8(bytes).map_err(|e| BundleError::NotUtf8 {
            name: name.clone(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        Ok(Self {
            name: name.into(),
            ascii: source.is_ascii(),
            source: source.into(),
            hash,
            source_map: Arc::default(),
        })
    }

    /// `stack` (of an error thrown in this bundle) with its frames mapped
    /// through the bundle's source map to the original sources; unchanged
    /// when the bundle has no map (or a broken one, logged once).
    pub fn map_stack(&self, stack: &str) -> String {
        self.source_map.map_stack(&self.name, stack)
    }

    /// The name given at load (a path or a label), used in logs and stacks.
    pub fn name(&self) -> &str {
        &self.name
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

    /// The sha256 of the bundle's bytes.
    pub fn hash(&self) -> ContentHash {
        self.hash
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.source.len()
    }

    /// Always false for a validated bundle; present for API completeness.
    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
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
        assert!(b.is_ascii());
        assert!(!Bundle::from_bytes("u.js", "var s = 'ü';", 1024)
            .unwrap()
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

//! A content-addressed byte cache: a moka tier in memory, weighted by bytes,
//! over files on disk. It knows nothing about V8: a [`CacheKey`] is a bundle
//! hash plus an opaque engine tag, and values are bytes.
//!
//! Files are written atomically (temp file, fsync, rename) with a header
//! (magic, format version, key, length, CRC-32). A file that is torn,
//! truncated, corrupt or written for another key is a miss: it is logged and
//! removed, never returned.

mod file;
mod key;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use file::ReadError;
pub use file::{decode, encode, write_atomic, FileError, FORMAT_VERSION, MAGIC};
pub use key::CacheKey;

/// Settings of a [`CodeCache`].
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Budget of the in-memory tier in bytes.
    pub memory_bytes: u64,
    /// Largest value read from a file; a file claiming more is a miss.
    pub max_value_bytes: u64,
    /// Cap on the bytes of cache files on disk; least recently used files
    /// are removed past it. None = no cap.
    pub max_dir_bytes: Option<u64>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            max_value_bytes: 256 << 20,
            max_dir_bytes: Some(2 << 30),
        }
    }
}

/// Why the cache could not store a value.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot create cache directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot write cache file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Memory,
    Disk,
}

/// The two-tier cache. Cheap to clone.
#[derive(Clone)]
pub struct CodeCache {
    dir: PathBuf,
    memory: moka::sync::Cache<CacheKey, Arc<Vec<u8>>>,
    options: CacheOptions,
}

impl CodeCache {
    /// Opens (creating if needed) the cache directory.
    pub fn open(dir: impl Into<PathBuf>, options: CacheOptions) -> Result<Self, CacheError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| CacheError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        let memory = moka::sync::Cache::builder()
            .weigher(|_k: &CacheKey, v: &Arc<Vec<u8>>| u32::try_from(v.len()).unwrap_or(u32::MAX))
            .max_capacity(options.memory_bytes)
            .build();
        Ok(Self {
            dir,
            memory,
            options,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a key is stored in.
    pub fn path_of(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.code", key.digest_hex()))
    }

    /// The bytes stored under `key`, checked against the file header.
    pub fn get(&self, key: &CacheKey) -> Option<(Arc<Vec<u8>>, Tier)> {
        if let Some(bytes) = self.memory.get(key) {
            return Some((bytes, Tier::Memory));
        }
        let path = self.path_of(key);
        let raw = match file::read_own(&path, self.options.max_value_bytes) {
            Ok(raw) => raw,
            Err(ReadError::Missing) => return None,
            Err(ReadError::Io(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable cache file; treating as a miss");
                return None;
            }
            Err(ReadError::NotOurs(why)) => {
                // Not a file this cache wrote (a link, a FIFO, a directory,
                // a file too large): a miss, and left alone.
                tracing::warn!(path = %path.display(), why, "not a cache file; treating as a miss");
                return None;
            }
        };
        match decode(&raw.bytes, key) {
            Ok(payload) => {
                let bytes = Arc::new(payload.to_vec());
                self.memory.insert(*key, Arc::clone(&bytes));
                // Marks the file as recently used (its mtime orders eviction).
                let _ = raw.file.set_modified(std::time::SystemTime::now());
                Some((bytes, Tier::Disk))
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "invalid cache file; removing it");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores `bytes` under `key` in memory and, atomically, on disk.
    pub fn put(&self, key: &CacheKey, bytes: Vec<u8>) -> Result<PathBuf, CacheError> {
        let bytes = Arc::new(bytes);
        self.memory.insert(*key, Arc::clone(&bytes));
        let path = self.path_of(key);
        file::write_atomic(&self.dir, &path, &encode(key, &bytes)).map_err(|source| {
            CacheError::Write {
                path: path.clone(),
                source,
            }
        })?;
        if let Some(cap) = self.options.max_dir_bytes {
            self.evict_to(cap);
        }
        Ok(path)
    }

    /// Empties the memory tier, so the next `get` reads (and checks) the
    /// files.
    pub fn clear_memory(&self) {
        self.memory.invalidate_all();
    }

    /// Forgets `key` in both tiers (for example after V8 rejected it).
    pub fn remove(&self, key: &CacheKey) {
        self.memory.invalidate(key);
        let _ = std::fs::remove_file(self.path_of(key));
    }

    /// Removes least recently used cache files until the directory holds at
    /// most `cap` bytes of them. Only files this cache wrote count and are
    /// removed: regular files named `<64 hex digits>.code` that start with
    /// the cache's magic.
    pub fn evict_to(&self, cap: u64) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| file::is_cache_file_name(&e.file_name()))
            .filter_map(|e| {
                // symlink_metadata: a link is never followed, so nothing
                // outside the directory is looked at or counted.
                let meta = std::fs::symlink_metadata(e.path()).ok()?;
                if !meta.file_type().is_file() || !file::starts_with_magic(&e.path()) {
                    return None;
                }
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= cap {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                tracing::info!(path = %path.display(), "evicted cache file");
                total -= len;
            }
        }
    }
}

//! The pool's code-cache hook backed by the content-addressed disk cache.

use std::path::Path;

use bundles::ContentHash;
use cache::{CacheKey, CacheOptions, CodeCache, Tier};

/// Stores V8 code cache per (bundle hash, V8 version, cached-data tag,
/// flags) in a [`CodeCache`] directory.
pub struct DiskCodeCache {
    cache: CodeCache,
    engine: String,
    read_only: bool,
}

impl DiskCodeCache {
    pub fn open(dir: &Path, v8_version: &str, v8_flags: &str) -> Result<Self, cache::CacheError> {
        Ok(Self {
            cache: CodeCache::open(dir, CacheOptions::default())?,
            engine: format!("v8 {v8_version} flags [{}]", v8_flags.trim()),
            read_only: false,
        })
    }

    /// Uses the cache without writing to it (one-off renders, whose
    /// isolates are not warmed up, would store a thin cache).
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The key of `bundle`'s code cache under this engine and `v8_tag`.
    pub fn key(&self, bundle: &ContentHash, v8_tag: u32) -> CacheKey {
        CacheKey::new(*bundle, &format!("{} tag {v8_tag:08x}", self.engine))
    }

    pub fn cache(&self) -> &CodeCache {
        &self.cache
    }

    /// The key of `bundle`'s start-up snapshot under this engine, the
    /// current flags' tag and the runtime (`pool::snapshot::tag`).
    pub fn snapshot_key(&self, bundle: &ContentHash) -> CacheKey {
        CacheKey::new(*bundle, &self.snapshot_engine())
    }

    /// This engine plus `pool::snapshot::tag` for the current flags.
    fn snapshot_engine(&self) -> String {
        let tag = pool::snapshot::tag(pool::platform::cached_data_version_tag());
        format!("{} {tag}", self.engine)
    }

    /// The stored start-up snapshot of `bundle`, if any.
    pub fn load_snapshot(&self, bundle: &ContentHash) -> Option<Vec<u8>> {
        let key = self.snapshot_key(bundle);
        let (bytes, _) = self.cache.get(&key)?;
        Some(bytes.as_ref().clone())
    }

    pub fn store_snapshot(&self, bundle: &ContentHash, bytes: Vec<u8>) -> Result<(), String> {
        let key = self.snapshot_key(bundle);
        self.cache
            .put(&key, bytes)
            .map(drop)
            .map_err(|e| format!("cannot write the snapshot: {e}"))
    }

    pub fn remove_snapshot(&self, bundle: &ContentHash) {
        self.cache.remove(&self.snapshot_key(bundle));
    }

    /// Where V8's refusal to snapshot `bundle` is remembered.
    fn refusal_key(&self, bundle: &ContentHash) -> CacheKey {
        CacheKey::new(*bundle, &format!("{} refused", self.snapshot_engine()))
    }

    /// Why V8 refused to snapshot `bundle` before, if it did.
    pub fn refused_snapshot(&self, bundle: &ContentHash) -> Option<String> {
        let (bytes, _) = self.cache.get(&self.refusal_key(bundle))?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Remembers that V8 refused to snapshot `bundle`, and why.
    pub fn refuse_snapshot(&self, bundle: &ContentHash, reason: &str) {
        let key = self.refusal_key(bundle);
        if let Err(error) = self.cache.put(&key, reason.as_bytes().to_vec()) {
            tracing::warn!(key = %key, %error, "cannot remember the snapshot refusal");
        }
    }
}

impl pool::CodeCacheStore for DiskCodeCache {
    fn load(&self, bundle: &ContentHash, v8_tag: u32) -> Option<Vec<u8>> {
        let key = self.key(bundle, v8_tag);
        let (bytes, tier) = self.cache.get(&key)?;
        if tier == Tier::Disk {
            tracing::info!(key = %key, bytes = bytes.len(), "code cache loaded from disk");
        }
        Some(bytes.as_ref().clone())
    }

    fn store(&self, bundle: &ContentHash, v8_tag: u32, bytes: Vec<u8>) {
        if self.read_only {
            return;
        }
        let key = self.key(bundle, v8_tag);
        let len = bytes.len();
        match self.cache.put(&key, bytes) {
            Ok(path) => {
                tracing::info!(key = %key, bytes = len, path = %path.display(), "code cache written")
            }
            Err(error) => {
                tracing::warn!(key = %key, %error, "cannot write code cache; continuing without it")
            }
        }
    }

    fn reject(&self, bundle: &ContentHash, v8_tag: u32) {
        let key = self.key(bundle, v8_tag);
        tracing::warn!(key = %key, "V8 rejected the cached code; it will be replaced");
        self.cache.remove(&key);
    }
}

//! Cache keys: what a cached value was produced from.

use bundles::ContentHash;
use sha2::{Digest, Sha256};

/// Identifies cached bytes: the bundle's content hash plus an engine tag
/// (for V8's code cache: the V8 version, its cached-data version tag and the
/// flags, anything that changes what the engine accepts). Files are named by
/// the digest of both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey {
    bundle: ContentHash,
    digest: [u8; 32],
}

impl CacheKey {
    pub fn new(bundle: ContentHash, engine: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"ssr-pool cache key v1\0");
        hasher.update(bundle.as_bytes());
        hasher.update(engine.as_bytes());
        Self {
            bundle,
            digest: hasher.finalize().into(),
        }
    }

    pub fn bundle(&self) -> ContentHash {
        self.bundle
    }

    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.digest_hex())
    }
}

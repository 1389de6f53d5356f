//! The identity of a bundle: the sha256 of its bytes.

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The sha256 digest of a bundle's bytes. Displays as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Hashes a module bundle: every file's path and bytes, in the order
    /// given (the entry first), each length-prefixed so that no two
    /// different bundles hash the same input.
    pub fn of_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"ssr-pool module bundle\0");
        for (path, bytes) in files {
            hasher.update((path.len() as u64).to_le_bytes());
            hasher.update(path.as_bytes());
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        Self(hasher.finalize().into())
    }

    /// Wraps a raw digest.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 12 hex digits, enough to tell bundles apart in logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.short())
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("not a sha256 content hash (expected 64 hex digits)")]
pub struct ParseContentHashError;

impl FromStr for ContentHash {
    type Err = ParseContentHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| ParseContentHashError)?;
        Ok(Self(out))
    }
}

impl serde::Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_and_roundtrip() {
        let h = ContentHash::of(b"abc");
        assert_eq!(
            h.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.to_string().parse::<ContentHash>().unwrap(), h);
        assert_eq!(h.short(), "ba7816bf8f01");
        assert!("xyz".parse::<ContentHash>().is_err());
    }

    #[test]
    fn module_bundles_hash_paths_and_bytes() {
        let base = ContentHash::of_files([("e.js", &b"a"[..]), ("c.js", b"b")]);
        assert_ne!(
            base,
            ContentHash::of_files([("e.js", &b"a"[..]), ("c.js", b"c")])
        );
        assert_ne!(
            base,
            ContentHash::of_files([("e.js", &b"a"[..]), ("d.js", b"b")])
        );
        assert_ne!(
            base,
            ContentHash::of_files([("c.js", &b"b"[..]), ("e.js", b"a")])
        );
        assert_ne!(
            base,
            ContentHash::of_files([("e.js", &b"ac"[..]), (".js", b"b")])
        );
        assert_ne!(base, ContentHash::of(b"a"));
    }
}

//! The on-disk format of a cache file and its atomic write.
//!
//! ```text
//! magic "SSRCACHE" | format u32 LE | key digest [32] | length u64 LE | crc32 u32 LE | payload
//! ```

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::CacheKey;

pub const MAGIC: &[u8; 8] = b"SSRCACHE";
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 32 + 8 + 4;

/// Why a cache file was not accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("file is shorter than the header ({0} bytes)")]
    Truncated(usize),
    #[error("not a cache file (bad magic)")]
    BadMagic,
    #[error("cache format {0} is not supported (expected {FORMAT_VERSION})")]
    Format(u32),
    #[error("file holds another key")]
    ForeignKey,
    #[error("payload is {actual} bytes, header says {expected}")]
    Length { expected: u64, actual: u64 },
    #[error("checksum mismatch")]
    Checksum,
}

/// Serialises `payload` for `key` with its header.
pub fn encode(key: &CacheKey, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(key.digest());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Checks a file's header against `key` and returns its payload.
pub fn decode<'a>(raw: &'a [u8], key: &CacheKey) -> Result<&'a [u8], FileError> {
    if raw.len() < HEADER_LEN {
        return Err(FileError::Truncated(raw.len()));
    }
    let (header, payload) = raw.split_at(HEADER_LEN);
    if &header[..8] != MAGIC {
        return Err(FileError::BadMagic);
    }
    let format = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if format != FORMAT_VERSION {
        return Err(FileError::Format(format));
    }
    if &header[12..44] != key.digest() {
        return Err(FileError::ForeignKey);
    }
    let expected = u64::from_le_bytes(header[44..52].try_into().expect("8 bytes"));
    if expected != payload.len() as u64 {
        return Err(FileError::Length {
            expected,
            actual: payload.len() as u64,
        });
    }
    let crc = u32::from_le_bytes(header[52..56].try_into().expect("4 bytes"));
    if crc32fast::hash(payload) != crc {
        return Err(FileError::Checksum);
    }
    Ok(payload)
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` so readers see either the old file or the whole
/// new one: a unique temp file in the same directory, fsync, rename, fsync
/// of the directory.
pub fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("cache");
    let temp = dir.join(format!(".{file_name}.{}.{n}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Why a cache file was not read.
#[derive(Debug)]
pub(crate) enum ReadError {
    Missing,
    Io(io::Error),
    /// The path is not a regular file this cache could have written.
    NotOurs(&'static str),
}

/// A cache file's bytes and its open handle.
pub(crate) struct OwnFile {
    pub bytes: Vec<u8>,
    pub file: std::fs::File,
}

/// Reads a cache file without trusting the directory: a symbolic link is
/// not followed (`O_NOFOLLOW`), a FIFO or device does not block the open
/// (`O_NONBLOCK`) and is refused once opened, and no more bytes are read
/// than a header plus `max_payload` (whatever the file claims).
pub(crate) fn read_own(path: &Path, max_payload: u64) -> Result<OwnFile, ReadError> {
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let mut file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ReadError::Missing),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ReadError::NotOurs("a symbolic link"))
        }
        Err(e) => return Err(ReadError::Io(e)),
    };
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotOurs("not a regular file"));
    }
    let limit = HEADER_LEN as u64 + max_payload;
    if meta.len() > limit {
        return Err(ReadError::NotOurs("larger than any value the cache stores"));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut file)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::NotOurs("grew past the size limit while read"));
    }
    Ok(OwnFile { bytes, file })
}

/// True for the names this cache gives its files: `<64 hex digits>.code`.
pub(crate) fn is_cache_file_name(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    name.strip_suffix(".code")
        .is_some_and(|stem| stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// True when the regular file at `path` starts with the cache's magic.
pub(crate) fn starts_with_magic(path: &Path) -> bool {
    let Ok(file) = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    else {
        return false;
    };
    let mut magic = [0u8; 8];
    (&file).read_exact(&mut magic).is_ok() && &magic == MAGIC
}

//! The two-tier cache on a real directory: round trips, every kind of bad
//! file, concurrent writers, and the size cap.

use std::sync::Arc;

use bundles::ContentHash;
use cache::{decode, CacheKey, CacheOptions, CodeCache, FileError, Tier};

fn key(n: u8) -> CacheKey {
    CacheKey::new(ContentHash::of(&[n]), "engine-a")
}

fn open(dir: &std::path::Path) -> CodeCache {
    CodeCache::open(dir, CacheOptions::default()).unwrap()
}

#[test]
fn round_trip_through_memory_and_disk() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    assert!(cache.get(&key(1)).is_none());
    let path = cache.put(&key(1), vec![7; 1000]).unwrap();
    assert!(path.exists());
    let (bytes, tier) = cache.get(&key(1)).unwrap();
    assert_eq!((bytes.as_slice(), tier), (&[7u8; 1000][..], Tier::Memory));

    // A new process (new cache) reads the file.
    let fresh = open(dir.path());
    let (bytes, tier) = fresh.get(&key(1)).unwrap();
    assert_eq!((bytes.len(), tier), (1000, Tier::Disk));
    assert_eq!(fresh.get(&key(1)).unwrap().1, Tier::Memory);
}

#[test]
fn keys_differ_by_bundle_and_engine() {
    let a = CacheKey::new(ContentHash::of(b"x"), "v8 1 tag 1");
    assert_ne!(a, CacheKey::new(ContentHash::of(b"y"), "v8 1 tag 1"));
    assert_ne!(a, CacheKey::new(ContentHash::of(b"x"), "v8 1 tag 2"));
    assert_eq!(a, CacheKey::new(ContentHash::of(b"x"), "v8 1 tag 1"));
}

/// Writes `mangle(valid file)` where key 1's file belongs and checks that a
/// fresh cache treats it as a miss, removes it, and can store again.
fn assert_bad_file_is_a_miss(mangle: impl Fn(Vec<u8>) -> Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = open(dir.path()).put(&key(1), vec![42; 4096]).unwrap();
    let good = std::fs::read(&path).unwrap();
    std::fs::write(&path, mangle(good)).unwrap();
    let cache = open(dir.path());
    assert!(cache.get(&key(1)).is_none());
    assert!(!path.exists(), "a bad file is removed");
    cache.put(&key(1), vec![1, 2, 3]).unwrap();
    assert_eq!(
        open(dir.path()).get(&key(1)).unwrap().0.as_slice(),
        &[1, 2, 3]
    );
}

#[test]
fn truncated_file_is_a_miss() {
    assert_bad_file_is_a_miss(|mut f| {
        f.truncate(f.len() - 100);
        f
    });
    assert_bad_file_is_a_miss(|mut f| {
        f.truncate(20);
        f
    });
}

#[test]
fn flipped_byte_is_a_miss() {
    assert_bad_file_is_a_miss(|mut f| {
        let last = f.len() - 1;
        f[last] ^= 0x01;
        f
    });
}

#[test]
fn wrong_magic_empty_and_foreign_files_are_misses() {
    assert_bad_file_is_a_miss(|mut f| {
        f[0] = b'X';
        f
    });
    assert_bad_file_is_a_miss(|_| Vec::new());
    // A valid file for another key placed under this key's name.
    assert_bad_file_is_a_miss(|_| cache::encode(&key(2), &[9; 64]));
}

#[test]
fn decode_names_each_failure() {
    let k = key(1);
    let good = cache::encode(&k, b"payload");
    assert_eq!(decode(&good, &k).unwrap(), b"payload");
    assert!(matches!(
        decode(&good[..10], &k),
        Err(FileError::Truncated(10))
    ));
    assert_eq!(decode(&good, &key(2)), Err(FileError::ForeignKey));
    let mut bad = good.clone();
    bad[8] = 9;
    assert_eq!(decode(&bad, &k), Err(FileError::Format(9)));
    let mut bad = good.clone();
    bad.push(0);
    assert!(matches!(decode(&bad, &k), Err(FileError::Length { .. })));
    let mut bad = good;
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    assert_eq!(decode(&bad, &k), Err(FileError::Checksum));
}

#[test]
fn a_directory_where_the_file_should_be_is_a_miss_and_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    std::fs::create_dir(cache.path_of(&key(1))).unwrap();
    assert!(cache.get(&key(1)).is_none());
    assert!(
        cache.put(&key(1), vec![1]).is_err(),
        "cannot rename over a directory"
    );
    // The value is still served from memory in this process.
    assert_eq!(cache.get(&key(1)).unwrap().1, Tier::Memory);
}

#[test]
fn unusable_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = CodeCache::open(file.join("cache"), CacheOptions::default())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("cannot create cache directory"),
        "{err}"
    );
}

#[test]
fn concurrent_writers_and_readers_never_see_a_torn_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = Arc::new(dir);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let dir = Arc::clone(&dir);
            std::thread::spawn(move || {
                for i in 0..50u32 {
                    // Each thread has its own cache (as separate processes
                    // would) so every get goes to disk.
                    let cache = CodeCache::open(dir.path(), CacheOptions::default()).unwrap();
                    let k = key((i % 3) as u8);
                    let fill = (t * 50 + i) as u8;
                    cache.put(&k, vec![fill; 64 * 1024]).unwrap();
                    let reader = CodeCache::open(dir.path(), CacheOptions::default()).unwrap();
                    for n in 0..3u8 {
                        if let Some((bytes, _)) = reader.get(&key(n)) {
                            assert_eq!(bytes.len(), 64 * 1024);
                            assert!(bytes.iter().all(|b| *b == bytes[0]), "torn value");
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn directory_cap_evicts_least_recently_used_files() {
    let dir = tempfile::tempdir().unwrap();
    let options = CacheOptions {
        memory_bytes: 1 << 20,
        max_dir_bytes: Some(3 * 1100),
        ..CacheOptions::default()
    };
    let cache = CodeCache::open(dir.path(), options.clone()).unwrap();
    for n in 0..3 {
        cache.put(&key(n), vec![n; 1000]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Use key 0 from disk (a fresh cache), which makes it recent.
    assert!(CodeCache::open(dir.path(), options.clone())
        .unwrap()
        .get(&key(0))
        .is_some());
    std::thread::sleep(std::time::Duration::from_millis(20));
    cache.put(&key(3), vec![3; 1000]).unwrap();
    let fresh = CodeCache::open(dir.path(), options).unwrap();
    assert!(
        fresh.get(&key(1)).is_none(),
        "the least recently used file is evicted"
    );
    for n in [0, 2, 3] {
        assert!(fresh.get(&key(n)).is_some(), "key {n} kept");
    }
}

/// Runs `f` on another thread and fails if it has not returned in 10 s.
fn within_ten_seconds<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("finished without blocking")
}

#[test]
fn links_fifos_and_oversized_files_named_like_cache_files_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let cache = open(dir.path());

    // A link to /dev/zero would be an endless read.
    std::os::unix::fs::symlink("/dev/zero", cache.path_of(&key(1))).unwrap();
    // A link to a real cache file outside the directory is not followed.
    let target = outside.path().join("elsewhere.code");
    std::fs::write(&target, cache::encode(&key(2), b"outside")).unwrap();
    std::os::unix::fs::symlink(&target, cache.path_of(&key(2))).unwrap();
    // A FIFO would block the open forever.
    let fifo = std::ffi::CString::new(cache.path_of(&key(3)).into_os_string().into_encoded_bytes())
        .unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    // A file claiming a payload larger than any value.
    let options = CacheOptions {
        max_value_bytes: 1024,
        ..CacheOptions::default()
    };
    std::fs::write(
        dir.path().join(format!("{}.code", key(4).digest_hex())),
        cache::encode(&key(4), &[7u8; 4096]),
    )
    .unwrap();

    let dir_path = dir.path().to_path_buf();
    let found = within_ten_seconds(move || {
        let cache = CodeCache::open(&dir_path, options).unwrap();
        (1..=4)
            .map(|n| cache.get(&key(n)).is_some())
            .collect::<Vec<_>>()
    });
    assert_eq!(found, [false; 4]);
    // Nothing outside the directory was touched, and the odd entries stay.
    assert_eq!(
        std::fs::read(&target).unwrap(),
        cache::encode(&key(2), b"outside")
    );
    for n in 1..=3 {
        assert!(
            std::fs::symlink_metadata(cache.path_of(&key(n))).is_ok(),
            "entry {n} kept"
        );
    }
    // Writing the key replaces the link itself, never its target.
    cache.put(&key(2), b"inside".to_vec()).unwrap();
    assert_eq!(
        std::fs::read(&target).unwrap(),
        cache::encode(&key(2), b"outside")
    );
}

#[test]
fn eviction_removes_only_files_the_cache_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = [
        dir.path().join("notes.code"),
        dir.path().join(format!("{}.code", "0".repeat(64))),
    ];
    for path in &foreign {
        std::fs::write(path, vec![b'x'; 4096]).unwrap();
    }
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("big.code");
    std::fs::write(&target, vec![b'y'; 8192]).unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join(format!("{}.code", "1".repeat(64))))
        .unwrap();

    let cache = CodeCache::open(
        dir.path(),
        CacheOptions {
            max_dir_bytes: Some(1),
            ..CacheOptions::default()
        },
    )
    .unwrap();
    cache.put(&key(1), vec![1; 1000]).unwrap();
    for path in &foreign {
        assert!(path.exists(), "{} was evicted", path.display());
    }
    assert_eq!(std::fs::read(&target).unwrap().len(), 8192);
    assert!(
        !cache.path_of(&key(1)).exists(),
        "its own file is evicted past the cap"
    );
}

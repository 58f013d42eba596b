//! `ensure_file` waits out real descriptor exhaustion (`EMFILE`) instead of failing.

use std::fs::File;
use tack_fs::{ensure_file, EnsureOutcome};

#[test]
fn emfile_is_retried_until_descriptors_free_up() {
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("files/ab");
    std::fs::create_dir_all(&shard).unwrap();
    let target = shard.join("cafe");

    // A small descriptor limit for this test process only (nextest runs each test alone).
    let lim = libc::rlimit {
        rlim_cur: 64,
        rlim_max: 64,
    };
    // SAFETY: a plain syscall on a valid struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);

    // Use up every descriptor.
    let mut hog = Vec::new();
    loop {
        match File::open(dir.path()) {
            Ok(f) => hog.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                break;
            }
        }
    }
    assert!(File::open(dir.path()).is_err(), "descriptors are exhausted");

    std::thread::scope(|s| {
        s.spawn(move || {
            // Release the descriptors while ensure_file is backing off.
            std::thread::sleep(std::time::Duration::from_millis(30));
            drop(hog);
        });
        assert_eq!(
            ensure_file(&target, b"written under fd pressure", false).unwrap(),
            EnsureOutcome::Created
        );
    });
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"written under fd pressure"
    );
}

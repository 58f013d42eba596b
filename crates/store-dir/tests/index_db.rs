//! `StoreIndex` and `IndexWriter` against real SQLite files: schema and PRAGMAs as pnpm
//! has them, batched reads/writes, corrupt rows as misses.

use tack_store_dir::{
    msgpackr, store_index_key, CafsFileInfo, IndexWriter, PackageFilesIndex, SideEffectsDiff,
    StoreDir, StoreIndex, INDEX_BATCH,
};

fn row(n: u64) -> PackageFilesIndex {
    let mut files = indexmap::IndexMap::new();
    files.insert(
        "package.json".to_string(),
        CafsFileInfo {
            digest: format!("{n:0128x}"),
            mode: 0o644,
            size: n,
            checked_at: Some(1_700_000_000_000.0),
        },
    );
    PackageFilesIndex {
        manifest: Some(serde_json::json!({"name": format!("p{n}"), "version": "1.0.0"})),
        requires_build: Some(false),
        requires_prepare: None,
        algo: "sha512".into(),
        files,
        side_effects: None,
        tar_integrity: None,
    }
}

#[test]
fn schema_and_pragmas_match_pnpm() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    let _index = StoreIndex::open(&store).unwrap();
    let conn = rusqlite::Connection::open(store.root().join("index.db")).unwrap();
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name='package_index'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let squashed: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        squashed,
        "CREATE TABLE package_index ( key TEXT PRIMARY KEY, data BLOB NOT NULL ) WITHOUT ROWID"
    );
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn put_get_delete_many() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    let index = StoreIndex::open(&store).unwrap();
    // More than one IN (...) chunk.
    let rows: Vec<(String, PackageFilesIndex)> = (0..2000)
        .map(|n| {
            (
                store_index_key(&format!("sha512-{n}"), &format!("p{n}@1.0.0")),
                row(n),
            )
        })
        .collect();
    index.put_many(&rows).unwrap();
    let keys: Vec<String> = rows.iter().map(|(k, _)| k.clone()).collect();
    let mut asked = keys.clone();
    asked.push("sha512-missing\tnope@1.0.0".into());
    let got = index.get_many(&asked).unwrap();
    assert_eq!(got.len(), 2000);
    for (k, r) in &rows {
        assert_eq!(&got[k], r);
    }
    assert_eq!(index.all_keys().unwrap().len(), 2000);
    index.delete(&keys[..1500]).unwrap();
    let left = index.all_keys().unwrap();
    assert_eq!(left.len(), 500);
    assert!(left.contains(&keys[1999]));
    assert!(!left.contains(&keys[0]));
}

/// Two installs (two connections) add side-effects entries to one row, each from the copy it
/// read first: `update_many` changes the row as it is when written, so both entries stay.
#[test]
fn update_many_changes_the_row_another_connection_wrote_since() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    let first = StoreIndex::open(&store).unwrap();
    let second = StoreIndex::open(&store).unwrap();
    let key = store_index_key("sha512-built", "built@1.0.0");
    first.put_many(&[(key.clone(), row(1))]).unwrap();
    let with_entry = |mut row: PackageFilesIndex, entry: &str| {
        row.side_effects
            .get_or_insert_with(indexmap::IndexMap::new)
            .insert(entry.to_string(), SideEffectsDiff::default());
        row
    };

    // Both read the row, then the second caches its build first.
    let read_first = first.get_many(std::slice::from_ref(&key)).unwrap()[&key].clone();
    let read_second = second.get_many(std::slice::from_ref(&key)).unwrap()[&key].clone();
    second
        .update_many(&[&key], |_, current| {
            Some(with_entry(
                current.unwrap_or_else(|| read_second.clone()),
                "second",
            ))
        })
        .unwrap();
    first
        .update_many(&[&key], |_, current| {
            Some(with_entry(
                current.unwrap_or_else(|| read_first.clone()),
                "first",
            ))
        })
        .unwrap();

    let stored = &first.get_many(std::slice::from_ref(&key)).unwrap()[&key];
    let entries: Vec<&String> = stored.side_effects.as_ref().unwrap().keys().collect();
    assert_eq!(entries, ["second", "first"]);
    assert_eq!(stored.files, row(1).files);

    // A missing row is handed over as `None`; `None` back leaves it missing.
    let missing = store_index_key("sha512-gone", "gone@1.0.0");
    let mut seen = Vec::new();
    first
        .update_many(&[&missing], |key, current| {
            seen.push((key.to_string(), current.is_none()));
            None
        })
        .unwrap();
    assert_eq!(seen, [(missing.clone(), true)]);
    assert!(first.get_many(&[missing]).unwrap().is_empty());
}

#[test]
fn corrupt_row_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    let index = StoreIndex::open(&store).unwrap();
    index.put_many(&[("good".into(), row(1))]).unwrap();
    index
        .put_many_raw(&[
            ("bad", vec![0xd4, 0x72, 0x40, 0x92, 0xa1]),
            ("plain", vec![0x81, 0xa1, b'a', 1]),
        ])
        .unwrap();
    let keys = vec!["good".to_string(), "bad".to_string(), "plain".to_string()];
    let (rows, corrupt) = index.get_many_checked(&keys).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows.contains_key("good"));
    let mut bad: Vec<&str> = corrupt.iter().map(|c| c.key.as_str()).collect();
    bad.sort();
    assert_eq!(bad, ["bad", "plain"]);
    assert_eq!(index.get_many(&keys).unwrap().len(), 1);
}

/// The files `index.db` was moved aside to (`index.db.corrupt-*`, without `-wal`/`-shm`).
fn set_aside(store: &StoreDir) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(store.root())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("index.db.corrupt-")
                && !name.ends_with("-wal")
                && !name.ends_with("-shm")
        })
        .collect();
    found.sort();
    found
}

/// An `index.db` that is not a SQLite database (a damaged cache, a file of zeros after a
/// crash) is moved aside, byte for byte, and a new index works in its place.
#[test]
fn an_index_that_is_no_database_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    std::fs::create_dir_all(store.root()).unwrap();
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(store.index_db_path(), &garbage).unwrap();

    let index = StoreIndex::open(&store).unwrap();
    index.put_many(&[("k".into(), row(1))]).unwrap();
    assert_eq!(index.get_many(&["k".to_string()]).unwrap().len(), 1);

    let aside = set_aside(&store);
    assert_eq!(aside.len(), 1, "one file set aside: {aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), garbage);
    let header = std::fs::read(store.index_db_path()).unwrap();
    assert!(header.starts_with(b"SQLite format 3\0"));
}

/// Only garbage is moved: a file with SQLite's header that SQLite still refuses is left where
/// it is, and opening it is an error that says what to do.
#[test]
fn a_damaged_database_is_not_moved() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    std::fs::create_dir_all(store.root()).unwrap();
    let mut damaged = b"SQLite format 3\0".to_vec();
    damaged.extend(std::iter::repeat_n(0xffu8, 4096));
    std::fs::write(store.index_db_path(), &damaged).unwrap();

    let err = StoreIndex::open(&store).unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_STORE_INDEX");
    assert!(err.to_string().contains("delete it"), "{err}");
    assert_eq!(std::fs::read(store.index_db_path()).unwrap(), damaged);
    assert!(set_aside(&store).is_empty());
}

/// Threads that meet the same garbage at once move it aside once, and every one of them ends
/// up on the same new index: a row each writes is there for all.
#[test]
fn concurrent_openers_set_garbage_aside_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    std::fs::create_dir_all(store.root()).unwrap();
    std::fs::write(store.index_db_path(), vec![0u8; 8192]).unwrap();
    let barrier = std::sync::Barrier::new(8);
    std::thread::scope(|scope| {
        for n in 0..8u64 {
            let (store, barrier) = (&store, &barrier);
            scope.spawn(move || {
                barrier.wait();
                let index = StoreIndex::open(store).unwrap();
                index.put_many(&[(format!("k{n}"), row(n))]).unwrap();
            });
        }
    });
    assert_eq!(set_aside(&store).len(), 1);
    let keys: Vec<String> = (0..8).map(|n| format!("k{n}")).collect();
    let index = StoreIndex::open(&store).unwrap();
    assert_eq!(index.get_many(&keys).unwrap().len(), 8);
}

/// Another process that moved the garbage aside first, while this one waited for the lock on
/// it, has a new database at the path by the time the lock is granted: that one is opened,
/// never moved aside in turn (its rows would be lost to the process writing them).
#[test]
fn garbage_moved_by_another_process_meanwhile_is_not_moved_again() {
    use std::os::unix::io::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    std::fs::create_dir_all(store.root()).unwrap();
    let path = store.index_db_path();
    std::fs::write(&path, vec![0u8; 8192]).unwrap();
    // The other process: it holds the lock on the garbage while this one tries to open.
    let garbage = std::fs::File::open(&path).unwrap();
    assert_eq!(
        unsafe { libc::flock(garbage.as_raw_fd(), libc::LOCK_EX) },
        0
    );
    std::thread::scope(|scope| {
        let opener = scope.spawn(|| {
            let index = StoreIndex::open(&store).unwrap();
            index.get_many(&["theirs".to_string()]).unwrap().len()
        });
        // Wait until the opener is blocked on the lock, then do what the other process does.
        std::thread::sleep(std::time::Duration::from_millis(300));
        std::fs::rename(&path, dir.path().join("v11/index.db.corrupt-0-0")).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE package_index (key TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO package_index (key, data) VALUES ('theirs', ?1)",
            [msgpackr::encode(&row(7))],
        )
        .unwrap();
        drop(conn);
        drop(garbage);
        assert_eq!(
            opener.join().unwrap(),
            1,
            "the other process's row is still there"
        );
    });
    assert_eq!(set_aside(&store).len(), 1);
}

/// Rows come a query at a time, the queries growing, and every stored key comes back once.
#[test]
fn rows_are_read_in_growing_queries() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    let index = StoreIndex::open(&store).unwrap();
    let rows: Vec<(String, PackageFilesIndex)> =
        (0..9u64).map(|n| (format!("k{n}"), row(n))).collect();
    index.put_many(&rows).unwrap();
    let mut keys: Vec<String> = (0..12u64).map(|n| format!("k{n}")).collect();
    keys.reverse();
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    index
        .lookup_raw_each(&keys, 2, |got| {
            sizes.push(got.len());
            seen.extend(got.into_iter().map(|(k, data)| {
                assert_eq!(
                    msgpackr::decode(&data).unwrap(),
                    rows[k[1..].parse::<usize>().unwrap()].1
                );
                k
            }));
        })
        .unwrap();
    // Keys k11..k0 in queries of 2, 4 and 6: k11, k10 and k9 are not stored.
    assert_eq!(sizes, [0, 3, 6]);
    seen.sort();
    let mut want: Vec<String> = (0..9u64).map(|n| format!("k{n}")).collect();
    want.sort();
    assert_eq!(seen, want);
}

/// A row of `files` files: a few hundred make it spill onto overflow pages.
fn row_of(n: u64, files: u64) -> PackageFilesIndex {
    let mut row = row(n);
    for i in 0..files {
        let info = CafsFileInfo {
            digest: format!("{:0128x}", n * 1000 + i),
            mode: 0o644,
            size: i,
            checked_at: None,
        };
        row.files.insert(format!("lib/file-{i}.js"), info);
    }
    row
}

/// One walk over the table gives what lookups give: each asked row once per time its key
/// is asked, rows of many pages whole, missing keys absent; in batches that grow.
#[test]
fn a_walk_over_the_table_reads_what_lookups_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    let index = StoreIndex::open(&store).unwrap();
    let rows: Vec<(String, PackageFilesIndex)> = (0..120u64)
        .map(|n| (format!("sha512-{n:03}\tp{n}@1.0.0"), row_of(n, n % 7 * 60)))
        .collect();
    index.put_many(&rows).unwrap();
    // Every third row, one of them twice, and two keys the table does not have.
    let mut keys: Vec<String> = rows.iter().step_by(3).map(|(k, _)| k.clone()).collect();
    keys.push(rows[3].0.clone());
    keys.push("sha512-000\tmissing@1.0.0".into());
    keys.push("zzz".into());
    keys.reverse();

    let mut by_lookups = Vec::new();
    index
        .lookup_raw_each(&keys, 4, |got| by_lookups.extend(got))
        .unwrap();
    let mut by_walk = Vec::new();
    let mut sizes = Vec::new();
    index
        .scan_raw_each(&keys, 4, |got| {
            sizes.push(got.len());
            by_walk.extend(got);
        })
        .unwrap();
    let mut by_default = Vec::new();
    index
        .get_many_raw_each(&keys, 4, |got| by_default.extend(got))
        .unwrap();
    by_lookups.sort();
    by_walk.sort();
    by_default.sort();
    assert_eq!(by_lookups.len(), 41);
    assert_eq!(by_walk, by_lookups);
    assert_eq!(by_default, by_lookups);
    for (key, data) in &by_walk {
        let (_, want) = rows.iter().find(|(k, _)| k == key).unwrap();
        assert_eq!(&msgpackr::decode(data).unwrap(), want);
    }
    assert_eq!(sizes, [4, 8, 16, 13]);
}

/// Rows that trickle in, as downloads finish one by one, share a transaction instead of
/// each paying for a commit of its own.
#[test]
fn index_writer_gathers_rows_that_trickle_in() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    // A window far longer than the test, so that waiting it out cannot pass unnoticed.
    let window = std::time::Duration::from_secs(60);
    let writer = IndexWriter::spawn_gathering(&store, window).unwrap();
    for n in 0..20u64 {
        writer.queue(format!("k{n}"), row(n));
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    writer.seal();
    // Sealing commits what is queued at once, without waiting out the gathering window.
    let sealed = std::time::Instant::now();
    let commits = writer.finish().unwrap();
    assert!(
        sealed.elapsed() < window / 2,
        "finish waited out the window"
    );
    assert!(
        commits <= 2,
        "{commits} commits for 20 rows queued within a few ms"
    );
    let index = StoreIndex::open(&store).unwrap();
    assert_eq!(index.all_keys().unwrap().len(), 20);
}

/// Rows that pile up while the writer gathers are committed once they fill a batch, not at
/// the end of the window: a cold install finishes most of its packages in its last moments,
/// and those rows were left to commit after the last download.
#[test]
fn index_writer_commits_a_full_batch_without_waiting_out_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    let window = std::time::Duration::from_secs(60);
    let writer = IndexWriter::spawn_gathering(&store, window).unwrap();
    // The first row starts a batch; the writer parks, gathering, before the rest come.
    writer.queue("k0".to_string(), row(0));
    std::thread::sleep(std::time::Duration::from_millis(50));
    for n in 1..INDEX_BATCH as u64 {
        writer.queue(format!("k{n}"), row(n));
    }
    let index = StoreIndex::open(&store).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while index.all_keys().unwrap().len() < INDEX_BATCH {
        assert!(
            std::time::Instant::now() < deadline,
            "a full batch waited for the end of the gathering window"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    writer.finish().unwrap();
}

/// What is queued when the writer is sealed goes into one last transaction, however many
/// batches it would fill: each transaction and checkpoint at the end of an install is time
/// with nothing else to do.
#[test]
fn index_writer_commits_what_is_left_at_the_seal_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    let writer = IndexWriter::spawn_gathering(&store, std::time::Duration::from_secs(60)).unwrap();
    let rows = 5 * INDEX_BATCH as u64;
    for n in 0..rows {
        writer.queue(format!("k{n}"), row(n));
    }
    let before = writer.commits();
    writer.seal();
    let commits = writer.finish().unwrap() - before;
    // A batch that filled while the rows were queued may still be being committed; the
    // rest is one transaction. Five full batches each would be up to five.
    assert!(commits <= 2, "{commits} commits after the seal");
    let index = StoreIndex::open(&store).unwrap();
    assert_eq!(index.all_keys().unwrap().len() as u64, rows);
}

/// A row that comes after a batch was committed (the writer waiting for the next first
/// row, not gathering) starts a batch of its own and is committed too.
#[test]
fn index_writer_commits_rows_that_come_after_a_quiet_spell() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    let window = std::time::Duration::from_millis(50);
    let writer = IndexWriter::spawn_gathering(&store, window).unwrap();
    writer.queue("early".to_string(), row(1));
    std::thread::sleep(window * 4);
    writer.queue("late".to_string(), row(2));
    writer.queue("later".to_string(), row(3));
    let commits = writer.finish().unwrap();
    assert_eq!(commits, 2, "one batch before the quiet spell, one after");
    let index = StoreIndex::open(&store).unwrap();
    let mut keys = index.all_keys().unwrap();
    keys.sort();
    assert_eq!(keys, ["early", "late", "later"]);
}

/// Each batch the writer commits while more may follow is copied from the WAL into the
/// database file right away, so that the close at the end of an install has little left to
/// checkpoint. Seen here through a copy of `index.db` without its WAL.
#[test]
fn index_writer_checkpoints_each_batch_before_it_is_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    let window = std::time::Duration::from_millis(20);
    let writer = IndexWriter::spawn_gathering(&store, window).unwrap();
    writer.queue("early".to_string(), row(1));
    let db = store.root().join("index.db");
    let copy = dir.path().join("copy.db");
    let in_db_file = || {
        std::fs::copy(&db, &copy).ok()?;
        let conn = rusqlite::Connection::open(&copy).ok()?;
        conn.query_row(
            "SELECT count(*) FROM package_index WHERE key = 'early'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .ok()
        .filter(|&n| n == 1)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while in_db_file().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the committed batch stayed in the WAL"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    writer.queue("late".to_string(), row(2));
    writer.finish().unwrap();
    let index = StoreIndex::open(&store).unwrap();
    assert_eq!(index.all_keys().unwrap().len(), 2);
}

#[test]
fn index_writer_batches_and_flushes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    let writer = IndexWriter::spawn(&store).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let writer = &writer;
            s.spawn(move || {
                for n in 0..300u64 {
                    writer.queue(format!("k{t}-{n}"), row(n));
                }
                // Same key again: the last row wins.
                writer.queue(format!("k{t}-0"), row(999));
            });
        }
    });
    writer.finish().unwrap();
    let index = StoreIndex::open(&store).unwrap();
    assert_eq!(index.all_keys().unwrap().len(), 1200);
    let got = index
        .get_many(&["k2-0".to_string(), "k3-299".to_string()])
        .unwrap();
    assert_eq!(got["k2-0"], row(999));
    assert_eq!(got["k3-299"], row(299));
    // Values are records, readable by pnpm.
    let raw = index.get_many_raw(&["k3-299".to_string()]).unwrap();
    assert_eq!(&raw[0].1[..3], &[0xd4, 0x72, 0x40]);
    assert_eq!(msgpackr::decode(&raw[0].1).unwrap(), row(299));
}

/// An install shares the writer with its fetcher tasks, and a task the runtime has not
/// dropped yet may still hold a handle when the install ends. `finish` through any handle
/// must wait for the last commit: the process exits right after it, and a row that was
/// only queued is lost (once seen as a package re-fetched by the next install for no
/// reason).
#[test]
fn finish_through_a_shared_handle_commits_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreDir::new(dir.path().join("v11"));
    let writer = std::sync::Arc::new(IndexWriter::spawn(&store).unwrap());
    let still_held = std::sync::Arc::clone(&writer);
    for n in 0..5u64 {
        writer.queue(format!("k{n}"), row(n));
    }
    writer.finish().unwrap();
    let index = StoreIndex::open(&store).unwrap();
    assert_eq!(index.all_keys().unwrap().len(), 5, "rows still in flight");
    // Finishing again (or dropping the last handle) is harmless.
    still_held.finish().unwrap();
    drop(still_held);
    assert_eq!(index.all_keys().unwrap().len(), 5);
}

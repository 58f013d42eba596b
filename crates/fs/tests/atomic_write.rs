//! Atomic publish: nothing before the terminal call, nothing half-written after any error.

mod common;

use common::{mode_of, sha512_hex, snapshot, strict_umask, temps};
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tack_fs::{AtomicWrite, FsError};
use tokio::io::{AsyncRead, ReadBuf};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn building_the_request_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("a/b/state.json");
    let before = snapshot(dir.path());
    let req = AtomicWrite::new(&target)
        .verify_sha512(sha512_hex(b"x"))
        .mtime(UNIX_EPOCH + Duration::from_secs(1000))
        .mode(0o600);
    let _clone = req.clone();
    assert_eq!(snapshot(dir.path()), before);
    assert!(!dir.path().join("a").exists());
    req.write_bytes(b"x").unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"x");
}

#[test]
fn round_trip_overwrite_nested_and_empty() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("deep/er/still/.modules.yaml");
    AtomicWrite::new(&target).write_bytes(b"first").unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"first");
    AtomicWrite::new(&target)
        .write_bytes(b"second, longer")
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"second, longer");
    AtomicWrite::new(&target).write_bytes(b"").unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    AtomicWrite::new(&target)
        .write_from_reader(&big[..])
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), big);
    assert!(temps(dir.path()).is_empty());
}

#[test]
fn non_durable_publish_is_still_atomic_and_leaves_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join(".bin/tool");
    AtomicWrite::new(&target)
        .mode(0o755)
        .durable(false)
        .write_bytes(b"#!/bin/sh\nold\n")
        .unwrap();
    AtomicWrite::new(&target)
        .mode(0o755)
        .durable(false)
        .write_bytes(b"#!/bin/sh\nnew, longer\n")
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"#!/bin/sh\nnew, longer\n");
    assert_eq!(mode_of(&target), 0o755);
    assert!(temps(dir.path()).is_empty());
}

#[test]
fn explicit_mode_ignores_umask() {
    strict_umask();
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("m");
    AtomicWrite::new(&t).mode(0o644).write_bytes(b"x").unwrap();
    assert_eq!(mode_of(&t), 0o644);
    AtomicWrite::new(&t).mode(0o755).write_bytes(b"x").unwrap();
    assert_eq!(mode_of(&t), 0o755);
}

#[test]
fn matching_hash_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("f");
    AtomicWrite::new(&t)
        .verify_sha512(sha512_hex(b"payload").to_uppercase())
        .write_bytes(b"payload")
        .unwrap();
    assert_eq!(std::fs::read(&t).unwrap(), b"payload");
}

fn assert_mismatch(err: FsError, target: &std::path::Path, expected: &str, actual: &str) {
    assert_eq!(err.code(), "ERR_TACK_FS_HASH_MISMATCH");
    match &err {
        FsError::HashMismatch {
            path,
            expected: e,
            actual: a,
        } => {
            assert_eq!(path, target);
            assert_eq!(e, expected);
            assert_eq!(a, actual);
        }
        other => panic!("wrong error {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(expected) && msg.contains(actual) && msg.contains("lock.yaml"));
}

#[test]
fn hash_mismatch_leaves_nothing_sync() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("lock.yaml");
    std::fs::write(&t, b"old").unwrap();
    let expected = sha512_hex(b"something else");
    let err = AtomicWrite::new(&t)
        .verify_sha512(&expected)
        .write_bytes(b"new")
        .unwrap_err();
    assert_mismatch(err, &t, &expected, &sha512_hex(b"new"));
    assert_eq!(std::fs::read(&t).unwrap(), b"old");
    assert!(temps(dir.path()).is_empty());

    // The same through the reader and copy paths.
    let src = dir.path().join("src");
    std::fs::write(&src, b"new").unwrap();
    let err = AtomicWrite::new(&t)
        .verify_sha512(&expected)
        .copy_from_file(&src)
        .unwrap_err();
    assert_mismatch(err, &t, &expected, &sha512_hex(b"new"));
    assert_eq!(std::fs::read(&t).unwrap(), b"old");
    assert_eq!(snapshot(dir.path()).len(), 2);
}

#[test]
fn hash_mismatch_leaves_nothing_async() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("lock.yaml");
    std::fs::write(&t, b"old").unwrap();
    let expected = sha512_hex(b"something else");
    let data = vec![7u8; 200_000];
    let err = rt()
        .block_on(
            AtomicWrite::new(&t)
                .verify_sha512(&expected)
                .write_from_async_reader(&data[..]),
        )
        .unwrap_err();
    assert_mismatch(err, &t, &expected, &sha512_hex(&data));
    assert_eq!(std::fs::read(&t).unwrap(), b"old");
    assert!(temps(dir.path()).is_empty());
    assert_eq!(snapshot(dir.path()).len(), 1);
}

#[test]
fn async_round_trip_large() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("n/big");
    let data: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7 % 256) as u8).collect();
    rt().block_on(
        AtomicWrite::new(&t)
            .verify_sha512(sha512_hex(&data))
            .write_from_async_reader(&data[..]),
    )
    .unwrap();
    assert_eq!(std::fs::read(&t).unwrap(), data);
    assert!(temps(dir.path()).is_empty());
}

#[test]
fn copy_from_file_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let data: Vec<u8> = (0..150_000u32).map(|i| (i % 13) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let t = dir.path().join("x/y/dst");
    AtomicWrite::new(&t).copy_from_file(&src).unwrap();
    assert_eq!(std::fs::read(&t).unwrap(), data);
    let err = AtomicWrite::new(&t)
        .copy_from_file(&dir.path().join("missing"))
        .unwrap_err();
    assert!(err.is_not_found());
    assert!(err.to_string().contains("missing"));
    assert_eq!(std::fs::read(&t).unwrap(), data);
    assert!(temps(dir.path()).is_empty());
}

/// Yields `good` bytes, then fails.
struct FailingReader {
    good: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.good == 0 {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "boom"));
        }
        let n = buf.len().min(self.good);
        buf[..n].fill(b'a');
        self.good -= n;
        Ok(n)
    }
}

impl AsyncRead for FailingReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.good == 0 {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "boom")));
        }
        let n = buf.remaining().min(self.good);
        buf.put_slice(&vec![b'a'; n]);
        self.good -= n;
        Poll::Ready(Ok(()))
    }
}

#[test]
fn failing_reader_leaves_nothing_sync() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("state.json");
    std::fs::write(&t, b"old").unwrap();
    let err = AtomicWrite::new(&t)
        .write_from_reader(FailingReader { good: 100_000 })
        .unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_FS_SOURCE");
    assert!(err.to_string().contains("state.json"));
    assert_eq!(std::fs::read(&t).unwrap(), b"old");
    assert_eq!(snapshot(dir.path()), vec![t]);
}

#[test]
fn failing_reader_leaves_nothing_async() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("state.json");
    std::fs::write(&t, b"old").unwrap();
    let err = rt()
        .block_on(AtomicWrite::new(&t).write_from_async_reader(FailingReader { good: 300_000 }))
        .unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_FS_SOURCE");
    assert_eq!(std::fs::read(&t).unwrap(), b"old");
    assert_eq!(snapshot(dir.path()), vec![t]);
}

/// Delivers `chunks` chunks of data, raising `delivered` after the last one, then never
/// finishes (a stalled network stream).
struct StallingReader {
    chunks: usize,
    delivered: Arc<AtomicBool>,
}

impl AsyncRead for StallingReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.chunks == 0 {
            self.delivered.store(true, Ordering::SeqCst);
            return Poll::Pending;
        }
        self.chunks -= 1;
        let n = buf.remaining().min(32 * 1024);
        buf.put_slice(&vec![b'z'; n]);
        Poll::Ready(Ok(()))
    }
}

#[test]
fn cancelled_async_write_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("lock.yaml");
    std::fs::write(&t, b"old").unwrap();
    let delivered = Arc::new(AtomicBool::new(false));
    let runtime = rt();
    let outcome = runtime.block_on(async {
        let reader = StallingReader {
            chunks: 10,
            delivered: delivered.clone(),
        };
        let write = AtomicWrite::new(&t).write_from_async_reader(reader);
        tokio::pin!(write);
        // Drive the write until the reader has delivered everything it will ever deliver,
        // then drop the future: the producer is gone mid-stream.
        loop {
            tokio::select! {
                biased;
                r = &mut write => return Some(r),
                _ = tokio::task::yield_now() => {
                    if delivered.load(Ordering::SeqCst) {
                        return None;
                    }
                }
            }
        }
    });
    assert!(
        outcome.is_none(),
        "a stalled write cannot finish: {outcome:?}"
    );
    // Dropping the runtime waits for the blocking writer to observe the closed channel.
    drop(runtime);
    assert_eq!(std::fs::read(&t).unwrap(), b"old");
    assert_eq!(snapshot(dir.path()), vec![t]);
}

/// Stream whose producer (a channel sender) is dropped before it sent its end marker.
/// The reader turns that into an `UnexpectedEof` error, as a body stream does.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Option<Vec<u8>>>,
    ended: bool,
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.ended {
            return Poll::Ready(Ok(()));
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Some(chunk))) => {
                buf.put_slice(&chunk);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Some(None)) => {
                self.ended = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(None) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "producer dropped",
            ))),
        }
    }
}

#[test]
fn dropped_producer_leaves_nothing_async() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("lock.yaml");
    let err = rt()
        .block_on(async {
            let (tx, rx) = tokio::sync::mpsc::channel(2);
            let producer = tokio::spawn(async move {
                for _ in 0..20 {
                    tx.send(Some(vec![b'q'; 8192])).await.unwrap();
                }
                // Dropped here without sending the end marker (`None`).
            });
            let r = AtomicWrite::new(&t)
                .write_from_async_reader(ChannelReader { rx, ended: false })
                .await;
            producer.await.unwrap();
            r
        })
        .unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_FS_SOURCE");
    assert!(!t.exists());
    assert!(snapshot(dir.path()).is_empty());

    // Control: with the end marker the same stream is published.
    rt().block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tokio::spawn(async move {
            for _ in 0..20 {
                tx.send(Some(vec![b'q'; 8192])).await.unwrap();
            }
            tx.send(None).await.unwrap();
        });
        AtomicWrite::new(&t)
            .write_from_async_reader(ChannelReader { rx, ended: false })
            .await
            .unwrap();
    });
    assert_eq!(std::fs::read(&t).unwrap().len(), 20 * 8192);
}

#[test]
fn concurrent_writers_leave_one_full_content() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("shared.json");
    let contents: Vec<Vec<u8>> = (0..32u8)
        .map(|i| {
            let mut v = vec![i; 64 * 1024 + i as usize * 100];
            v.extend_from_slice(format!("writer {i}").as_bytes());
            v
        })
        .collect();
    std::thread::scope(|s| {
        for c in &contents {
            let t = &t;
            s.spawn(move || AtomicWrite::new(t).write_bytes(c).unwrap());
        }
    });
    let got = std::fs::read(&t).unwrap();
    assert!(
        contents.contains(&got),
        "content is not one writer's full write"
    );
    assert_eq!(snapshot(dir.path()), vec![t]);
}

#[test]
fn mtime_is_stamped_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("stamped");
    let when = UNIX_EPOCH + Duration::new(1_234_567_890, 123_456_789);
    AtomicWrite::new(&t).mtime(when).write_bytes(b"x").unwrap();
    assert_eq!(std::fs::metadata(&t).unwrap().modified().unwrap(), when);

    let later = SystemTime::now() - Duration::from_secs(86_400 * 3);
    rt().block_on(
        AtomicWrite::new(&t)
            .mtime(later)
            .write_from_async_reader(&b"yy"[..]),
    )
    .unwrap();
    assert_eq!(std::fs::metadata(&t).unwrap().modified().unwrap(), later);
}

#[test]
fn unwritable_parent_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"").unwrap();
    let err = AtomicWrite::new(blocker.join("child"))
        .write_bytes(b"x")
        .unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_FS_IO");
    assert!(err.to_string().contains(&*blocker.to_string_lossy()));
    assert_eq!(snapshot(dir.path()), vec![blocker]);
}

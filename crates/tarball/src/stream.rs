//! The bridge from the async HTTP body to the blocking extractor.
//!
//! Chunks travel over a bounded channel, so memory stays bounded however fast the network
//! is compared to the disk. The stream ends only with an explicit [`Chunk::End`]: if the
//! sender goes away without it (the download failed or was cancelled), the reader returns
//! an error, so a cut-off body can never look like a complete archive. Every byte is
//! hashed for the integrity check on its way through.

use std::io::{self, Read};

use bytes::Bytes;
use tokio::sync::mpsc::Receiver;

use crate::integrity::IntegrityHasher;

/// One message from the downloader.
#[derive(Debug)]
pub(crate) enum Chunk {
    Data(Bytes),
    /// The body is complete.
    End,
}

/// A blocking `Read` over the chunks of a download, hashing what it hands out.
pub(crate) struct ChannelReader {
    rx: Receiver<Chunk>,
    current: Bytes,
    hasher: IntegrityHasher,
    received: u64,
    ended: bool,
}

impl ChannelReader {
    pub(crate) fn new(rx: Receiver<Chunk>, hasher: IntegrityHasher) -> Self {
        Self {
            rx,
            current: Bytes::new(),
            hasher,
            received: 0,
            ended: false,
        }
    }

    /// Reads (and hashes) everything left, so the digest covers the whole body even when
    /// the extractor stopped early. Stops at an aborted stream.
    pub(crate) fn drain(&mut self) -> io::Result<()> {
        self.current = Bytes::new();
        while !self.ended {
            self.next_chunk()?;
            self.current = Bytes::new();
        }
        Ok(())
    }

    /// The digest of every byte received, and how many there were.
    pub(crate) fn finish(self) -> (IntegrityHasher, u64) {
        (self.hasher, self.received)
    }

    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        match self.rx.blocking_recv() {
            Some(Chunk::Data(bytes)) => {
                self.hasher.update(&bytes);
                self.received += bytes.len() as u64;
                self.current = bytes;
                Ok(())
            }
            Some(Chunk::End) => {
                self.ended = true;
                Ok(())
            }
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the download stopped before the end of the tarball",
            )),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

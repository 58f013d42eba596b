//! One-shot gunzip of a tarball that is already in memory, with libdeflate.
//!
//! Inflating is the largest CPU cost of a cold install after hashing. When the whole gzip
//! member is in memory and its trailer says how large the output is, libdeflate inflates
//! it in one call into a buffer of exactly that size, about four times faster than a
//! streaming zlib decoder on real npm tarballs (see `benches/extract.rs`). The trailer is
//! untrusted: the size is capped before anything is allocated, libdeflate fails rather
//! than write past the buffer, and it checks the CRC and the length itself. Whatever does
//! not fit this path (too large, lying trailer, corrupt data) returns `None`, and the caller
//! falls back to the streaming decoder, which enforces the caps and names the error.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::buffers::PooledBuf;

/// The smallest gzip member: a 10-byte header and an 8-byte trailer.
const MIN_GZIP_LEN: usize = 18;

/// Bytes that one-shot buffers may hold at once across the whole process. The sizes come
/// from untrusted trailers, so without a shared budget many concurrent downloads claiming
/// the maximum could add up to gigabytes; past the budget, extraction streams instead.
const IN_FLIGHT_BUDGET: usize = 512 << 20;
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// A share of [`IN_FLIGHT_BUDGET`], returned on drop.
struct Reservation(usize);

impl Reservation {
    fn take(bytes: usize) -> Option<Self> {
        IN_FLIGHT
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes)
                    .filter(|total| *total <= IN_FLIGHT_BUDGET)
            })
            .ok()
            .map(|_| Reservation(bytes))
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(self.0, Ordering::AcqRel);
    }
}

/// An inflated archive; its memory counts against the process budget while it lives.
pub(crate) struct Inflated {
    pub(crate) bytes: PooledBuf,
    _reservation: Reservation,
}

/// Whether `bytes` starts with the gzip magic.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// The uncompressed size the gzip trailer of `gz` claims (ISIZE: the size modulo 2^32);
/// `None` when `gz` is not a gzip member.
pub(crate) fn claimed_size(gz: &[u8]) -> Option<usize> {
    if gz.len() < MIN_GZIP_LEN || !is_gzip(gz) {
        return None;
    }
    let trailer: [u8; 4] = gz.get(gz.len().checked_sub(4)?..)?.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(trailer)).ok()
}

/// Inflates the single gzip member `gz` if its claimed size is at most `max_out`, fits the
/// process budget, and the data is valid; `None` otherwise (the caller streams instead).
pub(crate) fn gunzip_one_shot(gz: &[u8], max_out: usize) -> Option<Inflated> {
    let size = claimed_size(gz)?;
    if size > max_out {
        return None;
    }
    let reservation = Reservation::take(size)?;
    let mut out = PooledBuf::take(size)?;
    out.resize_for_overwrite(size);
    let written = libdeflater::Decompressor::new()
        .gzip_decompress(gz, &mut out[..])
        .ok()?;
    (written == size).then_some(Inflated {
        bytes: out,
        _reservation: reservation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn inflates_a_valid_member() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 97) as u8).collect();
        assert_eq!(
            gunzip_one_shot(&gzip(&data), 1 << 20).unwrap().bytes[..],
            data
        );
        assert!(gunzip_one_shot(&gzip(b""), 1 << 20)
            .unwrap()
            .bytes
            .is_empty());
    }

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let data = vec![1u8; 1000];
        let gz = gzip(&data);
        let held = Reservation::take(IN_FLIGHT_BUDGET - 500).unwrap();
        assert!(gunzip_one_shot(&gz, 1 << 20).is_none(), "over budget");
        drop(held);
        let first = gunzip_one_shot(&gz, 1 << 20).unwrap();
        assert_eq!(IN_FLIGHT.load(Ordering::SeqCst), 1000);
        drop(first);
        assert_eq!(IN_FLIGHT.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn refuses_what_the_streaming_path_must_handle() {
        let data = vec![7u8; 50_000];
        let gz = gzip(&data);
        // Larger than allowed.
        assert!(gunzip_one_shot(&gz, 49_999).is_none());
        // A trailer that understates the size: libdeflate runs out of room instead of
        // writing past the buffer.
        let mut lying = gz.clone();
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        assert!(gunzip_one_shot(&lying, 1 << 20).is_none());
        // A trailer that overstates it.
        lying[n - 4..].copy_from_slice(&60_000u32.to_le_bytes());
        assert!(gunzip_one_shot(&lying, 1 << 20).is_none());
        // Corrupt data, a bad CRC, garbage, truncation, not gzip at all.
        let mut corrupt = gz.clone();
        corrupt[n / 2] ^= 0xff;
        assert!(gunzip_one_shot(&corrupt, 1 << 20).is_none());
        let mut bad_crc = gz.clone();
        bad_crc[n - 8] ^= 1;
        assert!(gunzip_one_shot(&bad_crc, 1 << 20).is_none());
        assert!(gunzip_one_shot(&gz[..n - 1], 1 << 20).is_none());
        assert!(gunzip_one_shot(b"\x1f\x8b", 1 << 20).is_none());
        assert!(gunzip_one_shot(&data, 1 << 20).is_none());
    }
}

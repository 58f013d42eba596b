//! Network shaping for benchmarks: a fixed round-trip delay per request and connection, and
//! a bandwidth cap shared by every connection (one link, like a real uplink).

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Shares a bytes-per-second budget between all writers.
///
/// The link is a timeline of bookings, one after another: a piece of `n` bytes occupies
/// `n / rate` of it. A writer may send a piece once the piece's booking has started, or
/// up to [`Pacer::SLACK`] before: the timer wakes a sleeper up to a millisecond late, and
/// a writer that slept until each booking *ended* lost that much per piece. A lone
/// connection then got about a third of a 200 Mbit link, and an install's last large
/// downloads crawled. With the slack, bookings stay ahead of the clock, so the link never
/// idles while anybody has bytes to send, and the link never gets further ahead of the
/// rate than the slack plus the piece being sent.
#[derive(Debug)]
pub struct Pacer {
    bytes_per_sec: u64,
    next_free: Mutex<Instant>,
}

impl Pacer {
    /// How far ahead of its booking a writer may send.
    pub const SLACK: Duration = Duration::from_millis(2);

    pub fn new(bytes_per_sec: u64) -> Self {
        Pacer {
            bytes_per_sec: bytes_per_sec.max(1),
            next_free: Mutex::new(Instant::now()),
        }
    }

    /// Books `n` bytes on the link; `Some(at)` when the writer must wait until `at`
    /// before sending them, `None` when it may send now.
    pub fn reserve(&self, n: usize) -> Option<Instant> {
        self.reserve_at(n, Instant::now())
    }

    /// [`Pacer::reserve`] at a given time.
    pub fn reserve_at(&self, n: usize, now: Instant) -> Option<Instant> {
        let cost = Duration::from_secs_f64(n as f64 / self.bytes_per_sec as f64);
        let mut next = self.next_free.lock();
        let start = (*next).max(now);
        *next = start + cost;
        (start > now + Self::SLACK).then_some(start)
    }
}

/// Parses `50ms`, `1s`, `250us`, or a bare number of milliseconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, unit) = split_unit(t);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.to_ascii_lowercase().as_str() {
        "" | "ms" => n / 1000.0,
        "s" => n,
        "us" => n / 1_000_000.0,
        "m" | "min" => n * 60.0,
        _ => return None,
    };
    (secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Parses a bandwidth into bytes per second: `200mbit`, `1gbit`, `512kbit`, `10MB`, `64KB`,
/// `1000` (bytes/s). Units ending in `bit` are bits; `B`/`KB`/`MB`/`GB` are bytes (powers of 1000).
pub fn parse_bandwidth(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, unit) = split_unit(t);
    let n: f64 = num.parse().ok()?;
    let unit = unit.to_ascii_lowercase();
    let unit = unit.trim_end_matches("/s").trim_end_matches("ps");
    let bytes = match unit {
        "" | "b" => n,
        "kb" => n * 1e3,
        "mb" => n * 1e6,
        "gb" => n * 1e9,
        "bit" => n / 8.0,
        "kbit" => n * 1e3 / 8.0,
        "mbit" => n * 1e6 / 8.0,
        "gbit" => n * 1e9 / 8.0,
        _ => return None,
    };
    (bytes >= 1.0).then_some(bytes as u64)
}

fn split_unit(t: &str) -> (&str, &str) {
    let idx = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    (&t[..idx], t[idx..].trim())
}

#[cfg(test)]
mod tests {
    use super::{parse_bandwidth, parse_duration, Pacer};
    use std::time::{Duration, Instant};

    /// One writer whose every sleep overshoots by a millisecond (the timer's granularity)
    /// sends `total` bytes in `piece`-byte pieces; returns how long that took.
    fn lone_writer(pacer: &Pacer, total: usize, piece: usize, start: Instant) -> Duration {
        let mut now = start;
        for _ in 0..total / piece {
            if let Some(at) = pacer.reserve_at(piece, now) {
                now = at + Duration::from_millis(1);
            }
        }
        now - start
    }

    #[test]
    fn a_lone_connection_gets_the_whole_link() {
        // 1 MB at 10 MB/s in 16 KiB pieces: 100 ms of link, whatever the timer's lateness.
        let pacer = Pacer::new(10_000_000);
        let start = Instant::now();
        let took = lone_writer(&pacer, 64 * 16_384, 16_384, start);
        let ideal = Duration::from_secs_f64(64.0 * 16_384.0 / 10_000_000.0);
        assert!(
            took <= ideal + Duration::from_millis(1),
            "{took:?} for {ideal:?}"
        );
        // The last piece may go out its own length plus the slack early, no more.
        let last_piece = Duration::from_secs_f64(16_384.0 / 10_000_000.0);
        assert!(
            took + last_piece + Pacer::SLACK >= ideal,
            "{took:?} beat the rate"
        );
    }

    #[test]
    fn nobody_runs_ahead_of_the_rate_by_more_than_the_slack() {
        // A writer that never has to wait for anything but the pacer: after the first
        // pieces fill the slack, each must wait, and the waits follow the rate.
        let pacer = Pacer::new(1_000_000);
        let now = Instant::now();
        let mut free = 0;
        let mut last_wait = None;
        for _ in 0..100 {
            match pacer.reserve_at(1_000, now) {
                None => free += 1,
                Some(at) => last_wait = Some(at),
            }
        }
        // 1 kB is 1 ms of link: the slack lets 3 pieces start within 2 ms (at 0, 1 and 2 ms).
        assert_eq!(free, 3);
        assert_eq!(last_wait, Some(now + Duration::from_millis(99)));
    }

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("50ms"), Some(Duration::from_millis(50)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_bandwidth("200mbit"), Some(25_000_000));
        assert_eq!(parse_bandwidth("10MB"), Some(10_000_000));
        assert_eq!(parse_bandwidth("8bit"), Some(1));
        assert_eq!(parse_bandwidth("fast"), None);
    }
}

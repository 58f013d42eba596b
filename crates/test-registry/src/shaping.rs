//! Network shaping for benchmarks: a fixed round-trip delay per request and connection, and
//! a bandwidth cap shared by every connection (one link, like a real uplink).

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Shares a bytes-per-second budget between all writers.
#[derive(Debug)]
pub struct Pacer {
    bytes_per_sec: u64,
    next_free: Mutex<Instant>,
}

impl Pacer {
    pub fn new(bytes_per_sec: u64) -> Self {
        Pacer {
            bytes_per_sec: bytes_per_sec.max(1),
            next_free: Mutex::new(Instant::now()),
        }
    }

    /// Books `n` bytes on the link and returns when they may be sent.
    pub fn reserve(&self, n: usize) -> Instant {
        let cost = Duration::from_secs_f64(n as f64 / self.bytes_per_sec as f64);
        let mut next = self.next_free.lock();
        let start = (*next).max(Instant::now());
        *next = start + cost;
        *next
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
    use super::{parse_bandwidth, parse_duration};
    use std::time::Duration;

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

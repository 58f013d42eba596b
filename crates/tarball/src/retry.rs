//! When to try a failed download again, and how long to wait first.
//!
//! pnpm's defaults (`retries: 2, factor: 10, minTimeout: 10 s, maxTimeout: 60 s`), with
//! jitter so a registry hiccup does not make every package retry in lock-step, and a
//! server's `Retry-After` honoured (capped by the maximum).

use std::time::Duration;

use rand::Rng as _;

/// Exponential backoff settings for one package's download pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub retries: u32,
    pub factor: u32,
    pub min_timeout: Duration,
    pub max_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 2,
            factor: 10,
            min_timeout: Duration::from_secs(10),
            max_timeout: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): `min * factor^(retry-1)`, times a
    /// random 1.0–1.25, never above `max_timeout`.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(16);
        let base = self
            .min_timeout
            .saturating_mul(self.factor.max(1).saturating_pow(exp));
        let jitter = rand::thread_rng().gen_range(1.0..1.25);
        base.mul_f64(jitter).min(self.max_timeout)
    }

    /// The wait before retry `retry`, preferring the server's `Retry-After`.
    pub fn delay_with_hint(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(d) => d.min(self.max_timeout),
            None => self.delay(retry),
        }
    }
}

/// Parses a `Retry-After` value given in seconds. (The HTTP-date form is rare for
/// registries and falls back to the backoff schedule.)
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{parse_retry_after, RetryPolicy};

    #[test]
    fn pnpm_schedule_with_jitter_and_cap() {
        let p = RetryPolicy::default();
        let d1 = p.delay(1);
        assert!(
            d1 >= Duration::from_secs(10) && d1 <= Duration::from_millis(12_500),
            "{d1:?}"
        );
        assert_eq!(p.delay(2), Duration::from_secs(60));
        assert_eq!(p.delay(40), Duration::from_secs(60));
        assert_eq!(
            p.delay_with_hint(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay_with_hint(1, Some(Duration::from_secs(3000))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}

//! Exponential backoff with jitter, the one formula behind query retries and realtime
//! reconnects: `base · 2^attempt`, capped, then scaled into the upper half of the window
//! so a fleet of tabs does not retry in step ("equal jitter").

/// Delays for one kind of retry, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay of the first retry (attempt 0) before jitter, ms.
    pub base_ms: f64,
    /// Longest delay before jitter, ms.
    pub cap_ms: f64,
}

impl Backoff {
    /// Realtime reconnects: 1 s, doubling to 10 s.
    pub const RECONNECT: Backoff = Backoff {
        base_ms: 1_000.0,
        cap_ms: 10_000.0,
    };

    /// Query refetches after a network failure: 0.5 s, doubling to 8 s.
    pub const QUERY_RETRY: Backoff = Backoff {
        base_ms: 500.0,
        cap_ms: 8_000.0,
    };

    /// Delay before retry `attempt` (0-based), ms; `jitter` in [0, 1) picks the point in
    /// `[delay / 2, delay)` (out-of-range values are clamped).
    pub fn delay_ms(&self, attempt: u32, jitter: f64) -> f64 {
        let raw = self.base_ms * 2f64.powi(attempt.min(20) as i32);
        raw.min(self.cap_ms) * (0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        let r = Backoff::RECONNECT;
        assert_eq!(r.delay_ms(0, 1.0), 1_000.0);
        assert_eq!(r.delay_ms(1, 1.0), 2_000.0);
        assert_eq!(r.delay_ms(3, 1.0), 8_000.0);
        assert_eq!(r.delay_ms(4, 1.0), 10_000.0);
        assert_eq!(r.delay_ms(40, 1.0), 10_000.0);
        let q = Backoff::QUERY_RETRY;
        assert_eq!(q.delay_ms(0, 1.0), 500.0);
        assert_eq!(q.delay_ms(10, 1.0), 8_000.0);
        assert_eq!(q.delay_ms(10, 0.0), 4_000.0);
    }

    #[test]
    fn jitter_stays_within_the_upper_half() {
        let r = Backoff::RECONNECT;
        assert_eq!(r.delay_ms(2, 0.0), 2_000.0);
        assert!(r.delay_ms(2, 0.5) > 2_000.0 && r.delay_ms(2, 0.5) < 4_000.0);
        assert!(r.delay_ms(3, 0.3) < r.delay_ms(3, 0.9));
        assert_eq!(
            r.delay_ms(2, 7.0),
            4_000.0,
            "out-of-range jitter is clamped"
        );
    }
}

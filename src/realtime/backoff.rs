//! Reconnect delays: exponential, capped, jittered so a fleet of tabs does not reconnect in step.

/// Base delay of the first reconnect.
pub const BASE_MS: f64 = 1_000.0;
/// Longest delay between attempts.
pub const CAP_MS: f64 = 10_000.0;

/// Delay before reconnect attempt `attempt` (0-based); `jitter` in [0, 1) picks a point in
/// the upper half of the window.
pub fn reconnect_delay_ms(attempt: u32, jitter: f64) -> f64 {
    let raw = BASE_MS * 2f64.powi(attempt.min(16) as i32);
    raw.min(CAP_MS) * (0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        assert_eq!(reconnect_delay_ms(0, 1.0), 1_000.0);
        assert_eq!(reconnect_delay_ms(1, 1.0), 2_000.0);
        assert_eq!(reconnect_delay_ms(3, 1.0), 8_000.0);
        assert_eq!(reconnect_delay_ms(4, 1.0), 10_000.0);
        assert_eq!(reconnect_delay_ms(40, 1.0), 10_000.0);
    }

    #[test]
    fn jitter_stays_within_the_upper_half() {
        assert_eq!(reconnect_delay_ms(2, 0.0), 2_000.0);
        assert!(reconnect_delay_ms(2, 0.5) > 2_000.0 && reconnect_delay_ms(2, 0.5) < 4_000.0);
        assert_eq!(
            reconnect_delay_ms(2, 7.0),
            4_000.0,
            "out-of-range jitter is clamped"
        );
    }
}

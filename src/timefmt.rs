//! Human times for the list ("3 min") from epoch milliseconds.

/// A short relative age such as "now", "4 min", "2 h", "3 d".
pub fn relative(now_ms: f64, then_ms: f64) -> String {
    let secs = ((now_ms - then_ms) / 1000.0).max(0.0);
    if secs < 45.0 {
        "now".into()
    } else if secs < 3_600.0 {
        format!("{} min", (secs / 60.0).round().max(1.0))
    } else if secs < 86_400.0 {
        format!("{} h", (secs / 3_600.0).floor())
    } else {
        format!("{} d", (secs / 86_400.0).floor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        let now = 10_000_000_000.0;
        assert_eq!(relative(now, now - 10_000.0), "now");
        assert_eq!(relative(now, now - 5.0 * 60_000.0), "5 min");
        assert_eq!(relative(now, now - 2.5 * 3_600_000.0), "2 h");
        assert_eq!(relative(now, now - 3.0 * 86_400_000.0), "3 d");
        assert_eq!(
            relative(now, now + 5_000.0),
            "now",
            "clock skew is not negative time"
        );
    }
}

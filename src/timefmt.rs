//! Human times for the list ("3 min") from epoch milliseconds.

/// A short relative age such as "now", "4 min", "2 h", "3 d".
pub fn relative(now_ms: f64, then_ms: f64) -> String {
    let secs = ((now_ms - then_ms) / 1000.0).max(0.0);
    // Whole numbers are formatted as integers: `Display for f64` pulls core's float printing
    // (Grisu/Dragon and their tables) into the wasm, about 4 KB of the first load (issue 14).
    if secs < 45.0 {
        "now".into()
    } else if secs < 3_600.0 {
        format!("{} min", whole((secs / 60.0).round().max(1.0)))
    } else if secs < 86_400.0 {
        format!("{} h", whole((secs / 3_600.0).floor()))
    } else {
        format!("{} d", whole((secs / 86_400.0).floor()))
    }
}

/// `x` (whole, non-negative) as an integer; `as` saturates, so huge ages cannot wrap.
fn whole(x: f64) -> u64 {
    x as u64
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
        assert_eq!(relative(now, now - 30.0 * 60_000.0), "30 min");
        assert_eq!(relative(now, now - 59.9 * 60_000.0), "60 min");
        assert_eq!(relative(now, now - 400.0 * 86_400_000.0), "400 d");
        assert_eq!(
            relative(now, now + 5_000.0),
            "now",
            "clock skew is not negative time"
        );
    }
}

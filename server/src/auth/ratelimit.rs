//! Sliding-window limits on login attempts, per email and per client address.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Counts events per key within a window and refuses past a maximum.
pub struct RateLimiter {
    max: usize,
    window_ms: i64,
    hits: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl RateLimiter {
    /// Allows `max` events per `window_ms` for each key.
    pub fn new(max: usize, window_ms: i64) -> Self {
        RateLimiter {
            max,
            window_ms,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Records an attempt at `now_ms`; false when the key is over its limit.
    pub fn check(&self, key: &str, now_ms: i64) -> bool {
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        // Forget idle keys now and then so the map cannot grow without bound.
        if hits.len() > 10_000 {
            let window = self.window_ms;
            hits.retain(|_, q| q.back().is_some_and(|&t| now_ms - t < window));
        }
        let queue = hits.entry(key.to_string()).or_default();
        while queue.front().is_some_and(|&t| now_ms - t >= self.window_ms) {
            queue.pop_front();
        }
        if queue.len() >= self.max {
            return false;
        }
        queue.push_back(now_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_within_window_and_recovers_after() {
        let limiter = RateLimiter::new(2, 1_000);
        assert!(limiter.check("a", 0));
        assert!(limiter.check("a", 10));
        assert!(!limiter.check("a", 20));
        assert!(limiter.check("b", 20), "keys are independent");
        assert!(limiter.check("a", 1_000));
    }
}

//! Sliding-window limits on login attempts: per client address, per address and email, and
//! a slower per-email backoff ([`LoginLimits`]) that a stranger cannot turn into a lockout.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::client_address::limit_key;

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

/// Failures remembered per email at most; older ones are forgotten first, so one email
/// under a wide attack costs bounded memory.
const FAILURES_PER_EMAIL: usize = 1_000;

/// Emails with failures remembered at most. Past it (failures for this many emails within
/// one backoff, so a spray of made-up emails) new emails are not tracked: those already
/// under attack keep their backoff, and the others still have rules 1 and 2.
const TRACKED_EMAILS: usize = 100_000;

/// Wrong passwords an address must itself have made for an email within the backoff before
/// rule 3 refuses it: the rightful user's typo or two still reach the check while a
/// stranger keeps the email under attack (issue 13 item 7: a backoff "that the rightful
/// user passes").
const OWN_FAILURES: usize = 3;

/// The login rules, in the order they are checked:
///
/// 1. per client address, all emails (`login_per_address` a window);
/// 2. per address and email (`login_per_address_email` a window): a stranger guessing
///    from one address locks only that address out of the account;
/// 3. per email, slower: once an email has `email_failures` wrong passwords within
///    `email_backoff_ms` from anywhere, an address with [`OWN_FAILURES`] of those failures
///    is refused until enough of them are `email_backoff_ms` old. Every address still gets
///    that many checks, so the rightful user at another address passes despite a typo or
///    two, while each attacking address is down to [`OWN_FAILURES`] guesses per backoff.
///
/// Only the address the connection comes from counts (no `X-Forwarded-For`), so a
/// client cannot pick its own key.
pub struct LoginLimits {
    by_address: RateLimiter,
    by_address_email: RateLimiter,
    email_failures: usize,
    email_backoff_ms: i64,
    failures: Mutex<HashMap<String, VecDeque<(i64, IpAddr)>>>,
}

/// Which rule refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Rule 1 or 2: too many attempts from this address in the window.
    TooManyAttempts,
    /// Rule 3: this address already failed for an email that is under attack.
    EmailBackoff,
}

impl LoginLimits {
    /// Rules 1 and 2 share `window_ms`; rule 3 has its own, slower `email_backoff_ms`.
    pub fn new(
        per_address: usize,
        per_address_email: usize,
        window_ms: i64,
        email_failures: usize,
        email_backoff_ms: i64,
    ) -> Self {
        LoginLimits {
            by_address: RateLimiter::new(per_address, window_ms),
            by_address_email: RateLimiter::new(per_address_email, window_ms),
            email_failures,
            email_backoff_ms,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Records an attempt from `address` for `email` at `now_ms`, or says why it is refused.
    ///
    /// # Errors
    /// [`LoginRefusal`] naming the rule.
    pub fn admit(&self, address: IpAddr, email: &str, now_ms: i64) -> Result<(), LoginRefusal> {
        let address = limit_key(address);
        if self.backed_off(address, email, now_ms) {
            return Err(LoginRefusal::EmailBackoff);
        }
        if !self.by_address.check(&address.to_string(), now_ms)
            || !self
                .by_address_email
                .check(&format!("{address} {email}"), now_ms)
        {
            return Err(LoginRefusal::TooManyAttempts);
        }
        Ok(())
    }

    /// Records a wrong password (or unknown email) from `address` for `email`.
    pub fn failed(&self, address: IpAddr, email: &str, now_ms: i64) {
        let address = limit_key(address);
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() > 10_000 && !failures.contains_key(email) {
            let backoff = self.email_backoff_ms;
            failures.retain(|_, q| q.back().is_some_and(|&(t, _)| now_ms - t < backoff));
            if failures.len() >= TRACKED_EMAILS {
                return;
            }
        }
        let queue = failures.entry(email.to_string()).or_default();
        if queue.len() >= FAILURES_PER_EMAIL {
            queue.pop_front();
        }
        queue.push_back((now_ms, address));
    }

    fn backed_off(&self, address: IpAddr, email: &str, now_ms: i64) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(queue) = failures.get_mut(email) else {
            return false;
        };
        while queue
            .front()
            .is_some_and(|&(t, _)| now_ms - t >= self.email_backoff_ms)
        {
            queue.pop_front();
        }
        if queue.is_empty() {
            failures.remove(email);
            return false;
        }
        queue.len() >= self.email_failures
            && queue.iter().filter(|&&(_, a)| a == address).count() >= OWN_FAILURES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));
    const C: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 3));

    fn limits() -> LoginLimits {
        LoginLimits::new(100, 3, 1_000, 5, 10_000)
    }

    #[test]
    fn one_address_locks_only_itself_out_of_an_account() {
        let l = limits();
        for t in 0..3 {
            assert_eq!(l.admit(A, "ana", t), Ok(()));
            l.failed(A, "ana", t);
        }
        assert_eq!(l.admit(A, "ana", 3), Err(LoginRefusal::TooManyAttempts));
        assert_eq!(l.admit(B, "ana", 3), Ok(()), "another address");
        assert_eq!(l.admit(A, "ben", 3), Ok(()), "another account");
        assert_eq!(l.admit(A, "ana", 1_000), Ok(()), "after the window");
    }

    #[test]
    fn fresh_addresses_of_one_ipv6_network_are_one_client() {
        let l = limits();
        let host = |n: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, n));
        for t in 0..3 {
            assert_eq!(l.admit(host(t as u16 + 1), "ana", t), Ok(()));
        }
        assert_eq!(
            l.admit(host(99), "ana", 3),
            Err(LoginRefusal::TooManyAttempts),
            "rotating within the /64 does not earn more guesses"
        );
        let elsewhere = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        assert_eq!(l.admit(elsewhere, "ana", 3), Ok(()), "another network");
    }

    #[test]
    fn an_email_under_attack_refuses_addresses_that_failed_and_no_others() {
        let l = limits();
        // Five failures from two addresses (the per-address+email rule alone allows 3 a
        // second to each).
        for (a, t) in [(A, 0), (A, 1), (A, 2), (B, 5_000), (B, 5_001)] {
            assert_eq!(l.admit(a, "ana", t), Ok(()));
            l.failed(a, "ana", t);
        }
        assert_eq!(l.admit(A, "ana", 6_000), Err(LoginRefusal::EmailBackoff));
        assert_eq!(
            l.admit(B, "ana", 6_000),
            Ok(()),
            "two failures of its own are not yet a backoff"
        );
        l.failed(B, "ana", 6_000);
        assert_eq!(l.admit(B, "ana", 6_001), Err(LoginRefusal::EmailBackoff));
        assert_eq!(
            l.admit(C, "ana", 6_000),
            Ok(()),
            "the rightful user's address"
        );
        assert_eq!(
            l.admit(A, "ben", 6_000),
            Ok(()),
            "other accounts are untouched"
        );
        // At 10_000 A's first failure is old, leaving it two; B keeps three until 15_000.
        assert_eq!(l.admit(A, "ana", 9_999), Err(LoginRefusal::EmailBackoff));
        assert_eq!(l.admit(A, "ana", 10_000), Ok(()));
        assert_eq!(l.admit(B, "ana", 10_000), Err(LoginRefusal::EmailBackoff));
    }

    #[test]
    fn the_rightful_user_passes_a_typo_while_a_stranger_attacks() {
        let l = limits();
        for t in 0..10 {
            l.failed(A, "ana", t * 100);
        }
        assert_eq!(l.admit(A, "ana", 2_000), Err(LoginRefusal::EmailBackoff));
        // One typo, then the right password: the second attempt must be let through.
        assert_eq!(l.admit(C, "ana", 2_000), Ok(()));
        l.failed(C, "ana", 2_000);
        assert_eq!(l.admit(C, "ana", 3_000), Ok(()), "after one typo");
        l.failed(C, "ana", 3_000);
        assert_eq!(l.admit(C, "ana", 4_000), Ok(()), "after two typos");
        l.failed(C, "ana", 4_000);
        assert_eq!(
            l.admit(C, "ana", 5_000),
            Err(LoginRefusal::EmailBackoff),
            "three failures of its own while the email is under attack"
        );
    }

    #[test]
    fn failures_per_email_are_bounded() {
        let l = limits();
        for i in 0..(FAILURES_PER_EMAIL as u32 + 50) {
            l.failed(IpAddr::from(i.to_be_bytes()), "ana", 0);
        }
        let failures = l.failures.lock().unwrap();
        assert_eq!(failures["ana"].len(), FAILURES_PER_EMAIL);
    }

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

//! Live websocket bookkeeping: per-user socket counts and server-wide shutdown.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// Tracks open sockets so limits can be enforced and shutdown can reach them all.
pub struct SocketRegistry {
    per_user: Mutex<HashMap<String, usize>>,
    shutdown: watch::Sender<bool>,
}

impl Default for SocketRegistry {
    fn default() -> Self {
        SocketRegistry {
            per_user: Mutex::new(HashMap::new()),
            shutdown: watch::channel(false).0,
        }
    }
}

impl SocketRegistry {
    /// Counts a socket for `user` unless they already hold `max`.
    pub fn try_acquire(&self, user: &str, max: usize) -> bool {
        let mut map = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
        let count = map.entry(user.to_string()).or_insert(0);
        if *count >= max {
            return false;
        }
        *count += 1;
        true
    }

    /// Releases a socket counted by [`SocketRegistry::try_acquire`].
    pub fn release(&self, user: &str) {
        let mut map = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = map.get_mut(user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(user);
            }
        }
    }

    /// A receiver that turns true when the server is stopping.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Tells every socket to close.
    pub fn shutdown_all(&self) {
        let _ = self.shutdown.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforces_the_per_user_cap() {
        let r = SocketRegistry::default();
        assert!(r.try_acquire("u", 2));
        assert!(r.try_acquire("u", 2));
        assert!(!r.try_acquire("u", 2));
        r.release("u");
        assert!(r.try_acquire("u", 2));
    }
}

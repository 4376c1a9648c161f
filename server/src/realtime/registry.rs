//! Live websocket bookkeeping: how many sockets each login session of each user holds, and
//! server-wide shutdown.
//!
//! Sockets are counted per session, not per user: every tab of one browser shares the
//! session in its stored login (the JWT `session_id`), so a user with many tabs is one
//! session with many sockets, and a user on several devices is several sessions. Two caps
//! follow ([`SocketCaps`]): sessions per user (devices) and sockets per session (tabs).
//! Memory is bounded by the open sockets: a user's entry holds at most
//! `sessions_per_user` sessions and goes when their last socket closes.
//!
//! A socket without a user yet (opened with the public anon key, no channel joined) is
//! counted per client address instead, from the handshake until its first join with a user
//! token, and refused past `--anonymous-sockets-per-address`; the join deadline
//! (`Limits::ws_join_timeout_ms`) ends those that never join.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::client_address::limit_key;

/// The per-user socket caps (`--sessions-per-user`, `--sockets-per-session`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketCaps {
    /// Login sessions of one user that may hold sockets at once (roughly, devices).
    pub sessions_per_user: usize,
    /// Sockets one login session may hold at once (roughly, tabs of one browser).
    pub sockets_per_session: usize,
}

/// Why a socket was not counted; [`SocketRefusal::reason`] is the join error sent back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketRefusal {
    /// The user already has sockets in `max` other sessions.
    TooManySessions {
        /// The cap that was reached.
        max: usize,
    },
    /// This session already holds `max` sockets.
    TooManySockets {
        /// The cap that was reached.
        max: usize,
    },
    /// This client address already holds `max` sockets that have not joined with a user.
    TooManyAnonymous {
        /// The cap that was reached.
        max: usize,
    },
    /// An administrator disabled the user (`admin::disabled`).
    UserDisabled,
}

impl SocketRefusal {
    /// The join reply's `reason`, `"Code: message"` as Realtime's join errors are; the code
    /// is Realtime's `ConnectionRateLimitReached` for both, the message is for people.
    pub fn reason(self) -> String {
        match self {
            SocketRefusal::TooManySessions { max } => format!(
                "ConnectionRateLimitReached: This account is connected on too many devices at \
                 once (at most {max}). Close Switchboard on a device you are not using."
            ),
            SocketRefusal::TooManySockets { max } => format!(
                "ConnectionRateLimitReached: Too many Switchboard tabs are open in this browser \
                 (at most {max}). Close some of them."
            ),
            // A token refusal to the app (`InvalidJWTToken`), so it refreshes, and the
            // refresh's `user_banned` signs it out.
            SocketRefusal::UserDisabled => "InvalidJWTToken: User is banned".to_string(),
            SocketRefusal::TooManyAnonymous { max } => format!(
                "ConnectionRateLimitReached: Too many connections from this address have not \
                 signed in to a channel yet (at most {max}). Join a channel with a user \
                 access_token, or wait for others to."
            ),
        }
    }
}

/// Sockets of one session.
#[derive(Debug)]
struct SessionSockets {
    session: String,
    sockets: usize,
}

/// Tracks open sockets so limits can be enforced and shutdown can reach them all.
pub struct SocketRegistry {
    /// Per user, the sessions holding sockets (at most `sessions_per_user` of them).
    per_user: Mutex<HashMap<String, Vec<SessionSockets>>>,
    /// Per client address, sockets that have not joined with a user yet.
    anonymous: Mutex<HashMap<IpAddr, usize>>,
    shutdown: watch::Sender<bool>,
}

impl Default for SocketRegistry {
    fn default() -> Self {
        SocketRegistry {
            per_user: Mutex::new(HashMap::new()),
            anonymous: Mutex::new(HashMap::new()),
            shutdown: watch::channel(false).0,
        }
    }
}

impl SocketRegistry {
    /// Counts a socket for `user`'s `session` unless that would pass one of `caps`.
    ///
    /// # Errors
    /// [`SocketRefusal`] naming the cap that was reached; nothing is counted then.
    pub fn try_acquire(
        &self,
        user: &str,
        session: &str,
        caps: SocketCaps,
    ) -> Result<(), SocketRefusal> {
        let mut map = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
        let sessions = map.entry(user.to_string()).or_default();
        let held = sessions.len();
        let outcome = match sessions.iter_mut().find(|s| s.session == session) {
            Some(s) if s.sockets >= caps.sockets_per_session => {
                Err(SocketRefusal::TooManySockets {
                    max: caps.sockets_per_session,
                })
            }
            Some(s) => {
                s.sockets += 1;
                Ok(())
            }
            None if held >= caps.sessions_per_user => Err(SocketRefusal::TooManySessions {
                max: caps.sessions_per_user,
            }),
            None if caps.sockets_per_session == 0 => Err(SocketRefusal::TooManySockets { max: 0 }),
            None => {
                sessions.push(SessionSockets {
                    session: session.to_string(),
                    sockets: 1,
                });
                Ok(())
            }
        };
        if sessions.is_empty() {
            map.remove(user);
        }
        outcome
    }

    /// Releases a socket counted by [`SocketRegistry::try_acquire`].
    pub fn release(&self, user: &str, session: &str) {
        let mut map = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
        let Some(sessions) = map.get_mut(user) else {
            return;
        };
        if let Some(at) = sessions.iter().position(|s| s.session == session) {
            sessions[at].sockets = sessions[at].sockets.saturating_sub(1);
            if sessions[at].sockets == 0 {
                sessions.swap_remove(at);
            }
        }
        if sessions.is_empty() {
            map.remove(user);
        }
    }

    /// Counts a socket without a user from `address` unless it already holds `max`.
    ///
    /// # Errors
    /// [`SocketRefusal::TooManyAnonymous`]; nothing is counted then.
    pub fn try_acquire_anonymous(&self, address: IpAddr, max: usize) -> Result<(), SocketRefusal> {
        let address = limit_key(address);
        let mut map = self.anonymous.lock().unwrap_or_else(|p| p.into_inner());
        let held = map.entry(address).or_default();
        if *held >= max {
            if *held == 0 {
                map.remove(&address);
            }
            return Err(SocketRefusal::TooManyAnonymous { max });
        }
        *held += 1;
        Ok(())
    }

    /// Releases a socket counted by [`SocketRegistry::try_acquire_anonymous`].
    pub fn release_anonymous(&self, address: IpAddr) {
        let address = limit_key(address);
        let mut map = self.anonymous.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = map.get_mut(&address) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                map.remove(&address);
            }
        }
    }

    /// Sockets without a user that `address` holds now.
    pub fn anonymous(&self, address: IpAddr) -> usize {
        let address = limit_key(address);
        let map = self.anonymous.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&address).copied().unwrap_or(0)
    }

    /// How many users hold counted sockets (for tests of the bookkeeping's bounds).
    pub fn users(&self) -> usize {
        self.per_user
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
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
    fn anonymous_sockets_are_capped_per_address_and_released() {
        let r = SocketRegistry::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(r.try_acquire_anonymous(a, 2), Ok(()));
        assert_eq!(r.try_acquire_anonymous(a, 2), Ok(()));
        assert_eq!(
            r.try_acquire_anonymous(a, 2),
            Err(SocketRefusal::TooManyAnonymous { max: 2 })
        );
        assert_eq!(r.try_acquire_anonymous(b, 2), Ok(()), "per address");
        r.release_anonymous(a);
        assert_eq!(r.try_acquire_anonymous(a, 2), Ok(()));
        for _ in 0..2 {
            r.release_anonymous(a);
        }
        r.release_anonymous(b);
        assert_eq!(r.anonymous.lock().unwrap().len(), 0, "no entry left behind");
        assert!(SocketRefusal::TooManyAnonymous { max: 2 }
            .reason()
            .starts_with("ConnectionRateLimitReached: "));
    }

    #[test]
    fn one_ipv6_network_shares_one_anonymous_cap() {
        let r = SocketRegistry::default();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(r.try_acquire_anonymous(a, 1), Ok(()));
        assert_eq!(
            r.try_acquire_anonymous(b, 1),
            Err(SocketRefusal::TooManyAnonymous { max: 1 }),
            "a fresh address of the same /64 is the same client"
        );
        assert_eq!(r.try_acquire_anonymous(other, 1), Ok(()));
        r.release_anonymous(b);
        assert_eq!(r.anonymous(a), 0);
    }

    const CAPS: SocketCaps = SocketCaps {
        sessions_per_user: 2,
        sockets_per_session: 3,
    };

    #[test]
    fn counts_sockets_per_session_and_sessions_per_user() {
        let r = SocketRegistry::default();
        for _ in 0..3 {
            assert_eq!(r.try_acquire("u", "tabs", CAPS), Ok(()));
        }
        assert_eq!(
            r.try_acquire("u", "tabs", CAPS),
            Err(SocketRefusal::TooManySockets { max: 3 })
        );
        assert_eq!(r.try_acquire("u", "phone", CAPS), Ok(()));
        assert_eq!(
            r.try_acquire("u", "laptop", CAPS),
            Err(SocketRefusal::TooManySessions { max: 2 })
        );
        assert_eq!(r.try_acquire("v", "laptop", CAPS), Ok(()), "per user");
        r.release("u", "phone");
        assert_eq!(r.try_acquire("u", "laptop", CAPS), Ok(()), "a device freed");
        r.release("u", "tabs");
        assert_eq!(r.try_acquire("u", "tabs", CAPS), Ok(()), "a tab freed");
    }

    #[test]
    fn entries_go_with_their_last_socket() {
        let r = SocketRegistry::default();
        assert_eq!(r.try_acquire("u", "s", CAPS), Ok(()));
        assert_eq!(r.try_acquire("u", "s", CAPS), Ok(()));
        r.release("u", "s");
        assert_eq!(r.users(), 1);
        r.release("u", "s");
        r.release("u", "s");
        r.release("nobody", "s");
        assert_eq!(r.users(), 0);
        let closed = SocketCaps {
            sessions_per_user: 0,
            sockets_per_session: 3,
        };
        assert!(r.try_acquire("u", "s", closed).is_err());
        assert_eq!(r.users(), 0, "a refusal leaves nothing behind");
    }

    #[test]
    fn refusals_read_as_realtime_join_errors() {
        for refusal in [
            SocketRefusal::TooManySessions { max: 10 },
            SocketRefusal::TooManySockets { max: 100 },
        ] {
            let reason = refusal.reason();
            assert!(
                reason.starts_with("ConnectionRateLimitReached: "),
                "{reason}"
            );
        }
        assert!(SocketRefusal::TooManySessions { max: 10 }
            .reason()
            .contains("at most 10"));
    }
}

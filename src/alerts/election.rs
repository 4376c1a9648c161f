//! Which tab alerts: one per browser profile, however many Switchboard tabs are open.
//!
//! Every tab has its own realtime connection and receives every event, so without an
//! election a dispatcher with three tabs would hear every message three times. The leader
//! is whoever holds the Web Lock `switchboard-alerts` (Web Locks API,
//! `navigator.locks.request`): a tab asks for it once and, when granted, holds it with a
//! promise it never settles, so it keeps the lock until it releases it or the tab goes away
//! (closed, crashed, navigated: the browser releases a gone tab's locks). The next tab in
//! the lock's queue is granted it then, with no timers involved, which matters because
//! hidden tabs' timers are throttled to once a minute.
//!
//! Each request carries an attempt number so that the answer to an old request (a late
//! grant, a rejection after a re-request) cannot be mistaken for the current one.

/// The lock every tab asks for.
pub const LOCK_NAME: &str = "switchboard-alerts";

/// Inputs of the election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionInput {
    /// Begin; `locks` says whether `navigator.locks` exists (it needs a secure context).
    Start {
        /// Whether the Web Locks API is available.
        locks: bool,
    },
    /// The lock request `attempt` was granted: its callback runs.
    Granted(u32),
    /// The lock request `attempt` failed or the held lock was taken away (its promise
    /// rejected: a `steal` by another context, or the request itself was refused).
    Lost(u32),
    /// Stop for good (sign-out, unmount).
    Stop,
}

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionCommand {
    /// `navigator.locks.request(LOCK_NAME, {signal}, callback)`, tagged with this attempt.
    Request(u32),
    /// Settle the held promise: the lock goes to the next tab in line.
    Release,
    /// Abort the queued request (its `AbortSignal`): it will never be granted.
    Abort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Waiting,
    Leading,
    /// Leading without a lock: no Web Locks here, or the request kept failing. Two tabs may
    /// both alert then; a duplicate alert is better than none.
    Alone,
    Stopped,
}

/// How many times a refused request is retried before leading alone.
const RETRIES: u32 = 3;

/// One tab's side of the election.
#[derive(Debug, Clone)]
pub struct Election {
    phase: Phase,
    attempt: u32,
    failures: u32,
}

impl Default for Election {
    fn default() -> Self {
        Election {
            phase: Phase::Idle,
            attempt: 0,
            failures: 0,
        }
    }
}

impl Election {
    /// Whether this tab alerts.
    pub fn is_leader(&self) -> bool {
        matches!(self.phase, Phase::Leading | Phase::Alone)
    }

    /// Whether this tab is queued for the lock.
    pub fn is_waiting(&self) -> bool {
        self.phase == Phase::Waiting
    }

    fn request(&mut self) -> Vec<ElectionCommand> {
        self.attempt += 1;
        self.phase = Phase::Waiting;
        vec![ElectionCommand::Request(self.attempt)]
    }

    /// Applies one input.
    pub fn step(&mut self, input: ElectionInput) -> Vec<ElectionCommand> {
        match (self.phase, input) {
            (Phase::Idle, ElectionInput::Start { locks: true }) => self.request(),
            (Phase::Idle, ElectionInput::Start { locks: false }) => {
                self.phase = Phase::Alone;
                Vec::new()
            }
            (Phase::Waiting, ElectionInput::Granted(a)) if a == self.attempt => {
                self.phase = Phase::Leading;
                self.failures = 0;
                Vec::new()
            }
            // Granted after we stopped (the abort lost the race): hand it straight on.
            (Phase::Stopped, ElectionInput::Granted(_)) => vec![ElectionCommand::Release],
            (Phase::Waiting | Phase::Leading, ElectionInput::Lost(a)) if a == self.attempt => {
                self.failures += 1;
                if self.failures > RETRIES {
                    self.phase = Phase::Alone;
                    Vec::new()
                } else {
                    // Stolen or refused: queue again behind whoever has it now.
                    self.request()
                }
            }
            (Phase::Waiting, ElectionInput::Stop) => {
                self.phase = Phase::Stopped;
                vec![ElectionCommand::Abort]
            }
            (Phase::Leading, ElectionInput::Stop) => {
                self.phase = Phase::Stopped;
                vec![ElectionCommand::Release]
            }
            (_, ElectionInput::Stop) => {
                self.phase = Phase::Stopped;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ElectionCommand::*;
    use ElectionInput::*;

    #[test]
    fn the_first_tab_leads_and_the_next_takes_over_when_it_goes() {
        let mut first = Election::default();
        let mut second = Election::default();
        assert_eq!(first.step(Start { locks: true }), vec![Request(1)]);
        assert_eq!(second.step(Start { locks: true }), vec![Request(1)]);
        assert!(!first.is_leader() && first.is_waiting());
        // The browser grants the lock to one request at a time.
        assert!(first.step(Granted(1)).is_empty());
        assert!(first.is_leader());
        assert!(!second.is_leader(), "queued behind the holder");
        assert_eq!(first.step(Stop), vec![Release]);
        assert!(!first.is_leader());
        second.step(Granted(1));
        assert!(second.is_leader(), "hand-over");
    }

    #[test]
    fn a_queued_tab_that_stops_leaves_the_queue() {
        let mut e = Election::default();
        e.step(Start { locks: true });
        assert_eq!(e.step(Stop), vec![Abort]);
        assert_eq!(e.step(Granted(1)), vec![Release], "a late grant goes on");
        assert!(!e.is_leader());
    }

    #[test]
    fn a_stolen_lock_is_queued_for_again_and_old_answers_are_ignored() {
        let mut e = Election::default();
        e.step(Start { locks: true });
        e.step(Granted(1));
        assert_eq!(e.step(Lost(1)), vec![Request(2)]);
        assert!(!e.is_leader());
        assert!(e.step(Lost(1)).is_empty(), "the old request's news");
        assert!(e.step(Granted(1)).is_empty());
        assert!(!e.is_leader());
        e.step(Granted(2));
        assert!(e.is_leader());
    }

    #[test]
    fn without_web_locks_every_tab_alerts_rather_than_none() {
        let mut e = Election::default();
        assert!(e.step(Start { locks: false }).is_empty());
        assert!(e.is_leader());
        let mut refused = Election::default();
        refused.step(Start { locks: true });
        for attempt in 1..=RETRIES {
            assert_eq!(refused.step(Lost(attempt)), vec![Request(attempt + 1)]);
        }
        assert!(refused.step(Lost(RETRIES + 1)).is_empty());
        assert!(refused.is_leader(), "kept failing: lead alone");
        assert!(refused.step(Stop).is_empty());
        assert!(!refused.is_leader());
    }
}

//! Who may take a read connection, and in what order (issue 13, item 2): so that no one
//! user's reads can hold every reader.
//!
//! Two queues, both first-come first-served (tokio's semaphores are fair):
//! 1. a per-user one: a user runs at most `per_user` reads at once (fewer than the readers),
//!    and the rest of that user's reads wait there, outside the shared queue;
//! 2. the shared one, with a permit per read connection, which reads that are not any user's
//!    (sign-in lookups) join directly.
//!
//! So one user's backlog never stands in front of another user's read: the shared queue holds
//! at most `per_user` reads of each user, and at least `readers - per_user` connections are
//! always left to the others. A slow read still holds its connection, but only until the
//! statement timeout ([`super::Db::read_bounded`]). Chosen over a plain fair semaphore, which
//! would still let one user with many requests in flight hold every connection in turn.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The two queues in front of the read connections.
pub struct ReadGate {
    readers: Arc<Semaphore>,
    capacity: usize,
    users: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

/// The right to use one read connection, held for the read; dropping it lets the next
/// waiter in.
pub struct ReadPermit {
    // Field order is drop order: the connection goes back before the user's slot, so a
    // user's next read never finds its slot free but every connection still taken by it.
    _reader: OwnedSemaphorePermit,
    _user: Option<UserSlot>,
}

/// One of a user's `per_user` slots, or the wait for one; forgets the user's queue once
/// nobody holds or awaits a slot in it, also when a wait is given up (timeout, client gone).
struct UserSlot {
    permit: Option<OwnedSemaphorePermit>,
    queue: Option<Arc<Semaphore>>,
    user: String,
    users: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        // Both hold the semaphore: let go of them before counting.
        self.permit.take();
        self.queue.take();
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        // Slots clone the semaphore under this lock before they wait, so a count of one
        // (the map's own) means no read of this user holds or awaits a slot.
        if users
            .get(&self.user)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            users.remove(&self.user);
        }
    }
}

/// Why no permit was had.
#[derive(Debug, PartialEq, Eq)]
pub struct TimedOut;

impl ReadGate {
    /// A gate in front of `readers` read connections.
    pub fn new(readers: usize) -> ReadGate {
        ReadGate {
            readers: Arc::new(Semaphore::new(readers)),
            capacity: readers,
            users: Arc::default(),
        }
    }

    /// Users whose queues are remembered: those with a read running or waiting.
    pub fn users_tracked(&self) -> usize {
        self.users.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Waits, at most `wait`, for a read connection: first for one of `user`'s `per_user`
    /// slots (taken as at least 1 and at most one fewer than the connections), then for a
    /// connection. `user` `None` (the server's own reads) skips the first queue.
    ///
    /// # Errors
    /// [`TimedOut`] when `wait` passes first.
    pub async fn enter(
        &self,
        user: Option<&str>,
        per_user: usize,
        wait: Duration,
    ) -> Result<ReadPermit, TimedOut> {
        tokio::time::timeout(wait, self.enter_unbounded(user, per_user))
            .await
            .map_err(|_| TimedOut)
    }

    async fn enter_unbounded(&self, user: Option<&str>, per_user: usize) -> ReadPermit {
        let slot = match user {
            Some(user) => Some(self.slot(user, per_user).await),
            None => None,
        };
        // Never closed, so acquiring cannot fail.
        let reader = Arc::clone(&self.readers)
            .acquire_owned()
            .await
            .expect("the readers semaphore is never closed");
        ReadPermit {
            _reader: reader,
            _user: slot,
        }
    }

    async fn slot(&self, user: &str, per_user: usize) -> UserSlot {
        let per_user = per_user.clamp(1, self.capacity.saturating_sub(1).max(1));
        let queue = {
            let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(
                users
                    .entry(user.to_string())
                    .or_insert_with(|| Arc::new(Semaphore::new(per_user))),
            )
        };
        let mut slot = UserSlot {
            permit: None,
            queue: Some(Arc::clone(&queue)),
            user: user.to_string(),
            users: Arc::clone(&self.users),
        };
        slot.permit = Some(
            queue
                .acquire_owned()
                .await
                .expect("user semaphores are never closed"),
        );
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);
    const NOW: Duration = Duration::from_millis(0);

    #[tokio::test]
    async fn one_user_cannot_take_every_reader() {
        let gate = ReadGate::new(4);
        let a1 = gate.enter(Some("a"), 2, LONG).await.unwrap();
        let _a2 = gate.enter(Some("a"), 2, LONG).await.unwrap();
        assert_eq!(
            gate.enter(Some("a"), 2, NOW).await.err(),
            Some(TimedOut),
            "a third read of the same user waits"
        );
        let _b1 = gate.enter(Some("b"), 2, NOW).await.unwrap();
        let _server = gate.enter(None, 2, NOW).await.unwrap();
        assert!(
            gate.enter(Some("c"), 2, NOW).await.is_err(),
            "all four taken"
        );
        drop(a1);
        assert!(
            gate.enter(Some("c"), 2, NOW).await.is_ok(),
            "a's slot freed"
        );
    }

    #[tokio::test]
    async fn a_users_backlog_does_not_queue_ahead_of_others() {
        let gate = Arc::new(ReadGate::new(4));
        let held = held(&gate, "a", 2, 2).await;
        // Ten more reads of a wait in a's own queue.
        let mut waiting = Vec::new();
        for _ in 0..10 {
            let gate = Arc::clone(&gate);
            waiting.push(tokio::spawn(async move {
                gate.enter(Some("a"), 2, LONG).await.map(|_| ())
            }));
        }
        tokio::task::yield_now().await;
        let _b = gate.enter(Some("b"), 2, NOW).await.unwrap();
        let _c = gate.enter(Some("c"), 2, NOW).await.unwrap();
        drop(held);
        for w in waiting {
            w.await.unwrap().unwrap();
        }
    }

    async fn held(gate: &ReadGate, user: &str, n: usize, per_user: usize) -> Vec<ReadPermit> {
        let mut held = Vec::new();
        for _ in 0..n {
            held.push(gate.enter(Some(user), per_user, LONG).await.unwrap());
        }
        held
    }

    #[tokio::test]
    async fn per_user_is_kept_below_the_readers_and_queues_are_forgotten() {
        let gate = ReadGate::new(4);
        let three = held(&gate, "a", 3, 99).await;
        assert!(
            gate.enter(Some("a"), 99, NOW).await.is_err(),
            "at most three of four"
        );
        assert!(gate.enter(Some("b"), 99, NOW).await.is_ok());
        assert_eq!(gate.users_tracked(), 1, "a holds slots, b's wait is over");
        drop(three);
        assert_eq!(gate.users_tracked(), 0);
    }
}

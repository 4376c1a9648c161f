//! Password hashing with Argon2id, and the gate ([`Checks`]) that bounds how many checks
//! run at once: each one holds Argon2's whole memory (m = 19456 KiB by default) until it
//! ends, so unbounded concurrent logins are unbounded memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{oneshot, Semaphore};

use crate::error::{Error, Result};

/// Hashes a password into a PHC string with a fresh random salt.
pub fn hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Config(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored PHC string; a corrupt hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    verify_in(password, stored, &mut Vec::new())
}

/// [`verify`] with Argon2's working memory in `memory`, grown to the hash's `m` blocks and
/// kept for the next check (`Argon2::hash_password_into_with_memory`): what
/// `PasswordVerifier::verify_password` does, without a fresh 19 MiB allocation each time.
/// The outputs are compared in constant time (`password_hash::Output`'s `PartialEq`).
pub fn verify_in(password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(&parsed),
        Algorithm::try_from(parsed.algorithm),
    ) else {
        return false;
    };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else {
        return false;
    };
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    memory.resize(params.block_count(), Block::default());
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    argon2
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .is_ok()
        && Output::new(&out).is_ok_and(|computed| computed == expected)
}

/// A hash of a password nobody has, made once with the parameters every stored hash uses
/// ([`hash`]), for checks of emails that have no user.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random: [u8; 16] = rand::random();
        let password: String = random.iter().map(|b| format!("{b:02x}")).collect();
        hash(&password).unwrap_or_default()
    })
}

/// The login was not checked: every check slot and queue place is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Runs password checks at most `concurrency` at a time, with at most `queue` more
/// waiting; further logins are turned away at once rather than queued without bound.
///
/// An email with no user is checked against a fixed dummy hash under the same gate. Its
/// answer then costs what a real check costs in every way an observer can time: the same
/// Argon2 work with the same parameters, and the same wait for a slot under load (a sleep
/// outside the gate would answer faster than real checks exactly when the server is busy).
/// Its memory is the gate's memory: with the gate, unknown emails cannot add any beyond
/// `concurrency` checks' worth, which is what the old hash-a-fresh-salt decoy could.
///
/// The checks run on `concurrency` threads of their own, each reusing one Argon2 working
/// memory ([`verify_in`]): allocating 19 MiB per check left freed blocks resident in
/// glibc's per-thread arenas (RSS 28 → 379 MB after 60 logins, two at a time, on tokio's
/// blocking pool; still about 120 MB per thread on fixed threads).
pub struct Checks {
    slots: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    most: usize,
    jobs: mpsc::Sender<Job>,
    done: Arc<AtomicUsize>,
}

/// A password check for a worker thread, given the thread's Argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Starts `count` threads running jobs from one queue until its sender is dropped.
fn start_workers(count: usize) -> mpsc::Sender<Job> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for _ in 0..count {
        let queue = queue.clone();
        let started = std::thread::Builder::new()
            .name("password-check".into())
            .spawn(move || {
                let mut memory = Vec::new();
                loop {
                    let job = match queue.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                        Ok(job) => job,
                        Err(_) => break,
                    };
                    job(&mut memory);
                }
            });
        if let Err(e) = started {
            // With no worker the queue's receiver is gone and checks fall back to the
            // blocking pool (see Checks::verify).
            tracing::warn!(error = %e, "could not start a password-check thread");
        }
    }
    jobs
}

impl Checks {
    /// `concurrency` checks at once (at least 1), `queue` more waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        Checks {
            slots: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(AtomicUsize::new(0)),
            most: concurrency + queue,
            jobs: start_workers(concurrency),
            done: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Makes the dummy hash now, so the first unknown email does not pay for it.
    pub fn prepare(&self) {
        let _ = dummy_hash();
    }

    /// Logins running or waiting now, counting checks still running for requests already
    /// dropped.
    pub fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }

    /// Argon2 checks finished since start, dummy ones included.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::Acquire)
    }

    /// The underlying slots, for tests that hold them to fill the queue.
    pub fn slots(&self) -> &Semaphore {
        &self.slots
    }

    /// Checks `password` against `stored` (or, for `None`, the dummy hash, never matching).
    ///
    /// # Errors
    /// [`Busy`] when `concurrency + queue` logins are already admitted.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> std::result::Result<bool, Busy> {
        let admitted = self
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.most).then_some(n + 1)
            });
        if admitted.is_err() {
            return Err(Busy);
        }
        // Dropped with this future while it waits for a slot (nothing queued yet); once the
        // check is queued it moves into the job with the slot.
        let admitted = Admitted(self.admitted.clone());
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return Err(Busy);
        };
        let known = stored.is_some();
        let (answer, answered) = oneshot::channel();
        let done = self.done.clone();
        // The slot and the place are the job's, released when the check ends rather than
        // when the request does: hyper drops this future when the client closes mid-request,
        // and a check already queued still runs and holds Argon2's memory.
        let job: Job = Box::new(move |memory| {
            let stored = stored.as_deref().unwrap_or_else(|| dummy_hash());
            let matched = verify_in(&password, stored, memory);
            done.fetch_add(1, Ordering::AcqRel);
            // Released before the answer, so a login that sees it finds the gate free.
            drop((slot, admitted));
            let _ = answer.send(matched);
        });
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            let _ = tokio::task::spawn_blocking(move || job(&mut Vec::new())).await;
        }
        // Awaited for unknown emails too: answering before the check ends would time apart
        // the two cases.
        let checked = answered.await.unwrap_or(false);
        Ok(known && checked)
    }
}

/// Counts a login out of [`Checks`] when its check ends, or when its future is dropped
/// before the check was queued.
struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_queue_is_bounded_and_unknown_emails_never_match() {
        let checks = Checks::new(1, 1);
        let right = hash("pw").unwrap();
        assert_eq!(
            checks.verify("pw".into(), Some(right.clone())).await,
            Ok(true)
        );
        assert_eq!(checks.done(), 1);
        assert_eq!(checks.verify("pw".into(), None).await, Ok(false));
        assert_eq!(
            checks.done(),
            2,
            "an unknown email is answered only after its dummy check, as a known one"
        );
        // The test holds the one slot; two logins fill the places (concurrency + queue).
        let held = checks.slots().acquire().await.unwrap();
        let mut first = Box::pin(checks.verify("pw".into(), Some(right.clone())));
        let mut second = Box::pin(checks.verify("nope".into(), None));
        assert!(futures_util::FutureExt::now_or_never(first.as_mut()).is_none());
        assert!(futures_util::FutureExt::now_or_never(second.as_mut()).is_none());
        assert_eq!(checks.admitted(), 2);
        assert_eq!(
            checks.verify("pw".into(), Some(right.clone())).await,
            Err(Busy),
            "no place left"
        );
        drop(held);
        assert_eq!(first.await, Ok(true));
        assert_eq!(second.await, Ok(false));
        assert_eq!(checks.admitted(), 0);
    }

    /// A login whose request is dropped (the client closed mid-request) after its check was
    /// queued keeps its slot and place until the check ends: freed at the drop, "send, close,
    /// repeat" grew the worker queue past `concurrency + queue` without bound.
    #[tokio::test]
    async fn a_dropped_login_holds_its_place_until_its_check_ends() {
        use futures_util::FutureExt;
        let checks = Checks::new(1, 1);
        let right = hash("pw").unwrap();
        // Hold the one worker so queued checks cannot finish meanwhile.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let blocker: Job = Box::new(move |_| {
            let _ = blocked.recv();
        });
        assert!(checks.jobs.send(blocker).is_ok());
        for _ in 0..3 {
            let mut login = Box::pin(checks.verify("pw".into(), Some(right.clone())));
            assert!(login.as_mut().now_or_never().is_none());
            drop(login);
        }
        assert_eq!(
            checks.admitted(),
            1,
            "the first dropped login's check is queued"
        );
        assert_eq!(checks.slots().available_permits(), 0);
        let mut waiting = Box::pin(checks.verify("pw".into(), Some(right.clone())));
        assert!(waiting.as_mut().now_or_never().is_none());
        assert_eq!(
            checks
                .verify("pw".into(), Some(right.clone()))
                .now_or_never(),
            Some(Err(Busy)),
            "concurrency + queue places are taken"
        );
        drop(release);
        assert_eq!(waiting.await, Ok(true));
        assert_eq!(
            checks.done(),
            2,
            "the dropped login's check ran, and only it"
        );
        assert_eq!(checks.admitted(), 0);
        assert_eq!(checks.slots().available_permits(), 1);
    }

    #[test]
    fn verifies_only_the_right_password() {
        let h = hash("correct horse").unwrap();
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "not-a-phc-string"));
    }
}

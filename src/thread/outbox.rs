//! Messages in flight: the pure outbox. A sent message is queued here at once (the composer
//! clears its draft), shown after the thread's server rows as *sending*, posted by one tab
//! with a client-chosen id, and removed when the refetched thread holds that id. Nothing here
//! touches cached server data: the thread's rows come only from the REST answer
//! (ARCHITECTURE.md, "Realtime events only invalidate"), the outbox only adds its own rows
//! below them.
//!
//! Rules (each has a test below):
//!
//! - **One id per message, for good.** The id is a v4 UUID chosen when the message is queued
//!   and every resend carries it: the server stores a message once per id (the embedded
//!   server returns the stored row, hosted PostgREST answers 409 `23505`, both mean
//!   *stored*), so a lost answer, a reload or two tabs posting the same entry never store a
//!   copy.
//! - **Order per conversation.** Entries of one conversation go out strictly one after the
//!   other: the next only once the previous one is answered as stored. A failed entry holds
//!   back the later ones of its conversation (shown as waiting) until it is retried or
//!   discarded: a medic reading "cancel that" before the message it cancels is worse than a
//!   late pair. Conversations do not wait for each other.
//! - **Retries.** No answer, a timeout, 429 or 5xx (and a decoding failure of an answer, which
//!   is safe to resend for the same reason) are transient: the entry stays *sending* and is
//!   tried again after [`SEND_RETRY`]'s backoff while the browser is online, and at once when
//!   the connection comes back (the realtime connection turning live, or the `online`
//!   event). Any other refusal (400 too long or blank, 403 not allowed, 409 other than a taken
//!   key) fails the entry with the server's message, without retrying: Retry puts it back to
//!   sending, Discard removes it.
//! - **Stale messages are not sent on their own.** An entry still unsent [`STALE_AFTER_MS`]
//!   after it was queued (or retried) fails instead, asking the sender to check it: the
//!   server stamps `created_at` on arrival, so an instruction typed an hour ago would reach
//!   the medic looking new. One Retry sends it.
//! - **Sent means in the thread.** A stored answer marks the entry *posted* (no more
//!   resends; still shown as sending); it leaves the outbox when a thread answer holds its
//!   id, so the server row replaces it in the same render. A posted entry whose thread is not
//!   open is dropped [`POSTED_TTL_MS`] after the answer: the server has it.
//! - **Per user.** Stored under [`storage_key`]`(user id)`: another user signing in at the
//!   same browser never sees or sends the previous user's messages. Signing out keeps them
//!   (the session may also just have lapsed); they go out when the same user signs in again,
//!   subject to the stale rule.
//! - **Tolerant storage.** A stored value that is not this version's JSON is dropped whole;
//!   an entry that does not parse is dropped alone; both with a warning, never a panic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{ApiError, Priority};
use crate::backoff::Backoff;

/// Delays between automatic resends after a transient failure: 1 s doubling to 30 s.
pub const SEND_RETRY: Backoff = Backoff {
    base_ms: 1_000.0,
    cap_ms: 30_000.0,
};

/// An entry not sent this long after it was queued or retried is failed instead of sent
/// (15 minutes, ms).
pub const STALE_AFTER_MS: f64 = 15.0 * 60_000.0;

/// A posted entry whose thread answer never came (the thread is not open) is dropped this
/// long after the stored answer (2 minutes, ms).
pub const POSTED_TTL_MS: f64 = 2.0 * 60_000.0;

/// A send without an answer after this long counts as a transient failure (15 s, ms). Its
/// late answer still counts if it says *stored*.
pub const SEND_TIMEOUT_MS: u32 = 15_000;

/// Version of the stored JSON (`{"version": 1, "entries": [...]}`).
pub const STORAGE_VERSION: u64 = 1;

/// The failure reason of a stale entry.
pub const STALE_REASON: &str = "Not sent for 15 minutes: check it still applies, then press Retry";

/// The `localStorage` key of `user_id`'s outbox; `None` without a user (nothing is stored).
pub fn storage_key(user_id: &str) -> Option<String> {
    (!user_id.is_empty()).then(|| format!("switchboard.outbox.{user_id}"))
}

/// Where an entry is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EntryState {
    /// Waiting to be posted, being posted, or waiting to be retried.
    Sending,
    /// The server answered *stored* at `at_ms` (local clock, ms); waiting for the thread's
    /// refetch to show it.
    Posted {
        /// When the stored answer arrived, ms since the epoch.
        at_ms: f64,
    },
    /// Refused (or stale): needs Retry or Discard.
    Failed {
        /// The server's message (or [`STALE_REASON`]).
        reason: String,
    },
}

/// One queued message, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The client id: the message's `id` on the server.
    pub id: String,
    /// The conversation it goes to.
    pub conversation_id: String,
    /// The text, as typed.
    pub body: String,
    /// Routine or urgent.
    pub priority: Priority,
    /// When it was queued, ms since the epoch (local clock).
    pub created_at_ms: f64,
    /// When it last became *sending* (queued or retried), ms: the stale rule counts from here.
    pub since_ms: f64,
    /// Answered posts so far (transient failures and refusals).
    pub attempts: u32,
    /// Where it is.
    pub state: EntryState,
    /// Not posted again before this instant (ms), after a transient failure.
    #[serde(default)]
    pub retry_at_ms: Option<f64>,
}

/// How a post was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server has the message (the stored row, or the taken-key 409 of a resend).
    Stored,
    /// Worth trying again: no answer, timeout, 429, 5xx, an undecodable answer, no session.
    Transient(String),
    /// Refused for good, with the server's message.
    Refused(String),
}

impl Outcome {
    /// Classifies the answer to `POST /rest/v1/messages`.
    pub fn of<T>(result: &Result<T, ApiError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Stored,
            // Hosted PostgREST refuses a taken id (the embedded server returns the row): the
            // id is this entry's own, so its first try was stored.
            Err(e) if e.is_duplicate_key() => Outcome::Stored,
            // A 2xx answer we could not read was stored; a resend returns the row.
            Err(ApiError::Decode(m)) => Outcome::Transient(m.clone()),
            Err(e) if e.is_retryable() => Outcome::Transient(e.to_string()),
            Err(ApiError::Http { message, .. }) => Outcome::Refused(message.clone()),
            Err(e) => Outcome::Refused(e.to_string()),
        }
    }
}

/// A post to make now; answer it with [`Outbox::answered`] and the same `token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    /// Client id.
    pub id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Text.
    pub body: String,
    /// Priority.
    pub priority: Priority,
    /// Tells this try's answer from a timed-out earlier one's.
    pub token: u32,
}

/// What a row of the outbox shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PendingStatus {
    /// Being sent (or posted and waiting for the refetch): "Sending…".
    Sending,
    /// Held back by a failed earlier message of the same conversation.
    Waiting,
    /// Failed, with the reason; Retry and Discard.
    Failed(String),
}

impl PendingStatus {
    /// The row's `data-state`: `sending` or `failed`.
    pub fn data_state(&self) -> &'static str {
        match self {
            PendingStatus::Failed(_) => "failed",
            _ => "sending",
        }
    }

    /// The row's status text.
    pub fn text(&self) -> String {
        match self {
            PendingStatus::Sending => "Sending…".into(),
            PendingStatus::Waiting => "Waiting for the failed message above".into(),
            PendingStatus::Failed(reason) => format!("Not sent: {reason}"),
        }
    }
}

/// One outbox row of a conversation, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Client id (the future server row's id).
    pub id: String,
    /// Text.
    pub body: String,
    /// Priority.
    pub priority: Priority,
    /// What it shows.
    pub status: PendingStatus,
}

/// One user's outbox: the stored entries in the order they were queued, and which of them
/// this tab is posting right now (not stored: a tab that dies mid-post leaves the entry
/// *sending*, and the next tab posts it again under the same id).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outbox {
    entries: Vec<Entry>,
    in_flight: BTreeMap<String, u32>,
    tokens: u32,
}

#[derive(Serialize)]
struct StoredRef<'a> {
    version: u64,
    entries: &'a [Entry],
}

/// Reads a stored value. Returns the entries that parse and, if anything was dropped, a
/// warning saying what; never fails.
pub fn parse_stored(text: &str) -> (Vec<Entry>, Option<String>) {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return (
                Vec::new(),
                Some(format!("outbox: unreadable, dropped ({e})")),
            )
        }
    };
    let version = value.get("version").and_then(Value::as_u64);
    let Some(list) = value.get("entries").and_then(Value::as_array) else {
        return (Vec::new(), Some("outbox: no entry list, dropped".into()));
    };
    if version != Some(STORAGE_VERSION) {
        return (
            Vec::new(),
            Some(format!(
                "outbox: version {version:?} is not {STORAGE_VERSION}, dropped"
            )),
        );
    }
    let total = list.len();
    let mut seen = std::collections::BTreeSet::new();
    let entries: Vec<Entry> = list
        .iter()
        .filter_map(|v| serde_json::from_value::<Entry>(v.clone()).ok())
        .filter(|e| !e.id.is_empty() && !e.conversation_id.is_empty())
        .filter(|e| seen.insert(e.id.clone()))
        .collect();
    let dropped = total - entries.len();
    let warning = (dropped > 0).then(|| format!("outbox: {dropped} unreadable entries dropped"));
    (entries, warning)
}

impl Outbox {
    /// An outbox holding `entries` (from [`parse_stored`]).
    pub fn from_entries(entries: Vec<Entry>) -> Self {
        Outbox {
            entries,
            ..Outbox::default()
        }
    }

    /// The stored entries, in queue order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The stored form of the entries.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&StoredRef {
            version: STORAGE_VERSION,
            entries: &self.entries,
        })
        .unwrap_or_default()
    }

    /// Replaces the entries with what storage holds now (another tab's change), keeping this
    /// tab's posts in flight for the entries still there.
    pub fn adopt(&mut self, stored: Vec<Entry>) {
        self.in_flight
            .retain(|id, _| stored.iter().any(|e| &e.id == id));
        self.entries = stored;
    }

    /// Queues a message with the client id `id` at `now` (ms).
    pub fn queue(
        &mut self,
        id: String,
        conversation_id: &str,
        body: &str,
        priority: Priority,
        now: f64,
    ) {
        if self.entries.iter().any(|e| e.id == id) {
            return;
        }
        self.entries.push(Entry {
            id,
            conversation_id: conversation_id.to_string(),
            body: body.to_string(),
            priority,
            created_at_ms: now,
            since_ms: now,
            attempts: 0,
            state: EntryState::Sending,
            retry_at_ms: None,
        });
    }

    /// Index of each conversation's head: its oldest entry not yet answered as stored.
    fn heads(&self) -> Vec<usize> {
        let mut seen = std::collections::BTreeSet::new();
        let mut heads = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if matches!(e.state, EntryState::Posted { .. }) {
                continue;
            }
            if seen.insert(e.conversation_id.as_str()) {
                heads.push(i);
            }
        }
        heads
    }

    /// The posts to make at `now`: each conversation's head if it is sending, not already
    /// being posted and not waiting out a backoff; none while `online` is false. Marks them
    /// in flight. Also applies the stale rule and drops posted entries past their time.
    pub fn due(&mut self, now: f64, online: bool) -> Vec<Send> {
        let in_flight = &self.in_flight;
        for e in &mut self.entries {
            if e.state == EntryState::Sending
                && !in_flight.contains_key(&e.id)
                && now - e.since_ms > STALE_AFTER_MS
            {
                e.state = EntryState::Failed {
                    reason: STALE_REASON.into(),
                };
            }
        }
        self.entries.retain(
            |e| !matches!(e.state, EntryState::Posted { at_ms } if now - at_ms > POSTED_TTL_MS),
        );
        if !online {
            return Vec::new();
        }
        let mut sends = Vec::new();
        for i in self.heads() {
            let e = &self.entries[i];
            let waiting = e.retry_at_ms.is_some_and(|at| at > now);
            if e.state != EntryState::Sending || self.in_flight.contains_key(&e.id) || waiting {
                continue;
            }
            self.tokens = self.tokens.wrapping_add(1);
            self.in_flight.insert(e.id.clone(), self.tokens);
            sends.push(Send {
                id: e.id.clone(),
                conversation_id: e.conversation_id.clone(),
                body: e.body.clone(),
                priority: e.priority,
                token: self.tokens,
            });
        }
        sends
    }

    /// The answer to the post `token` of entry `id`, at `now`; `jitter` in [0, 1) spreads
    /// the backoff. A *stored* answer counts whichever try it answers (the server has the
    /// message); others count only for the try in flight.
    pub fn answered(&mut self, id: &str, token: u32, outcome: Outcome, now: f64, jitter: f64) {
        let current = self.in_flight.get(id) == Some(&token);
        let Some(e) = self.entries.iter_mut().find(|e| e.id == id) else {
            self.in_flight.remove(id);
            return;
        };
        match outcome {
            Outcome::Stored => {
                e.state = EntryState::Posted { at_ms: now };
                e.retry_at_ms = None;
                self.in_flight.remove(id);
            }
            _ if !current => {}
            Outcome::Transient(_) => {
                self.in_flight.remove(id);
                if e.state == EntryState::Sending {
                    e.retry_at_ms = Some(now + SEND_RETRY.delay_ms(e.attempts, jitter));
                    e.attempts += 1;
                }
            }
            Outcome::Refused(reason) => {
                self.in_flight.remove(id);
                if e.state == EntryState::Sending {
                    e.attempts += 1;
                    e.state = EntryState::Failed { reason };
                }
            }
        }
    }

    /// The connection is back: every sending entry is due at once.
    pub fn connection_back(&mut self) {
        for e in &mut self.entries {
            if e.state == EntryState::Sending {
                e.retry_at_ms = None;
            }
        }
    }

    /// Retry of a failed entry at `now`: sending again, in its place in the order.
    pub fn retry(&mut self, id: &str, now: f64) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.id == id) {
            if matches!(e.state, EntryState::Failed { .. }) {
                e.state = EntryState::Sending;
                e.since_ms = now;
                e.retry_at_ms = None;
            }
        }
        // Entries waiting behind it are the sender's too: the stale rule restarts for them.
        let conversation = self
            .entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.conversation_id.clone());
        for e in &mut self.entries {
            if Some(&e.conversation_id) == conversation.as_ref() && e.state == EntryState::Sending {
                e.since_ms = e.since_ms.max(now);
            }
        }
    }

    /// Discard of an entry: gone (a post already in flight may still store it; its row then
    /// shows up in the thread like any other).
    pub fn discard(&mut self, id: &str) {
        self.entries.retain(|e| e.id != id);
        self.in_flight.remove(id);
    }

    /// A thread answer for `conversation_id` holding the rows `ids`: the entries among them
    /// are sent and leave. Returns whether any left.
    pub fn thread_rows<S: AsRef<str>>(&mut self, conversation_id: &str, ids: &[S]) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| {
            e.conversation_id != conversation_id || !ids.iter().any(|id| id.as_ref() == e.id)
        });
        self.entries.len() != before
    }

    /// The next instant (ms) at which [`Outbox::due`] may have something new to do: a
    /// backoff ending, an entry going stale, a posted entry expiring.
    pub fn wake_at(&self) -> Option<f64> {
        let heads = self.heads();
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.state {
                EntryState::Sending if self.in_flight.contains_key(&e.id) => None,
                EntryState::Sending => {
                    let stale = e.since_ms + STALE_AFTER_MS;
                    match e.retry_at_ms {
                        Some(at) if heads.contains(&i) => Some(at.min(stale)),
                        _ => Some(stale),
                    }
                }
                EntryState::Posted { at_ms } => Some(at_ms + POSTED_TTL_MS),
                EntryState::Failed { .. } => None,
            })
            .min_by(f64::total_cmp)
            .map(|t| t + 1.0)
    }

    /// The rows to show below `conversation_id`'s thread, oldest first, leaving out those
    /// whose ids the thread's rows `shown` already hold (so a message never shows twice).
    pub fn pending<S: AsRef<str>>(&self, conversation_id: &str, shown: &[S]) -> Vec<Pending> {
        let mut blocked = false;
        self.entries
            .iter()
            .filter(|e| e.conversation_id == conversation_id)
            .filter_map(|e| {
                let status = match &e.state {
                    EntryState::Failed { reason } => {
                        blocked = true;
                        PendingStatus::Failed(reason.clone())
                    }
                    EntryState::Sending if blocked => PendingStatus::Waiting,
                    _ => PendingStatus::Sending,
                };
                (!shown.iter().any(|s| s.as_ref() == e.id)).then(|| Pending {
                    id: e.id.clone(),
                    body: e.body.clone(),
                    priority: e.priority,
                    status,
                })
            })
            .collect()
    }
}

/// Whether `now` (the outbox rows' ids) holds an id `before` did not: the sender just
/// queued it, so the thread scrolls to it whatever the distance from the bottom.
pub fn newly_queued<S: AsRef<str>>(before: &[S], now: &[S]) -> bool {
    now.iter()
        .any(|n| !before.iter().any(|b| b.as_ref() == n.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, code: &str, message: &str) -> ApiError {
        ApiError::Http {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    fn ids(sends: &[Send]) -> Vec<&str> {
        sends.iter().map(|s| s.id.as_str()).collect()
    }

    fn three_in_c1() -> Outbox {
        let mut o = Outbox::default();
        o.queue("a".into(), "c1", "first", Priority::Routine, 0.0);
        o.queue("b".into(), "c1", "second", Priority::Urgent, 1.0);
        o.queue("x".into(), "c2", "other thread", Priority::Routine, 2.0);
        o.queue("c".into(), "c1", "third", Priority::Routine, 3.0);
        o
    }

    #[test]
    fn a_conversation_sends_one_at_a_time_in_order_and_conversations_do_not_wait() {
        let mut o = three_in_c1();
        let first = o.due(10.0, true);
        assert_eq!(ids(&first), ["a", "x"]);
        assert!(o.due(11.0, true).is_empty(), "a is still unanswered");
        o.answered("a", first[0].token, Outcome::Stored, 12.0, 0.0);
        let next = o.due(13.0, true);
        assert_eq!(ids(&next), ["b"]);
        assert_eq!(next[0].priority, Priority::Urgent);
        o.answered("b", next[0].token, Outcome::Stored, 14.0, 0.0);
        assert_eq!(ids(&o.due(15.0, true)), ["c"]);
    }

    #[test]
    fn nothing_goes_out_while_offline() {
        let mut o = three_in_c1();
        assert!(o.due(10.0, false).is_empty());
        assert_eq!(ids(&o.due(11.0, true)), ["a", "x"]);
    }

    #[test]
    fn transient_failures_back_off_and_resend_with_the_same_id() {
        let mut o = three_in_c1();
        let s = o.due(0.0, true);
        o.answered(
            "a",
            s[0].token,
            Outcome::of::<()>(&Err(ApiError::Network("down".into()))),
            100.0,
            1.0,
        );
        assert!(ids(&o.due(500.0, true)).iter().all(|i| *i != "a"));
        assert_eq!(o.wake_at(), Some(1_101.0), "1 s after the failure");
        let again = o.due(1_100.0, true);
        assert_eq!(ids(&again), ["a"], "same client id");
        o.answered(
            "a",
            again[0].token,
            Outcome::of::<()>(&Err(http(503, "", "unavailable"))),
            1_200.0,
            1.0,
        );
        assert_eq!(o.entries()[0].attempts, 2);
        assert_eq!(o.entries()[0].retry_at_ms, Some(3_200.0), "then 2 s");
        assert_eq!(o.entries()[0].state, EntryState::Sending);
    }

    #[test]
    fn the_connection_coming_back_resends_at_once() {
        let mut o = three_in_c1();
        let s = o.due(0.0, true);
        o.answered("a", s[0].token, Outcome::Transient("x".into()), 0.0, 1.0);
        o.answered("x", s[1].token, Outcome::Transient("x".into()), 0.0, 1.0);
        assert!(o.due(10.0, true).is_empty());
        o.connection_back();
        assert_eq!(ids(&o.due(10.0, true)), ["a", "x"]);
    }

    #[test]
    fn refusals_fail_with_the_servers_message_and_hold_back_the_rest_of_the_thread() {
        let mut o = three_in_c1();
        let s = o.due(0.0, true);
        let too_long = Err::<(), _>(http(400, "23514", "violates check messages_body_length"));
        o.answered("a", s[0].token, Outcome::of(&too_long), 1.0, 0.0);
        assert_eq!(
            o.entries()[0].state,
            EntryState::Failed {
                reason: "violates check messages_body_length".into()
            }
        );
        assert!(
            o.due(1_000.0, true).is_empty(),
            "no auto-retry; b and c wait"
        );
        assert_eq!(
            o.wake_at(),
            Some(STALE_AFTER_MS + 2.0),
            "only the stale rule (b's)"
        );
        let shown = o.pending("c1", &[] as &[&str]);
        assert_eq!(shown[0].status.data_state(), "failed");
        assert_eq!(shown[1].status, PendingStatus::Waiting);
        assert_eq!(shown[1].status.data_state(), "sending");
        // 403 too.
        let forbidden = Err::<(), _>(http(403, "42501", "row-level security"));
        assert_eq!(
            Outcome::of(&forbidden),
            Outcome::Refused("row-level security".into())
        );
        // Retry puts it back in its place; Discard would let b go.
        o.retry("a", 2.0);
        assert_eq!(ids(&o.due(3.0, true)), ["a"]);
    }

    #[test]
    fn discarding_a_failed_entry_lets_the_next_one_go() {
        let mut o = three_in_c1();
        let s = o.due(0.0, true);
        o.answered("a", s[0].token, Outcome::Refused("no".into()), 1.0, 0.0);
        o.discard("a");
        assert_eq!(ids(&o.due(2.0, true)), ["b"]);
    }

    #[test]
    fn a_taken_id_is_a_stored_message() {
        let taken = Err::<(), _>(http(409, "23505", "duplicate key"));
        assert_eq!(Outcome::of(&taken), Outcome::Stored);
        let conflict = Err::<(), _>(http(409, "23503", "fk"));
        assert_eq!(Outcome::of(&conflict), Outcome::Refused("fk".into()));
        let unreadable = Err::<(), _>(ApiError::Decode("eof".into()));
        assert!(matches!(Outcome::of(&unreadable), Outcome::Transient(_)));
        let limited = Err::<(), _>(http(429, "", "slow down"));
        assert!(matches!(Outcome::of(&limited), Outcome::Transient(_)));
    }

    #[test]
    fn sent_means_the_refetched_thread_holds_it() {
        let mut o = three_in_c1();
        let s = o.due(0.0, true);
        o.answered("a", s[0].token, Outcome::Stored, 1.0, 0.0);
        assert!(
            matches!(o.entries()[0].state, EntryState::Posted { .. }),
            "stored, not yet shown"
        );
        assert_eq!(
            o.pending("c1", &[] as &[&str]).len(),
            3,
            "still shown as sending"
        );
        assert!(
            !o.thread_rows("c1", &["older-row"]),
            "a thread answer without it"
        );
        assert!(!o.thread_rows("c2", &["a"]), "another conversation's rows");
        assert!(o.thread_rows("c1", &["older-row", "a"]));
        assert_eq!(o.entries().len(), 3);
        assert!(o.entries().iter().all(|e| e.id != "a"));
    }

    #[test]
    fn a_row_the_thread_already_shows_is_never_shown_twice() {
        let o = three_in_c1();
        let shown = o.pending("c1", &["b"]);
        assert_eq!(
            shown.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            ["a", "c"]
        );
    }

    #[test]
    fn a_late_stored_answer_counts_but_a_late_failure_does_not() {
        let mut o = three_in_c1();
        let first = o.due(0.0, true);
        // The first try timed out; the second is under way when the first answers.
        o.answered(
            "a",
            first[0].token,
            Outcome::Transient("timed out".into()),
            1.0,
            0.0,
        );
        o.connection_back();
        let second = o.due(2.0, true);
        assert_eq!(ids(&second), ["a"]);
        o.answered(
            "a",
            first[0].token,
            Outcome::Refused("late".into()),
            3.0,
            0.0,
        );
        assert_eq!(o.entries()[0].state, EntryState::Sending);
        o.answered("a", first[0].token, Outcome::Stored, 4.0, 0.0);
        assert_eq!(o.entries()[0].state, EntryState::Posted { at_ms: 4.0 });
        assert_eq!(ids(&o.due(5.0, true)), ["b"]);
    }

    #[test]
    fn stale_entries_fail_instead_of_going_out_and_posted_ones_expire() {
        let mut o = three_in_c1();
        let s = o.due(0.0, true);
        o.answered("x", s[1].token, Outcome::Stored, 1.0, 0.0);
        o.answered("a", s[0].token, Outcome::Transient("down".into()), 1.0, 0.0);
        let later = STALE_AFTER_MS + 10.0;
        assert!(o.due(later, true).is_empty());
        assert!(o.entries().iter().all(|e| e.state
            == EntryState::Failed {
                reason: STALE_REASON.into()
            }));
        assert!(o.entries().iter().all(|e| e.id != "x"), "posted x expired");
        o.retry("a", later);
        assert_eq!(ids(&o.due(later + 1.0, true)), ["a"]);
    }

    #[test]
    fn the_stored_form_round_trips_and_keeps_no_posts_in_flight() {
        let mut o = three_in_c1();
        o.due(0.0, true);
        let (entries, warning) = parse_stored(&o.to_json());
        assert_eq!(warning, None);
        assert_eq!(entries, o.entries());
        let mut reloaded = Outbox::from_entries(entries);
        assert_eq!(
            ids(&reloaded.due(1.0, true)),
            ["a", "x"],
            "a reload resends what was in flight"
        );
    }

    #[test]
    fn corrupt_or_old_storage_is_dropped_with_a_warning() {
        for text in [
            "",
            "not json",
            "[]",
            r#"{"entries":[]}"#,
            r#"{"version":0,"entries":[]}"#,
            r#"{"version":1,"entries":{}}"#,
        ] {
            let (entries, warning) = parse_stored(text);
            assert!(entries.is_empty() && warning.is_some(), "{text:?}");
        }
        let mut o = three_in_c1();
        o.queue("d".into(), "c1", "fourth", Priority::Routine, 4.0);
        let mut stored: Value = serde_json::from_str(&o.to_json()).unwrap();
        let list = stored["entries"].as_array_mut().unwrap();
        list[1]["priority"] = "shouting".into();
        list[2] = Value::String("garbage".into());
        list[3]["id"] = "".into();
        list.push(list[0].clone());
        let (entries, warning) = parse_stored(&stored.to_string());
        assert_eq!(
            entries.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["a", "d"]
        );
        assert_eq!(
            warning.as_deref(),
            Some("outbox: 4 unreadable entries dropped")
        );
    }

    #[test]
    fn another_tabs_change_is_adopted_keeping_this_tabs_posts() {
        let mut here = three_in_c1();
        let s = here.due(0.0, true);
        let mut there = Outbox::from_entries(here.entries().to_vec());
        there.discard("x");
        there.queue("d".into(), "c3", "new", Priority::Routine, 5.0);
        here.adopt(there.entries().to_vec());
        assert!(
            here.due(6.0, true).iter().all(|n| n.id != "a"),
            "a still in flight"
        );
        here.answered("a", s[0].token, Outcome::Stored, 7.0, 0.0);
        assert_eq!(here.entries()[0].state, EntryState::Posted { at_ms: 7.0 });
    }

    #[test]
    fn each_user_has_their_own_storage_key() {
        assert_eq!(storage_key("u1").as_deref(), Some("switchboard.outbox.u1"));
        assert_ne!(storage_key("u1"), storage_key("u2"));
        assert_eq!(storage_key(""), None);
    }

    #[test]
    fn a_queued_id_is_queued_once() {
        let mut o = Outbox::default();
        o.queue("a".into(), "c1", "x", Priority::Routine, 0.0);
        o.queue("a".into(), "c1", "x", Priority::Routine, 1.0);
        assert_eq!(o.entries().len(), 1);
    }

    #[test]
    fn a_newly_queued_row_is_followed() {
        assert!(newly_queued(&["a"], &["a", "b"]));
        assert!(!newly_queued(&["a", "b"], &["b"]), "a row leaving is not");
        assert!(!newly_queued::<&str>(&[], &[]));
    }
}

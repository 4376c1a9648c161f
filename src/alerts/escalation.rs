//! The escalation schedule: while an urgent message waits for acknowledgement, alert the
//! receiving side again every `urgent_realert_seconds` until someone acknowledges it.
//!
//! What is pending is known two ways, and both count:
//! - events: an urgent message from the other side arrived (its id is remembered until a
//!   `message_acks` event names it);
//! - the list: `conversations_with_unread` rows with `unacked_urgent > 0` (what arrived
//!   before this tab opened, or while its link was down).
//!
//! The two disagree for a few milliseconds after each change (the event comes first; a
//! refetch that was already in flight may answer with the state before it). The rules make
//! those moments harmless: a list row speaks for an event-known message only when it is at
//! least as new as that message; the urgent counter dropping to 0 clears everything; and a
//! conversation that stops and starts pending again within one interval keeps its schedule
//! (no extra alert), because the schedule outlives the pending state.
//!
//! Times are milliseconds on one clock the caller provides (`Date.now()` in the browser, a
//! driven number in tests).

use std::collections::{BTreeMap, BTreeSet};

use crate::api::ConversationSummary;

/// An urgent message learned from its event and not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    created_at: String,
    text: String,
}

/// What the list said about one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    unacked: i64,
    last_message_at: Option<String>,
    oldest_unacked_at: Option<String>,
}

/// The escalation state of one tab (every tab keeps it, so a new leader continues the
/// schedule where the old one stopped).
#[derive(Debug, Clone)]
pub struct Escalation {
    interval_ms: f64,
    count: Option<i64>,
    rows: BTreeMap<String, Row>,
    known: BTreeMap<String, BTreeMap<String, Known>>,
    next_due: BTreeMap<String, f64>,
}

impl Escalation {
    /// A schedule repeating every `interval_ms` (at least one second: a shorter one would
    /// alert faster than anyone can reach the button).
    pub fn new(interval_ms: f64) -> Self {
        Escalation {
            interval_ms: interval_ms.max(1_000.0),
            count: None,
            rows: BTreeMap::new(),
            known: BTreeMap::new(),
            next_due: BTreeMap::new(),
        }
    }

    /// The repeat interval in ms.
    pub fn interval_ms(&self) -> f64 {
        self.interval_ms
    }

    /// An urgent message from the other side arrived at `now` (and was alerted, or seen by
    /// the reader): the next reminder for its conversation is one interval later.
    pub fn urgent_arrived(
        &mut self,
        conversation_id: &str,
        message_id: &str,
        created_at: &str,
        text: &str,
        now: f64,
    ) {
        self.known
            .entry(conversation_id.to_string())
            .or_default()
            .insert(
                message_id.to_string(),
                Known {
                    created_at: created_at.to_string(),
                    text: text.to_string(),
                },
            );
        self.next_due
            .insert(conversation_id.to_string(), now + self.interval_ms);
    }

    /// A `message_acks` event: forget the message (wherever it was).
    pub fn acknowledged(&mut self, message_id: &str) {
        for messages in self.known.values_mut() {
            messages.remove(message_id);
        }
        self.known.retain(|_, m| !m.is_empty());
    }

    /// A new answer of `conversations_with_unread`.
    pub fn rows(&mut self, list: &[ConversationSummary]) {
        self.rows = list
            .iter()
            .map(|c| {
                (
                    c.id.clone(),
                    Row {
                        unacked: c.unacked_urgent,
                        last_message_at: c.last_message_at.clone(),
                        oldest_unacked_at: c.oldest_unacked_urgent_at.clone(),
                    },
                )
            })
            .collect();
        // A row at least as new as a known message says whether it is still waiting: none
        // waiting, or the oldest waiting one is newer. An older row cannot know of it yet.
        for (conversation, messages) in &mut self.known {
            let Some(row) = self.rows.get(conversation) else {
                continue;
            };
            messages.retain(|_, known| {
                let covered = row
                    .last_message_at
                    .as_deref()
                    .is_some_and(|at| at >= known.created_at.as_str());
                let still_waiting = row.unacked > 0
                    && row
                        .oldest_unacked_at
                        .as_deref()
                        .is_none_or(|oldest| oldest <= known.created_at.as_str());
                !covered || still_waiting
            });
        }
        self.known.retain(|_, m| !m.is_empty());
    }

    /// A new value of the urgent counter (`unacked_urgent_total`). Dropping to 0 means every
    /// urgent message was acknowledged: events up to then are settled, and list rows are
    /// disregarded while it stays 0 (a list that failed to refetch must not keep alerting).
    pub fn count(&mut self, count: Option<i64>) {
        if count == Some(0) && self.count != Some(0) {
            self.known.clear();
        }
        self.count = count;
    }

    /// Conversations with an urgent message waiting, in id order.
    pub fn pending(&self) -> BTreeSet<String> {
        let mut pending: BTreeSet<String> = self.known.keys().cloned().collect();
        if self.count != Some(0) {
            pending.extend(
                self.rows
                    .iter()
                    .filter(|(_, r)| r.unacked > 0)
                    .map(|(id, _)| id.clone()),
            );
        }
        pending
    }

    /// The text a reminder quotes: the oldest event-known urgent message's, if any.
    pub fn reminder_text(&self, conversation_id: &str) -> Option<&str> {
        self.known
            .get(conversation_id)?
            .values()
            .min_by(|a, b| a.created_at.cmp(&b.created_at))
            .map(|k| k.text.as_str())
    }

    /// The conversations due a reminder at `now`, advancing their schedule. A pending
    /// conversation nobody was alerted about yet (learned from the list) is due at once.
    /// The next reminder keeps the cadence (due + interval) unless the clock jumped past it
    /// (a sleeping laptop), which restarts it from now.
    pub fn due(&mut self, now: f64) -> Vec<String> {
        let mut due = Vec::new();
        for conversation in self.pending() {
            let next = self.next_due.get(&conversation).copied();
            if next.is_some_and(|at| now < at) {
                continue;
            }
            let following = match next {
                Some(at) if now - at < self.interval_ms => at + self.interval_ms,
                _ => now + self.interval_ms,
            };
            self.next_due.insert(conversation.clone(), following);
            due.push(conversation);
        }
        // A schedule that is already due is the same as none: keep only those that still
        // hold back a conversation that might start pending again.
        let pending = self.pending();
        self.next_due
            .retain(|c, at| pending.contains(c) || *at > now);
        due
    }

    /// When the next reminder falls due (ms), if anything is pending.
    pub fn next_due_at(&self, now: f64) -> Option<f64> {
        self.pending()
            .iter()
            .map(|c| self.next_due.get(c).copied().unwrap_or(now))
            .reduce(f64::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: f64 = 3_000.0;

    fn row(id: &str, unacked: i64, last: &str, oldest: Option<&str>) -> ConversationSummary {
        ConversationSummary {
            id: id.into(),
            medic_id: "medic-1".into(),
            medic_name: "Jordan".into(),
            last_message_at: Some(last.into()),
            last_message_preview: None,
            unread_count: 0,
            unacked_urgent: unacked,
            oldest_unacked_urgent_at: oldest.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn an_urgent_event_repeats_every_interval_until_acknowledged() {
        let mut e = Escalation::new(R);
        e.urgent_arrived("c1", "m1", "t01", "help", 0.0);
        assert!(e.due(1.0).is_empty(), "just alerted by the event itself");
        assert!(e.due(R - 1.0).is_empty());
        assert_eq!(e.due(R), vec!["c1".to_string()]);
        assert!(e.due(R + 500.0).is_empty(), "once per interval");
        assert_eq!(e.next_due_at(R + 500.0), Some(2.0 * R));
        e.acknowledged("m1");
        assert!(e.pending().is_empty());
        assert!(e.due(2.0 * R).is_empty());
        assert_eq!(e.next_due_at(2.0 * R), None);
    }

    #[test]
    fn the_cadence_holds_with_late_ticks_and_restarts_after_a_sleep() {
        let mut e = Escalation::new(R);
        e.urgent_arrived("c1", "m1", "t01", "help", 0.0);
        assert_eq!(e.due(R + 900.0).len(), 1, "a tick 0.9 s late");
        assert!(e.due(2.0 * R - 1.0).is_empty());
        assert_eq!(e.due(2.0 * R).len(), 1, "back on the grid");
        assert_eq!(e.due(10.0 * R).len(), 1, "woke from sleep: one reminder");
        assert!(
            e.due(10.0 * R + 1.0).is_empty(),
            "not a burst of missed ones"
        );
        assert_eq!(e.due(11.0 * R).len(), 1);
    }

    #[test]
    fn what_the_list_shows_is_due_at_once_and_stops_when_it_clears() {
        let mut e = Escalation::new(R);
        e.rows(&[row("c1", 1, "t05", Some("t05")), row("c2", 0, "t04", None)]);
        assert_eq!(
            e.due(100.0),
            vec!["c1".to_string()],
            "missed while away: alert now"
        );
        assert!(e.due(200.0).is_empty());
        assert_eq!(e.due(100.0 + R).len(), 1);
        e.rows(&[row("c1", 0, "t05", None)]);
        assert!(e.due(100.0 + 2.0 * R).is_empty());
    }

    #[test]
    fn the_counter_dropping_to_zero_stops_everything() {
        let mut e = Escalation::new(R);
        e.count(Some(2));
        e.rows(&[row("c1", 1, "t05", Some("t05"))]);
        e.urgent_arrived("c2", "m9", "t09", "x", 0.0);
        assert_eq!(e.pending().len(), 2);
        e.count(Some(0));
        assert!(e.pending().is_empty(), "even with a list not yet refetched");
        e.count(Some(1));
        assert_eq!(
            e.pending().into_iter().collect::<Vec<_>>(),
            ["c1"],
            "rows count again once it rises"
        );
    }

    #[test]
    fn an_event_after_the_counter_read_zero_still_counts() {
        let mut e = Escalation::new(R);
        e.count(Some(0));
        e.urgent_arrived("c1", "m1", "t01", "x", 0.0);
        e.count(Some(0));
        assert_eq!(
            e.pending().len(),
            1,
            "a stale 0 is not a drop and clears nothing"
        );
    }

    #[test]
    fn a_stale_list_neither_clears_an_event_nor_adds_an_alert() {
        let mut e = Escalation::new(R);
        e.urgent_arrived("c1", "m2", "t10", "x", 0.0);
        // A refetch in flight before the message committed: older than it.
        e.rows(&[row("c1", 0, "t09", None)]);
        assert_eq!(e.pending().len(), 1, "an older row cannot speak for m2");
        // The fresh one.
        e.rows(&[row("c1", 1, "t10", Some("t10"))]);
        assert!(
            e.due(10.0).is_empty(),
            "no second alert for the same message"
        );
        // Acknowledged: the event clears it; the stale list (still 1) then flickers it back
        // for a moment, then the fresh list clears it for good, without an extra alert.
        e.acknowledged("m2");
        e.rows(&[row("c1", 0, "t10", None)]);
        assert!(e.pending().is_empty());
        e.rows(&[row("c1", 1, "t10", Some("t10"))]);
        assert!(e.due(20.0).is_empty(), "the schedule outlived the flicker");
        e.rows(&[row("c1", 0, "t10", None)]);
        assert!(e.due(R).is_empty());
    }

    #[test]
    fn a_fresh_list_settles_a_missed_acknowledgement() {
        let mut e = Escalation::new(R);
        e.urgent_arrived("c1", "m1", "t01", "x", 0.0);
        e.urgent_arrived("c1", "m2", "t02", "y", 0.0);
        assert_eq!(e.reminder_text("c1"), Some("x"), "the oldest waiting");
        // The ack of m1 was lost with the connection; the refetch after the rejoin shows m2
        // as the oldest still waiting.
        e.rows(&[row("c1", 1, "t02", Some("t02"))]);
        assert_eq!(e.reminder_text("c1"), Some("y"));
        e.rows(&[row("c1", 0, "t03", None)]);
        assert!(e.pending().is_empty());
        assert_eq!(e.reminder_text("c1"), None);
    }

    #[test]
    fn the_interval_has_a_floor() {
        assert_eq!(Escalation::new(0.0).interval_ms(), 1_000.0);
    }
}

//! One tab's alerting as a pure reducer: inputs (events, list answers, ticks, the lock, what
//! this and other tabs show) in, commands (notify, play, close, announce, lock calls) out.
//!
//! Every tab runs the whole machine and keeps the same escalation state from its own
//! realtime connection; only the elected tab (see `election.rs`) is given the commands that
//! make noise. So a hand-over continues the schedule instead of restarting it, and an
//! acknowledgement stops the reminders in every tab as soon as its event arrives.
//!
//! Tabs also tell each other which conversation they show while visible and focused (over a
//! `BroadcastChannel`), so the alerting tab does not alert about a message the dispatcher is
//! reading in another tab. A tab repeats that news every [`ANNOUNCE_MS`] while it lasts and
//! the others believe it for [`VIEW_TTL_MS`]: a tab that crashed cannot silence alerts for
//! long. (A visible, focused tab is never throttled, so its repeats arrive on time.)

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::decide::{
    alert_for, incoming, other_side_name, read_change, same_org, Alert, Change, Me,
};
use super::election::{Election, ElectionCommand, ElectionInput};
use super::escalation::Escalation;
use super::sound::Tone;
use crate::api::{ConversationSummary, Priority};

/// How often a tab that shows a conversation repeats it to the others, in ms.
pub const ANNOUNCE_MS: f64 = 2_000.0;
/// How long another tab's "I show conversation X" counts, in ms.
pub const VIEW_TTL_MS: f64 = 5_000.0;

/// Inputs. Times are ms on the caller's clock (`Date.now()` in the browser).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Begin: join the election. `locks` says whether `navigator.locks` exists.
    Start {
        /// Whether the Web Locks API is available.
        locks: bool,
    },
    /// The lock request `attempt` was granted.
    LockGranted(u32),
    /// The lock request `attempt` failed, or the held lock was taken.
    LockLost(u32),
    /// Stop for good: release the lock, tell the others this tab shows nothing.
    Stop,
    /// A delivered postgres_changes `data` object (`RealtimeClient::on_change`).
    Change {
        /// The event's `data`.
        data: Value,
        /// When it arrived.
        now: f64,
    },
    /// A new answer of `conversations_with_unread`.
    Conversations(Vec<ConversationSummary>),
    /// A new value of `unacked_urgent_total`.
    UrgentCount(Option<i64>),
    /// What this tab shows: `Some(conversation)` while the tab is visible and focused with
    /// that conversation open, else `None`.
    View {
        /// The conversation the reader sees.
        conversation: Option<String>,
        /// When that became so.
        now: f64,
    },
    /// Another tab's [`Command::Announce`].
    PeerView {
        /// That tab's id.
        tab: String,
        /// The conversation it shows, visible and focused, or `None`.
        conversation: Option<String>,
        /// When it was heard.
        now: f64,
    },
    /// The clock ticked (about once a second).
    Tick {
        /// The time.
        now: f64,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Ask for the alerts lock (`navigator.locks.request`), tagged with this attempt.
    RequestLock(u32),
    /// Settle the held lock's promise.
    ReleaseLock,
    /// Abort the queued lock request.
    AbortLock,
    /// Show (or replace, same tag) a desktop notification, if the dispatcher turned them on.
    Notify(Alert),
    /// Play a tone, if the dispatcher turned sound on.
    Sound(Tone),
    /// Close the notification with this tag (conversation id): it was read or acknowledged.
    Close(String),
    /// Tell the other tabs what this one shows (`None`: nothing).
    Announce(Option<String>),
    /// This tab became (true) or stopped being (false) the one that alerts.
    Leader(bool),
}

/// One tab's alerting state.
#[derive(Debug, Clone)]
pub struct AlertMachine {
    me: Me,
    election: Election,
    escalation: Escalation,
    conversations: Vec<ConversationSummary>,
    view: Option<String>,
    peers: BTreeMap<String, (String, f64)>,
    announced: Option<String>,
    announced_at: f64,
    leader: bool,
    stopped: bool,
}

impl AlertMachine {
    /// A machine for `me`, reminding every `realert_ms` (`urgent_realert_seconds` × 1000).
    pub fn new(me: Me, realert_ms: f64) -> Self {
        AlertMachine {
            me,
            election: Election::default(),
            escalation: Escalation::new(realert_ms),
            conversations: Vec::new(),
            view: None,
            peers: BTreeMap::new(),
            announced: None,
            announced_at: 0.0,
            leader: false,
            stopped: false,
        }
    }

    /// Whether this tab alerts.
    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// Conversations with an urgent message waiting for acknowledgement.
    pub fn pending(&self) -> BTreeSet<String> {
        self.escalation.pending()
    }

    /// Whether the reader sees `conversation` now, in this tab or another.
    fn sees(&self, conversation: &str, now: f64) -> bool {
        self.view.as_deref() == Some(conversation)
            || self
                .peers
                .values()
                .any(|(c, at)| c == conversation && now - at <= VIEW_TTL_MS)
    }

    fn election(&mut self, input: ElectionInput, out: &mut Vec<Command>) {
        for command in self.election.step(input) {
            out.push(match command {
                ElectionCommand::Request(a) => Command::RequestLock(a),
                ElectionCommand::Release => Command::ReleaseLock,
                ElectionCommand::Abort => Command::AbortLock,
            });
        }
        let leader = self.election.is_leader();
        if leader != self.leader {
            self.leader = leader;
            out.push(Command::Leader(leader));
        }
    }

    /// Applies `change` to the escalation; the leader closes the notifications of
    /// conversations that stopped waiting.
    fn settle(&mut self, out: &mut Vec<Command>, change: impl FnOnce(&mut Escalation)) {
        let before = self.escalation.pending();
        change(&mut self.escalation);
        let after = self.escalation.pending();
        if self.leader {
            out.extend(before.difference(&after).cloned().map(Command::Close));
        }
    }

    fn reminder(&self, conversation: &str) -> Alert {
        let row = self.conversations.iter().find(|c| c.id == conversation);
        let name = other_side_name(&self.me, row);
        let text = self
            .escalation
            .reminder_text(conversation)
            .map(str::to_string)
            .or_else(|| row.and_then(|r| r.last_message_preview.clone()))
            .unwrap_or_default();
        Alert::reminder(conversation, name.as_deref(), &text)
    }

    fn announce(&mut self, now: f64, out: &mut Vec<Command>) {
        self.announced = self.view.clone();
        self.announced_at = now;
        out.push(Command::Announce(self.view.clone()));
    }

    /// Applies one input.
    pub fn step(&mut self, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        if self.stopped {
            // Only a grant that raced the abort still needs an answer: hand it on.
            if let Input::LockGranted(a) = input {
                self.election(ElectionInput::Granted(a), &mut out);
            }
            return out;
        }
        match input {
            Input::Start { locks } => self.election(ElectionInput::Start { locks }, &mut out),
            Input::LockGranted(a) => self.election(ElectionInput::Granted(a), &mut out),
            Input::LockLost(a) => self.election(ElectionInput::Lost(a), &mut out),
            Input::Stop => {
                self.election(ElectionInput::Stop, &mut out);
                if self.announced.is_some() {
                    self.view = None;
                    out.push(Command::Announce(None));
                }
                self.stopped = true;
            }
            Input::Change { data, now } => match read_change(&data) {
                Change::Message(message) => {
                    let seen = self.sees(&message.conversation_id, now);
                    let from = incoming(&message, &self.me, &self.conversations);
                    if from
                        .as_ref()
                        .is_some_and(|f| f.priority == Priority::Urgent)
                    {
                        // Seen or alerted, the clock of its reminders starts now.
                        self.escalation.urgent_arrived(
                            &message.conversation_id,
                            &message.id,
                            &message.created_at,
                            &message.body,
                            now,
                        );
                    }
                    if let Some(alert) = alert_for(&message, &self.me, &self.conversations, seen) {
                        if self.leader {
                            out.push(Command::Sound(alert.tone()));
                            out.push(Command::Notify(alert));
                        }
                    }
                }
                Change::Ack { message_id, org_id } => {
                    if same_org(&self.me, org_id.as_deref()) {
                        self.settle(&mut out, |e| e.acknowledged(&message_id));
                    }
                }
                Change::Other => {}
            },
            Input::Conversations(list) => {
                self.settle(&mut out, |e| e.rows(&list));
                self.conversations = list;
            }
            Input::UrgentCount(count) => self.settle(&mut out, |e| e.count(count)),
            Input::View { conversation, now } => {
                self.view = conversation;
                if self.view != self.announced {
                    self.announce(now, &mut out);
                }
                if let (true, Some(c)) = (self.leader, &self.view) {
                    out.push(Command::Close(c.clone()));
                }
            }
            Input::PeerView {
                tab,
                conversation,
                now,
            } => match conversation {
                Some(c) => {
                    if self.leader {
                        out.push(Command::Close(c.clone()));
                    }
                    self.peers.insert(tab, (c, now));
                }
                None => {
                    self.peers.remove(&tab);
                }
            },
            Input::Tick { now } => {
                if self.view.is_some() && now - self.announced_at >= ANNOUNCE_MS {
                    self.announce(now, &mut out);
                }
                self.peers.retain(|_, (_, at)| now - *at <= VIEW_TTL_MS);
                // Every tab advances the schedule; only the leader makes the noise.
                let due = self.escalation.due(now);
                if self.leader && !due.is_empty() {
                    out.push(Command::Sound(Tone::Urgent));
                    for conversation in due {
                        out.push(Command::Notify(self.reminder(&conversation)));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::decide::tests::{dispatcher, insert, medic, row};
    use super::super::decide::AlertKind;
    use super::*;
    use serde_json::json;

    const REALERT: f64 = 3_000.0;

    fn leader() -> AlertMachine {
        let mut m = AlertMachine::new(dispatcher(), REALERT);
        assert_eq!(
            m.step(Input::Start { locks: true }),
            vec![Command::RequestLock(1)]
        );
        assert_eq!(m.step(Input::LockGranted(1)), vec![Command::Leader(true)]);
        m.step(Input::Conversations(vec![row(
            "c1",
            "medic-1",
            "Jordan Reyes",
        )]));
        m
    }

    fn change(data: Value, now: f64) -> Input {
        Input::Change { data, now }
    }

    fn ack(message_id: &str) -> Value {
        json!({"table": "message_acks", "type": "INSERT", "record": {
            "message_id": message_id, "org_id": "o1", "user_id": "ben", "acked_at": "x"}})
    }

    fn notifications(out: &[Command]) -> Vec<&Alert> {
        out.iter()
            .filter_map(|c| match c {
                Command::Notify(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    fn sounds(out: &[Command]) -> Vec<Tone> {
        out.iter()
            .filter_map(|c| match c {
                Command::Sound(t) => Some(*t),
                _ => None,
            })
            .collect()
    }

    /// Ticks every `step` ms over `(from, to]`, collecting the output.
    fn run(m: &mut AlertMachine, from: f64, to: f64, step: f64) -> Vec<(f64, Command)> {
        let mut out = Vec::new();
        let mut t = from;
        while t + step <= to {
            t += step;
            out.extend(m.step(Input::Tick { now: t }).into_iter().map(|c| (t, c)));
        }
        out
    }

    #[test]
    fn an_urgent_message_realerts_until_acknowledged() {
        let mut m = leader();
        // t = 0: the urgent message arrives and alerts at once.
        let out = m.step(change(insert("m1", "c1", "medic-1", "urgent"), 0.0));
        assert_eq!(sounds(&out), vec![Tone::Urgent]);
        let alerts = notifications(&out);
        assert_eq!(alerts.len(), 1);
        assert!(alerts[0].urgent && alerts[0].require_interaction());
        assert_eq!(alerts[0].kind, AlertKind::NewMessage);

        // Nothing until t = realert, then the reminder (sound + notification, same tag).
        let quiet = run(&mut m, 0.0, REALERT - 250.0, 250.0);
        assert!(quiet.is_empty(), "{quiet:?}");
        let out = m.step(Input::Tick { now: REALERT });
        assert_eq!(sounds(&out), vec![Tone::Urgent]);
        let reminders = notifications(&out);
        assert_eq!(reminders.len(), 1);
        assert_eq!(reminders[0].kind, AlertKind::Reminder);
        assert_eq!(reminders[0].tag(), "c1");
        assert_eq!(
            reminders[0].body,
            "Jordan Reyes: Patient coding, need a second unit"
        );

        // Acknowledged at t = realert + 500 by a colleague: the notification goes, and so do
        // the reminders, at once.
        let out = m.step(change(ack("m1"), REALERT + 500.0));
        assert_eq!(out, vec![Command::Close("c1".into())]);
        let after = run(&mut m, REALERT + 500.0, 10.0 * REALERT, 250.0);
        assert!(after.is_empty(), "{after:?}");
    }

    #[test]
    fn a_dropping_counter_stops_reminders_within_a_tick() {
        let mut m = leader();
        m.step(Input::UrgentCount(Some(0)));
        m.step(change(insert("m1", "c1", "medic-1", "urgent"), 0.0));
        m.step(Input::UrgentCount(Some(1)));
        assert_eq!(
            notifications(&m.step(Input::Tick { now: REALERT })).len(),
            1
        );
        // The ack event was missed (reconnect); the refetch after the rejoin says 0.
        let out = m.step(Input::UrgentCount(Some(0)));
        assert_eq!(out, vec![Command::Close("c1".into())]);
        assert!(run(&mut m, REALERT, 5.0 * REALERT, 1_000.0).is_empty());
    }

    #[test]
    fn urgent_messages_waiting_at_sign_in_are_reminded_at_once() {
        let mut m = leader();
        let mut waiting = row("c1", "medic-1", "Jordan Reyes");
        waiting.unacked_urgent = 1;
        waiting.last_message_preview = Some("Need a second unit".into());
        m.step(Input::Conversations(vec![waiting]));
        let out = m.step(Input::Tick { now: 1_000.0 });
        assert_eq!(sounds(&out), vec![Tone::Urgent]);
        assert_eq!(
            notifications(&out)[0].body,
            "Jordan Reyes: Need a second unit"
        );
    }

    #[test]
    fn several_due_conversations_get_one_sound_and_a_notification_each() {
        let mut m = leader();
        m.step(Input::Conversations(vec![
            row("c1", "medic-1", "Jordan Reyes"),
            row("c2", "medic-2", "Sam Lee"),
        ]));
        m.step(change(insert("m1", "c1", "medic-1", "urgent"), 0.0));
        m.step(change(insert("m2", "c2", "medic-2", "urgent"), 0.0));
        let out = m.step(Input::Tick { now: REALERT });
        assert_eq!(sounds(&out).len(), 1);
        let tags: Vec<&str> = notifications(&out).iter().map(|a| a.tag()).collect();
        assert_eq!(tags, ["c1", "c2"]);
    }

    #[test]
    fn routine_messages_chime_once_and_bursts_share_a_notification() {
        let mut m = leader();
        let first = m.step(change(insert("m1", "c1", "medic-1", "routine"), 0.0));
        let second = m.step(change(insert("m22", "c1", "medic-1", "routine"), 10.0));
        assert_eq!(sounds(&first), vec![Tone::Message]);
        assert_eq!(
            notifications(&first)[0].tag(),
            notifications(&second)[0].tag()
        );
        assert!(!notifications(&first)[0].require_interaction());
        assert!(
            run(&mut m, 10.0, 5.0 * REALERT, 1_000.0).is_empty(),
            "no reminders"
        );
    }

    #[test]
    fn only_the_leader_alerts_and_a_new_leader_keeps_the_schedule() {
        let mut a = leader();
        let mut b = AlertMachine::new(dispatcher(), REALERT);
        assert_eq!(
            b.step(Input::Start { locks: true }),
            vec![Command::RequestLock(1)]
        );
        b.step(Input::Conversations(vec![row(
            "c1",
            "medic-1",
            "Jordan Reyes",
        )]));
        let event = insert("m1", "c1", "medic-1", "urgent");
        let from_a = a.step(change(event.clone(), 0.0));
        let from_b = b.step(change(event, 5.0));
        assert_eq!(
            notifications(&from_a).len() + notifications(&from_b).len(),
            1
        );
        assert!(from_b.is_empty(), "the follower stays quiet");
        assert!(b.step(Input::Tick { now: REALERT + 5.0 }).is_empty());
        assert_eq!(
            notifications(&a.step(Input::Tick { now: REALERT })).len(),
            1
        );

        // The leader's tab closes half-way to the next reminder; b is granted the lock.
        assert_eq!(
            a.step(Input::Stop),
            vec![Command::ReleaseLock, Command::Leader(false)]
        );
        assert_eq!(b.step(Input::LockGranted(1)), vec![Command::Leader(true)]);
        assert!(
            b.step(Input::Tick { now: 1.5 * REALERT }).is_empty(),
            "no catch-up alert at the hand-over"
        );
        assert_eq!(
            notifications(&b.step(Input::Tick {
                now: 2.0 * REALERT + 5.0
            }))
            .len(),
            1,
            "the schedule goes on"
        );
        assert!(
            a.step(Input::Tick { now: 3.0 * REALERT }).is_empty(),
            "stopped"
        );
    }

    #[test]
    fn a_message_the_reader_sees_does_not_alert_but_is_still_reminded() {
        let mut m = leader();
        let out = m.step(Input::View {
            conversation: Some("c1".into()),
            now: 0.0,
        });
        assert_eq!(
            out,
            vec![
                Command::Announce(Some("c1".into())),
                Command::Close("c1".into())
            ]
        );
        assert!(m
            .step(change(insert("m1", "c1", "medic-1", "urgent"), 100.0))
            .is_empty());
        m.step(Input::View {
            conversation: None,
            now: 200.0,
        });
        let out = m.step(Input::Tick {
            now: 100.0 + REALERT,
        });
        assert_eq!(notifications(&out).len(), 1, "seen is not acknowledged");
    }

    #[test]
    fn another_tab_showing_the_conversation_counts_as_seen_for_a_while() {
        let mut m = leader();
        m.step(Input::PeerView {
            tab: "t2".into(),
            conversation: Some("c1".into()),
            now: 0.0,
        });
        assert!(m
            .step(change(insert("m1", "c1", "medic-1", "routine"), 1_000.0))
            .is_empty());
        // That tab went silent (crashed): after the TTL its word no longer counts.
        m.step(Input::Tick {
            now: VIEW_TTL_MS + 1.0,
        });
        let out = m.step(change(
            insert("m2", "c1", "medic-1", "routine"),
            VIEW_TTL_MS + 1.0,
        ));
        assert_eq!(notifications(&out).len(), 1);
        // And it says so itself when it stops showing it.
        m.step(Input::PeerView {
            tab: "t2".into(),
            conversation: Some("c1".into()),
            now: 7_000.0,
        });
        m.step(Input::PeerView {
            tab: "t2".into(),
            conversation: None,
            now: 7_100.0,
        });
        let out = m.step(change(insert("m3", "c1", "medic-1", "routine"), 7_200.0));
        assert_eq!(notifications(&out).len(), 1);
    }

    #[test]
    fn a_showing_tab_repeats_itself_and_says_goodbye() {
        let mut m = AlertMachine::new(dispatcher(), REALERT);
        m.step(Input::Start { locks: true });
        m.step(Input::View {
            conversation: Some("c1".into()),
            now: 0.0,
        });
        let announces: Vec<f64> = run(&mut m, 0.0, 5_000.0, 1_000.0)
            .into_iter()
            .filter(|(_, c)| matches!(c, Command::Announce(_)))
            .map(|(t, _)| t)
            .collect();
        assert_eq!(announces, [2_000.0, 4_000.0]);
        assert_eq!(
            m.step(Input::View {
                conversation: Some("c1".into()),
                now: 5_000.0
            }),
            Vec::new(),
            "no change, nothing to say"
        );
        assert_eq!(
            m.step(Input::Stop),
            vec![Command::AbortLock, Command::Announce(None)]
        );
        assert!(m.step(Input::Tick { now: 9_000.0 }).is_empty());
        assert_eq!(m.step(Input::LockGranted(1)), vec![Command::ReleaseLock]);
    }

    #[test]
    fn acknowledgements_from_another_org_or_of_other_messages_change_nothing() {
        let mut m = leader();
        m.step(change(insert("m1", "c1", "medic-1", "urgent"), 0.0));
        let foreign = json!({"table": "message_acks", "type": "INSERT",
            "record": {"message_id": "m1", "org_id": "o2"}});
        assert!(m.step(change(foreign, 10.0)).is_empty());
        assert!(m.step(change(ack("m-other"), 20.0)).is_empty());
        assert_eq!(m.pending().len(), 1);
    }

    #[test]
    fn own_side_urgent_messages_are_not_escalated_to_me() {
        let mut m = leader();
        assert!(m
            .step(change(insert("m1", "c1", "ben", "urgent"), 0.0))
            .is_empty());
        assert!(m.pending().is_empty());
    }

    #[test]
    fn a_medic_is_reminded_of_dispatch_orders() {
        let mut m = AlertMachine::new(medic(), REALERT);
        m.step(Input::Start { locks: false });
        assert!(m.is_leader(), "no Web Locks: alert alone");
        m.step(Input::Conversations(vec![row(
            "c1",
            "medic-1",
            "Jordan Reyes",
        )]));
        let out = m.step(change(insert("m1", "c1", "ana", "urgent"), 0.0));
        assert_eq!(
            notifications(&out)[0].body,
            "Dispatch: Patient coding, need a second unit"
        );
        let out = m.step(Input::Tick { now: REALERT });
        assert_eq!(
            notifications(&out)[0].body,
            "Dispatch: Patient coding, need a second unit"
        );
    }
}

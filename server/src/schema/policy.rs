//! Who may see and write which rows: one [`Rule`] per table, used in every form it is needed.
//!
//! Each table in [`TABLES`](super::tables::TABLES) names its rule. A rule is evaluated as
//! - SQL ([`Rule::sql`]): the predicate REST reads run under, as PostgREST would get from
//!   Postgres row-level security, so rows a user may not see are simply absent;
//! - a predicate on a row's [`Ownership`] ([`Rule::allows`]): whether a committed change may
//!   reach a Realtime subscriber, as Realtime's `apply_rls` re-checks each change;
//! - a write check ([`may_write`]): what an RLS `WITH CHECK` would refuse;
//! - the columns it pins to the caller ([`Rule::pinned`]): a Realtime filter asking for
//!   other values there reaches outside the caller's rights and is refused at join.
//!
//! The tests below hold all forms to one matrix of tables, roles and rows.

use crate::auth::jwt::{AppRole, Principal};

/// Who a row belongs to: the facts every rule is decided on. Whoever writes a row knows
/// them (a message's medic is its conversation's), so a change carries them to Realtime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    /// Organisation that owns the row.
    pub org_id: String,
    /// For rows of a conversation (the conversation itself, its messages, read markers of
    /// it), the conversation's medic.
    pub medic_id: Option<String>,
    /// For per-user rows (read markers), the user.
    pub user_id: Option<String>,
}

/// Where a conversation-scoped row names its conversation's medic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MedicOf {
    /// The row is a conversation; this column holds its medic.
    Column(&'static str),
    /// The row belongs to the conversation whose id this column holds.
    Conversation(&'static str),
    /// The row belongs to the message whose id this column holds (an acknowledgement); the
    /// medic is that message's conversation's.
    Message(&'static str),
}

/// A table's access rule. Every rule keeps rows inside the caller's organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Everyone in the organisation whose id this column holds.
    Org(&'static str),
    /// The organisation's dispatchers, and the conversation's own medic.
    Conversation {
        /// Column holding the organisation.
        org: &'static str,
        /// Where the conversation's medic is found.
        medic: MedicOf,
    },
    /// Only the user whose id this column holds.
    Own(&'static str),
    /// Only the dispatchers of the organisation whose id this column holds; medics see none
    /// (an org's dispatch-side settings, such as its canned replies).
    Dispatchers(&'static str),
}

/// A SQL boolean expression with its bound parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// SQL text with `?` placeholders.
    pub sql: String,
    /// Parameters in placeholder order.
    pub params: Vec<String>,
}

impl Rule {
    /// The rule as SQL over rows aliased `alias`, for `who`. It leans on the stored data's
    /// own consistency (a medic's conversations are in the medic's organisation) to use one
    /// indexed column per case.
    pub fn sql(self, alias: &str, who: &Principal) -> Condition {
        let (sql, param) = match (self, who.role) {
            (Rule::Org(org), _)
            | (Rule::Conversation { org, .. }, AppRole::Dispatcher)
            | (Rule::Dispatchers(org), AppRole::Dispatcher) => {
                (format!("{alias}.{org} = ?"), &who.org_id)
            }
            (Rule::Dispatchers(_), AppRole::Medic) => {
                return Condition {
                    sql: "0".to_string(),
                    params: Vec::new(),
                }
            }
            (
                Rule::Conversation {
                    medic: MedicOf::Column(medic),
                    ..
                },
                AppRole::Medic,
            ) => (format!("{alias}.{medic} = ?"), &who.user_id),
            (
                Rule::Conversation {
                    medic: MedicOf::Conversation(conversation),
                    ..
                },
                AppRole::Medic,
            ) => (
                format!(
                    "{alias}.{conversation} IN (SELECT id FROM conversations WHERE medic_id = ?)"
                ),
                &who.user_id,
            ),
            // Correlated on the message's key: one indexed lookup per row, which is what an
            // embed of one acknowledgement per message needs.
            (
                Rule::Conversation {
                    medic: MedicOf::Message(message),
                    ..
                },
                AppRole::Medic,
            ) => (
                format!(
                    "EXISTS (SELECT 1 FROM messages rule_m JOIN conversations rule_c \
                     ON rule_c.id = rule_m.conversation_id \
                     WHERE rule_m.id = {alias}.{message} AND rule_c.medic_id = ?)"
                ),
                &who.user_id,
            ),
            (Rule::Own(user), _) => (format!("{alias}.{user} = ?"), &who.user_id),
        };
        Condition {
            sql,
            params: vec![param.clone()],
        }
    }

    /// Whether `who` may see a row owned as `owner`.
    pub fn allows(self, owner: &Ownership, who: &Principal) -> bool {
        if owner.org_id != who.org_id {
            return false;
        }
        let me = Some(who.user_id.as_str());
        match (self, who.role) {
            (Rule::Org(_), _) | (Rule::Conversation { .. }, AppRole::Dispatcher) => true,
            (Rule::Conversation { .. }, AppRole::Medic) => owner.medic_id.as_deref() == me,
            (Rule::Own(_), _) => owner.user_id.as_deref() == me,
            (Rule::Dispatchers(_), role) => role == AppRole::Dispatcher,
        }
    }

    /// The one value `who` may ask for in `column`, when the rule pins that column to the
    /// caller (their organisation, their own id); `None` for columns it leaves open.
    pub fn pinned<'a>(self, column: &str, who: &'a Principal) -> Option<&'a str> {
        match (self, who.role) {
            (Rule::Org(org) | Rule::Conversation { org, .. } | Rule::Dispatchers(org), _)
                if column == org =>
            {
                Some(&who.org_id)
            }
            (
                Rule::Conversation {
                    medic: MedicOf::Column(medic),
                    ..
                },
                AppRole::Medic,
            ) if column == medic => Some(&who.user_id),
            (Rule::Own(user), _) if column == user => Some(&who.user_id),
            _ => None,
        }
    }

    /// The columns the rule reads.
    pub fn columns(self) -> Vec<&'static str> {
        match self {
            Rule::Org(c) | Rule::Own(c) | Rule::Dispatchers(c) => vec![c],
            Rule::Conversation {
                org,
                medic: MedicOf::Column(m) | MedicOf::Conversation(m) | MedicOf::Message(m),
            } => vec![org, m],
        }
    }
}

/// The write check of a row of `table` owned as `owner`: the writer must be able to see the
/// row once written, and, for a row of a conversation, that conversation (a foreign key under
/// row-level security reaches only visible rows).
pub fn may_write(table: &super::Table, owner: &Ownership, who: &Principal) -> bool {
    let conversation_visible =
        owner.medic_id.is_none() || super::tables::CONVERSATIONS.access.allows(owner, who);
    table.access.allows(owner, who) && conversation_visible
}

/// Whether `who` may start a conversation with the user `medic_id`, found in the database as
/// `medic` (that user's organisation and role; `None` when there is no such user). The new
/// conversation belongs to the caller's organisation (from the token), so the named user
/// must be a medic of that organisation, and the caller must be able to see the
/// conversation once written ([`may_write`]): a dispatcher starts one with any medic of
/// the org, a medic only with themselves. The hosted policy `conversations_start` holds the
/// same rule (ARCHITECTURE.md, "Backend parity").
pub fn may_start_conversation(
    medic_id: &str,
    medic: Option<(&str, &str)>,
    who: &Principal,
) -> bool {
    let owner = Ownership {
        org_id: who.org_id.clone(),
        medic_id: Some(medic_id.to_string()),
        user_id: None,
    };
    medic.is_some_and(|(org, role)| org == who.org_id && role == "medic")
        && may_write(&super::tables::CONVERSATIONS, &owner, who)
}

/// Why an acknowledgement of a message the caller can see is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckRefusal {
    /// The message is routine: only urgent messages are acknowledged (400, `22023`).
    Routine,
    /// The caller is not on the receiving side of the message (403, `42501`).
    NotReceiver,
}

/// The acknowledgement rule, for a message `who` can already see (visibility is the
/// messages table's [`Rule`]): only an urgent message, and only by its receiving side. A
/// medic's message is acknowledged by a dispatcher of the org; a dispatcher's message by the
/// conversation's own medic. So never by its sender, another dispatcher of a dispatcher's
/// message, or another medic. `supabase/migrations/` holds the same rule in
/// `acknowledge_message`, checked in the same order.
pub fn may_acknowledge(
    urgent: bool,
    sender_id: &str,
    conversation_medic_id: &str,
    who: &Principal,
) -> Result<(), AckRefusal> {
    if !urgent {
        return Err(AckRefusal::Routine);
    }
    let from_medic = sender_id == conversation_medic_id;
    let receiver = match who.role {
        AppRole::Dispatcher => from_medic,
        AppRole::Medic => !from_medic && who.user_id == conversation_medic_id,
    };
    if receiver && who.user_id != sender_id {
        Ok(())
    } else {
        Err(AckRefusal::NotReceiver)
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::schema::tables::{table, Table, CONVERSATIONS, MESSAGES, READ_STATE};

    const A: &str = "org-a";
    const B: &str = "org-b";

    /// Org A: dispatcher `d`, medics `m` and `n`; org B: dispatcher `e`, medic `p`. Each
    /// medic has one conversation (`c-m`, `c-n`, `c-p`) with one urgent message in it, which
    /// its org's dispatcher has acknowledged; each org has one canned reply.
    fn world() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        crate::rest::search::register_functions(&conn).unwrap();
        for sql in crate::db::migrations::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO orgs VALUES ('org-a', 'A'), ('org-b', 'B');
             INSERT INTO users (id, org_id, email, password_hash, display_name, role) VALUES
               ('d', 'org-a', 'd@a', 'x', 'D', 'dispatcher'), ('m', 'org-a', 'm@a', 'x', 'M', 'medic'),
               ('n', 'org-a', 'n@a', 'x', 'N', 'medic'), ('e', 'org-b', 'e@b', 'x', 'E', 'dispatcher'),
               ('p', 'org-b', 'p@b', 'x', 'P', 'medic');
             INSERT INTO conversations (id, org_id, medic_id, created_at) VALUES
               ('c-m', 'org-a', 'm', 't'), ('c-n', 'org-a', 'n', 't'), ('c-p', 'org-b', 'p', 't');
             INSERT INTO messages (id, org_id, conversation_id, sender_id, body, created_at, priority) VALUES
               ('msg-m', 'org-a', 'c-m', 'm', 'hi', 't', 'urgent'), ('msg-n', 'org-a', 'c-n', 'n', 'hi', 't', 'urgent'),
               ('msg-p', 'org-b', 'c-p', 'p', 'hi', 't', 'urgent');
             INSERT INTO read_state VALUES
               ('d', 'c-m', 't'), ('m', 'c-m', 't'), ('n', 'c-n', 't'), ('p', 'c-p', 't');
             INSERT INTO message_acks VALUES
               ('msg-m', 'org-a', 'd', 't'), ('msg-n', 'org-a', 'd', 't'), ('msg-p', 'org-b', 'e', 't');
             INSERT INTO canned_replies VALUES
               ('cr-a', 'org-a', 'Copy', 'Copy.', 1), ('cr-b', 'org-b', 'Copy', 'Copy.', 1);",
        )
        .unwrap();
        conn
    }

    fn who(user: &str, org: &str, role: AppRole) -> Principal {
        Principal {
            user_id: user.into(),
            org_id: org.into(),
            role,
            exp: 0,
            session_id: "s".into(),
        }
    }

    fn owned(org: &str, medic: Option<&str>, user: Option<&str>) -> Ownership {
        Ownership {
            org_id: org.into(),
            medic_id: medic.map(str::to_string),
            user_id: user.map(str::to_string),
        }
    }

    /// Whether the row with this key passes the rule's SQL for `who`.
    fn sql_sees(conn: &Connection, t: &Table, key: &[&str], who: &Principal) -> bool {
        let rule = t.access.sql("t0", who);
        let by_key: Vec<String> = t.key.iter().map(|k| format!("t0.{k} = ?")).collect();
        let sql = format!(
            "SELECT count(*) FROM {} t0 WHERE {} AND ({})",
            t.name,
            by_key.join(" AND "),
            rule.sql
        );
        let params = key.iter().map(|k| k.to_string()).chain(rule.params);
        let n: i64 = conn
            .query_row(&sql, rusqlite::params_from_iter(params), |r| r.get(0))
            .unwrap();
        n == 1
    }

    /// How a row relates to org A's two callers.
    #[derive(Debug)]
    enum Whose {
        SameOrg,
        OtherOrg,
        /// The conversation of medic `m` (the medic caller), or something in it.
        OwnMedic,
        /// Another medic's conversation in the same org, or something in it.
        OtherMedic,
        /// A read marker of this user.
        MarkerOf(&'static str),
    }

    /// One row of the world, how it relates to org A's callers, and which of them see it.
    struct Cell {
        table: &'static str,
        key: &'static [&'static str],
        owner: Ownership,
        whose: Whose,
        by_dispatcher: bool,
        by_medic: bool,
    }

    // A table reads best as a table.
    #[rustfmt::skip]
    fn matrix() -> Vec<Cell> {
        use Whose::*;
        let cell = |table, key, (org, medic, user), whose, (by_dispatcher, by_medic)| Cell {
            table, key, owner: owned(org, medic, user), whose, by_dispatcher, by_medic,
        };
        vec![
            //   table            key            org, medic,     user        relation        (d, m)
            cell("orgs",          &[A],          (A, None,      None),      SameOrg,        (true, true)),
            cell("orgs",          &[B],          (B, None,      None),      OtherOrg,       (false, false)),
            cell("users",         &["n"],        (A, None,      None),      SameOrg,        (true, true)),
            cell("users",         &["p"],        (B, None,      None),      OtherOrg,       (false, false)),
            cell("conversations", &["c-m"],      (A, Some("m"), None),      OwnMedic,       (true, true)),
            cell("conversations", &["c-n"],      (A, Some("n"), None),      OtherMedic,     (true, false)),
            cell("conversations", &["c-p"],      (B, Some("p"), None),      OtherOrg,       (false, false)),
            cell("messages",      &["msg-m"],    (A, Some("m"), None),      OwnMedic,       (true, true)),
            cell("messages",      &["msg-n"],    (A, Some("n"), None),      OtherMedic,     (true, false)),
            cell("messages",      &["msg-p"],    (B, Some("p"), None),      OtherOrg,       (false, false)),
            cell("read_state",    &["d", "c-m"], (A, Some("m"), Some("d")), MarkerOf("d"),  (true, false)),
            cell("read_state",    &["m", "c-m"], (A, Some("m"), Some("m")), MarkerOf("m"),  (false, true)),
            cell("read_state",    &["n", "c-n"], (A, Some("n"), Some("n")), MarkerOf("n"),  (false, false)),
            cell("read_state",    &["p", "c-p"], (B, Some("p"), Some("p")), OtherOrg,       (false, false)),
            cell("message_acks",  &["msg-m"],    (A, Some("m"), None),      OwnMedic,       (true, true)),
            cell("message_acks",  &["msg-n"],    (A, Some("n"), None),      OtherMedic,     (true, false)),
            cell("message_acks",  &["msg-p"],    (B, Some("p"), None),      OtherOrg,       (false, false)),
            cell("canned_replies", &["cr-a"],    (A, None,      None),      SameOrg,        (true, false)),
            cell("canned_replies", &["cr-b"],    (B, None,      None),      OtherOrg,       (false, false)),
        ]
    }

    #[test]
    fn every_form_of_every_rule_agrees_with_the_matrix() {
        let conn = world();
        let dispatcher = who("d", A, AppRole::Dispatcher);
        let medic = who("m", A, AppRole::Medic);
        for c in matrix() {
            let t = table(c.table).unwrap();
            for (caller, expected) in [(&dispatcher, c.by_dispatcher), (&medic, c.by_medic)] {
                let cell = format!(
                    "{} {:?} ({:?}) for {:?}",
                    c.table, c.key, c.whose, caller.role
                );
                if let Whose::MarkerOf(user) = c.whose {
                    assert_eq!(expected, user == caller.user_id, "own markers only: {cell}");
                }
                let predicate = t.access.allows(&c.owner, caller);
                assert_eq!(predicate, expected, "predicate: {cell}");
                assert_eq!(sql_sees(&conn, t, c.key, caller), expected, "SQL: {cell}");
            }
        }
    }

    #[test]
    fn other_orgs_see_nothing_of_org_a() {
        let conn = world();
        for caller in [
            who("e", B, AppRole::Dispatcher),
            who("p", B, AppRole::Medic),
        ] {
            for c in matrix() {
                let t = table(c.table).unwrap();
                if matches!(c.whose, Whose::OtherOrg) {
                    continue;
                }
                assert!(
                    !t.access.allows(&c.owner, &caller),
                    "{} {:?}",
                    c.table,
                    c.key
                );
                assert!(
                    !sql_sees(&conn, t, c.key, &caller),
                    "{} {:?}",
                    c.table,
                    c.key
                );
            }
        }
    }

    #[test]
    fn writes_need_a_visible_conversation() {
        let dispatcher = who("d", A, AppRole::Dispatcher);
        let medic = who("m", A, AppRole::Medic);
        // (conversation's org, its medic, may d write into it, may m write into it)
        for (org, conv_medic, by_d, by_m) in [
            (A, "m", true, true),
            (A, "n", true, false),
            (B, "p", false, false),
        ] {
            for caller in [&dispatcher, &medic] {
                let expected = if caller.role == AppRole::Dispatcher {
                    by_d
                } else {
                    by_m
                };
                let message = owned(org, Some(conv_medic), None);
                assert_eq!(
                    may_write(&MESSAGES, &message, caller),
                    expected,
                    "message in {conv_medic}'s"
                );
                let marker = owned(org, Some(conv_medic), Some(&caller.user_id));
                assert_eq!(
                    may_write(&READ_STATE, &marker, caller),
                    expected,
                    "own marker of {conv_medic}'s"
                );
            }
        }
        let someone_elses = owned(A, Some("m"), Some("n"));
        assert!(!may_write(&READ_STATE, &someone_elses, &dispatcher));
        assert!(may_write(
            &CONVERSATIONS,
            &owned(A, Some("n"), None),
            &dispatcher
        ));
    }

    #[test]
    fn rules_pin_ownership_columns_to_the_caller() {
        let dispatcher = who("d", A, AppRole::Dispatcher);
        let medic = who("m", A, AppRole::Medic);
        let pinned = |name: &str, column: &str, caller: &Principal| {
            table(name)
                .unwrap()
                .access
                .pinned(column, caller)
                .map(str::to_string)
        };
        assert_eq!(pinned("messages", "org_id", &medic).as_deref(), Some(A));
        assert_eq!(pinned("users", "org_id", &dispatcher).as_deref(), Some(A));
        assert_eq!(pinned("orgs", "id", &dispatcher).as_deref(), Some(A));
        assert_eq!(
            pinned("read_state", "user_id", &dispatcher).as_deref(),
            Some("d")
        );
        assert_eq!(
            pinned("conversations", "medic_id", &medic).as_deref(),
            Some("m")
        );
        assert_eq!(
            pinned("conversations", "medic_id", &dispatcher),
            None,
            "any medic of the org"
        );
        assert_eq!(
            pinned("messages", "conversation_id", &medic),
            None,
            "checked per row instead"
        );
        assert_eq!(pinned("messages", "body", &medic), None);
        for caller in [&dispatcher, &medic] {
            assert_eq!(
                pinned("message_acks", "org_id", caller).as_deref(),
                Some(A),
                "both sides follow their org's acknowledgements"
            );
            assert_eq!(pinned("message_acks", "message_id", caller), None);
            assert_eq!(
                pinned("canned_replies", "org_id", caller).as_deref(),
                Some(A)
            );
        }
    }

    #[test]
    fn dispatchers_start_conversations_with_their_orgs_medics_and_medics_with_themselves() {
        let dispatcher = who("d", A, AppRole::Dispatcher);
        let medic = who("m", A, AppRole::Medic);
        // (named user, that user as stored, by d, by m)
        let cases = [
            ("m", Some((A, "medic")), true, true),
            ("n", Some((A, "medic")), true, false),
            ("d", Some((A, "dispatcher")), false, false),
            ("p", Some((B, "medic")), false, false),
            ("ghost", None, false, false),
        ];
        for (named, stored, by_d, by_m) in cases {
            assert_eq!(
                may_start_conversation(named, stored, &dispatcher),
                by_d,
                "d names {named}"
            );
            assert_eq!(
                may_start_conversation(named, stored, &medic),
                by_m,
                "m names {named}"
            );
        }
        let lakeside = who("e", B, AppRole::Dispatcher);
        assert!(!may_start_conversation("m", Some((A, "medic")), &lakeside));
        assert!(may_start_conversation("p", Some((B, "medic")), &lakeside));
    }

    #[test]
    fn only_the_receiving_side_acknowledges_urgent_messages() {
        use AckRefusal::*;
        let dispatcher = who("d", A, AppRole::Dispatcher);
        let other_dispatcher = who("d2", A, AppRole::Dispatcher);
        let medic = who("m", A, AppRole::Medic);
        let other_medic = who("n", A, AppRole::Medic);
        // (urgent, sender, conversation's medic, caller, verdict)
        let cases = [
            (true, "m", "m", &dispatcher, Ok(())),
            (true, "m", "m", &other_dispatcher, Ok(())),
            (true, "m", "m", &medic, Err(NotReceiver)),
            (true, "m", "m", &other_medic, Err(NotReceiver)),
            (true, "d", "m", &medic, Ok(())),
            (true, "d", "m", &dispatcher, Err(NotReceiver)),
            (true, "d", "m", &other_dispatcher, Err(NotReceiver)),
            (true, "d", "m", &other_medic, Err(NotReceiver)),
            (false, "m", "m", &dispatcher, Err(Routine)),
            (false, "d", "m", &medic, Err(Routine)),
            (false, "m", "m", &medic, Err(Routine)),
        ];
        for (urgent, sender, conv_medic, caller, verdict) in cases {
            assert_eq!(
                may_acknowledge(urgent, sender, conv_medic, caller),
                verdict,
                "urgent {urgent}, sent by {sender} in {conv_medic}'s, acked by {}",
                caller.user_id
            );
        }
    }
}

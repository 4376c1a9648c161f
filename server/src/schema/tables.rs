//! The exposed tables: columns, keys, embeddable relations and each one's access rule.
//!
//! Adding a table means adding one entry here; the compiler then asks for its [`Rule`], and
//! REST reads, writes and Realtime all follow it.

use super::policy::{MedicOf, Rule};

/// Column types, for validating and normalising filter values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// UUID text.
    Uuid,
    /// Free text.
    Text,
    /// Canonical timestamptz text (see [`crate::clock::format_micros`]).
    Timestamp,
    /// A 32-bit integer (Postgres `integer`), stored and returned as a number.
    Integer,
}

impl ColType {
    /// The Postgres type name, as Realtime reports it in a change's `columns`.
    pub fn pg_name(self) -> &'static str {
        match self {
            ColType::Uuid => "uuid",
            ColType::Text => "text",
            ColType::Timestamp => "timestamptz",
            ColType::Integer => "int4",
        }
    }
}

/// How a to-one relation joins, for PostgREST embedding (`alias:target(cols)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// Many-to-one: `fk` is a column of this table holding the target's `id`.
    Forward,
    /// One-to-one from the referenced side: `fk` is the target's primary key and a foreign
    /// key to this table's `id`, so each row has at most one target row. PostgREST embeds
    /// such a relation as an object or null, as it does a many-to-one.
    Reverse,
}

/// A to-one relation usable for PostgREST embedding (`alias:target(cols)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Relation {
    /// The joining column: in this table ([`RelationKind::Forward`]) or in the target
    /// ([`RelationKind::Reverse`]). Also what a `!hint` names.
    pub fk: &'static str,
    /// The related table.
    pub target: &'static str,
    /// Which side holds `fk`.
    pub kind: RelationKind,
}

impl Relation {
    const fn forward(fk: &'static str, target: &'static str) -> Relation {
        Relation {
            fk,
            target,
            kind: RelationKind::Forward,
        }
    }

    const fn reverse(fk: &'static str, target: &'static str) -> Relation {
        Relation {
            fk,
            target,
            kind: RelationKind::Reverse,
        }
    }
}

/// An exposed table.
#[derive(Debug, PartialEq)]
pub struct Table {
    /// Table name (schema `public`).
    pub name: &'static str,
    /// Exposed columns, in `select=*` order.
    pub columns: &'static [(&'static str, ColType)],
    /// Primary-key columns.
    pub key: &'static [&'static str],
    /// Embeddable relations.
    pub relations: &'static [Relation],
    /// Who may see and write its rows.
    pub access: Rule,
}

impl Table {
    /// The type of an exposed column, `None` if the table has no such column.
    pub fn column(&self, name: &str) -> Option<ColType> {
        self.columns
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }
}

/// The organisations.
pub static ORGS: Table = Table {
    name: "orgs",
    columns: &[("id", ColType::Uuid), ("name", ColType::Text)],
    key: &["id"],
    relations: &[],
    access: Rule::Org("id"),
};

/// Dispatchers and medics.
pub static USERS: Table = Table {
    name: "users",
    // Never password_hash; email stays private too.
    columns: &[
        ("id", ColType::Uuid),
        ("org_id", ColType::Uuid),
        ("display_name", ColType::Text),
        ("role", ColType::Text),
    ],
    key: &["id"],
    relations: &[Relation::forward("org_id", "orgs")],
    access: Rule::Org("org_id"),
};

/// One medic's thread with dispatch, about one thing (its `subject`); a medic may have
/// several. Started over REST by a dispatcher of the org or the medic
/// (`rest::write::insert_conversations`).
pub static CONVERSATIONS: Table = Table {
    name: "conversations",
    columns: &[
        ("id", ColType::Uuid),
        ("org_id", ColType::Uuid),
        ("medic_id", ColType::Uuid),
        ("created_at", ColType::Timestamp),
        ("last_message_at", ColType::Timestamp),
        ("last_message_preview", ColType::Text),
        // Last, as Postgres adds a column: what it is about (for EMS, unit and incident).
        ("subject", ColType::Text),
    ],
    key: &["id"],
    relations: &[
        Relation::forward("medic_id", "users"),
        Relation::forward("org_id", "orgs"),
    ],
    access: Rule::Conversation {
        org: "org_id",
        medic: MedicOf::Column("medic_id"),
    },
};

/// Messages of a conversation.
pub static MESSAGES: Table = Table {
    name: "messages",
    columns: &[
        ("id", ColType::Uuid),
        ("org_id", ColType::Uuid),
        ("conversation_id", ColType::Uuid),
        ("sender_id", ColType::Uuid),
        ("body", ColType::Text),
        ("created_at", ColType::Timestamp),
        // Last, as Postgres adds a column; `routine` or `urgent`, fixed at insert.
        ("priority", ColType::Text),
    ],
    key: &["id"],
    relations: &[
        Relation::forward("sender_id", "users"),
        Relation::forward("conversation_id", "conversations"),
        Relation::reverse("message_id", "message_acks"),
    ],
    access: Rule::Conversation {
        org: "org_id",
        medic: MedicOf::Conversation("conversation_id"),
    },
};

/// Each user's read marker per conversation.
pub static READ_STATE: Table = Table {
    name: "read_state",
    columns: &[
        ("user_id", ColType::Uuid),
        ("conversation_id", ColType::Uuid),
        ("last_read_at", ColType::Timestamp),
    ],
    key: &["user_id", "conversation_id"],
    relations: &[
        Relation::forward("user_id", "users"),
        Relation::forward("conversation_id", "conversations"),
    ],
    access: Rule::Own("user_id"),
};

/// The acknowledgement of an urgent message: at most one per message (its key is the
/// message's id), written only by the `acknowledge_message` RPC. Seen by whoever sees the
/// message: the org's dispatchers and the conversation's medic.
pub static MESSAGE_ACKS: Table = Table {
    name: "message_acks",
    columns: &[
        ("message_id", ColType::Uuid),
        ("org_id", ColType::Uuid),
        ("user_id", ColType::Uuid),
        ("acked_at", ColType::Timestamp),
    ],
    key: &["message_id"],
    relations: &[
        Relation::forward("message_id", "messages"),
        Relation::forward("user_id", "users"),
        Relation::forward("org_id", "orgs"),
    ],
    access: Rule::Conversation {
        org: "org_id",
        medic: MedicOf::Message("message_id"),
    },
};

/// One-click dispatcher replies of an organisation, in `position` order. Read-only over
/// REST; seeded for the demo organisations.
pub static CANNED_REPLIES: Table = Table {
    name: "canned_replies",
    columns: &[
        ("id", ColType::Uuid),
        ("org_id", ColType::Uuid),
        ("label", ColType::Text),
        ("body", ColType::Text),
        ("position", ColType::Integer),
    ],
    key: &["id"],
    relations: &[Relation::forward("org_id", "orgs")],
    access: Rule::Dispatchers("org_id"),
};

/// Every table REST and Realtime know about.
pub static TABLES: &[&Table] = &[
    &ORGS,
    &USERS,
    &CONVERSATIONS,
    &MESSAGES,
    &READ_STATE,
    &MESSAGE_ACKS,
    &CANNED_REPLIES,
];

/// Looks a table up by name.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().copied().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_found_by_name_and_rules_name_real_columns() {
        for t in TABLES {
            assert_eq!(table(t.name), Some(*t));
            for column in t.access.columns() {
                assert!(t.column(column).is_some(), "{}.{column}", t.name);
            }
            for r in t.relations {
                let target = table(r.target).unwrap();
                match r.kind {
                    RelationKind::Forward => {
                        assert!(t.column(r.fk).is_some() && target.key == ["id"])
                    }
                    // One-to-one: the target's key is the column pointing here.
                    RelationKind::Reverse => {
                        assert!(target.key == [r.fk] && t.key == ["id"], "{}", t.name)
                    }
                }
            }
        }
        assert_eq!(table("secrets"), None);
    }
}

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
}

impl ColType {
    /// The Postgres type name, as Realtime reports it in a change's `columns`.
    pub fn pg_name(self) -> &'static str {
        match self {
            ColType::Uuid => "uuid",
            ColType::Text => "text",
            ColType::Timestamp => "timestamptz",
        }
    }
}

/// A to-one foreign key usable for PostgREST embedding (`alias:target(cols)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Relation {
    /// Column in this table.
    pub fk: &'static str,
    /// Referenced table (its key is `id`).
    pub target: &'static str,
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
    relations: &[Relation {
        fk: "org_id",
        target: "orgs",
    }],
    access: Rule::Org("org_id"),
};

/// One medic's thread with dispatch.
pub static CONVERSATIONS: Table = Table {
    name: "conversations",
    columns: &[
        ("id", ColType::Uuid),
        ("org_id", ColType::Uuid),
        ("medic_id", ColType::Uuid),
        ("created_at", ColType::Timestamp),
        ("last_message_at", ColType::Timestamp),
        ("last_message_preview", ColType::Text),
    ],
    key: &["id"],
    relations: &[
        Relation {
            fk: "medic_id",
            target: "users",
        },
        Relation {
            fk: "org_id",
            target: "orgs",
        },
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
    ],
    key: &["id"],
    relations: &[
        Relation {
            fk: "sender_id",
            target: "users",
        },
        Relation {
            fk: "conversation_id",
            target: "conversations",
        },
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
        Relation {
            fk: "user_id",
            target: "users",
        },
        Relation {
            fk: "conversation_id",
            target: "conversations",
        },
    ],
    access: Rule::Own("user_id"),
};

/// Every table REST and Realtime know about.
pub static TABLES: &[&Table] = &[&ORGS, &USERS, &CONVERSATIONS, &MESSAGES, &READ_STATE];

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
                assert!(t.column(r.fk).is_some() && table(r.target).is_some());
            }
        }
        assert_eq!(table("secrets"), None);
    }
}

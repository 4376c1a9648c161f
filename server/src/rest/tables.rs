//! The exposed tables: columns, relations, and the row-level-security rules.
//!
//! The same rule is expressed twice, as SQL for REST and as a predicate over a changed row
//! for Realtime; tests keep the two in agreement.

use serde_json::Value;

use crate::auth::jwt::{AppRole, Principal};
use crate::db::Change;

/// Column types, for validating and normalising filter values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// UUID text.
    Uuid,
    /// Free text.
    Text,
    /// Canonical timestamptz text.
    Timestamp,
}

impl ColType {
    /// The Postgres type name, as Realtime reports it in `columns`.
    pub fn pg_name(self) -> &'static str {
        match self {
            ColType::Uuid => "uuid",
            ColType::Text => "text",
            ColType::Timestamp => "timestamptz",
        }
    }
}

/// A to-one foreign key usable for embedding.
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
    /// Table name.
    pub name: &'static str,
    /// Exposed columns, in `*` order.
    pub columns: &'static [(&'static str, ColType)],
    /// Primary-key columns.
    pub key: &'static [&'static str],
    /// Embeddable relations.
    pub relations: &'static [Relation],
}

impl Table {
    /// The type of an exposed column.
    pub fn column(&self, name: &str) -> Option<ColType> {
        self.columns
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }
}

/// Every table REST and Realtime know about.
pub static TABLES: &[Table] = &[
    Table {
        name: "orgs",
        columns: &[("id", ColType::Uuid), ("name", ColType::Text)],
        key: &["id"],
        relations: &[],
    },
    Table {
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
    },
    Table {
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
    },
    Table {
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
    },
    Table {
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
    },
];

/// Looks a table up by name.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// The RLS predicate for rows of `table` aliased `alias`, with its parameters.
pub fn visibility_sql(table: &str, alias: &str, who: &Principal) -> (String, Vec<String>) {
    let me = who.user_id.clone();
    let org = who.org_id.clone();
    match (table, who.role) {
        ("orgs", _) => (format!("{alias}.id = ?"), vec![org]),
        ("users", _) => (format!("{alias}.org_id = ?"), vec![org]),
        ("conversations", AppRole::Dispatcher) => (format!("{alias}.org_id = ?"), vec![org]),
        ("conversations", AppRole::Medic) => (format!("{alias}.medic_id = ?"), vec![me]),
        ("messages", AppRole::Dispatcher) => (format!("{alias}.org_id = ?"), vec![org]),
        ("messages", AppRole::Medic) => (
            format!("{alias}.conversation_id IN (SELECT id FROM conversations WHERE medic_id = ?)"),
            vec![me],
        ),
        ("read_state", _) => (format!("{alias}.user_id = ?"), vec![me]),
        // Unknown tables are rejected before this point; deny anyway.
        _ => ("0".to_string(), vec![]),
    }
}

/// Whether `who` could select the row of a committed change over REST.
pub fn change_visible(change: &Change, who: &Principal) -> bool {
    if change.org_id != who.org_id {
        return false;
    }
    match (change.table, who.role) {
        ("read_state", _) => change.user_id.as_deref() == Some(who.user_id.as_str()),
        ("users" | "orgs", _) => true,
        ("conversations" | "messages", AppRole::Dispatcher) => true,
        ("conversations" | "messages", AppRole::Medic) => {
            change.medic_id.as_deref() == Some(who.user_id.as_str())
        }
        _ => false,
    }
}

/// Reads a string field of a JSON row.
pub fn field<'a>(row: &'a Value, name: &str) -> Option<&'a str> {
    row.get(name).and_then(Value::as_str)
}

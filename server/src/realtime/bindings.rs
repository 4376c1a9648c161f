//! postgres_changes bindings: validation at join, stable ids, matching committed changes,
//! and an index that finds the bindings a change may match without visiting the others.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::auth::jwt::Principal;
use crate::db::{Change, ChangeKind};
use crate::schema::filter::{Filter, Op, Operand};
use crate::schema::tables::{self, Table};
use crate::schema::values::split_top_level;

/// Which row events a binding wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFilter {
    /// Only inserts.
    Insert,
    /// Only updates.
    Update,
    /// Only deletes.
    Delete,
    /// Everything.
    All,
}

impl EventFilter {
    fn matches(self, kind: ChangeKind) -> bool {
        matches!(
            (self, kind),
            (EventFilter::All, _)
                | (EventFilter::Insert, ChangeKind::Insert)
                | (EventFilter::Update, ChangeKind::Update)
                | (EventFilter::Delete, ChangeKind::Delete)
        )
    }
}

/// A validated subscription of one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// Server id echoed in the join reply and in each event's `ids`.
    pub id: u32,
    /// The parameters exactly as the client sent them (echoed back in order).
    pub params: Value,
    /// Event filter.
    pub event: EventFilter,
    /// Table.
    pub table: &'static Table,
    /// Row filters, AND-ed; values already normalised to stored form.
    pub filters: Vec<Filter>,
}

/// A stable id for identical parameters (FNV-1a over the canonical JSON), kept below 2^27 as
/// Realtime's phash2 ids are, so any JSON number parser holds it exactly.
pub fn binding_id(params: &Value) -> u32 {
    let canonical = json!({
        "event": params.get("event"), "schema": params.get("schema"),
        "table": params.get("table"), "filter": params.get("filter"),
    })
    .to_string();
    let mut hash: u32 = 0x811c_9dc5;
    for byte in canonical.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash & 0x07ff_ffff
}

/// Parses and authorizes one binding; the error is the reason sent back to the client.
pub fn parse_binding(params: &Value, who: &Principal) -> Result<Binding, String> {
    let object = params
        .as_object()
        .ok_or_else(|| "postgres_changes entries must be objects".to_string())?;
    let text = |name: &str| object.get(name).and_then(Value::as_str);
    let event = match text("event").map(str::to_ascii_uppercase).as_deref() {
        Some("INSERT") => EventFilter::Insert,
        Some("UPDATE") => EventFilter::Update,
        Some("DELETE") => EventFilter::Delete,
        Some("*") => EventFilter::All,
        other => {
            return Err(format!(
                "unknown event {other:?}: use INSERT, UPDATE, DELETE or *"
            ))
        }
    };
    match text("schema") {
        None | Some("public") => {}
        Some(other) => return Err(format!("unknown schema \"{other}\"")),
    }
    let table_name = text("table").ok_or_else(|| {
        "No subscription params provided. Please provide at least a `table` to subscribe to"
            .to_string()
    })?;
    let table =
        tables::table(table_name).ok_or_else(|| format!("unknown table \"{table_name}\""))?;
    let mut filters = Vec::new();
    if let Some(filter_text) = text("filter").filter(|f| !f.is_empty()) {
        let parts = split_top_level(filter_text)
            .ok_or_else(|| format!("Error parsing `filter` params: {filter_text}"))?;
        for part in parts {
            let mut filter = Filter::parse_realtime(part)
                .map_err(|e| format!("Error parsing `filter` params: {e}"))?;
            let column = filter.column.as_str();
            if filter.negated || filter.op == Op::Is {
                return Err(format!(
                    "unsupported filter {part}: use eq, neq, lt, lte, gt, gte or in"
                ));
            }
            let ty = table
                .column(column)
                .ok_or_else(|| format!("unknown column \"{column}\" in table \"{table_name}\""))?;
            if matches!(&filter.operand, Operand::List(vs) if vs.len() > 100) {
                return Err("in accepts at most 100 values".to_string());
            }
            filter.operand = filter.operand.normalised(ty).map_err(|e| e.to_string())?;
            if reaches_outside(table, &filter, who) {
                return Err(format!(
                    "Unauthorized: You do not have permissions to read from this Channel topic: filter {part} reaches outside your organisation"
                ));
            }
            filters.push(filter);
        }
    }
    Ok(Binding {
        id: binding_id(params),
        params: params.clone(),
        event,
        table,
        filters,
    })
}

/// True when a filter on a column the table's access rule pins to the caller (their
/// organisation, their own id) asks for anything but the caller's own value: it could only
/// select rows the caller may never see.
fn reaches_outside(table: &Table, filter: &Filter, who: &Principal) -> bool {
    let Some(own) = table.access.pinned(&filter.column, who) else {
        return false;
    };
    match (&filter.op, &filter.operand) {
        (Op::Eq, Operand::Value(v)) => v != own,
        (Op::In, Operand::List(vs)) => vs.iter().any(|v| v != own),
        // Ranges and negations over an owner column are always wider than one owner.
        _ => true,
    }
}

/// The row a change's filters are judged on: the old row of a delete, else the new one.
fn filtered_row(change: &Change) -> Option<&Map<String, Value>> {
    let row = match change.kind {
        ChangeKind::Delete => change.old_record.as_ref(),
        _ => change.record.as_ref(),
    };
    row.and_then(Value::as_object)
}

impl Binding {
    /// Whether this binding selects the change (RLS is checked separately).
    pub fn matches(&self, change: &Change) -> bool {
        if change.table.name != self.table.name || !self.event.matches(change.kind) {
            return false;
        }
        match filtered_row(change) {
            Some(row) => self.filters.iter().all(|f| f.matches_row(row)),
            None => self.filters.is_empty(),
        }
    }

    /// The filter the index files this binding under: an `eq`, else an `in` (a row can
    /// match the binding only if its value in that column is one the filter names).
    fn indexed_filter(&self) -> Option<(&str, &[String])> {
        let eq = self.filters.iter().filter(|f| f.op == Op::Eq);
        eq.chain(&self.filters).find_map(named_values)
    }
}

/// The column and values of a filter that a row must equal one of to pass.
fn named_values(f: &Filter) -> Option<(&str, &[String])> {
    match (&f.op, &f.operand) {
        _ if f.negated => None,
        (Op::Eq, Operand::Value(v)) => Some((f.column.as_str(), std::slice::from_ref(v))),
        (Op::In, Operand::List(vs)) => Some((f.column.as_str(), vs.as_slice())),
        _ => None,
    }
}

/// The bindings of one socket, found by what a change can match: its table, then the value
/// of each column some binding's `eq`/`in` filter names. A change costs one lookup per such
/// column plus the bindings that may match it, however many others the socket holds
/// (issue 13: 50,000 bindings that never match made every insert wait seconds). Bindings
/// with neither filter are candidates for every change of their table.
///
/// `K` names a binding for its owner (for [`super::channels`], topic and position) and
/// orders the candidates.
#[derive(Debug)]
pub struct BindingIndex<K> {
    tables: HashMap<&'static str, TableIndex<K>>,
}

impl<K> Default for BindingIndex<K> {
    fn default() -> Self {
        BindingIndex {
            tables: HashMap::new(),
        }
    }
}

#[derive(Debug)]
struct TableIndex<K> {
    /// Per filtered column, the bindings by the values their filter names.
    columns: HashMap<String, ValueIndex<K>>,
    /// Bindings without an `eq` or `in` filter.
    unindexed: Vec<K>,
}

/// Bindings by the value their filter names, in both ways [`Filter::matches_row`] finds a
/// row's value equal to it: the stored text as written, and a JSON integer equal to the
/// value read as a number.
#[derive(Debug)]
struct ValueIndex<K> {
    text: HashMap<String, Vec<K>>,
    integer: HashMap<i64, Vec<K>>,
}

/// Files `key` once per bucket: an `in` list may name a value twice (`5` and `05`).
fn file<K: PartialEq>(bucket: &mut Vec<K>, key: K) {
    if bucket.last() != Some(&key) {
        bucket.push(key);
    }
}

impl<K: Ord + Clone> BindingIndex<K> {
    /// Files `binding` under `key`.
    pub fn insert(&mut self, key: K, binding: &Binding) {
        let table = self
            .tables
            .entry(binding.table.name)
            .or_insert_with(|| TableIndex {
                columns: HashMap::new(),
                unindexed: Vec::new(),
            });
        let Some((column, values)) = binding.indexed_filter() else {
            return table.unindexed.push(key);
        };
        let index = table
            .columns
            .entry(column.to_string())
            .or_insert_with(|| ValueIndex {
                text: HashMap::new(),
                integer: HashMap::new(),
            });
        for value in values {
            file(index.text.entry(value.clone()).or_default(), key.clone());
            if let Ok(n) = value.parse::<i64>() {
                file(index.integer.entry(n).or_default(), key.clone());
            }
        }
    }

    /// The keys of every binding that may match `change`, in key order, each once; a
    /// superset of those [`Binding::matches`] accepts, which the caller still asks.
    pub fn candidates(&self, change: &Change) -> Vec<&K> {
        let Some(table) = self.tables.get(change.table.name) else {
            return Vec::new();
        };
        let mut found: Vec<&K> = table.unindexed.iter().collect();
        if let Some(row) = filtered_row(change) {
            for (column, index) in &table.columns {
                let bucket = match row.get(column) {
                    Some(Value::String(text)) => index.text.get(text.as_str()),
                    Some(Value::Number(n)) => n.as_i64().and_then(|n| index.integer.get(&n)),
                    _ => None,
                };
                found.extend(bucket.into_iter().flatten());
            }
        }
        // Each binding is filed under one column, and a row has one value there: no key
        // comes twice, so sorting alone gives key order.
        found.sort_unstable();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::AppRole;
    use crate::schema::tables::{CANNED_REPLIES, CONVERSATIONS, MESSAGES};
    use crate::schema::Ownership;

    fn who(role: AppRole) -> Principal {
        Principal {
            user_id: "11111111-1111-1111-1111-111111111111".into(),
            org_id: "22222222-2222-2222-2222-222222222222".into(),
            role,
            exp: 0,
            session_id: "s".into(),
        }
    }

    fn change(kind: ChangeKind, record: Value) -> Change {
        Change {
            table: &MESSAGES,
            kind,
            record: Some(record),
            old_record: None,
            commit_micros: 0,
            owner: Ownership {
                org_id: "22222222-2222-2222-2222-222222222222".into(),
                medic_id: None,
                user_id: None,
            },
            wire: Default::default(),
        }
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = json!({"event": "INSERT", "schema": "public", "table": "messages"});
        let b = json!({"event": "UPDATE", "schema": "public", "table": "messages"});
        assert_eq!(binding_id(&a), binding_id(&a.clone()));
        assert_ne!(binding_id(&a), binding_id(&b));
        assert!(binding_id(&a) < (1 << 27));
    }

    #[test]
    fn validates_params() {
        let d = who(AppRole::Dispatcher);
        let ok = |p: Value| parse_binding(&p, &d);
        assert!(ok(json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": "org_id=eq.22222222-2222-2222-2222-222222222222"})).is_ok());
        assert!(ok(json!({"event": "*", "table": "read_state", "filter": "user_id=eq.11111111-1111-1111-1111-111111111111"})).is_ok());
        assert!(ok(json!({"event": "SOMETIMES", "table": "messages"})).is_err());
        assert!(ok(json!({"event": "INSERT", "table": "secrets"})).is_err());
        assert!(ok(json!({"event": "INSERT", "schema": "auth", "table": "messages"})).is_err());
        assert!(ok(json!({"event": "INSERT"})).is_err());
        assert!(
            ok(json!({"event": "INSERT", "table": "messages", "filter": "nope=eq.1"})).is_err()
        );
        assert!(
            ok(json!({"event": "INSERT", "table": "messages", "filter": "body=like.x"})).is_err()
        );
        assert!(
            ok(json!({"event": "INSERT", "table": "messages", "filter": "id=eq.not-a-uuid"}))
                .is_err()
        );
        assert!(ok(json!({"event": "INSERT", "table": "messages", "filter": "garbage"})).is_err());
        assert!(ok(json!("INSERT")).is_err());
    }

    #[test]
    fn refuses_filters_reaching_other_orgs_or_users() {
        let d = who(AppRole::Dispatcher);
        let other = "33333333-3333-3333-3333-333333333333";
        for filter in [
            format!("org_id=eq.{other}"),
            format!("org_id=in.(22222222-2222-2222-2222-222222222222,{other})"),
            format!("org_id=neq.{other}"),
        ] {
            let p = json!({"event": "INSERT", "table": "messages", "filter": filter});
            assert!(parse_binding(&p, &d).is_err(), "{filter}");
        }
        let p =
            json!({"event": "*", "table": "read_state", "filter": format!("user_id=eq.{other}")});
        assert!(parse_binding(&p, &d).is_err());
        let p = json!({"event": "*", "table": "conversations", "filter": format!("medic_id=eq.{other}")});
        assert!(
            parse_binding(&p, &d).is_ok(),
            "dispatchers may follow any medic of their org"
        );
        assert!(
            parse_binding(&p, &who(AppRole::Medic)).is_err(),
            "medics only themselves"
        );
    }

    /// Issue 12, item 7: Realtime's `filter` takes values quoted as in PostgREST (`subscriptions.ex`:
    /// commas split AND-ed parts outside parentheses and quotes, a backslash inside quotes
    /// takes the next character, a wholly quoted single value is unquoted).
    #[test]
    fn quoted_filter_values_match_the_rows_they_name() {
        let d = who(AppRole::Dispatcher);
        let id = "44444444-4444-4444-4444-444444444444";
        let row = |body: &str| change(ChangeKind::Insert, json!({"id": id, "body": body}));
        let cases: Vec<(&str, &str)> = vec![
            (r#"body=in.("5\" gauze")"#, r#"5" gauze"#),
            (r#"body=in.("a\",b")"#, r#"a",b"#),
            (r#"body=in.("D:\\scan.pdf")"#, r"D:\scan.pdf"),
            (r#"body=in.("x(y), z",other)"#, "x(y), z"),
            (r#"body=eq."5\" gauze""#, r#"5" gauze"#),
            (r#"body=eq."a,b""#, "a,b"),
            (r#"body=eq."D:\\scan.pdf""#, r"D:\scan.pdf"),
            (r"body=eq.D:\scan.pdf", r"D:\scan.pdf"),
            (
                r#"body=eq."a,b",id=eq.44444444-4444-4444-4444-444444444444"#,
                "a,b",
            ),
            (
                r#"id=in.( 44444444-4444-4444-4444-444444444444 ,"55555555-5555-5555-5555-555555555555"),body=in.("p,q")"#,
                "p,q",
            ),
        ];
        for (filter, body) in cases {
            let p = json!({"event": "INSERT", "table": "messages", "filter": filter});
            let binding = match parse_binding(&p, &d) {
                Ok(b) => b,
                Err(e) => panic!("{filter}: {e}"),
            };
            assert!(binding.matches(&row(body)), "{filter} matches {body}");
            assert!(!binding.matches(&row("other body")), "{filter}");
        }
    }

    /// Issue 13, item 1: a change is offered only the bindings that may match it (no
    /// binding whose `eq`/`in` filter names another value, nor one of another table), and
    /// never misses one that matches.
    #[test]
    fn the_index_offers_what_may_match_and_nothing_naming_other_values() {
        let d = who(AppRole::Dispatcher);
        let conv = "44444444-4444-4444-4444-444444444444";
        let other = "55555555-5555-5555-5555-555555555555";
        let gone = "66666666-6666-6666-6666-666666666666";
        let specs = [
            ("INSERT", "messages", String::new()),
            ("*", "messages", format!("conversation_id=eq.{conv}")),
            ("*", "messages", format!("conversation_id=eq.{other}")),
            (
                "INSERT",
                "messages",
                format!("conversation_id=in.({other},{conv})"),
            ),
            (
                "INSERT",
                "messages",
                format!("conversation_id=in.({other})"),
            ),
            (
                "INSERT",
                "messages",
                "created_at=lt.2026-01-02T00:00:00Z".into(),
            ),
            (
                "*",
                "messages",
                format!("created_at=gte.2026-01-01T00:00:00Z,conversation_id=eq.{conv}"),
            ),
            ("DELETE", "messages", format!("id=eq.{gone}")),
            ("*", "canned_replies", "position=eq.3".into()),
            ("*", "canned_replies", "position=in.(3,03,4)".into()),
            ("*", "conversations", String::new()),
        ];
        let mut index = BindingIndex::default();
        let mut bindings = Vec::new();
        for (at, (event, table, filter)) in specs.iter().enumerate() {
            let p = json!({"event": event, "table": table, "filter": filter});
            let b = parse_binding(&p, &d).unwrap_or_else(|e| panic!("{p}: {e}"));
            index.insert(at, &b);
            bindings.push(b);
        }
        let at = "2026-01-01T00:00:00.000000+00:00";
        let message = |kind, conv: &str| Change {
            record: Some(json!({"id": "77777777-7777-7777-7777-777777777777",
                                "conversation_id": conv, "created_at": at})),
            old_record: Some(json!({"id": gone})),
            ..change(kind, Value::Null)
        };
        let canned = |position: i64| Change {
            table: &CANNED_REPLIES,
            record: Some(json!({"position": position})),
            ..change(ChangeKind::Update, Value::Null)
        };
        let conversation = Change {
            table: &CONVERSATIONS,
            ..change(ChangeKind::Update, json!({"id": conv}))
        };
        let cases: Vec<(Change, Vec<usize>)> = vec![
            (message(ChangeKind::Insert, conv), vec![0, 1, 3, 5, 6]),
            (message(ChangeKind::Insert, other), vec![0, 2, 3, 4, 5]),
            (message(ChangeKind::Insert, gone), vec![0, 5]),
            (message(ChangeKind::Delete, conv), vec![0, 5, 7]),
            (canned(3), vec![8, 9]),
            (canned(4), vec![9]),
            (canned(5), vec![]),
            (conversation, vec![10]),
        ];
        for (c, expected) in &cases {
            let offered: Vec<usize> = index.candidates(c).into_iter().copied().collect();
            assert_eq!(&offered, expected, "{:?} {:?}", c.kind, c.record);
            for (at, b) in bindings.iter().enumerate() {
                assert!(
                    !b.matches(c) || offered.contains(&at),
                    "binding {at} matches {:?} {:?} but was not offered",
                    c.kind,
                    c.record
                );
            }
        }
    }

    #[test]
    fn matches_events_and_every_operator() {
        let d = who(AppRole::Dispatcher);
        let row = json!({"id": "a", "conversation_id": "44444444-4444-4444-4444-444444444444", "created_at": "2026-01-01T00:00:00.000000+00:00"});
        let bind = |event: &str, filter: &str| {
            parse_binding(
                &json!({"event": event, "table": "messages", "filter": filter}),
                &d,
            )
            .unwrap()
        };
        let insert = change(ChangeKind::Insert, row.clone());
        let conv = "44444444-4444-4444-4444-444444444444";
        let other = "55555555-5555-5555-5555-555555555555";
        assert!(bind("INSERT", &format!("conversation_id=eq.{conv}")).matches(&insert));
        assert!(!bind("UPDATE", &format!("conversation_id=eq.{conv}")).matches(&insert));
        assert!(bind("*", "").matches(&insert));
        assert!(!bind("INSERT", &format!("conversation_id=eq.{other}")).matches(&insert));
        assert!(bind("INSERT", &format!("conversation_id=neq.{other}")).matches(&insert));
        assert!(bind("INSERT", &format!("conversation_id=in.({other},{conv})")).matches(&insert));
        assert!(bind("INSERT", "created_at=lt.2026-01-02T00:00:00Z").matches(&insert));
        assert!(bind("INSERT", "created_at=lte.2026-01-01T00:00:00Z").matches(&insert));
        assert!(!bind("INSERT", "created_at=gt.2026-01-01T00:00:00Z").matches(&insert));
        assert!(bind("INSERT", "created_at=gte.2026-01-01T00:00:00Z").matches(&insert));
        let mut other_table = insert.clone();
        other_table.table = &CONVERSATIONS;
        assert!(!bind("*", "").matches(&other_table));
    }
}

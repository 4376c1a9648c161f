//! Turns a parsed read query into one parameterised SQLite SELECT under the caller's RLS.

use axum::http::StatusCode;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::caps;
use super::query::{ReadQuery, SelectItem};
use crate::auth::jwt::Principal;
use crate::error::{Error, Result};
use crate::schema::filter::{normalise, Filter, Logic, Op, Operand, Term};
use crate::schema::tables::{ColType, RelationKind};
use crate::schema::{tables, Condition, Table};

/// Most rows one request returns, whatever `limit` says (PostgREST's max-rows).
pub const MAX_ROWS: u64 = 1000;

/// What one cell adds to an answer besides its key and text: quotes, colon, comma, and the
/// longest number or `null`, in bytes.
const CELL_OVERHEAD_BYTES: usize = 24;

enum Output {
    Plain,
    Json,
}

/// 400 for a column the table does not expose.
pub fn unknown_column(table: &str, column: &str) -> Error {
    Error::api(
        StatusCode::BAD_REQUEST,
        "42703",
        format!("column {table}.{column} does not exist"),
    )
}

/// Compiles AND-ed filters on `alias` into SQL.
///
/// # Errors
/// 400 for an unknown column or a value not of its column's type.
pub fn filters_sql(table: &Table, alias: &str, filters: &[Filter]) -> Result<Condition> {
    where_sql(table, alias, filters, &[])
}

/// Compiles AND-ed filters and logic trees on `alias` into SQL, parameters in text order.
///
/// # Errors
/// As [`filters_sql`].
pub fn where_sql(
    table: &Table,
    alias: &str,
    filters: &[Filter],
    logic: &[Logic],
) -> Result<Condition> {
    let mut params = Vec::new();
    let mut parts = Vec::new();
    for f in filters {
        parts.push(filter_sql(table, alias, f, &mut params)?);
    }
    for tree in logic {
        parts.push(logic_sql(table, alias, tree, &mut params)?);
    }
    Ok(Condition {
        sql: if parts.is_empty() {
            "1".to_string()
        } else {
            parts.join(" AND ")
        },
        params,
    })
}

/// One logic tree as a parenthesised SQL expression (`NOT (…)` when negated).
fn logic_sql(table: &Table, alias: &str, tree: &Logic, params: &mut Vec<String>) -> Result<String> {
    let mut parts = Vec::new();
    for term in &tree.terms {
        parts.push(match term {
            Term::Filter(f) => filter_sql(table, alias, f, params)?,
            Term::Tree(inner) => logic_sql(table, alias, inner, params)?,
        });
    }
    let joined = format!("({})", parts.join(if tree.any { " OR " } else { " AND " }));
    Ok(if tree.negated {
        format!("NOT {joined}")
    } else {
        joined
    })
}

/// One filter on `alias` as SQL, its parameters pushed onto `params`.
fn filter_sql(table: &Table, alias: &str, f: &Filter, params: &mut Vec<String>) -> Result<String> {
    let ty = table
        .column(&f.column)
        .ok_or_else(|| unknown_column(table.name, &f.column))?;
    let col = format!("{alias}.{}", f.column);
    let expr = match (&f.op, &f.operand) {
        (Op::Is, Operand::Null { not }) => {
            format!("{col} IS {}NULL", if *not { "NOT " } else { "" })
        }
        (Op::In, Operand::List(values)) => {
            if values.is_empty() {
                "0".to_string()
            } else {
                // One bound JSON array, whatever the list's length: a placeholder per
                // item ran into SQLite's limit on variables (32,766) as a 500.
                params.push(json_list(ty, values)?);
                format!("{col} IN (SELECT value FROM json_each(?))")
            }
        }
        (op, Operand::Value(v)) => {
            params.push(normalise(ty, v)?);
            format!("{col} {} ?", op.sql())
        }
        _ => {
            return Err(Error::bad_query(format!(
                "failed to parse filter ({})",
                f.column
            )))
        }
    };
    Ok(if f.negated {
        format!("NOT ({expr})")
    } else {
        expr
    })
}

/// The items of an `in` list as one JSON array in the column's stored form: numbers for
/// integer columns (so they compare as numbers), strings for the rest.
///
/// # Errors
/// 400 for an item that is not of the column's type ([`normalise`]).
fn json_list(ty: ColType, values: &[String]) -> Result<String> {
    let items = values
        .iter()
        .map(|v| {
            let stored = normalise(ty, v)?;
            Ok(match (ty, stored.parse::<i64>()) {
                (ColType::Integer, Ok(n)) => Value::from(n),
                _ => Value::String(stored),
            })
        })
        .collect::<Result<Vec<Value>>>()?;
    Ok(Value::Array(items).to_string())
}

/// The correlated subquery of one embed of `parent` (aliased `parent_alias`): the related
/// row as a JSON object, or NULL when there is none or the caller may not see it (as under
/// RLS). Embeds nest; each level takes the next alias `e<n>` from `next_alias`, and pushes
/// its parameters in the order they appear in the SQL text.
#[allow(clippy::too_many_arguments)]
fn embed_sql(
    parent: &Table,
    parent_alias: &str,
    target_name: &str,
    hint: Option<&str>,
    columns: &[SelectItem],
    next_alias: &mut usize,
    who: &Principal,
    params: &mut Vec<String>,
) -> Result<String> {
    let relation = parent
        .relations
        .iter()
        .find(|r| r.target == target_name && hint.is_none_or(|h| h == r.fk))
        .ok_or_else(|| {
            Error::api(
                StatusCode::BAD_REQUEST,
                "PGRST200",
                format!(
                    "Could not find a relationship between '{}' and '{target_name}' in the schema cache",
                    parent.name
                ),
            )
        })?;
    let target = tables::table(relation.target).ok_or_else(|| unknown_table(relation.target))?;
    *next_alias += 1;
    let alias = format!("e{next_alias}");
    let mut pairs = Vec::new();
    for item in columns {
        match item {
            SelectItem::Star => {
                for (c, _) in target.columns {
                    pairs.push(format!("'{c}', {alias}.{c}"));
                }
            }
            SelectItem::Column { alias: out, name } => {
                target
                    .column(name)
                    .ok_or_else(|| unknown_column(target.name, name))?;
                pairs.push(format!(
                    "'{}', {alias}.{name}",
                    out.as_deref().unwrap_or(name)
                ));
            }
            SelectItem::Embed {
                alias: out,
                table: inner,
                hint,
                columns,
            } => {
                let sql = embed_sql(
                    target,
                    &alias,
                    inner,
                    hint.as_deref(),
                    columns,
                    next_alias,
                    who,
                    params,
                )?;
                // json(): a subquery's text would otherwise be nested as a string.
                pairs.push(format!(
                    "'{}', json({sql})",
                    out.as_deref().unwrap_or(inner)
                ));
            }
        }
    }
    let join = match relation.kind {
        RelationKind::Forward => format!("{alias}.id = {parent_alias}.{}", relation.fk),
        RelationKind::Reverse => format!("{alias}.{} = {parent_alias}.id", relation.fk),
    };
    let visible = target.access.sql(&alias, who);
    params.extend(visible.params);
    Ok(format!(
        "(SELECT json_object({}) FROM {} {alias} WHERE {join} AND ({}))",
        pairs.join(", "),
        target.name,
        visible.sql
    ))
}

/// 404 for a table we do not expose.
pub fn unknown_table(name: &str) -> Error {
    Error::api(
        StatusCode::NOT_FOUND,
        "PGRST205",
        format!("Could not find the table 'public.{name}' in the schema cache"),
    )
}

/// Runs a read under the caller's visibility; `extra` narrows it further (e.g. to new ids).
/// The rows' text, keys included, may come to at most `max_bytes` (the JSON answer is that
/// plus its punctuation); the read stops at the first row past it.
///
/// # Errors
/// 400 for unknown columns and relations and bad filter values; 500 `54000` past
/// `max_bytes` ([`caps::response_too_large`]); SQLite's errors (a cancelled statement among
/// them, see [`crate::db::Db::read_bounded`]).
pub fn run(
    conn: &Connection,
    table: &Table,
    query: &ReadQuery,
    who: &Principal,
    extra: Option<Condition>,
    max_bytes: usize,
) -> Result<Vec<Value>> {
    let (statement, outputs) = build(table, query, who, extra)?;
    let mut stmt = conn.prepare(&statement.sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(statement.params.iter()))?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = rows.next()? {
        let mut object = Map::new();
        for (i, (key, _, kind)) in outputs.iter().enumerate() {
            let cell = row.get_ref(i)?;
            // Counted before the value is copied out of SQLite: text is what can be large.
            bytes = bytes.saturating_add(key.len() + CELL_OVERHEAD_BYTES);
            if let ValueRef::Text(t) = cell {
                bytes = bytes.saturating_add(t.len());
            }
            if bytes > max_bytes {
                return Err(caps::response_too_large(max_bytes));
            }
            let value = match (cell, kind) {
                (ValueRef::Null, _) => Value::Null,
                (ValueRef::Integer(n), _) => Value::from(n),
                (ValueRef::Real(f), _) => Value::from(f),
                (ValueRef::Text(t), Output::Json) => {
                    serde_json::from_slice(t).unwrap_or(Value::Null)
                }
                (ValueRef::Text(t), Output::Plain) => {
                    Value::String(String::from_utf8_lossy(t).into_owned())
                }
                (ValueRef::Blob(_), _) => Value::Null,
            };
            object.insert(key.clone(), value);
        }
        out.push(Value::Object(object));
    }
    Ok(out)
}

/// The steps of SQLite's plan for the read [`run`] would make (`EXPLAIN QUERY PLAN`'s
/// `detail` column, in order), for tests and the `scale` bench to check which index a
/// history query uses.
///
/// # Errors
/// As [`run`], short of running it.
pub fn plan(
    conn: &Connection,
    table: &Table,
    query: &ReadQuery,
    who: &Principal,
) -> Result<Vec<String>> {
    let (statement, _) = build(table, query, who, None)?;
    super::rpc::query_plan(conn, &statement)
}

/// One column of a read's answer: its key, its SQL and how its text is read.
type OutputColumn = (String, String, Output);

/// The SELECT of a read and its answer's columns.
fn build(
    table: &Table,
    query: &ReadQuery,
    who: &Principal,
    extra: Option<Condition>,
) -> Result<(Condition, Vec<OutputColumn>)> {
    let mut params: Vec<String> = Vec::new();
    let mut outputs: Vec<OutputColumn> = Vec::new();
    let mut next_alias = 0;
    let select = if query.select.is_empty() {
        vec![SelectItem::Star]
    } else {
        query.select.clone()
    };
    for item in &select {
        match item {
            SelectItem::Star => {
                for (c, _) in table.columns {
                    outputs.push((c.to_string(), format!("t0.{c}"), Output::Plain));
                }
            }
            SelectItem::Column { alias, name } => {
                table
                    .column(name)
                    .ok_or_else(|| unknown_column(table.name, name))?;
                outputs.push((
                    alias.clone().unwrap_or_else(|| name.clone()),
                    format!("t0.{name}"),
                    Output::Plain,
                ));
            }
            SelectItem::Embed {
                alias,
                table: target,
                hint,
                columns,
            } => {
                let sql = embed_sql(
                    table,
                    "t0",
                    target,
                    hint.as_deref(),
                    columns,
                    &mut next_alias,
                    who,
                    &mut params,
                )?;
                outputs.push((
                    alias.clone().unwrap_or_else(|| target.clone()),
                    sql,
                    Output::Json,
                ));
            }
        }
    }
    let visible = table.access.sql("t0", who);
    params.extend(visible.params);
    let filters = where_sql(table, "t0", &query.filters, &query.logic)?;
    params.extend(filters.params);
    let mut sql = format!(
        "SELECT {} FROM {} t0 WHERE ({}) AND ({})",
        outputs
            .iter()
            .map(|(_, expr, _)| expr.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        table.name,
        visible.sql,
        filters.sql
    );
    if let Some(extra) = extra {
        sql.push_str(&format!(" AND ({})", extra.sql));
        params.extend(extra.params);
    }
    if !query.order.is_empty() {
        let mut terms = Vec::new();
        for term in &query.order {
            table
                .column(&term.column)
                .ok_or_else(|| unknown_column(table.name, &term.column))?;
            let nulls_first = term.nulls_first.unwrap_or(term.desc);
            terms.push(format!(
                "t0.{} {} NULLS {}",
                term.column,
                if term.desc { "DESC" } else { "ASC" },
                if nulls_first { "FIRST" } else { "LAST" }
            ));
        }
        sql.push_str(&format!(" ORDER BY {}", terms.join(", ")));
    }
    let limit = query.limit.unwrap_or(MAX_ROWS).min(MAX_ROWS);
    sql.push_str(&format!(
        " LIMIT {limit} OFFSET {}",
        query.offset.unwrap_or(0)
    ));

    Ok((Condition { sql, params }, outputs))
}

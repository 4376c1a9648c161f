//! PostgREST query-string grammar: `select`, horizontal filters, `order`, `limit`, `offset`.
//!
//! Pure parsing; whether names exist is checked later against the table definitions. The
//! filter grammar itself is shared with Realtime and lives in [`crate::schema::filter`].

use super::caps::{self, SelectBudget, MAX_COUNT, MAX_FILTERS, MAX_ORDER_TERMS};
use super::nul;
use crate::auth::apikey;
use crate::error::{bounded, Error, Result};
use crate::schema::filter::{Filter, Logic};
use crate::schema::values::split_top_level;

/// One item of `select=`.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`: every exposed column.
    Star,
    /// A column, optionally renamed (`alias:col`).
    Column {
        /// Output key.
        alias: Option<String>,
        /// Column name.
        name: String,
    },
    /// An embedded related table: `alias:table!hint(cols)`.
    Embed {
        /// Output key (defaults to the table name).
        alias: Option<String>,
        /// Related table.
        table: String,
        /// Optional foreign-key column hint after `!`.
        hint: Option<String>,
        /// Columns of the related row.
        columns: Vec<SelectItem>,
    },
}

/// One term of `order=`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderTerm {
    /// Column name.
    pub column: String,
    /// Descending.
    pub desc: bool,
    /// Explicit null placement; Postgres' default otherwise (last for asc, first for desc).
    pub nulls_first: Option<bool>,
}

/// A parsed read request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadQuery {
    /// Output shape; empty means `*`.
    pub select: Vec<SelectItem>,
    /// AND-ed filters.
    pub filters: Vec<Filter>,
    /// AND-ed logic trees (`or=(…)`, `and=(…)`, `not.or=(…)`, `not.and=(…)`), with the
    /// filters.
    pub logic: Vec<Logic>,
    /// Sort order.
    pub order: Vec<OrderTerm>,
    /// Row limit.
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: Option<u64>,
}

/// Parses a raw (still percent-encoded) query string, within the caps of [`caps`].
///
/// # Errors
/// 400 `PGRST100` for what does not parse or is past a cap; 400 `22021` for a filter value
/// holding U+0000 ([`nul::reject_nul_param`]).
pub fn parse_query(raw: &str) -> Result<ReadQuery> {
    let mut query = ReadQuery::default();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        match key.as_ref() {
            "select" => query.select = parse_select(&value)?,
            "order" => query.order = parse_order(&value)?,
            "limit" => query.limit = Some(parse_count("limit", &value)?),
            "offset" => query.offset = Some(parse_count("offset", &value)?),
            // Not filters: the gateway key and PostgREST write options.
            apikey::QUERY_PARAM | "columns" | "on_conflict" => {}
            key => match Logic::parse_param(key, &value) {
                Some(tree) => {
                    let tree = tree?;
                    let count = filter_count(&query) + tree.filter_count();
                    caps::at_most("filter", "filters", count, MAX_FILTERS)?;
                    nul::reject_nul_param(&value)?;
                    query.logic.push(tree);
                }
                None => {
                    caps::at_most("filter", "filters", filter_count(&query) + 1, MAX_FILTERS)?;
                    let filter = Filter::parse(key, &value)?;
                    // Past the grammar, the operand is what Postgres receives as a parameter.
                    nul::reject_nul_param(&value)?;
                    query.filters.push(filter);
                }
            },
        }
    }
    Ok(query)
}

/// The column filters `query` holds so far, in logic trees too.
fn filter_count(query: &ReadQuery) -> usize {
    query.filters.len() + query.logic.iter().map(Logic::filter_count).sum::<usize>()
}

/// A `limit` or `offset`: a whole number from 0 to [`MAX_COUNT`].
fn parse_count(name: &str, value: &str) -> Result<u64> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= MAX_COUNT)
        .ok_or_else(|| {
            Error::bad_query(format!("\"{}\" is not a valid {name}", bounded(value))).with_details(
                format!("{name} must be a whole number from 0 to {MAX_COUNT}"),
            )
        })
}

/// Parses `select=` (nested embeds allowed), within [`caps::MAX_SELECT_ITEMS`] and
/// [`caps::MAX_EMBEDS`].
pub fn parse_select(text: &str) -> Result<Vec<SelectItem>> {
    parse_items(text, &mut SelectBudget::default())
}

/// One level of `select=`; `budget` counts over every level of the same parameter.
fn parse_items(text: &str, budget: &mut SelectBudget) -> Result<Vec<SelectItem>> {
    let fail = |why: &str| {
        Error::bad_query(format!(
            "failed to parse select parameter ({})",
            bounded(text)
        ))
        .with_details(why.to_string())
    };
    let parts = split_top_level(text).ok_or_else(|| fail("unbalanced parentheses"))?;
    budget.items(parts.len())?;
    let mut items = Vec::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            return Err(fail("empty item"));
        }
        if part == "*" {
            items.push(SelectItem::Star);
            continue;
        }
        let (alias, body) = match part.split_once(':') {
            Some((a, b)) if !a.contains('(') => (Some(a.trim().to_string()), b.trim()),
            _ => (None, part),
        };
        // Aliases become JSON keys inside generated SQL: identifiers only, like column names.
        if let Some(a) = &alias {
            check_ident(a).map_err(|_| fail("bad alias"))?;
        }
        if let Some(open) = body.find('(') {
            let inner = body[open + 1..]
                .strip_suffix(')')
                .ok_or_else(|| fail("embed must end with ')'"))?;
            let target = &body[..open];
            let (table, hint) = match target.split_once('!') {
                Some((t, h)) => (t.to_string(), Some(h.to_string())),
                None => (target.to_string(), None),
            };
            check_ident(&table).map_err(|_| fail("bad table name"))?;
            // Counted before recursing: the cap on embeds bounds the nesting depth too.
            budget.embed()?;
            let columns = if inner.trim().is_empty() {
                vec![SelectItem::Star]
            } else {
                parse_items(inner, budget)?
            };
            items.push(SelectItem::Embed {
                alias,
                table,
                hint,
                columns,
            });
        } else {
            check_ident(body).map_err(|_| fail("bad column name"))?;
            items.push(SelectItem::Column {
                alias,
                name: body.to_string(),
            });
        }
    }
    Ok(items)
}

/// Parses `order=`, within [`MAX_ORDER_TERMS`].
fn parse_order(text: &str) -> Result<Vec<OrderTerm>> {
    caps::at_most(
        "order",
        "terms",
        text.split(',').take(MAX_ORDER_TERMS + 1).count(),
        MAX_ORDER_TERMS,
    )?;
    let fail = || Error::bad_query(format!("failed to parse order ({})", bounded(text)));
    let mut terms = Vec::new();
    for part in text.split(',') {
        let mut pieces = part.trim().split('.');
        let column = pieces.next().unwrap_or_default().to_string();
        check_ident(&column).map_err(|_| fail())?;
        let mut term = OrderTerm {
            column,
            desc: false,
            nulls_first: None,
        };
        for modifier in pieces {
            match modifier {
                "asc" => term.desc = false,
                "desc" => term.desc = true,
                "nullsfirst" => term.nulls_first = Some(true),
                "nullslast" => term.nulls_first = Some(false),
                _ => return Err(fail()),
            }
        }
        terms.push(term);
    }
    Ok(terms)
}

fn check_ident(name: &str) -> std::result::Result<(), ()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::filter::Operand;

    #[test]
    fn parses_a_full_query() {
        let q = parse_query(
            "select=id,body,sender:users(display_name)&conversation_id=eq.abc&created_at=lt.2026-01-01T00:00:00%2B00:00&order=created_at.desc,id&limit=50&offset=10",
        )
        .unwrap();
        assert_eq!(q.select.len(), 3);
        assert!(
            matches!(&q.select[2], SelectItem::Embed { alias: Some(a), table, .. } if a == "sender" && table == "users")
        );
        assert_eq!(q.filters.len(), 2);
        assert_eq!(
            q.filters[1].operand,
            Operand::Value("2026-01-01T00:00:00+00:00".into())
        );
        assert_eq!(
            q.order[0],
            OrderTerm {
                column: "created_at".into(),
                desc: true,
                nulls_first: None
            }
        );
        assert!(!q.order[1].desc);
        assert_eq!((q.limit, q.offset), (Some(50), Some(10)));
    }

    #[test]
    fn rejects_malformed_input() {
        assert!(parse_query("x=like.a").is_err());
        assert!(parse_query("select=id,(").is_err());
        assert!(parse_query("select=a;drop").is_err());
        assert!(parse_query("order=x.sideways").is_err());
        assert!(parse_query("limit=-1").is_err());
        assert!(parse_query("limit=ten").is_err());
    }

    /// Issue 13, item 5: every list and number is refused past its cap, before any SQL.
    #[test]
    fn lists_and_numbers_are_capped() {
        let code = |q: &str| match parse_query(q) {
            Err(Error::Api { code, .. }) => code,
            other => panic!("{q}: {other:?}"),
        };
        let list = |item: &str, sep: &str, n: usize| vec![item; n].join(sep);
        let nested = |n: usize| format!("{}id{}", "e:t(".repeat(n), ")".repeat(n));
        for (ok, bad) in [
            (
                format!("select={}", list("id", ",", 100)),
                format!("select={}", list("id", ",", 101)),
            ),
            (
                format!("select=a,u(b,c(d,{}))", list("id", ",", 95)),
                format!("select=a,u(b,c(d,{}))", list("id", ",", 96)),
            ),
            (
                format!("select={}", list("u(id)", ",", 10)),
                format!("select={}", list("u(id)", ",", 11)),
            ),
            (
                format!("select={}", nested(10)),
                format!("select={}", nested(11)),
            ),
            (
                format!("order={}", list("id", ",", 20)),
                format!("order={}", list("id", ",", 21)),
            ),
            (list("id=eq.1", "&", 100), list("id=eq.1", "&", 101)),
            (
                format!("offset={}", i64::MAX),
                "offset=9223372036854775808".into(),
            ),
            (
                format!("limit={}", i64::MAX),
                "limit=9223372036854775808".into(),
            ),
        ] {
            assert!(parse_query(&ok).is_ok(), "{ok}");
            assert_eq!(code(&bad), "PGRST100", "{bad}");
        }
        // Deeper than the parser could recurse: refused at the eleventh level.
        assert_eq!(code(&format!("select={}", nested(20_000))), "PGRST100");
    }

    #[test]
    fn nul_in_a_filter_value_is_22021_after_the_grammar() {
        let code = |q: &str| match parse_query(q) {
            Err(Error::Api { code, .. }) => code,
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(code("body=eq.%00"), "22021");
        assert_eq!(code("body=in.(a,%22%00%22)"), "22021");
        assert_eq!(code("id=not.lt.x%00"), "22021");
        assert_eq!(code("body=like.%00"), "PGRST100", "the grammar first");
        assert_eq!(code("select=id%00"), "PGRST100");
    }

    #[test]
    fn the_api_key_and_write_options_are_not_filters() {
        let q = parse_query("apikey=k&columns=a,b&on_conflict=id&id=eq.1").unwrap();
        assert_eq!(q.filters.len(), 1);
        assert_eq!(q.filters[0].column, "id");
    }
}

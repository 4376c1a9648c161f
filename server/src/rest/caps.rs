//! Caps on the shape of one REST request, checked while its query string is parsed, before
//! any SQL is built (issue 13, items 2 and 5).
//!
//! Each cap sits far below the SQLite limit it keeps user input away from, so that a request
//! past it is the client's 400 and never SQLite's 500, and small enough that one request
//! stays cheap: an embed is a correlated subquery run once per row, so 600 of them over
//! 1,000 rows kept a reader busy for 26 s. The SQLite limits are those of the bundled
//! library's defaults (<https://www.sqlite.org/limits.html>): 2,000 result columns and
//! `ORDER BY` terms (`SQLITE_MAX_COLUMN`), expression depth 1,000 (`SQLITE_MAX_EXPR_DEPTH`;
//! AND-ed filters nest one level each), 1,000 arguments to one function
//! (`SQLITE_MAX_FUNCTION_ARG`; an embed is one `json_object` with two per column) and
//! 32,766 bound variables (`SQLITE_MAX_VARIABLE_NUMBER`; at most one per filter and a few per
//! embed). The app itself asks for at most two embeds, a dozen items, three filters and two
//! order terms.
//!
//! PostgREST has no such caps (Postgres answers the same inputs with its own limits, 54011
//! "target lists can have at most 1664 entries" and friends, as 500s); the embedded server
//! refuses them as query-string errors, 400 `PGRST100`, naming the cap.

use crate::error::{Error, Result};

/// Most items in `select`, counted over every level (an embed is one item, and so is each
/// item inside it; `*` is one).
pub const MAX_SELECT_ITEMS: usize = 100;

/// Most embedded resources in `select`, nested ones included. Bounds the correlated
/// subqueries per row and the nesting depth the parser recurses to.
pub const MAX_EMBEDS: usize = 10;

/// Most horizontal filters (`col=op.value`) in one request.
pub const MAX_FILTERS: usize = 100;

/// Most terms in `order`.
pub const MAX_ORDER_TERMS: usize = 20;

/// Largest `limit` or `offset`: Postgres's `bigint` (and SQLite's integer) maximum,
/// 9,223,372,036,854,775,807. PostgREST inlines both into SQL as `bigint`s.
pub const MAX_COUNT: u64 = i64::MAX as u64;

/// 400 `PGRST100` for a `param` (`select`, `order`, filters) holding more than `cap` `what`.
/// The text itself is not echoed: it may be the whole 64 KiB query string.
pub fn too_many(param: &str, what: &str, cap: usize) -> Error {
    Error::bad_query(format!("failed to parse {param} parameter"))
        .with_details(format!("more than {cap} {what}"))
        .with_hint(format!("ask for at most {cap} {what} in one request"))
}

/// The error for a read whose answer would pass `cap` bytes: Postgres's 54000
/// (program_limit_exceeded, what it raises for a value past its own size limits), answered
/// 500 as PostgREST maps class 54. The client can ask for fewer rows or columns.
pub fn response_too_large(cap: usize) -> Error {
    Error::api(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "54000",
        format!("the response would be larger than {cap} bytes"),
    )
    .with_hint("ask for fewer rows (limit) or fewer columns (select)")
}

/// Counts what one `select` parameter asks for while it is parsed, refusing the first item
/// past a cap, so that neither the parse nor its recursion into embeds outgrows them.
#[derive(Debug, Default)]
pub struct SelectBudget {
    items: usize,
    embeds: usize,
}

impl SelectBudget {
    /// Takes `n` more items.
    ///
    /// # Errors
    /// [`too_many`] past [`MAX_SELECT_ITEMS`].
    pub fn items(&mut self, n: usize) -> Result<()> {
        self.items = self.items.saturating_add(n);
        if self.items > MAX_SELECT_ITEMS {
            return Err(too_many("select", "items", MAX_SELECT_ITEMS));
        }
        Ok(())
    }

    /// Takes one more embed.
    ///
    /// # Errors
    /// [`too_many`] past [`MAX_EMBEDS`].
    pub fn embed(&mut self) -> Result<()> {
        self.embeds += 1;
        if self.embeds > MAX_EMBEDS {
            return Err(too_many("select", "embedded resources", MAX_EMBEDS));
        }
        Ok(())
    }
}

/// Refuses a list of `n` `what` in `param` longer than `cap`.
///
/// # Errors
/// [`too_many`].
pub fn at_most(param: &str, what: &str, n: usize, cap: usize) -> Result<()> {
    if n > cap {
        return Err(too_many(param, what, cap));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_refuse_the_first_item_past_the_cap() {
        let mut budget = SelectBudget::default();
        assert!(budget.items(MAX_SELECT_ITEMS).is_ok());
        let e = budget.items(1).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(matches!(&e, Error::Api { code, .. } if code == "PGRST100"));
        let mut budget = SelectBudget::default();
        for _ in 0..MAX_EMBEDS {
            budget.embed().unwrap();
        }
        assert!(budget.embed().is_err());
        assert!(at_most("order", "terms", 20, 20).is_ok());
        assert!(at_most("order", "terms", 21, 20).is_err());
    }

    /// The caps keep the SQL they allow inside SQLite's limits: the generated statement for
    /// the largest request they let through is prepared without error.
    #[test]
    fn the_caps_are_below_sqlites_limits() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT, b TEXT)")
            .unwrap();
        let columns = vec!["t.a"; MAX_SELECT_ITEMS].join(", ");
        let filters = vec!["t.a <> ?"; MAX_FILTERS].join(" AND ");
        let order = vec!["t.a ASC NULLS LAST"; MAX_ORDER_TERMS].join(", ");
        let pairs = vec!["'k', t.b"; MAX_SELECT_ITEMS].join(", ");
        let embeds = vec![format!("json(json_object({pairs}))"); MAX_EMBEDS].join(", ");
        let sql = format!(
            "SELECT {columns}, {embeds} FROM t WHERE (1) AND ({filters}) ORDER BY {order} \
             LIMIT ? OFFSET ?"
        );
        conn.prepare(&sql).unwrap();
    }
}

//! The PostgREST horizontal filter `col=[not.]op.value`, which Realtime's postgres_changes
//! filters reuse: grammar, normalising values to their stored form, and evaluation on a row.
//!
//! REST compiles filters to SQL (`rest::select`); Realtime evaluates them on a committed
//! row with [`Filter::matches_row`]. How values are quoted is [`super::values`]; the two
//! protocols read single values differently ([`Dialect`]).

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::tables::ColType;
use super::values::{self, ListItems};
use crate::clock;
use crate::error::{Error, Result};

/// Comparison operators we support (PostgREST's names; Realtime accepts the first seven).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `<>`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `IN (…)`
    In,
    /// `IS NULL` and friends
    Is,
}

impl Op {
    fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "eq" => Op::Eq,
            "neq" => Op::Neq,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "in" => Op::In,
            "is" => Op::Is,
            _ => return None,
        })
    }

    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Neq => "<>",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::In => "IN",
            Op::Is => "IS",
        }
    }
}

/// The operand of a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A single value.
    Value(String),
    /// The list of `in.(…)`.
    List(Vec<String>),
    /// `is.null` / `is.not_null`.
    Null {
        /// True for `not_null`.
        not: bool,
    },
}

impl Operand {
    /// The operand with every value in the stored form of a column of type `ty`.
    ///
    /// # Errors
    /// 400 (`22P02`/`22007`) for a value that is not of that type, as Postgres would.
    pub fn normalised(self, ty: ColType) -> Result<Operand> {
        Ok(match self {
            Operand::Value(v) => Operand::Value(normalise(ty, &v)?),
            Operand::List(vs) => {
                Operand::List(vs.iter().map(|v| normalise(ty, v)).collect::<Result<_>>()?)
            }
            null => null,
        })
    }
}

/// One horizontal filter `col=[not.]op.value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Column name.
    pub column: String,
    /// `not.` prefix.
    pub negated: bool,
    /// Operator.
    pub op: Op,
    /// Operand, as sent until normalised against the column's type.
    pub operand: Operand,
}

/// Which grammar a filter's text follows; they differ only in how values are quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// A PostgREST query-string filter: single values are taken exactly as written
    /// (`pSingleVal`), `in` items as in [`values::list`] with [`ListItems::AsWritten`].
    Rest,
    /// A part of Realtime's postgres_changes `filter`: a wholly quoted single value is
    /// unquoted ([`values::unquote_whole`]) and bare `in` items are trimmed, as the array
    /// literal Realtime builds from the list is read by Postgres (`subscriptions.ex`).
    Realtime,
}

impl Filter {
    /// Parses the value side of a PostgREST query-string filter `column=value`; names are
    /// checked later, against a table.
    ///
    /// # Errors
    /// 400 `PGRST100` for an unknown operator or a malformed operand.
    pub fn parse(column: &str, value: &str) -> Result<Filter> {
        Filter::parse_in(Dialect::Rest, column, value)
    }

    /// Parses one AND-ed part `column=value` of a Realtime postgres_changes `filter` (the
    /// parts come from [`values::split_top_level`]); surrounding spaces are ignored, as
    /// Realtime trims each part.
    ///
    /// # Errors
    /// 400 `PGRST100` for a part without `=`, an unknown operator or a malformed operand.
    pub fn parse_realtime(part: &str) -> Result<Filter> {
        let part = part.trim();
        let (column, value) = part
            .split_once('=')
            .ok_or_else(|| Error::bad_query(format!("missing '=' in filter part ({part})")))?;
        Filter::parse_in(Dialect::Realtime, column, value)
    }

    /// Parses `[not.]op.operand` in `dialect`.
    fn parse_in(dialect: Dialect, column: &str, value: &str) -> Result<Filter> {
        let fail = || Error::bad_query(format!("failed to parse filter ({value})"));
        if column.is_empty() {
            return Err(fail());
        }
        let (negated, rest) = match value.strip_prefix("not.") {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let (op_text, operand_text) = rest.split_once('.').ok_or_else(fail)?;
        let op = Op::parse(op_text).ok_or_else(|| {
            fail()
                .with_details(format!("unknown operator \"{op_text}\""))
                .with_hint("supported: eq, neq, gt, gte, lt, lte, in, is")
        })?;
        let operand = match (op, dialect) {
            (Op::In, Dialect::Rest) => {
                Operand::List(values::list(operand_text, ListItems::AsWritten).ok_or_else(fail)?)
            }
            (Op::In, Dialect::Realtime) => {
                Operand::List(values::list(operand_text, ListItems::Trimmed).ok_or_else(fail)?)
            }
            (Op::Is, _) => match operand_text {
                "null" => Operand::Null { not: false },
                "not_null" => Operand::Null { not: true },
                _ => return Err(fail().with_hint("is accepts null or not_null here")),
            },
            (_, Dialect::Rest) => Operand::Value(operand_text.to_string()),
            (_, Dialect::Realtime) => Operand::Value(values::unquote_whole(operand_text)),
        };
        Ok(Filter {
            column: column.to_string(),
            negated,
            op,
            operand,
        })
    }

    /// Whether a row (JSON object of stored-form text values) passes this filter, with SQL's
    /// meaning: a missing or NULL value never passes, and stored forms compare as text
    /// (canonical timestamps are fixed-width, so text order is time order). Negated and `is`
    /// filters are not evaluated here (Realtime refuses them at join) and never pass.
    /// Integer columns hold JSON numbers and compare as numbers.
    pub fn matches_row(&self, row: &Map<String, Value>) -> bool {
        let actual = match row.get(&self.column) {
            Some(Value::String(text)) => Stored::Text(text),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(n) => Stored::Integer(n),
                None => return false,
            },
            _ => return false,
        };
        if self.negated {
            return false;
        }
        use std::cmp::Ordering::*;
        let compare = |v: &String| actual.compare(v);
        match (&self.op, &self.operand) {
            (Op::Eq, Operand::Value(v)) => compare(v) == Some(Equal),
            (Op::Neq, Operand::Value(v)) => matches!(compare(v), Some(Less | Greater)),
            (Op::Lt, Operand::Value(v)) => compare(v) == Some(Less),
            (Op::Lte, Operand::Value(v)) => matches!(compare(v), Some(Less | Equal)),
            (Op::Gt, Operand::Value(v)) => compare(v) == Some(Greater),
            (Op::Gte, Operand::Value(v)) => matches!(compare(v), Some(Greater | Equal)),
            (Op::In, Operand::List(vs)) => vs.iter().any(|v| compare(v) == Some(Equal)),
            _ => false,
        }
    }
}

/// Deepest nesting of PostgREST logic trees (`or=(a.eq.1,and(b.eq.2,or(…)))`): each level
/// is a parenthesised SQL expression and a recursion of the parser. The app nests two.
pub const MAX_LOGIC_DEPTH: usize = 10;

/// A PostgREST logic tree, the value of an `or`, `and`, `not.or` or `not.and` query
/// parameter (`QueryParams.pLogicTree`): its terms OR-ed or AND-ed, the whole negated with
/// `not.`. REST only; Realtime has no such filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Logic {
    /// `not.` before the operator.
    pub negated: bool,
    /// `or` (true) or `and`.
    pub any: bool,
    /// One or more terms.
    pub terms: Vec<Term>,
}

/// One term of a [`Logic`] tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// `column.[not.]op.value`.
    Filter(Filter),
    /// A nested `[not.]and(…)` or `[not.]or(…)`.
    Tree(Logic),
}

impl Logic {
    /// The logic tree of query parameter `key=value` when `key` is one of `or`, `and`,
    /// `not.or`, `not.and`; `None` for any other key (a column filter).
    ///
    /// The grammar is PostgREST's: terms separated by commas inside parentheses; a term is
    /// a nested tree or `column.[not.]op.value`, where a value is a double-quoted value
    /// ([`values::quoted`]) followed by `,` or `)`, else everything up to the next `,` or
    /// `)`, and an `in` operand is a parenthesised list ([`values::list`]).
    ///
    /// # Errors
    /// 400 `PGRST100` "failed to parse logic tree (…)" for what does not parse, an unknown
    /// operator, or nesting past [`MAX_LOGIC_DEPTH`].
    pub fn parse_param(key: &str, value: &str) -> Option<Result<Logic>> {
        let (negated, any) = match key {
            "or" => (false, true),
            "and" => (false, false),
            "not.or" => (true, true),
            "not.and" => (true, false),
            _ => return None,
        };
        let fail = |why: &str| {
            Error::bad_query(format!(
                "failed to parse logic tree ({})",
                crate::error::bounded(value)
            ))
            .with_details(why.to_string())
        };
        Some((|| {
            let mut parser = LogicParser { rest: value };
            let terms = parser.group(1).map_err(|why| fail(&why))?;
            if !parser.rest.is_empty() {
                return Err(fail("unexpected text after the closing parenthesis"));
            }
            Ok(Logic {
                negated,
                any,
                terms,
            })
        })())
    }

    /// The column filters in the tree, at every level (each counts against the cap on
    /// filters).
    pub fn filter_count(&self) -> usize {
        self.terms
            .iter()
            .map(|t| match t {
                Term::Filter(_) => 1,
                Term::Tree(inner) => inner.filter_count(),
            })
            .sum()
    }
}

/// A recursive-descent reader of one logic tree's text; `rest` is what is left to read.
struct LogicParser<'a> {
    rest: &'a str,
}

impl LogicParser<'_> {
    /// `(term,term,…)` at nesting `depth`.
    fn group(&mut self, depth: usize) -> std::result::Result<Vec<Term>, String> {
        if depth > MAX_LOGIC_DEPTH {
            return Err(format!("more than {MAX_LOGIC_DEPTH} nested logic trees"));
        }
        self.rest = self.rest.strip_prefix('(').ok_or("expecting \"(\"")?;
        let mut terms = Vec::new();
        loop {
            terms.push(self.term(depth)?);
            let mut chars = self.rest.chars();
            match chars.next() {
                Some(',') => self.rest = chars.as_str(),
                Some(')') => {
                    self.rest = chars.as_str();
                    return Ok(terms);
                }
                _ => return Err("expecting \",\" or \")\"".into()),
            }
        }
    }

    /// A nested tree or a column filter.
    fn term(&mut self, depth: usize) -> std::result::Result<Term, String> {
        for (prefix, negated, any) in [
            ("not.and(", true, false),
            ("not.or(", true, true),
            ("and(", false, false),
            ("or(", false, true),
        ] {
            if self.rest.starts_with(prefix) {
                self.rest = &self.rest[prefix.len() - 1..];
                let terms = self.group(depth + 1)?;
                return Ok(Term::Tree(Logic {
                    negated,
                    any,
                    terms,
                }));
            }
        }
        let (column, after) = self
            .rest
            .split_once('.')
            .ok_or("expecting column.operator.value")?;
        let (negation, after) = match after.strip_prefix("not.") {
            Some(after) => ("not.", after),
            None => ("", after),
        };
        let (op, after) = after.split_once('.').ok_or("expecting operator.value")?;
        let operand = if op == "in" {
            let end = list_end(after).ok_or("unclosed in list")?;
            let (list, tail) = after.split_at(end);
            self.rest = tail;
            list.to_string()
        } else {
            match values::quoted(after) {
                Some((value, tail)) if tail.is_empty() || tail.starts_with([',', ')']) => {
                    self.rest = tail;
                    value
                }
                _ => {
                    let end = after.find([',', ')']).unwrap_or(after.len());
                    self.rest = &after[end..];
                    after[..end].to_string()
                }
            }
        };
        if column.is_empty() || column.contains(['(', ')', ',']) {
            return Err(format!("bad column name \"{column}\""));
        }
        Filter::parse(column, &format!("{negation}{op}.{operand}"))
            .map(Term::Filter)
            .map_err(|e| match e {
                Error::Api {
                    message, details, ..
                } => details.unwrap_or(message),
                other => other.to_string(),
            })
    }
}

/// The length of the `in` list at the start of `text`, `(` to its closing `)`; quoted
/// items may hold `,` and `)`. `None` when it is not a closed list.
fn list_end(text: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    if chars.next()?.1 != '(' {
        return None;
    }
    let (mut quoted, mut escaped, mut item_start) = (false, false, true);
    for (i, c) in chars {
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' if item_start => quoted = true,
            ')' => return Some(i + 1),
            _ => {}
        }
        item_start = c == ',';
    }
    None
}

/// A row's value as stored: text (compared as text) or an integer (compared as a number).
enum Stored<'a> {
    Text(&'a str),
    Integer(i64),
}

impl Stored<'_> {
    /// How the stored value orders against a normalised operand; `None` when they cannot be
    /// compared (a non-number against an integer), which no filter passes.
    fn compare(&self, operand: &str) -> Option<std::cmp::Ordering> {
        match self {
            Stored::Text(text) => Some((*text).cmp(operand)),
            Stored::Integer(n) => operand.parse::<i64>().ok().map(|o| n.cmp(&o)),
        }
    }
}

/// Normalises a filter value to the stored form of its column type.
///
/// # Errors
/// 400 `22P02` for a bad UUID or integer, `22007` for a bad timestamp, with Postgres's
/// messages.
pub fn normalise(ty: ColType, value: &str) -> Result<String> {
    match ty {
        ColType::Text => Ok(value.to_string()),
        ColType::Uuid => uuid::Uuid::parse_str(value)
            .map(|u| u.to_string())
            .map_err(|_| {
                Error::api(
                    StatusCode::BAD_REQUEST,
                    "22P02",
                    format!("invalid input syntax for type uuid: \"{value}\""),
                )
            }),
        ColType::Integer => value
            .trim()
            .parse::<i32>()
            .map(|n| n.to_string())
            .map_err(|_| {
                Error::api(
                    StatusCode::BAD_REQUEST,
                    "22P02",
                    format!("invalid input syntax for type integer: \"{value}\""),
                )
            }),
        ColType::Timestamp => clock::canonical(value).ok_or_else(|| {
            Error::api(
                StatusCode::BAD_REQUEST,
                "22007",
                format!("invalid input syntax for type timestamp with time zone: \"{value}\""),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_operators() {
        let f = Filter::parse("id", "in.(a,\"b,c\",d)").unwrap();
        assert_eq!(
            f.operand,
            Operand::List(vec!["a".into(), "b,c".into(), "d".into()])
        );
        let f = Filter::parse("x", "not.is.null").unwrap();
        assert!(f.negated);
        assert_eq!(f.operand, Operand::Null { not: false });
        for op in ["eq", "neq", "gt", "gte", "lt", "lte"] {
            assert!(Filter::parse("x", &format!("{op}.1")).is_ok(), "{op}");
        }
        assert_eq!(
            Filter::parse("x", "in.()").unwrap().operand,
            Operand::List(vec![])
        );
        assert_eq!(
            Filter::parse_realtime(" x=eq.\"a.b\" ").unwrap().operand,
            Operand::Value("a.b".into()),
            "Realtime unquotes a wholly quoted value"
        );
    }

    /// PostgREST's grammar (`QueryParams.pListElement`, `pQuotedValue`, `pSingleVal`): list
    /// items may be double-quoted, and inside quotes a backslash takes the next character
    /// literally; an item that is not a whole quoted item is taken as written.
    #[test]
    fn rest_values_follow_postgrests_quoting() {
        let list = |items: &[&str]| Operand::List(items.iter().map(|s| s.to_string()).collect());
        let value = |v: &str| Operand::Value(v.to_string());
        let cases: Vec<(&str, Operand)> = vec![
            (r#"in.("5\" gauze")"#, list(&[r#"5" gauze"#])),
            (r#"in.("a\",b")"#, list(&[r#"a",b"#])),
            (r#"in.("D:\\scan.pdf")"#, list(&[r"D:\scan.pdf"])),
            (r#"in.("\\")"#, list(&[r"\"])),
            (r#"in.("\x\(")"#, list(&["x("])),
            (r#"in.(5" gauze,b)"#, list(&[r#"5" gauze"#, "b"])),
            (r#"in.("a,b",c)"#, list(&["a,b", "c"])),
            (r#"in.("x(y)",z)"#, list(&["x(y)", "z"])),
            (r#"in.("",a)"#, list(&["", "a"])),
            (r#"in.("ab"cd,e)"#, list(&[r#""ab"cd"#, "e"])),
            (r#"in.(D:\scan.pdf)"#, list(&[r"D:\scan.pdf"])),
            ("in.(a b,c)", list(&["a b", "c"])),
            ("in.()", list(&[])),
            (r#"in.("a)"#, list(&[r#""a"#])),
            (r#"not.in.("a\"b")"#, list(&[r#"a"b"#])),
            // Outside lists PostgREST takes the value as written, quotes and all.
            (r#"eq."a.b""#, value(r#""a.b""#)),
            (r#"eq.5" gauze"#, value(r#"5" gauze"#)),
            (r"eq.D:\scan.pdf", value(r"D:\scan.pdf")),
            ("eq.a,b", value("a,b")),
            ("eq. padded ", value(" padded ")),
        ];
        for (text, want) in cases {
            match Filter::parse("body", text) {
                Ok(f) => assert_eq!(f.operand, want, "{text}"),
                Err(e) => panic!("{text}: {e}"),
            }
        }
        for bad in ["in.(a,b", "in.a,b", r#"in.("a""#, "in.(a)b"] {
            assert!(Filter::parse("body", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_malformed_filters() {
        assert!(Filter::parse("x", "like.a").is_err());
        assert!(Filter::parse("x", "eq").is_err());
        assert!(Filter::parse("x", "in.(a,b").is_err());
        assert!(Filter::parse("x", "is.maybe").is_err());
        assert!(Filter::parse("", "eq.1").is_err());
    }

    #[test]
    fn normalises_to_stored_forms() {
        assert_eq!(
            normalise(ColType::Uuid, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11").unwrap(),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        );
        assert_eq!(
            normalise(ColType::Timestamp, "2026-01-01T01:00:00+01:00").unwrap(),
            "2026-01-01T00:00:00.000000+00:00"
        );
        assert_eq!(normalise(ColType::Text, " x ").unwrap(), " x ");
        assert_eq!(normalise(ColType::Uuid, "nope").unwrap_err().status(), 400);
        assert!(normalise(ColType::Timestamp, "yesterday").is_err());
        let list = Operand::List(vec!["2026-01-01T00:00:00Z".into()]);
        assert_eq!(
            list.normalised(ColType::Timestamp).unwrap(),
            Operand::List(vec!["2026-01-01T00:00:00.000000+00:00".into()])
        );
    }

    #[test]
    fn evaluates_on_rows_as_sql_would() {
        let row = json!({"a": "m", "t": "2026-01-01T00:00:00.000000+00:00", "n": null});
        let row = row.as_object().unwrap();
        let passes = |col: &str, value: &str| Filter::parse(col, value).unwrap().matches_row(row);
        assert!(passes("a", "eq.m") && !passes("a", "eq.z"));
        assert!(passes("a", "neq.z") && !passes("a", "neq.m"));
        assert!(passes("a", "lt.n") && passes("a", "lte.m") && !passes("a", "lt.m"));
        assert!(passes("a", "gt.l") && passes("a", "gte.m") && !passes("a", "gt.m"));
        assert!(passes("a", "in.(x,m)") && !passes("a", "in.()"));
        assert!(passes("t", "lt.2026-01-01T00:00:00.000001+00:00"));
        assert!(!passes("n", "neq.x"), "NULL compares as unknown");
        assert!(!passes("missing", "neq.x"));
        assert!(
            !passes("a", "not.eq.z"),
            "negation is refused at join, never matched"
        );
    }

    /// PostgREST's logic trees (`QueryParams.pLogicTree`): nesting, `not.`, quoted values
    /// holding `,()`, `in` lists, and the history cursor the app sends.
    #[test]
    fn parses_logic_trees() {
        let leaf = |column: &str, value: &str| Term::Filter(Filter::parse(column, value).unwrap());
        let tree = |key: &str, value: &str| Logic::parse_param(key, value).unwrap().unwrap();
        let t = "2026-01-01T00:00:00.000000+00:00";
        let cursor = tree(
            "or",
            &format!("(created_at.lt.{t},and(created_at.eq.{t},id.lt.abc))"),
        );
        assert_eq!(
            cursor,
            Logic {
                negated: false,
                any: true,
                terms: vec![
                    leaf("created_at", &format!("lt.{t}")),
                    Term::Tree(Logic {
                        negated: false,
                        any: false,
                        terms: vec![leaf("created_at", &format!("eq.{t}")), leaf("id", "lt.abc")],
                    }),
                ],
            }
        );
        assert_eq!(cursor.filter_count(), 3);
        let mixed = tree(
            "not.and",
            r#"(body.eq."a,b(c)",id.in.("x)",y),x.not.is.null,not.or(a.gt.1,b.lte.2))"#,
        );
        assert!(mixed.negated && !mixed.any);
        assert_eq!(mixed.terms[0], leaf("body", "eq.a,b(c)"));
        assert_eq!(mixed.terms[1], leaf("id", r#"in.("x)",y)"#));
        assert_eq!(mixed.terms[2], leaf("x", "not.is.null"));
        assert!(
            matches!(&mixed.terms[3], Term::Tree(Logic { negated: true, any: true, terms }) if terms.len() == 2)
        );
        assert_eq!(
            tree("or", r#"(body.eq.5" gauze,body.eq.(x)"#).terms,
            vec![leaf("body", r#"eq.5" gauze"#), leaf("body", "eq.(x")],
            "unquoted values run to the next , or ) as written"
        );
        assert!(Logic::parse_param("body", "eq.1").is_none());
        assert!(Logic::parse_param("x.or", "(a.eq.1)").is_none());
    }

    #[test]
    fn refuses_malformed_logic_trees() {
        let nested = |n: usize| format!("({}a.eq.1{})", "or(".repeat(n), ")".repeat(n));
        assert!(Logic::parse_param("or", &nested(MAX_LOGIC_DEPTH - 1))
            .unwrap()
            .is_ok());
        for bad in [
            "a.eq.1",
            "()",
            "(a.eq.1",
            "(a.eq.1))",
            "(a.eq.1,)",
            "(a.like.1)",
            "(a)",
            "(a.eq)",
            "(and(a.eq.1)",
            "(a.in.(1,2)",
            "(a.is.maybe)",
            &nested(MAX_LOGIC_DEPTH),
        ] {
            match Logic::parse_param("or", bad) {
                Some(Err(Error::Api { code, .. })) => assert_eq!(code, "PGRST100", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn integers_normalise_and_compare_as_numbers() {
        assert_eq!(normalise(ColType::Integer, "007").unwrap(), "7");
        assert_eq!(
            normalise(ColType::Integer, "x").unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        assert!(normalise(ColType::Integer, "1.5").is_err());
        let row = json!({"position": 10});
        let row = row.as_object().unwrap();
        let passes = |value: &str| Filter::parse("position", value).unwrap().matches_row(row);
        assert!(passes("gt.9"), "10 > 9 as numbers, not as text");
        assert!(passes("eq.10") && passes("in.(1,10)") && passes("lte.10"));
        assert!(!passes("lt.9") && !passes("eq.x") && !passes("neq.x"));
    }
}

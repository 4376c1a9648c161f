//! Message search: the `search_messages(query, max)` RPC (ARCHITECTURE.md, "Message search").
//!
//! The hosted twin is `supabase/migrations/20261201100000_message_search.sql`; both answer
//! the same rows and the same snippets for the same data, so every rule is written here once
//! in plain Rust and there once in SQL, with the same definitions:
//!
//! - a **word character** is a Unicode letter (general category `L*`) or decimal digit
//!   (`Nd`): what ICU's `u_isalnum` answers, which is Postgres's `[[:alnum:]]` under the
//!   `und-x-icu` collation;
//! - **folding** lowercases each character with its full Unicode mapping (ICU's root
//!   `u_strToLower`, Postgres's `lower(… collate "und-x-icu")`), then `ς` becomes `σ`, so
//!   folding is context-free (ICU's final-sigma rule looks at neighbours);
//! - the **words** of a text are the runs of word characters of its folded form, each cut to
//!   [`MAX_WORD_CHARS`] (a Postgres lexeme holds at most 2,047 bytes);
//! - a message **matches** when every query word is a prefix of one of its body's words.
//!
//! SQLite indexes the words in the FTS5 table `message_search` (`db/migrations.rs`), filled by a
//! trigger calling [`INDEX_FUNCTION`]; the tokenizer only splits the words on the spaces put
//! between them, so FTS5's own (Unicode 6.1) tables never decide what a word is.

use axum::http::StatusCode;
use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{json, Value};
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use crate::auth::jwt::Principal;
use crate::error::{Error, Result};
use crate::schema::tables::MESSAGES;

/// Longest indexed word, in characters: longer words are indexed (and query words used) by
/// their first 256 characters, so a query word over 256 characters also matches body words
/// that only share those. 256 characters of UTF-8 stay under Postgres's 2,047-byte lexeme.
pub const MAX_WORD_CHARS: usize = 256;

/// Most words a query may have (each one more AND term on an index scan).
pub const MAX_QUERY_WORDS: usize = 16;

/// `max` when the call names none.
pub const DEFAULT_MAX: i64 = 20;

/// Largest `max` a call may ask for.
pub const MAX_RESULTS: i64 = 100;

/// Characters of the body a snippet shows at most (not counting its `…` marks).
pub const SNIPPET_CHARS: usize = 160;

/// Characters a cut snippet keeps before its first match, when the body allows.
pub const SNIPPET_LEAD: usize = 40;

/// The SQL function (one text argument) giving a body's words joined by single spaces: what
/// the FTS5 table indexes. Registered on every connection ([`register_functions`]).
pub const INDEX_FUNCTION: &str = "search_words";

/// Whether `c` is a word character: a letter (`L*`) or a decimal digit (`Nd`).
pub fn is_word_char(c: char) -> bool {
    c.general_category_group() == GeneralCategoryGroup::Letter
        || c.general_category() == GeneralCategory::DecimalNumber
}

/// `text` folded for matching: each character's full lowercase mapping, `ς` as `σ`.
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ς' { 'σ' } else { c })
        .collect()
}

/// The words of `text`: runs of word characters of its folded form, in order (repeats
/// kept), each cut to [`MAX_WORD_CHARS`].
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(MAX_WORD_CHARS).collect())
        .collect()
}

/// What the FTS5 table indexes for a body: its [`words`] joined by single spaces.
pub fn index_text(body: &str) -> String {
    words(body).join(" ")
}

/// The FTS5 query for `words`: each a quoted prefix term, all required. The words hold only
/// letters and digits, so nothing from the caller reaches FTS5 as query syntax.
pub fn fts_query(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("\"{w}\"*"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Registers [`INDEX_FUNCTION`] on `conn`: the migration and the insert trigger call it, so
/// every connection that may write messages needs it (the server registers it on all).
///
/// # Errors
/// SQLite's, should registration fail.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        INDEX_FUNCTION,
        1,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            let body: Option<String> = ctx.get(0)?;
            Ok(body.map(|b| index_text(&b)))
        },
    )
}

/// One piece of a snippet: body text, and whether it is (part of) a matching word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// The text, as in the body (or `…` where the body was cut).
    pub text: String,
    /// Whether the text is a word some query word is a prefix of.
    #[serde(rename = "match")]
    pub matched: bool,
}

/// Whether the body word `word` (a run of word characters) matches a query word: one of its
/// own [`words`] (folding may split it, e.g. `İ` folds to `i` and a combining dot) starts
/// with one of `query`.
fn word_matches(word: &str, query: &[String]) -> bool {
    words(word)
        .iter()
        .any(|w| query.iter().any(|q| w.starts_with(q.as_str())))
}

/// The snippet of `body` for the query words `query`: the body cut into runs of word and of
/// other characters, each word marked when it matches. A body over [`SNIPPET_CHARS`]
/// characters is cut (between characters, never inside one) to [`SNIPPET_CHARS`] of them
/// starting [`SNIPPET_LEAD`] before the first matching word (earlier when that would pass
/// the end, at 0 when there is no match), with a `…` segment on each cut side. Adjacent
/// segments with the same mark are merged, so marks alternate; no segment is empty.
/// `message_snippet` in the hosted migration is the same algorithm.
pub fn snippet(body: &str, query: &[String]) -> Vec<Segment> {
    let chars: Vec<char> = body.chars().collect();
    // (start, end, matched) of each run, in characters.
    let mut runs: Vec<(usize, usize, bool)> = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let word = is_word_char(chars[start]);
        let end = chars[start..]
            .iter()
            .position(|&c| is_word_char(c) != word)
            .map_or(chars.len(), |n| start + n);
        let matched = word && word_matches(&chars[start..end].iter().collect::<String>(), query);
        runs.push((start, end, matched));
        start = end;
    }
    let (from, to) = if chars.len() <= SNIPPET_CHARS {
        (0, chars.len())
    } else {
        let first = runs.iter().find(|r| r.2).map_or(0, |r| r.0);
        let from = first
            .saturating_sub(SNIPPET_LEAD)
            .min(chars.len() - SNIPPET_CHARS);
        (from, from + SNIPPET_CHARS)
    };
    let mut out: Vec<Segment> = Vec::new();
    let mut push = |text: String, matched: bool| {
        if text.is_empty() {
            return;
        }
        match out.last_mut() {
            Some(last) if last.matched == matched => last.text.push_str(&text),
            _ => out.push(Segment { text, matched }),
        }
    };
    if from > 0 {
        push("…".to_string(), false);
    }
    for (start, end, matched) in runs {
        let (s, e) = (start.max(from), end.min(to));
        if s < e {
            push(chars[s..e].iter().collect(), matched);
        }
    }
    if to < chars.len() {
        push("…".to_string(), false);
    }
    out
}

/// A `search_messages` call's arguments, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The query's [`words`]: 1 to [`MAX_QUERY_WORDS`] of them.
    pub words: Vec<String>,
    /// Most rows to answer, 1 to [`MAX_RESULTS`].
    pub max: i64,
}

/// `invalid_parameter_value`, the one code of a bad `query` or `max`.
fn invalid(message: &str, details: String) -> Error {
    Error::api(StatusCode::BAD_REQUEST, "22023", message).with_details(details)
}

/// Reads the call's body `{"query": text, "max": int}` as PostgREST hands arguments to
/// Postgres: a non-string `query` is its JSON text, `max` defaults to [`DEFAULT_MAX`] and
/// may be an integer or a string holding one.
///
/// # Errors
/// - 404 `PGRST202` without `query` (PostgREST finds no function without it);
/// - 400 `22P02` for a `max` that is not an integer, `22003` for one outside 32 bits;
/// - 400 `22023` for a null `max` or one outside 1..=100, a query without words or with
///   more than [`MAX_QUERY_WORDS`] (checked in that order).
pub fn parse_args(body: &Value) -> Result<Args> {
    let Some(query) = body.get("query") else {
        let names = body
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        return Err(Error::api(
            StatusCode::NOT_FOUND,
            "PGRST202",
            format!(
                "Could not find the function public.search_messages({names}) in the schema cache"
            ),
        )
        .with_hint("search_messages takes (query, max)"));
    };
    let max = match body.get("max") {
        None => Some(DEFAULT_MAX),
        Some(Value::Null) => None,
        Some(value) => Some(int4(value)?),
    };
    let max = max
        .filter(|m| (1..=MAX_RESULTS).contains(m))
        .ok_or_else(|| {
            invalid(
                "max must be between 1 and 100",
                format!("max is {}", body.get("max").unwrap_or(&Value::Null)),
            )
        })?;
    let text = match query {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let words = words(&text);
    if words.is_empty() {
        return Err(invalid(
            "search query has no words",
            "a word is a run of letters or digits".to_string(),
        ));
    }
    if words.len() > MAX_QUERY_WORDS {
        return Err(invalid(
            "search query has too many words",
            format!("{} words, at most {MAX_QUERY_WORDS}", words.len()),
        ));
    }
    Ok(Args { words, max })
}

/// A JSON value as Postgres reads it into an `integer` argument (also the list's
/// `page_size`, `rest::rpc`).
pub(crate) fn int4(value: &Value) -> Result<i64> {
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    };
    let Ok(n) = text.parse::<i64>() else {
        return Err(Error::api(
            StatusCode::BAD_REQUEST,
            "22P02",
            format!(
                "invalid input syntax for type integer: \"{}\"",
                crate::error::bounded(&text)
            ),
        ));
    };
    if i32::try_from(n).is_err() {
        return Err(Error::api(
            StatusCode::BAD_REQUEST,
            "22003",
            format!("value \"{n}\" is out of range for type integer"),
        ));
    }
    Ok(n)
}

/// The messages `who` can see (the messages table's rule, as `GET /rest/v1/messages`) that
/// match `args.words`, newest first (`created_at`, then `id`, descending), at most
/// `args.max`, each with its sender's and its conversation's medic's names, the
/// conversation's `subject` and its [`snippet`].
pub fn search_messages(conn: &Connection, who: &Principal, args: &Args) -> Result<Value> {
    let visible = MESSAGES.access.sql("m", who);
    // CROSS JOIN keeps the FTS5 table outermost: the match drives, then each hit's row.
    let sql = format!(
        "SELECT m.id, m.conversation_id, m.sender_id, su.display_name, mu.display_name, \
                m.body, m.priority, m.created_at, c.subject \
         FROM message_search s CROSS JOIN messages m ON m.id = s.message_id \
         JOIN conversations c ON c.id = m.conversation_id \
         JOIN users su ON su.id = m.sender_id \
         JOIN users mu ON mu.id = c.medic_id \
         WHERE message_search MATCH ? AND {} \
         ORDER BY m.created_at DESC, m.id DESC LIMIT ?",
        visible.sql
    );
    let params = std::iter::once(rusqlite::types::Value::Text(fts_query(&args.words)))
        .chain(visible.params.into_iter().map(rusqlite::types::Value::Text))
        .chain(std::iter::once(rusqlite::types::Value::Integer(args.max)));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
        let body: String = r.get(5)?;
        Ok(json!({
            "id": r.get::<_, String>(0)?,
            "conversation_id": r.get::<_, String>(1)?,
            "sender_id": r.get::<_, String>(2)?,
            "sender_name": r.get::<_, String>(3)?,
            "medic_name": r.get::<_, String>(4)?,
            "snippet": snippet(&body, &args.words),
            "body": body,
            "priority": r.get::<_, String>(6)?,
            "created_at": r.get::<_, String>(7)?,
            "subject": r.get::<_, String>(8)?,
        }))
    })?;
    Ok(Value::Array(rows.collect::<rusqlite::Result<Vec<_>>>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn seg(text: &str, matched: bool) -> Segment {
        Segment {
            text: text.to_string(),
            matched,
        }
    }

    #[test]
    fn words_are_letter_and_digit_runs_folded() {
        assert_eq!(words("Inc 26-0412"), w(&["inc", "26", "0412"]));
        assert_eq!(
            words("ÉTAT stable, BP 90/60!"),
            w(&["état", "stable", "bp", "90", "60"])
        );
        // Final sigma folds like any sigma; İ folds to i and a combining dot, a separator.
        assert_eq!(words("ΣΑΣ ΟΔΟΣ"), w(&["σασ", "οδοσ"]));
        assert_eq!(words("İstanbul"), w(&["i", "stanbul"]));
        // Arabic-Indic digits are digits; superscripts (No) and emoji are not word characters.
        assert_eq!(words("٣٤ x² 🚑ok"), w(&["٣٤", "x", "ok"]));
        assert_eq!(words("\"*\" NEAR( -: &!"), w(&["near"]));
        assert!(words("  ... ").is_empty());
        let long = "a".repeat(300);
        assert_eq!(words(&long), vec!["a".repeat(MAX_WORD_CHARS)]);
    }

    /// The snippet's per-run matching equals matching on the whole body's words because
    /// folding never turns a non-word character into a word one; checked over every
    /// character.
    #[test]
    fn folding_a_separator_never_makes_a_word_character() {
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            if !is_word_char(c) {
                assert!(!fold(&c.to_string()).chars().any(is_word_char), "{c:?}");
            }
        }
    }

    #[test]
    fn fts_query_quotes_every_word_as_a_prefix() {
        assert_eq!(fts_query(&w(&["inc", "0412"])), "\"inc\"* AND \"0412\"*");
    }

    #[test]
    fn a_short_body_is_whole_with_matches_marked() {
        assert_eq!(
            snippet("Medic 6 at Inc 26-0412, incoming", &w(&["inc", "04"])),
            vec![
                seg("Medic 6 at ", false),
                seg("Inc", true),
                seg(" 26-", false),
                seg("0412", true),
                seg(", ", false),
                seg("incoming", true),
            ]
        );
        assert_eq!(
            snippet("no hit here", &w(&["zz"])),
            vec![seg("no hit here", false)]
        );
        assert_eq!(
            snippet("İstanbul", &w(&["stan"])),
            vec![seg("İstanbul", true)]
        );
    }

    #[test]
    fn a_long_body_is_cut_around_the_first_match() {
        let body = format!("{} needle {}", "a".repeat(200), "b".repeat(200));
        let got = snippet(&body, &w(&["need"]));
        // The match starts at character 201, so the window is [161, 321).
        assert_eq!(
            got,
            vec![
                seg(&format!("…{} ", "a".repeat(39)), false),
                seg("needle", true),
                seg(&format!(" {}…", "b".repeat(113)), false),
            ]
        );
        let text: usize = got.iter().map(|s| s.text.chars().count()).sum();
        assert_eq!(text, SNIPPET_CHARS + 2);
    }

    #[test]
    fn the_window_stays_inside_the_body() {
        let start = format!("needle {}", "a ".repeat(150));
        let got = snippet(&start, &w(&["needle"]));
        assert_eq!(got[0], seg("needle", true));
        assert!(got.last().unwrap().text.ends_with('…'));
        let end = format!("{}needle", "a ".repeat(150));
        let got = snippet(&end, &w(&["needle"]));
        assert!(got[0].text.starts_with('…'));
        assert_eq!(got.last().unwrap(), &seg("needle", true));
        // Cut between characters, never inside one.
        let wide = "🚑".repeat(200);
        let got = snippet(&wide, &w(&["x"]));
        assert_eq!(got, vec![seg(&format!("{}…", "🚑".repeat(160)), false)]);
    }

    #[test]
    fn arguments_are_checked_in_order() {
        let code = |body: Value| match parse_args(&body) {
            Err(Error::Api { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            parse_args(&json!({"query": "Inc 26"})).unwrap(),
            Args {
                words: w(&["inc", "26"]),
                max: DEFAULT_MAX
            }
        );
        assert_eq!(
            parse_args(&json!({"query": "x", "max": "7"})).unwrap().max,
            7
        );
        assert_eq!(parse_args(&json!({"query": 12})).unwrap().words, w(&["12"]));
        assert_eq!(code(json!({"max": 5})), "PGRST202");
        for bad in [json!(0), json!(101), json!(-1), Value::Null] {
            assert_eq!(code(json!({"query": "x", "max": bad})), "22023");
        }
        assert_eq!(code(json!({"query": "x", "max": 2.5})), "22P02");
        assert_eq!(code(json!({"query": "x", "max": "ten"})), "22P02");
        assert_eq!(code(json!({"query": "x", "max": 1_i64 << 40})), "22003");
        assert_eq!(code(json!({"query": " -*\" "})), "22023");
        assert_eq!(code(json!({"query": null})), "22023");
        assert_eq!(code(json!({"query": "a ".repeat(17)})), "22023");
        assert_eq!(code(json!({"query": "", "max": 0})), "22023");
    }
}

//! PostgREST's grammar for values inside filters: double-quoted values, `in` lists, and the
//! top-level comma splitter that `select=` items and Realtime's AND-ed filter parts share.
//!
//! Sources: PostgREST `ApiRequest/QueryParams.hs` (`pQuotedValue`, `pListVal`,
//! `pListElement`, `pSingleVal`) and Supabase Realtime `subscriptions.ex` (`split_top_level`,
//! `unquote_value`). Pure text in, text out; the filter itself is built in
//! [`super::filter`].

/// Space and tab, the only whitespace PostgREST skips around a list's parentheses (`ws`).
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Reads a double-quoted value at the start of `text`: between the quotes a backslash takes
/// the next character as it is (so `\"` is a quote, `\\` a backslash, `\,` a comma) and
/// everything else is literal (PostgREST `pQuotedValue`).
///
/// Returns the value and what follows the closing quote; `None` when `text` does not start
/// with a quote or the quote is never closed.
pub fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('"')?.char_indices();
    let body_start = 1;
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[body_start + i + 1..])),
            '\\' => value.push(chars.next()?.1),
            other => value.push(other),
        }
    }
    None
}

/// A value that is wholly one quoted value, unquoted; anything else exactly as written
/// (Realtime `unquote_value` for single-value operators such as `eq`).
pub fn unquote_whole(text: &str) -> String {
    match quoted(text) {
        Some((value, "")) => value,
        _ => text.to_string(),
    }
}

/// How the unquoted items of an `in` list are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListItems {
    /// Exactly as written, spaces included (PostgREST `pListElement`).
    AsWritten,
    /// With surrounding spaces trimmed, as Postgres reads the array literal Realtime turns
    /// the list into (`subscriptions.ex` `format_filter_value`).
    Trimmed,
}

/// Parses the operand of `in`: `(item,item,…)`.
///
/// An item is a quoted value ([`quoted`]) when it is one and is followed by `,` or `)`;
/// otherwise it is everything up to the next `,` or `)`, taken literally, so `5" gauze` and
/// `D:\scan.pdf` need no quoting (PostgREST `pListElement`, which is how postgrest-js sends
/// lists: it quotes only items holding `,()` and escapes nothing). `()` is the empty list.
///
/// `None` when the parentheses are missing or something follows the closing one (PostgREST
/// ignores such a tail; taking it silently would hide a typo).
pub fn list(text: &str, items: ListItems) -> Option<Vec<String>> {
    let mut rest = text.trim_start_matches(is_blank).strip_prefix('(')?;
    rest = rest.trim_start_matches(is_blank);
    if let Some(tail) = rest.strip_prefix(')') {
        return tail.trim_matches(is_blank).is_empty().then(Vec::new);
    }
    let mut values = Vec::new();
    loop {
        let (value, was_quoted, after) = item(rest);
        values.push(match items {
            ListItems::Trimmed if !was_quoted => value.trim().to_string(),
            _ => value,
        });
        match after.chars().next() {
            Some(',') => rest = &after[1..],
            Some(')') => {
                return after[1..]
                    .trim_matches(is_blank)
                    .is_empty()
                    .then_some(values);
            }
            _ => return None,
        }
    }
}

/// One list item, whether it was a quoted value, and the text after it, which starts with
/// `,` or `)` unless it is empty.
fn item(text: &str) -> (String, bool, &str) {
    if let Some((value, after)) = quoted(text) {
        if after.is_empty() || after.starts_with([',', ')']) {
            return (value, true, after);
        }
    }
    let end = text.find([',', ')']).unwrap_or(text.len());
    (text[..end].to_string(), false, &text[end..])
}

/// Splits on commas outside parentheses and quoted values: `select=` items and Realtime's
/// AND-ed filter parts (`a=eq.1,b=in.(x,y)`).
///
/// A quote opens a quoted value only at the start or right after `.`, `(` or `,`, where a
/// value can start, and inside one a backslash escapes the next character (Realtime
/// `split_top_level`); any other quote is an ordinary character. `None` when parentheses
/// or a quoted value are left open.
pub fn split_top_level(text: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut depth, mut start, mut quoted, mut escaped) = (0u32, 0usize, false, false);
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
        } else {
            match c {
                '"' if matches!(prev, None | Some('.' | '(' | ',')) => quoted = true,
                '(' => depth += 1,
                ')' => depth = depth.checked_sub(1)?,
                ',' if depth == 0 => {
                    parts.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        prev = Some(c);
    }
    if depth != 0 || quoted {
        return None;
    }
    parts.push(&text[start..]);
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_take_backslashed_characters_literally() {
        let cases: [(&str, Option<(&str, &str)>); 8] = [
            (r#""5\" gauze",x"#, Some((r#"5" gauze"#, ",x"))),
            (r#""D:\\scan.pdf")"#, Some((r"D:\scan.pdf", ")"))),
            (r#""a,b(c)""#, Some(("a,b(c)", ""))),
            (r#""\x\,""#, Some(("x,", ""))),
            (r#""""#, Some(("", ""))),
            (r#""open"#, None),
            (r#""trailing\"#, None),
            ("bare", None),
        ];
        for (text, want) in cases {
            let got = quoted(text);
            assert_eq!(
                got.as_ref().map(|(v, rest)| (v.as_str(), *rest)),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn whole_quoted_values_unquote_and_others_stay_as_written() {
        assert_eq!(unquote_whole(r#""a,b""#), "a,b");
        assert_eq!(unquote_whole(r#""5\" gauze""#), r#"5" gauze"#);
        assert_eq!(unquote_whole(r#""a"b"#), r#""a"b"#);
        assert_eq!(unquote_whole(r#""open"#), r#""open"#);
        assert_eq!(unquote_whole(r"D:\scan.pdf"), r"D:\scan.pdf");
    }

    #[test]
    fn lists_follow_postgrest_and_realtime_trims_bare_items() {
        let as_written = |t: &str| list(t, ListItems::AsWritten);
        assert_eq!(as_written("(a, b )"), Some(vec!["a".into(), " b ".into()]));
        assert_eq!(
            list("(a, b ,\" c \")", ListItems::Trimmed),
            Some(vec!["a".into(), "b".into(), " c ".into()])
        );
        assert_eq!(as_written(" ( ) "), Some(vec![]));
        assert_eq!(as_written("(,)"), Some(vec!["".into(), "".into()]));
        assert_eq!(as_written("(a"), None);
        assert_eq!(as_written("a,b"), None);
        assert_eq!(as_written("(a))"), None);
    }

    #[test]
    fn top_level_commas_split_outside_parentheses_and_quotes() {
        assert_eq!(
            split_top_level(r#"a=in.("x,\"y)",z),b=eq."p,q""#),
            Some(vec![r#"a=in.("x,\"y)",z)"#, r#"b=eq."p,q""#])
        );
        assert_eq!(
            split_top_level(r#"a=eq.5" gauze,b=eq.1"#),
            Some(vec![r#"a=eq.5" gauze"#, "b=eq.1"]),
            "a quote inside a value is an ordinary character"
        );
        assert_eq!(
            split_top_level("id,sender:users(a,b)"),
            Some(vec!["id", "sender:users(a,b)"])
        );
        assert_eq!(split_top_level("a,(b"), None);
        assert_eq!(split_top_level("a)"), None);
        assert_eq!(split_top_level(r#"a=eq."open"#), None);
    }
}

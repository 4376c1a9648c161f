//! U+0000 in client input. PostgreSQL `text` cannot hold it: turning the JSON string
//! `"\u0000"` into text fails with SQLSTATE 22P05 (untranslatable_character), "unsupported
//! Unicode escape sequence", which PostgREST answers with 400. SQLite would store it, and its
//! `length()` stops at the first NUL, so the embedded server refuses it up front, the same way,
//! for every string a write or RPC takes (ARCHITECTURE.md, "Backend parity"). A NUL in a value
//! from the URL never gets that far on Postgres: the text parameter fails its encoding check
//! (SQLSTATE 22021), and [`reject_nul_param`] answers the same.

use axum::http::StatusCode;
use serde_json::Value;

use crate::error::{Error, Result};

/// Refuses `value` when any string in it (an object's keys included, at any depth) holds
/// U+0000.
///
/// # Errors
/// 400 `22P05` "unsupported Unicode escape sequence", with PostgreSQL's detail line.
pub fn reject_nul(value: &Value) -> Result<()> {
    if holds_nul(value) {
        return Err(Error::api(
            StatusCode::BAD_REQUEST,
            "22P05",
            "unsupported Unicode escape sequence",
        )
        .with_details("\\u0000 cannot be converted to text."));
    }
    Ok(())
}

/// Refuses a value from the URL (a filter's operand, an `in` list) holding U+0000.
/// PostgREST passes it to Postgres as a text parameter, whose encoding check refuses the NUL
/// byte before any type is applied (`pg_verify_mbstr`), whatever the column's type.
///
/// # Errors
/// 400 `22021` (character_not_in_repertoire) `invalid byte sequence for encoding "UTF8":
/// 0x00`, PostgreSQL's message.
pub fn reject_nul_param(text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::api(
            StatusCode::BAD_REQUEST,
            "22021",
            "invalid byte sequence for encoding \"UTF8\": 0x00",
        ));
    }
    Ok(())
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nul_anywhere_is_refused_and_nothing_else_is() {
        for bad in [
            json!("\u{0}"),
            json!({"body": "5 mg\u{0} (not 50)"}),
            json!([{"a": ["x", "\u{0}"]}]),
            json!({"b\u{0}": 1}),
        ] {
            let e = reject_nul(&bad).unwrap_err();
            assert!(
                matches!(&e, Error::Api { code, status, .. } if code == "22P05" && *status == StatusCode::BAD_REQUEST),
                "{bad}"
            );
        }
        let e = reject_nul_param("a\0b").unwrap_err();
        assert!(
            matches!(&e, Error::Api { code, status, .. } if code == "22021" && *status == StatusCode::BAD_REQUEST)
        );
        assert!(reject_nul_param("\\u0000 %00").is_ok());
        for fine in [
            json!("5 mg (not 50)"),
            json!({"n": 0, "t": true, "x": null}),
            json!("\\u0000"),
        ] {
            assert!(reject_nul(&fine).is_ok(), "{fine}");
        }
    }
}

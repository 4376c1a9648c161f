//! The crate's error type and its PostgREST-shaped HTTP rendering.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything that can go wrong while serving a request or starting the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request the client must fix; rendered as `{code,message,details,hint}`.
    #[error("{message}")]
    Api {
        /// HTTP status to answer with.
        status: StatusCode,
        /// PostgREST / SQLSTATE / GoTrue error code.
        code: String,
        /// Human-readable summary.
        message: String,
        /// Optional detail line.
        details: Option<String>,
        /// Optional hint for the caller.
        hint: Option<String>,
    },
    /// The database failed; logged, answered as a 500 without internals.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// An I/O failure (binding the socket, reading files).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// Bad command-line or configuration input.
    #[error("configuration error: {0}")]
    Config(String),
    /// A blocking task was cancelled or panicked.
    #[error("internal task failed: {0}")]
    Task(String),
}

/// Shorthand result type for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds a client-facing error with a status, code and message.
    pub fn api(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Error::Api {
            status,
            code: code.to_string(),
            message: message.into(),
            details: None,
            hint: None,
        }
    }

    /// Adds a `details` line to a client-facing error.
    pub fn with_details(mut self, text: impl Into<String>) -> Self {
        if let Error::Api { details, .. } = &mut self {
            *details = Some(text.into());
        }
        self
    }

    /// Adds a `hint` line to a client-facing error.
    pub fn with_hint(mut self, text: impl Into<String>) -> Self {
        if let Error::Api { hint, .. } = &mut self {
            *hint = Some(text.into());
        }
        self
    }

    /// 400 for a query string PostgREST could not parse.
    pub fn bad_query(message: impl Into<String>) -> Self {
        Self::api(StatusCode::BAD_REQUEST, "PGRST100", message)
    }

    /// 400 for a request body that is not the JSON we expect.
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::api(StatusCode::BAD_REQUEST, "PGRST102", message)
    }

    /// 403 for a write that row-level security would reject.
    pub fn rls_violation(table: &str) -> Self {
        Self::api(
            StatusCode::FORBIDDEN,
            "42501",
            format!("new row violates row-level security policy for table \"{table}\""),
        )
    }

    /// 401 for a missing, malformed or expired token.
    pub fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        Self::api(StatusCode::UNAUTHORIZED, code, message)
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Api { status, .. } => *status,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Most bytes of one error's text written to the log.
pub const MAX_LOGGED_ERROR_BYTES: usize = 512;

/// `text` cut to at most [`MAX_LOGGED_ERROR_BYTES`] (on a character boundary), saying how
/// long it was when cut: for log lines that may quote unbounded SQL or request input.
pub fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_LOGGED_ERROR_BYTES {
        return text.into();
    }
    let mut end = MAX_LOGGED_ERROR_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len()).into()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Error::Api {
                status,
                code,
                message,
                details,
                hint,
            } => (
                status,
                json!({"code": code, "message": message, "details": details, "hint": hint}),
            ),
            other => {
                // Internals go to the log, never to the client; bounded, because some
                // (SQLite's input errors) quote the whole statement and the input in it.
                tracing::error!(error = %bounded(&other.to_string()), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"code": "XX000", "message": "internal server error", "details": null, "hint": null}),
                )
            }
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects everything a tracing subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Issue 12, item 8: SQLite's input errors carry the whole statement; the log line of a
    /// failed request stays bounded however long the statement (or the input in it) was.
    #[test]
    fn internal_errors_log_a_bounded_line() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sql = format!("SELECT 1 WHERE 1 IN ({}?)", "?, ".repeat(40_000));
        let failure = conn.prepare(&sql).map(|_| ()).unwrap_err();
        assert!(
            failure.to_string().len() > 100_000,
            "the raw error echoes the SQL"
        );
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let response =
            tracing::subscriber::with_default(subscriber, || Error::Db(failure).into_response());
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("too many SQL variables"), "{logged}");
        assert!(logged.len() < 2_000, "log line of {} bytes", logged.len());
    }
}

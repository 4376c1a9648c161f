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

    /// The PostgREST-shaped body `{"code", "message", "details", "hint"}` of a client-facing
    /// error; `None` for the internal ones, which are logged and answered `XX000`.
    pub fn body(&self) -> Option<serde_json::Value> {
        match self {
            Error::Api {
                code,
                message,
                details,
                hint,
                ..
            } => Some(json!({"code": code, "message": message, "details": details, "hint": hint})),
            _ => None,
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
        let (status, body) = match self.body() {
            Some(body) => (self.status(), body),
            None => {
                // Internals go to the log, never to the client; bounded, because some
                // (SQLite's input errors) quote the whole statement and the input in it.
                tracing::error!(error = %bounded(&self.to_string()), "request failed");
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

/// The PostgREST-shaped error for an answer that came without a JSON body: `status` as it
/// was, with PostgREST's code where it has one (405 `PGRST117` "Unsupported HTTP method",
/// 404 `PGRST125` "Invalid path specified in request URL"), else `PGRST<status>` as
/// [`crate::body`] answers 413 with `PGRST413`; the original text, when there was a short
/// one (axum's extractor rejections), becomes the `details`.
pub fn bare_error(status: StatusCode, method: &axum::http::Method, text: Option<&str>) -> Error {
    let reason = status.canonical_reason().unwrap_or("error");
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => Error::api(
            status,
            "PGRST117",
            format!("Unsupported HTTP method: {}", bounded(method.as_str())),
        ),
        StatusCode::NOT_FOUND => {
            Error::api(status, "PGRST125", "Invalid path specified in request URL")
        }
        _ => Error::api(status, &format!("PGRST{}", status.as_u16()), reason),
    };
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => error.with_details(bounded(text)),
        None => error,
    }
}

/// Most bytes of a bare error body read to quote it in [`bare_error`]'s details.
const BARE_ERROR_READ_BYTES: usize = 1024;

/// Middleware giving every error answer (4xx, 5xx) that is not JSON the shape of
/// [`bare_error`], keeping its other headers (a 405's `Allow`): axum's 405 for a method a
/// route lacks (DELETE or PUT on a table, GET on an RPC, OPTIONS, TRACE), its plain-text
/// extractor rejections, tower-http's static-file errors. hyper's own answers to requests it
/// cannot parse (414 past 65,534 bytes of URI, 431 past its header buffer, 400) are written
/// before any service runs and never pass here: [`crate::hyper_errors`] shapes those.
pub async fn shape_bare_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, BARE_ERROR_READ_BYTES)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok());
    let (shaped, body) = bare_error(status, &method, text.as_deref())
        .into_response()
        .into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(shaped.headers);
    Response::from_parts(parts, body)
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

    #[test]
    fn bare_errors_get_postgrest_codes() {
        let code = |status: u16, text: Option<&str>| match bare_error(
            StatusCode::from_u16(status).unwrap(),
            &axum::http::Method::DELETE,
            text,
        ) {
            Error::Api {
                status,
                code,
                message,
                details,
                ..
            } => (status.as_u16(), code, message, details),
            other => panic!("{other}"),
        };
        assert_eq!(
            code(405, None),
            (
                405,
                "PGRST117".into(),
                "Unsupported HTTP method: DELETE".into(),
                None
            )
        );
        assert_eq!(code(404, Some(" ")).1, "PGRST125");
        assert_eq!(
            code(414, None),
            (414, "PGRST414".into(), "URI Too Long".into(), None)
        );
        assert_eq!(
            code(400, Some("Connection header did not include 'upgrade'")).3,
            Some("Connection header did not include 'upgrade'".into())
        );
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

//! The one error type of every backend call.

use serde_json::Value;

/// What went wrong talking to the backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The request never got an answer (offline, server down): worth retrying.
    #[error("network error: {0}")]
    Network(String),
    /// The session is missing or expired: refresh and retry.
    #[error("{0}")]
    Unauthorized(String),
    /// The server refused the request.
    #[error("{message}")]
    Http {
        /// HTTP status.
        status: u16,
        /// PostgREST / GoTrue error code.
        code: String,
        /// Human-readable message from the server.
        message: String,
    },
    /// The answer was not what we expected.
    #[error("unexpected response: {0}")]
    Decode(String),
}

impl ApiError {
    /// PostgREST's answer to a row whose key is taken (409, SQLSTATE 23505).
    pub fn is_duplicate_key(&self) -> bool {
        matches!(self, ApiError::Http { status: 409, code, .. } if code == "23505")
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Network(_) | ApiError::Unauthorized(_) => true,
            ApiError::Http { status, .. } => *status >= 500 || *status == 429,
            ApiError::Decode(_) => false,
        }
    }
}

/// Builds the error of a failed response from its status and body text.
pub fn from_response(status: u16, body: &str) -> ApiError {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let text = |k: &str| parsed.get(k).and_then(Value::as_str).map(str::to_string);
    // PostgREST and GoTrue (2024-01-01) say `message`; older GoTrue `msg`; OAuth-style
    // errors `error_description`.
    let message = text("message")
        .or_else(|| text("msg"))
        .or_else(|| text("error_description"))
        .or_else(|| text("error"))
        .unwrap_or_else(|| format!("request failed with status {status}"));
    let code = text("code")
        .or_else(|| text("error_code"))
        .or_else(|| parsed.get("code").map(|c| c.to_string()))
        .unwrap_or_default();
    if status == 401 {
        return ApiError::Unauthorized(message);
    }
    ApiError::Http {
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_error_dialect() {
        let e = from_response(
            400,
            r#"{"code":"invalid_credentials","message":"Invalid login credentials"}"#,
        );
        assert_eq!(e.to_string(), "Invalid login credentials");
        let e = from_response(
            400,
            r#"{"code":400,"error_code":"invalid_credentials","msg":"Bad"}"#,
        );
        assert_eq!(
            e,
            ApiError::Http {
                status: 400,
                code: "invalid_credentials".into(),
                message: "Bad".into()
            }
        );
        let e = from_response(
            400,
            r#"{"error":"invalid_grant","error_description":"Nope"}"#,
        );
        assert_eq!(e.to_string(), "Nope");
        assert!(
            matches!(from_response(401, r#"{"code":"PGRST303","message":"JWT expired"}"#), ApiError::Unauthorized(m) if m == "JWT expired")
        );
        assert_eq!(
            from_response(502, "<html>").to_string(),
            "request failed with status 502"
        );
    }

    #[test]
    fn recognises_a_taken_key() {
        let taken = from_response(
            409,
            r#"{"code":"23505","message":"duplicate key value violates unique constraint \"messages_pkey\"","details":null,"hint":null}"#,
        );
        assert!(taken.is_duplicate_key());
        assert!(!from_response(409, r#"{"code":"23503","message":"fk"}"#).is_duplicate_key());
        assert!(!ApiError::Network("x".into()).is_duplicate_key());
    }

    #[test]
    fn knows_what_is_worth_retrying() {
        assert!(ApiError::Network("x".into()).is_retryable());
        assert!(from_response(503, "").is_retryable());
        assert!(!from_response(400, "").is_retryable());
        assert!(!ApiError::Decode("x".into()).is_retryable());
    }
}

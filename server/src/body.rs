//! Request bodies: size-limited, JSON-checked, with PostgREST-shaped errors.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde_json::Value;

use crate::error::Error;
use crate::AppState;

/// A JSON request body read within the configured size limit.
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config().limits.max_body_bytes;
        let bytes: Bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|e| {
                if crate::serve::body_timed_out(&e) {
                    let ms = state.config().limits.body_timeout_ms;
                    return Error::api(
                        StatusCode::REQUEST_TIMEOUT,
                        "PGRST000",
                        format!("the request body did not arrive within {ms} ms"),
                    );
                }
                Error::api(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PGRST413",
                    format!("request body is larger than {limit} bytes"),
                )
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Object(Default::default())));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| Error::bad_body("Empty or invalid json").with_details(e.to_string()))
    }
}

//! Realtime subset under `/realtime/v1`: Phoenix channels carrying postgres_changes.

pub mod bindings;
pub mod protocol;
pub mod registry;
pub mod socket;

use std::collections::HashMap;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;
use protocol::Serializer;

/// Routes mounted at `/realtime/v1`.
pub fn router() -> Router<AppState> {
    Router::new().route("/websocket", get(websocket))
}

fn handshake_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn websocket(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| params.get("apikey").cloned());
    match key {
        None => return handshake_error(StatusCode::UNAUTHORIZED, "API key is missing"),
        Some(k) if !state.keys().verify_api_key(&k) => {
            return handshake_error(StatusCode::UNAUTHORIZED, "Failed to validate JWT signature")
        }
        Some(_) => {}
    }
    let Some(serializer) = Serializer::from_vsn(params.get("vsn").map(String::as_str)) else {
        return handshake_error(
            StatusCode::BAD_REQUEST,
            "unsupported vsn: use 1.0.0 or 2.0.0",
        );
    };
    let max = state.config().limits.ws_max_frame_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| socket::run(socket, state, serializer))
}

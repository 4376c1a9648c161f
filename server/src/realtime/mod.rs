//! Realtime subset under `/realtime/v1`: Phoenix channels carrying postgres_changes.

pub mod bindings;
pub mod channels;
pub mod protocol;
pub mod registry;
pub mod socket;

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use switchboard_wire::Serializer;

use crate::auth::apikey::{self, ApiKeyCheck};
use crate::AppState;

/// Routes mounted at `/realtime/v1`.
pub fn router() -> Router<AppState> {
    Router::new().route("/websocket", get(websocket))
}

fn handshake_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn websocket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(params): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Refused as Realtime refuses a handshake: the HTTP status with `{"error": …}`.
    match apikey::check(state.keys(), &headers, uri.query()) {
        ApiKeyCheck::Valid => {}
        ApiKeyCheck::Missing => {
            return handshake_error(StatusCode::UNAUTHORIZED, "API key is missing")
        }
        ApiKeyCheck::Invalid => {
            return handshake_error(StatusCode::UNAUTHORIZED, "Failed to validate JWT signature")
        }
    }
    let Some(serializer) = Serializer::from_vsn(params.get("vsn").map(String::as_str)) else {
        return handshake_error(
            StatusCode::BAD_REQUEST,
            "unsupported vsn: use 1.0.0 or 2.0.0",
        );
    };
    // Counted per address until it joins with a user (see `registry`); released when the
    // guard drops, including when the upgrade never completes.
    let anonymous = match socket::Anonymous::acquire(&state, peer.ip()) {
        Ok(guard) => guard,
        Err(refusal) => {
            state
                .metrics()
                .refused(crate::metrics::Refusal::RealtimeSockets);
            return handshake_error(StatusCode::TOO_MANY_REQUESTS, &refusal.reason());
        }
    };
    let max = state.config().limits.ws_max_frame_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| socket::run(socket, state, serializer, anonymous))
}

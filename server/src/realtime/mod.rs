//! Realtime subset under `/realtime/v1`: Phoenix channels carrying postgres_changes.

pub mod registry;

use axum::Router;

use crate::AppState;

/// Routes mounted at `/realtime/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
}

//! `GET /health` on the public address, for load balancers and monitors: no key, no data.
//!
//! 200 `{"status":"ok"}` when the database answered a read and a write within
//! [`BOUND`]; otherwise 503 `{"status":"unavailable","reason":"…"}` with SQLite's word for
//! what failed (`database is locked`, `disk I/O error`, …) or the bound passed.
//!
//! The probe writes for real: it replaces one row (`settings.health_checked_at`) and
//! commits, so the write lock, the WAL append and its fsync are all exercised (a full or
//! read-only disk fails here as it would fail a message), and the database does not grow.
//! It runs on a connection of its own, never the server's writer or readers, so a probe
//! stuck behind a lock holds no connection a request needs. Probes run one at a time; a
//! request that arrives while one runs waits for the next one to start after it arrived and
//! shares that probe's answer, so a flood of checks costs one probe at a time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use crate::AppState;

/// How long the database has to answer the probe's read and write.
pub const BOUND: Duration = Duration::from_secs(2);

/// The last probe: when it started and what it found (`None` healthy, else the reason).
type Outcome = Option<String>;

/// One probe at a time, each shared by the requests that waited for it.
#[derive(Default)]
pub struct Probe {
    last: tokio::sync::Mutex<Option<(Instant, Outcome)>>,
}

impl Probe {
    /// The database's health: `None` when it answered a read and a write within [`BOUND`],
    /// else why not.
    pub async fn check(&self, db: &Path) -> Outcome {
        let arrived = Instant::now();
        let mut last = self.last.lock().await;
        if let Some((started, outcome)) = &*last {
            if *started >= arrived {
                return outcome.clone();
            }
        }
        let started = Instant::now();
        let path = db.to_path_buf();
        let probe = tokio::task::spawn_blocking(move || probe(&path));
        // The busy timeout bounds lock waits; this bounds a file system that hangs.
        let outcome = match tokio::time::timeout(BOUND + Duration::from_millis(500), probe).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(reason))) => Some(reason),
            Ok(Err(_)) => Some("the health probe failed".to_string()),
            Err(_) => Some(format!(
                "the database did not answer within {} s",
                BOUND.as_secs()
            )),
        };
        *last = Some((started, outcome.clone()));
        outcome
    }
}

/// One read and one committed write on a fresh connection, lock waits bounded by [`BOUND`].
fn probe(db: &PathBuf) -> Result<(), String> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| format!("cannot open the database: {}", sqlite_word(&e)))?;
    conn.busy_timeout(BOUND)
        .map_err(|e| format!("cannot open the database: {}", sqlite_word(&e)))?;
    conn.query_row("SELECT count(*) FROM settings", [], |r| r.get::<_, i64>(0))
        .map_err(|e| format!("database read failed: {}", sqlite_word(&e)))?;
    conn.execute(
        "INSERT INTO settings (key, value) VALUES ('health_checked_at', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [crate::clock::format_micros(crate::clock::now_micros())],
    )
    .map_err(|e| format!("database write failed: {}", sqlite_word(&e)))?;
    Ok(())
}

/// SQLite's short description of a failure, without statement text or paths.
fn sqlite_word(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(code, _) => code.to_string(),
        other => other.to_string(),
    }
}

/// `GET /health`.
pub async fn health(State(state): State<AppState>) -> Response {
    let outcome = state.health().check(&state.config().db_path).await;
    let (status, body) = match outcome {
        None => (StatusCode::OK, json!({"status": "ok"})),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unavailable", "reason": reason}),
        ),
    };
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        body.to_string(),
    )
        .into_response()
}

//! switchboard-server: the embedded default backend for Switchboard.
//!
//! One binary speaking a Supabase-compatible subset (GoTrue auth, PostgREST REST, Realtime
//! websocket) over one SQLite file, serving the built app beside it.

pub mod auth;
pub mod body;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod realtime;
pub mod rest;
pub mod schema;
pub mod simulate;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::{ServeDir, ServeFile};

use crate::auth::jwt::Keys;
use crate::auth::ratelimit::RateLimiter;
use crate::config::{Config, Seed};
use crate::db::Db;
use crate::error::{Error, Result};

/// Shared state of a running server; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    db: Db,
    keys: Keys,
    config: Config,
    login_by_email: RateLimiter,
    login_by_address: RateLimiter,
    sockets: realtime::registry::SocketRegistry,
}

impl AppState {
    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }
    /// Signing keys.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }
    /// The configuration the server started with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    /// Login limiter keyed by email.
    pub fn login_by_email(&self) -> &RateLimiter {
        &self.inner.login_by_email
    }
    /// Login limiter keyed by client address.
    pub fn login_by_address(&self) -> &RateLimiter {
        &self.inner.login_by_address
    }
    /// Live websocket bookkeeping.
    pub fn sockets(&self) -> &realtime::registry::SocketRegistry {
        &self.inner.sockets
    }
}

/// Opens the database, seeds it if asked and it is empty, and builds the shared state.
pub fn prepare(config: Config) -> Result<AppState> {
    let db = Db::open(&config.db_path)?;
    let secret = match &config.jwt_secret {
        Some(s) => s.clone(),
        None => {
            let generated: [u8; 32] = rand::random();
            let hex: String = generated.iter().map(|b| format!("{b:02x}")).collect();
            // Kept in the database so tokens survive a restart.
            db.setting_or_insert("jwt_secret", &hex)?
        }
    };
    let keys = Keys::new(secret.as_bytes())?;
    if config.seed == Seed::Demo {
        db.write_blocking(|tx, _| {
            if !db::seed::has_data(tx)? {
                db::seed::seed_demo(tx)?;
            }
            Ok(())
        })?;
    }
    let limits = &config.limits;
    Ok(AppState {
        inner: Arc::new(StateInner {
            login_by_email: RateLimiter::new(limits.login_per_email, limits.login_window_ms),
            login_by_address: RateLimiter::new(limits.login_per_address, limits.login_window_ms),
            sockets: realtime::registry::SocketRegistry::default(),
            db,
            keys,
            config,
        }),
    })
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .route("/config.json", get(config_json))
        .nest("/auth/v1", auth::router(state.clone()))
        .nest("/rest/v1", rest::router(state.clone()))
        .nest("/realtime/v1", realtime::router());
    if let Some(dist) = &state.config().dist {
        // Client routes such as /messages/<id> are resolved by the app, so unknown paths
        // get index.html rather than a 404.
        let spa = ServeDir::new(dist).fallback(ServeFile::new(dist.join("index.html")));
        app = app.fallback_service(spa);
    } else {
        app = app.fallback(not_found);
    }
    app.layer(CatchPanicLayer::custom(|_| {
        Error::api(
            StatusCode::INTERNAL_SERVER_ERROR,
            "XX000",
            "internal server error",
        )
        .into_response()
    }))
    .with_state(state)
}

async fn not_found() -> Response {
    Error::api(StatusCode::NOT_FOUND, "PGRST000", "not found").into_response()
}

/// `/config.json`: `{supabase_url, anon_key, urgent_realert_seconds}`. The empty URL means
/// "this origin"; the re-alert interval is in seconds (`--urgent-realert-seconds`).
async fn config_json(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "supabase_url": "",
        "anon_key": state.keys().anon_key(),
        "urgent_realert_seconds": state.config().urgent_realert_secs,
    }))
}

/// A server started in the background, stopped when dropped or via [`Running::stop`].
pub struct Running {
    /// The bound address (useful when binding port 0).
    pub addr: SocketAddr,
    /// The shared state, for tests that inspect the database.
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, closes connections and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds and serves in a background task.
pub async fn start(config: Config) -> Result<Running> {
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let state = tokio::task::spawn_blocking(move || prepare(config))
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
    let app = router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let closing = state.clone();
    let task = tokio::spawn(async move {
        // Small frames (events, replies) must not wait for Nagle's algorithm.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = rx.await;
            // Websockets never end on their own; tell them to.
            closing.sockets().shutdown_all();
        })
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "server stopped with an error");
        }
    });
    Ok(Running {
        addr,
        state,
        shutdown: Some(tx),
        task: Some(task),
    })
}

//! switchboard-server: the embedded default backend for Switchboard.
//!
//! One binary speaking a Supabase-compatible subset (GoTrue auth, PostgREST REST, Realtime
//! websocket) over one SQLite file, serving the built app beside it.

pub mod admin;
pub mod allocator;
pub mod auth;
pub mod backup;
pub mod body;
pub mod client_address;
pub mod clock;
pub mod compress;
pub mod config;
pub mod db;
pub mod db_lock;
pub mod error;
pub mod headers;
pub mod health;
pub mod hyper_errors;
pub mod logs;
pub mod metrics;
pub mod realtime;
pub mod rest;
pub mod schema;
pub mod serve;
pub mod simulate;
pub mod static_files;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::jwt::Keys;
use crate::auth::password::Checks;
use crate::auth::ratelimit::LoginLimits;
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
    logins: LoginLimits,
    password_checks: Checks,
    sockets: realtime::registry::SocketRegistry,
    disabled: admin::disabled::DisabledUsers,
    metrics: Arc<metrics::Metrics>,
    health: health::Probe,
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
    /// The login attempt limits (per address, per address and email, per-email backoff).
    pub fn logins(&self) -> &LoginLimits {
        &self.inner.logins
    }
    /// The gate bounding concurrent Argon2 password checks.
    pub fn password_checks(&self) -> &Checks {
        &self.inner.password_checks
    }
    /// Live websocket bookkeeping.
    pub fn sockets(&self) -> &realtime::registry::SocketRegistry {
        &self.inner.sockets
    }
    /// The users an administrator disabled, kept current by a poll ([`admin::disabled`]).
    pub fn disabled(&self) -> &admin::disabled::DisabledUsers {
        &self.inner.disabled
    }
    /// The instruments `GET /metrics` reports ([`metrics`]).
    pub fn metrics(&self) -> &Arc<metrics::Metrics> {
        &self.inner.metrics
    }
    /// The database probe behind `GET /health` ([`health`]).
    pub fn health(&self) -> &health::Probe {
        &self.inner.health
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
    let metrics = Arc::new(metrics::Metrics::new());
    db.time_writes(metrics.db_writes.clone());
    if config.seed == Seed::Demo {
        db.write_blocking(|tx, _| {
            if !db::seed::has_data(tx)? {
                db::seed::seed_demo(tx)?;
            }
            Ok(())
        })?;
        // The seed is one bulk write: statistics for it now, not a thousand writes later.
        db.optimize()?;
    }
    // Read before serving, so no token of a disabled user passes until the first poll.
    let disabled = db.write_blocking(|tx, _| admin::disabled::DisabledUsers::load(tx))?;
    let limits = &config.limits;
    Ok(AppState {
        inner: Arc::new(StateInner {
            logins: LoginLimits::new(
                limits.login_per_address,
                limits.login_per_address_email,
                limits.login_window_ms,
                limits.login_email_failures,
                limits.login_email_backoff_ms,
            ),
            password_checks: {
                let checks = Checks::new(limits.login_concurrency, limits.login_queue);
                checks.prepare();
                checks
            },
            sockets: realtime::registry::SocketRegistry::default(),
            disabled,
            metrics,
            health: health::Probe::default(),
            db,
            keys,
            config,
        }),
    })
}

/// The whole HTTP surface: [`routes`], each request counted ([`metrics::tracked`]) and in
/// a span with its request id ([`logs::traced`]).
pub fn router(state: AppState) -> Router {
    let metrics = state.metrics().clone();
    logs::traced(metrics::tracked(routes(state), metrics))
}

/// Every route and the layers inside the request's span and count.
fn routes(state: AppState) -> Router {
    let mut app = Router::new()
        .route("/config.json", get(config_json))
        .route("/health", get(health::health))
        // The JSON API only: the realtime upgrade is never compressed, and static files
        // come precompressed (src/static_files.rs).
        .nest("/auth/v1", compress::api(auth::router(state.clone())))
        .nest("/rest/v1", compress::api(rest::router(state.clone())))
        .nest("/realtime/v1", realtime::router());
    if let Some(dist) = &state.config().dist {
        // Client routes such as /messages/<id> are resolved by the app, so unknown paths
        // get index.html rather than a 404.
        app = app.fallback_service(static_files::service(dist));
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
    // Every error answer from inside leaves with a JSON body (issue 13, item 6).
    .layer(axum::middleware::from_fn(error::shape_bare_errors))
    // Outermost: the security headers on every answer, errors included.
    .layer(axum::middleware::from_fn_with_state(
        Arc::new(headers::SecurityHeaders::new(
            state.config().dist.clone(),
            "",
        )),
        headers::apply,
    ))
    .with_state(state)
}

async fn not_found() -> Response {
    Error::api(StatusCode::NOT_FOUND, "PGRST000", "not found").into_response()
}

/// `/config.json`: `{supabase_url, anon_key, urgent_realert_seconds}`. The empty URL means
/// "this origin"; the re-alert interval is in seconds (`--urgent-realert-seconds`).
/// `no-cache` (the key changes when the server's secret does) with a strong ETag of the
/// body, so the app's every start revalidates it with a 304.
async fn config_json(
    State(state): State<AppState>,
    request_headers: axum::http::HeaderMap,
) -> Response {
    let body = serde_json::json!({
        "supabase_url": "",
        "anon_key": state.keys().anon_key(),
        "urgent_realert_seconds": state.config().urgent_realert_secs,
    })
    .to_string();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(body.as_bytes());
    let hash: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let etag = static_files::etag(&hash, None);
    let status = if static_files::none_match(&request_headers, &etag) {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let cache = [
        (
            axum::http::header::CACHE_CONTROL,
            static_files::NO_CACHE.to_string(),
        ),
        (axum::http::header::ETAG, etag),
    ];
    if status == StatusCode::NOT_MODIFIED {
        return (status, cache).into_response();
    }
    (
        cache,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// A server started in the background, stopped when dropped or via [`Running::stop`].
pub struct Running {
    /// The bound address (useful when binding port 0).
    pub addr: SocketAddr,
    /// The shared state, for tests that inspect the database.
    pub state: AppState,
    /// Where `GET /metrics` is served (`--metrics-addr`), once bound.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    // Held while serving, so `restore` refuses this database ([`db_lock`]); released after
    // the server task in `stop`, or when dropped.
    _lock: db_lock::DbLock,
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
    // A certificate that does not load stops the start before anything is bound.
    let tls = config.tls.as_ref().map(tls::load).transpose()?;
    // Before anything opens the database: a second server on it, or one mid-restore, stops.
    let lock = db_lock::DbLock::acquire(&config.db_path)?;
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let metrics_listener = match config.metrics_addr {
        Some(at) => Some(TcpListener::bind(at).await?),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let state = tokio::task::spawn_blocking(move || prepare(config))
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
    // Notices users disabled or enabled by `switchboard-server user …` while this runs.
    state.disabled().watch(&state.config().db_path)?;
    // HSTS only over TLS (src/tls.rs), outside every other layer.
    let app = tls::with_hsts(router(state.clone()), tls.is_some());
    let (tx, rx) = oneshot::channel::<()>();
    let closing = state.clone();
    let nofile = serve::raise_descriptor_limit();
    let limits = serve::ServeLimits::new(&state.config().limits, nofile);
    tracing::info!(
        open_files = nofile,
        max_connections = limits.max_connections,
        "connection cap"
    );
    if let Some(listener) = metrics_listener {
        let mut stopping = state.sockets().shutdown_signal();
        tokio::spawn(metrics::serve(
            listener,
            state.metrics().clone(),
            async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            },
        ));
    }
    let task = tokio::spawn(serve::serve(listener, app, limits, tls, async move {
        let _ = rx.await;
        // Websockets never end on their own; tell them to.
        closing.sockets().shutdown_all();
    }));
    Ok(Running {
        addr,
        state,
        metrics_addr,
        shutdown: Some(tx),
        _lock: lock,
        task: Some(task),
    })
}

//! switchboard-server: the embedded default backend for Switchboard.
//!
//! One binary speaking a Supabase-compatible subset (GoTrue auth, PostgREST REST, Realtime
//! websocket) over one SQLite file, serving the built app beside it.

pub mod auth;
pub mod body;
pub mod client_address;
pub mod clock;
pub mod compress;
pub mod config;
pub mod db;
pub mod error;
pub mod headers;
pub mod hyper_errors;
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
    // A certificate that does not load stops the start before anything is bound.
    let tls = config.tls.as_ref().map(tls::load).transpose()?;
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let state = tokio::task::spawn_blocking(move || prepare(config))
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
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
    let task = tokio::spawn(serve::serve(listener, app, limits, tls, async move {
        let _ = rx.await;
        // Websockets never end on their own; tell them to.
        closing.sockets().shutdown_all();
    }));
    Ok(Running {
        addr,
        state,
        shutdown: Some(tx),
        task: Some(task),
    })
}

//! What a monitoring system scrapes: `GET /metrics` in the Prometheus text format, served
//! only on `--metrics-addr` (never the public address), from one registry per server.
//!
//! The `prometheus` crate rather than `metrics` + its exporter: its registry is a value, so
//! every server (several run in one test process) counts apart and starts at zero, where
//! `metrics` has one global recorder per process. Its `TextEncoder` writes the format.
//!
//! Labels are bounded: a route is the matched pattern, never the raw path, written with
//! `:name` parameters (`/rest/v1/:table`; braces inside a label value trip simple
//! scrapers' parsers); a request no route matched is `unmatched`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use tokio::net::TcpListener;

/// A refusal by one of the rate limits, the `limit` label of
/// `switchboard_rate_limit_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Login attempts per address, or per address and email, within the window.
    LoginAttempts,
    /// The per-email backoff after repeated wrong passwords.
    LoginEmailBackoff,
    /// Every password-check slot and queue place taken.
    LoginBusy,
    /// A websocket over a socket cap (per user's sessions, per session, per address).
    RealtimeSockets,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::LoginAttempts => "login_attempts",
            Refusal::LoginEmailBackoff => "login_email_backoff",
            Refusal::LoginBusy => "login_busy",
            Refusal::RealtimeSockets => "realtime_sockets",
        }
    }
}

/// The server's instruments and the registry they are in.
pub struct Metrics {
    registry: Registry,
    /// `switchboard_realtime_sockets`: websockets open now.
    pub sockets: IntGauge,
    /// `switchboard_realtime_channels`: channels joined now, over all sockets.
    pub channels: IntGauge,
    /// `switchboard_realtime_events_total`: change events sent, one per channel reached.
    pub events: IntCounter,
    /// `switchboard_db_write_duration_seconds`: one write transaction, from asking for
    /// the writer to commit (the wait for the writer included).
    pub db_writes: Histogram,
    /// `switchboard_login_failures_total`: password grants refused for their credentials.
    pub login_failures: IntCounter,
    requests: IntCounterVec,
    latency: HistogramVec,
    refusals: IntCounterVec,
}

/// Upper bounds, in seconds, of the latency histograms: 0.5 ms to about 8 s.
fn latency_buckets() -> Vec<f64> {
    (0..15).map(|i| 0.0005 * f64::powi(2.0, i)).collect()
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every instrument at zero.
    pub fn new() -> Self {
        // Registration fails only for a bad or repeated name, fixed below.
        fn registered<T: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            metric: prometheus::Result<T>,
        ) -> T {
            let metric = metric.expect("a valid metric definition");
            registry
                .register(Box::new(metric.clone()))
                .expect("a metric name registered once");
            metric
        }
        let registry = Registry::new();
        let r = &registry;
        Metrics {
            sockets: registered(
                r,
                IntGauge::new("switchboard_realtime_sockets", "Websockets open now."),
            ),
            channels: registered(
                r,
                IntGauge::new(
                    "switchboard_realtime_channels",
                    "Realtime channels joined now, over all sockets.",
                ),
            ),
            events: registered(
                r,
                IntCounter::new(
                    "switchboard_realtime_events_total",
                    "Change events sent to channels (one per channel reached).",
                ),
            ),
            db_writes: registered(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "switchboard_db_write_duration_seconds",
                        "Write transactions, from asking for the writer to commit.",
                    )
                    .buckets(latency_buckets()),
                ),
            ),
            login_failures: registered(
                r,
                IntCounter::new(
                    "switchboard_login_failures_total",
                    "Password sign-ins refused for their credentials.",
                ),
            ),
            requests: registered(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchboard_http_requests_total",
                        "HTTP requests answered, by method, matched route and status.",
                    ),
                    &["method", "route", "status"],
                ),
            ),
            latency: registered(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "switchboard_http_request_duration_seconds",
                        "Time to the answer's head, by method and matched route.",
                    )
                    .buckets(latency_buckets()),
                    &["method", "route"],
                ),
            ),
            refusals: registered(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchboard_rate_limit_refusals_total",
                        "Requests refused by a rate limit, by limit.",
                    ),
                    &["limit"],
                ),
            ),
            registry,
        }
    }

    /// Counts one refusal by `limit`.
    pub fn refused(&self, limit: Refusal) {
        self.refusals.with_label_values(&[limit.label()]).inc();
    }

    /// Every instrument in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
    }
}

/// Counts every request `app` answers and times it to its head, under the route pattern
/// axum matched (so the layer goes on the finished router, where routes are known).
pub fn tracked(app: Router, metrics: Arc<Metrics>) -> Router {
    app.layer(axum::middleware::from_fn_with_state(metrics, track))
}

async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| route_label(p.as_str()));
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    metrics
        .latency
        .with_label_values(&[&method, &route])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .with_label_values(&[&method, &route, status.as_str()])
        .inc();
    response
}

/// axum's pattern `/rest/v1/{table}` as the label `/rest/v1/:table` (`{*rest}` as `*rest`).
fn route_label(pattern: &str) -> String {
    pattern
        .split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if name.starts_with('*') => name.to_string(),
                Some(name) => format!(":{name}"),
                None => part.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// The router of the metrics address: `GET /metrics`, and 404 for everything else.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        metrics.render(),
    )
        .into_response()
}

/// Serves [`router`] on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    if let Err(e) = axum::serve(listener, router(metrics))
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!(error = %e, ?addr, "metrics server failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_instrument_by_name() {
        let m = Metrics::new();
        m.refused(Refusal::LoginBusy);
        m.events.inc();
        let text = m.render();
        for name in [
            "switchboard_realtime_sockets 0",
            "switchboard_realtime_channels 0",
            "switchboard_realtime_events_total 1",
            "switchboard_login_failures_total 0",
            "switchboard_rate_limit_refusals_total{limit=\"login_busy\"} 1",
            "switchboard_db_write_duration_seconds_count 0",
        ] {
            assert!(text.contains(name), "{name} in\n{text}");
        }
    }

    #[test]
    fn route_labels_name_parameters_without_braces() {
        assert_eq!(route_label("/rest/v1/{table}"), "/rest/v1/:table");
        assert_eq!(
            route_label("/rest/v1/rpc/{function}"),
            "/rest/v1/rpc/:function"
        );
        assert_eq!(route_label("/files/{*path}"), "/files/*path");
        assert_eq!(route_label("/health"), "/health");
    }

    #[test]
    fn buckets_rise_from_half_a_millisecond() {
        let b = latency_buckets();
        assert_eq!(b[0], 0.0005);
        assert!(b.windows(2).all(|w| w[1] == w[0] * 2.0));
        assert!(*b.last().unwrap() > 8.0);
    }
}

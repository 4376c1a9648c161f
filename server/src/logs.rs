//! Structured logs: the subscriber the binary installs, and the request span every HTTP
//! request runs in, with its request id.
//!
//! Never a token, a password or a message body, at any level: the server's own events name
//! none, request spans carry the method and path but not the query string (filter values
//! are message text), and the libraries that print payloads at trace level are capped at
//! debug whatever `RUST_LOG` asks ([`PAYLOAD_TARGETS`]): tungstenite prints every websocket
//! frame (a join frame carries the user's access token), axum prints body rejections.

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Log targets (prefixes) whose trace-level events print what crosses the wire.
pub const PAYLOAD_TARGETS: [&str; 3] = ["tungstenite", "tokio_tungstenite", "axum::rejection"];

/// Whether an event or span may be logged at all: not at trace level from a
/// [`PAYLOAD_TARGETS`] target.
pub fn may_log(meta: &Metadata<'_>) -> bool {
    !(*meta.level() == Level::TRACE && PAYLOAD_TARGETS.iter().any(|t| meta.target().starts_with(t)))
}

/// Installs the process's subscriber: `RUST_LOG` (default `info`) to standard error, less
/// what [`may_log`] refuses. Library `log` records come through it too.
pub fn init() {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colour codes only for a person at a terminal, never into a log file.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(env)
                .with_filter(filter_fn(may_log)),
        )
        .try_init();
}

/// The request span: its id (`x-request-id`, the client's if it sent one, else a new
/// UUID, and echoed on the answer), method and path, never the query string.
fn request_span(request: &Request<Body>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap_or("(not text)"));
    // Debug-formatted: a client's id cannot forge log lines with newlines or escapes.
    tracing::info_span!(
        "request",
        request_id = ?id.unwrap_or(""),
        method = %request.method(),
        path = ?request.uri().path(),
    )
}

/// `app` with a request id on every request and its answer, and every request in a span.
pub fn traced(app: Router) -> Router {
    app.layer(TraceLayer::new_for_http().make_span_with(request_span))
        // Outside the trace layer, so the span sees the id; the answer gets it back.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_never_logged_at_trace() {
        struct Check;
        impl tracing::Subscriber for Check {
            fn enabled(&self, meta: &Metadata<'_>) -> bool {
                let payload = meta.target().starts_with("tungstenite")
                    || meta.target().starts_with("axum::rejection");
                assert_eq!(
                    may_log(meta),
                    !(payload && *meta.level() == Level::TRACE),
                    "{} {}",
                    meta.target(),
                    meta.level()
                );
                false
            }
            fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
                tracing::span::Id::from_u64(1)
            }
            fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
            fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
            fn event(&self, _: &tracing::Event<'_>) {}
            fn enter(&self, _: &tracing::span::Id) {}
            fn exit(&self, _: &tracing::span::Id) {}
        }
        tracing::subscriber::with_default(Check, || {
            tracing::trace!(target: "tungstenite::protocol", "frame");
            tracing::debug!(target: "tungstenite::protocol", "close");
            tracing::trace!(target: "axum::rejection", "body");
            tracing::trace!(target: "switchboard_server::serve", "ours");
        });
    }
}

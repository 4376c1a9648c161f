//! Serving HTTP over TCP with bounds: the accept loop, a connection cap that sheds idle
//! connections first, a header-read (and so idle) timeout, a whole-body read deadline, and
//! the raised descriptor limit the cap is derived from.
//!
//! `axum::serve` exposes none of these, so this is its loop on hyper's own HTTP/1 server
//! (`hyper::server::conn::http1`), keeping what the server relied on from it: no Nagle
//! delay, `ConnectInfo<SocketAddr>` in every request, websocket upgrades, and a graceful
//! shutdown that lets requests in flight finish. HTTP/2 cleartext (h2c, which only tools
//! use; browsers never speak it without TLS) is not offered any more: its idle streams would
//! need timeouts of their own.
//!
//! Descriptors: every accepted connection holds one permit of the cap inside its I/O object
//! ([`Permitted`]), so a websocket, which outlives its HTTP connection once upgraded, keeps
//! its permit until the socket is dropped. The listener never accepts past the cap plus one
//! refusal slot at a time, so `accept` cannot fail with EMFILE while SQLite, static files
//! and the log keep the [`RESERVED_DESCRIPTORS`] margin.
//!
//! TLS ([`crate::tls`]) wraps a connection only once it is admitted, inside its own task,
//! so the cap, the timeouts, the shaping of hyper's errors and upgrades apply to HTTPS and
//! WSS unchanged.

use std::collections::HashMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use http_body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, sleep_until, Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::error::Error;
use crate::hyper_errors::Shaped;

/// Descriptors kept out of the connection cap: SQLite's files (the database, its WAL and
/// shared-memory files for each of the five connections, temporary sort files), stdio, the
/// runtime's epoll and event descriptors, the listener and refusals in progress.
pub const RESERVED_DESCRIPTORS: u64 = 128;

/// Connections refused with a 503 at the same time, each holding a descriptor until its
/// answer is written (at most the header timeout); past these an over-cap connection is
/// closed without an answer.
const REFUSALS_AT_ONCE: usize = 16;

/// The bounds the accept loop enforces; built from [`crate::config::Limits`].
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Open connections at once, websockets included (`--max-connections`; by default
    /// [`connection_cap`] of the descriptor limit).
    pub max_connections: usize,
    /// Time a connection has to deliver a complete request head, counted from when the
    /// server starts waiting for one: after accepting, and after each response on a
    /// keep-alive connection, so it is the idle timeout too (hyper's
    /// `http1::Builder::header_read_timeout`, which starts in `Conn::read_head`). Over TLS
    /// the handshake has as long again, before it.
    pub header_timeout: Duration,
    /// Time a request's whole body has to arrive, from the end of its head; a slow body is
    /// answered 408 and the connection closed.
    pub body_timeout: Duration,
    /// How long a new connection over the cap waits for the idle connection shed for it
    /// to close before it is refused.
    pub shed_wait: Duration,
    /// How long a write to the client may stay blocked (no byte accepted by the socket)
    /// before it fails with `TimedOut` and the connection ends; hyper 1.x has no write
    /// timeout, so without it a client that never reads holds its slot for ever.
    pub write_stall: Duration,
}

impl ServeLimits {
    /// The bounds of `limits` under a descriptor limit of `nofile` (see [`connection_cap`]).
    pub fn new(limits: &crate::config::Limits, nofile: Option<u64>) -> ServeLimits {
        ServeLimits {
            max_connections: connection_cap(nofile, limits.max_connections),
            header_timeout: Duration::from_millis(limits.header_timeout_ms),
            body_timeout: Duration::from_millis(limits.body_timeout_ms),
            shed_wait: Duration::from_millis(limits.shed_wait_ms),
            write_stall: Duration::from_millis(limits.write_stall_ms),
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit now in
/// force, or `None` where it cannot be read (then the configured cap is used as given).
pub fn raise_descriptor_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// The connection cap for a descriptor limit of `nofile`: each connection may hold two
/// descriptors (its socket and a static file it is sending), after the
/// [`RESERVED_DESCRIPTORS`]. A `configured` cap is kept when it fits, else lowered to what
/// does (and a warning logged); always at least 1.
pub fn connection_cap(nofile: Option<u64>, configured: Option<usize>) -> usize {
    let fits = nofile
        .map(|n| usize::try_from(n.saturating_sub(RESERVED_DESCRIPTORS) / 2).unwrap_or(usize::MAX));
    let cap = match (configured, fits) {
        (Some(want), Some(fits)) if want > fits => {
            tracing::warn!(
                want,
                fits,
                "--max-connections lowered to what the open-file limit allows"
            );
            fits
        }
        (Some(want), _) => want,
        (None, Some(fits)) => fits,
        (None, None) => 1024,
    };
    cap.max(1)
}

/// One tracked HTTP connection, for choosing which idle one to shed.
struct Tracked {
    /// Requests being answered now.
    in_flight: AtomicUsize,
    /// [`Tracker::tick`] at accept and at the end of each request: lower is idle longer.
    last_active: AtomicU64,
    /// Asks the connection to close once its request in flight (if any) is answered.
    shed: Notify,
    /// Set once the connection has been asked to close: one that cannot close at once
    /// (its client not reading the last response) must not be chosen again, or every
    /// later connection over the cap would wait on it and be refused.
    closing: AtomicBool,
}

/// The open HTTP connections (not upgraded websockets, which leave when they upgrade).
#[derive(Default)]
struct Tracker {
    conns: Mutex<HashMap<u64, Arc<Tracked>>>,
    /// A logical clock: idleness is ordered by it, not by wall time, so ties cannot happen.
    clock: AtomicU64,
}

impl Tracker {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    fn insert(&self) -> (u64, Arc<Tracked>) {
        let id = self.tick();
        let conn = Arc::new(Tracked {
            in_flight: AtomicUsize::new(0),
            last_active: AtomicU64::new(id),
            shed: Notify::new(),
            closing: AtomicBool::new(false),
        });
        self.lock().insert(id, conn.clone());
        (id, conn)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Removes connection `id` when the returned guard drops, so a connection task that
    /// ends any way at all, a panic included, leaves no entry behind.
    fn removing(self: &Arc<Self>, id: u64) -> Removing {
        Removing {
            tracker: self.clone(),
            id,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Tracked>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the connection idle longest to close; false when every connection is busy.
    /// A connection that turns busy meanwhile still answers its request first: hyper's
    /// graceful shutdown only ends a connection between requests.
    fn shed_oldest_idle(&self) -> bool {
        let conns = self.lock();
        let oldest = conns
            .values()
            .filter(|c| {
                c.in_flight.load(Ordering::Relaxed) == 0 && !c.closing.load(Ordering::Relaxed)
            })
            .min_by_key(|c| c.last_active.load(Ordering::Relaxed));
        match oldest {
            Some(c) => {
                c.closing.store(true, Ordering::Relaxed);
                // notify_one keeps the wake-up if the connection's task is not waiting yet.
                c.shed.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Removes its connection from the [`Tracker`] when dropped.
struct Removing {
    tracker: Arc<Tracker>,
    id: u64,
}

impl Drop for Removing {
    fn drop(&mut self) {
        self.tracker.remove(self.id);
    }
}

/// Marks a connection busy while a request is answered.
struct Busy {
    conn: Arc<Tracked>,
    tracker: Arc<Tracker>,
}

impl Busy {
    fn new(conn: Arc<Tracked>, tracker: Arc<Tracker>) -> Busy {
        conn.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy { conn, tracker }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // The response's head is out; a body still streaming is protected anyway, since
        // shedding is a graceful shutdown.
        self.conn
            .last_active
            .store(self.tracker.tick(), Ordering::Relaxed);
        self.conn.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream holding one permit of the connection cap for as long as it is open, whose
/// writes fail with `TimedOut` once blocked for [`ServeLimits::write_stall`]. Upgraded
/// websockets and TLS sit on top of it, so the bound covers HTTP, HTTPS, WS and WSS.
pub struct Permitted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    write_stall: Duration,
    /// Armed when a write or flush first returns `Pending`, cleared when one completes.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Permitted {
    /// Passes a write's (or flush's) `poll` through, failing it once the socket has
    /// accepted nothing for `write_stall`. The timer is polled only while the write is
    /// pending, so it registers `cx` for the wake-up alongside the socket.
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let stall = self.write_stall;
        let timer = self.stalled.get_or_insert_with(|| Box::pin(sleep(stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client read nothing for the write stall timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Permitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Permitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.bounded(cx, poll)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.bounded(cx, poll)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.bounded(cx, poll)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The error a request body yields once its [`ServeLimits::body_timeout`] has passed;
/// [`body_timed_out`] finds it under the extractor's wrapping.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// Whether `error`, or an error under it, is a [`BodyTimeout`].
pub fn body_timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<BodyTimeout>() {
            return true;
        }
        // axum::Error and BoxError wrap without always exposing `source`; look inside.
        if let Some(inner) = e.downcast_ref::<axum::Error>() {
            if let Some(found) = std::error::Error::source(inner) {
                if body_timed_out(found) {
                    return true;
                }
            }
        }
        next = e.source();
    }
    false
}

/// A request body that must end by a fixed instant. tower-http's `TimeoutBody` restarts
/// its timer on every frame, which a client sending one byte at a time defeats; this one
/// does not.
struct Deadline<B> {
    body: B,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<B> http_body::Body for Deadline<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The answer to a connection over the cap: 503, PostgREST-shaped, with `Retry-After`.
fn over_capacity() -> Response<Body> {
    let mut response = Error::api(
        StatusCode::SERVICE_UNAVAILABLE,
        "PGRST000",
        "The server is at its connection limit. Try again in a moment.",
    )
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    // Answered outside the router, so without its security headers: the same ones as
    // hyper's own error answers.
    for &(name, value) in crate::headers::BARE_ERROR_HEADERS {
        headers.insert(
            header::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then stops
/// accepting, lets requests in flight finish and returns when every HTTP connection has
/// ended (upgraded websockets are the caller's to end, as with `axum::serve`).
///
/// With `tls` every admitted connection first completes a TLS handshake (in its own task,
/// within [`ServeLimits::header_timeout`]: a handshake sent slowly is a slowloris like a
/// slow head); everything after it, websocket upgrades included, runs over the TLS stream.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let tracker = Arc::new(Tracker::default());
    let (stop, stopping) = watch::channel(false);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut shutdown = pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Per-connection failures (reset before accept) are routine; anything
                    // else (EMFILE despite the margin) must not spin the loop.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small frames (events, replies) must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) if tracker.shed_oldest_idle() => {
                tokio::time::timeout(limits.shed_wait, permits.clone().acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        let Some(permit) = permit else {
            refuse(tcp, &http, &refusals, tls.clone(), limits.header_timeout);
            continue;
        };
        let (id, conn) = tracker.insert();
        let stream = Permitted {
            stream: tcp,
            _permit: permit,
            write_stall: limits.write_stall,
            stalled: None,
        };
        let service = {
            let (app, tracker, conn) = (app.clone(), tracker.clone(), conn.clone());
            let body_timeout = limits.body_timeout;
            hyper::service::service_fn(move |mut req: Request<Incoming>| {
                let busy = Busy::new(conn.clone(), tracker.clone());
                req.extensions_mut().insert(ConnectInfo(peer));
                let req = req.map(|body| {
                    Body::new(Deadline {
                        body,
                        deadline: Instant::now() + body_timeout,
                        sleep: None,
                    })
                });
                let app = app.clone();
                async move {
                    let response = app.oneshot(req).await;
                    drop(busy);
                    response
                }
            })
        };
        let (http, tls, tracker, mut stopping) =
            (http.clone(), tls.clone(), tracker.clone(), stopping.clone());
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _removing = tracker.removing(id);
            match tls {
                None => {
                    drive(
                        &http,
                        stream,
                        service,
                        &conn,
                        &mut stopping,
                        header_timeout,
                        peer,
                    )
                    .await
                }
                Some(acceptor) => {
                    // A connection still in its handshake counts as idle: shedding or
                    // stopping ends it like one waiting for its head.
                    let handshake = tokio::select! {
                        done = tokio::time::timeout(header_timeout, acceptor.accept(stream)) => {
                            match done {
                                Ok(Ok(tls)) => Some(tls),
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                    None
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                    None
                                }
                            }
                        }
                        () = conn.shed.notified() => None,
                        _ = stopping.changed() => None,
                    };
                    if let Some(tls) = handshake {
                        drive(
                            &http,
                            tls,
                            service,
                            &conn,
                            &mut stopping,
                            header_timeout,
                            peer,
                        )
                        .await;
                    }
                }
            }
            drop(stopping);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(stopping);
    // Every connection task holds a receiver; closed() resolves when the last one ends.
    stop.closed().await;
}

/// Serves one admitted connection (`io`: the TCP stream, or the TLS stream over it) until
/// it ends, closing it gracefully when the server stops or sheds it; a graceful close that
/// has not finished after `grace` (a response still being written, a request still being
/// answered) ends the connection outright.
async fn drive<I, S>(
    http: &http1::Builder,
    io: I,
    service: S,
    conn: &Tracked,
    stopping: &mut watch::Receiver<bool>,
    grace: Duration,
    peer: std::net::SocketAddr,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Body>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // hyper's own answers to requests it cannot parse get PostgREST's JSON shape too; over
    // TLS this sits on the decrypted side.
    let connection = http
        .serve_connection(TokioIo::new(Shaped::new(io)), service)
        .with_upgrades();
    let mut connection = pin!(connection);
    let mut closing = None;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                break;
            }
            _ = stopping.changed(), if closing.is_none() => {
                closing = Some(Instant::now() + grace);
                connection.as_mut().graceful_shutdown();
            }
            () = conn.shed.notified(), if closing.is_none() => {
                closing = Some(Instant::now() + grace);
                connection.as_mut().graceful_shutdown();
            }
            () = sleep_until(closing.unwrap_or_else(Instant::now)), if closing.is_some() => {
                tracing::debug!(%peer, "connection did not close in time");
                break;
            }
        }
    }
}

/// Answers a connection over the cap with [`over_capacity`] through hyper, so the client
/// reads a whole response rather than a reset (over TLS after a handshake bounded by
/// `header_timeout`); at most [`REFUSALS_AT_ONCE`] at a time, past them the connection is
/// closed at once.
fn refuse(
    tcp: TcpStream,
    http: &http1::Builder,
    refusals: &Arc<Semaphore>,
    tls: Option<TlsAcceptor>,
    header_timeout: Duration,
) {
    let Ok(slot) = refusals.clone().try_acquire_owned() else {
        return;
    };
    let mut http = http.clone();
    http.keep_alive(false);
    let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
        Ok::<_, std::convert::Infallible>(over_capacity())
    });
    tokio::spawn(async move {
        match tls {
            None => {
                let _ = http.serve_connection(TokioIo::new(tcp), service).await;
            }
            Some(acceptor) => {
                if let Ok(Ok(tls)) =
                    tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await
                {
                    let _ = http.serve_connection(TokioIo::new(tls), service).await;
                }
            }
        }
        drop(slot);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve_and_a_file_per_connection() {
        assert_eq!(connection_cap(Some(1024), None), 448);
        assert_eq!(
            connection_cap(Some(1024), Some(100)),
            100,
            "a cap that fits"
        );
        assert_eq!(
            connection_cap(Some(1024), Some(5_000)),
            448,
            "lowered to what fits"
        );
        assert_eq!(connection_cap(Some(10), None), 1, "never zero");
        assert_eq!(connection_cap(None, Some(7)), 7);
        assert_eq!(connection_cap(None, None), 1024);
    }

    #[test]
    fn the_idle_connection_shed_is_the_one_idle_longest() {
        let tracker = Arc::new(Tracker::default());
        let (_, first) = tracker.insert();
        let (_, second) = tracker.insert();
        let (_, third) = tracker.insert();
        // The first answers a request and so becomes the most recently active.
        drop(Busy::new(first.clone(), tracker.clone()));
        // The second is busy now.
        let busy = Busy::new(second.clone(), tracker.clone());
        assert!(tracker.shed_oldest_idle());
        let shed = |c: &Arc<Tracked>| {
            let notified = c.shed.notified();
            let mut notified = pin!(notified);
            // A stored notify_one wakes the first poll at once.
            notified.as_mut().enable()
        };
        assert!(shed(&third), "idle longest");
        assert!(!shed(&first));
        assert!(!shed(&second));
        drop(busy);
    }

    #[test]
    fn nothing_is_shed_while_every_connection_is_busy() {
        let tracker = Arc::new(Tracker::default());
        let (id, only) = tracker.insert();
        let busy = Busy::new(only, tracker.clone());
        assert!(!tracker.shed_oldest_idle());
        drop(busy);
        assert!(tracker.shed_oldest_idle());
        tracker.remove(id);
        assert!(!tracker.shed_oldest_idle(), "nothing left");
    }

    /// A connection already asked to close that cannot close at once (its client does not
    /// read) must not be chosen again: the next shed goes to a connection truly idle.
    #[test]
    fn a_connection_already_shed_is_not_chosen_again() {
        let tracker = Arc::new(Tracker::default());
        let (_, stuck) = tracker.insert();
        let (_, idle) = tracker.insert();
        let asked = |c: &Arc<Tracked>| {
            let notified = c.shed.notified();
            let mut notified = pin!(notified);
            notified.as_mut().enable()
        };
        assert!(tracker.shed_oldest_idle());
        assert!(asked(&stuck), "idle longest");
        assert!(tracker.shed_oldest_idle());
        assert!(asked(&idle), "the one not asked yet");
        assert!(!asked(&stuck), "not asked twice");
        assert!(!tracker.shed_oldest_idle(), "every connection is closing");
    }

    #[test]
    fn a_body_timeout_is_found_under_axum_s_wrapping() {
        let wrapped = axum::Error::new(Box::new(BodyTimeout) as axum::BoxError);
        assert!(body_timed_out(&wrapped));
        let other = axum::Error::new(std::io::Error::other("reset"));
        assert!(!body_timed_out(&other));
    }
}

//! One websocket connection's I/O: the reader, the writer task, and the loop feeding the
//! channel state machine ([`super::channels`]) and sending what it says.
//!
//! The loop never awaits the network: outgoing frames go through a bounded queue to a writer
//! task, so a slow client fills its own queue and is cut off instead of slowing writers or
//! other sockets.

use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use switchboard_wire::{Message, Serializer};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{sleep_until, Instant};

use super::channels::{Channels, Host, Input, Out, UnixSecs};
use super::protocol::{
    binary_push_header, change_data, encode_change, serializer_tag, CloseReason,
};
use super::registry::SocketRefusal;
use crate::auth::jwt::{self, Principal, TokenError};
use crate::db::Change;
use crate::AppState;

/// Go on, or close the socket for this reason.
type Flow = ControlFlow<CloseReason>;

/// Changes handled per wake-up before the loop looks at the client again.
const DRAIN_BATCH: usize = 256;

/// The clock every expiry decision of a socket reads: the one REST reads.
fn unix_now() -> UnixSecs {
    jwt::unix_now()
}

impl Host for AppState {
    fn decode(&self, token: &str) -> Result<Principal, TokenError> {
        self.keys()
            .decode_user(token)
            .map(|claims| Principal::from(&claims))
    }

    fn now(&self) -> UnixSecs {
        unix_now()
    }

    fn acquire_socket(&self, user_id: &str, session_id: &str) -> Result<(), SocketRefusal> {
        if self.disabled().contains(user_id) {
            return Err(SocketRefusal::UserDisabled);
        }
        let caps = self.config().limits.socket_caps();
        let acquired = self.sockets().try_acquire(user_id, session_id, caps);
        if acquired.is_err() {
            self.metrics()
                .refused(crate::metrics::Refusal::RealtimeSockets);
        }
        acquired
    }
}

/// A socket counted against its client address while it has no user
/// ([`super::registry::SocketRegistry::try_acquire_anonymous`]); dropping it releases the
/// count, at the first join with a user token or when the socket ends.
pub struct Anonymous {
    state: AppState,
    address: IpAddr,
}

impl Anonymous {
    /// Counts a new socket from `address` within `--anonymous-sockets-per-address`.
    ///
    /// # Errors
    /// The refusal to answer the handshake with.
    pub fn acquire(state: &AppState, address: IpAddr) -> Result<Anonymous, SocketRefusal> {
        let max = state.config().limits.ws_anonymous_per_address;
        state.sockets().try_acquire_anonymous(address, max)?;
        Ok(Anonymous {
            state: state.clone(),
            address,
        })
    }
}

impl Drop for Anonymous {
    fn drop(&mut self) {
        self.state.sockets().release_anonymous(self.address);
    }
}

/// The sending half: the writer task's queue, and how this connection encodes messages.
struct Outgoing {
    queue: mpsc::Sender<WsMessage>,
    serializer: Serializer,
    /// `switchboard_realtime_events_total`.
    events: prometheus::IntCounter,
}

impl Outgoing {
    fn frame(&self, frame: WsMessage) -> Flow {
        match self.queue.try_send(frame) {
            Ok(()) => ControlFlow::Continue(()),
            Err(mpsc::error::TrySendError::Full(_)) => ControlFlow::Break(CloseReason::SlowClient),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                ControlFlow::Break(CloseReason::ConnectionClosed)
            }
        }
    }

    /// Carries out the machine's outputs in order.
    fn apply(&self, outs: Vec<Out>) -> Flow {
        for out in outs {
            match out {
                Out::Send(m) => self.frame(WsMessage::Text(m.encode(self.serializer).into()))?,
                Out::Close(reason) => return ControlFlow::Break(reason),
            }
        }
        ControlFlow::Continue(())
    }

    /// Sends a committed change to every channel that gets it, as the change's shared frame
    /// for that audience: the first socket to need one encodes it, the rest reuse it.
    fn change(&self, channels: &Channels, change: &Change) -> Flow {
        for (topic, ids) in channels.deliveries(change, unix_now()) {
            let data = change.wire.data(|| change_data(change).to_string());
            let tag = serializer_tag(self.serializer);
            let frame = change.wire.frame(tag, topic, &ids, || {
                encode_change(self.serializer, topic, &ids, data)
            });
            self.frame(WsMessage::Text(frame))?;
            self.events.inc();
        }
        ControlFlow::Continue(())
    }
}

/// Handles changes that are already waiting, so a burst costs one wake-up, not one each.
fn drain(
    channels: &mut Channels,
    out: &Outgoing,
    feed: &mut broadcast::Receiver<Arc<Change>>,
    host: &AppState,
) -> Flow {
    for _ in 0..DRAIN_BATCH {
        match feed.try_recv() {
            Ok(change) => out.change(channels, &change)?,
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                return lagged(channels, out, missed, host)
            }
            Err(_) => break,
        }
    }
    ControlFlow::Continue(())
}

fn lagged(channels: &mut Channels, out: &Outgoing, missed: u64, host: &AppState) -> Flow {
    tracing::warn!(missed, "realtime subscriber fell behind; closing");
    out.apply(channels.step(Input::Lagged, host))
}

/// When to feed the next [`Input::Tick`]: just after `deadline`, the first unix second at
/// which a token counts as expired ([`Channels::next_expiry`]). Whole seconds from a
/// floored clock only ever wait longer, so the tick never comes before the rule says so.
fn expiry_instant(deadline: UnixSecs) -> Instant {
    let wait = u64::try_from(deadline.saturating_sub(unix_now())).unwrap_or(0);
    Instant::now() + Duration::from_secs(wait) + Duration::from_millis(50)
}

/// Writes queued frames; everything already queued goes out in one flush, one syscall for
/// a burst instead of one per frame, which is what keeps a thousand sockets affordable.
async fn write_frames(
    mut sink: SplitSink<WebSocket, WsMessage>,
    mut queue: mpsc::Receiver<WsMessage>,
) {
    'frames: while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        while let Some(frame) = next.take() {
            let closing = matches!(frame, WsMessage::Close(_));
            if sink.feed(frame).await.is_err() || closing {
                let _ = sink.flush().await;
                break 'frames;
            }
            next = queue.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
}

/// Serves one upgraded websocket until either side ends it. Until a channel is joined with a
/// user token the socket holds `anonymous` and must join by the join deadline
/// (`Limits::ws_join_timeout_ms`).
pub async fn run(socket: WebSocket, state: AppState, serializer: Serializer, anonymous: Anonymous) {
    let mut anonymous = Some(anonymous);
    let limits = state.config().limits.clone();
    let (sink, mut stream) = socket.split();
    let (queue, pending) = mpsc::channel::<WsMessage>(limits.ws_send_queue);
    let writer = tokio::spawn(write_frames(sink, pending));
    let out = Outgoing {
        queue,
        serializer,
        events: state.metrics().events.clone(),
    };
    let open_sockets = state.metrics().sockets.clone();
    open_sockets.inc();
    let open_channels = state.metrics().channels.clone();
    let mut joined: i64 = 0;
    let mut feed = state.db().feed().subscribe();
    let mut shutdown = state.sockets().shutdown_signal();
    // Subscribed before any join: a user disabled between a join's check and its count
    // still wakes this loop, which then finds the user counted (`admin::disabled`).
    let mut disabled = state.disabled().subscribe();
    let mut channels = Channels::with_caps(limits.channel_caps());
    let idle = Duration::from_millis(limits.ws_idle_timeout_ms);
    let mut last_seen = Instant::now();
    let join_by = last_seen + Duration::from_millis(limits.ws_join_timeout_ms);
    let far = Duration::from_secs(86_400 * 365);
    let reason = loop {
        let now_joined = channels.len() as i64;
        open_channels.add(now_joined - joined);
        joined = now_joined;
        if anonymous.is_some() && channels.counted().is_some() {
            // Joined with a user: from now on the user's caps count this socket.
            anonymous = None;
        }
        let expiry = channels
            .next_expiry()
            .map_or_else(|| Instant::now() + far, expiry_instant);
        let flow: Flow = tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(WsMessage::Text(text))) => {
                    last_seen = Instant::now();
                    match Message::decode(serializer, text.as_str()) {
                        Ok(m) => {
                            // Never the payload: a join or access_token frame carries a token.
                            tracing::trace!(topic = %m.topic, event = %m.event, "frame in");
                            out.apply(channels.step(Input::Message(m), &state))
                        }
                        Err(_) => ControlFlow::Break(CloseReason::MalformedFrame),
                    }
                }
                Some(Ok(WsMessage::Binary(bytes))) => {
                    last_seen = Instant::now();
                    match binary_push_header(&bytes) {
                        Some(m) => out.apply(channels.step(Input::BinaryBroadcast(m), &state)),
                        None => ControlFlow::Break(CloseReason::UnsupportedBinary),
                    }
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {
                    last_seen = Instant::now();
                    ControlFlow::Continue(())
                }
                Some(Ok(WsMessage::Close(_))) | None => ControlFlow::Break(CloseReason::ClientClosed),
                Some(Err(_)) => ControlFlow::Break(CloseReason::FrameTooLarge),
            },
            change = feed.recv() => match change {
                Ok(change) => match out.change(&channels, &change) {
                    ControlFlow::Continue(()) => drain(&mut channels, &out, &mut feed, &state),
                    stop => stop,
                },
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    lagged(&mut channels, &out, missed, &state)
                }
                Err(broadcast::error::RecvError::Closed) => {
                    ControlFlow::Break(CloseReason::ServerStopping)
                }
            },
            _ = sleep_until(last_seen + idle) => ControlFlow::Break(CloseReason::HeartbeatTimeout),
            // Heartbeats alone do not keep a socket that never joins.
            _ = sleep_until(join_by), if anonymous.is_some() => {
                ControlFlow::Break(CloseReason::JoinTimeout)
            }
            _ = sleep_until(expiry) => out.apply(channels.step(Input::Tick(unix_now()), &state)),
            _ = shutdown.changed() => ControlFlow::Break(CloseReason::ServerStopping),
            // The sender lives in the state this socket holds, so this never ends in Err.
            Ok(()) = disabled.changed() => match channels.counted() {
                Some(c) if state.disabled().contains(&c.user_id) => {
                    ControlFlow::Break(CloseReason::UserDisabled)
                }
                _ => ControlFlow::Continue(()),
            },
        };
        if let ControlFlow::Break(reason) = flow {
            break reason;
        }
    };
    drop(anonymous);
    open_channels.sub(joined);
    open_sockets.dec();
    if let Some(counted) = channels.counted() {
        state
            .sockets()
            .release(&counted.user_id, &counted.session_id);
    }
    let close = WsMessage::Close(Some(CloseFrame {
        code: reason.code(),
        reason: reason.text().into(),
    }));
    let queued = out.queue.try_send(close).is_ok();
    drop(out);
    if queued {
        // A timeout drops the JoinHandle, which detaches the task rather than ending it:
        // keep its abort handle, or a writer stuck on a client that never reads keeps the
        // socket, and its connection permit, for ever.
        let abort = writer.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), writer)
            .await
            .is_err()
        {
            tracing::debug!("websocket writer did not finish in time");
            abort.abort();
        }
    } else {
        writer.abort();
    }
}

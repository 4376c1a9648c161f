//! The browser side: a WebSocket, timers and page events feeding the pure [`Machine`].

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, WebSocket};

use super::machine::{Command, ConnectionStatus, Input, Machine, Token, TICK_MS};
use super::protocol;
use crate::cache::QueryClient;
use crate::session::SessionService;
use crate::ticker::Ticker;

struct Handlers {
    _open: Closure<dyn FnMut()>,
    _close: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
}

/// Called with the `data` object of every change event of ours.
type ChangeListener = std::rc::Rc<dyn Fn(&serde_json::Value)>;

struct Glue {
    machine: Machine,
    listeners: Vec<ChangeListener>,
    url: String,
    socket: Option<(WebSocket, Handlers)>,
    clock: Option<Ticker>,
    cache: QueryClient,
    session: SessionService,
}

/// Drops a socket's callbacks on a later tick: this may run inside one of them, and a
/// wasm-bindgen closure must not be freed while it executes.
fn retire(handlers: Handlers) {
    set_timeout(move || drop(handlers), Duration::from_millis(0));
}

/// The realtime connection of the signed-in user (provided as context).
#[derive(Clone, Copy)]
pub struct RealtimeClient {
    /// What the header shows.
    pub status: RwSignal<ConnectionStatus>,
    /// Why the server refuses this tab, in its words (e.g. too many tabs open), while it
    /// does; shown beside the status.
    pub refusal: RwSignal<Option<String>>,
    inner: StoredValue<Glue, LocalStorage>,
}

/// The session's access token and its expiry, reactive.
fn session_token(session: SessionService) -> Memo<Option<Token>> {
    Memo::new(move |_| {
        session.session.with(|s| {
            s.as_ref().map(|s| Token {
                value: s.access_token.clone(),
                expires_at: s.expires_at,
            })
        })
    })
}

impl RealtimeClient {
    /// Connects to `url`, joins the org channel with the session's token and keeps it
    /// joined while the owner lives; asks `session` for a fresh token when the server
    /// refuses the one it has or it is about to lapse.
    pub fn start(
        url: String,
        org_id: &str,
        user_id: &str,
        session: SessionService,
        cache: QueryClient,
    ) -> Self {
        let token = session_token(session);
        let client = RealtimeClient {
            status: RwSignal::new(ConnectionStatus::Connecting),
            refusal: RwSignal::new(None),
            inner: StoredValue::new_local(Glue {
                machine: Machine::new(org_id, user_id, token.get_untracked()),
                listeners: Vec::new(),
                url,
                socket: None,
                clock: None,
                cache,
                session,
            }),
        };
        // Heartbeats and reconnects fall due on a worker's clock: a hidden tab's page timers
        // are throttled past the server's idle limit (ARCHITECTURE.md, "Hidden tabs").
        let clock = Ticker::start(TICK_MS, move || client.feed(Input::Tick));
        client.inner.update_value(|g| g.clock = Some(clock));
        client.feed(Input::Start);
        // Refreshed tokens go to the joined channel; a cleared one stops the connection.
        Effect::new(move |previous: Option<Option<Token>>| {
            let current = token.get();
            if previous.is_some_and(|p| p != current) {
                client.feed(Input::Token(current.clone()));
            }
            current
        });
        let wake = move || client.feed(Input::Wake);
        let online = window_event_listener(leptos::ev::online, move |_| wake());
        let visible = window_event_listener(leptos::ev::visibilitychange, move |_| {
            if document().visibility_state() == web_sys::VisibilityState::Visible {
                wake();
            }
        });
        let pageshow = window_event_listener(leptos::ev::pageshow, move |_| wake());
        on_cleanup(move || {
            online.remove();
            visible.remove();
            pageshow.remove();
            client.feed(Input::Stop);
            if let Some(Some(clock)) = client.inner.try_update_value(|g| g.clock.take()) {
                // Not inside the worker's own message callback: drop it on a later tick.
                set_timeout(move || drop(clock), Duration::from_millis(0));
            }
        });
        client
    }

    /// Calls `listener` with the postgres_changes `data` object of every change event this
    /// connection delivers (after the cache has been told to invalidate), for as long as the
    /// connection lives. For reacting to the event itself (alerts); cached data still comes
    /// only from refetches.
    pub fn on_change(self, listener: impl Fn(&serde_json::Value) + 'static) {
        self.inner
            .update_value(|g| g.listeners.push(std::rc::Rc::new(listener)));
    }

    /// Feeds one input and carries out the resulting commands.
    fn feed(self, input: Input) {
        let (now, jitter) = (js_sys::Date::now(), js_sys::Math::random());
        let Some(commands) = self
            .inner
            .try_update_value(|g| g.machine.step(input, now, jitter))
        else {
            return;
        };
        for command in commands {
            self.perform(command);
        }
    }

    fn perform(self, command: Command) {
        match command {
            Command::Open => self.open(),
            Command::Close => self.close(),
            Command::Send(text) => {
                self.inner.with_value(|g| {
                    if let Some((ws, _)) = &g.socket {
                        let _ = ws.send_with_str(&text);
                    }
                });
            }
            Command::RefreshToken => {
                let session = self.inner.with_value(|g| g.session);
                leptos::task::spawn_local(async move {
                    // The new token (or the sign-out) comes back through the token signal.
                    let _ = session.refresh().await;
                });
            }
            Command::Refusal(reason) => self.refusal.set(
                reason
                    .as_deref()
                    .map(|r| protocol::shown_reason(r).to_string()),
            ),
            Command::Invalidate(keys) => {
                let cache = self.inner.with_value(|g| g.cache);
                for key in keys {
                    cache.invalidate(&key);
                }
            }
            Command::InvalidateAll => self.inner.with_value(|g| g.cache).invalidate_all(),
            Command::Changed(data) => {
                let listeners = self.inner.with_value(|g| g.listeners.clone());
                for listener in listeners {
                    listener(&data);
                }
            }
            Command::Status(s) => {
                if self.status.get_untracked() != s {
                    self.status.set(s);
                }
            }
        }
    }

    fn close(self) {
        if let Some(Some((ws, handlers))) = self.inner.try_update_value(|g| g.socket.take()) {
            ws.set_onopen(None);
            ws.set_onclose(None);
            ws.set_onerror(None);
            ws.set_onmessage(None);
            let _ = ws.close();
            retire(handlers);
        }
    }

    fn open(self) {
        self.close();
        let url = self.inner.with_value(|g| g.url.clone());
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(_) => {
                // Could not even start (bad URL, browser limit): treat as a lost connection.
                set_timeout(move || self.feed(Input::Closed), Duration::from_millis(0));
                return;
            }
        };
        let opened = Closure::<dyn FnMut()>::new(move || self.feed(Input::Opened));
        let closed = Closure::<dyn FnMut()>::new(move || {
            // Only the current socket's close matters; `close()` detached the old ones.
            if let Some(Some((_, handlers))) = self.inner.try_update_value(|g| g.socket.take()) {
                retire(handlers);
            }
            self.feed(Input::Closed);
        });
        let message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(text) = e.data().as_string() {
                self.feed(Input::Text(text));
            }
        });
        ws.set_onopen(Some(opened.as_ref().unchecked_ref()));
        ws.set_onclose(Some(closed.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
        self.inner.update_value(|g| {
            g.socket = Some((
                ws,
                Handlers {
                    _open: opened,
                    _close: closed,
                    _message: message,
                },
            ));
        });
    }
}

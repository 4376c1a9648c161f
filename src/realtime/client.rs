//! The browser side: a WebSocket, timers and page events feeding the pure [`Machine`].

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, WebSocket};

use super::machine::{Command, ConnectionStatus, Input, Machine, HEARTBEAT_MS};
use crate::cache::QueryClient;

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
    heartbeat: Option<gloo_timers::callback::Interval>,
    cache: QueryClient,
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
    inner: StoredValue<Glue, LocalStorage>,
}

impl RealtimeClient {
    /// Connects to `url`, joins the org channel and keeps it joined while the owner lives.
    pub fn start(
        url: String,
        org_id: &str,
        user_id: &str,
        token: Signal<Option<String>>,
        cache: QueryClient,
    ) -> Self {
        let client = RealtimeClient {
            status: RwSignal::new(ConnectionStatus::Connecting),
            inner: StoredValue::new_local(Glue {
                machine: Machine::new(org_id, user_id, token.get_untracked()),
                listeners: Vec::new(),
                url,
                socket: None,
                heartbeat: None,
                cache,
            }),
        };
        let heartbeat = gloo_timers::callback::Interval::new(HEARTBEAT_MS, move || {
            client.feed(Input::HeartbeatTick)
        });
        client.inner.update_value(|g| g.heartbeat = Some(heartbeat));
        client.feed(Input::Start);
        // Refreshed tokens go to the joined channel; a cleared one stops the connection.
        Effect::new(move |previous: Option<Option<String>>| {
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
        let jitter = js_sys::Math::random();
        let Some(commands) = self
            .inner
            .try_update_value(|g| g.machine.step(input, jitter))
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
            Command::ScheduleRetry(ms) => {
                set_timeout(
                    move || self.feed(Input::RetryDue),
                    Duration::from_millis(u64::from(ms)),
                );
            }
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

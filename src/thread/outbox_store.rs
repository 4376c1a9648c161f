//! The outbox's glue: `localStorage` (written on every change, read back before each one),
//! the other tabs, the posts themselves and their timers. The rules are `outbox`'s.
//!
//! **Which tab sends.** Every tab of the user shows the outbox and may queue, retry and
//! discard, but only one posts: the holder of the Web Lock `switchboard-outbox:<user id>`
//! (held until the tab goes away; the browser then grants it to the next tab in line, with
//! no timers). Another tab's new entry reaches the sender through the `storage` event. After
//! a reload or a crash, whichever tab gets the lock posts what was left, under the same ids.
//! Without Web Locks (an insecure context) every tab posts; the ids keep that harmless (the
//! server stores a message once), it only costs requests.
//!
//! **Timers.** Backoff and the send timeout run on page timers, which a hidden tab
//! throttles (ARCHITECTURE.md, "Hidden tabs"): a hidden sender may retry late, never early;
//! the connection coming back (realtime live, `online`) resends at once regardless.
//!
//! **Storage races.** Each change reads the stored value, applies itself and writes it back
//! in one synchronous step, so two tabs' changes a moment apart both survive.

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::JsValue;

use super::outbox::{parse_stored, storage_key, Outbox, Outcome, Pending, Send, SEND_TIMEOUT_MS};
use crate::api::Priority;
use crate::cache::{QueryClient, QueryKey};
use crate::realtime::machine::ConnectionStatus;
use crate::session::SessionService;
use crate::web_lock::WebLock;

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

fn warn(text: &str) {
    web_sys::console::warn_1(&JsValue::from_str(text));
}

fn online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// The signed-in user's outbox (provided as context by the signed-in layout). Copy.
#[derive(Clone, Copy)]
pub struct OutboxService {
    outbox: RwSignal<Outbox>,
    key: StoredValue<Option<String>>,
    sender: RwSignal<bool>,
    session: SessionService,
    cache: QueryClient,
    timer: StoredValue<Option<TimeoutHandle>, LocalStorage>,
    lock: StoredValue<Option<WebLock>, LocalStorage>,
}

impl OutboxService {
    /// Loads `user_id`'s outbox and posts it while the calling component lives; `status`
    /// (the realtime connection's) turning live resends at once.
    pub fn start(
        user_id: &str,
        session: SessionService,
        cache: QueryClient,
        status: Signal<ConnectionStatus>,
    ) -> Self {
        let service = OutboxService {
            outbox: RwSignal::new(Outbox::default()),
            key: StoredValue::new(storage_key(user_id)),
            sender: RwSignal::new(false),
            session,
            cache,
            timer: StoredValue::new_local(None),
            lock: StoredValue::new_local(None),
        };
        // Load (dropping what does not parse, with a warning) and write the cleaned value.
        service.change(|_| ());
        let storage_listener = window_event_listener(leptos::ev::storage, move |ev| {
            if ev.key() == service.key.get_value() {
                service.change(|_| ());
                service.pump();
            }
        });
        let online_listener = window_event_listener(leptos::ev::online, move |_| {
            service.change(Outbox::connection_back);
            service.pump();
        });
        Effect::new(move |before: Option<ConnectionStatus>| {
            let now = status.get();
            if now == ConnectionStatus::Live && before != Some(ConnectionStatus::Live) {
                service.change(Outbox::connection_back);
                service.pump();
            }
            now
        });
        service.claim_sending(user_id);
        on_cleanup(move || {
            storage_listener.remove();
            online_listener.remove();
            if let Some(Some(lock)) = service.lock.try_update_value(Option::take) {
                lock.release();
            }
            if let Some(Some(t)) = service.timer.try_update_value(Option::take) {
                t.clear();
            }
        });
        service
    }

    /// Reads storage into the outbox, applies `f`, writes back if the entries changed.
    fn change<R>(self, f: impl FnOnce(&mut Outbox) -> R) -> Option<R> {
        let key = self.key.try_get_value()?;
        let store = storage();
        let stored = key
            .as_ref()
            .zip(store.as_ref())
            .and_then(|(k, s)| s.get_item(k).ok().flatten());
        let (entries, warning) = match &stored {
            Some(text) => parse_stored(text),
            None => (Vec::new(), None),
        };
        if let Some(w) = &warning {
            warn(w);
        }
        let mut result = None;
        self.outbox.try_update(|o| {
            // Storage is the truth while it works; without it the memory copy is all there is.
            if stored.is_some() || store.is_some() {
                o.adopt(entries);
            }
            result = Some(f(o));
            let text = o.to_json();
            if let (Some(k), Some(s)) = (&key, &store) {
                if (warning.is_some() || stored.as_deref() != Some(text.as_str()))
                    && s.set_item(k, &text).is_err()
                {
                    warn("outbox: localStorage refused the write; kept in this tab only");
                }
            }
        })?;
        result
    }

    /// Queues `body` for `conversation_id`; returns its client id.
    pub fn queue(self, conversation_id: &str, body: &str, priority: Priority) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let now = js_sys::Date::now();
        self.change(|o| o.queue(id.clone(), conversation_id, body, priority, now));
        self.pump();
        id
    }

    /// Retry of a failed entry.
    pub fn retry(self, id: &str) {
        let now = js_sys::Date::now();
        self.change(|o| o.retry(id, now));
        self.pump();
    }

    /// Discard of an entry.
    pub fn discard(self, id: &str) {
        self.change(|o| o.discard(id));
        self.pump();
    }

    /// A thread answer for `conversation_id` holding `ids`: those entries are sent.
    pub fn thread_rows(self, conversation_id: &str, ids: &[String]) {
        let holds = self.outbox.with_untracked(|o| {
            o.entries()
                .iter()
                .any(|e| e.conversation_id == conversation_id && ids.contains(&e.id))
        });
        if holds {
            self.change(|o| o.thread_rows(conversation_id, ids));
            self.pump();
        }
    }

    /// The outbox rows of `conversation` not among `shown` (the thread's rows), reactive.
    pub fn pending(
        self,
        conversation: Signal<Option<String>>,
        shown: Signal<Vec<String>>,
    ) -> Signal<Vec<Pending>> {
        let outbox = self.outbox;
        Memo::new(move |_| {
            let Some(c) = conversation.get() else {
                return Vec::new();
            };
            shown.with(|ids| outbox.with(|o| o.pending(&c, ids)))
        })
        .into()
    }

    /// Posts what is due (if this tab is the sender) and sets the timer for what falls due
    /// next.
    fn pump(self) {
        if !self.sender.try_get_untracked().unwrap_or(false) {
            return;
        }
        let now = js_sys::Date::now();
        let online = online();
        let Some(sends) = self.change(|o| o.due(now, online)) else {
            return;
        };
        for send in sends {
            self.post(send);
        }
        if let Some(Some(old)) = self.timer.try_update_value(Option::take) {
            old.clear();
        }
        if let Some(at) = self.outbox.with_untracked(Outbox::wake_at) {
            let wait = (at - js_sys::Date::now()).max(0.0) as u64;
            let handle = set_timeout_with_handle(move || self.pump(), Duration::from_millis(wait));
            if let Ok(h) = handle {
                self.timer.set_value(Some(h));
            }
        }
    }

    fn post(self, send: Send) {
        let Send {
            id,
            conversation_id,
            body,
            priority,
            token,
        } = send;
        // No answer in time counts as a transient failure; the request itself goes on, and a
        // late *stored* answer still counts.
        {
            let id = id.clone();
            set_timeout(
                move || {
                    let (now, jitter) = (js_sys::Date::now(), js_sys::Math::random());
                    let timed_out = Outcome::Transient("no answer in time".into());
                    if self
                        .change(|o| o.answered(&id, token, timed_out, now, jitter))
                        .is_some()
                    {
                        self.pump();
                    }
                },
                Duration::from_millis(SEND_TIMEOUT_MS.into()),
            );
        }
        leptos::task::spawn_local(async move {
            let result = self
                .session
                .call(|b, t| {
                    let (id, conversation_id, body) =
                        (id.clone(), conversation_id.clone(), body.clone());
                    async move {
                        b.send_message(&t, &id, &conversation_id, &body, priority)
                            .await
                    }
                })
                .await;
            let outcome = Outcome::of(&result);
            let stored = outcome == Outcome::Stored;
            let (now, jitter) = (js_sys::Date::now(), js_sys::Math::random());
            if self
                .change(|o| o.answered(&id, token, outcome, now, jitter))
                .is_none()
            {
                return;
            }
            if stored {
                self.cache.invalidate(&QueryKey::messages(&conversation_id));
            }
            self.pump();
        });
    }

    /// Queues for the lock that makes this tab the sender; without Web Locks, sends alone.
    fn claim_sending(self, user_id: &str) {
        let name = format!("switchboard-outbox:{user_id}");
        let granted = move || {
            if self.sender.try_set(true).is_some() {
                self.pump();
            }
        };
        // Refused or stolen: send alone rather than never.
        match WebLock::request(&name, granted, granted) {
            Some(lock) => self.lock.set_value(Some(lock)),
            None => granted(),
        }
    }
}

//! Browser glue: feeds the pure [`AlertMachine`] from signals, realtime events, a ticker, the
//! Web Lock and the other tabs, and carries out its commands (notifications, tones, the
//! lock); keeps the tab title and favicon in step with the counts.

use std::collections::HashMap;
use std::time::Duration;

use js_sys::{Promise, Reflect};
use leptos::prelude::*;
use serde_json::{json, Value};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BroadcastChannel, MessageEvent, Notification, NotificationOptions};

use super::decide::{Alert, AlertKind, Me};
use super::election::LOCK_NAME;
use super::machine::{AlertMachine, Command, Input};
use super::prefs::{self, NotifyClick, NotifyState, Permission, SoundState};
use super::sound::{AudioGate, Tone};
use super::speaker::Speaker;
use super::title::{svg_data_url, tab_title, Favicon, TabState, BASE_FAVICON_SVG};
use crate::api::ConversationSummary;
use crate::realtime::ConnectionStatus;
use crate::ticker::Ticker;
use crate::urgent::Side;
use crate::web_lock::{self, WebLock};

/// The `BroadcastChannel` on which tabs say what they show.
pub const CHANNEL_NAME: &str = "switchboard-alerts";

/// The ticker's period in ms. Reminders are checked this often, so they come at most this
/// late; an acknowledgement's event stops them at once, independently of it.
pub const TICK_MS: u32 = 1_000;

/// Everything the alert service reads, as the signed-in layout has it.
pub struct AlertInputs {
    /// The organisation's id (`app_metadata.org_id`): events of another org never alert.
    pub org_id: String,
    /// The organisation's name, for the tab title.
    pub org_name: String,
    /// The signed-in user's id.
    pub user_id: String,
    /// Their `app_role` ("dispatcher" | "medic").
    pub role: String,
    /// Milliseconds between reminders of an unacknowledged urgent message
    /// (`AppConfig::urgent_realert_seconds` × 1000).
    pub realert_ms: u32,
    /// `unread_total` (`None` until loaded).
    pub unread: Signal<Option<i64>>,
    /// `unacked_urgent_total` (`None` until loaded).
    pub urgent: Signal<Option<i64>>,
    /// The realtime link.
    pub status: Signal<ConnectionStatus>,
    /// `conversations_with_unread` (`None` until loaded): names, and urgent messages that
    /// were waiting before this tab heard of them.
    pub conversations: Signal<Option<Vec<ConversationSummary>>>,
    /// The conversation open in this tab (the route's `:id`).
    pub open_conversation: Signal<Option<String>>,
    /// Opens a conversation, given its id (navigate to `/messages/<id>`); called when a
    /// notification is clicked.
    pub navigate: UnsyncCallback<String>,
}

/// A shown notification and its click handler (kept alive as long as it may be clicked).
struct Shown {
    notification: Notification,
    click: Closure<dyn FnMut()>,
}

/// The tabs' channel and its message handler.
type Channel = (BroadcastChannel, Closure<dyn FnMut(MessageEvent)>);

/// The page's icon links and what they pointed at before we drew on them.
#[derive(Default)]
struct Icons {
    original: Vec<(web_sys::Element, Option<String>)>,
    created: Option<web_sys::Element>,
    shown: Option<Favicon>,
}

impl Icons {
    fn show(&mut self, favicon: Favicon) {
        if self.shown == Some(favicon) {
            return;
        }
        self.shown = Some(favicon);
        let document = document();
        if self.original.is_empty() && self.created.is_none() {
            if let Ok(list) = document.query_selector_all("link[rel~='icon']") {
                for i in 0..list.length() {
                    if let Some(link) = list.item(i).and_then(|n| n.dyn_into().ok()) {
                        let href = web_sys::Element::get_attribute(&link, "href");
                        self.original.push((link, href));
                    }
                }
            }
        }
        match favicon.svg(BASE_FAVICON_SVG) {
            None => self.restore_links(),
            Some(svg) => {
                let url = svg_data_url(&svg);
                if self.original.is_empty() && self.created.is_none() {
                    // No icon link on the page: add one for as long as we draw.
                    if let (Ok(link), Some(head)) =
                        (document.create_element("link"), document.head())
                    {
                        let _ = link.set_attribute("rel", "icon");
                        let _ = link.set_attribute("type", "image/svg+xml");
                        let _ = head.append_child(&link);
                        self.created = Some(link);
                    }
                }
                for link in self.original.iter().map(|(l, _)| l).chain(&self.created) {
                    let _ = link.set_attribute("href", &url);
                }
            }
        }
    }

    fn restore_links(&self) {
        for (link, href) in &self.original {
            match href {
                Some(h) => {
                    let _ = link.set_attribute("href", h);
                }
                None => {
                    let _ = link.remove_attribute("href");
                }
            }
        }
        if let Some(created) = &self.created {
            let _ = created.remove_attribute("href");
        }
    }

    fn restore(self) {
        self.restore_links();
        if let Some(created) = self.created {
            created.remove();
        }
    }
}

struct Glue {
    machine: AlertMachine,
    tab: String,
    lock: Option<WebLock>,
    shown: HashMap<String, Shown>,
    speaker: Speaker,
    channel: Option<Channel>,
    ticker: Option<Ticker>,
    icons: Icons,
    navigate: UnsyncCallback<String>,
}

/// The alerting of the signed-in user's tab (create it once in the signed-in layout).
/// Copy, like a signal.
#[derive(Clone, Copy)]
pub struct AlertService {
    inner: StoredValue<Glue, LocalStorage>,
    notify: RwSignal<NotifyState>,
    sound: RwSignal<SoundState>,
    leader: RwSignal<bool>,
    fired: RwSignal<u32>,
    last: RwSignal<String>,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

fn stored_pref(key: &str) -> bool {
    prefs::stored_on(
        storage()
            .and_then(|s| s.get_item(key).ok().flatten())
            .as_deref(),
    )
}

fn store_pref(key: &str, on: bool) {
    if let Some(s) = storage() {
        // A full or forbidden storage only loses the memory of the choice, not the choice.
        let _ = s.set_item(key, prefs::stored(on));
    }
}

/// `Notification.permission`, checking the API exists first (reading a missing global's
/// static property would throw inside wasm).
fn permission() -> Permission {
    let Some(window) = web_sys::window() else {
        return Permission::Unsupported;
    };
    if !Reflect::has(&window, &JsValue::from_str("Notification")).unwrap_or(false) {
        return Permission::Unsupported;
    }
    match Notification::permission() {
        web_sys::NotificationPermission::Granted => Permission::Granted,
        web_sys::NotificationPermission::Denied => Permission::Denied,
        web_sys::NotificationPermission::Default => Permission::Default,
        _ => Permission::Unsupported,
    }
}

impl AlertService {
    /// Starts alerting for as long as the calling component lives: joins the election,
    /// keeps the title and favicon in step, listens to the other tabs and ticks the
    /// reminder clock. Feed it events with [`AlertService::on_change`].
    pub fn start(inputs: AlertInputs) -> Self {
        let AlertInputs {
            org_id,
            org_name,
            user_id,
            role,
            realert_ms,
            unread,
            urgent,
            status,
            conversations,
            open_conversation,
            navigate,
        } = inputs;
        let me = Me {
            user_id,
            org_id,
            side: Side::of_role(&role),
        };
        let service = AlertService {
            inner: StoredValue::new_local(Glue {
                machine: AlertMachine::new(me, f64::from(realert_ms)),
                tab: uuid::Uuid::new_v4().to_string(),
                lock: None,
                shown: HashMap::new(),
                speaker: Speaker::default(),
                channel: None,
                ticker: None,
                icons: Icons::default(),
                navigate,
            }),
            notify: RwSignal::new(NotifyState::of(
                stored_pref(prefs::NOTIFY_KEY),
                permission(),
            )),
            sound: RwSignal::new(SoundState {
                wanted: stored_pref(prefs::SOUND_KEY),
                gate: AudioGate::Idle,
            }),
            leader: RwSignal::new(false),
            fired: RwSignal::new(0),
            last: RwSignal::new(String::new()),
        };
        if service.sound.get_untracked().wanted {
            service.prepare_speaker();
        }
        service.listen_to_tabs();
        // Reminders come from a worker's clock: a hidden page's timers are throttled.
        let ticker = Ticker::start(TICK_MS, move || service.feed(Input::Tick { now: now_ms() }));
        service.inner.update_value(|g| g.ticker = Some(ticker));
        service.feed(Input::Start {
            locks: web_lock::lock_manager().is_some(),
        });

        // The tab title and favicon.
        let original_title = document().title();
        Effect::new(move |_| {
            let state = TabState {
                unread: unread.get(),
                urgent: urgent.get(),
                status: status.get(),
            };
            let title = tab_title(&org_name, &state);
            let document = document();
            if document.title() != title {
                document.set_title(&title);
            }
            service
                .inner
                .try_update_value(|g| g.icons.show(Favicon::of(&state)));
        });

        // What the rules read from the cache.
        Effect::new(move |_| {
            if let Some(list) = conversations.get() {
                service.feed(Input::Conversations(list));
            }
        });
        Effect::new(move |_| service.feed(Input::UrgentCount(urgent.get())));

        // What the reader sees: the open conversation while the tab is visible and focused.
        let visibility = leptos_use::use_document_visibility();
        let focused = leptos_use::use_window_focus();
        Effect::new(move |_| {
            let shown = visibility.get() == web_sys::VisibilityState::Visible && focused.get();
            let conversation = if shown { open_conversation.get() } else { None };
            service.feed(Input::View {
                conversation,
                now: now_ms(),
            });
        });

        let leaving = window_event_listener(leptos::ev::pagehide, move |_| {
            service.feed(Input::View {
                conversation: None,
                now: now_ms(),
            });
        });
        // Another tab changed a switch: show (and obey) it here too.
        let storage_changed = window_event_listener(leptos::ev::storage, move |e| {
            let key = e.key();
            if matches!(
                key.as_deref(),
                Some(prefs::NOTIFY_KEY | prefs::SOUND_KEY) | None
            ) {
                service.refresh_prefs();
            }
        });
        // Any click or key press in the tab lets a held audio context run (autoplay policy).
        let unlock = move || {
            if service.sound.get_untracked().wanted {
                service.inner.try_with_value(|g| g.speaker.nudge());
            }
        };
        let pointer = window_event_listener(leptos::ev::pointerdown, move |_| unlock());
        let key = window_event_listener(leptos::ev::keydown, move |_| unlock());

        on_cleanup(move || {
            leaving.remove();
            storage_changed.remove();
            pointer.remove();
            key.remove();
            service.feed(Input::Stop);
            let Some(mut glue) = service.inner.try_update_value(Parts::take) else {
                return;
            };
            drop(glue.ticker.take());
            if let Some((channel, closure)) = glue.channel.take() {
                channel.set_onmessage(None);
                channel.close();
                retire(closure);
            }
            if let Some(lock) = glue.lock.take() {
                lock.release();
            }
            for (_, shown) in glue.shown.drain() {
                shown.notification.set_onclick(None);
                shown.notification.close();
                retire(shown.click);
            }
            glue.speaker.close();
            glue.icons.restore();
            document().set_title(&original_title);
        });
        service
    }

    /// Hands the service one delivered change (`RealtimeClient::on_change` listener): the
    /// postgres_changes `data` object. Safe to call after the service is gone.
    pub fn on_change(self, data: &Value) {
        self.feed(Input::Change {
            data: data.clone(),
            now: now_ms(),
        });
    }

    /// The notifications switch.
    pub fn notifications(self) -> Signal<NotifyState> {
        self.notify.into()
    }

    /// The sound switch and whether the browser holds sound back.
    pub fn sound(self) -> Signal<SoundState> {
        self.sound.into()
    }

    /// Whether this tab is the one that alerts.
    pub fn is_leader(self) -> Signal<bool> {
        self.leader.into()
    }

    /// How many alerts (new messages and reminders) this tab has made, for browser tests:
    /// it counts whether or not notifications and sound are on.
    pub fn alert_count(self) -> Signal<u32> {
        self.fired.into()
    }

    /// The last alert as `"<routine|urgent|reminder>:<conversation id>"`, for browser tests.
    pub fn last_alert(self) -> Signal<String> {
        self.last.into()
    }

    /// A click on the notifications switch: turn off, turn on, or ask the browser first
    /// (`Notification.requestPermission()`, only ever from this click).
    pub fn toggle_notifications(self) {
        let wanted = stored_pref(prefs::NOTIFY_KEY);
        match NotifyClick::of(wanted, permission()) {
            NotifyClick::TurnOff => store_pref(prefs::NOTIFY_KEY, false),
            NotifyClick::TurnOn => store_pref(prefs::NOTIFY_KEY, true),
            NotifyClick::Explain => {}
            NotifyClick::Ask => {
                let asked: Option<Promise> = Notification::request_permission()
                    .ok()
                    .and_then(|p| JsValue::from(p).dyn_into().ok());
                if let Some(promise) = asked {
                    wasm_bindgen_futures::spawn_local(async move {
                        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
                        if permission() == Permission::Granted {
                            store_pref(prefs::NOTIFY_KEY, true);
                        }
                        self.refresh_prefs();
                    });
                }
            }
        }
        self.refresh_prefs();
    }

    /// A click on the sound switch. Turning it on happens inside the click, so the audio
    /// context may start; a short chime confirms the speakers work.
    pub fn toggle_sound(self) {
        let wanted = !stored_pref(prefs::SOUND_KEY);
        store_pref(prefs::SOUND_KEY, wanted);
        if wanted {
            self.prepare_speaker();
            // A context made in this click may still be starting: chime once it runs.
            let resumed = self.inner.try_with_value(|g| g.speaker.resume()).flatten();
            wasm_bindgen_futures::spawn_local(async move {
                if let Some(promise) = resumed {
                    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
                }
                self.play(Tone::Message);
            });
        }
        self.refresh_prefs();
    }

    /// A click on "Click to enable sound": resume the held audio context.
    pub fn enable_sound(self) {
        self.inner.try_with_value(|g| g.speaker.nudge());
    }

    fn refresh_prefs(self) {
        if self.inner.is_disposed() {
            return;
        }
        let notify = NotifyState::of(stored_pref(prefs::NOTIFY_KEY), permission());
        if self.notify.get_untracked() != notify {
            self.notify.set(notify);
        }
        let wanted = stored_pref(prefs::SOUND_KEY);
        if wanted {
            self.prepare_speaker();
        }
        let gate = self
            .inner
            .try_with_value(|g| g.speaker.gate())
            .unwrap_or(AudioGate::Idle);
        let sound = SoundState { wanted, gate };
        if self.sound.get_untracked() != sound {
            self.sound.set(sound);
        }
    }

    fn set_gate(self, gate: AudioGate) {
        if self
            .sound
            .try_get_untracked()
            .is_some_and(|s| s.gate != gate)
        {
            self.sound.try_update(|s| s.gate = gate);
        }
    }

    fn prepare_speaker(self) {
        let gate = self
            .inner
            .try_update_value(|g| g.speaker.prepare(move |gate| self.set_gate(gate)));
        if let Some(gate) = gate {
            self.set_gate(gate);
        }
    }

    fn play(self, tone: Tone) {
        if let Some(gate) = self.inner.try_with_value(|g| g.speaker.play(tone)) {
            self.set_gate(gate);
        }
    }

    fn listen_to_tabs(self) {
        let Ok(channel) = BroadcastChannel::new(CHANNEL_NAME) else {
            return;
        };
        let closure = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let Some(text) = e.data().as_string() else {
                return;
            };
            let Ok(message) = serde_json::from_str::<Value>(&text) else {
                return;
            };
            let Some(tab) = message.get("tab").and_then(Value::as_str) else {
                return;
            };
            let conversation = message
                .get("viewing")
                .and_then(Value::as_str)
                .map(str::to_string);
            self.feed(Input::PeerView {
                tab: tab.to_string(),
                conversation,
                now: now_ms(),
            });
        });
        channel.set_onmessage(Some(closure.as_ref().unchecked_ref()));
        self.inner
            .update_value(|g| g.channel = Some((channel, closure)));
    }

    /// Feeds one input and carries out the resulting commands.
    fn feed(self, input: Input) {
        let Some(commands) = self.inner.try_update_value(|g| g.machine.step(input)) else {
            return;
        };
        for command in commands {
            self.perform(command);
        }
    }

    fn perform(self, command: Command) {
        match command {
            Command::RequestLock(attempt) => self.request_lock(attempt),
            Command::ReleaseLock | Command::AbortLock => {
                if let Some(Some(lock)) = self.inner.try_update_value(|g| g.lock.take()) {
                    lock.release();
                }
            }
            Command::Leader(leader) => {
                self.leader.try_set(leader);
            }
            Command::Sound(tone) => {
                if self.sound.get_untracked().wanted {
                    self.play(tone);
                }
            }
            Command::Notify(alert) => self.notify(alert),
            Command::Close(tag) => {
                if let Some(Some(shown)) = self.inner.try_update_value(|g| g.shown.remove(&tag)) {
                    shown.notification.set_onclick(None);
                    shown.notification.close();
                    retire(shown.click);
                }
            }
            Command::Announce(conversation) => {
                self.inner.try_with_value(|g| {
                    if let Some((channel, _)) = &g.channel {
                        let text = json!({"tab": g.tab, "viewing": conversation}).to_string();
                        let _ = channel.post_message(&JsValue::from_str(&text));
                    }
                });
            }
        }
    }

    fn notify(self, alert: Alert) {
        let kind = match (alert.kind, alert.urgent) {
            (AlertKind::Reminder, _) => "reminder",
            (AlertKind::NewMessage, true) => "urgent",
            (AlertKind::NewMessage, false) => "routine",
        };
        self.fired.try_update(|n| *n += 1);
        self.last
            .try_set(format!("{kind}:{}", alert.conversation_id));
        if !self.notify.get_untracked().is_on() || permission() != Permission::Granted {
            return;
        }
        let options = NotificationOptions::new();
        options.set_body(&alert.body);
        options.set_tag(alert.tag());
        options.set_require_interaction(alert.require_interaction());
        // Replacing a same-tag notification is silent unless `renotify`: a reminder must be
        // heard and seen again.
        options.set_renotify(true);
        // Our own tone already played: spare the dispatcher the system chime on top.
        let ours = self.sound.get_untracked();
        options.set_silent(Some(ours.wanted && ours.gate == AudioGate::Running));
        let Ok(notification) = Notification::new_with_options(&alert.title, &options) else {
            // e.g. Android Chrome, which only shows notifications from a service worker.
            return;
        };
        let Some(navigate) = self.inner.try_with_value(|g| g.navigate) else {
            notification.close();
            return;
        };
        let conversation = alert.conversation_id.clone();
        let clicked = notification.clone();
        let click = Closure::<dyn FnMut()>::new(move || {
            if let Some(window) = web_sys::window() {
                let _ = window.focus();
            }
            navigate.try_run(conversation.clone());
            clicked.close();
        });
        notification.set_onclick(Some(click.as_ref().unchecked_ref()));
        let previous = self.inner.try_update_value(|g| {
            g.shown.insert(
                alert.conversation_id.clone(),
                Shown {
                    notification,
                    click,
                },
            )
        });
        if let Some(Some(old)) = previous {
            // The browser already replaced it (same tag); only its handler is left.
            old.notification.set_onclick(None);
            retire(old.click);
        }
    }

    /// Queues for the alert lock ([`LOCK_NAME`]): granted and lost come back as inputs.
    fn request_lock(self, attempt: u32) {
        // Deferred: this runs inside `perform`, while the machine is being fed.
        let lost = move || {
            set_timeout(
                move || self.feed(Input::LockLost(attempt)),
                Duration::from_millis(0),
            )
        };
        let granted = move || self.feed(Input::LockGranted(attempt));
        let Some(lock) = WebLock::request(LOCK_NAME, granted, lost) else {
            return lost();
        };
        let previous = self.inner.try_update_value(|g| g.lock.replace(lock));
        if let Some(Some(old)) = previous {
            old.release();
        }
    }
}

/// Takes the parts that need tearing down out of the stored glue.
struct Parts {
    ticker: Option<Ticker>,
    channel: Option<Channel>,
    lock: Option<WebLock>,
    shown: HashMap<String, Shown>,
    speaker: Speaker,
    icons: Icons,
}

impl Parts {
    fn take(g: &mut Glue) -> Parts {
        Parts {
            ticker: g.ticker.take(),
            channel: g.channel.take(),
            lock: g.lock.take(),
            shown: std::mem::take(&mut g.shown),
            speaker: std::mem::take(&mut g.speaker),
            icons: std::mem::take(&mut g.icons),
        }
    }
}

/// Drops a callback on a later tick: this may run inside it, and a wasm-bindgen closure
/// must not be freed while it executes.
fn retire<T: ?Sized + 'static>(closure: Closure<T>) {
    set_timeout(move || drop(closure), Duration::from_millis(0));
}

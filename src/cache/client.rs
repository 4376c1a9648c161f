//! `QueryClient`: drives the pure cache with real fetches and timers and exposes entries to
//! components as signals.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::key::QueryKey;
use super::query_cache::{CacheConfig, Command, QueryCache, QueryState};

/// A fetch failure as the cache sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    /// Shown to the user once retries run out.
    pub message: String,
    /// Network-type failures are retried with backoff.
    pub retryable: bool,
}

type FetchFuture = Pin<Box<dyn Future<Output = Result<Value, FetchError>>>>;
type Fetcher = Rc<dyn Fn() -> FetchFuture>;

#[derive(Clone)]
struct EntrySignals {
    data: ArcRwSignal<Option<Value>>,
    error: ArcRwSignal<Option<String>>,
    fetching: ArcRwSignal<bool>,
    invalidations: ArcRwSignal<u64>,
    covers_invalidations: ArcRwSignal<Option<u64>>,
}

struct Inner {
    cache: QueryCache,
    fetchers: HashMap<QueryKey, Fetcher>,
    signals: HashMap<QueryKey, EntrySignals>,
}

/// The app-wide query cache (provided as context). Copy, like a signal.
#[derive(Clone, Copy)]
pub struct QueryClient {
    inner: StoredValue<Inner, LocalStorage>,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

impl Default for QueryClient {
    fn default() -> Self {
        Self::new(CacheConfig::default())
    }
}

impl QueryClient {
    /// A client with the given tunables.
    pub fn new(config: CacheConfig) -> Self {
        let client = QueryClient {
            inner: StoredValue::new_local(Inner {
                cache: QueryCache::new(config),
                fetchers: HashMap::new(),
                signals: HashMap::new(),
            }),
        };
        client.schedule_gc();
        super::probe::register(client);
        client
    }

    /// `[entries, observed entries, signal sets, fetchers]` (`None`: disposed), for the
    /// benchmarks' probe (`cache/probe.rs`).
    pub(super) fn entry_counts(self) -> Option<[usize; 4]> {
        self.inner.try_with_value(|i| {
            let (entries, observed) = i.cache.entry_counts();
            [entries, observed, i.signals.len(), i.fetchers.len()]
        })
    }

    fn schedule_gc(self) {
        set_timeout(
            move || {
                if self.inner.is_disposed() {
                    return;
                }
                self.inner.update_value(|i| {
                    for key in i.cache.collect_garbage(now_ms()) {
                        i.signals.remove(&key);
                        i.fetchers.remove(&key);
                    }
                });
                self.schedule_gc();
            },
            Duration::from_secs(30),
        );
    }

    fn signals_of(self, key: &QueryKey) -> EntrySignals {
        let fresh = |state: QueryState| EntrySignals {
            data: ArcRwSignal::new(state.data),
            error: ArcRwSignal::new(state.error),
            fetching: ArcRwSignal::new(state.fetching),
            invalidations: ArcRwSignal::new(state.invalidations),
            covers_invalidations: ArcRwSignal::new(state.covers_invalidations),
        };
        self.inner
            .try_update_value(|i| {
                // Signals live as long as their entry: collected with it.
                i.cache.ensure(key, now_ms());
                let state = i.cache.state(key);
                i.signals
                    .entry(key.clone())
                    .or_insert_with(|| fresh(state))
                    .clone()
            })
            // A client that is gone answers with signals nobody will ever update.
            .unwrap_or_else(|| fresh(QueryState::default()))
    }

    fn run(self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::Notify(key) => self.publish(&key),
                Command::RetryAt { key, at_ms } => {
                    self.at(at_ms, move |c, now| c.retry_due(&key, now));
                }
                Command::QueueAt { key, at_ms } => {
                    self.at(at_ms, move |c, now| c.queue_due(&key, now));
                }
                Command::Fetch { key, generation } => {
                    let fetcher = self.inner.with_value(|i| i.fetchers.get(&key).cloned());
                    let Some(fetcher) = fetcher else {
                        // Nothing registered yet: the next observer will fetch.
                        let fx = self.inner.try_update_value(|i| {
                            i.cache.fetch_failed(
                                &key,
                                generation,
                                "no fetcher".into(),
                                false,
                                now_ms(),
                                0.0,
                            )
                        });
                        self.run(fx.unwrap_or_default());
                        continue;
                    };
                    leptos::task::spawn_local(async move {
                        let result = fetcher().await;
                        if self.inner.is_disposed() {
                            return;
                        }
                        let fx = self
                            .inner
                            .try_update_value(|i| match result {
                                Ok(v) => i.cache.fetch_succeeded(&key, generation, v, now_ms()),
                                Err(e) => i.cache.fetch_failed(
                                    &key,
                                    generation,
                                    e.message,
                                    e.retryable,
                                    now_ms(),
                                    js_sys::Math::random(),
                                ),
                            })
                            .unwrap_or_default();
                        self.run(fx);
                    });
                }
            }
        }
    }

    /// Runs a cache step at `at_ms` (a timer) and carries out its commands.
    fn at(self, at_ms: f64, step: impl FnOnce(&mut QueryCache, f64) -> Vec<Command> + 'static) {
        let wait = (at_ms - now_ms()).max(0.0);
        set_timeout(
            move || {
                if !self.inner.is_disposed() {
                    let fx = self
                        .inner
                        .try_update_value(|i| step(&mut i.cache, now_ms()))
                        .unwrap_or_default();
                    self.run(fx);
                }
            },
            Duration::from_millis(wait.ceil() as u64),
        );
    }

    /// Copies an entry's state into its signals, touching only what changed.
    fn publish(self, key: &QueryKey) {
        // Compared in place; only what changed is copied out (the data can be large).
        let update = self.inner.with_value(|i| {
            let signals = i.signals.get(key)?.clone();
            let idle = QueryState::default();
            let view = i.cache.view(key).unwrap_or(&idle);
            let data = signals
                .data
                .with_untracked(|d| *d != view.data)
                .then(|| view.data.clone());
            let error = signals
                .error
                .with_untracked(|e| *e != view.error)
                .then(|| view.error.clone());
            Some((
                signals,
                data,
                error,
                view.fetching,
                view.invalidations,
                view.covers_invalidations,
            ))
        });
        let Some((signals, data, error, fetching, invalidations, covers)) = update else {
            return;
        };
        if signals.covers_invalidations.get_untracked() != covers {
            signals.covers_invalidations.set(covers);
        }
        if signals.invalidations.get_untracked() != invalidations {
            signals.invalidations.set(invalidations);
        }
        if let Some(d) = data {
            signals.data.set(d);
        }
        if let Some(e) = error {
            signals.error.set(e);
        }
        if signals.fetching.get_untracked() != fetching {
            signals.fetching.set(fetching);
        }
    }

    /// Marks entries under `prefix` stale; those on screen refetch.
    pub fn invalidate(self, prefix: &QueryKey) {
        let fx = self
            .inner
            .try_update_value(|i| i.cache.invalidate(prefix, now_ms()))
            .unwrap_or_default();
        self.run(fx);
    }

    /// Invalidates everything (after a realtime reconnect).
    pub fn invalidate_all(self) {
        let fx = self
            .inner
            .try_update_value(|i| i.cache.invalidate_all(now_ms()))
            .unwrap_or_default();
        self.run(fx);
    }

    /// Tells the cache whether the tab is hidden ([`QueryCache::set_hidden`]).
    pub fn set_hidden(self, hidden: bool) {
        self.inner.update_value(|i| i.cache.set_hidden(hidden));
    }

    /// Refetches stale entries on screen (window focus or tab visible again).
    pub fn on_focus(self) {
        let fx = self
            .inner
            .try_update_value(|i| i.cache.on_focus(now_ms()))
            .unwrap_or_default();
        self.run(fx);
    }

    /// Retries a query that ended in an error.
    pub fn retry(self, key: &QueryKey) {
        let fx = self
            .inner
            .try_update_value(|i| i.cache.retry(key, now_ms()))
            .unwrap_or_default();
        self.run(fx);
    }

    /// Forgets every entry (the signed-in user changed): answers to earlier requests are
    /// dropped, and queries still on screen keep their fetchers and fetch again at once.
    pub fn clear(self) {
        self.forget(|cache| cache.clear(now_ms()));
    }

    /// Whose data the cache holds from now on (`None`: signed out): anyone else's is
    /// forgotten first, as [`QueryClient::clear`] does; the same user again changes nothing.
    pub fn set_user(self, user: Option<&str>) {
        self.forget(|cache| cache.set_user(user, now_ms()));
    }

    /// Runs a step that may drop entries, drops what belonged to them here, and carries out
    /// its commands.
    fn forget(self, step: impl FnOnce(&mut QueryCache) -> Vec<Command>) {
        let Some((fx, dropped)) = self.inner.try_update_value(|i| {
            let fx = step(&mut i.cache);
            let Inner {
                cache,
                fetchers,
                signals,
            } = i;
            fetchers.retain(|k, _| cache.contains(k));
            let dropped: Vec<EntrySignals> = signals
                .extract_if(|k, _| !cache.contains(k))
                .map(|(_, s)| s)
                .collect();
            (fx, dropped)
        }) else {
            return;
        };
        // Nobody observes these any more; whoever still holds one must not show old data.
        for s in dropped {
            s.data.set(None);
            s.error.set(None);
            s.fetching.set(false);
        }
        self.run(fx);
    }

    /// Observes `key` with `fetch` until the current owner (component, effect) is cleaned
    /// up: what [`use_query`] does, for a set of keys that grows at run time (the
    /// conversation list's rows and pages). Read the data with [`QueryClient::data_of`].
    pub fn watch<F, Fut>(self, key: QueryKey, fetch: F)
    where
        F: Fn(QueryKey) -> Fut + 'static,
        Fut: Future<Output = Result<Value, FetchError>> + 'static,
    {
        let k = key.clone();
        let fetcher: Fetcher = Rc::new(move || Box::pin(fetch(k.clone())));
        self.observe(&key, fetcher);
        on_cleanup(move || self.unobserve(&key));
    }

    /// `key`'s data decoded as `T` (`None` before the first answer or if it does not
    /// decode), read reactively: the caller reruns when it changes.
    pub fn data_of<T: DeserializeOwned>(self, key: &QueryKey) -> Option<T> {
        self.signals_of(key)
            .data
            .with(|v| v.as_ref().and_then(|v| T::deserialize(v).ok()))
    }

    /// [`QueryClient::data_of`] without subscribing the caller.
    pub fn data_of_untracked<T: DeserializeOwned>(self, key: &QueryKey) -> Option<T> {
        self.signals_of(key)
            .data
            .with_untracked(|v| v.as_ref().and_then(|v| T::deserialize(v).ok()))
    }

    /// Fetches started for a key so far (benchmarks count requests with this).
    pub fn fetch_count(self, key: &QueryKey) -> u64 {
        self.inner.with_value(|i| i.cache.fetch_count(key))
    }

    fn observe(self, key: &QueryKey, fetcher: Fetcher) {
        self.inner.update_value(|i| {
            i.fetchers.insert(key.clone(), fetcher);
        });
        self.signals_of(key);
        let fx = self
            .inner
            .try_update_value(|i| i.cache.observe(key, now_ms()))
            .unwrap_or_default();
        self.run(fx);
    }

    fn unobserve(self, key: &QueryKey) {
        if !self.inner.is_disposed() {
            self.inner.update_value(|i| {
                for key in i.cache.unobserve(key, now_ms()) {
                    i.signals.remove(&key);
                    i.fetchers.remove(&key);
                }
            });
        }
    }
}

/// What a component reads from a query.
pub struct Query<T: Send + Sync + 'static> {
    /// The data, kept while refetching; `None` until the first answer.
    pub data: Memo<Option<T>>,
    /// The error shown after retries ran out.
    pub error: Signal<Option<String>>,
    /// Whether a fetch is in flight.
    pub fetching: Signal<bool>,
    /// Counts invalidations of the key; changes as soon as an event makes it stale.
    pub invalidations: Signal<u64>,
    /// How many of `invalidations` `data` reflects (`QueryState::covers_invalidations`).
    pub covers_invalidations: Signal<Option<u64>>,
    key: Memo<Option<QueryKey>>,
    client: QueryClient,
}

impl<T: Send + Sync + 'static> Clone for Query<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Send + Sync + 'static> Copy for Query<T> {}

impl<T: Send + Sync + 'static> Query<T> {
    /// Asks for the query again after an error.
    pub fn retry(&self) {
        if let Some(key) = self.key.get_untracked() {
            self.client.retry(&key);
        }
    }
}

/// Observes a query while the calling component lives. `key` is reactive (return `None` to
/// observe nothing); `fetch` produces the JSON for a key.
pub fn use_query<T, K, F, Fut>(client: QueryClient, key: K, fetch: F) -> Query<T>
where
    T: DeserializeOwned + Clone + PartialEq + Send + Sync + 'static,
    K: Fn() -> Option<QueryKey> + Send + Sync + 'static,
    F: Fn(QueryKey) -> Fut + 'static,
    Fut: Future<Output = Result<Value, FetchError>> + 'static,
{
    let key = Memo::new(move |_| key());
    let fetch = Rc::new(fetch);
    let observed: StoredValue<Option<QueryKey>, LocalStorage> = StoredValue::new_local(None);
    Effect::new(move |_| {
        let next = key.get();
        let previous = observed.get_value();
        if previous == next {
            return;
        }
        if let Some(old) = &previous {
            client.unobserve(old);
        }
        if let Some(k) = &next {
            let f = fetch.clone();
            let k2 = k.clone();
            let fetcher: Fetcher = Rc::new(move || Box::pin(f(k2.clone())));
            client.observe(k, fetcher);
        }
        observed.set_value(next);
    });
    on_cleanup(move || {
        if let Some(Some(k)) = observed.try_get_value() {
            client.unobserve(&k);
        }
    });
    let data = Memo::new(move |_| {
        let k = key.get()?;
        let data = client.signals_of(&k).data;
        // Decoded straight from the shared JSON: no copy of the whole answer per reader.
        data.with(|v| v.as_ref().and_then(|v| T::deserialize(v).ok()))
    });
    let error = Signal::derive(move || key.get().and_then(|k| client.signals_of(&k).error.get()));
    let fetching = Signal::derive(move || {
        key.get()
            .is_some_and(|k| client.signals_of(&k).fetching.get())
    });
    let invalidations = Signal::derive(move || {
        key.get()
            .map_or(0, |k| client.signals_of(&k).invalidations.get())
    });
    let covers_invalidations = Signal::derive(move || {
        key.get()
            .and_then(|k| client.signals_of(&k).covers_invalidations.get())
    });
    Query {
        data,
        error,
        fetching,
        invalidations,
        covers_invalidations,
        key,
        client,
    }
}

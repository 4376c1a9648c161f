//! The query cache's rules as a pure state machine: events in, [`Command`]s out, time
//! injected (ms). No async and no Leptos here, so every rule is unit-tested with a fake
//! clock; `client::QueryClient` carries the commands out. The vocabulary is TanStack
//! Query's: a query (key + state) is fresh or stale, invalidated, observed, collected.

use std::collections::HashMap;

use serde_json::Value;

use super::key::QueryKey;
use crate::backoff::Backoff;

/// Tunables of the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// How long fetched data counts as fresh (no refetch on mount or focus).
    pub stale_ms: f64,
    /// How long an unobserved entry is kept.
    pub gc_ms: f64,
    /// The most rows unobserved entries may hold together (an answer that is a JSON array
    /// counts its elements, any other one row): past it the longest unobserved go first,
    /// before their gc time. Without it what the cache holds grows with how many
    /// conversations were opened in the last `gc_ms`, about 0.2 MB of wasm heap each (issue
    /// 17, "The shift"); with it, with the newest pages of the last twenty or so.
    pub unobserved_rows_max: usize,
    /// Automatic retries of a retryable failure before showing the error.
    pub max_retries: u32,
    /// Delays between those retries.
    pub retry: Backoff,
    /// Queue at most one fetch behind the running one (false: refetch on every
    /// invalidation and drop the older answer, as TanStack Query does by default; only
    /// for comparison benchmarks).
    pub coalesce: bool,
    /// A queued refetch waits until invalidations have been quiet this long, so a burst of
    /// events spread over a few hundred milliseconds still costs one more request.
    pub queue_quiet_ms: f64,
    /// …but never waits longer than this after it was queued.
    pub queue_max_wait_ms: f64,
    /// Queries under these prefixes wait this long for a quiet moment even when idle. For
    /// summaries (list, badge) that a change and its follow-up (the open thread's read
    /// marker, a few milliseconds later) both touch: they then cost one request, not two.
    pub settle: Vec<(QueryKey, f64)>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            stale_ms: 60_000.0,
            gc_ms: 300_000.0,
            unobserved_rows_max: 1_000,
            max_retries: 4,
            retry: Backoff::QUERY_RETRY,
            coalesce: true,
            queue_quiet_ms: 25.0,
            queue_max_wait_ms: 200.0,
            settle: Vec::new(),
        }
    }
}

/// What the driver must do after an event (named so it clashes with nothing in Leptos's
/// prelude, which has its own `Effect` and `Action`).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Start the fetcher of `key`; report back with `generation`.
    Fetch {
        /// Which query.
        key: QueryKey,
        /// Identifies this fetch in the answer.
        generation: u64,
    },
    /// Call [`QueryCache::queue_due`] for `key` at time `at_ms`.
    QueueAt {
        /// Which query.
        key: QueryKey,
        /// When.
        at_ms: f64,
    },
    /// Call [`QueryCache::retry_due`] for `key` at time `at_ms`.
    RetryAt {
        /// Which query.
        key: QueryKey,
        /// When.
        at_ms: f64,
    },
    /// Data or status of `key` changed: update its observers.
    Notify(QueryKey),
}

/// Observable state of one query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryState {
    /// Last good data (kept while refetching and after errors).
    pub data: Option<Value>,
    /// Error shown after retries ran out.
    pub error: Option<String>,
    /// A fetch is in flight.
    pub fetching: bool,
    /// How often the entry was invalidated: lets a page react to "something changed here"
    /// the moment the event arrives, before the refetch it causes has even started.
    pub invalidations: u64,
    /// How many invalidations `data` reflects: `invalidations` as it was when the request
    /// that brought it was sent. Tells an answer current as of some moment (it covers the
    /// count read then) from one cached before it, even in a conversation so busy that a
    /// refetch is always in flight.
    pub covers_invalidations: Option<u64>,
}

#[derive(Debug, Default)]
struct Entry {
    view: QueryState,
    observers: usize,
    queued: bool,
    queued_since: f64,
    last_invalidated: f64,
    /// The quiet period the queued fetch waits for.
    queue_wait: f64,
    stale: bool,
    /// Invalidated while a fetch was in flight: its answer is already out of date.
    stale_in_flight: bool,
    updated_at: Option<f64>,
    unobserved_since: Option<f64>,
    attempt: u32,
    retry_pending: bool,
    generation: u64,
    fetch_count: u64,
    /// `invalidations` when the fetch in flight (or the last one) was sent.
    sent_covering: u64,
}

/// All queries and the rules between them.
#[derive(Debug, Default)]
pub struct QueryCache {
    config: CacheConfig,
    entries: HashMap<QueryKey, Entry>,
    /// Generations issued before the last `clear`: later fetches number above them, so an
    /// answer to a request made before the clear can never pass for a new one.
    cleared_generation: u64,
    /// Whose data the entries are.
    user: Option<String>,
    /// The tab is hidden: nobody reads the open thread, so no read marker follows a change
    /// and waiting to settle buys nothing, while the page timer it needs is throttled to a
    /// 1 s wake-up there. Counts must reach the title and alerts at once.
    hidden: bool,
}

impl QueryCache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Self {
        QueryCache {
            config,
            entries: HashMap::new(),
            cleared_generation: 0,
            user: None,
            hidden: false,
        }
    }

    /// Tells the cache whether the tab is hidden (`document.visibilityState`): a hidden tab's
    /// summaries fetch at once instead of waiting [`CacheConfig::settle`].
    pub fn set_hidden(&mut self, hidden: bool) {
        self.hidden = hidden;
    }

    /// The observable state of a key.
    pub fn state(&self, key: &QueryKey) -> QueryState {
        self.entries
            .get(key)
            .map(|e| e.view.clone())
            .unwrap_or_default()
    }

    /// The observable state of a key, borrowed (for comparing without copying the data).
    pub fn view(&self, key: &QueryKey) -> Option<&QueryState> {
        self.entries.get(key).map(|e| &e.view)
    }

    /// How many fetches were started for a key (for benchmarks and tests).
    pub fn fetch_count(&self, key: &QueryKey) -> u64 {
        self.entries.get(key).map_or(0, |e| e.fetch_count)
    }

    /// Whether a key is cached at all.
    pub fn contains(&self, key: &QueryKey) -> bool {
        self.entries.contains_key(key)
    }

    /// `(entries, observed entries)`: what the shift benchmark watches to see unobserved
    /// entries collected.
    pub fn entry_counts(&self) -> (usize, usize) {
        let observed = self.entries.values().filter(|e| e.observers > 0).count();
        (self.entries.len(), observed)
    }

    fn request_fetch(&mut self, key: &QueryKey, now: f64, out: &mut Vec<Command>) {
        let coalesce = self.config.coalesce;
        let floor = self.cleared_generation;
        let entry = self.entries.entry(key.clone()).or_default();
        if (entry.view.fetching || entry.queued) && coalesce {
            // However many requests pile up, one fetch is queued behind the running one.
            if !entry.queued {
                entry.queued = true;
                entry.queued_since = now;
                entry.queue_wait = self.config.queue_quiet_ms;
            }
            entry.last_invalidated = now;
            return;
        }
        entry.view.fetching = true;
        entry.stale_in_flight = false;
        entry.retry_pending = false;
        entry.generation = entry.generation.max(floor) + 1;
        entry.fetch_count += 1;
        entry.sent_covering = entry.view.invalidations;
        out.push(Command::Fetch {
            key: key.clone(),
            generation: entry.generation,
        });
        out.push(Command::Notify(key.clone()));
    }

    /// An observed entry went stale: fetch now, or after its settle time.
    fn invalidated(&mut self, key: &QueryKey, now: f64, out: &mut Vec<Command>) {
        let settle = self
            .config
            .settle
            .iter()
            .find(|(prefix, _)| key.starts_with(prefix))
            .map(|(_, ms)| *ms);
        let entry = self.entries.entry(key.clone()).or_default();
        match settle {
            Some(ms)
                if self.config.coalesce
                    && !self.hidden
                    && !entry.view.fetching
                    && !entry.queued =>
            {
                entry.queued = true;
                entry.queued_since = now;
                entry.last_invalidated = now;
                entry.queue_wait = ms;
                out.push(Command::QueueAt {
                    key: key.clone(),
                    at_ms: now + ms,
                });
            }
            _ => self.request_fetch(key, now, out),
        }
    }

    fn needs_fetch(&self, e: &Entry, now: f64) -> bool {
        e.view.data.is_none()
            || e.stale
            || e.updated_at.is_none_or(|t| now - t >= self.config.stale_ms)
    }

    /// Makes sure `key` has an entry, unobserved from `now` on if it is new: a key read
    /// before it is observed (or never, when the reader moved to another key first) is then
    /// collected like any unobserved one, and nothing kept for it outlives the entry.
    pub fn ensure(&mut self, key: &QueryKey, now: f64) {
        self.entries.entry(key.clone()).or_insert_with(|| Entry {
            unobserved_since: Some(now),
            ..Entry::default()
        });
    }

    /// A component starts reading `key`.
    pub fn observe(&mut self, key: &QueryKey, now: f64) -> Vec<Command> {
        let mut out = Vec::new();
        let entry = self.entries.entry(key.clone()).or_default();
        entry.observers += 1;
        entry.unobserved_since = None;
        let wants = {
            let e = &self.entries[key];
            self.needs_fetch(e, now)
                && !e.view.fetching
                && !e.retry_pending
                && e.view.error.is_none()
        };
        if wants {
            self.request_fetch(key, now, &mut out);
        }
        out
    }

    /// A component stops reading `key`.
    pub fn unobserve(&mut self, key: &QueryKey, now: f64) -> Vec<QueryKey> {
        let Some(e) = self.entries.get_mut(key) else {
            return Vec::new();
        };
        e.observers = e.observers.saturating_sub(1);
        if e.observers > 0 {
            return Vec::new();
        }
        e.unobserved_since = Some(now);
        self.evict_over_budget()
    }

    /// Drops the longest unobserved entries until the rest hold at most
    /// `unobserved_rows_max` rows; returns their keys. An entry with a fetch in flight
    /// stays (its answer has somewhere to land); the next collection looks again.
    fn evict_over_budget(&mut self) -> Vec<QueryKey> {
        let mut unobserved: Vec<(f64, usize, &QueryKey)> = self
            .entries
            .iter()
            .filter_map(|(k, e)| {
                let since = e.unobserved_since.filter(|_| e.observers == 0)?;
                let rows = match &e.view.data {
                    Some(Value::Array(rows)) => rows.len(),
                    _ => 1,
                };
                Some((since, rows, k))
            })
            .collect();
        let mut held: usize = unobserved.iter().map(|(_, rows, _)| rows).sum();
        if held <= self.config.unobserved_rows_max {
            return Vec::new();
        }
        unobserved.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut dead = Vec::new();
        for (_, rows, k) in unobserved {
            if held <= self.config.unobserved_rows_max {
                break;
            }
            if self.entries.get(k).is_some_and(|e| !e.view.fetching) {
                held -= rows;
                dead.push(k.clone());
            }
        }
        for k in &dead {
            self.entries.remove(k);
        }
        dead
    }

    /// Marks every entry under `prefix` stale; observed ones refetch now.
    pub fn invalidate(&mut self, prefix: &QueryKey, now: f64) -> Vec<Command> {
        let mut out = Vec::new();
        let keys: Vec<QueryKey> = self
            .entries
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        for key in keys {
            let observed = {
                let e = self.entries.get_mut(&key).expect("listed key");
                e.stale = true;
                e.stale_in_flight |= e.view.fetching;
                e.view.invalidations += 1;
                e.observers > 0
            };
            if observed {
                self.invalidated(&key, now, &mut out);
                out.push(Command::Notify(key.clone()));
            }
        }
        // A fetch that started already notified: once per key is enough.
        out.dedup();
        out
    }

    /// Invalidates everything (after a reconnect, events may have been missed).
    pub fn invalidate_all(&mut self, now: f64) -> Vec<Command> {
        self.invalidate(&QueryKey::all(), now)
    }

    /// The window regained focus: refetch observed entries that are stale.
    pub fn on_focus(&mut self, now: f64) -> Vec<Command> {
        let mut out = Vec::new();
        let keys: Vec<QueryKey> = self
            .entries
            .iter()
            .filter(|(_, e)| e.observers > 0 && !e.view.fetching && self.needs_fetch(e, now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.request_fetch(&key, now, &mut out);
        }
        out
    }

    fn finish(&mut self, key: &QueryKey, now: f64, out: &mut Vec<Command>) {
        let max_wait = self.config.queue_max_wait_ms;
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        if !e.queued {
            return;
        }
        let due = (e.last_invalidated + e.queue_wait).min(e.queued_since + max_wait);
        if due <= now {
            e.queued = false;
            if !e.view.fetching {
                self.request_fetch(key, now, out);
            }
        } else {
            out.push(Command::QueueAt {
                key: key.clone(),
                at_ms: due,
            });
        }
    }

    /// The quiet period of a queued refetch may be over.
    pub fn queue_due(&mut self, key: &QueryKey, now: f64) -> Vec<Command> {
        let mut out = Vec::new();
        if self
            .entries
            .get(key)
            .is_some_and(|e| e.queued && !e.view.fetching)
        {
            self.finish(key, now, &mut out);
        }
        out
    }

    /// A fetch answered with data.
    pub fn fetch_succeeded(
        &mut self,
        key: &QueryKey,
        generation: u64,
        data: Value,
        now: f64,
    ) -> Vec<Command> {
        let mut out = Vec::new();
        let Some(e) = self.entries.get_mut(key) else {
            return out;
        };
        if e.generation != generation {
            return out;
        }
        e.view.fetching = false;
        e.attempt = 0;
        e.updated_at = Some(now);
        e.view.covers_invalidations = Some(e.sent_covering);
        // An unobserved entry queues nothing when invalidated, but must not forget it.
        e.stale = e.queued || e.stale_in_flight;
        // Identical data keeps the old value, so observers comparing it see no change.
        if e.view.data.as_ref() != Some(&data) {
            e.view.data = Some(data);
        }
        e.view.error = None;
        out.push(Command::Notify(key.clone()));
        self.finish(key, now, &mut out);
        out
    }

    /// A fetch failed; `jitter` in [0, 1) spreads retries of many clients.
    pub fn fetch_failed(
        &mut self,
        key: &QueryKey,
        generation: u64,
        error: String,
        retryable: bool,
        now: f64,
        jitter: f64,
    ) -> Vec<Command> {
        let mut out = Vec::new();
        let config = self.config.clone();
        let Some(e) = self.entries.get_mut(key) else {
            return out;
        };
        if e.generation != generation {
            return out;
        }
        e.view.fetching = false;
        if e.queued {
            // A newer invalidation is waiting: that fetch is the retry.
            self.finish(key, now, &mut out);
            return out;
        }
        if retryable && e.attempt < config.max_retries {
            let delay = config.retry.delay_ms(e.attempt, jitter);
            e.attempt += 1;
            e.retry_pending = true;
            out.push(Command::RetryAt {
                key: key.clone(),
                at_ms: now + delay,
            });
        } else {
            e.view.error = Some(error);
            e.attempt = 0;
        }
        out.push(Command::Notify(key.clone()));
        out
    }

    /// A scheduled retry is due.
    pub fn retry_due(&mut self, key: &QueryKey, now: f64) -> Vec<Command> {
        let mut out = Vec::new();
        if self
            .entries
            .get(key)
            .is_some_and(|e| e.retry_pending && !e.view.fetching)
        {
            self.request_fetch(key, now, &mut out);
        }
        out
    }

    /// The user pressed "retry" on an error.
    pub fn retry(&mut self, key: &QueryKey, now: f64) -> Vec<Command> {
        let mut out = Vec::new();
        if let Some(e) = self.entries.get_mut(key) {
            e.view.error = None;
            e.attempt = 0;
        }
        self.request_fetch(key, now, &mut out);
        out
    }

    /// Forgets all data (another user signs in at this console): no entry, and no answer to
    /// a request made before, is ever shown again. A query still on screen stays observed
    /// and fetches again at once, so it shows the new user's data instead of none for good.
    pub fn clear(&mut self, now: f64) -> Vec<Command> {
        let issued = self
            .entries
            .values()
            .map(|e| e.generation)
            .max()
            .unwrap_or(0);
        self.cleared_generation = self.cleared_generation.max(issued);
        let observed: Vec<(QueryKey, usize)> = self
            .entries
            .drain()
            .filter(|(_, e)| e.observers > 0)
            .map(|(k, e)| (k, e.observers))
            .collect();
        let mut out = Vec::new();
        for (key, observers) in observed {
            self.entries.insert(
                key.clone(),
                Entry {
                    observers,
                    ..Entry::default()
                },
            );
            self.request_fetch(&key, now, &mut out);
        }
        out
    }

    /// Whose data the cache holds from now on (`None`: signed out). Anyone else's is
    /// forgotten first ([`QueryCache::clear`]); the same user again (a token refresh)
    /// changes nothing.
    pub fn set_user(&mut self, user: Option<&str>, now: f64) -> Vec<Command> {
        if self.user.as_deref() == user {
            return Vec::new();
        }
        self.user = user.map(str::to_string);
        self.clear(now)
    }

    /// Drops entries nobody has observed for longer than the gc time, and the longest
    /// unobserved past the row budget (`unobserved_rows_max`); returns their keys.
    pub fn collect_garbage(&mut self, now: f64) -> Vec<QueryKey> {
        let gc = self.config.gc_ms;
        let dead: Vec<QueryKey> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.observers == 0
                    && !e.view.fetching
                    && e.unobserved_since.is_some_and(|t| now - t >= gc)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &dead {
            self.entries.remove(k);
        }
        let mut dead = dead;
        dead.extend(self.evict_over_budget());
        dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> QueryKey {
        QueryKey::conversations()
    }

    fn fetches(effects: &[Command]) -> Vec<u64> {
        effects
            .iter()
            .filter_map(|e| {
                if let Command::Fetch { generation, .. } = e {
                    Some(*generation)
                } else {
                    None
                }
            })
            .collect()
    }

    fn cache() -> QueryCache {
        QueryCache::new(CacheConfig::default())
    }

    #[test]
    fn first_observer_fetches_and_data_arrives() {
        let mut c = cache();
        let fx = c.observe(&key(), 0.0);
        assert_eq!(fetches(&fx), vec![1]);
        assert!(c.state(&key()).fetching);
        let fx = c.fetch_succeeded(&key(), 1, json!([1]), 10.0);
        assert!(fx.contains(&Command::Notify(key())));
        assert_eq!(
            c.state(&key()),
            QueryState {
                data: Some(json!([1])),
                error: None,
                fetching: false,
                invalidations: 0,
                covers_invalidations: Some(0),
            }
        );
    }

    #[test]
    fn an_answer_says_which_invalidations_it_covers() {
        let mut c = cache();
        c.observe(&key(), 100.0);
        assert_eq!(c.state(&key()).covers_invalidations, None);
        c.fetch_succeeded(&key(), 1, json!([1]), 130.0);
        assert_eq!(c.state(&key()).covers_invalidations, Some(0));
        // Invalidated twice while the refetch is out: the queued one goes when it lands.
        let refetch = fetches(&c.invalidate(&key(), 200.0));
        assert_eq!(refetch.len(), 1);
        c.invalidate(&key(), 210.0);
        let fx = c.fetch_succeeded(&key(), refetch[0], json!([1, 2]), 240.0);
        assert_eq!(
            c.state(&key()).covers_invalidations,
            Some(1),
            "sent after the first invalidation, before the second"
        );
        assert_eq!(c.state(&key()).invalidations, 2);
        // The queued refetch went out as the answer landed; it covers both.
        let next = fetches(&fx);
        assert_eq!(next.len(), 1, "{fx:?}");
        c.fetch_succeeded(&key(), next[0], json!([1, 2, 3]), 270.0);
        assert_eq!(c.state(&key()).covers_invalidations, Some(2));
    }

    #[test]
    fn fresh_data_is_not_refetched_on_mount_until_stale_time() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        c.fetch_succeeded(&key(), 1, json!(1), 0.0);
        c.unobserve(&key(), 1.0);
        assert!(fetches(&c.observe(&key(), 1_000.0)).is_empty());
        c.unobserve(&key(), 1_000.0);
        assert_eq!(fetches(&c.observe(&key(), 60_000.0)).len(), 1);
    }

    #[test]
    fn invalidation_refetches_observed_and_defers_unobserved() {
        let mut c = cache();
        let other = QueryKey::messages("c1");
        c.observe(&key(), 0.0);
        c.fetch_succeeded(&key(), 1, json!(1), 0.0);
        c.observe(&other, 0.0);
        c.fetch_succeeded(&other, 1, json!(2), 0.0);
        c.unobserve(&other, 1.0);
        let fx = c.invalidate(&QueryKey::all(), 0.0);
        assert_eq!(
            fx.iter()
                .filter(|e| matches!(e, Command::Fetch { key: k, .. } if *k == key()))
                .count(),
            1
        );
        assert!(
            !fx.iter()
                .any(|e| matches!(e, Command::Fetch { key: k, .. } if *k == other)),
            "unobserved waits"
        );
        assert_eq!(
            c.state(&key()).invalidations,
            1,
            "observers can see it went stale"
        );
        c.invalidate(&key(), 0.5);
        assert_eq!(c.state(&key()).invalidations, 2);
        assert_eq!(
            c.state(&other).invalidations,
            1,
            "a narrower prefix spares others"
        );
        assert_eq!(
            fetches(&c.observe(&other, 2.0)).len(),
            1,
            "…and refetches when next observed"
        );
    }

    fn queue_at(effects: &[Command]) -> Option<f64> {
        effects.iter().find_map(|e| match e {
            Command::QueueAt { at_ms, .. } => Some(*at_ms),
            _ => None,
        })
    }

    #[test]
    fn a_burst_of_invalidations_costs_one_queued_fetch() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        // 100 events spread over 150 ms while the first fetch runs and after it returns.
        for i in 0..50 {
            let fx = c.invalidate(&key(), f64::from(i));
            assert!(
                fetches(&fx).is_empty(),
                "no second fetch while one is in flight"
            );
        }
        let fx = c.fetch_succeeded(&key(), 1, json!(1), 60.0);
        assert!(
            fetches(&fx).is_empty(),
            "the queued fetch waits for a quiet moment"
        );
        for i in 50..100 {
            assert!(fetches(&c.invalidate(&key(), 60.0 + f64::from(i))).is_empty());
        }
        let last = 60.0 + 99.0;
        let fx = c.queue_due(&key(), queue_at(&fx).unwrap());
        assert!(fetches(&fx).is_empty(), "events kept coming: not quiet yet");
        let due = queue_at(&fx).unwrap();
        assert_eq!(due, last + 25.0);
        let fx = c.queue_due(&key(), due);
        assert_eq!(
            fetches(&fx),
            vec![2],
            "exactly one more, started after the last event"
        );
        assert!(c.state(&key()).fetching);
        let fx = c.fetch_succeeded(&key(), 2, json!(2), due + 5.0);
        assert!(fetches(&fx).is_empty() && queue_at(&fx).is_none());
        assert_eq!(c.fetch_count(&key()), 2);
    }

    #[test]
    fn settling_queries_gather_a_change_and_its_follow_up_into_one_fetch() {
        let list = QueryKey::conversations();
        let thread = QueryKey::messages("c1");
        let config = CacheConfig {
            settle: vec![(QueryKey::conversations(), 10.0)],
            ..CacheConfig::default()
        };
        let mut c = QueryCache::new(config.clone());
        for k in [&list, &thread] {
            c.observe(k, 0.0);
            c.fetch_succeeded(k, 1, json!(0), 0.0);
        }
        let fx = c.invalidate(&QueryKey::all(), 100.0);
        assert_eq!(fetches(&fx), vec![2], "the thread fetches at once");
        assert_eq!(queue_at(&fx), Some(110.0), "the list waits to settle");
        // The read marker's change, 4 ms later, rides along.
        assert!(fetches(&c.invalidate(&list, 104.0)).is_empty());
        let fx = c.queue_due(&list, 110.0);
        assert!(fetches(&fx).is_empty());
        assert_eq!(queue_at(&fx), Some(114.0));
        assert_eq!(fetches(&c.queue_due(&list, 114.0)), vec![2]);
        assert_eq!(c.fetch_count(&list), 2, "one request for both changes");

        let mut naive = QueryCache::new(CacheConfig {
            coalesce: false,
            ..config
        });
        naive.observe(&list, 0.0);
        naive.fetch_succeeded(&list, 1, json!(0), 0.0);
        assert_eq!(
            fetches(&naive.invalidate(&list, 1.0)),
            vec![2],
            "the naive strategy never waits"
        );

        // A hidden tab: no read marker follows, and the settle timer would be throttled to a
        // 1 s wake-up; the list and the counts fetch in the event's own task.
        c.fetch_succeeded(&list, 2, json!(1), 120.0);
        c.set_hidden(true);
        assert_eq!(fetches(&c.invalidate(&list, 200.0)), vec![3]);
        assert_eq!(queue_at(&c.invalidate(&thread, 201.0)), None);
    }

    #[test]
    fn an_invalidation_while_unobserved_and_loading_is_not_forgotten() {
        let thread = QueryKey::messages("c1");
        let mut c = cache();
        assert_eq!(fetches(&c.observe(&thread, 0.0)), vec![1]);
        // The reader moves on before it loads; a message arrives in it meanwhile.
        c.unobserve(&thread, 1.0);
        assert!(c.invalidate(&thread, 2.0).is_empty());
        c.fetch_succeeded(&thread, 1, json!(["old"]), 3.0);
        // Back within the stale time: the answer predates the message, so it refetches.
        assert_eq!(fetches(&c.observe(&thread, 4.0)), vec![2]);
    }

    #[test]
    fn clearing_forgets_data_and_answers_to_earlier_requests() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        c.fetch_succeeded(&key(), 1, json!(["ana's"]), 1.0);
        c.invalidate(&key(), 2.0);
        c.unobserve(&key(), 2.0);
        assert!(c.clear(2.5).is_empty(), "nothing on screen to refetch");
        assert!(!c.contains(&key()));
        // The next user's first fetch is not generation 1 again…
        let fx = c.observe(&key(), 3.0);
        assert_eq!(fetches(&fx), vec![3]);
        // …so the late answer to the previous user's request (generation 2) is ignored.
        assert!(c
            .fetch_succeeded(&key(), 2, json!(["ana's"]), 4.0)
            .is_empty());
        assert_eq!(c.state(&key()).data, None);
        c.fetch_succeeded(&key(), 3, json!(["lee's"]), 5.0);
        assert_eq!(c.state(&key()).data, Some(json!(["lee's"])));
    }

    #[test]
    fn a_query_on_screen_survives_a_clear_and_keeps_refetching() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        c.fetch_succeeded(&key(), 1, json!(["ana's"]), 1.0);
        c.invalidate(&key(), 1.5);
        let fx = c.clear(2.0);
        assert_eq!(
            fetches(&fx),
            vec![3],
            "refetched at once, above every old generation"
        );
        assert!(fx.contains(&Command::Notify(key())));
        let state = c.state(&key());
        assert_eq!(state.data, None, "the data is gone");
        assert!(state.fetching);
        // The late answer to the request made before the clear is ignored…
        assert!(c
            .fetch_succeeded(&key(), 2, json!(["ana's"]), 2.5)
            .is_empty());
        assert_eq!(c.state(&key()).data, None);
        // …the new one shows.
        c.fetch_succeeded(&key(), 3, json!(["lee's"]), 3.0);
        assert_eq!(c.state(&key()).data, Some(json!(["lee's"])));
        // Still on screen: the next event refetches it, as before the clear.
        assert_eq!(fetches(&c.invalidate(&key(), 4.0)).len(), 1);
        // Still counted: once its reader leaves it is collected as usual.
        c.fetch_succeeded(&key(), 4, json!(["lee's"]), 5.0);
        c.unobserve(&key(), 6.0);
        assert_eq!(c.collect_garbage(1e9), vec![key()]);
    }

    #[test]
    fn a_change_of_user_clears_and_a_token_refresh_does_not() {
        let mut c = cache();
        assert!(
            c.set_user(Some("ana"), 0.0).is_empty(),
            "nothing cached yet"
        );
        c.observe(&key(), 0.0);
        c.fetch_succeeded(&key(), 1, json!(["ana's"]), 1.0);
        assert!(c.set_user(Some("ana"), 2.0).is_empty(), "same user");
        assert_eq!(c.state(&key()).data, Some(json!(["ana's"])));
        assert_eq!(
            fetches(&c.set_user(Some("lee"), 3.0)),
            vec![2],
            "another user"
        );
        assert_eq!(c.state(&key()).data, None);
        c.fetch_succeeded(&key(), 2, json!(["lee's"]), 4.0);
        c.unobserve(&key(), 5.0);
        assert!(c.set_user(None, 6.0).is_empty(), "signed out");
        assert!(!c.contains(&key()), "nothing of lee's is kept");
    }

    #[test]
    fn a_queued_fetch_never_waits_longer_than_the_cap() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        c.invalidate(&key(), 0.0);
        c.fetch_succeeded(&key(), 1, json!(1), 10.0);
        // An endless trickle of events: the cap (200 ms after queueing) still fetches.
        let mut now = 10.0;
        let mut started = Vec::new();
        while now < 300.0 && started.is_empty() {
            c.invalidate(&key(), now);
            started = fetches(&c.queue_due(&key(), now));
            now += 10.0;
        }
        assert_eq!(started, vec![2]);
        assert!(now - 10.0 <= 200.0 + 10.0, "started by the cap at {now}");
    }

    #[test]
    fn the_naive_strategy_refetches_on_every_invalidation() {
        let mut c = QueryCache::new(CacheConfig {
            coalesce: false,
            ..CacheConfig::default()
        });
        c.observe(&key(), 0.0);
        for _ in 0..10 {
            assert_eq!(fetches(&c.invalidate(&key(), 0.0)).len(), 1);
        }
        assert_eq!(c.fetch_count(&key()), 11);
        assert!(
            c.fetch_succeeded(&key(), 3, json!("superseded"), 1.0)
                .is_empty(),
            "older answers are dropped"
        );
        c.fetch_succeeded(&key(), 11, json!("latest"), 2.0);
        assert_eq!(c.state(&key()).data, Some(json!("latest")));
    }

    #[test]
    fn invalidation_during_a_fetch_yields_a_fetch_that_starts_after_it() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        c.invalidate(&key(), 0.0);
        // The in-flight answer predates the invalidation: it is shown but not final.
        let fx = c.fetch_succeeded(&key(), 1, json!("old"), 1.0);
        let due = queue_at(&fx).expect("a refetch is queued");
        assert_eq!(fetches(&c.queue_due(&key(), due)), vec![2]);
        assert_eq!(
            c.state(&key()).data,
            Some(json!("old")),
            "previous data stays while refetching"
        );
    }

    #[test]
    fn keeps_previous_data_while_refetching() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        c.fetch_succeeded(&key(), 1, json!("v1"), 0.0);
        c.invalidate(&key(), 0.0);
        let s = c.state(&key());
        assert!(s.fetching);
        assert_eq!(s.data, Some(json!("v1")));
    }

    #[test]
    fn unchanged_data_keeps_the_value_identical() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        c.fetch_succeeded(&key(), 1, json!({"a": 1}), 0.0);
        let before = c.state(&key()).data;
        c.invalidate(&key(), 0.0);
        c.fetch_succeeded(&key(), 2, json!({"a": 1}), 1.0);
        assert_eq!(c.state(&key()).data, before);
    }

    #[test]
    fn retries_with_backoff_then_shows_an_error_and_keeps_data() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        c.fetch_succeeded(&key(), 1, json!("good"), 0.0);
        c.invalidate(&key(), 0.0);
        let mut generation = 2;
        let mut delays = Vec::new();
        let mut now = 10.0;
        for _ in 0..4 {
            let fx = c.fetch_failed(&key(), generation, "offline".into(), true, now, 0.0);
            let at = fx
                .iter()
                .find_map(|e| {
                    if let Command::RetryAt { at_ms, .. } = e {
                        Some(*at_ms)
                    } else {
                        None
                    }
                })
                .expect("retry scheduled");
            delays.push(at - now);
            assert!(c.state(&key()).error.is_none());
            now = at;
            let fx = c.retry_due(&key(), now);
            generation = fetches(&fx)[0];
        }
        assert_eq!(
            delays,
            vec![250.0, 500.0, 1000.0, 2000.0],
            "doubling, jitter 0 halves"
        );
        let fx = c.fetch_failed(&key(), generation, "offline".into(), true, now, 0.0);
        assert!(!fx.iter().any(|e| matches!(e, Command::RetryAt { .. })));
        let s = c.state(&key());
        assert_eq!(s.error.as_deref(), Some("offline"));
        assert_eq!(s.data, Some(json!("good")));
        let fx = c.retry(&key(), now);
        assert_eq!(fetches(&fx).len(), 1);
        assert!(c.state(&key()).error.is_none());
    }

    #[test]
    fn non_retryable_errors_show_at_once() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        let fx = c.fetch_failed(&key(), 1, "forbidden".into(), false, 1.0, 0.5);
        assert!(!fx.iter().any(|e| matches!(e, Command::RetryAt { .. })));
        assert_eq!(c.state(&key()).error.as_deref(), Some("forbidden"));
    }

    #[test]
    fn focus_refetches_only_stale_observed_entries() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        c.fetch_succeeded(&key(), 1, json!(1), 0.0);
        assert!(fetches(&c.on_focus(1_000.0)).is_empty(), "fresh");
        assert_eq!(
            fetches(&c.on_focus(61_000.0)).len(),
            1,
            "older than stale time"
        );
        let mut c = cache();
        let k = QueryKey::unread_total();
        c.observe(&k, 0.0);
        c.fetch_succeeded(&k, 1, json!(1), 0.0);
        c.unobserve(&k, 0.0);
        assert!(
            fetches(&c.on_focus(100_000.0)).is_empty(),
            "unobserved entries wait"
        );
    }

    #[test]
    fn garbage_collects_unobserved_entries_after_gc_time() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        c.fetch_succeeded(&key(), 1, json!(1), 0.0);
        c.unobserve(&key(), 10.0);
        assert!(c.collect_garbage(100_000.0).is_empty());
        assert_eq!(c.collect_garbage(300_010.0), vec![key()]);
        assert!(!c.contains(&key()));
        let observed = QueryKey::unread_total();
        c.observe(&observed, 0.0);
        assert!(c.collect_garbage(1e9).is_empty(), "observed entries stay");
    }

    #[test]
    fn unobserved_entries_past_the_row_budget_go_longest_unobserved_first() {
        let mut c = QueryCache::new(CacheConfig {
            unobserved_rows_max: 100,
            ..CacheConfig::default()
        });
        let thread = |i: usize| QueryKey::messages(&format!("c{i}"));
        let rows = |n: usize| json!((0..n).collect::<Vec<_>>());
        // An open thread holds any number of rows: only unobserved entries are budgeted.
        c.observe(&thread(0), 0.0);
        c.fetch_succeeded(&thread(0), 1, rows(500), 0.0);
        for i in 1..=3 {
            c.observe(&thread(i), 0.0);
            c.fetch_succeeded(&thread(i), 1, rows(40), 0.0);
        }
        assert!(c.unobserve(&thread(1), 10.0).is_empty());
        assert!(c.unobserve(&thread(2), 20.0).is_empty(), "80 rows");
        assert_eq!(
            c.unobserve(&thread(3), 30.0),
            vec![thread(1)],
            "120 rows: the longest unobserved goes"
        );
        assert!(!c.contains(&thread(1)));
        assert!(c.contains(&thread(2)) && c.contains(&thread(3)) && c.contains(&thread(0)));
        // Going back to a thread still held needs no fetch of anything else.
        assert!(fetches(&c.observe(&thread(2), 40.0)).is_empty());
        assert!(c.unobserve(&thread(2), 50.0).is_empty());

        // One with a fetch in flight stays until its answer lands; the next collection
        // takes it.
        c.observe(&thread(4), 60.0);
        c.fetch_succeeded(&thread(4), 1, rows(40), 60.0);
        let refetch = c.invalidate(&thread(4), 61.0);
        assert_eq!(fetches(&refetch).len(), 1);
        assert_eq!(c.unobserve(&thread(4), 62.0), vec![thread(3)]);
        assert_eq!(
            c.unobserve(&thread(0), 63.0),
            vec![thread(2), thread(0)],
            "longest unobserved first, past the one fetching"
        );
        let generation = fetches(&refetch)[0];
        c.fetch_succeeded(&thread(4), generation, rows(150), 64.0);
        assert_eq!(c.collect_garbage(65.0), vec![thread(4)]);
        assert_eq!(c.entry_counts(), (0, 0));
    }

    #[test]
    fn a_key_read_but_never_observed_is_collected() {
        let mut c = cache();
        let page = QueryKey::thread_page("c1", true, "2026-12-01T13:09:12.677454+00:00");
        c.ensure(&page, 0.0);
        assert_eq!(c.entry_counts(), (1, 0));
        assert!(c.collect_garbage(299_999.0).is_empty());
        assert_eq!(c.collect_garbage(300_000.0), vec![page.clone()]);
        // Read, then observed: an entry like any other, fetched at once.
        c.ensure(&page, 400_000.0);
        assert_eq!(fetches(&c.observe(&page, 400_001.0)).len(), 1);
        assert!(c.collect_garbage(1e9).is_empty(), "observed entries stay");
    }

    #[test]
    fn entry_counts_tell_observed_from_unobserved() {
        let mut c = cache();
        assert_eq!(c.entry_counts(), (0, 0));
        c.observe(&key(), 0.0);
        c.observe(&QueryKey::unread_total(), 0.0);
        c.fetch_succeeded(&key(), 1, json!(1), 0.0);
        assert_eq!(c.entry_counts(), (2, 2));
        c.unobserve(&key(), 10.0);
        assert_eq!(c.entry_counts(), (2, 1));
        c.collect_garbage(300_010.0);
        assert_eq!(c.entry_counts(), (1, 1));
    }

    #[test]
    fn reconnect_invalidates_everything_observed() {
        let mut c = cache();
        for k in [key(), QueryKey::unread_total(), QueryKey::messages("c1")] {
            c.observe(&k, 0.0);
            c.fetch_succeeded(&k, 1, json!(0), 0.0);
        }
        assert_eq!(fetches(&c.invalidate_all(0.0)).len(), 3);
    }

    #[test]
    fn stale_answers_of_an_old_generation_are_ignored() {
        let mut c = cache();
        c.observe(&key(), 0.0);
        assert!(c.fetch_succeeded(&key(), 7, json!("ghost"), 1.0).is_empty());
        assert!(c.state(&key()).fetching);
    }
}

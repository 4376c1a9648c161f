//! The conversation list's data (issue 17): the first page, the older pages asked for, and
//! the rows of conversations that changed since, each its own cached query, merged by
//! `list_pages::merge`. A change refetches the one row it names (`realtime::invalidation`),
//! never the whole list.

use std::collections::{HashMap, HashSet};

use leptos::prelude::*;
use serde_json::json;

use super::fetch_error;
use crate::api::ConversationSummary;
use crate::cache::{use_query, QueryClient, QueryKey};
use crate::list_pages::{merge, next_cursor, Cursor, TouchLog, PAGE_SIZE};
use crate::realtime::invalidation::conversation_of;
use crate::realtime::RealtimeClient;
use crate::session::SessionService;

/// What the layout reads of the list.
#[derive(Clone, Copy)]
pub struct ConversationListData {
    /// Every conversation loaded, in the server's order (not yet pinned or filtered).
    pub rows: Memo<Vec<ConversationSummary>>,
    /// Whether the first page has answered.
    pub loaded: Signal<bool>,
    /// The first page's error once its retries ran out.
    pub error: Signal<Option<String>>,
    /// Whether older conversations exist beyond the loaded pages.
    pub has_older: Memo<bool>,
    /// Whether an older page is loading.
    pub loading_older: Signal<bool>,
    /// Loads the next older page ("Show older").
    pub show_older: UnsyncCallback<()>,
    first: crate::cache::Query<Vec<ConversationSummary>>,
    older: RwSignal<Vec<Cursor>>,
    /// The conversations whose rows are observed (`TouchLog::ids`).
    touched: Memo<Vec<String>>,
}

impl ConversationListData {
    /// Asks for the first page again after an error.
    pub fn retry(&self) {
        self.first.retry();
    }

    /// `rows` while the first page is loaded, for consumers that tell "not loaded" apart.
    pub fn loaded_rows(self) -> Signal<Option<Vec<ConversationSummary>>> {
        Signal::derive(move || self.loaded.get().then(|| self.rows.get()))
    }
}

/// `conversations_with_unread` with `args`, as the cache fetches it.
async fn fetch_list(
    session: SessionService,
    args: serde_json::Value,
) -> Result<serde_json::Value, crate::cache::FetchError> {
    session
        .call(|b, t| {
            let args = args.clone();
            async move { b.rpc(&t, "conversations_with_unread", args).await }
        })
        .await
        .map_err(fetch_error)
}

/// Observes the list while the calling component lives; `realtime`'s changes name the
/// conversations whose rows it observes from then on. Place [`ListQueries`] in the view.
pub fn use_conversation_list(
    cache: QueryClient,
    session: SessionService,
    realtime: RealtimeClient,
) -> ConversationListData {
    // The one record of which rows are observed; its ids change only when a row is first
    // observed or let go, and only then does it notify.
    let log = RwSignal::new(TouchLog::default());
    let touched = Memo::new(move |_| log.with(TouchLog::ids));
    let first = use_query::<Vec<ConversationSummary>, _, _, _>(
        cache,
        || Some(QueryKey::conversation_first_page()),
        move |_| {
            // Rows touched until now are in this answer: once it is in, they may go. Pruned
            // before the cache publishes the answer, in the same task, so no merge sees one
            // without the other.
            log.update_untracked(TouchLog::page_fetch_started);
            async move {
                let answer = fetch_list(session, json!({ "page_size": PAGE_SIZE })).await;
                if let Ok(rows) = &answer {
                    let held: HashSet<&str> = rows
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r.get("id").and_then(serde_json::Value::as_str))
                        .collect();
                    log.try_maybe_update(|l| (!l.page_answered(&held).is_empty(), ()));
                }
                answer
            }
        },
    );
    let older = RwSignal::new(Vec::<Cursor>::new());
    let touch = move |id: String| {
        let Some(fresh_page) = log.try_maybe_update(|l| (l.touch(&id), l.wants_fresh_page()))
        else {
            return;
        };
        // Past the bound a fresh first page lets the older rows go (`TouchLog`).
        if fresh_page && !first.fetching.get_untracked() {
            cache.invalidate(&QueryKey::conversation_first_page());
        }
    };
    // Set below, once the merged rows exist: the conversations an acknowledgement may
    // concern.
    let flagged: StoredValue<Option<Memo<Vec<ConversationSummary>>>> = StoredValue::new(None);
    realtime.on_change(move |data| {
        if let Some(id) = conversation_of(data) {
            touch(id);
        } else if data.get("table").and_then(serde_json::Value::as_str) == Some("message_acks") {
            // It names only its message; it can lower only a row with unacknowledged urgent
            // messages, and those are few (all on the first page): refetch those rows.
            let ids: Vec<String> = flagged
                .get_value()
                .map(|rows| {
                    rows.with_untracked(|rows| {
                        rows.iter()
                            .filter(|c| c.unacked_urgent > 0)
                            .map(|c| c.id.clone())
                            .collect()
                    })
                })
                .unwrap_or_default();
            for id in ids {
                cache.invalidate(&QueryKey::conversation_row(&id));
                touch(id);
            }
        }
    });
    let older_pages = move || -> Vec<Vec<ConversationSummary>> {
        older.with(|cursors| {
            cursors
                .iter()
                .map_while(|c| cache.data_of(&QueryKey::conversation_page_after(&c.id)))
                .collect()
        })
    };
    let rows = Memo::new(move |_| {
        let first_rows = first.data.get().unwrap_or_default();
        let pages = older_pages();
        let changed: HashMap<String, Option<ConversationSummary>> = touched.with(|ids| {
            ids.iter()
                .filter_map(|id| {
                    let answer = cache
                        .data_of::<Vec<ConversationSummary>>(&QueryKey::conversation_row(id))?;
                    Some((id.clone(), answer.into_iter().next()))
                })
                .collect()
        });
        merge(
            std::iter::once(first_rows.as_slice()).chain(pages.iter().map(Vec::as_slice)),
            &changed,
        )
    });
    flagged.set_value(Some(rows));
    let has_older = Memo::new(move |_| {
        let first_rows = first.data.get().unwrap_or_default();
        next_cursor(&first_rows, &older_pages()).is_some()
    });
    let loading_older = Signal::derive(move || {
        older.with(|cursors| {
            cursors.last().is_some_and(|c| {
                cache
                    .data_of::<serde_json::Value>(&QueryKey::conversation_page_after(&c.id))
                    .is_none()
            })
        })
    });
    let show_older = UnsyncCallback::new(move |()| {
        if loading_older.get_untracked() {
            return;
        }
        let first_rows = first.data.get_untracked().unwrap_or_default();
        let pages = older.with_untracked(|cursors| {
            cursors
                .iter()
                .map_while(|c| {
                    cache.data_of_untracked::<Vec<ConversationSummary>>(
                        &QueryKey::conversation_page_after(&c.id),
                    )
                })
                .collect::<Vec<_>>()
        });
        if let Some(cursor) = next_cursor(&first_rows, &pages) {
            older.update(|cursors| {
                if !cursors.iter().any(|c| c.id == cursor.id) {
                    cursors.push(cursor);
                }
            });
        }
    });
    ConversationListData {
        rows,
        loaded: Signal::derive(move || first.data.with(Option::is_some)),
        error: first.error,
        has_older,
        loading_older,
        show_older,
        first,
        older,
        touched,
    }
}

/// Observes the list's older pages and changed rows, one owner each, so a new one never
/// re-observes the others (which would refetch every stale one).
#[component]
pub fn ListQueries(list: ConversationListData) -> impl IntoView {
    view! {
        <For each=move || list.older.get() key=|c| c.id.clone() let:cursor>
            <PageQuery cursor=cursor />
        </For>
        <For each=move || list.touched.get() key=|id| id.clone() let:id>
            <RowQuery id=id />
        </For>
    }
}

/// Observes the page after `cursor`.
#[component]
fn PageQuery(cursor: Cursor) -> impl IntoView {
    let cache = expect_context::<QueryClient>();
    let session = expect_context::<SessionService>();
    let args = json!({ "page_size": PAGE_SIZE, "before": cursor });
    cache.watch(QueryKey::conversation_page_after(&cursor.id), move |_| {
        fetch_list(session, args.clone())
    });
}

/// Observes conversation `id`'s row.
#[component]
fn RowQuery(id: String) -> impl IntoView {
    let cache = expect_context::<QueryClient>();
    let session = expect_context::<SessionService>();
    let args = json!({ "conversation_id": id });
    cache.watch(QueryKey::conversation_row(&id), move |_| {
        fetch_list(session, args.clone())
    });
}

/// Observes conversation `id`'s row of the list (`None`: none) while the calling component
/// lives: the open thread's header and unread count.
pub fn use_conversation_row(
    cache: QueryClient,
    session: SessionService,
    id: Memo<Option<String>>,
) -> crate::cache::Query<Vec<ConversationSummary>> {
    use_query::<Vec<ConversationSummary>, _, _, _>(
        cache,
        move || id.get().map(|id| QueryKey::conversation_row(&id)),
        move |key| {
            let id = key.conversation_row_id().unwrap_or_default().to_string();
            fetch_list(session, json!({ "conversation_id": id }))
        },
    )
}

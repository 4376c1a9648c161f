//! Routed pages: sign-in and the dashboard layout with the list; the thread's page lives in
//! `thread`.

pub mod dashboard;
pub mod login;

pub use crate::thread::{NoThread, ThreadPage};
pub use dashboard::Dashboard;
pub use login::LoginPage;

use crate::api::{ApiError, ConversationSummary};
use crate::cache::{use_query, FetchError, Query, QueryClient, QueryKey};
use crate::session::SessionService;

/// How an API failure looks to the cache.
pub fn fetch_error(e: ApiError) -> FetchError {
    FetchError {
        retryable: e.is_retryable(),
        message: e.to_string(),
    }
}

/// Observes the conversation list (`conversations_with_unread`, [`QueryKey::conversations`])
/// while the calling component lives. The layout shows it; the thread page reads its own
/// row from the same cache entry (header, unread count at open) without another fetch.
pub fn use_conversations(
    cache: QueryClient,
    session: SessionService,
) -> Query<Vec<ConversationSummary>> {
    use_query::<Vec<ConversationSummary>, _, _, _>(
        cache,
        || Some(QueryKey::conversations()),
        move |_| async move {
            session
                .call(|b, t| async move {
                    b.rpc(&t, "conversations_with_unread", serde_json::json!({}))
                        .await
                })
                .await
                .map_err(fetch_error)
        },
    )
}

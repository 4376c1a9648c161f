//! Opening a thread at one message (a search result): how many of the newest rows to load
//! so that it is among them, with some history above it.

use leptos::prelude::*;
use serde::Deserialize;

use crate::api::encode_component;
use crate::session::SessionService;

/// Older messages loaded above the one opened, for context.
pub const CONTEXT_ROWS: usize = 10;

/// The server's cap on one answer (PostgREST `max-rows` as configured for this app).
const MAX_ROWS: usize = 1000;

/// Rows to load when the opened message has `newer` messages after it (itself included):
/// enough to reach it plus [`CONTEXT_ROWS`] above.
pub fn reach_for(newer: usize) -> usize {
    newer + CONTEXT_ROWS
}

#[derive(Deserialize)]
struct At {
    created_at: String,
}

/// How many rows conversation `conversation`'s window must hold to show message `message`
/// ([`reach_for`]); 0 if it cannot be found (then the thread opens as usual).
async fn reach_of(session: SessionService, conversation: String, message: String) -> usize {
    let path = format!(
        "/rest/v1/messages?select=created_at&id=eq.{}&conversation_id=eq.{}",
        encode_component(&message),
        encode_component(&conversation)
    );
    let Ok(found) = session
        .call(|b, t| {
            let path = path.clone();
            async move { b.get(&t, &path).await }
        })
        .await
    else {
        return 0;
    };
    let Some(at) = serde_json::from_value::<Vec<At>>(found)
        .ok()
        .and_then(|v| v.into_iter().next())
    else {
        return 0;
    };
    let path = format!(
        "/rest/v1/messages?select=id&conversation_id=eq.{}&created_at=gte.{}&order=created_at.desc&limit={MAX_ROWS}",
        encode_component(&conversation),
        encode_component(&at.created_at)
    );
    let newer = session
        .call(|b, t| {
            let path = path.clone();
            async move { b.get(&t, &path).await }
        })
        .await
        .ok()
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0);
    reach_for(newer)
}

/// The rows to load for the thread `id` opened at message `at` (0 without one), resolved
/// when either changes.
pub fn use_reach(id: Memo<Option<String>>, at: Memo<Option<String>>) -> Signal<usize> {
    let session = expect_context::<SessionService>();
    let reach = RwSignal::new(0_usize);
    Effect::new(move |_| {
        let (Some(conversation), Some(message)) = (id.get(), at.get()) else {
            reach.set(0);
            return;
        };
        leptos::task::spawn_local(async move {
            let n = reach_of(session, conversation.clone(), message.clone()).await;
            // Another result may have been chosen meanwhile: its lookup decides.
            let current = id.try_get_untracked().flatten() == Some(conversation)
                && at.try_get_untracked().flatten() == Some(message);
            if current {
                let _ = reach.try_set(n);
            }
        });
    });
    reach.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_message_and_some_history_above_it() {
        assert_eq!(reach_for(1), 1 + CONTEXT_ROWS);
        assert_eq!(reach_for(120), 130);
    }
}

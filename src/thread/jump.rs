//! Opening a thread at one message (a search result): which page to start from, found by
//! cursor so that a message 9,000 rows back costs the same two small reads as a recent one
//! (`pages::jump_cursor`).

use leptos::prelude::*;
use serde::Deserialize;

use super::pages::{jump_cursor, JUMP_NEWER};
use crate::api::encode_component;
use crate::session::SessionService;

/// Where a thread opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// A message to open at is being looked up: show nothing yet.
    Pending,
    /// At the newest rows (no message asked for, it is among them, or it was not found).
    Newest,
    /// Around a message: the page of rows older than this `created_at` (`Pages::around`).
    Around(String),
}

#[derive(Deserialize)]
struct At {
    created_at: String,
}

/// Where conversation `conversation` opens to show message `message`: its `created_at`
/// (`id=eq`), then the `created_at`s of up to [`JUMP_NEWER`]` + 1` rows right after it
/// (`created_at=gt.T&order=created_at.asc`), both served by the `(conversation_id,
/// created_at)` index. Any failure opens the thread as usual.
async fn start_of(session: SessionService, conversation: String, message: String) -> Start {
    let read = |path: String| async move {
        session
            .call(|b, t| {
                let path = path.clone();
                async move { b.get(&t, &path).await }
            })
            .await
            .ok()
            .and_then(|v| serde_json::from_value::<Vec<At>>(v).ok())
    };
    let conv = encode_component(&conversation);
    let found = read(format!(
        "/rest/v1/messages?select=created_at&id=eq.{}&conversation_id=eq.{conv}",
        encode_component(&message)
    ))
    .await;
    let Some(at) = found.and_then(|v| v.into_iter().next()) else {
        return Start::Newest;
    };
    let newer = read(format!(
        "/rest/v1/messages?select=created_at&conversation_id=eq.{conv}&created_at=gt.{}&order=created_at.asc&limit={}",
        encode_component(&at.created_at),
        JUMP_NEWER + 1
    ))
    .await
    .unwrap_or_default();
    let times: Vec<&str> = newer.iter().map(|a| a.created_at.as_str()).collect();
    jump_cursor(&times).map_or(Start::Newest, Start::Around)
}

/// Where the thread `id` opened at message `at` (none: its newest rows) starts, resolved
/// when either changes.
pub fn use_start(id: Memo<Option<String>>, at: Memo<Option<String>>) -> Signal<Start> {
    let session = expect_context::<SessionService>();
    let start = RwSignal::new(Start::Newest);
    Effect::new(move |_| {
        let (Some(conversation), Some(message)) = (id.get(), at.get()) else {
            start.set(Start::Newest);
            return;
        };
        start.set(Start::Pending);
        leptos::task::spawn_local(async move {
            let found = start_of(session, conversation.clone(), message.clone()).await;
            // Another result may have been chosen meanwhile: its lookup decides.
            let current = id.try_get_untracked().flatten() == Some(conversation)
                && at.try_get_untracked().flatten() == Some(message);
            if current {
                let _ = start.try_set(found);
            }
        });
    });
    start.into()
}

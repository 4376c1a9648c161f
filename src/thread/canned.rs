//! One-click replies under the thread ("Copy", "Stand by", "ETA?"…), from the org's
//! `canned_replies`; Alt+1…Alt+9 sends the Nth while a thread is open.

use leptos::prelude::*;
use serde::Deserialize;

use crate::cache::{use_query, QueryClient, QueryKey};
use crate::pages::fetch_error;
use crate::session::SessionService;

/// A row of `canned_replies`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CannedReply {
    /// The button's text.
    pub label: String,
    /// What it sends.
    pub body: String,
    /// Its place in the row (ascending).
    pub position: i64,
}

/// Which reply (0-based) Alt+`code` sends: `Digit1`…`Digit9` (the physical keys, so a
/// layout where Alt+1 types "¡" still works) map to 0…8.
pub fn shortcut_index(code: &str, alt: bool) -> Option<usize> {
    if !alt {
        return None;
    }
    let digit = code.strip_prefix("Digit")?.parse::<usize>().ok()?;
    (1..=9).contains(&digit).then(|| digit - 1)
}

/// The org's replies as buttons; `send` gets a reply's body. Shows nothing when the org
/// has none (medics are not given any).
#[component]
pub fn CannedReplies(#[prop(into)] send: UnsyncCallback<String>) -> impl IntoView {
    let session = expect_context::<SessionService>();
    let cache = expect_context::<QueryClient>();
    let replies = use_query::<Vec<CannedReply>, _, _, _>(
        cache,
        || Some(QueryKey::canned_replies()),
        move |_| async move {
            session
                .call(|b, t| async move { b.canned_replies(&t).await })
                .await
                .map_err(fetch_error)
        },
    );
    let list = Memo::new(move |_| replies.data.get().unwrap_or_default());
    let keys = window_event_listener(leptos::ev::keydown, move |ev| {
        if let Some(n) = shortcut_index(&ev.code(), ev.alt_key()) {
            if let Some(reply) = list.with_untracked(|l| l.get(n).cloned()) {
                ev.prevent_default();
                send.run(reply.body);
            }
        }
    });
    on_cleanup(move || keys.remove());
    view! {
        <Show when=move || list.with(|l| !l.is_empty())>
            <div class="canned-replies" role="group" aria-label="Quick replies">
                <For each=move || list.get().into_iter().enumerate() key=|(_, r)| (r.position, r.label.clone()) let:item>
                    {
                        let (n, reply) = item;
                        let body = reply.body.clone();
                        let hint = if n < 9 { format!("Alt+{}: {}", n + 1, reply.body) } else { reply.body.clone() };
                        view! {
                            <button type="button" class="canned-reply" data-testid="canned-reply" title=hint
                                on:click=move |_| send.run(body.clone())>{reply.label.clone()}</button>
                        }
                    }
                </For>
            </div>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alt_digits_pick_the_nth_reply() {
        assert_eq!(shortcut_index("Digit1", true), Some(0));
        assert_eq!(shortcut_index("Digit9", true), Some(8));
        assert_eq!(shortcut_index("Digit0", true), None);
        assert_eq!(shortcut_index("Digit1", false), None, "Alt is needed");
        assert_eq!(shortcut_index("KeyA", true), None);
        assert_eq!(shortcut_index("Numpad1", true), None);
    }
}

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

/// What a key press is, for the shortcut: the key's value and the modifiers that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyPress<'a> {
    /// `KeyboardEvent.key`: what the press would type.
    pub key: &'a str,
    /// Alt (Option) held.
    pub alt: bool,
    /// Ctrl or Meta held (AltGr on Windows reports Ctrl+Alt).
    pub ctrl_or_meta: bool,
    /// `getModifierState("AltGraph")`.
    pub alt_graph: bool,
    /// An auto-repeat of a held key.
    pub repeat: bool,
}

/// Which reply (0-based) a key press sends: Alt+1…Alt+9, and only when the press would
/// type the digit itself. On layouts where Alt or AltGr with a digit types a character
/// (`@`, `#`, `[`, `¡`…), the press is left alone, so typing never sends a reply; a held
/// key's repeats send nothing more.
pub fn shortcut_index(press: KeyPress<'_>) -> Option<usize> {
    if !press.alt || press.ctrl_or_meta || press.alt_graph || press.repeat {
        return None;
    }
    let digit = press.key.parse::<usize>().ok()?;
    (press.key.len() == 1 && (1..=9).contains(&digit)).then(|| digit - 1)
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
    // A reply the server would refuse (blank, too long) is never offered.
    let list = Memo::new(move |_| {
        let mut list = replies.data.get().unwrap_or_default();
        list.retain(|r| crate::components::composer::sendable(&r.body));
        list
    });
    let keys = window_event_listener(leptos::ev::keydown, move |ev| {
        let key = ev.key();
        let press = KeyPress {
            key: &key,
            alt: ev.alt_key(),
            ctrl_or_meta: ev.ctrl_key() || ev.meta_key(),
            alt_graph: ev.get_modifier_state("AltGraph"),
            repeat: ev.repeat(),
        };
        if let Some(n) = shortcut_index(press) {
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
    fn alt_digits_pick_the_nth_reply_and_typing_never_does() {
        let alt = |key| KeyPress {
            key,
            alt: true,
            ..KeyPress::default()
        };
        assert_eq!(shortcut_index(alt("1")), Some(0));
        assert_eq!(shortcut_index(alt("9")), Some(8));
        assert_eq!(shortcut_index(alt("0")), None);
        assert_eq!(
            shortcut_index(KeyPress {
                key: "1",
                ..KeyPress::default()
            }),
            None,
            "Alt is needed"
        );
        // AltGr+3 types "#" on a French layout; Option+1 types "¡" on a Mac.
        assert_eq!(
            shortcut_index(KeyPress {
                ctrl_or_meta: true,
                ..alt("1")
            }),
            None
        );
        assert_eq!(
            shortcut_index(KeyPress {
                alt_graph: true,
                ..alt("1")
            }),
            None
        );
        assert_eq!(shortcut_index(alt("#")), None);
        assert_eq!(shortcut_index(alt("¡")), None);
        assert_eq!(shortcut_index(alt("12")), None);
        assert_eq!(
            shortcut_index(KeyPress {
                repeat: true,
                ..alt("1")
            }),
            None,
            "held down"
        );
    }
}

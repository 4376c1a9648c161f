//! The dashboard's keyboard shortcuts, as pure decisions: which action a key press asks for,
//! and which conversation "previous/next (unread)" moves to.
//!
//! The combinations follow Slack's (Alt+↑/↓ between conversations, Alt+Shift+↑/↓ between
//! unread ones, Ctrl+K to find a conversation, Esc to get back to the newest message), so a
//! dispatcher who knows one knows the other.

/// One key press, as the `keydown` event gives it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyPress<'a> {
    /// `KeyboardEvent.key` (e.g. "ArrowUp", "k", "/", "Escape").
    pub key: &'a str,
    /// Alt (Option on a Mac).
    pub alt: bool,
    /// Shift.
    pub shift: bool,
    /// Ctrl, or Cmd on a Mac (`metaKey`).
    pub ctrl: bool,
    /// Whether focus is in a text field (input, textarea, contenteditable): plain `/` and
    /// Esc belong to the field there.
    pub in_text_field: bool,
}

/// What a shortcut asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    /// Open the conversation above (`forward: false`) or below the open one in the list.
    Conversation {
        /// Down the list.
        forward: bool,
        /// Skip conversations without unread messages.
        unread_only: bool,
    },
    /// Focus the conversation filter box (Ctrl+K).
    FocusFilter,
    /// Focus message search (`/`, outside text fields).
    FocusSearch,
    /// Scroll the open thread to its newest message and clear the "new messages" pill (Esc,
    /// outside text fields).
    JumpToBottom,
}

/// The shortcut `press` asks for, if any.
pub fn shortcut(press: KeyPress<'_>) -> Option<Shortcut> {
    match press.key {
        "ArrowUp" | "ArrowDown" if press.alt && !press.ctrl => Some(Shortcut::Conversation {
            forward: press.key == "ArrowDown",
            unread_only: press.shift,
        }),
        "k" | "K" if press.ctrl && !press.alt => Some(Shortcut::FocusFilter),
        "/" if !press.ctrl && !press.alt && !press.in_text_field => Some(Shortcut::FocusSearch),
        "Escape" if !press.in_text_field => Some(Shortcut::JumpToBottom),
        _ => None,
    }
}

/// Whether a key event happened where `/` and Esc belong to what has focus: a text field
/// (input, textarea, select, contenteditable), or anything inside a dialog or the message
/// search box (their own Esc closes them). [`KeyPress::in_text_field`] for the event.
pub fn in_text_field(ev: &web_sys::KeyboardEvent) -> bool {
    use wasm_bindgen::JsCast;
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
        .is_some_and(|el| {
            matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                || el.is_content_editable()
                || el
                    .closest("dialog, .message-search")
                    .ok()
                    .flatten()
                    .is_some()
        })
}

/// The conversation to open when moving `forward` (down) or back from `selected` through
/// `list` (`(id, unread count)` in the list's order); with `unread_only`, the nearest one
/// with unread messages. From no selection, down starts at the top and up at the bottom.
/// `None` at either end: the move does not wrap around, as a list does not.
pub fn step<'a>(
    list: &'a [(String, i64)],
    selected: Option<&str>,
    forward: bool,
    unread_only: bool,
) -> Option<&'a str> {
    let at = selected.and_then(|s| list.iter().position(|(id, _)| id == s));
    let candidates: Box<dyn Iterator<Item = &(String, i64)>> = match (at, forward) {
        (Some(i), true) => Box::new(list.iter().skip(i + 1)),
        (Some(i), false) => Box::new(list[..i].iter().rev()),
        (None, true) => Box::new(list.iter()),
        (None, false) => Box::new(list.iter().rev()),
    };
    candidates
        .filter(|(_, unread)| !unread_only || *unread > 0)
        .map(|(id, _)| id.as_str())
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(key: &str) -> KeyPress<'_> {
        KeyPress {
            key,
            ..Default::default()
        }
    }

    #[test]
    fn maps_the_key_combinations() {
        let alt = |key| KeyPress {
            alt: true,
            ..press(key)
        };
        let alt_shift = |key| KeyPress {
            shift: true,
            ..alt(key)
        };
        assert_eq!(
            shortcut(alt("ArrowDown")),
            Some(Shortcut::Conversation {
                forward: true,
                unread_only: false
            })
        );
        assert_eq!(
            shortcut(alt("ArrowUp")),
            Some(Shortcut::Conversation {
                forward: false,
                unread_only: false
            })
        );
        assert_eq!(
            shortcut(alt_shift("ArrowUp")),
            Some(Shortcut::Conversation {
                forward: false,
                unread_only: true
            })
        );
        // Plain arrows move within the list or the text; they are not shortcuts.
        assert_eq!(shortcut(press("ArrowDown")), None);
        let ctrl_k = KeyPress {
            ctrl: true,
            in_text_field: true,
            ..press("k")
        };
        assert_eq!(shortcut(ctrl_k), Some(Shortcut::FocusFilter));
        assert_eq!(shortcut(press("k")), None);
        assert_eq!(shortcut(press("/")), Some(Shortcut::FocusSearch));
        assert_eq!(shortcut(press("Escape")), Some(Shortcut::JumpToBottom));
    }

    #[test]
    fn slash_and_escape_belong_to_a_text_field_with_focus() {
        let typing = |key| KeyPress {
            in_text_field: true,
            ..press(key)
        };
        assert_eq!(shortcut(typing("/")), None);
        assert_eq!(shortcut(typing("Escape")), None);
        // Moving between conversations works while typing a reply.
        let alt_down = KeyPress {
            alt: true,
            ..typing("ArrowDown")
        };
        assert!(shortcut(alt_down).is_some());
    }

    fn list() -> Vec<(String, i64)> {
        [("a", 0), ("b", 2), ("c", 0), ("d", 1)]
            .iter()
            .map(|(id, n)| (id.to_string(), *n))
            .collect()
    }

    #[test]
    fn steps_to_the_neighbour_and_stops_at_the_ends() {
        let l = list();
        assert_eq!(step(&l, Some("b"), true, false), Some("c"));
        assert_eq!(step(&l, Some("b"), false, false), Some("a"));
        assert_eq!(step(&l, Some("a"), false, false), None);
        assert_eq!(step(&l, Some("d"), true, false), None);
        assert_eq!(step(&l, None, true, false), Some("a"));
        assert_eq!(step(&l, None, false, false), Some("d"));
        // A selection no longer in the (filtered) list counts as none.
        assert_eq!(step(&l, Some("gone"), true, false), Some("a"));
    }

    #[test]
    fn unread_steps_skip_read_conversations() {
        let l = list();
        assert_eq!(step(&l, Some("a"), true, true), Some("b"));
        assert_eq!(step(&l, Some("b"), true, true), Some("d"));
        assert_eq!(step(&l, Some("d"), false, true), Some("b"));
        assert_eq!(step(&l, Some("b"), false, true), None);
        assert_eq!(step(&l, None, true, true), Some("b"));
    }
}

//! Thin view components shared by the pages; state and rules live in the cache, realtime
//! and thread modules. The thread's own view is `thread::view`.

pub mod composer;
pub mod connection_state;
pub mod conversation_filter;
pub mod conversation_list;
pub mod load_error;
pub mod login_form;
pub mod message_search;
pub mod new_conversation;
pub mod theme_toggle;
pub mod unread_badge;

pub use composer::Composer;
pub use connection_state::ConnectionState;
pub use conversation_filter::ConversationFilter;
pub use conversation_list::ConversationList;
pub use load_error::LoadError;
pub use login_form::LoginForm;
pub use message_search::MessageSearch;
pub use new_conversation::NewConversation;
pub use theme_toggle::ThemeToggle;
pub use unread_badge::UnreadBadge;

use leptos::prelude::*;

/// The error a form shows for `action`: the last try's, hidden while another try runs.
pub fn form_error<I>(action: Action<I, Result<(), String>>) -> Signal<Option<String>>
where
    I: Send + Sync + 'static,
{
    let pending = action.pending();
    Signal::derive(move || {
        if pending.get() {
            return None;
        }
        action
            .value()
            .with(|v| v.as_ref().and_then(|r| r.as_ref().err().cloned()))
    })
}

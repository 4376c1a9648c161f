//! Thin view components; state and rules live in the cache, realtime and scroll modules.

pub mod composer;
pub mod connection_state;
pub mod conversation_list;
pub mod login_form;
pub mod message_thread;
pub mod unread_badge;

pub use composer::Composer;
pub use connection_state::ConnectionState;
pub use conversation_list::ConversationList;
pub use login_form::LoginForm;
pub use message_thread::MessageThread;
pub use unread_badge::UnreadBadge;

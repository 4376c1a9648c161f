//! The open conversation: its route page, the scrolling view, and the pure rules behind
//! them, each in its own module with native tests:
//!
//! - [`window`]: which rows stay loaded (the window's floor), decided when a fetch starts;
//! - [`pages`]: older history as cursor pages, and the bounded run of them in the DOM;
//! - [`scroll`]: follow new rows only within 100 px of the bottom, keep the anchor row;
//! - [`outbox`]: messages in flight: order, retries, when one is sent, its stored form;
//! - [`read_marker`]: when `mark_conversation_read` goes out, one write at a time;
//! - [`divider`]: where the "New" divider goes and whether the view starts there.
//!
//! [`rows`], [`page`], [`view`], [`outbox_rows`] and [`outbox_store`] only wire these to signals, the cache and the DOM.

pub mod canned;
pub mod divider;
pub mod header;
pub mod jump;
pub mod outbox;
pub mod outbox_rows;
pub mod outbox_store;
pub mod page;
pub mod pages;
pub mod read_marker;
pub mod rows;
pub mod scroll;
pub mod view;
pub mod window;

pub use page::{NoThread, ThreadPage};
pub use view::MessageThread;

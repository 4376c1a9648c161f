//! The Supabase Realtime client: Phoenix vsn 2.0.0 protocol, a pure connection state
//! machine, and the browser glue that turns change events into cache invalidations.

pub mod client;
pub mod invalidation;
pub mod machine;
pub mod protocol;

pub use client::RealtimeClient;
pub use machine::{ConnectionStatus, Token};

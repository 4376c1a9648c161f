//! The query cache: components read queries, realtime events invalidate them.

pub mod client;
pub mod core;
pub mod key;

pub use client::{use_query, FetchError, Query, QueryClient};
pub use core::{Cache, CacheConfig, Effect, EntryState};
pub use key::QueryKey;

//! The query cache: components read queries, realtime events invalidate them (they never
//! carry data into it). `query_cache` holds the rules, `client` runs them in the browser.

pub mod client;
pub mod key;
mod probe;
pub mod query_cache;

pub use client::{use_query, FetchError, Query, QueryClient};
pub use key::QueryKey;
pub use query_cache::{CacheConfig, Command, QueryCache, QueryState};

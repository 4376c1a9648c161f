//! The query cache's size as the browser benchmarks read it (issue 17, "The shift":
//! unobserved entries are collected). One export, reachable from devtools scripts as
//! `window.wasmBindings.cache_entry_counts()` (Trunk puts the bindings there); nothing in
//! the app calls it.

use std::cell::Cell;

use wasm_bindgen::prelude::wasm_bindgen;

use super::client::QueryClient;

thread_local! {
    /// The app's client: the last one made (the page makes one, in `Shell`).
    static CLIENT: Cell<Option<QueryClient>> = const { Cell::new(None) };
}

/// Makes `client` the one [`cache_entry_counts`] reads.
pub(super) fn register(client: QueryClient) {
    CLIENT.with(|c| c.set(Some(client)));
}

/// `[entries, observed entries, signal sets, fetchers]` of the app's query cache: the
/// pure cache's entries and those with an observer, and the client's per-key signals and
/// fetchers (each should shrink with the entries it belongs to). Empty before the app made
/// its client or after it was disposed.
#[wasm_bindgen]
pub fn cache_entry_counts() -> Vec<u32> {
    CLIENT
        .with(Cell::get)
        .and_then(QueryClient::entry_counts)
        .map(|counts| counts.iter().map(|&n| n as u32).collect())
        .unwrap_or_default()
}

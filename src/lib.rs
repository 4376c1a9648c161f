//! Switchboard: the dispatcher dashboard, a Leptos client-side-rendered app.
//!
//! Pure logic (cache rules, realtime protocol, scroll decisions) lives in plain Rust modules
//! with native unit tests; components stay thin.

pub mod api;
pub mod cache;
pub mod components;
pub mod pages;
pub mod realtime;

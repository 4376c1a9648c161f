//! Alerts for a dispatcher who is looking elsewhere: the tab title and favicon, desktop
//! notifications, tones, and reminders of unacknowledged urgent messages, with one alerting
//! tab however many are open.
//!
//! Pure rules with native tests: `title` (title and favicon), `decide` (which event alerts,
//! and what it says), `escalation` (the reminder schedule), `election` (which tab alerts),
//! `prefs` (the opt-in switches), `sound` (the tones as data), and `machine`, which combines
//! them into one reducer driven by a clock the caller provides. Browser glue: `service`
//! (signals, Web Locks, BroadcastChannel, notifications, ticker), `speaker` (Web Audio) and
//! `controls` (the header switches).

pub mod controls;
pub mod decide;
pub mod election;
pub mod escalation;
pub mod machine;
pub mod prefs;
pub mod service;
pub mod sound;
pub mod speaker;
pub mod title;

pub use controls::AlertControls;
pub use service::{AlertInputs, AlertService};

#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests;

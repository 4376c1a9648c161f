//! What REST and Realtime share about the data: the exposed tables, the filter grammar, and
//! the access policy (one rule per table). Neither protocol module owns these, so neither
//! imports the other.
//!
//! Not to be confused with [`crate::db::schema`], the SQLite migrations.

pub mod filter;
pub mod policy;
pub mod tables;

pub use policy::{Condition, Ownership};
pub use tables::Table;

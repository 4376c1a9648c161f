//! What REST and Realtime share about the data: the exposed tables, the filter grammar, and
//! the access policy (one rule per table). Neither protocol module owns these, so neither
//! imports the other. (The SQLite schema itself is `db::migrations`.)

pub mod filter;
pub mod policy;
pub mod tables;
pub mod values;

pub use policy::{Condition, Ownership};
pub use tables::Table;

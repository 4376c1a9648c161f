//! components (being written).

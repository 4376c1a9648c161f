//! pages (being written).

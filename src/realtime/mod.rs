//! realtime (being written).

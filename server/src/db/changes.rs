//! The change feed: committed row changes, published in commit order.

use std::sync::{Arc, Mutex, OnceLock};

// The websocket text type itself, so a shared frame is sent without copying or re-checking.
use axum::extract::ws::Utf8Bytes;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::schema::{Ownership, Table};

/// How many changes a subscriber may fall behind before it is cut off.
pub const FEED_CAPACITY: usize = 8192;

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new row.
    Insert,
    /// An existing row changed.
    Update,
    /// A row was removed.
    Delete,
}

impl ChangeKind {
    /// The Realtime wire name (`INSERT`, `UPDATE`, `DELETE`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Insert => "INSERT",
            ChangeKind::Update => "UPDATE",
            ChangeKind::Delete => "DELETE",
        }
    }
}

/// One committed row change, with what authorization needs to decide who may see it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The changed table (schema is always `public`).
    pub table: &'static Table,
    /// Insert, update or delete.
    pub kind: ChangeKind,
    /// The row after the change (absent for deletes).
    pub record: Option<Value>,
    /// The row before the change (primary key only, as with RLS on Supabase).
    pub old_record: Option<Value>,
    /// Commit time in microseconds.
    pub commit_micros: i64,
    /// Who the row belongs to, for the table's access rule.
    pub owner: Ownership,
    /// Its Realtime encodings, made once however many sockets send it.
    pub wire: Wire,
}

/// How many distinct audiences of one change keep a shared frame; beyond that (many
/// differently named channels) each socket encodes its own rather than the feed growing.
const SHARED_FRAMES: usize = 8;

/// A change's encodings: the `data` JSON, and whole frames for the audiences that received
/// it, so a thousand identical subscriptions cost one encoding and one buffer.
#[derive(Debug, Default)]
pub struct Wire {
    data: OnceLock<String>,
    frames: Mutex<Vec<SharedFrame>>,
}

#[derive(Debug)]
struct SharedFrame {
    serializer: u8,
    topic: String,
    ids: Vec<u32>,
    text: Utf8Bytes,
}

impl Clone for Wire {
    /// Encodings are a cache: a copied change starts without them.
    fn clone(&self) -> Self {
        Wire::default()
    }
}

impl Wire {
    /// The `data` JSON, made by `make` on first use.
    pub fn data(&self, make: impl FnOnce() -> String) -> &str {
        self.data.get_or_init(make)
    }

    /// The frame for one audience (serializer, channel topic, binding ids), made by `make`
    /// on first use and shared from then on.
    pub fn frame(
        &self,
        serializer: u8,
        topic: &str,
        ids: &[u32],
        make: impl FnOnce() -> String,
    ) -> Utf8Bytes {
        let mut frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        let same =
            |f: &&SharedFrame| f.serializer == serializer && f.topic == topic && f.ids == ids;
        if let Some(f) = frames.iter().find(same) {
            return f.text.clone();
        }
        let text = Utf8Bytes::from(make());
        if frames.len() < SHARED_FRAMES {
            frames.push(SharedFrame {
                serializer,
                topic: topic.to_string(),
                ids: ids.to_vec(),
                text: text.clone(),
            });
        }
        text
    }
}

/// The broadcast side of the feed; cheap to clone.
#[derive(Clone)]
pub struct Feed {
    sender: broadcast::Sender<Arc<Change>>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed {
    /// A feed with the default per-subscriber backlog.
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(FEED_CAPACITY);
        Feed { sender }
    }

    /// Publishes committed changes; never blocks (slow subscribers lag instead).
    pub fn publish(&self, changes: Vec<Change>) {
        for change in changes {
            // No subscribers is fine: nobody is listening.
            let _ = self.sender.send(Arc::new(change));
        }
    }

    /// A new subscription starting at the next published change.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_frame_per_audience_is_encoded_and_shared() {
        let wire = Wire::default();
        let mut made = 0;
        let a = wire.frame(2, "realtime:x", &[1, 2], || {
            made += 1;
            "A".into()
        });
        let again = wire.frame(2, "realtime:x", &[1, 2], || unreachable!("shared"));
        assert_eq!((a.as_ptr(), a.as_str()), (again.as_ptr(), "A"));
        for (serializer, topic, ids) in [
            (1, "realtime:x", &[1, 2][..]),
            (2, "realtime:y", &[1, 2]),
            (2, "realtime:x", &[1]),
        ] {
            let other = wire.frame(serializer, topic, ids, || {
                made += 1;
                format!("{serializer}{topic}{ids:?}")
            });
            assert_ne!(
                other.as_str(),
                "A",
                "a different audience gets its own frame"
            );
        }
        assert_eq!(made, 4);
    }

    #[test]
    fn many_audiences_are_encoded_each_time_past_the_cap() {
        let wire = Wire::default();
        for n in 0..SHARED_FRAMES as u32 + 3 {
            wire.frame(2, "t", &[n], || n.to_string());
        }
        let mut made = false;
        let late = wire.frame(2, "t", &[SHARED_FRAMES as u32 + 1], || {
            made = true;
            "late".into()
        });
        assert!(made, "not kept, so made again");
        assert_eq!(late.as_str(), "late");
        assert_eq!(wire.data(|| "d".into()), "d");
        assert_eq!(wire.data(|| unreachable!("kept")), "d");
    }
}

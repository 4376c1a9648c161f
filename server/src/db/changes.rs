//! The change feed: committed row changes, published in commit order.

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use tokio::sync::broadcast;

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
    /// Table name (schema is always `public`).
    pub table: &'static str,
    /// Insert, update or delete.
    pub kind: ChangeKind,
    /// The row after the change (absent for deletes).
    pub record: Option<Value>,
    /// The row before the change (primary key only, as with RLS on Supabase).
    pub old_record: Option<Value>,
    /// Commit time in microseconds.
    pub commit_micros: i64,
    /// Organisation that owns the row.
    pub org_id: String,
    /// For conversation-scoped rows, the conversation's medic: medics see only their own.
    pub medic_id: Option<String>,
    /// For per-user rows (read_state), the owning user.
    pub user_id: Option<String>,
    /// The Realtime `data` JSON, serialised once however many sockets send it.
    pub wire: OnceLock<String>,
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

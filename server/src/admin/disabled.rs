//! The running server's view of disabled users (`users.disabled_at`), kept current while
//! the administration commands change it from another process (ARCHITECTURE.md, "Staff
//! administration").
//!
//! A thread polls the database every [`POLL`]: `PRAGMA data_version` first, which moves
//! only when another connection committed (any writer: the server's own or a command's),
//! and only then the disabled ids, through a partial index that holds just those rows. A
//! change of the set wakes every realtime socket ([`DisabledUsers::subscribe`]); a socket
//! whose user is in the set closes itself, and joins, REST requests and `/auth/v1/user`
//! of a user in the set are refused. Sign-in and refresh read the column itself
//! (`auth::sessions`), so they never wait for a poll.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::watch;

use crate::error::Result;

/// How often the server looks for users disabled or enabled by another process: four
/// times a second, so a disabled user's sockets close within a second of the command.
pub const POLL: Duration = Duration::from_millis(250);

/// The ids of disabled users, shared by the server's parts; cheap to clone.
#[derive(Clone)]
pub struct DisabledUsers {
    inner: Arc<Inner>,
}

struct Inner {
    ids: RwLock<HashSet<String>>,
    // The number of changes of `ids` so far; sockets wait on it.
    changed: watch::Sender<u64>,
}

/// The disabled users' ids, read through the partial index `users_disabled`.
pub fn disabled_ids(conn: &Connection) -> Result<HashSet<String>> {
    let mut statement =
        conn.prepare_cached("SELECT id FROM users WHERE disabled_at IS NOT NULL")?;
    let ids = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<HashSet<String>>>()?;
    Ok(ids)
}

impl DisabledUsers {
    /// The set as the database holds it now.
    ///
    /// # Errors
    /// A database error.
    pub fn load(conn: &Connection) -> Result<DisabledUsers> {
        Ok(DisabledUsers {
            inner: Arc::new(Inner {
                ids: RwLock::new(disabled_ids(conn)?),
                changed: watch::channel(0).0,
            }),
        })
    }

    /// Whether the user with this id is disabled.
    pub fn contains(&self, user_id: &str) -> bool {
        self.inner
            .ids
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(user_id)
    }

    /// A receiver that sees a new value each time the set changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// Puts `ids` in place and wakes the subscribers, unless nothing changed; whether it did.
    pub fn replace(&self, ids: HashSet<String>) -> bool {
        replace(&self.inner, ids)
    }

    /// Starts the poll of the database at `db_path` on a thread of its own, which ends once
    /// every clone of this set is gone (the server stopped).
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn watch(&self, db_path: &Path) -> std::io::Result<()> {
        let weak = Arc::downgrade(&self.inner);
        let path = db_path.to_path_buf();
        std::thread::Builder::new()
            .name("disabled-users".into())
            .spawn(move || poll_loop(&weak, &path))?;
        Ok(())
    }
}

fn replace(inner: &Inner, ids: HashSet<String>) -> bool {
    {
        let mut current = inner.ids.write().unwrap_or_else(|p| p.into_inner());
        if *current == ids {
            return false;
        }
        *current = ids;
    }
    // After the write lock is released: a woken socket reads the new set.
    inner.changed.send_modify(|n| *n += 1);
    true
}

/// A read connection of its own, so the poll never queues behind users' reads.
fn open(path: &PathBuf) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

fn poll_loop(weak: &Weak<Inner>, path: &PathBuf) {
    let mut conn: Option<Connection> = None;
    // Unknown at first, so the first poll reads the ids: anything changed between the
    // server's start-up read and this thread's connection is seen.
    let mut seen_version: Option<i64> = None;
    loop {
        std::thread::sleep(POLL);
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if conn.is_none() {
            match open(path) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open the database to watch disabled users");
                    continue;
                }
            }
        }
        let Some(c) = &conn else { continue };
        match poll(c, &mut seen_version) {
            Ok(Some(ids)) => {
                if replace(&inner, ids) {
                    tracing::info!("the set of disabled users changed");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reading disabled users failed; retrying");
                conn = None;
                seen_version = None;
            }
        }
    }
}

/// The disabled ids when another connection committed since `seen_version`, else `None`.
fn poll(conn: &Connection, seen_version: &mut Option<i64>) -> Result<Option<HashSet<String>>> {
    let version: i64 = conn.pragma_query_value(None, "data_version", |r| r.get(0))?;
    if *seen_version == Some(version) {
        return Ok(None);
    }
    let ids = disabled_ids(conn)?;
    *seen_version = Some(version);
    Ok(Some(ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(dir: &Path) -> PathBuf {
        let path = dir.join("d.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(
            "CREATE TABLE users (id TEXT PRIMARY KEY, disabled_at TEXT);
             INSERT INTO users VALUES ('a', NULL), ('b', '2026-12-01T00:00:00.000000+00:00');",
        )
        .unwrap();
        path
    }

    #[test]
    fn the_poll_reads_only_after_another_connection_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        let watcher = open(&path).unwrap();
        let mut seen = None;
        let first = poll(&watcher, &mut seen).unwrap();
        assert_eq!(first, Some(HashSet::from(["b".to_string()])));
        assert_eq!(
            poll(&watcher, &mut seen).unwrap(),
            None,
            "nothing committed"
        );
        let admin = Connection::open(&path).unwrap();
        admin
            .execute("UPDATE users SET disabled_at = 'now' WHERE id = 'a'", [])
            .unwrap();
        let after = poll(&watcher, &mut seen).unwrap();
        assert_eq!(after, Some(HashSet::from(["a".into(), "b".into()])));
    }

    #[test]
    fn a_change_wakes_subscribers_and_the_same_set_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        let set = DisabledUsers::load(&Connection::open(&path).unwrap()).unwrap();
        assert!(set.contains("b") && !set.contains("a"));
        let mut woken = set.subscribe();
        assert!(!set.replace(HashSet::from(["b".to_string()])));
        assert!(!woken.has_changed().unwrap());
        assert!(set.replace(HashSet::from(["a".to_string()])));
        assert!(woken.has_changed().unwrap());
        woken.borrow_and_update();
        assert!(set.contains("a") && !set.contains("b"));
    }
}

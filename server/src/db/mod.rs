//! SQLite storage: one WAL-mode database file, migrations, the change feed and the demo seed.

pub mod changes;
pub mod migrations;
pub mod seed;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::error::{Error, Result};
pub use changes::{Change, ChangeKind, Feed};

/// Shared handle to the database and its change feed; cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

/// Read connections: WAL lets them run beside the writer and each other.
const READERS: usize = 4;

struct Inner {
    // One connection serialises writers, which is also what gives the feed its commit order.
    conn: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    feed: Feed,
}

fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the database file and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Db> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        configure(&conn)?;
        migrate(&mut conn)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open(path)?;
            configure(&reader)?;
            // Readers must never write: a bug there should fail loudly, not race the writer.
            reader.pragma_update(None, "query_only", "ON")?;
            readers.push(Mutex::new(reader));
        }
        Ok(Db {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                readers,
                next_reader: AtomicUsize::new(0),
                feed: Feed::new(),
            }),
        })
    }

    /// The change feed fed by every committed write.
    pub fn feed(&self) -> &Feed {
        &self.inner.feed
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent (the transaction is
        // rolled back on drop), so a poisoned lock is safe to keep using.
        self.inner
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_reader(&self) -> MutexGuard<'_, Connection> {
        let readers = &self.inner.readers;
        let start = self.inner.next_reader.fetch_add(1, Ordering::Relaxed);
        // Take the first idle reader, else wait for the one whose turn it is.
        for i in 0..readers.len() {
            if let Ok(guard) = readers[(start + i) % readers.len()].try_lock() {
                return guard;
            }
        }
        readers[start % readers.len()]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a read on a blocking thread, on one of the read connections.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || f(&db.lock_reader()))
            .await
            .map_err(|e| Error::Task(e.to_string()))?
    }

    /// Runs a write transaction on a blocking thread and publishes its changes after commit.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &mut Vec<Change>) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .map_err(|e| Error::Task(e.to_string()))?
    }

    /// The synchronous form of [`Db::write`], for start-up work.
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Transaction<'_>, &mut Vec<Change>) -> Result<T>,
    {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut changes = Vec::new();
        let value = f(&tx, &mut changes)?;
        tx.commit()?;
        // Still under the lock: the next writer cannot publish before us.
        self.inner.feed.publish(changes);
        Ok(value)
    }

    /// Reads a value from the `settings` table.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        let conn = self.lock();
        Ok(conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Stores a value in the `settings` table, keeping an existing one.
    pub fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        self.write_blocking(|tx, _| {
            tx.execute(
                "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
                [key, value],
            )?;
            Ok(
                tx.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })?,
            )
        })
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: usize =
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if current > migrations::MIGRATIONS.len() {
        return Err(Error::Config(format!(
            "database schema version {current} is newer than this server ({})",
            migrations::MIGRATIONS.len()
        )));
    }
    for (index, sql) in migrations::MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

//! SQLite storage: one WAL-mode database file, migrations, the change feed and the demo seed.

pub mod changes;
pub mod migrations;
pub mod read_gate;
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
pub const READERS: usize = 4;

/// SQLite virtual-machine steps between two looks at a read's deadline: a few microseconds
/// of work, so a cancelled statement stops within a millisecond of its deadline.
const PROGRESS_STEPS: i32 = 1_000;

/// How a caller's read is bounded ([`Db::read_bounded`]).
#[derive(Debug, Clone)]
pub struct ReadBounds {
    /// Whose read it is: the key of the per-user queue ([`read_gate`]).
    pub user: String,
    /// Reads of one user at once (kept between 1 and one fewer than [`READERS`]).
    pub per_user: usize,
    /// Longest wait for a connection before 504 `PGRST003`.
    pub wait: std::time::Duration,
    /// Longest the read may run before 500 `57014`.
    pub timeout: std::time::Duration,
}

struct Inner {
    // One connection serialises writers, which is also what gives the feed its commit order.
    conn: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    // Admits at most one read per connection, so a reader is idle for every admitted read.
    gate: read_gate::ReadGate,
    next_reader: AtomicUsize,
    feed: Feed,
}

fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // The message search index's migration and trigger call it.
    crate::rest::search::register_functions(conn)?;
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the database file and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Db> {
        /// The database holds the JWT signing secret (`settings.jwt_secret`, unless
        /// SWITCHBOARD_JWT_SECRET is set) beside the password hashes, so only its owner may
        /// read it: the file is created 0600 before SQLite opens it, and SQLite creates
        /// the -wal and -shm files with the database file's mode (os_unix.c,
        /// `findCreateFileMode`); files left by older versions are narrowed here.
        fn owner_only(path: &Path) -> Result<()> {
            #[cfg(unix)]
            {
                use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(path)?;
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.as_os_str().to_owned();
                    file.push(suffix);
                    let owner_rw = std::fs::Permissions::from_mode(0o600);
                    match std::fs::set_permissions(&file, owner_rw) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                        _ => {}
                    }
                }
            }
            Ok(())
        }
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                let mut builder = std::fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(dir)?;
            }
        }
        owner_only(path)?;
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: WAL with NORMAL survives a killed process but may lose the last commits on
        // power loss or an OS crash (sqlite.org/pragma.html#pragma_synchronous); FULL syncs
        // the WAL at every commit, so an acknowledged dispatch message is on disk.
        conn.pragma_update(None, "synchronous", "FULL")?;
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
                gate: read_gate::ReadGate::new(READERS),
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

    /// Runs one of the server's own reads (fixed statements, such as sign-in lookups) on a
    /// blocking thread, on one of the read connections, after the reads admitted before it.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self.inner.gate.enter(None, 0, std::time::Duration::MAX);
        let permit = permit.await.map_err(|_| pool_timeout())?;
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = db.lock_reader();
            // No deadline, also none left behind by a user's read that panicked.
            conn.progress_handler(PROGRESS_STEPS, None::<fn() -> bool>);
            f(&conn)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?
    }

    /// Runs a read a user asked for (REST reads and RPCs) within `bounds`: it waits its turn
    /// in the user's queue and then for a connection ([`read_gate`]), and its statements are
    /// cancelled once it has run for `bounds.timeout`, as Postgres cancels a statement past
    /// `statement_timeout`.
    ///
    /// # Errors
    /// 504 `PGRST003` "Timed out acquiring connection from connection pool." when no
    /// connection came within `bounds.wait` (PostgREST's answer when its pool is exhausted);
    /// 500 `57014` "canceling statement due to statement timeout" (status as PostgREST maps
    /// SQLSTATE class 57); else what `f` returns.
    pub async fn read_bounded<T, F>(&self, bounds: &ReadBounds, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .inner
            .gate
            .enter(Some(&bounds.user), bounds.per_user, bounds.wait)
            .await
            .map_err(|_| pool_timeout())?;
        let db = self.clone();
        let timeout = bounds.timeout;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = db.lock_reader();
            let deadline = std::time::Instant::now() + timeout;
            conn.progress_handler(
                PROGRESS_STEPS,
                Some(move || std::time::Instant::now() >= deadline),
            );
            let result = f(&conn);
            conn.progress_handler(PROGRESS_STEPS, None::<fn() -> bool>);
            result.map_err(|e| {
                if interrupted(&e) {
                    statement_timeout()
                } else {
                    e
                }
            })
        })
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

/// Whether SQLite stopped a statement because the progress handler asked it to.
fn interrupted(error: &Error) -> bool {
    matches!(
        error,
        Error::Db(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::OperationInterrupted
    )
}

/// Postgres's answer to a statement past `statement_timeout` (SQLSTATE 57014,
/// query_canceled), with the status PostgREST gives class 57 (500).
fn statement_timeout() -> Error {
    Error::api(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "57014",
        "canceling statement due to statement timeout",
    )
}

/// PostgREST's answer when no pooled connection came in time (`PGRST003`, 504).
fn pool_timeout() -> Error {
    Error::api(
        axum::http::StatusCode::GATEWAY_TIMEOUT,
        "PGRST003",
        "Timed out acquiring connection from connection pool.",
    )
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

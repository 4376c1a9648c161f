//! SQLite storage: one WAL-mode database file, migrations, the change feed and the demo seed.

pub mod changes;
pub mod migrations;
pub mod read_gate;
pub mod seed;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// Write transactions between two looks at the planner's statistics ([`Db::optimize`]).
pub const OPTIMIZE_EVERY_WRITES: u64 = 1_000;

/// A read connection and the statistics it planned with ([`Inner::stats_epoch`]).
struct Reader {
    conn: Connection,
    epoch: u64,
}

impl std::ops::Deref for Reader {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

struct Inner {
    // One connection serialises writers, which is also what gives the feed its commit order.
    conn: Mutex<Connection>,
    readers: Vec<Mutex<Reader>>,
    path: PathBuf,
    // SQLite loads sqlite_stat1 when a connection reads the schema and never again (not
    // even after another connection's ANALYZE), so a reader planning with older statistics
    // than these is reopened before its next read.
    stats_epoch: AtomicU64,
    writes: AtomicU64,
    // Admits at most one read per connection, so a reader is idle for every admitted read.
    gate: read_gate::ReadGate,
    next_reader: AtomicUsize,
    feed: Feed,
    // Set once by the server (`switchboard_db_write_duration_seconds`); tools that open the
    // database without a server leave it unset.
    write_timer: std::sync::OnceLock<prometheus::Histogram>,
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
        // Before the readers open, so they plan with these statistics: without them SQLite
        // takes the org-wide index for one conversation's thread (issue 17).
        optimize(&conn)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(Mutex::new(Reader {
                conn: open_reader(path)?,
                epoch: 0,
            }));
        }
        Ok(Db {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                readers,
                path: path.to_path_buf(),
                stats_epoch: AtomicU64::new(0),
                writes: AtomicU64::new(0),
                gate: read_gate::ReadGate::new(READERS),
                next_reader: AtomicUsize::new(0),
                feed: Feed::new(),
                write_timer: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Times every later write transaction into `histogram`, from asking for the writer to
    /// commit, in seconds; only the first call counts.
    pub fn time_writes(&self, histogram: prometheus::Histogram) {
        let _ = self.inner.write_timer.set(histogram);
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

    fn lock_reader(&self) -> MutexGuard<'_, Reader> {
        let readers = &self.inner.readers;
        let start = self.inner.next_reader.fetch_add(1, Ordering::Relaxed);
        // Take the first idle reader, else wait for the one whose turn it is.
        let mut guard = (0..readers.len())
            .find_map(|i| readers[(start + i) % readers.len()].try_lock().ok())
            .unwrap_or_else(|| {
                readers[start % readers.len()]
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
            });
        let epoch = self.inner.stats_epoch.load(Ordering::Acquire);
        if guard.epoch != epoch {
            // A reader that cannot be reopened keeps planning with the old statistics:
            // slower plans, never wrong answers.
            match open_reader(&self.inner.path) {
                Ok(conn) => *guard = Reader { conn, epoch },
                Err(e) => tracing::warn!(error = %e, "reopening a reader for new statistics"),
            }
        }
        guard
    }

    /// Refreshes the query planner's statistics where the data has outgrown them
    /// (`PRAGMA optimize`, see [`optimize`]) on the writer, and has the readers reopen to
    /// load them when anything was analysed. Runs at open and after every
    /// [`OPTIMIZE_EVERY_WRITES`] write transactions.
    ///
    /// # Errors
    /// SQLite's.
    pub fn optimize(&self) -> Result<()> {
        let conn = self.lock();
        if optimize(&conn)? {
            self.inner.stats_epoch.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
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
        let started = std::time::Instant::now();
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut changes = Vec::new();
        let value = f(&tx, &mut changes)?;
        tx.commit()?;
        if let Some(timer) = self.inner.write_timer.get() {
            timer.observe(started.elapsed().as_secs_f64());
        }
        // Still under the lock: the next writer cannot publish before us.
        self.inner.feed.publish(changes);
        let writes = self.inner.writes.fetch_add(1, Ordering::Relaxed) + 1;
        if writes.is_multiple_of(OPTIMIZE_EVERY_WRITES) {
            // After the publish, so no event waits for it; a failure costs plans, not data.
            match optimize(&conn) {
                Ok(true) => {
                    self.inner.stats_epoch.fetch_add(1, Ordering::AcqRel);
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "PRAGMA optimize"),
            }
        }
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

/// A read connection of the database at `path`.
fn open_reader(path: &Path) -> Result<Connection> {
    let reader = Connection::open(path)?;
    configure(&reader)?;
    // Readers must never write: a bug there should fail loudly, not race the writer.
    reader.pragma_update(None, "query_only", "ON")?;
    Ok(reader)
}

/// `PRAGMA optimize=0x10002` on the writer: ANALYZE every table whose indexes have no
/// statistics yet or whose size changed tenfold since (0x10000: all tables, not only those
/// this connection queried), each within SQLite's default analysis limit, which keeps it to
/// milliseconds (sqlite.org/pragma.html#pragma_optimize, recommended for long-lived
/// connections). Answers whether it analysed anything (asked first in its debugging mode,
/// 0x1, which only lists the ANALYZE statements it would run).
fn optimize(conn: &Connection) -> Result<bool> {
    let planned = {
        let mut stmt = conn.prepare("PRAGMA optimize=0x10003")?;
        let rows = stmt.query_map([], |_| Ok(()))?;
        rows.count()
    };
    if planned == 0 {
        return Ok(false);
    }
    conn.execute_batch("PRAGMA optimize=0x10002")?;
    Ok(true)
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

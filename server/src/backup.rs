//! `switchboard-server backup FILE` and `restore FILE`: an online copy of the database that
//! a running server keeps writing to, and putting such a copy back while no server runs.
//!
//! The copy is `VACUUM INTO`, not the online backup API: it is one statement inside one read
//! transaction, so it copies exactly the snapshot that transaction sees while the server's
//! writes go on in the WAL, whereas the backup API copying in steps starts over whenever
//! another connection writes (under a steady load it may never finish), and copying in one
//! step is the same snapshot with more code. The copy comes out compacted, without a WAL.
//!
//! Files: the copy is created 0600 before SQLite writes a byte into it (the database holds
//! password hashes, the JWT secret and medical messages); an existing FILE is never
//! overwritten unless `--force`, and then only by renaming a finished copy over it.

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::db::migrations::MIGRATIONS;
use crate::db_lock::DbLock;
use crate::error::{Error, Result};

/// What a backup wrote or a restore put in place, as checked after the fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Rows in `messages`.
    pub messages: i64,
    /// The schema version (`PRAGMA user_version`: migrations applied).
    pub schema_version: i64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes, {} messages, schema version {}, integrity ok",
            self.bytes, self.messages, self.schema_version
        )
    }
}

/// Tables every Switchboard database has from migration 1 on.
const SWITCHBOARD_TABLES: [&str; 5] = ["orgs", "users", "conversations", "messages", "settings"];

/// Checks the database at `path`: `PRAGMA integrity_check` answers `ok`, its schema version
/// is one this server knows (1 to the number of migrations) and the Switchboard tables are
/// there.
///
/// # Errors
/// [`Error::Config`] saying what is wrong: not a database, corrupt (the first problems
/// `integrity_check` lists), not a Switchboard database, or from a newer server.
pub fn inspect(path: &Path) -> Result<Summary> {
    inspect_as(path, path)
}

/// [`inspect`] of `path`, naming `shown` in its refusals (the file the operator named,
/// not the copy being checked).
fn inspect_as(path: &Path, shown: &Path) -> Result<Summary> {
    let refuse = |why: String| Error::Config(format!("{}: {why}", shown.display()));
    // Read-only: checking a file never changes it. `VACUUM INTO` writes a rollback-journal
    // database, which needs no -shm to be read.
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| refuse(format!("cannot open as a database ({e})")))?;
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check(10)")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| refuse(format!("not a readable SQLite database, or corrupt ({e})")))?;
    if problems != ["ok"] {
        return Err(refuse(format!(
            "corrupt: failed its integrity check: {}",
            problems.join("; ")
        )));
    }
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let mut missing = Vec::new();
    for table in SWITCHBOARD_TABLES {
        let found: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )?;
        if found == 0 {
            missing.push(table);
        }
    }
    if version < 1 || !missing.is_empty() {
        return Err(refuse(format!(
            "not a Switchboard database (schema version {version}, missing tables: {})",
            missing.join(", ")
        )));
    }
    if version > MIGRATIONS.len() as i64 {
        return Err(refuse(format!(
            "schema version {version} is newer than this server's ({})",
            MIGRATIONS.len()
        )));
    }
    let messages = conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?;
    Ok(Summary {
        bytes: std::fs::metadata(path)?.len(),
        messages,
        schema_version: version,
    })
}

/// Creates `path` empty with mode 0600; fails if it exists.
fn create_owner_only(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// A fresh hidden name beside `path`, for a file renamed onto `path` when complete.
fn temp_beside(path: &Path, purpose: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tag: u64 = rand::random();
    path.with_file_name(format!(".{name}.{purpose}-{tag:016x}"))
}

/// Syncs the directory holding `path`, so a rename into it survives a power loss.
fn sync_dir_of(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Removes `path` on drop unless disarmed: a failed backup or restore leaves no half file.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Copies the database at `db` into `out`, online: a server may be running and writing.
/// `out` is created 0600; an existing `out` is refused unless `force`, which replaces it
/// only once the new copy is complete. The copy is synced and checked ([`inspect`]).
///
/// # Errors
/// [`Error::Config`] when `db` is missing or not a Switchboard database, `out` exists
/// without `force`, or the copy fails its check; [`Error::Db`]/[`Error::Io`] otherwise.
pub fn backup(db: &Path, out: &Path, force: bool) -> Result<Summary> {
    if !db.is_file() {
        return Err(Error::Config(format!("no database at {}", db.display())));
    }
    if let (Ok(a), Ok(b)) = (db.canonicalize(), out.canonicalize()) {
        if a == b {
            return Err(Error::Config(format!(
                "{} is the database itself; back it up to another file",
                out.display()
            )));
        }
    }
    if !force && out.exists() {
        return Err(Error::Config(format!(
            "{} exists; pass --force to replace it",
            out.display()
        )));
    }
    // Checked first, so a wrong --db is not copied into a "backup".
    let source = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    source.busy_timeout(std::time::Duration::from_secs(5))?;
    crate::rest::search::register_functions(&source)?;
    let version: i64 = source.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version < 1 {
        return Err(Error::Config(format!(
            "{} is not a Switchboard database",
            db.display()
        )));
    }
    let target = if force {
        temp_beside(out, "backup")
    } else {
        out.to_path_buf()
    };
    let target_text = target
        .to_str()
        .ok_or_else(|| Error::Config(format!("{}: not a UTF-8 path", target.display())))?;
    // Created here, empty and owner-only: SQLite writes into an existing empty file and
    // would otherwise create it with the umask's mode.
    drop(create_owner_only(&target).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Config(format!(
                "{} exists; pass --force to replace it",
                target.display()
            ))
        } else {
            e.into()
        }
    })?);
    let mut cleanup = RemoveOnDrop(Some(target.clone()));
    source.execute("VACUUM INTO ?1", [target_text])?;
    drop(source);
    File::open(&target)?.sync_all()?;
    let summary = inspect(&target)?;
    if force {
        std::fs::rename(&target, out)?;
    }
    cleanup.0 = None;
    sync_dir_of(out)?;
    Ok(summary)
}

/// Replaces the database at `db` with the copy in `file`, which must pass [`inspect`].
/// Refused while a server holds `db` ([`DbLock`]); the lock is held throughout, so no
/// server starts halfway. The copy goes to a 0600 file beside `db`, is synced and checked
/// there, the old database's WAL is folded in and its `-wal`/`-shm` removed (a stale WAL
/// would be replayed into the restored file), and the copy is renamed over `db`.
///
/// # Errors
/// [`Error::Config`] when a server holds `db`, `file` is missing or fails [`inspect`];
/// [`Error::Io`] otherwise.
pub fn restore(file: &Path, db: &Path) -> Result<Summary> {
    let _lock = DbLock::acquire(db)?;
    if !file.is_file() {
        return Err(Error::Config(format!("no file at {}", file.display())));
    }
    let temp = temp_beside(db, "restore");
    let mut cleanup = RemoveOnDrop(Some(temp.clone()));
    {
        let mut copy = create_owner_only(&temp)?;
        std::io::copy(&mut File::open(file)?, &mut copy)?;
        copy.sync_all()?;
    }
    let summary = inspect_as(&temp, file)?;
    if db.exists() {
        // Best effort: the file is being replaced anyway, but if anything below fails the
        // old database keeps every commit its WAL held.
        if let Ok(old) = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE) {
            let _ = old.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(PathBuf::from(side)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    std::fs::rename(&temp, db)?;
    cleanup.0 = None;
    sync_dir_of(db)?;
    Ok(summary)
}

/// `FILE [--db DB]` plus `--force` where allowed: the file and the database path.
fn parse_args(args: &[String], allow_force: bool) -> Result<(PathBuf, PathBuf, bool)> {
    let mut file = None;
    let mut db = PathBuf::from(crate::config::DEFAULT_DB_PATH);
    let mut force = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--db" => {
                db = PathBuf::from(
                    it.next()
                        .ok_or_else(|| Error::Config("--db needs a value".into()))?,
                )
            }
            "--force" if allow_force => force = true,
            flag if flag.starts_with("--") => {
                return Err(Error::Config(format!("unknown flag {flag}")))
            }
            path if file.is_none() => file = Some(PathBuf::from(path)),
            extra => return Err(Error::Config(format!("unexpected argument {extra}"))),
        }
    }
    let file = file.ok_or_else(|| Error::Config("name the backup FILE".into()))?;
    Ok((file, db, force))
}

/// `switchboard-server backup FILE [--db DB] [--force]`: prints what it wrote.
///
/// # Errors
/// Bad arguments, or what [`backup`] refuses.
pub fn run_backup_cli(args: &[String]) -> Result<()> {
    let (file, db, force) = parse_args(args, true)?;
    let summary = backup(&db, &file, force)?;
    println!(
        "Backed up {} to {} (mode 0600): {summary}",
        db.display(),
        file.display()
    );
    Ok(())
}

/// `switchboard-server restore FILE [--db DB]`: prints what it put in place.
///
/// # Errors
/// Bad arguments, or what [`restore`] refuses.
pub fn run_restore_cli(args: &[String]) -> Result<()> {
    let (file, db, _) = parse_args(args, false)?;
    let summary = restore(&file, &db)?;
    println!(
        "Restored {} from {}: {summary}",
        db.display(),
        file.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_file_db_and_force() {
        let (file, db, force) =
            parse_args(&args(&["b.db", "--db", "x.db", "--force"]), true).unwrap();
        assert_eq!(
            (file, db, force),
            (PathBuf::from("b.db"), PathBuf::from("x.db"), true)
        );
        let (_, db, force) = parse_args(&args(&["b.db"]), true).unwrap();
        assert_eq!(
            (db, force),
            (PathBuf::from(crate::config::DEFAULT_DB_PATH), false)
        );
        assert!(parse_args(&args(&["b.db", "--force"]), false).is_err());
        assert!(parse_args(&args(&[]), true).is_err());
        assert!(parse_args(&args(&["a", "b"]), true).is_err());
        assert!(parse_args(&args(&["a", "--db"]), true).is_err());
    }
}

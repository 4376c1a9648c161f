//! The lock that says "a server has this database open": an exclusive advisory lock
//! (`flock`, through std's [`std::fs::File::try_lock`]) on `DB.lock` beside the database,
//! held by a running server for as long as it serves, and by `restore` while it replaces the
//! file.
//!
//! SQLite's own locks cannot tell: in WAL mode readers and writers never block each other,
//! and between transactions a server holds no lock at all. The kernel drops a `flock` when
//! its holder exits, however it exits, so a crashed server never leaves a stale lock behind.
//! The lock file itself stays (removing it would race a second holder) and holds nothing.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An exclusive hold on `DB.lock`; released when dropped.
#[derive(Debug)]
pub struct DbLock {
    _file: File,
    path: PathBuf,
}

/// `DB.lock` for the database at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl DbLock {
    /// Takes the lock of the database at `db`, creating the lock file (0600) and its
    /// directory (0700) if needed, without waiting.
    ///
    /// # Errors
    /// [`Error::Config`] naming the lock file when another process (or another server in
    /// this one) holds it; [`Error::Io`] when the file cannot be created or locked.
    pub fn acquire(db: &Path) -> Result<DbLock> {
        let path = lock_path(db);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(DbLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(Error::Config(format!(
                "{} is in use: a switchboard-server holds {} (stop it first)",
                db.display(),
                path.display()
            ))),
            Err(TryLockError::Error(e)) => Err(e.into()),
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sub").join("s.db");
        let first = DbLock::acquire(&db).unwrap();
        assert_eq!(first.path(), dir.path().join("sub").join("s.db.lock"));
        let refused = DbLock::acquire(&db).unwrap_err();
        assert!(refused.to_string().contains("in use"), "{refused}");
        drop(first);
        DbLock::acquire(&db).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(lock_path(&db))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

//! The real `switchboard-server` binary as a child process the tests can kill and restart.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::{free_port, repo_root, wait_http, Error};

/// A running server on a fixed port over a temp database.
pub struct ServerProcess {
    child: Option<Child>,
    /// The port it listens on (kept across restarts).
    pub port: u16,
    db: PathBuf,
    access_ttl: Option<u64>,
    /// More flags, e.g. `--urgent-realert-seconds 3`.
    flags: Vec<String>,
    _dir: tempfile::TempDir,
}

/// The built app; `cargo xtask test` runs `trunk build --release` before the e2e tests.
pub fn dist_dir() -> Result<PathBuf, Error> {
    let dist = repo_root().join("dist");
    if dist.join("index.html").exists() {
        Ok(dist)
    } else {
        Err(Error::Setup(format!(
            "{} has no built app: run `trunk build --release` (cargo xtask test does)",
            dist.display()
        )))
    }
}

fn server_bin() -> PathBuf {
    std::env::var("SWITCHBOARD_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target/debug/switchboard-server"))
}

impl ServerProcess {
    /// Starts a demo-seeded server; `access_ttl` shortens token lifetime (seconds).
    pub async fn start(access_ttl: Option<u64>) -> Result<ServerProcess, Error> {
        Self::start_with_flags(access_ttl, &[]).await
    }

    /// Starts a demo-seeded server with more command-line `flags`.
    pub async fn start_with_flags(
        access_ttl: Option<u64>,
        flags: &[&str],
    ) -> Result<ServerProcess, Error> {
        let dir = tempfile::tempdir().map_err(|e| Error::Setup(e.to_string()))?;
        let mut s = ServerProcess {
            child: None,
            port: free_port(),
            db: dir.path().join("e2e.db"),
            access_ttl,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            _dir: dir,
        };
        s.spawn().await?;
        Ok(s)
    }

    /// Base URL of the server itself.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) -> Result<(), Error> {
        let bin = server_bin();
        let mut cmd = Command::new(&bin);
        cmd.arg("--addr")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--db")
            .arg(&self.db)
            .arg("--dist")
            .arg(dist_dir()?)
            .args(["--seed", "demo"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true);
        if let Some(ttl) = self.access_ttl {
            cmd.arg("--access-ttl").arg(ttl.to_string());
        }
        cmd.args(&self.flags);
        let child = cmd.spawn().map_err(|e| {
            Error::Setup(format!(
                "cannot start {}: {e} (cargo build -p switchboard-server)",
                bin.display()
            ))
        })?;
        self.child = Some(child);
        wait_http(
            &format!("{}/config.json", self.url()),
            Duration::from_secs(30),
        )
        .await
    }

    /// SIGKILL: no graceful shutdown, sockets just die.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Starts again on the same port and database.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.kill().await;
        self.spawn().await
    }
}

//! The real `switchboard-server` binary as a child process the tests can kill and restart.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::{free_port, repo_root, wait_http_with, Error};

/// A running server on a fixed port over a temp database.
pub struct ServerProcess {
    child: Option<Child>,
    /// The port it listens on (kept across restarts).
    pub port: u16,
    db: PathBuf,
    access_ttl: Option<u64>,
    /// More flags, e.g. `--urgent-realert-seconds 3`.
    flags: Vec<String>,
    /// The pair it serves HTTPS and WSS with, if it does ([`ServerProcess::start_tls`]).
    pub tls: Option<TlsPair>,
    _dir: tempfile::TempDir,
}

/// A certificate and key made by `switchboard-server cert`, PEM files.
#[derive(Debug, Clone)]
pub struct TlsPair {
    /// `cert.pem`: self-signed, for 127.0.0.1 and localhost.
    pub cert: PathBuf,
    /// `key.pem`: its private key.
    pub key: PathBuf,
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
            tls: None,
            _dir: dir,
        };
        s.spawn().await?;
        Ok(s)
    }

    /// Starts a demo-seeded server over HTTPS and WSS, with a pair the binary's own `cert`
    /// subcommand writes for 127.0.0.1 and localhost.
    pub async fn start_tls() -> Result<ServerProcess, Error> {
        let dir = tempfile::tempdir().map_err(|e| Error::Setup(e.to_string()))?;
        let out = dir.path().join("tls");
        let made = Command::new(server_bin())
            .args([
                "cert",
                "--host",
                "127.0.0.1",
                "--host",
                "localhost",
                "--out",
            ])
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .await
            .map_err(|e| Error::Setup(format!("switchboard-server cert: {e}")))?;
        if !made.success() {
            return Err(Error::Setup(format!("switchboard-server cert: {made}")));
        }
        let mut s = ServerProcess {
            child: None,
            port: free_port(),
            db: dir.path().join("e2e.db"),
            access_ttl: None,
            flags: Vec::new(),
            tls: Some(TlsPair {
                cert: out.join("cert.pem"),
                key: out.join("key.pem"),
            }),
            _dir: dir,
        };
        s.spawn().await?;
        Ok(s)
    }

    /// Base URL of the server itself (`https://` when it serves TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// An HTTP client for this server: over TLS it trusts the server's certificate and no
    /// other.
    pub fn http(&self) -> Result<reqwest::Client, Error> {
        let Some(tls) = &self.tls else {
            return Ok(reqwest::Client::new());
        };
        let pem = std::fs::read(&tls.cert)
            .map_err(|e| Error::Setup(format!("{}: {e}", tls.cert.display())))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| Error::Setup(format!("{}: {e}", tls.cert.display())))?;
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(cert)
            .build()
            .map_err(|e| Error::Setup(format!("an HTTPS client: {e}")))
    }

    /// The certificate's file, when the server serves TLS.
    pub fn cert(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.cert.as_path())
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
        if let Some(tls) = &self.tls {
            cmd.arg("--tls-cert")
                .arg(&tls.cert)
                .arg("--tls-key")
                .arg(&tls.key);
        }
        let child = cmd.spawn().map_err(|e| {
            Error::Setup(format!(
                "cannot start {}: {e} (cargo build -p switchboard-server)",
                bin.display()
            ))
        })?;
        self.child = Some(child);
        wait_http_with(
            &self.http()?,
            &format!("{}/config.json", self.url()),
            Duration::from_secs(30),
        )
        .await
    }

    /// The running server's process id (for reading its memory from `/proc`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
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

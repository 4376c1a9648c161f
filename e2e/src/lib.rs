//! End-to-end harness: the real built app served by the real server, driven in headless
//! Chromium over WebDriver; plus a TCP proxy the tests can cut, and a REST helper that plays
//! the medics.

pub mod api;
pub mod page;
pub mod proxy;
pub mod server;
pub mod stats;
pub mod webdriver;

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

pub use webdriver::{Element, Session};

use api::Api;
use server::ServerProcess;

/// Everything that can fail while driving a scenario.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The WebDriver server or browser misbehaved.
    #[error("webdriver: {0}")]
    Driver(String),
    /// Something did not happen in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// A process or file could not be set up.
    #[error("setup: {0}")]
    Setup(String),
    /// The REST API answered unexpectedly.
    #[error("api: {0}")]
    Api(String),
    /// The REST API could not be reached, or refused a sign-in.
    #[error("rest: {0}")]
    Rest(#[from] switchboard_api_client::Error),
}

/// The repository root (this crate lives in `e2e/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A port nobody is listening on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// chromedriver plus one headless Chromium session; both end when dropped.
pub struct Browser {
    /// The WebDriver session.
    pub session: Arc<Session>,
    driver: Child,
    // Chromium's profile, ours to delete: a browser that is killed rather than quit would
    // otherwise leave one more directory in /tmp per run.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start() -> Result<Browser, Error> {
        Browser::start_with(&[]).await
    }

    /// [`Browser::start`] with more Chromium flags, e.g. the TLS scenario's
    /// `--ignore-certificate-errors-spki-list` trusting only its server's key.
    pub async fn start_with(chromium_args: &[String]) -> Result<Browser, Error> {
        let driver_bin =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::Setup(format!(
                    "cannot start {driver_bin}: {e} (cargo xtask test installs chromium-driver)"
                ))
            })?;
        let profile = tempfile::Builder::new()
            .prefix("switchboard-e2e-chromium")
            .tempdir()
            .map_err(|e| Error::Setup(format!("cannot make a browser profile directory: {e}")))?;
        let url = format!("http://127.0.0.1:{port}");
        wait_http(&format!("{url}/status"), Duration::from_secs(20)).await?;
        let mut caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--no-first-run", "--window-size=1280,900",
                         // Background tabs must keep running their timers and sockets.
                         "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                         "--disable-backgrounding-occluded-windows",
                         // Alert tones play without a click first, as after a real one.
                         "--autoplay-policy=no-user-gesture-required",
                         format!("--user-data-dir={}", profile.path().display())],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        if let Some(args) = caps["goog:chromeOptions"]["args"].as_array_mut() {
            args.extend(chromium_args.iter().map(|a| json!(a)));
        }
        let session = Session::new(&url, caps).await?;
        Ok(Browser {
            session: Arc::new(session),
            driver,
            _profile: profile,
        })
    }

    /// Closes the browser and the driver.
    pub async fn stop(mut self) {
        self.session.quit().await;
        let _ = self.driver.kill().await;
    }
}

/// What every scenario and browser benchmark starts from: a demo-seeded server
/// (`access_ttl` shortens its tokens, in seconds), a browser, and Ana, the Northside
/// dispatcher, signed in over REST.
pub async fn setup(access_ttl: Option<u64>) -> Result<(ServerProcess, Browser, Api), Error> {
    let server = ServerProcess::start(access_ttl).await?;
    let browser = Browser::start().await?;
    let ana = Api::login(&server.url(), "ana@northside.test").await?;
    Ok((server, browser, ana))
}

/// Polls a URL until it answers.
pub async fn wait_http(url: &str, timeout: Duration) -> Result<(), Error> {
    wait_http_with(&reqwest::Client::new(), url, timeout).await
}

/// [`wait_http`] through `http` (e.g. a client that trusts a test server's certificate).
pub async fn wait_http_with(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Ok(r) = http.get(url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::Timeout(url.to_string()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls a script in the page until it returns something truthy; returns that value.
pub async fn wait_until(
    session: &Session,
    what: &str,
    script: &str,
    timeout: Duration,
) -> Result<Value, Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let v = session.execute(script, vec![]).await?;
        let truthy =
            !matches!(v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
        if truthy {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::Timeout(what.to_string()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a console line is Chromium reporting a Content-Security-Policy violation ("Refused
/// to load/execute/connect/create a worker … because it violates the following Content
/// Security Policy directive") or a Permissions-Policy header it could not apply.
pub fn policy_violation(line: &str) -> bool {
    [
        "Refused to",
        "Content Security Policy",
        "Content-Security-Policy",
        "Permissions-Policy",
    ]
    .iter()
    .any(|p| line.contains(p))
}

/// Runs a scenario; on failure saves a screenshot and the console under `target/e2e/`; a
/// scenario that passes fails all the same if the console shows a [`policy_violation`].
pub async fn scenario<F, Fut>(name: &str, session: Arc<Session>, body: F)
where
    F: FnOnce(Arc<Session>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(body(session.clone())).await;
    if outcome.is_ok() {
        // Issue 14: the app runs under the server's security headers; anything the browser
        // refused under them (the console since the session began: only failures read it
        // before) fails the scenario.
        let console = session.console().await.unwrap_or_default();
        let refused: Vec<&String> = console.iter().filter(|l| policy_violation(l)).collect();
        if !refused.is_empty() {
            session.quit().await;
            panic!(
                "scenario {name}: the page broke its security policy:\n{}",
                refused
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    if let Err(e) = outcome {
        let dir = repo_root().join("target/e2e");
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(png) = session.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
        let console = session.console().await.unwrap_or_default().join("\n");
        let _ = std::fs::write(dir.join(format!("{name}.console.log")), console);
        eprintln!(
            "scenario {name} failed; screenshot and console in {}",
            dir.display()
        );
        // The panic below skips the test's `browser.stop()`: close Chromium here, or it
        // outlives the test (chromedriver does not take it down when killed).
        session.quit().await;
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("scenario {name} was cancelled");
    }
}

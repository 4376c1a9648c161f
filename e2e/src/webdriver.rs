//! A small W3C WebDriver client over HTTP: just what the scenarios need.

use std::time::Duration;

use serde_json::{json, Value};

use crate::Error;

/// The W3C element-reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser session on a WebDriver server.
pub struct Session {
    http: reqwest::Client,
    base: String,
}

/// A reference to an element in the page.
#[derive(Debug, Clone)]
pub struct Element(pub String);

impl Session {
    /// Opens a session with the given capabilities.
    pub async fn new(driver: &str, capabilities: Value) -> Result<Session, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Driver(e.to_string()))?;
        let resp = http
            .post(format!("{driver}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": capabilities}}))
            .send()
            .await
            .map_err(|e| Error::Driver(e.to_string()))?;
        let body: Value = resp
            .json()
            .await
            .map_err(|e| Error::Driver(e.to_string()))?;
        let id = body["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| Error::Driver(format!("no session: {body}")))?;
        Ok(Session {
            http,
            base: format!("{driver}/session/{id}"),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| Error::Driver(e.to_string()))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|e| Error::Driver(e.to_string()))?;
        if !status.is_success() {
            return Err(Error::Driver(format!(
                "{path}: {}",
                body["value"]["message"]
            )));
        }
        Ok(body["value"].clone())
    }

    /// Navigates the current tab.
    pub async fn goto(&self, url: &str) -> Result<(), Error> {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await
            .map(|_| ())
    }

    /// Runs a synchronous script and returns its value.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, Error> {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Sends a Chrome DevTools Protocol command to the current tab (chromedriver's
    /// `goog/cdp/execute`), e.g. `Page.addScriptToEvaluateOnNewDocument`.
    pub async fn cdp(&self, command: &str, params: Value) -> Result<Value, Error> {
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": command, "params": params})),
        )
        .await
    }

    /// Finds elements by CSS selector.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>, Error> {
        let value = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        Ok(value
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str().map(|s| Element(s.to_string())))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits until an element matching `css` exists.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(e) = self.find_all(css).await?.into_iter().next() {
                return Ok(e);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Timeout(format!("element {css}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks an element.
    pub async fn click(&self, e: &Element) -> Result<(), Error> {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    /// Types into an element (real key events).
    pub async fn send_keys(&self, e: &Element, text: &str) -> Result<(), Error> {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            Some(json!({"text": text})),
        )
        .await
        .map(|_| ())
    }

    /// Visible text of an element.
    pub async fn text(&self, e: &Element) -> Result<String, Error> {
        Ok(self
            .call(
                reqwest::Method::GET,
                &format!("/element/{}/text", e.0),
                None,
            )
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// A PNG screenshot of the current tab.
    pub async fn screenshot(&self) -> Result<Vec<u8>, Error> {
        use base64::Engine;
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .map_err(|e| Error::Driver(e.to_string()))
    }

    /// Browser console entries since the last call (Chromium's logging extension).
    pub async fn console(&self) -> Result<Vec<String>, Error> {
        let value = self
            .call(
                reqwest::Method::POST,
                "/se/log",
                Some(json!({"type": "browser"})),
            )
            .await?;
        Ok(value
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e["level"].as_str().unwrap_or(""),
                            e["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Opens a new tab and returns its handle.
    pub async fn new_tab(&self) -> Result<String, Error> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/window/new",
                Some(json!({"type": "tab"})),
            )
            .await?;
        Ok(v["handle"].as_str().unwrap_or_default().to_string())
    }

    /// The current tab's handle.
    pub async fn current_tab(&self) -> Result<String, Error> {
        Ok(self
            .call(reqwest::Method::GET, "/window", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Switches to a tab.
    pub async fn switch_to(&self, handle: &str) -> Result<(), Error> {
        self.call(
            reqwest::Method::POST,
            "/window",
            Some(json!({"handle": handle})),
        )
        .await
        .map(|_| ())
    }

    /// Ends the session (closes the browser).
    pub async fn quit(&self) {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
    }
}

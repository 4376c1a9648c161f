//! Security headers on every answer the router gives: the Content-Security-Policy built from
//! the served `index.html`, `X-Content-Type-Options`, `Referrer-Policy`,
//! `Permissions-Policy`. (`Strict-Transport-Security`, only over TLS, is added outside the
//! router by `crate::tls::with_hsts`.)
//!
//! The policy allows exactly what the app does (ARCHITECTURE.md, "The picture"): its own
//! scripts, styles and wasm (`'wasm-unsafe-eval'`, which `WebAssembly.instantiateStreaming`
//! needs); the built `index.html`'s inline scripts (Trunk's bootstrap `<script
//! type="module">` and the theme's pre-paint line), each by its SHA-256 taken from the built
//! file; `fetch` and the realtime websocket to the backend (`'self'` for the
//! embedded server, whose `/config.json` says `supabase_url: ""`; CSP Level 3 lets `'self'`
//! match `ws:`/`wss:` on the same host and port, which Chromium and Firefox do); the alert
//! ticker's `blob:` worker (`src/ticker.rs`); the favicon with its state dot, a `data:` SVG
//! (`src/alerts/title.rs`). Sources: W3C CSP Level 3, MDN "Content-Security-Policy",
//! W3C Permissions Policy.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use sha2::{Digest, Sha256};

/// `Permissions-Policy`: every powerful feature off but `autoplay` for this origin (the
/// alert tones' `AudioContext` falls under Chromium's autoplay policy). Notifications and
/// Web Locks, which the app uses, are not policy-controlled features. Only names Chromium
/// knows are listed: an unknown one is a console error there (Linux Chromium 148 does not
/// know `web-share`, so it is left out).
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(self), camera=(), \
display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), \
magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), \
publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), \
xr-spatial-tracking=()";

/// The policy of answers no document is built from: JSON from the API and errors. It allows
/// nothing (OWASP REST Security Cheat Sheet, "Security headers": `default-src 'none';
/// frame-ancestors 'none'` for API answers), and at about 40 bytes instead of the app
/// policy's 370 it keeps the headers of the many small API answers small.
pub const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The security headers (name, value) of the answers written outside the router: hyper's
/// own error answers ([`crate::hyper_errors`]) and the over-cap 503 (`crate::serve`). A JSON
/// error no document loads needs no app policy, only one that allows nothing, and `nosniff`.
pub const BARE_ERROR_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", API_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

/// Whether `path` is the API's (`/rest/`, `/auth/`, `/realtime/`, `/config.json`,
/// `/health`): answered with JSON that no browser renders as the app's document, so with
/// [`API_POLICY`]. Everything else is the app (its files and the SPA fallback) and gets the
/// app's policy, its 304s included: a 304's headers replace the cached answer's (RFC 9111
/// §4.3.4), so a revalidated `index.html` must keep the policy it runs under.
pub fn is_api_path(path: &str) -> bool {
    ["/rest/", "/auth/", "/realtime/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || path == "/config.json"
        || path == "/health"
}

/// The `'sha256-…'` source of every inline `<script>` (one without `src`) in `html`, in
/// order: the hash of the exact text between the opening tag's `>` and `</script>`, as CSP
/// Level 3 §8.4 hashes inline script content.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(open) = lower[at..].find("<script").map(|i| at + i) {
        let Some(tag_end) = lower[open..].find('>').map(|i| open + i) else {
            break;
        };
        let Some(close) = lower[tag_end..].find("</script").map(|i| tag_end + i) else {
            break;
        };
        let tag = &lower[open..tag_end];
        let has_src = tag
            .split(|c: char| c.is_ascii_whitespace())
            .any(|attr| attr.starts_with("src="));
        if !has_src {
            let digest = Sha256::digest(&html.as_bytes()[tag_end + 1..close]);
            hashes.push(format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ));
        }
        at = close;
    }
    hashes
}

/// The `connect-src` sources for a backend URL as `/config.json` publishes it
/// (`supabase_url`): nothing more than `'self'` for `""` (this origin), else the origin and
/// the same host under the websocket scheme (`https:` → `wss:`, `http:` → `ws:`), which the
/// realtime client opens. `None` for a URL that is not `http(s)://host[:port]`.
pub fn backend_sources(url: &str) -> Option<Vec<String>> {
    let url = url.trim().trim_end_matches('/');
    if url.is_empty() {
        return Some(Vec::new());
    }
    let (ws, rest) = if let Some(rest) = url.strip_prefix("https://") {
        ("wss", rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        ("ws", rest)
    } else {
        return None;
    };
    // The origin only: a path would narrow connect-src to that path in CSP, and the app
    // calls /auth/v1, /rest/v1 and /realtime/v1 under it.
    let host = rest.split('/').next().unwrap_or_default();
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    valid.then(|| {
        vec![
            url[..url.len() - rest.len()].to_string() + host,
            format!("{ws}://{host}"),
        ]
    })
}

/// The Content-Security-Policy for an app whose `index.html` has the inline scripts
/// `script_hashes` (see [`inline_script_hashes`]), talking to `backend` (see
/// [`backend_sources`]).
pub fn content_security_policy(script_hashes: &[String], backend: &[String]) -> String {
    let mut script = vec!["'self'", "'wasm-unsafe-eval'"];
    script.extend(script_hashes.iter().map(String::as_str));
    let mut connect = vec!["'self'"];
    connect.extend(backend.iter().map(String::as_str));
    [
        "default-src 'self'".to_string(),
        format!("script-src {}", script.join(" ")),
        // The app sets no inline style (no `style` attributes, no <style>): its own CSS only.
        "style-src 'self'".to_string(),
        "img-src 'self' data:".to_string(),
        format!("connect-src {}", connect.join(" ")),
        "worker-src 'self' blob:".to_string(),
        "object-src 'none'".to_string(),
        "base-uri 'none'".to_string(),
        "form-action 'self'".to_string(),
        "frame-ancestors 'none'".to_string(),
    ]
    .join("; ")
}

/// Every security header, by name and value, for a policy `csp`.
pub fn security_headers(csp: &str) -> Vec<(HeaderName, HeaderValue)> {
    let value = |s: &str| {
        HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
    };
    vec![
        (header::CONTENT_SECURITY_POLICY, value(csp)),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(PERMISSIONS_POLICY),
        ),
    ]
}

/// A file's identity for noticing it was rebuilt: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

/// A set of headers, shared by every answer until `index.html` changes.
type Headers = Arc<Vec<(HeaderName, HeaderValue)>>;

/// The security headers of a running server, rebuilt when the served `index.html` changes
/// (a `trunk build` while the server runs changes the bootstrap script's hash).
pub struct SecurityHeaders {
    index_html: Option<PathBuf>,
    backend: Vec<String>,
    current: RwLock<(Stamp, Headers)>,
    /// The API's: [`API_POLICY`] and the rest of [`security_headers`].
    api: Headers,
}

impl SecurityHeaders {
    /// Headers for the app in `dist` (if any) using the backend `supabase_url` (`""`: this
    /// origin).
    pub fn new(dist: Option<PathBuf>, supabase_url: &str) -> SecurityHeaders {
        let headers = SecurityHeaders {
            index_html: dist.map(|d| d.join("index.html")),
            backend: backend_sources(supabase_url).unwrap_or_default(),
            current: RwLock::new((None, Arc::new(Vec::new()))),
            api: Arc::new(security_headers(API_POLICY)),
        };
        headers.refresh();
        headers
    }

    fn stamp(&self) -> Stamp {
        let meta = std::fs::metadata(self.index_html.as_ref()?).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }

    /// Rebuilds the headers if `index.html` is not the one they were built from.
    fn refresh(&self) {
        let stamp = self.stamp();
        {
            let current = self.read();
            if current.0 == stamp && !current.1.is_empty() {
                return;
            }
        }
        let html = self
            .index_html
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let csp = content_security_policy(&inline_script_hashes(&html), &self.backend);
        let built = Arc::new(security_headers(&csp));
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (stamp, built);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (Stamp, Headers)> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The headers for an answer of the API (`api`, see [`is_api_path`]) or of the app; for
    /// the app's HTML (the document whose policy the browser enforces) after checking that
    /// `index.html` has not been rebuilt.
    pub fn current(&self, api: bool, html: bool) -> Headers {
        if api {
            return self.api.clone();
        }
        if html {
            self.refresh();
        }
        self.read().1.clone()
    }
}

/// Middleware setting [`SecurityHeaders`] on every answer, replacing any a handler set.
pub async fn apply(
    State(headers): State<Arc<SecurityHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let api = is_api_path(request.uri().path());
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    for (name, value) in headers.current(api, html).iter() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bootstrap Trunk 0.21 writes into `dist/index.html`.
    const TRUNK_HTML: &str = "<head><link rel=\"modulepreload\" href=\"/a-1.js\">\n<script type=\"module\">\nimport init from '/a-1.js';\nawait init();\n</script><script src=\"/x.js\"></script></head>";

    #[test]
    fn the_inline_bootstrap_is_hashed_and_external_scripts_are_not() {
        let hashes = inline_script_hashes(TRUNK_HTML);
        let digest = Sha256::digest(b"\nimport init from '/a-1.js';\nawait init();\n");
        let expected = format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        assert_eq!(hashes, [expected]);
        assert!(inline_script_hashes("<p>no scripts</p>").is_empty());
        assert!(inline_script_hashes("<script>unclosed").is_empty());
    }

    #[test]
    fn the_backend_and_its_websocket_are_allowed() {
        assert_eq!(backend_sources(""), Some(vec![]));
        assert_eq!(
            backend_sources("https://abc.supabase.co/"),
            Some(vec![
                "https://abc.supabase.co".to_string(),
                "wss://abc.supabase.co".to_string()
            ])
        );
        assert_eq!(
            backend_sources("http://10.0.0.5:3000/base"),
            Some(vec![
                "http://10.0.0.5:3000".to_string(),
                "ws://10.0.0.5:3000".to_string()
            ])
        );
        assert_eq!(backend_sources("ftp://x"), None);
        assert_eq!(backend_sources("https://x; script-src *"), None);
    }

    #[test]
    fn the_policy_allows_only_what_the_app_uses() {
        let csp = content_security_policy(
            &["'sha256-AAA='".to_string()],
            &backend_sources("https://abc.supabase.co").unwrap(),
        );
        assert_eq!(
            csp,
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'sha256-AAA='; \
             style-src 'self'; img-src 'self' data:; \
             connect-src 'self' https://abc.supabase.co wss://abc.supabase.co; \
             worker-src 'self' blob:; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        );
        assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"));
    }

    #[test]
    fn the_api_is_told_from_the_app_by_path() {
        for api in [
            "/rest/v1/messages",
            "/auth/v1/token",
            "/realtime/v1/websocket",
            "/config.json",
            "/health",
        ] {
            assert!(is_api_path(api), "{api}");
        }
        for app in [
            "/",
            "/index.html",
            "/messages/abc",
            "/switchboard-1.js",
            "/rest",
            "/config.json.br",
            "/authors",
        ] {
            assert!(!is_api_path(app), "{app}");
        }
    }

    #[test]
    fn every_header_is_set() {
        let names: Vec<_> = security_headers("x")
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "content-security-policy",
                "x-content-type-options",
                "referrer-policy",
                "permissions-policy"
            ]
        );
    }

    #[test]
    fn a_rebuilt_index_html_changes_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let write = |body: &str| std::fs::write(dir.path().join("index.html"), body).unwrap();
        write("<script type=\"module\">one</script>");
        let headers = SecurityHeaders::new(Some(dir.path().to_path_buf()), "");
        let csp =
            |h: &SecurityHeaders, html| h.current(false, html)[0].1.to_str().unwrap().to_string();
        let before = csp(&headers, true);
        // A different length changes the stamp even within the file system's mtime step.
        write("<script type=\"module\">two, longer</script>");
        assert_eq!(csp(&headers, false), before, "other files skip the check");
        assert_eq!(
            headers.current(true, false)[0].1.to_str().unwrap(),
            API_POLICY,
            "the API has its own"
        );
        let after = csp(&headers, true);
        assert_ne!(after, before);
        assert_eq!(
            after,
            content_security_policy(
                &inline_script_hashes("<script type=\"module\">two, longer</script>"),
                &[]
            )
        );
    }
}

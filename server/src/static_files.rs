//! The built app (`dist/`): files through tower-http's `ServeDir`, which picks a
//! precompressed `.br` or `.gz` sibling by `Accept-Encoding` (`cargo xtask` writes them after
//! `trunk build`; without them the file goes out as it is) and answers `If-Modified-Since`
//! from `Last-Modified`; unknown paths get `index.html` (client routes). This module adds
//! what `ServeDir` leaves out:
//!
//! - `Vary: Accept-Encoding` on every file answer, since any of them may have a sibling;
//! - `Cache-Control` (RFC 9111): Trunk's content-hashed names (`name-<16 hex>.ext`) never
//!   change content, so `public, max-age=31536000, immutable`; everything else (`index.html`,
//!   the SPA fallback, unhashed copies) `no-cache`, i.e. revalidate on every use;
//! - a strong `ETag` (RFC 9110 §8.8.3): the first 128 bits of the file's SHA-256, computed
//!   once per file and again only when its modification time or length changes, with the
//!   content coding appended (`"…-br"`), as each coding is a representation of its own; an
//!   `If-None-Match` that matches is answered 304, and, as RFC 9110 §13.1.3 requires,
//!   `If-Modified-Since` is then ignored.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::middleware::Next;
use axum::Router;
use sha2::{Digest, Sha256};
use tower::ServiceBuilder;
use tower_http::services::{ServeDir, ServeFile};

/// `Cache-Control` of a content-hashed asset: a year, never revalidated (RFC 8246).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of everything whose content may change under the same name.
pub const NO_CACHE: &str = "no-cache";

/// Marks an answer given by the SPA fallback (`index.html` for an unknown path).
#[derive(Clone, Copy)]
struct SpaFallback;

/// Whether a file name carries Trunk's content hash: `name-<16 hex digits>` before the
/// extension, with wasm-bindgen's `_bg` after it for the module (`app-0123…cdef_bg.wasm`).
pub fn is_hashed(file_name: &str) -> bool {
    let stem = file_name.split('.').next().unwrap_or_default();
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    match stem.rsplit_once('-') {
        Some((name, hash)) => {
            !name.is_empty() && hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// The `Cache-Control` for a request path answered from `dist/` (not by the fallback).
pub fn cache_control(path: &str) -> &'static str {
    match path.rsplit('/').next() {
        Some(name) if is_hashed(name) => IMMUTABLE,
        _ => NO_CACHE,
    }
}

/// Whether the `If-None-Match` header values `header` match `etag` by the weak comparison
/// RFC 9110 §13.1.2 prescribes for it (`W/` ignored; `*` matches any).
pub fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let etag = strip(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || strip(t) == etag)
}

/// The ETag of a file whose content hashes to `hash`, as sent with `content_encoding`.
pub fn etag(hash: &str, content_encoding: Option<&str>) -> String {
    match content_encoding {
        Some(coding) if coding != "identity" => format!("\"{hash}-{coding}\""),
        _ => format!("\"{hash}\""),
    }
}

/// The file under `root` a request path names, as `ServeDir` resolves it (a trailing `/`
/// means its `index.html`); `None` for anything with `..`, or percent-encoded (none of the
/// built files' names need encoding, so these only miss an ETag).
fn file_for(root: &Path, path: &str) -> Option<PathBuf> {
    if path.contains('%') {
        return None;
    }
    let relative = Path::new(path.trim_start_matches('/'));
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let mut file = root.join(relative);
    if path.ends_with('/') {
        file.push("index.html");
    }
    Some(file)
}

/// Content hashes of the served files, keyed by path, each with the modification time and
/// length it was computed for.
#[derive(Default)]
struct Hashes(Mutex<HashMap<PathBuf, (SystemTime, u64, String)>>);

impl Hashes {
    /// The hash of `file` (hex, 128 bits), computed off the runtime's threads when it is
    /// new or changed; `None` when it cannot be read.
    async fn of(&self, file: PathBuf) -> Option<String> {
        let meta = tokio::fs::metadata(&file).await.ok()?;
        let stamp = (meta.modified().ok()?, meta.len());
        if let Some((at, len, hash)) = self.lock().get(&file) {
            if (*at, *len) == stamp {
                return Some(hash.clone());
            }
        }
        let read = file.clone();
        let hash = tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(read).ok()?;
            let digest = Sha256::digest(&bytes);
            Some(
                digest[..16]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
            )
        })
        .await
        .ok()??;
        self.lock().insert(file, (stamp.0, stamp.1, hash.clone()));
        Some(hash)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (SystemTime, u64, String)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the header middleware needs: the served directory and the files' hashes.
struct Site {
    root: PathBuf,
    hashes: Hashes,
}

/// The service answering from `dist`: its files, precompressed where a sibling exists,
/// with `index.html` for any other path, and the caching headers above.
pub fn service(dist: &Path) -> Router {
    let index = dist.join("index.html");
    let fallback = ServiceBuilder::new()
        .map_response(|mut response: Response<_>| {
            response.extensions_mut().insert(SpaFallback);
            response
        })
        .service(
            ServeFile::new(&index)
                .precompressed_br()
                .precompressed_gzip(),
        );
    let files = ServeDir::new(dist)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(fallback);
    let site = Arc::new(Site {
        root: dist.to_path_buf(),
        hashes: Hashes::default(),
    });
    Router::new()
        .fallback_service(files)
        .layer(axum::middleware::from_fn_with_state(site, caching))
}

/// Adds `Vary`, `Cache-Control` and `ETag` to a file answer and turns it into a 304 when
/// the client's `If-None-Match` names the ETag.
async fn caching(
    State(site): State<Arc<Site>>,
    mut request: Request,
    next: Next,
) -> Response<Body> {
    let path = request.uri().path().to_string();
    let conditional = request.headers().contains_key(header::IF_NONE_MATCH);
    let asked = request.headers().clone();
    if conditional {
        request.headers_mut().remove(header::IF_MODIFIED_SINCE);
    }
    let mut response = next.run(request).await;
    let status = response.status();
    if !(status.is_success() || status == StatusCode::NOT_MODIFIED) {
        return response;
    }
    let fallback = response.extensions().get::<SpaFallback>().is_some();
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let cache = if fallback {
        NO_CACHE
    } else {
        cache_control(&path)
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // Ranges keep Last-Modified only: an ETag names the whole representation.
    if status != StatusCode::OK {
        return response;
    }
    let file = if fallback {
        Some(site.root.join("index.html"))
    } else {
        file_for(&site.root, &path)
    };
    let Some(hash) = (match file {
        Some(file) => site.hashes.of(file).await,
        None => None,
    }) else {
        return response;
    };
    let coding = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let tag = etag(&hash, coding);
    let Ok(value) = HeaderValue::from_str(&tag) else {
        return response;
    };
    response.headers_mut().insert(header::ETAG, value);
    if conditional && none_match(&asked, &tag) {
        let (mut parts, _) = response.into_parts();
        parts.status = StatusCode::NOT_MODIFIED;
        // RFC 9110 §15.4.5: a 304 carries the validators and caching headers of the 200 it
        // stands for, and no content.
        for name in [
            header::CONTENT_LENGTH,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::ACCEPT_RANGES,
        ] {
            parts.headers.remove(name);
        }
        return Response::from_parts(parts, Body::empty());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_s_hashed_names_are_immutable() {
        for hashed in [
            "switchboard-ebd823cf01ff1ff0.js",
            "switchboard-ebd823cf01ff1ff0_bg.wasm",
            "main-b02e2f84a53143b3.css",
            "favicon-ebe8d4734f6b8145.svg",
            "switchboard-ebd823cf01ff1ff0_bg.wasm.br",
        ] {
            assert!(is_hashed(hashed), "{hashed}");
            assert_eq!(cache_control(&format!("/{hashed}")), IMMUTABLE);
        }
        for plain in [
            "index.html",
            "favicon.svg",
            "config.json",
            "my-file.js",
            "-ebd823cf01ff1ff0.js",
            "a-ebd823cf01ff1ffz.js",
            "a-ebd823cf01ff1ff0a.js",
        ] {
            assert!(!is_hashed(plain), "{plain}");
        }
        assert_eq!(cache_control("/"), NO_CACHE);
        assert_eq!(cache_control("/public/favicon.svg"), NO_CACHE);
    }

    #[test]
    fn etags_name_the_coding_and_match_weakly() {
        assert_eq!(etag("ab", None), "\"ab\"");
        assert_eq!(etag("ab", Some("identity")), "\"ab\"");
        assert_eq!(etag("ab", Some("br")), "\"ab-br\"");
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"ab-br\""),
        );
        assert!(none_match(&h, "\"ab-br\""));
        assert!(!none_match(&h, "\"ab\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&h, "\"anything\""));
        assert!(!none_match(&HeaderMap::new(), "\"ab\""));
    }

    #[test]
    fn paths_resolve_inside_the_root_only() {
        let root = Path::new("/d");
        assert_eq!(file_for(root, "/a.js"), Some(PathBuf::from("/d/a.js")));
        assert_eq!(file_for(root, "/"), Some(PathBuf::from("/d/index.html")));
        assert_eq!(
            file_for(root, "/public/"),
            Some(PathBuf::from("/d/public/index.html"))
        );
        assert_eq!(file_for(root, "/../etc/passwd"), None);
        assert_eq!(file_for(root, "/a%20b.js"), None);
    }
}

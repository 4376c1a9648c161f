//! On-the-fly compression of the JSON API's answers (auth and REST; never the realtime
//! upgrade, and not static files, which come precompressed: `crate::static_files`).
//!
//! tower-http's `CompressionLayer` picks brotli (quality 4) or gzip by `Accept-Encoding`,
//! sets `Content-Encoding` and `Vary: Accept-Encoding`, and streams the body through the
//! encoder, so the REST answer cap (`max_response_bytes`, checked on the rows before the
//! body exists) is unchanged and no body is held twice. Only bodies over 1 KiB: below that
//! the coding's overhead and the CPU outweigh the bytes saved.
//!
//! One adjustment: the layer never compresses an answer with `Content-Range`, taking it for
//! a byte range, but PostgREST puts an item range (`0-49/*`) on every read's 200. Such a
//! header is set aside under [`ITEM_RANGE`] while the layer looks and put back after; a real
//! byte range (a 206) is left as it is.

use axum::http::{header, HeaderName, Response, StatusCode};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;

/// Where an item range waits while the compression layer decides; never sent.
pub const ITEM_RANGE: HeaderName = HeaderName::from_static("x-switchboard-item-range");

/// Smallest body compressed, in bytes.
pub const MIN_BYTES: u16 = 1024;

/// `router` with its answers compressed as described above.
pub fn api<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(
        ServiceBuilder::new()
            .map_response(|response| rename(response, &ITEM_RANGE, &header::CONTENT_RANGE))
            .layer(
                CompressionLayer::new()
                    .no_deflate()
                    .no_zstd()
                    .compress_when(predicate()),
            )
            .map_response(|response| rename(response, &header::CONTENT_RANGE, &ITEM_RANGE)),
    )
}

fn predicate() -> impl Predicate {
    SizeAbove::new(MIN_BYTES)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
}

/// Moves header `from` to `to` on anything but a 206.
fn rename<B>(mut response: Response<B>, from: &HeaderName, to: &HeaderName) -> Response<B> {
    if response.status() != StatusCode::PARTIAL_CONTENT {
        if let Some(value) = response.headers_mut().remove(from) {
            response.headers_mut().insert(to.clone(), value);
        }
    }
    response
}

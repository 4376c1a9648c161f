//! hyper's own error answers, given PostgREST's JSON shape on their way to the socket.
//!
//! hyper answers a request it cannot parse before any service runs: 414 for a URI past
//! 65,534 bytes, 431 for a head past its read buffer or past 100 headers, 400 for one that
//! is not HTTP. It writes those heads with `connection: close`, `content-length: 0` and no
//! body, and the router (with [`crate::error::shape_bare_errors`]) never sees them. Every
//! error the router answers has a JSON body, so a 4xx or 5xx head that says
//! `content-length: 0` can only be one of hyper's; [`Shaped`] rewrites exactly those, on the
//! connection's write side, into the head and body [`crate::error::bare_error`] gives.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::http::{Method, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::bare_error;

/// The header hyper writes for an answer without a body.
const EMPTY_BODY: &[u8] = b"\r\ncontent-length: 0\r\n";

/// The whole answer (head and PostgREST-shaped JSON body) to write instead of `head`, when
/// `head` is a complete bodiless 4xx/5xx head as hyper writes it (`HTTP/1.1 NNN …`, ending
/// in a blank line, with `content-length: 0`); `None` for anything else, which is written
/// as it is.
pub fn shaped(head: &[u8]) -> Option<Vec<u8>> {
    let rest = head.strip_prefix(b"HTTP/1.1 ")?;
    let code = std::str::from_utf8(rest.get(..3)?).ok()?;
    let status = StatusCode::from_bytes(code.as_bytes()).ok()?;
    let bodiless =
        head.ends_with(b"\r\n\r\n") && head.windows(EMPTY_BODY.len()).any(|w| w == EMPTY_BODY);
    if !(status.is_client_error() || status.is_server_error()) || !bodiless {
        return None;
    }
    let body = bare_error(status, &Method::GET, None).body()?.to_string();
    let mut lines: Vec<&[u8]> = head[..head.len() - 4]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.eq_ignore_ascii_case(b"content-length: 0"))
        .collect();
    let length = format!("content-length: {}", body.len());
    lines.push(b"content-type: application/json; charset=utf-8");
    lines.push(length.as_bytes());
    // The router's answers carry crate::headers::security_headers; these carry the ones
    // that matter for a JSON error no page loads (issue 14).
    let security: Vec<String> = crate::headers::BARE_ERROR_HEADERS
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    lines.extend(security.iter().map(String::as_bytes));
    let mut out = lines.join(&b"\r\n"[..]);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

/// An I/O object whose writes pass through [`shaped`]: hyper's bodiless error heads leave
/// it with a JSON body, everything else unchanged.
pub struct Shaped<T> {
    inner: T,
    /// A rewritten answer still being written: its bytes, how many are out, and the length
    /// of the write it replaces (reported to hyper once all of it is out).
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> Shaped<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        Shaped {
            inner,
            pending: None,
        }
    }
}

impl<T: AsyncWrite + Unpin> Shaped<T> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        while let Some((bytes, written, replaced)) = &mut self.pending {
            if *written == bytes.len() {
                let replaced = *replaced;
                self.pending = None;
                return Poll::Ready(Ok(replaced));
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(0))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Shaped<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Shaped<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        // hyper repeats a write that returned Pending with the same bytes, so a rewrite
        // under way is carried on rather than started again.
        if self.pending.is_none() {
            match shaped(buf) {
                Some(bytes) => self.pending = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        self.drain(cx)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then writes each answer's head as one buffer, which is what
    // `shaped` looks at (bodies are copied into it too; the cost is one copy per write).
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYPER_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 04:11:43 GMT\r\n\r\n";

    fn split(answer: &[u8]) -> (String, serde_json::Value) {
        let at = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(answer[..at].to_vec()).unwrap();
        (head, serde_json::from_slice(&answer[at + 4..]).unwrap())
    }

    #[test]
    fn hypers_bodiless_error_heads_get_a_postgrest_body() {
        for (status, head) in [
            (431, HYPER_431.to_vec()),
            (414, b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n".to_vec()),
            (400, b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n".to_vec()),
        ] {
            let (head, body) = split(&shaped(&head).unwrap());
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
            assert!(head.contains("connection: close") && head.contains("date: "));
            assert!(!head.contains("content-length: 0"), "{head}");
            assert!(head.contains("content-type: application/json"));
            assert!(head.contains("\r\nx-content-type-options: nosniff"), "{head}");
            assert!(head.contains("\r\ncontent-security-policy: default-src 'none'"));
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(length, body.to_string().len());
            assert_eq!(body["code"], format!("PGRST{status}"));
            let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["code", "details", "hint", "message"]);
        }
    }

    #[test]
    fn everything_else_is_written_as_it_is() {
        for other in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 68\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\ncontent-length: 0\r\n\r\n",
            b"{\"code\":\"HTTP/1.1 400 \"}",
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n",
            b"",
        ] {
            assert_eq!(shaped(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[tokio::test]
    async fn a_rewrite_is_written_whole_through_short_writes() {
        use tokio::io::AsyncWriteExt;
        // A duplex pipe with a 7-byte buffer makes every write short and most of them wait.
        let (near, mut far) = tokio::io::duplex(7);
        let reader = tokio::spawn(async move {
            let mut out = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut far, &mut out)
                .await
                .unwrap();
            out
        });
        let mut conn = Shaped::new(near);
        conn.write_all(HYPER_431).await.unwrap();
        conn.shutdown().await.unwrap();
        drop(conn);
        let out = reader.await.unwrap();
        assert_eq!(out, shaped(HYPER_431).unwrap());
    }
}

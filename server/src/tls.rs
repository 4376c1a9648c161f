//! HTTPS and WSS: the PEM certificate chain and key of `--tls-cert`/`--tls-key` loaded into
//! a rustls server configuration, the `cert` subcommand's self-signed pair for trying it on
//! a LAN, and the HSTS header sent only when TLS is on.
//!
//! Why TLS at all: a dispatch centre reaches the server over its LAN, and browsers keep
//! desktop notifications, Web Locks and service workers to secure contexts (`https:`, or
//! `http://localhost`; MDN "Secure contexts"), so plain HTTP silences the alerting for
//! everyone not on the server's own machine.
//!
//! Crates: rustls (through tokio-rustls, whose `TlsAcceptor` wraps each stream the accept
//! loop in [`crate::serve`] has already admitted, so its cap, timeouts and shaping keep
//! working) with ring as its one crypto provider; PEM parsing from rustls-pki-types; rcgen
//! for the self-signed pair.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::Router;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// The files of `--tls-cert FILE --tls-key FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server's certificate first, then any intermediates (`CERTIFICATE` blocks).
    pub cert: PathBuf,
    /// PEM: its private key (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`).
    pub key: PathBuf,
}

/// `Strict-Transport-Security` (RFC 6797) for a year. No `includeSubDomains`: names under
/// a LAN host's are not this server's to pin.
pub const HSTS: &str = "max-age=31536000";

/// Loads `files` into an acceptor for the accept loop. Only HTTP/1.1 is offered in ALPN:
/// the loop runs hyper's HTTP/1 server (websockets upgrade from HTTP/1.1 too).
///
/// # Errors
/// [`Error::Config`] naming the flag, the file and the reason: unreadable, no PEM block of
/// the kind wanted, or a key that is not the certificate's.
pub fn load(files: &TlsFiles) -> Result<TlsAcceptor> {
    let cert_error =
        |reason: String| Error::Config(format!("--tls-cert {}: {reason}", files.cert.display()));
    let key_error =
        |reason: String| Error::Config(format!("--tls-key {}: {reason}", files.key.display()));
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| cert_error(pem_reason(e)))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| cert_error(pem_reason(e)))?;
    if certs.is_empty() {
        return Err(cert_error("no PEM CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => key_error(
            "no PEM private key block (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)".into(),
        ),
        e => key_error(pem_reason(e)),
    })?;
    // The provider is named rather than taken from the process default, which panics when
    // another crate in the build enables a second one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            Error::Config(format!(
                "--tls-cert {} and --tls-key {} are not a usable pair: {e}",
                files.cert.display(),
                files.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A PEM error as a sentence: the I/O error itself (e.g. "No such file or directory")
/// rather than its wrapper.
fn pem_reason(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM block of the kind wanted".into(),
        other => format!("not valid PEM: {other}"),
    }
}

/// Adds [`HSTS`] to every response of `app` when `tls` is on (a browser ignores it over
/// plain HTTP anyway, RFC 6797 §8.1, but it must not claim HTTPS the server does not
/// serve).
pub fn with_hsts(app: Router, tls: bool) -> Router {
    if tls {
        app.layer(axum::middleware::map_response(hsts))
    } else {
        app
    }
}

async fn hsts(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::STRICT_TRANSPORT_SECURITY)
        .or_insert(HeaderValue::from_static(HSTS));
    response
}

/// What `switchboard-server cert` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRequest {
    /// The names clients reach the server by: each an IP address or a DNS name, each a
    /// subject alternative name of the certificate.
    pub hosts: Vec<String>,
    /// Where `cert.pem` and `key.pem` go (`--out`, default `data/tls`).
    pub out: PathBuf,
}

impl CertRequest {
    /// Parses `--host NAME… [--out DIR]` (`--host` repeated, at least once).
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown flag, a missing value or no `--host`.
    pub fn from_args(args: &[String]) -> Result<CertRequest> {
        let mut request = CertRequest {
            hosts: Vec::new(),
            out: PathBuf::from("data/tls"),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .cloned()
                .ok_or_else(|| Error::Config(format!("{flag} needs a value")));
            match flag.as_str() {
                "--host" => request.hosts.push(value?),
                "--out" => request.out = PathBuf::from(value?),
                other => return Err(Error::Config(format!("cert: unknown flag {other}"))),
            }
        }
        if request.hosts.is_empty() {
            return Err(Error::Config(
                "cert needs at least one --host (an IP address or a DNS name)".into(),
            ));
        }
        Ok(request)
    }
}

/// How long a generated certificate is valid: 397 days, within the 398 browsers accept
/// for a server certificate (CA/Browser Forum baseline requirements).
const VALID_DAYS: i64 = 397;

/// A self-signed certificate for `hosts` (each a subject alternative name: IP address or
/// DNS name) valid from a day before `now` (clocks on a LAN disagree) for [`VALID_DAYS`],
/// and its new ECDSA P-256 key: `(cert_pem, key_pem)`.
///
/// # Errors
/// [`Error::Config`] for a host that is neither an IP address nor a DNS name.
pub fn self_signed(hosts: &[String], now: time::OffsetDateTime) -> Result<(String, String)> {
    // rcgen takes any ASCII as a DNS name; a name no client can ask for is refused here,
    // by the rules the server's own TLS library checks names with.
    for host in hosts {
        if rustls::pki_types::ServerName::try_from(host.as_str()).is_err() {
            return Err(Error::Config(format!(
                "--host {host}: not an IP address or a DNS name"
            )));
        }
    }
    let mut params = rcgen::CertificateParams::new(hosts.to_vec()).map_err(|e| {
        Error::Config(format!(
            "--host: {} are not all IP addresses or DNS names: {e}",
            hosts.join(", ")
        ))
    })?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("Switchboard (self-signed) {}", hosts[0]),
    );
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(VALID_DAYS);
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().map_err(|e| Error::Config(format!("key: {e}")))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| Error::Config(format!("certificate: {e}")))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a [`self_signed`] pair as `cert.pem` and `key.pem` (owner-only, 0600) under
/// `request.out`, creating it; never overwrites either file. Returns their paths.
///
/// # Errors
/// [`Error::Config`] when a file is already there; [`Error::Io`] when writing fails.
pub fn write_pair(request: &CertRequest) -> Result<TlsFiles> {
    let files = TlsFiles {
        cert: request.out.join("cert.pem"),
        key: request.out.join("key.pem"),
    };
    for path in [&files.cert, &files.key] {
        if path.exists() {
            return Err(Error::Config(format!(
                "{} exists already; remove it or choose another --out",
                path.display()
            )));
        }
    }
    let (cert, key) = self_signed(&request.hosts, time::OffsetDateTime::now_utc())?;
    std::fs::create_dir_all(&request.out)?;
    write_new(&files.key, key.as_bytes(), 0o600)?;
    write_new(&files.cert, cert.as_bytes(), 0o644)?;
    Ok(files)
}

/// Creates `path` (failing if it exists) with `mode` on Unix, so a key is never readable
/// by others even for a moment.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// `switchboard-server cert --host NAME… [--out DIR]`: writes the pair and says how to
/// serve with it.
///
/// # Errors
/// As [`CertRequest::from_args`] and [`write_pair`].
pub fn run_cli(args: &[String]) -> Result<()> {
    let request = CertRequest::from_args(args)?;
    let files = write_pair(&request)?;
    println!(
        "Wrote a self-signed certificate for {} (valid {VALID_DAYS} days):\n  {}\n  {} (owner-only)\n\
         Serve with: switchboard-server --tls-cert {} --tls-key {} …\n\
         Browsers warn about a self-signed certificate until it is trusted; a real centre \
         uses a certificate from its own CA.",
        request.hosts.join(", "),
        files.cert.display(),
        files.key.display(),
        files.cert.display(),
        files.key.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_tls_flags_come_as_a_pair() {
        let c = Config::from_args(&args(&["--tls-cert", "c.pem", "--tls-key", "k.pem"])).unwrap();
        assert_eq!(
            c.tls,
            Some(TlsFiles {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
        assert_eq!(Config::from_args(&[]).unwrap().tls, None, "plain HTTP");
        for half in [["--tls-cert", "c.pem"], ["--tls-key", "k.pem"]] {
            let e = Config::from_args(&args(&half)).unwrap_err().to_string();
            assert!(e.contains("--tls-cert") && e.contains("--tls-key"), "{e}");
        }
    }

    #[test]
    fn cert_needs_a_host_and_takes_an_out_dir() {
        let r = CertRequest::from_args(&args(&[
            "--host",
            "dispatch.local",
            "--host",
            "192.168.1.20",
            "--out",
            "x",
        ]))
        .unwrap();
        assert_eq!(r.hosts, ["dispatch.local", "192.168.1.20"]);
        assert_eq!(r.out, PathBuf::from("x"));
        assert_eq!(
            CertRequest::from_args(&args(&["--host", "a"])).unwrap().out,
            PathBuf::from("data/tls")
        );
        assert!(CertRequest::from_args(&[]).is_err());
        assert!(CertRequest::from_args(&args(&["--host"])).is_err());
        assert!(CertRequest::from_args(&args(&["--port", "1"])).is_err());
    }

    #[test]
    fn a_host_that_is_no_name_is_refused() {
        let now = time::OffsetDateTime::now_utc();
        assert!(self_signed(&["bad name!".into()], now).is_err());
    }

    #[test]
    fn a_written_pair_loads_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let request = CertRequest {
            hosts: vec!["127.0.0.1".into(), "dispatch.local".into()],
            out: dir.path().join("tls"),
        };
        let files = write_pair(&request).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the key is owner-only");
        }
        load(&files).unwrap();
        let before = std::fs::read(&files.key).unwrap();
        let e = write_pair(&request).unwrap_err().to_string();
        assert!(e.contains("exists already"), "{e}");
        assert_eq!(std::fs::read(&files.key).unwrap(), before);
    }
}

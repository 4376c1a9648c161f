//! Server configuration: command-line flags and tunable limits.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::realtime::channels::ChannelCaps;
use crate::realtime::registry::SocketCaps;

/// Whether to create the demo organisations in an empty database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    /// Seed the demo orgs on first start.
    Demo,
    /// Start empty.
    None,
}

/// Limits that protect the server from a misbehaving client.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Longest a REST read's SQL may run before it is cancelled with 57014, in ms
    /// (`--statement-timeout-ms`, default 8,000: Postgres's `statement_timeout`, which
    /// Supabase sets to 8 s for the `authenticated` role).
    pub read_timeout_ms: u64,
    /// Longest a REST read waits for a read connection before 504 `PGRST003`, in ms (default
    /// 10,000: PostgREST's `db-pool-acquisition-timeout`).
    pub read_wait_ms: u64,
    /// REST reads one user may run at once (default 2, half the read connections); the
    /// user's further reads queue, so the other connections stay free for everyone else.
    pub reads_per_user: usize,
    /// Largest answer of one REST read, its rows' text and keys, in bytes (default 16 MiB:
    /// 1,000 rows of the longest messages); past it 500 `54000`.
    pub max_response_bytes: usize,
    /// Login attempts per client address and email per window: wrong passwords from one
    /// address lock that address out of that account, never the account itself.
    pub login_per_address_email: usize,
    /// Login attempts per client address per window.
    pub login_per_address: usize,
    /// Rate-limit window.
    pub login_window_ms: i64,
    /// Wrong passwords for one email, from any address, within
    /// [`Limits::login_email_backoff_ms`] after which that email is under attack: an address
    /// that has itself failed for it 3 times in that time is refused until those failures
    /// are that old, while other addresses (the rightful user's, typo or two included) still
    /// get their check.
    pub login_email_failures: usize,
    /// How long a failure counts toward [`Limits::login_email_failures`] and keeps its
    /// address refused once the email is under attack (15 min).
    pub login_email_backoff_ms: i64,
    /// Argon2 checks running at once (`--login-concurrency`, default the number of cores):
    /// each holds about 19 MiB (Argon2id's default m = 19456 KiB).
    pub login_concurrency: usize,
    /// Logins that may wait for a check (`--login-queue`, default 16); past them a login is
    /// answered 429 with `Retry-After`.
    pub login_queue: usize,
    /// Open connections at once, websockets included (`--max-connections`); `None` derives
    /// it from the open-file limit ([`crate::serve::connection_cap`]).
    pub max_connections: Option<usize>,
    /// Time a connection has to send a complete request head, counted from when the server
    /// waits for one, so also the keep-alive idle timeout (`--header-timeout-seconds`,
    /// default 10 s; hyper's `header_read_timeout`).
    pub header_timeout_ms: u64,
    /// Time a request body has to arrive in full after its head (`--body-timeout-seconds`,
    /// default 15 s); a slower one is answered 408.
    pub body_timeout_ms: u64,
    /// How long a connection over the cap waits for the idle connection shed for it.
    pub shed_wait_ms: u64,
    /// How long one write to a client may make no progress (the client not reading, its
    /// receive window shut) before the connection is cut, so a reader that never reads
    /// cannot hold a connection slot or stall shutdown (default 30 s; hyper 1.x has no
    /// write timeout of its own). Covers HTTP, HTTPS and websockets alike.
    pub write_stall_ms: u64,
    /// Time a websocket has to join a channel with a user token before it is closed.
    pub ws_join_timeout_ms: u64,
    /// Websockets without a user yet (opened with the anon key, not joined) one client
    /// address may hold (`--anonymous-sockets-per-address`, default 20).
    pub ws_anonymous_per_address: usize,
    /// Largest accepted websocket frame.
    pub ws_max_frame_bytes: usize,
    /// Channels one socket may join (default 10; the app joins one).
    pub ws_channels_per_socket: usize,
    /// `postgres_changes` bindings one join may carry (default 10; the app sends three).
    pub ws_bindings_per_join: usize,
    /// `postgres_changes` bindings all channels of one socket may hold (default 50): each
    /// is matched against every change, so they are bounded like the channels.
    pub ws_bindings_per_socket: usize,
    /// Login sessions of one user that may hold sockets at once, roughly devices
    /// (`--sessions-per-user`, default 10); see [`crate::realtime::registry`].
    pub ws_sessions_per_user: usize,
    /// Sockets one login session may hold at once, roughly tabs of one browser, which all
    /// share the session (`--sockets-per-session`, default 100).
    pub ws_sockets_per_session: usize,
    /// Silence after which a socket is closed (Phoenix uses 60 s).
    pub ws_idle_timeout_ms: u64,
    /// Outgoing frames a socket may have queued before it is cut off as too slow.
    pub ws_send_queue: usize,
    /// How long a spent refresh token may come back without ending the session (GoTrue's
    /// reuse interval, 10 s by default): two tabs refreshing the same session at once.
    pub refresh_reuse_window_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            read_timeout_ms: 8_000,
            read_wait_ms: 10_000,
            reads_per_user: 2,
            max_response_bytes: 16 * 1024 * 1024,
            login_per_address_email: 10,
            login_per_address: 60,
            login_window_ms: 60_000,
            login_email_failures: 10,
            login_email_backoff_ms: 15 * 60_000,
            login_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            login_queue: 16,
            max_connections: None,
            header_timeout_ms: 10_000,
            body_timeout_ms: 15_000,
            shed_wait_ms: 1_000,
            write_stall_ms: 30_000,
            ws_join_timeout_ms: 10_000,
            ws_anonymous_per_address: 20,
            ws_max_frame_bytes: 64 * 1024,
            ws_channels_per_socket: ChannelCaps::default().channels,
            ws_bindings_per_join: ChannelCaps::default().bindings_per_join,
            ws_bindings_per_socket: ChannelCaps::default().bindings_per_socket,
            ws_sessions_per_user: 10,
            ws_sockets_per_session: 100,
            ws_idle_timeout_ms: 60_000,
            ws_send_queue: 1024,
            refresh_reuse_window_ms: 10_000,
        }
    }
}

impl Limits {
    /// What one socket may subscribe to, as the realtime channel machine enforces it.
    pub fn channel_caps(&self) -> ChannelCaps {
        ChannelCaps {
            channels: self.ws_channels_per_socket,
            bindings_per_join: self.ws_bindings_per_join,
            bindings_per_socket: self.ws_bindings_per_socket,
        }
    }

    /// The per-user socket caps the realtime registry enforces.
    pub fn socket_caps(&self) -> SocketCaps {
        SocketCaps {
            sessions_per_user: self.ws_sessions_per_user,
            sockets_per_session: self.ws_sockets_per_session,
        }
    }
}

/// A whole number of at least 1 for `flag`.
fn at_least_one(flag: &str, v: &str) -> Result<usize> {
    v.parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| Error::Config(format!("{flag}: not a whole number >= 1: {v}")))
}

/// Default of `--db`: the database file the server, `backup` and `restore` use.
pub const DEFAULT_DB_PATH: &str = "data/switchboard.db";

/// Default of `--urgent-realert-seconds`.
pub const DEFAULT_URGENT_REALERT_SECS: u64 = 60;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind.
    pub addr: SocketAddr,
    /// SQLite database file.
    pub db_path: PathBuf,
    /// Directory of the built app, served with an SPA fallback.
    pub dist: Option<PathBuf>,
    /// Demo seed or empty.
    pub seed: Seed,
    /// Signing secret; when absent one is generated and kept in the database.
    pub jwt_secret: Option<String>,
    /// Access-token lifetime in seconds.
    pub access_ttl_secs: i64,
    /// Seconds between the app's repeated alerts for an urgent message nobody has
    /// acknowledged (at least 1); published in `/config.json` as `urgent_realert_seconds`.
    pub urgent_realert_secs: u64,
    /// Protective limits.
    pub limits: Limits,
    /// `--tls-cert FILE --tls-key FILE`: serve HTTPS and WSS ([`crate::tls`]); `None` is
    /// plain HTTP.
    pub tls: Option<crate::tls::TlsFiles>,
    /// `--metrics-addr ADDR`: where `GET /metrics` is served ([`crate::metrics`]); `None`
    /// (the default) serves it nowhere. Never the public address: it tells how busy the
    /// server is and who fails to sign in, for a monitoring system on a private network.
    pub metrics_addr: Option<SocketAddr>,
}

impl Config {
    /// A configuration with defaults for everything but the database path.
    pub fn new(db_path: PathBuf) -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            db_path,
            dist: None,
            seed: Seed::Demo,
            jwt_secret: None,
            access_ttl_secs: 3600,
            urgent_realert_secs: DEFAULT_URGENT_REALERT_SECS,
            limits: Limits::default(),
            tls: None,
            metrics_addr: None,
        }
    }

    /// Parses `--addr A --db FILE --dist DIR --seed demo|none --access-ttl SECS
    /// --sessions-per-user N --sockets-per-session N --urgent-realert-seconds N
    /// --statement-timeout-ms N --max-connections N --header-timeout-seconds N
    /// --body-timeout-seconds N --login-concurrency N --login-queue N
    /// --anonymous-sockets-per-address N --metrics-addr A --tls-cert FILE --tls-key FILE`
    /// (the last two together or not at all);
    /// `--sockets-per-user N` is the old name of `--sockets-per-session`, kept for scripts
    /// (one user's benchmark sockets all share one session).
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown flag, a missing value or one out of range.
    pub fn from_args(args: &[String]) -> Result<Self> {
        let mut config = Config::new(PathBuf::from(DEFAULT_DB_PATH));
        let (mut tls_cert, mut tls_key) = (None, None);
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| Error::Config(format!("{flag} needs a value")))
            };
            match flag.as_str() {
                "--addr" => {
                    let v = value()?;
                    config.addr = v
                        .parse()
                        .map_err(|_| Error::Config(format!("--addr: not an address: {v}")))?;
                }
                "--db" => config.db_path = PathBuf::from(value()?),
                "--dist" => config.dist = Some(PathBuf::from(value()?)),
                "--seed" => {
                    config.seed = match value()?.as_str() {
                        "demo" => Seed::Demo,
                        "none" => Seed::None,
                        other => {
                            return Err(Error::Config(format!(
                                "--seed must be demo or none, not {other}"
                            )))
                        }
                    }
                }
                "--access-ttl" => {
                    let v = value()?;
                    config.access_ttl_secs =
                        v.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                            Error::Config(format!("--access-ttl: not seconds: {v}"))
                        })?;
                }
                "--max-connections" => {
                    config.limits.max_connections = Some(at_least_one(flag, &value()?)?);
                }
                "--header-timeout-seconds" => {
                    config.limits.header_timeout_ms = at_least_one(flag, &value()?)? as u64 * 1000;
                }
                "--body-timeout-seconds" => {
                    config.limits.body_timeout_ms = at_least_one(flag, &value()?)? as u64 * 1000;
                }
                "--login-concurrency" => {
                    config.limits.login_concurrency = at_least_one(flag, &value()?)?;
                }
                "--login-queue" => config.limits.login_queue = at_least_one(flag, &value()?)?,
                "--anonymous-sockets-per-address" => {
                    config.limits.ws_anonymous_per_address = at_least_one(flag, &value()?)?;
                }
                "--statement-timeout-ms" => {
                    config.limits.read_timeout_ms = at_least_one(flag, &value()?)? as u64;
                }
                "--sessions-per-user" => {
                    config.limits.ws_sessions_per_user = at_least_one(flag, &value()?)?;
                }
                "--sockets-per-session" | "--sockets-per-user" => {
                    config.limits.ws_sockets_per_session = at_least_one(flag, &value()?)?;
                }
                "--urgent-realert-seconds" => {
                    let v = value()?;
                    config.urgent_realert_secs =
                        v.parse().ok().filter(|s| *s >= 1).ok_or_else(|| {
                            Error::Config(format!(
                                "--urgent-realert-seconds: not a whole number of seconds >= 1: {v}"
                            ))
                        })?;
                }
                "--metrics-addr" => {
                    let v = value()?;
                    config.metrics_addr = Some(v.parse().map_err(|_| {
                        Error::Config(format!("--metrics-addr: not an address: {v}"))
                    })?);
                }
                "--tls-cert" => tls_cert = Some(PathBuf::from(value()?)),
                "--tls-key" => tls_key = Some(PathBuf::from(value()?)),
                other => return Err(Error::Config(format!("unknown flag {other}"))),
            }
        }
        config.tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles { cert, key }),
            (None, None) => None,
            _ => {
                return Err(Error::Config(
                    "--tls-cert and --tls-key go together: the certificate and its key".into(),
                ))
            }
        };
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_flags() {
        let c = Config::from_args(&args(&[
            "--addr",
            "127.0.0.1:9",
            "--db",
            "x.db",
            "--dist",
            "d",
            "--seed",
            "none",
        ]))
        .unwrap();
        assert_eq!(c.addr.port(), 9);
        assert_eq!(c.db_path, PathBuf::from("x.db"));
        assert_eq!(c.seed, Seed::None);
        assert_eq!(c.urgent_realert_secs, 60, "the default");
        let c = Config::from_args(&args(&["--urgent-realert-seconds", "5"])).unwrap();
        assert_eq!(c.urgent_realert_secs, 5);
        assert_eq!(c.metrics_addr, None, "off by default");
        let c = Config::from_args(&args(&["--metrics-addr", "127.0.0.1:9100"])).unwrap();
        assert_eq!(c.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));
        assert!(Config::from_args(&args(&["--metrics-addr", "public"])).is_err());
    }

    #[test]
    fn rejects_bad_flags() {
        assert!(Config::from_args(&args(&["--seed", "maybe"])).is_err());
        assert!(Config::from_args(&args(&["--addr"])).is_err());
        assert!(Config::from_args(&args(&["--bogus", "1"])).is_err());
        assert!(Config::from_args(&args(&["--access-ttl", "-5"])).is_err());
        for bad in ["0", "-1", "1.5", "soon"] {
            assert!(
                Config::from_args(&args(&["--urgent-realert-seconds", bad])).is_err(),
                "{bad}"
            );
        }
        assert!(Config::from_args(&args(&["--urgent-realert-seconds"])).is_err());
    }

    #[test]
    fn parses_the_connection_and_login_bounds() {
        let c = Config::from_args(&args(&[])).unwrap();
        assert_eq!(
            c.limits.max_connections, None,
            "derived from the open-file limit"
        );
        let c = Config::from_args(&args(&[
            "--max-connections",
            "500",
            "--header-timeout-seconds",
            "5",
            "--body-timeout-seconds",
            "20",
            "--login-concurrency",
            "3",
            "--login-queue",
            "9",
            "--anonymous-sockets-per-address",
            "40",
        ]))
        .unwrap();
        let l = &c.limits;
        assert_eq!(
            (
                l.max_connections,
                l.header_timeout_ms,
                l.body_timeout_ms,
                l.login_concurrency,
                l.login_queue,
                l.ws_anonymous_per_address
            ),
            (Some(500), 5_000, 20_000, 3, 9, 40)
        );
        for flag in [
            "--max-connections",
            "--header-timeout-seconds",
            "--login-queue",
        ] {
            assert!(Config::from_args(&args(&[flag, "0"])).is_err(), "{flag}");
        }
    }

    #[test]
    fn socket_caps_count_devices_and_tabs() {
        let c = Config::from_args(&args(&[])).unwrap();
        assert_eq!(
            c.limits.socket_caps(),
            SocketCaps {
                sessions_per_user: 10,
                sockets_per_session: 100
            },
            "the defaults"
        );
        let c = Config::from_args(&args(&[
            "--sessions-per-user",
            "3",
            "--sockets-per-session",
            "7",
        ]))
        .unwrap();
        assert_eq!(
            (
                c.limits.ws_sessions_per_user,
                c.limits.ws_sockets_per_session
            ),
            (3, 7)
        );
        let c = Config::from_args(&args(&["--sockets-per-user", "1010"])).unwrap();
        assert_eq!(c.limits.ws_sockets_per_session, 1010, "the old name");
        for bad in ["0", "-1", "many"] {
            assert!(Config::from_args(&args(&["--sessions-per-user", bad])).is_err());
            assert!(Config::from_args(&args(&["--sockets-per-session", bad])).is_err());
        }
    }
}

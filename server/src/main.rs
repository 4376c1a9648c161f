//! The `switchboard-server` binary: `switchboard-server [flags]`, `switchboard-server simulate …`,
//! `switchboard-server cert …`, `backup FILE`, `restore FILE`, or the staff administration
//! `switchboard-server org …` / `user …`.

use std::process::ExitCode;

use switchboard_server::config::{Config, Seed};
use switchboard_server::{admin, allocator, backup, db, logs, simulate, tls};

const USAGE: &str = "usage:
  switchboard-server [--addr 127.0.0.1:3000] [--db data/switchboard.db] [--dist dist]
                     [--seed demo|none] [--access-ttl SECONDS]
                     [--sessions-per-user N]     (devices with realtime sockets, default 10)
                     [--sockets-per-session N]   (tabs of one login, default 100;
                                                  --sockets-per-user is its old name)
                     [--urgent-realert-seconds N]   (default 60, at least 1)
                     [--max-connections N]       (open connections, websockets included;
                                                  default from the open-file limit)
                     [--header-timeout-seconds N]   (request head, and keep-alive idle;
                                                  default 10)
                     [--body-timeout-seconds N]  (whole request body, default 15)
                     [--login-concurrency N]     (password checks at once, default cores)
                     [--login-queue N]           (logins waiting for a check, default 16)
                     [--anonymous-sockets-per-address N]   (websockets not yet joined with
                                                  a user, per client address, default 20)
                     [--tls-cert FILE --tls-key FILE]   (PEM; serve HTTPS and WSS)
                     [--metrics-addr 127.0.0.1:9100]   (GET /metrics for Prometheus, on
                                                  this address only; off by default)
  switchboard-server backup FILE [--db data/switchboard.db] [--force]
                     (an online copy while the server runs, created 0600; --force
                     replaces an existing FILE)
  switchboard-server restore FILE [--db data/switchboard.db]
                     (checks FILE and puts it in place of the database; refused while
                     a server has the database open)
  switchboard-server simulate [--url http://127.0.0.1:3000] [--rate MESSAGES_PER_SECOND]
                     [--count N] [--org northside|lakeside]
  switchboard-server cert --host NAME [--host NAME…] [--out data/tls]
                     (a self-signed cert.pem and key.pem for trying HTTPS on a LAN; each
                     NAME an IP address or DNS name the server is reached by)
env: SWITCHBOARD_JWT_SECRET (>= 32 bytes) sets the signing key; otherwise one is generated
     and kept in the database (which is created owner-only, 0600). RUST_LOG tunes logging.";

fn main() -> ExitCode {
    // Before the runtime's threads exist (`allocator`).
    allocator::limit_arenas();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("switchboard-server: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    logs::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "{USAGE}\nstaff administration, on the database file (also while it serves):\n{}",
            admin::USAGE
        );
        return ExitCode::SUCCESS;
    }
    if matches!(args.first().map(String::as_str), Some("org" | "user")) {
        // Its own errors and exit status: a refused email needs no page of server flags.
        return admin::run_cli(&args).await;
    }
    let result = if args.first().map(String::as_str) == Some("simulate") {
        simulate::run_cli(&args[1..]).await
    } else if args.first().map(String::as_str) == Some("cert") {
        tls::run_cli(&args[1..])
    } else if args.first().map(String::as_str) == Some("backup") {
        backup::run_backup_cli(&args[1..])
    } else if args.first().map(String::as_str) == Some("restore") {
        backup::run_restore_cli(&args[1..])
    } else {
        serve(&args).await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard-server: {e}\n\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: &[String]) -> switchboard_server::error::Result<()> {
    let mut config = Config::from_args(args)?;
    config.jwt_secret = std::env::var("SWITCHBOARD_JWT_SECRET").ok();
    let seed = config.seed;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let running = switchboard_server::start(config).await?;
    println!("Switchboard is running at {scheme}://{}", running.addr);
    if let Some(at) = running.metrics_addr {
        println!("Metrics for Prometheus at http://{at}/metrics");
    }
    let demo = running.state.db().setting("seed")?.as_deref() == Some("demo");
    if seed == Seed::Demo && demo {
        println!("Demo logins (password \"{}\"):", db::seed::DEMO_PASSWORD);
        for (email, role, org) in db::seed::demo_logins() {
            println!("  {email:<52} {role:<10} {org}");
        }
    }
    wait_for_stop().await;
    println!("Stopping…");
    running.stop().await;
    Ok(())
}

async fn wait_for_stop() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

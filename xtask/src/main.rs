//! `cargo xtask serve | build | test | bench [NAME] | soak`: the project's one-command entry points.

mod bundle;
mod lockfile;
mod precompress;
mod soak;
mod summary;
mod tools;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use summary::Tally;

const USAGE: &str = "usage: cargo xtask <command>
  serve [--addr 127.0.0.1:3000]   install what is missing, build the app, run the server
  build                           install what is missing (trunk, wasm-bindgen, wasm-opt), build
                                  the app for release into dist/
  precompress [DIR]               write .br and .gz beside each asset of DIR (default dist/;
                                  build does it after trunk)
  test                            install what is missing, run every check and test
  screenshots [DIR]               the main screens, light and dark, wide and phone, from the
                                  real app into docs/screenshots/ (or DIR)
  bench [fanout|matching|latency|burst|alert|bundle|load|shift] run benchmarks (all when no name), write target/bench/NAME.json
  soak [--secs N] [--fuzz [--secs M]] 500 subscribers at 200 msg/s, N s alone then N s under
                                  attack (default 60), target/bench/soak.json; --fuzz: each
                                  cargo-fuzz target M s (default 60, needs nightly)";

/// Benchmarks and how to run them.
const BENCHES: &[(&str, &str)] = &[
    (
        "fanout",
        "websocket fan-out: sockets x inserts/s, latency, loss, server CPU/memory",
    ),
    (
        "matching",
        "per-change matching cost with many bindings that never match (in process)",
    ),
    (
        "scale",
        "a big org (2,000 conversations, 100,000 messages): list, unread, history and thread-open costs (in process), then the app on a 2,000-conversation org: sign-in, move-to-top, open, 100 s of load",
    ),
    ("latency", "commit-to-DOM latency in the real app"),
    (
        "burst",
        "requests per query and settle time for a burst of 100 events",
    ),
    (
        "alert",
        "urgent medic message: commit to desktop notification and to alert tone",
    ),
    (
        "bundle",
        "first-load bytes (raw, gzip, brotli) per file against the 150,000 B budget",
    ),
    (
        "load",
        "cold loads on emulated LAN and Fast 4G: bytes, login form, list; warm reload",
    ),
    (
        "shift",
        "a 12-hour shift in accelerated time: tab heap, wasm memory, DOM nodes, listeners and server RSS",
    ),
    (
        "thread",
        "a 10,000-message thread in the app: open to newest page, older page 1 vs 200, DOM rows",
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .current_dir(root())
        .env("PATH", tools::path_env());
    c
}

fn run_plain(program: &str, args: &[&str]) -> Result<(), String> {
    println!("+ {program} {}", args.join(" "));
    let status = cmd(program, args)
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("`{program} {}` failed", args.join(" ")))
}

fn build_app() -> Result<(), String> {
    println!("building the app with trunk (release; the first build takes a few minutes)…");
    run_plain("trunk", &["build", "--release", "--offline"])?;
    // The .br and .gz siblings the server sends by Accept-Encoding (src/precompress.rs).
    precompress::run(&root().join("dist"))
}

fn serve(args: &[String]) -> Result<(), String> {
    let addr = match args {
        [] => "127.0.0.1:3000".to_string(),
        [flag, value] if flag == "--addr" => value.clone(),
        _ => return Err(USAGE.to_string()),
    };
    tools::for_serve(&root())?;
    build_app()?;
    println!("building the server (release)…");
    run_plain("cargo", &["build", "--release", "-p", "switchboard-server"])?;
    std::fs::create_dir_all(root().join("data")).map_err(|e| format!("data/: {e}"))?;
    let server = root().join("target/release/switchboard-server");
    run_plain(
        &server.to_string_lossy(),
        &[
            "--addr",
            &addr,
            "--db",
            "data/switchboard.db",
            "--dist",
            "dist",
            "--seed",
            "demo",
        ],
    )
}

/// One step of `cargo xtask test`.
struct Step {
    name: &'static str,
    program: &'static str,
    args: Vec<String>,
    envs: Vec<(&'static str, String)>,
    dir: Option<PathBuf>,
    /// Lint-style steps count as one check; test steps count their tests.
    check: bool,
}

fn step(name: &'static str, program: &'static str, args: &[&str], check: bool) -> Step {
    Step {
        name,
        program,
        args: args.iter().map(|s| s.to_string()).collect(),
        envs: vec![],
        dir: None,
        check,
    }
}

/// Runs a step, streaming its output, and counts its results.
fn run_step(s: &Step) -> Tally {
    println!("\n==> {}: {} {}", s.name, s.program, s.args.join(" "));
    let mut c = Command::new(s.program);
    c.args(&s.args)
        .current_dir(s.dir.clone().unwrap_or_else(root))
        .env("PATH", tools::path_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &s.envs {
        c.env(k, v);
    }
    let mut child = match c.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("{}: cannot run {}: {e}", s.name, s.program);
            return Tally {
                passed: 0,
                failed: 1,
            };
        }
    };
    let stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(e) = stderr {
            for line in BufReader::new(e).lines().map_while(Result::ok) {
                eprintln!("{line}");
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    });
    let mut out = String::new();
    if let Some(o) = child.stdout.take() {
        for line in BufReader::new(o).lines().map_while(Result::ok) {
            println!("{line}");
            out.push_str(&line);
            out.push('\n');
        }
    }
    let err_text = err_thread.join().unwrap_or_default();
    let ok = child.wait().map(|st| st.success()).unwrap_or(false);
    if s.check {
        return if ok {
            Tally {
                passed: 1,
                failed: 0,
            }
        } else {
            Tally {
                passed: 0,
                failed: 1,
            }
        };
    }
    // Node's TAP summary goes to stdout; cargo's result lines too. Read both streams.
    let mut tally = summary::parse(&out);
    tally.add(summary::parse(&err_text));
    if !ok && tally.failed == 0 {
        eprintln!("{} failed without a failing test (build error?)", s.name);
        tally.failed += 1;
    }
    tally
}

/// A clippy step over `scope` (packages, target), every target, warnings as errors.
fn clippy(name: &'static str, scope: &[&str]) -> Step {
    let mut args = vec!["clippy"];
    args.extend_from_slice(scope);
    args.extend_from_slice(&["--all-targets", "--", "-D", "warnings"]);
    step(name, "cargo", &args, true)
}

fn test() -> Result<(), String> {
    let root = root();
    tools::for_test(&root)?;
    let chromedriver = ("CHROMEDRIVER", "/usr/bin/chromedriver".to_string());
    let mut steps = vec![
        step("format", "cargo", &["fmt", "--all", "--", "--check"], true),
        clippy("clippy (native)", &["--workspace"]),
        clippy(
            "clippy (wasm32 app)",
            &["-p", "switchboard", "--target", "wasm32-unknown-unknown"],
        ),
        step(
            "native tests",
            "cargo",
            &["test", "--workspace", "--exclude", "switchboard-e2e"],
            false,
        ),
    ];
    let mut wasm = step(
        "browser component tests (wasm-bindgen-test, headless Chromium)",
        "cargo",
        &[
            "test",
            "-p",
            "switchboard",
            "--target",
            "wasm32-unknown-unknown",
        ],
        false,
    );
    wasm.envs = vec![
        chromedriver.clone(),
        ("WASM_BINDGEN_TEST_TIMEOUT", "120".into()),
    ];
    steps.push(wasm);
    if root.join("tests/peer/package.json").exists() {
        let mut peer = step("supabase-js peer tests", "node", &["--test"], false);
        peer.dir = Some(root.join("tests/peer"));
        steps.push(peer);
    }
    steps.push(step(
        "Supabase migration on a local PostgreSQL",
        "bash",
        &["supabase/verify.sh"],
        false,
    ));
    steps.push(step(
        "app build (trunk --release)",
        "trunk",
        &["build", "--release", "--offline"],
        true,
    ));
    // The e2e suite loads the app as a user would: its .br/.gz siblings sent by
    // Accept-Encoding, as `cargo xtask build` leaves them.
    steps.push(step(
        "precompress dist/ (.br, .gz)",
        "cargo",
        &["xtask", "precompress"],
        true,
    ));
    let mut e2e = step(
        "end-to-end browser tests",
        "cargo",
        &["test", "-p", "switchboard-e2e", "--", "--test-threads=1"],
        false,
    );
    e2e.envs = vec![chromedriver];
    steps.push(e2e);

    let mut total = Tally::default();
    for s in &steps {
        total.add(run_step(s));
    }
    println!("\n{} passed, {} failed", total.passed, total.failed);
    if total.failed > 0 {
        Err(String::new())
    } else {
        Ok(())
    }
}

/// `cargo xtask screenshots [DIR]`: builds the app and the server, then has the e2e crate's
/// `screenshots` binary drive Chromium through the main screens.
fn screenshots(dir: Option<&String>) -> Result<(), String> {
    tools::for_test(&root())?;
    build_app()?;
    run_plain("cargo", &["build", "-p", "switchboard-server"])?;
    let mut a = vec!["run", "-p", "switchboard-e2e", "--bin", "screenshots", "--"];
    if let Some(dir) = dir {
        a.push(dir);
    }
    println!("+ cargo {}", a.join(" "));
    let status = cmd("cargo", &a)
        .env("CHROMEDRIVER", "/usr/bin/chromedriver")
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("screenshots failed".into())
    }
}

fn bench(args: &[String]) -> Result<(), String> {
    let names: Vec<&str> = match args.first() {
        None => BENCHES.iter().map(|(n, _)| *n).collect(),
        Some(n) if BENCHES.iter().any(|(b, _)| b == n) => vec![n.as_str()],
        Some(other) => {
            let list: Vec<String> = BENCHES
                .iter()
                .map(|(n, d)| format!("  {n:<8} {d}"))
                .collect();
            return Err(format!(
                "unknown benchmark `{other}`; known:\n{}",
                list.join("\n")
            ));
        }
    };
    let extra: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    // `bundle` only measures the app build; every other benchmark drives the release server.
    if names.iter().any(|n| *n != "bundle") {
        run_plain("cargo", &["build", "--release", "-p", "switchboard-server"])?;
    }
    for name in names {
        match name {
            // Sizes of the release build; fails when over the first-load budget.
            "bundle" => {
                tools::for_serve(&root())?;
                build_app()?;
                bundle::report(&root())?;
            }
            // In-process or against the release server: no app build, no browser.
            "fanout" | "matching" => {
                let mut a = vec!["bench", "-p", "switchboard-server", "--bench", name, "--"];
                a.extend(&extra);
                run_plain("cargo", &a)?;
            }
            // The app in headless Chromium against the release server.
            other => {
                // `scale`: the server's half in process first; the app's half merges its
                // keys (`app_…`) into the same target/bench/scale.json.
                if other == "scale" {
                    let mut a = vec!["bench", "-p", "switchboard-server", "--bench", other, "--"];
                    a.extend(&extra);
                    run_plain("cargo", &a)?;
                }
                tools::for_test(&root())?;
                build_app()?;
                let mut a = vec!["bench", "-p", "switchboard-e2e", "--bench", other, "--"];
                a.extend(&extra);
                println!("+ cargo {}", a.join(" "));
                let server = root().join("target/release/switchboard-server");
                let status = cmd("cargo", &a)
                    .env("SWITCHBOARD_SERVER_BIN", server)
                    .env("CHROMEDRIVER", "/usr/bin/chromedriver")
                    .status()
                    .map_err(|e| format!("cannot run cargo: {e}"))?;
                if !status.success() {
                    return Err(format!("benchmark {other} failed"));
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        // `trunk build --release` needs the project's wasm-opt on PATH; this puts it there.
        Some("build") if args.len() == 1 => tools::for_serve(&root()).and_then(|()| build_app()),
        Some("precompress") if args.len() <= 2 => {
            let dir = args
                .get(1)
                .map_or_else(|| root().join("dist"), PathBuf::from);
            precompress::run(&dir)
        }
        Some("test") => test(),
        Some("screenshots") if args.len() <= 2 => screenshots(args.get(1)),
        Some("bench") => bench(&args[1..]),
        Some("soak") => soak::soak(&root(), &args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("xtask: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

//! Idempotent installation of everything the project needs; each step checks first.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::lockfile::locked_version;

/// Pinned trunk release (0.22 needs a newer rustc than this machine has).
pub const TRUNK_VERSION: &str = "0.21.14";

/// `$CARGO_HOME/bin` (or `~/.cargo/bin`), where `cargo install` puts tools.
pub fn cargo_bin_dir() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("bin")
}

/// The project's npm-installed build tools (wasm-opt).
pub fn node_tools_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/node_modules/.bin")
}

/// PATH with the project's tools and cargo's bin directory first, for every child process.
pub fn path_env() -> std::ffi::OsString {
    let mut parts = vec![node_tools_bin(), cargo_bin_dir()];
    if let Some(p) = std::env::var_os("PATH") {
        parts.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(parts).unwrap_or_default()
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .env("PATH", path_env())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    println!("+ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .env("PATH", path_env())
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

fn is_root() -> bool {
    output("id", &["-u"]).is_some_and(|u| u.trim() == "0")
}

fn apt_install(packages: &[&str], why: &str) -> Result<(), String> {
    if !is_root() {
        return Err(format!(
            "{why} is missing: install the Debian packages {} (sudo apt-get install -y {})",
            packages.join(", "),
            packages.join(" ")
        ));
    }
    println!(
        "installing {why} from Debian ({}); this can take a few minutes…",
        packages.join(" ")
    );
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend_from_slice(packages);
    if run("apt-get", &args).is_err() {
        run("apt-get", &["update"])?;
        run("apt-get", &args)?;
    }
    Ok(())
}

/// The wasm32 target for rustc.
pub fn wasm_target() -> Result<(), String> {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    println!("adding the wasm32-unknown-unknown target (about 10 s)…");
    run("rustup", &["target", "add", "wasm32-unknown-unknown"])
}

/// trunk at the pinned version.
pub fn trunk() -> Result<(), String> {
    if output("trunk", &["--version"]).is_some_and(|v| v.contains(TRUNK_VERSION)) {
        return Ok(());
    }
    println!("installing trunk {TRUNK_VERSION} (about 7 minutes on 2 cores, once)…");
    run(
        "cargo",
        &["install", "trunk", "--version", TRUNK_VERSION, "--locked"],
    )
}

/// wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock.
pub fn wasm_bindgen(root: &Path) -> Result<(), String> {
    let lock =
        std::fs::read_to_string(root.join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    let version =
        locked_version(&lock, "wasm-bindgen").ok_or("wasm-bindgen is not in Cargo.lock")?;
    if output("wasm-bindgen", &["--version"])
        .is_some_and(|v| v.split_whitespace().nth(1) == Some(version.as_str()))
    {
        return Ok(());
    }
    println!("installing wasm-bindgen-cli {version} (about 2 minutes, once)…");
    // Without --locked: its own lock file pins a crate the registry no longer serves.
    run(
        "cargo",
        &[
            "install",
            "wasm-bindgen-cli",
            "--version",
            &version,
            "--force",
        ],
    )
}

/// wasm-opt from npm's binaryen, pinned in tools/package-lock.json. Debian's binaryen 108
/// breaks the reference-types tables that rustc 1.95 and wasm-bindgen 0.2.130 emit, and
/// trunk cannot download its own here.
pub fn wasm_opt(root: &Path) -> Result<(), String> {
    if node_tools_bin().join("wasm-opt").exists() {
        return Ok(());
    }
    npm_ci(&root.join("tools"), "wasm-opt (npm binaryen)")
}

fn npm_ci(dir: &Path, what: &str) -> Result<(), String> {
    if output("npm", &["--version"]).is_none() {
        return Err(format!(
            "npm is missing: {what} needs Node.js and npm (Debian: apt-get install nodejs npm)"
        ));
    }
    println!(
        "installing {what} with npm ci in {} (from its package-lock.json)…",
        dir.display()
    );
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .map_err(|e| format!("npm: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("npm ci failed in {}", dir.display()))
}

/// Debian's Chromium and its WebDriver.
pub fn chromium() -> Result<(), String> {
    if Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists() {
        return Ok(());
    }
    apt_install(
        &["chromium", "chromium-driver"],
        "Chromium and chromedriver",
    )
}

/// Node packages of the supabase-js peer test, from its lock file.
pub fn peer_node_modules(root: &Path) -> Result<(), String> {
    let dir = root.join("tests/peer");
    if !dir.join("package-lock.json").exists()
        || dir.join("node_modules/@supabase/supabase-js").exists()
    {
        return Ok(());
    }
    npm_ci(&dir, "the supabase-js peer test's packages")
}

/// Everything `serve` needs.
pub fn for_serve(root: &Path) -> Result<(), String> {
    wasm_target()?;
    trunk()?;
    wasm_bindgen(root)?;
    wasm_opt(root)
}

/// Everything `test` needs.
pub fn for_test(root: &Path) -> Result<(), String> {
    for_serve(root)?;
    chromium()?;
    peer_node_modules(root)
}

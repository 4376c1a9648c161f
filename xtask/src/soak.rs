//! `cargo xtask soak [--secs N] [--fuzz [--secs M]]`: the load-and-abuse soak
//! (`server/benches/soak.rs`, N seconds per phase, default 60) and, with `--fuzz`, every
//! cargo-fuzz target of `server/fuzz/` for M seconds each (default 60).
//!
//! Fuzzing needs the nightly toolchain (for `-Zsanitizer`) and cargo-fuzz; cargo-fuzz is
//! installed once if missing, nightly is not (it is a toolchain, not a tool): its absence is
//! reported with the command that adds it. libFuzzer's working corpus and crash artifacts
//! go under `target/fuzz/`, so the committed seeds in `server/fuzz/seeds/` only ever grow
//! by hand.

use std::path::Path;
use std::process::Command;

/// The fuzz targets, as `[[bin]]`s of `server/fuzz/Cargo.toml`.
const FUZZ_TARGETS: &[&str] = &["query", "frame", "body", "read"];

/// What `soak` was asked to do.
#[derive(Debug, PartialEq)]
pub struct Plan {
    /// Seconds of each soak phase.
    pub soak_secs: u64,
    /// Seconds per fuzz target, when fuzzing.
    pub fuzz_secs: Option<u64>,
}

/// Parses `[--secs N] [--fuzz [--secs M]]`: a `--secs` after `--fuzz` is the fuzzing time.
pub fn plan(args: &[String]) -> Result<Plan, String> {
    let mut plan = Plan {
        soak_secs: 60,
        fuzz_secs: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--fuzz" => plan.fuzz_secs = Some(60),
            "--secs" => {
                let secs = it
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|s| *s > 0)
                    .ok_or("--secs needs a whole number of seconds > 0")?;
                match &mut plan.fuzz_secs {
                    Some(f) => *f = secs,
                    None => plan.soak_secs = secs,
                }
            }
            other => return Err(format!("soak: unknown argument {other}")),
        }
    }
    Ok(plan)
}

fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("nightly"))
        })
}

fn has_cargo_fuzz() -> bool {
    Command::new("cargo")
        .args(["fuzz", "--version"])
        .env("PATH", crate::tools::path_env())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Nightly present, cargo-fuzz installed (once).
fn fuzz_tools() -> Result<(), String> {
    if !has_nightly() {
        return Err("fuzzing needs the nightly toolchain, which is missing: \
             install it with `rustup toolchain install nightly` and run again"
            .into());
    }
    if !has_cargo_fuzz() {
        println!("installing cargo-fuzz (about 2 minutes, once)…");
        crate::run_plain("cargo", &["install", "cargo-fuzz", "--locked"])?;
    }
    Ok(())
}

/// Runs each fuzz target for `secs` seconds from the committed seeds.
fn fuzz(root: &Path, secs: u64) -> Result<(), String> {
    fuzz_tools()?;
    let fuzz_dir = root.join("server/fuzz");
    let work = root.join("target/fuzz");
    let mut failed = Vec::new();
    for target in FUZZ_TARGETS {
        let corpus = work.join("corpus").join(target);
        let artifacts = work.join("artifacts").join(target);
        for dir in [&corpus, &artifacts] {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let seeds = fuzz_dir.join("seeds").join(target);
        let (fuzz_dir, work) = (fuzz_dir.to_string_lossy(), work.to_string_lossy());
        let (corpus, seeds) = (corpus.to_string_lossy(), seeds.to_string_lossy());
        let max_time = format!("-max_total_time={secs}");
        let prefix = format!("-artifact_prefix={}/", artifacts.to_string_lossy());
        println!("\n==> fuzz {target} for {secs} s");
        // The first corpus directory is where libFuzzer writes what it finds; the seeds
        // are only read.
        let args = [
            "+nightly",
            "fuzz",
            "run",
            "--fuzz-dir",
            &fuzz_dir,
            "--target-dir",
            &work,
            target,
            &corpus,
            &seeds,
            "--",
            &max_time,
            "-timeout=30",
            &prefix,
        ];
        if crate::run_plain("cargo", &args).is_err() {
            failed.push(*target);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz targets failed: {} (inputs in target/fuzz/artifacts/)",
            failed.join(", ")
        ))
    }
}

/// `cargo xtask soak`.
pub fn soak(root: &Path, args: &[String]) -> Result<(), String> {
    let plan = plan(args)?;
    crate::run_plain("cargo", &["build", "--release", "-p", "switchboard-server"])?;
    let secs = plan.soak_secs.to_string();
    crate::run_plain(
        "cargo",
        &[
            "bench",
            "-p",
            "switchboard-server",
            "--bench",
            "soak",
            "--",
            "--secs",
            &secs,
        ],
    )?;
    match plan.fuzz_secs {
        Some(secs) => fuzz(root, secs),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn secs_after_fuzz_is_the_fuzzing_time() {
        assert_eq!(
            plan(&args(&[])),
            Ok(Plan {
                soak_secs: 60,
                fuzz_secs: None
            })
        );
        assert_eq!(
            plan(&args(&["--secs", "15", "--fuzz", "--secs", "300"])),
            Ok(Plan {
                soak_secs: 15,
                fuzz_secs: Some(300)
            })
        );
        assert_eq!(
            plan(&args(&["--fuzz"])),
            Ok(Plan {
                soak_secs: 60,
                fuzz_secs: Some(60)
            })
        );
        assert!(plan(&args(&["--secs", "0"])).is_err());
        assert!(plan(&args(&["--secs"])).is_err());
        assert!(plan(&args(&["--bogus"])).is_err());
    }
}

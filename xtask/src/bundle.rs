//! `cargo xtask bench bundle`: the app's first-load bytes as served, and what costs the most.
//!
//! Every file of the built `dist/` is compressed the way the server serves it (brotli quality 11,
//! gzip level 9), and the html + js + wasm + css total is held against [`BUDGET`] (issue 14).
//! The largest contributors come from the wasm that cargo linked for trunk
//! (`target/wasm32-unknown-unknown/release/switchboard.wasm`), which still carries its `name`
//! section: it is put through the release pipeline again (wasm-bindgen, then wasm-opt with
//! trunk's flags plus `-g` to keep the names) into `target/bench/bundle-analysis/`, so each
//! function body, attributed to its crate, is sized as shipped. If that fails, the linked
//! wasm is ranked as is (sizes before optimisation).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// First-load budget: html + js + wasm + css, brotli-compressed, in bytes (issue 14).
pub const BUDGET: u64 = 150_000;

/// How many contributors (crates, functions) the report names.
const TOP: usize = 5;

/// File kinds a cold load fetches before the login form can paint; the budget counts these.
const COUNTED: &[&str] = &["html", "js", "wasm", "css"];

/// One file's size as stored and as served compressed, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSize {
    /// Path relative to `dist/`, `/`-separated.
    pub file: String,
    /// Bytes on disk.
    pub raw: u64,
    /// Bytes after gzip level 9 (flate2).
    pub gzip: u64,
    /// Bytes after brotli quality 11, window 22 (the `brotli` crate; the CLI's `-q 11`).
    pub brotli: u64,
    /// Whether the file is one of the [`COUNTED`] kinds.
    pub counted: bool,
}

/// gzip level 9 size of `data`, in bytes: the `.gz` the server would send.
pub fn gzip_len(data: &[u8]) -> u64 {
    crate::precompress::gzip(data).len() as u64
}

/// brotli quality 11 size of `data`, in bytes: the `.br` the server would send.
pub fn brotli_len(data: &[u8]) -> u64 {
    crate::precompress::brotli(data).len() as u64
}

/// Sizes of every file under `dist`, sorted by path; `.br`/`.gz` siblings (precompressed copies
/// of other files) are skipped.
pub fn measure(dist: &Path) -> Result<Vec<FileSize>, String> {
    let mut files = Vec::new();
    walk(dist, &mut files)?;
    let mut out = Vec::new();
    for path in files {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "br" || ext == "gz" {
            continue;
        }
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let rel = path
            .strip_prefix(dist)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        out.push(FileSize {
            file: rel,
            raw: data.len() as u64,
            gzip: gzip_len(&data),
            brotli: brotli_len(&data),
            counted: COUNTED.contains(&ext),
        });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// One named contributor and its code bytes (function bodies, before wasm-opt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contributor {
    /// Crate name, or demangled function path.
    pub name: String,
    /// Bytes of function bodies in the linked wasm.
    pub bytes: u64,
}

/// Code bytes of a linked wasm: total, per crate and per function, largest first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CodeProfile {
    /// All function bodies, in bytes.
    pub code_bytes: u64,
    /// Data segments (string literals, tables), in bytes.
    pub data_bytes: u64,
    /// Per crate, largest first.
    pub crates: Vec<Contributor>,
    /// Per function, largest first.
    pub functions: Vec<Contributor>,
}

/// The crate a demangled Rust symbol belongs to: the first path segment, looking through
/// `<T as Trait>` and references; wasm-bindgen's generated glue and unnamed code get labels.
pub fn crate_of(demangled: &str) -> String {
    let mut rest = demangled;
    loop {
        let trimmed = rest.trim_start_matches(['<', '&', '*', '[', '(', ' ']);
        let trimmed = trimmed
            .strip_prefix("mut ")
            .or_else(|| trimmed.strip_prefix("const "))
            .or_else(|| trimmed.strip_prefix("dyn "))
            .unwrap_or(trimmed);
        if trimmed.len() == rest.len() {
            break;
        }
        rest = trimmed;
    }
    let ident: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !ident.is_empty() && rest[ident.len()..].starts_with("::") {
        return ident;
    }
    // `<T as crate::Trait>`: a generic type; the trait names the crate.
    if let Some((_, tr)) = demangled.split_once(" as ") {
        let t = crate_of(tr);
        if !t.starts_with('(') {
            return t;
        }
    }
    if demangled.starts_with("__wbg") || demangled.starts_with("__wbindgen") {
        "(wasm-bindgen glue)".to_string()
    } else {
        "(unattributed)".to_string()
    }
}

/// Profiles a linked wasm that still has its `name` section.
pub fn profile(wasm: &[u8]) -> Result<CodeProfile, String> {
    use wasmparser::{KnownCustom, Name, Parser, Payload, TypeRef};
    let mut imported = 0u32;
    let mut bodies: Vec<u64> = Vec::new();
    let mut names: HashMap<u32, String> = HashMap::new();
    let mut data_bytes = 0u64;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| format!("wasm: {e}"))? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import.map_err(|e| e.to_string())?.ty, TypeRef::Func(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body.range().len() as u64),
            Payload::DataSection(reader) => data_bytes += reader.range().len() as u64,
            Payload::CustomSection(custom) => {
                if let KnownCustom::Name(reader) = custom.as_known() {
                    for sub in reader {
                        // A malformed name subsection only costs attribution, not the report.
                        if let Ok(Name::Function(map)) = sub {
                            for naming in map.into_iter().flatten() {
                                names.insert(naming.index, naming.name.to_string());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut per_crate: HashMap<String, u64> = HashMap::new();
    let mut functions = Vec::with_capacity(bodies.len());
    for (i, bytes) in bodies.iter().enumerate() {
        let index = imported + i as u32;
        let name = names
            .get(&index)
            .map(|n| strip_disambiguators(&format!("{:#}", rustc_demangle::demangle(n))))
            .unwrap_or_else(|| format!("(function {index})"));
        // Type descriptors that wasm-bindgen runs at build time and removes: never shipped.
        if name.starts_with("__wbindgen_describe") {
            continue;
        }
        *per_crate.entry(crate_of(&name)).or_default() += bytes;
        functions.push(Contributor {
            name,
            bytes: *bytes,
        });
    }
    let mut crates: Vec<Contributor> = per_crate
        .into_iter()
        .map(|(name, bytes)| Contributor { name, bytes })
        .collect();
    let by_size =
        |a: &Contributor, b: &Contributor| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name));
    crates.sort_by(by_size);
    functions.sort_by(by_size);
    Ok(CodeProfile {
        code_bytes: functions.iter().map(|f| f.bytes).sum(),
        data_bytes,
        crates,
        functions,
    })
}

/// wasm-opt arguments of the release build; keep in step with `data-wasm-opt*` in
/// `index.html` (`-g` added here so the name section survives for attribution).
const WASM_OPT_ARGS: &[&str] = &[
    "-Oz",
    "-g",
    "--enable-reference-types",
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-multivalue",
];

/// Runs the release pipeline (wasm-bindgen, then wasm-opt) on the linked wasm with names kept,
/// into `target/bench/bundle-analysis/`; returns the optimised wasm, whose function bodies
/// are within a few percent of the shipped file's.
fn analysis_build(root: &Path, linked: &Path) -> Result<PathBuf, String> {
    let dir = root.join("target/bench/bundle-analysis");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let run = |program: &str, args: &[&std::ffi::OsStr]| -> Result<(), String> {
        let out = std::process::Command::new(program)
            .args(args)
            .env("PATH", crate::tools::path_env())
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        out.status.success().then_some(()).ok_or_else(|| {
            format!(
                "{program} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })
    };
    run(
        "wasm-bindgen",
        &[
            "--target".as_ref(),
            "web".as_ref(),
            "--out-dir".as_ref(),
            dir.as_os_str(),
            linked.as_os_str(),
        ],
    )?;
    let bound = dir.join("switchboard_bg.wasm");
    let optimized = dir.join("switchboard_opt.wasm");
    let mut args: Vec<&std::ffi::OsStr> = WASM_OPT_ARGS.iter().map(|a| a.as_ref()).collect();
    args.extend([bound.as_os_str(), "-o".as_ref(), optimized.as_os_str()]);
    run("wasm-opt", &args)?;
    Ok(optimized)
}

/// Drops rustc's crate disambiguators (`core[c5930c85a12de822]::` → `core::`), which
/// wasm-bindgen's demangled names keep.
pub fn strip_disambiguators(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(open) = rest.find('[') {
        let tail = &rest[open + 1..];
        match tail.find(']') {
            Some(close) if close > 0 && tail[..close].bytes().all(|b| b.is_ascii_hexdigit()) => {
                out.push_str(&rest[..open]);
                rest = &tail[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

fn contributors_json(list: &[Contributor], code: u64) -> serde_json::Value {
    list.iter()
        .take(TOP)
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "bytes": c.bytes,
                "share_of_code": if code == 0 { 0.0 } else { c.bytes as f64 / code as f64 },
            })
        })
        .collect()
}

/// Measures `root/dist` and the linked wasm, prints a table, writes
/// `target/bench/bundle.json`, and fails when the counted brotli total is over [`BUDGET`].
pub fn report(root: &Path) -> Result<(), String> {
    let files = measure(&root.join("dist"))?;
    let sum = |f: fn(&FileSize) -> u64| -> u64 { files.iter().filter(|s| s.counted).map(f).sum() };
    let (raw, gzip, brotli) = (sum(|s| s.raw), sum(|s| s.gzip), sum(|s| s.brotli));

    println!(
        "{:<48} {:>10} {:>10} {:>10}",
        "file", "raw", "gzip -9", "brotli 11"
    );
    for f in &files {
        let mark = if f.counted { "" } else { " (not counted)" };
        println!(
            "{:<48} {:>10} {:>10} {:>10}{mark}",
            f.file, f.raw, f.gzip, f.brotli
        );
    }
    println!(
        "{:<48} {raw:>10} {gzip:>10} {brotli:>10}",
        "total (html+js+wasm+css)"
    );

    let linked = root.join("target/wasm32-unknown-unknown/release/switchboard.wasm");
    // Prefer the shipped pipeline with names kept; fall back to the linked wasm.
    let (source, optimized) = match analysis_build(root, &linked) {
        Ok(path) => (path, true),
        Err(e) => {
            eprintln!("analysis build failed ({e}); ranking the linked wasm instead");
            (linked.clone(), false)
        }
    };
    let prof = match std::fs::read(&source) {
        Ok(bytes) => profile(&bytes)?,
        Err(e) => {
            eprintln!("{}: {e}; no contributors", source.display());
            CodeProfile::default()
        }
    };
    let stage = if optimized {
        "after wasm-bindgen and wasm-opt -Oz, names kept"
    } else {
        "linked, before wasm-bindgen and wasm-opt"
    };
    println!(
        "\nlargest contributors (function bodies in {}, {stage}; code {} B, data {} B):",
        source.display(),
        prof.code_bytes,
        prof.data_bytes
    );
    for c in prof.crates.iter().take(TOP) {
        println!("  crate {:<40} {:>9}", c.name, c.bytes);
    }
    for c in prof.functions.iter().take(TOP) {
        let short: String = c.name.chars().take(100).collect();
        println!("  fn    {short:<100} {:>7}", c.bytes);
    }

    let json = serde_json::json!({
        "bench": "bundle",
        "budget_brotli_bytes": BUDGET,
        "within_budget": brotli <= BUDGET,
        "total": { "raw": raw, "gzip": gzip, "brotli": brotli },
        "files": files.iter().map(|f| serde_json::json!({
            "file": f.file, "raw": f.raw, "gzip": f.gzip, "brotli": f.brotli, "counted": f.counted,
        })).collect::<Vec<_>>(),
        "contributors": {
            "source": source.strip_prefix(root).unwrap_or(&source).to_string_lossy(),
            "stage": stage,
            "code_bytes": prof.code_bytes,
            "data_bytes": prof.data_bytes,
            "crates": contributors_json(&prof.crates, prof.code_bytes),
            "functions": contributors_json(&prof.functions, prof.code_bytes),
        },
        "settings": { "gzip_level": 9, "brotli_quality": 11, "brotli_lgwin": 22 },
    });
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = dir.join("bundle.json");
    let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    std::fs::write(&out, text + "\n").map_err(|e| format!("{}: {e}", out.display()))?;
    println!("\nwrote {}", out.display());
    if brotli > BUDGET {
        return Err(format!(
            "first load is {brotli} B with brotli, over the {BUDGET} B budget by {} B",
            brotli - BUDGET
        ));
    }
    println!("within budget: {brotli} B <= {BUDGET} B");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_of_reads_paths_impls_and_glue() {
        assert_eq!(crate_of("switchboard::pages::dashboard::x"), "switchboard");
        assert_eq!(
            crate_of("<tachys::view::Foo as core::Bar>::build"),
            "tachys"
        );
        assert_eq!(
            crate_of("<&mut serde_json::de::D as serde::X>::y"),
            "serde_json"
        );
        assert_eq!(crate_of("<T as tachys::view::Render>::build"), "tachys");
        assert_eq!(
            crate_of("__wbindgen_describe___wbg_new_1"),
            "(wasm-bindgen glue)"
        );
        assert_eq!(crate_of("memcpy"), "(unattributed)");
        assert_eq!(
            crate_of(&strip_disambiguators(
                "<f64 as core[c5930c85a12de822]::fmt::Display>::fmt"
            )),
            "core"
        );
        assert_eq!(strip_disambiguators("a[i]::b[0f]::c"), "a[i]::b::c");
    }

    #[test]
    fn compression_shrinks_repetitive_data_and_measure_skips_precompressed() {
        let data = "switchboard ".repeat(1000).into_bytes();
        assert!(brotli_len(&data) < gzip_len(&data));
        assert!(gzip_len(&data) < data.len() as u64);

        let dir = std::env::temp_dir().join(format!("xtask-bundle-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), &data).unwrap();
        std::fs::write(dir.join("index.html.br"), b"x").unwrap();
        std::fs::write(dir.join("sub/a.svg"), b"<svg/>").unwrap();
        let files = measure(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let names: Vec<_> = files.iter().map(|f| (f.file.as_str(), f.counted)).collect();
        assert_eq!(names, [("index.html", true), ("sub/a.svg", false)]);
        assert_eq!(files[0].raw, 12_000);
    }
}

//! Precompressed siblings of the built app: after `trunk build`, every text-like asset in
//! `dist/` gets a `.br` (brotli quality 11, window 22) and a `.gz` (gzip level 9) beside it,
//! which the server's `ServeDir` sends by `Accept-Encoding` (server/src/static_files.rs).
//!
//! Done once at build time rather than at server start: quality 11 takes seconds on the
//! wasm, which a start (and every e2e test's start) should not pay, and the files are then
//! plain files any static host can serve too. A sibling that would not be smaller than its
//! original is not written (the server then sends the original), and siblings whose original
//! is gone or newer are removed or rewritten, so a sibling never disagrees with its file.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Extensions of the files worth compressing: text and wasm. Images other than SVG are
/// compressed already.
const COMPRESSIBLE: &[&str] = &[
    "html", "js", "mjs", "wasm", "css", "svg", "json", "txt", "map",
];

/// The sibling extensions this writes.
const CODINGS: &[&str] = &["br", "gz"];

/// Whether a file named `name` gets siblings.
pub fn compressible(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| COMPRESSIBLE.contains(&ext.to_ascii_lowercase().as_str()))
}

/// `data` with brotli quality 11, window 22 (the `brotli` CLI's `-q 11`).
pub fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    let mut input = data;
    // Reading a slice and writing a Vec cannot fail.
    let _ = brotli::BrotliCompress(&mut input, &mut out, &params);
    out
}

/// `data` with gzip level 9.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            out.extend(files(&path)?);
        } else {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// What [`precompress`] did, in bytes over every compressible file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files given siblings.
    pub files: usize,
    /// Their bytes as built.
    pub raw: u64,
    /// Their bytes as sent to a client accepting brotli (the original where no `.br`).
    pub brotli: u64,
    /// Their bytes as sent to a client accepting gzip only.
    pub gzip: u64,
}

/// Writes the `.br` and `.gz` siblings of every compressible file under `dist`.
pub fn precompress(dist: &Path) -> Result<Summary, String> {
    let mut summary = Summary::default();
    for path in files(dist)? {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if let Some((original, coding)) = name.rsplit_once('.') {
            if CODINGS.contains(&coding) {
                // A sibling whose original is gone would be served for a file that is not.
                if !path.with_file_name(original).exists() {
                    std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                }
                continue;
            }
        }
        if !compressible(name) {
            continue;
        }
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        summary.files += 1;
        summary.raw += data.len() as u64;
        for (coding, encoded) in [("br", brotli(&data)), ("gz", gzip(&data))] {
            let sibling = path.with_file_name(format!("{name}.{coding}"));
            let sent = if encoded.len() < data.len() {
                std::fs::write(&sibling, &encoded)
                    .map_err(|e| format!("{}: {e}", sibling.display()))?;
                encoded.len()
            } else {
                if sibling.exists() {
                    std::fs::remove_file(&sibling)
                        .map_err(|e| format!("{}: {e}", sibling.display()))?;
                }
                data.len()
            } as u64;
            match coding {
                "br" => summary.brotli += sent,
                _ => summary.gzip += sent,
            }
        }
    }
    Ok(summary)
}

/// [`precompress`] on `dist`, with a line saying what it did.
pub fn run(dist: &Path) -> Result<(), String> {
    let s = precompress(dist)?;
    println!(
        "precompressed {} files in {}: {} B raw, {} B brotli, {} B gzip",
        s.files,
        dist.display(),
        s.raw,
        s.brotli,
        s.gzip
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_wasm_are_compressible() {
        for yes in [
            "index.html",
            "a-0123.js",
            "a_bg.wasm",
            "main.css",
            "favicon.svg",
        ] {
            assert!(compressible(yes), "{yes}");
        }
        for no in [
            "photo.png",
            "font.woff2",
            "index.html.br",
            "a.js.gz",
            "README",
        ] {
            assert!(!compressible(no), "{no}");
        }
    }

    #[test]
    fn siblings_decode_to_their_file_and_stale_ones_go() {
        let dir = std::env::temp_dir().join(format!("xtask-precompress-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("public")).unwrap();
        let js = "export const x = 1;\n".repeat(200);
        std::fs::write(dir.join("app.js"), &js).unwrap();
        std::fs::write(dir.join("public/tiny.svg"), "<svg/>").unwrap();
        std::fs::write(dir.join("public/tiny.svg.br"), "stale").unwrap();
        std::fs::write(dir.join("gone.js.br"), "stale").unwrap();
        std::fs::write(dir.join("photo.png"), [0u8; 64]).unwrap();

        let summary = precompress(&dir).unwrap();
        assert_eq!(summary.files, 2);
        assert_eq!(summary.raw, js.len() as u64 + 6);

        let br = std::fs::read(dir.join("app.js.br")).unwrap();
        let mut decoded = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut decoded).unwrap();
        assert_eq!(decoded, js.as_bytes());
        let gz = std::fs::read(dir.join("app.js.gz")).unwrap();
        let mut decoded = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut decoded)
            .unwrap();
        assert_eq!(decoded, js);

        assert!(
            !dir.join("public/tiny.svg.br").exists(),
            "not smaller: none"
        );
        assert!(!dir.join("gone.js.br").exists(), "original gone: removed");
        assert!(!dir.join("photo.png.br").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

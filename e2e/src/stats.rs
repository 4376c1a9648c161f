//! Percentiles and the benchmark JSON files (`target/bench/<name>.json`).

use serde_json::{Map, Value};

use crate::repo_root;

/// The p-th percentile (0..=1) of sorted samples, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// `{p50_ms, p95_ms, p99_ms, max_ms, samples}` of millisecond samples.
pub fn summary(samples: &mut [f64]) -> Map<String, Value> {
    samples.sort_by(f64::total_cmp);
    let mut m = Map::new();
    m.insert("p50_ms".into(), Value::from(percentile(samples, 0.50)));
    m.insert("p95_ms".into(), Value::from(percentile(samples, 0.95)));
    m.insert("p99_ms".into(), Value::from(percentile(samples, 0.99)));
    m.insert(
        "max_ms".into(),
        Value::from(samples.last().copied().unwrap_or(f64::NAN)),
    );
    m.insert("samples".into(), Value::from(samples.len()));
    m
}

/// Writes `target/bench/<name>.json` and returns its path.
pub fn write(name: &str, values: Map<String, Value>) -> std::path::PathBuf {
    let dir = repo_root().join("target/bench");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(&Value::Object(values)).unwrap_or_default();
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("cannot write {}: {e}", path.display());
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summary(&mut v);
        assert_eq!(s["p50_ms"], 51.0);
        assert_eq!(s["p99_ms"], 99.0);
        assert_eq!(s["max_ms"], 100.0);
        assert_eq!(s["samples"], 100);
        assert!(percentile(&[], 0.5).is_nan());
    }
}

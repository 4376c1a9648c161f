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

/// The number after `flag` in a benchmark's arguments (`--count 30`), or `default` when
/// the flag is absent or its value is not a number.
pub fn flag(args: &[String], flag: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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

/// Epoch ms of the server's "2026-11-25T02:23:15.123456+00:00" (always UTC).
pub fn epoch_ms(ts: &str) -> Option<f64> {
    let (date, rest) = ts.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let clock = rest.get(..15)?;
    let h: i64 = clock.get(0..2)?.parse().ok()?;
    let mi: i64 = clock.get(3..5)?.parse().ok()?;
    let sec: f64 = clock.get(6..15)?.parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm), UTC.
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3_600 + mi * 60) as f64 + sec) * 1000.0)
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

    #[test]
    fn parses_server_timestamps() {
        assert_eq!(epoch_ms("1970-01-01T00:00:01.500000+00:00"), Some(1500.0));
        assert_eq!(
            epoch_ms("2026-11-25T00:00:00.000000+00:00"),
            Some(1_795_564_800_000.0)
        );
        assert_eq!(epoch_ms("yesterday"), None);
    }
}

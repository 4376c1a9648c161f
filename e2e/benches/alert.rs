//! `cargo xtask bench alert`: medics post urgent messages into conversations other than the
//! one on screen; for each, commit (server `created_at`) to the desktop notification and to
//! the alert tone in the dispatcher's tab (recorded in the page, same machine, same clock).
//!
//! Headless Chromium never hides a page, so the tab stays visible; the message is in
//! another conversation than the open one, which alerts through the same path as a hidden
//! tab does. `--count N` (default 30) messages, one every `--gap-ms` (default 400).

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_e2e::api::northside_medics;
use switchboard_e2e::page::{enable_alerts, login, notifications, record_alerts, tones};
use switchboard_e2e::{setup, stats};

/// Milliseconds from each commit to the first record (`{tag | at}`) after it that belongs
/// to the message's conversation; `None` where nothing came.
fn delays(commits: &[(String, f64)], records: &[Value], key: &str) -> Vec<Option<f64>> {
    commits
        .iter()
        .map(|(conversation, at)| {
            records
                .iter()
                .filter(|r| key.is_empty() || r[key].as_str() == Some(conversation))
                .filter_map(|r| r["at"].as_f64())
                .filter(|t| *t >= *at - 1.0)
                .map(|t| t - at)
                .reduce(f64::min)
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = stats::flag(&args, "--count", 30) as usize;
    let gap = Duration::from_millis(stats::flag(&args, "--gap-ms", 400));
    let (server, browser, ana) = setup(None)
        .await
        .expect("setup (set SWITCHBOARD_SERVER_BIN for a release build)");
    let s = browser.session.clone();
    let base = server.url();
    let medics = northside_medics(&base).await.expect("medics");
    let conversations = ana.conversations().await.expect("list");
    record_alerts(&s).await;
    login(&s, &base, "ana@northside.test").await;
    enable_alerts(&s).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    println!("{count} urgent medic messages, one every {gap:?}, none in the open conversation…");
    let mut commits = Vec::new();
    for i in 0..count {
        // A different conversation each time: one notification per conversation (its tag),
        // and every message is news.
        let conversation = &conversations[i % conversations.len()];
        let id = conversation["id"].as_str().unwrap_or_default().to_string();
        let Some(medic) = medics
            .iter()
            .find(|m| m.user["id"] == conversation["medic_id"])
        else {
            continue;
        };
        let row = medic
            .post_urgent(&id, &format!("alert probe {i}"))
            .await
            .expect("post");
        let at =
            stats::epoch_ms(row["created_at"].as_str().unwrap_or_default()).unwrap_or(f64::NAN);
        commits.push((id, at));
        tokio::time::sleep(gap).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let shown = notifications(&s).await;
    let played = tones(&s).await;

    let notify = delays(&commits, &shown, "tag");
    let tone = delays(&commits, &played, "");
    let missing_notifications = notify.iter().filter(|d| d.is_none()).count();
    let missing_tones = tone.iter().filter(|d| d.is_none()).count();
    let mut notify: Vec<f64> = notify.into_iter().flatten().collect();
    let mut tone: Vec<f64> = tone.into_iter().flatten().collect();
    let mut out = serde_json::Map::new();
    for (name, samples) in [("notification", &mut notify), ("tone", &mut tone)] {
        let part = stats::summary(samples);
        println!(
            "  commit → {name:<12} p50 {:>6.1}  p95 {:>6.1}  p99 {:>6.1}  max {:>6.1} ms  ({} samples)",
            part["p50_ms"].as_f64().unwrap_or(f64::NAN),
            part["p95_ms"].as_f64().unwrap_or(f64::NAN),
            part["p99_ms"].as_f64().unwrap_or(f64::NAN),
            part["max_ms"].as_f64().unwrap_or(f64::NAN),
            part["samples"],
        );
        for (k, v) in part {
            out.insert(format!("{name}_{k}"), v);
        }
    }
    out.insert("messages".into(), json!(commits.len()));
    out.insert("missing_notifications".into(), json!(missing_notifications));
    out.insert("missing_tones".into(), json!(missing_tones));
    out.insert("notifications_shown".into(), json!(shown.len()));
    println!(
        "missing: {missing_notifications} notifications, {missing_tones} tones; {} notifications shown in all",
        shown.len()
    );
    println!("wrote {}", stats::write("alert", out).display());
    browser.stop().await;
}

//! `cargo xtask bench burst`: 100 messages across 10 conversations within ~100 ms while the
//! list, one thread and the badge are on screen. Counts HTTP requests per query (browser
//! Resource Timing) and the time until the screen is settled and correct; once with the
//! coalescing cache and once with the naive one-refetch-per-event strategy (`?cache=naive`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use switchboard_e2e::api::{northside_medics, Api};
use switchboard_e2e::page::{login, open_conversation, BADGE, ITEMS, MESSAGE_IDS};
use switchboard_e2e::{setup, stats, Session};

/// Which cached query a request URL belongs to.
fn query_of(url: &str) -> Option<String> {
    if url.contains("/rpc/conversations_with_unread") {
        Some("conversations".into())
    } else if url.contains("/rpc/unread_total") {
        Some("unread_total".into())
    } else if url.contains("/rest/v1/messages?") {
        let conv = url.split("conversation_id=eq.").nth(1)?.split('&').next()?;
        Some(format!("messages/{conv}"))
    } else {
        None
    }
}

/// Per query, when each of its requests started (ms on the page clock, which begins at the
/// burst because timings are cleared just before it).
async fn requests_per_query(s: &Session) -> HashMap<String, Vec<f64>> {
    let entries = s
        .execute(
            "return performance.getEntriesByType('resource').map(e => [e.name, e.startTime]);",
            vec![],
        )
        .await
        .unwrap_or(Value::Null);
    let mut starts: HashMap<String, Vec<f64>> = HashMap::new();
    for e in entries.as_array().into_iter().flatten() {
        if let (Some(q), Some(t)) = (e[0].as_str().and_then(query_of), e[1].as_f64()) {
            starts.entry(q).or_default().push(t);
        }
    }
    starts
}

/// Is the screen correct: thread shows the open conversation's new messages, list and
/// badge match the server?
async fn settled(s: &Session, ana: &Api, open_new: &[String]) -> bool {
    let ids = s.execute(MESSAGE_IDS, vec![]).await.unwrap_or(Value::Null);
    let shown: Vec<&str> = ids
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !open_new.iter().all(|id| shown.contains(&id.as_str())) {
        return false;
    }
    let (Ok(total), Ok(list)) = (
        ana.rpc("unread_total", json!({})).await,
        ana.conversations().await,
    ) else {
        return false;
    };
    let badge = s.execute(BADGE, vec![]).await.unwrap_or(Value::Null);
    if badge != total {
        return false;
    }
    let items = s.execute(ITEMS, vec![]).await.unwrap_or(Value::Null);
    let expected: Vec<Value> = list
        .iter()
        .map(|c| json!({"id": c["id"], "unread": c["unread_count"]}))
        .collect();
    items == json!(expected)
}

async fn run(strategy: &str) -> Map<String, Value> {
    let (server, browser, ana) = setup(None).await.expect("setup");
    let s = browser.session.clone();
    let base = server.url();
    let convs: Vec<Value> = ana
        .conversations()
        .await
        .expect("list")
        .into_iter()
        .take(10)
        .collect();
    let medics: HashMap<String, std::sync::Arc<Api>> = northside_medics(&base)
        .await
        .expect("medic")
        .into_iter()
        .map(|m| {
            let id = m.user["id"].as_str().unwrap_or_default().to_string();
            (id, std::sync::Arc::new(m))
        })
        .collect();
    let suffix = if strategy == "naive" {
        "?cache=naive"
    } else {
        ""
    };
    s.goto(&format!("{base}/login{suffix}"))
        .await
        .expect("goto");
    login(&s, &base, "ana@northside.test").await;
    if !suffix.is_empty() {
        // The login page navigated away from the query string; reload with it.
        s.goto(&format!("{base}/messages{suffix}"))
            .await
            .expect("goto naive");
    }
    let open = convs[0]["id"].as_str().unwrap_or_default().to_string();
    open_conversation(&s, &open).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let page_zero = s
        .execute("performance.setResourceTimingBufferSize(100000); performance.clearResourceTimings(); return performance.now();", vec![])
        .await
        .expect("reset timings")
        .as_f64()
        .unwrap_or(0.0);

    let started = Instant::now();
    let mut posts = Vec::new();
    for i in 0..100 {
        let c = &convs[i % convs.len()];
        let conv_id = c["id"].as_str().unwrap_or_default().to_string();
        let medic = medics
            .get(c["medic_id"].as_str().unwrap_or_default())
            .expect("medic of conversation")
            .clone();
        posts.push(async move {
            let body = format!("burst {i}");
            medic.post(&conv_id, &body).await.map(|row| (conv_id, row))
        });
    }
    let rows = futures_join_all(posts).await;
    let burst_ms = started.elapsed().as_secs_f64() * 1000.0;
    let open_new: Vec<String> = rows
        .iter()
        .filter(|(c, _)| *c == open)
        .map(|(_, r)| r["id"].as_str().unwrap_or_default().to_string())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut settled_ms = f64::NAN;
    while Instant::now() < deadline {
        if settled(&s, &ana, &open_new).await {
            settled_ms = started.elapsed().as_secs_f64() * 1000.0;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let stragglers finish so every request of the burst is counted.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let starts = requests_per_query(&s).await;
    let counts: HashMap<&String, u64> = starts.iter().map(|(k, v)| (k, v.len() as u64)).collect();
    let max = counts.values().copied().max().unwrap_or(0);
    if strategy != "naive" {
        for (k, v) in &starts {
            let offsets: Vec<String> = v.iter().map(|t| format!("{:.0}", t - page_zero)).collect();
            println!("  {strategy} {k}: requests at +{} ms", offsets.join(", +"));
        }
    }
    let mut out = Map::new();
    out.insert("burst_ms".into(), json!(burst_ms));
    out.insert("settled_ms".into(), json!(settled_ms));
    out.insert("max_requests_per_query".into(), json!(max));
    out.insert("total_requests".into(), json!(counts.values().sum::<u64>()));
    out.insert("shown_all".into(), json!(settled_ms.is_finite()));
    for (k, v) in &counts {
        out.insert(format!("requests_{k}"), json!(v));
    }
    browser.stop().await;
    out
}

/// Awaits futures concurrently on the current task (all 100 posts go out at once).
async fn futures_join_all<F, T, E>(futures: Vec<F>) -> Vec<T>
where
    F: std::future::Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: std::fmt::Debug + Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task").expect("post"));
    }
    out
}

#[tokio::main]
async fn main() {
    let coalesced = run("coalesced").await;
    let naive = run("naive").await;
    let f = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    println!(
        "{:>10} {:>10} {:>11} {:>14} {:>15}",
        "strategy", "burst ms", "settled ms", "max req/query", "total requests"
    );
    for (name, m) in [("coalesced", &coalesced), ("naive", &naive)] {
        println!(
            "{:>10} {:>10.0} {:>11.0} {:>14} {:>15}",
            name,
            f(m, "burst_ms"),
            f(m, "settled_ms"),
            m["max_requests_per_query"],
            m["total_requests"]
        );
    }
    let mut flat = coalesced.clone();
    for (k, v) in &naive {
        flat.insert(format!("naive_{k}"), v.clone());
    }
    let ratio = f(&naive, "total_requests") / f(&coalesced, "total_requests");
    flat.insert("naive_to_coalesced_request_ratio".into(), json!(ratio));
    println!("naive / coalesced requests: {ratio:.1}x");
    println!("wrote {}", stats::write("burst", flat).display());
}

//! `cargo xtask bench load`: cold loads of the real built app in headless Chromium under
//! emulated networks (Chrome DevTools Protocol `Network.emulateNetworkConditions`): "LAN"
//! (100 Mbps, 2 ms round trip) and "Fast 4G" (9 Mbps down, 1.5 Mbps up, 170 ms round
//! trip). Each load starts with an empty HTTP cache and no session; it measures the bytes
//! transferred (Resource Timing `transferSize`, all requests of the page), the time from
//! navigation to the login form, and from submitting the form to the first frame with the
//! conversation list painted. Then a warm reload (HTTP cache and session kept): its bytes,
//! split into static files and API answers. `--loads N` (default 20) per network.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use switchboard_e2e::page::submit_login;
use switchboard_e2e::{setup, stats, wait_until, Session};

/// Installed in every document before its own scripts: marks (ms on the page's clock,
/// which starts at navigation) when the login form appears, when it is submitted, and the
/// first animation frame after a conversation item is in the DOM.
const MARKS: &str = "(() => {
  window.__marks = {};
  const mark = (k) => { if (!(k in window.__marks)) window.__marks[k] = performance.now(); };
  let listSeen = false;
  const check = () => {
    if (document.querySelector('[data-testid=login-form]')) mark('form');
    if (!listSeen && document.querySelector('[data-testid=conversation-item]')) {
      listSeen = true;
      requestAnimationFrame(() => mark('list'));
    }
  };
  new MutationObserver(check).observe(document, {childList: true, subtree: true});
  document.addEventListener('submit', () => mark('submit'), true);
})();";

/// Bytes the page has transferred so far: `[static files, API answers, [[API path, bytes]…]]`
/// (the navigation and every resource; a cached file counts 0, a 304 only its headers).
const TRANSFERRED: &str = "
  let files = 0, api = 0; const each = [];
  const nav = performance.getEntriesByType('navigation')[0];
  if (nav) files += nav.transferSize;
  for (const e of performance.getEntriesByType('resource')) {
    const path = new URL(e.name).pathname;
    if (path.startsWith('/rest/') || path.startsWith('/auth/') || path === '/config.json') {
      api += e.transferSize; each.push([path, e.transferSize]);
    } else files += e.transferSize;
  }
  return [files, api, each];";

/// An emulated network.
struct Network {
    name: &'static str,
    latency_ms: f64,
    down_bits: f64,
    up_bits: f64,
}

const NETWORKS: [Network; 2] = [
    Network {
        name: "lan",
        latency_ms: 2.0,
        down_bits: 100e6,
        up_bits: 100e6,
    },
    Network {
        name: "fast_4g",
        latency_ms: 170.0,
        down_bits: 9e6,
        up_bits: 1.5e6,
    },
];

/// The demo dispatchers the loads sign in as, in turn.
const DISPATCHERS: [&str; 3] = [
    "ana@northside.test",
    "ben@northside.test",
    "cy@northside.test",
];

/// Sign-ins of one email the loads make a minute: the server allows 10 from one address
/// (its `login_per_address_email`), and the harness has already signed Ana in once; the
/// loads wait rather than be refused.
const SIGN_INS_A_MINUTE: usize = 8;

async fn cdp(s: &Session, command: &str, params: Value) {
    s.cdp(command, params)
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"));
}

async fn mark(s: &Session, name: &str) -> f64 {
    let script = format!("return window.__marks && window.__marks['{name}'];");
    match wait_until(s, name, &script, Duration::from_secs(60)).await {
        Ok(v) => v.as_f64().unwrap_or(f64::NAN),
        Err(e) => {
            let page = s
                .execute(
                    "return location.href + ' | ' + document.body.innerText.slice(0, 400);",
                    vec![],
                )
                .await;
            panic!("{e}; the page: {page:?}")
        }
    }
}

/// `(static files, API answers, each API answer as [path, bytes])`, see [`TRANSFERRED`].
async fn transferred(s: &Session) -> (f64, f64, Value) {
    let v = s.execute(TRANSFERRED, vec![]).await.unwrap_or(Value::Null);
    (
        v[0].as_f64().unwrap_or(f64::NAN),
        v[1].as_f64().unwrap_or(f64::NAN),
        v[2].clone(),
    )
}

/// Waits until `email` may sign in again without meeting the server's per-minute limit.
async fn pace(used: &mut HashMap<&'static str, VecDeque<Instant>>, email: &'static str) {
    let times = used.entry(email).or_default();
    while times
        .front()
        .is_some_and(|t| t.elapsed() >= Duration::from_secs(61))
    {
        times.pop_front();
    }
    if times.len() >= SIGN_INS_A_MINUTE {
        if let Some(oldest) = times.pop_front() {
            tokio::time::sleep(Duration::from_secs(61).saturating_sub(oldest.elapsed())).await;
        }
    }
    times.push_back(Instant::now());
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let loads = stats::flag(&args, "--loads", 20).max(1);
    let (server, browser, _ana) = setup(None)
        .await
        .expect("setup (set SWITCHBOARD_SERVER_BIN for a release build)");
    let s = browser.session.clone();
    let base = server.url();
    cdp(&s, "Network.enable", json!({})).await;
    cdp(
        &s,
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": MARKS}),
    )
    .await;
    let mut used = HashMap::new();
    let mut out = Map::new();
    println!(
        "{:<8} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>14}",
        "network",
        "bytes p50",
        "bytes max",
        "form p50",
        "form max",
        "list p50",
        "list max",
        "warm reload B"
    );
    for net in &NETWORKS {
        cdp(
            &s,
            "Network.emulateNetworkConditions",
            json!({
                "offline": false,
                "latency": net.latency_ms,
                "downloadThroughput": net.down_bits / 8.0,
                "uploadThroughput": net.up_bits / 8.0,
            }),
        )
        .await;
        let (mut bytes, mut form, mut list) = (Vec::new(), Vec::new(), Vec::new());
        for n in 0..loads {
            let email = DISPATCHERS[n as usize % DISPATCHERS.len()];
            // A first visit: nothing cached, nobody signed in.
            s.goto(&format!("{base}/config.json"))
                .await
                .expect("origin");
            s.execute("localStorage.clear(); sessionStorage.clear();", vec![])
                .await
                .expect("clear storage");
            cdp(&s, "Network.clearBrowserCache", json!({})).await;
            s.goto(&format!("{base}/login")).await.expect("load");
            form.push(mark(&s, "form").await);
            pace(&mut used, email).await;
            submit_login(&s, email, switchboard_api_client::DEMO_PASSWORD).await;
            let submitted = mark(&s, "submit").await;
            list.push(mark(&s, "list").await - submitted);
            let (files, api, _) = transferred(&s).await;
            bytes.push(files + api);
        }
        // A warm reload: the files come from the cache (immutable) or a 304.
        s.goto(&format!("{base}/messages")).await.expect("reload");
        mark(&s, "list").await;
        let (warm_files, warm_api, warm_each) = transferred(&s).await;
        let (b, f, l) = (
            stats::summary(&mut bytes),
            stats::summary(&mut form),
            stats::summary(&mut list),
        );
        println!(
            "{:<8} {:>12.0} {:>12.0} {:>10.0}ms {:>10.0}ms {:>10.0}ms {:>10.0}ms {:>7.0} + {:.0} api",
            net.name,
            b["p50_ms"].as_f64().unwrap_or(f64::NAN),
            b["max_ms"].as_f64().unwrap_or(f64::NAN),
            f["p50_ms"].as_f64().unwrap_or(f64::NAN),
            f["max_ms"].as_f64().unwrap_or(f64::NAN),
            l["p50_ms"].as_f64().unwrap_or(f64::NAN),
            l["max_ms"].as_f64().unwrap_or(f64::NAN),
            warm_files,
            warm_api,
        );
        // `summary` names its keys for times; for bytes they are byte counts.
        let rename = |m: Map<String, Value>| -> Map<String, Value> {
            m.into_iter()
                .map(|(k, v)| (k.trim_end_matches("_ms").to_string(), v))
                .collect()
        };
        let mut entry = Map::new();
        entry.insert("latency_ms".into(), json!(net.latency_ms));
        entry.insert("down_bits_per_s".into(), json!(net.down_bits));
        entry.insert("up_bits_per_s".into(), json!(net.up_bits));
        entry.insert("cold_bytes".into(), Value::Object(rename(b)));
        entry.insert("to_login_form_ms".into(), Value::Object(f));
        entry.insert("submit_to_list_ms".into(), Value::Object(l));
        entry.insert("warm_reload_file_bytes".into(), json!(warm_files));
        entry.insert("warm_reload_api_bytes".into(), json!(warm_api));
        entry.insert("warm_reload_api_answers".into(), warm_each);
        out.insert(net.name.into(), Value::Object(entry));
    }
    let path = stats::write("load", out);
    println!("wrote {}", path.display());
    browser.stop().await;
}

//! The medic simulator: real client traffic through the public REST API, for demos and load.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use switchboard_api_client::reqwest::StatusCode;
use switchboard_api_client::{self as api, Client, Returning, DEMO_PASSWORD};

use crate::error::{Error, Result};

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulateOptions {
    /// Server base URL.
    pub url: String,
    /// Messages per second across all medics.
    pub rate: f64,
    /// Stop after this many messages (run until interrupted when absent).
    pub count: Option<u64>,
    /// Demo org domain prefix: "northside" or "lakeside".
    pub org: String,
}

impl SimulateOptions {
    /// Parses `--url U --rate N --count N --org northside|lakeside`.
    pub fn from_args(args: &[String]) -> Result<Self> {
        let mut o = SimulateOptions {
            url: "http://127.0.0.1:3000".into(),
            rate: 1.0,
            count: None,
            org: "northside".into(),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| Error::Config(format!("{flag} needs a value")))?;
            let bad = || Error::Config(format!("{flag}: bad value {value}"));
            match flag.as_str() {
                "--url" => o.url = value.trim_end_matches('/').to_string(),
                "--rate" => {
                    o.rate = value
                        .parse()
                        .ok()
                        .filter(|r: &f64| *r > 0.0 && *r <= 10_000.0)
                        .ok_or_else(bad)?
                }
                "--count" => o.count = Some(value.parse().map_err(|_| bad())?),
                "--org" if value == "northside" || value == "lakeside" => o.org = value.clone(),
                _ => {
                    return Err(Error::Config(format!(
                        "unknown or invalid flag {flag} {value}"
                    )))
                }
            }
        }
        Ok(o)
    }
}

const LINES: &[&str] = &[
    "Patient stable, continuing transport.",
    "On scene, assessing now.",
    "Vitals: BP 132/84, HR 96, SpO2 97%.",
    "ETA 7 minutes to Mercy General.",
    "Requesting additional unit for lift assist.",
    "Handing over at the ED, back in service shortly.",
    "Patient alert and oriented x4.",
    "Can you confirm the apartment number?",
    "Traffic heavy on Route 9, rerouting.",
    "Giving 324 mg aspirin per protocol.",
];

struct Medic {
    email: String,
    token: String,
    conversations: Vec<String>,
}

/// To the simulator's user every failure is one of setup: wrong URL, server not up, no
/// demo seed.
fn setup_error(url: &str) -> impl Fn(api::Error) -> Error + '_ {
    move |e| match e {
        api::Error::Http(e) => Error::Config(format!("cannot reach {url}: {e}")),
        other => Error::Config(other.to_string()),
    }
}

async fn login(client: &Client, email: &str) -> Result<String> {
    client
        .sign_in(email, DEMO_PASSWORD)
        .await
        .map(|session| session.access_token)
        .map_err(setup_error(client.base()))
}

/// Runs the simulator from command-line arguments.
pub async fn run_cli(args: &[String]) -> Result<()> {
    run(SimulateOptions::from_args(args)?).await
}

/// Logs in as the org's medics and posts messages into their conversations at the set rate.
pub async fn run(o: SimulateOptions) -> Result<()> {
    let client = Client::connect(&o.url).await.map_err(setup_error(&o.url))?;
    let medic_count = if o.org == "northside" { 12 } else { 3 };
    let mut medics = Vec::new();
    for n in 1..=medic_count {
        let email = format!("medic{n:02}@{}.test", o.org);
        let token = login(&client, &email).await?;
        let list = client
            .get("/rest/v1/conversations?select=id", &token)
            .await
            .map_err(setup_error(&o.url))?
            .body;
        let conversations: Vec<String> = list
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| r.get("id")?.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if !conversations.is_empty() {
            medics.push(Medic {
                email,
                token,
                conversations,
            });
        }
    }
    if medics.is_empty() {
        return Err(Error::Config(
            "no medic with a conversation: is the demo seed loaded?".into(),
        ));
    }
    println!(
        "simulating {} medics at {} msg/s against {}",
        medics.len(),
        o.rate,
        o.url
    );
    let mut rng = StdRng::from_os_rng();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / o.rate));
    let mut sent = 0u64;
    while o.count.is_none_or(|c| sent < c) {
        ticker.tick().await;
        let i = rng.random_range(0..medics.len());
        let conv = &medics[i].conversations[rng.random_range(0..medics[i].conversations.len())];
        let body = LINES[rng.random_range(0..LINES.len())];
        let row = json!({"id": uuid::Uuid::new_v4(), "conversation_id": conv, "body": body});
        match client
            .insert_messages(&row, Returning::Minimal, &medics[i].token)
            .await
        {
            Ok(r) if r.status == StatusCode::UNAUTHORIZED => {
                // Token expired mid-run: sign in again and carry on.
                medics[i].token = login(&client, &medics[i].email).await?;
            }
            Ok(r) if !r.status.is_success() => {
                eprintln!("post failed: {}", r.status);
            }
            Ok(_) => sent += 1,
            Err(e) => eprintln!("post failed: {e}"),
        }
    }
    println!("sent {sent} messages");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let args: Vec<String> = ["--rate", "5", "--count", "10", "--org", "lakeside"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = SimulateOptions::from_args(&args).unwrap();
        assert_eq!(
            (o.rate, o.count, o.org.as_str()),
            (5.0, Some(10), "lakeside")
        );
        assert!(SimulateOptions::from_args(&["--rate".into(), "0".into()]).is_err());
        assert!(SimulateOptions::from_args(&["--org".into(), "mars".into()]).is_err());
    }
}

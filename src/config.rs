//! Runtime configuration from `/config.json`, so one build serves any backend.

use serde::Deserialize;

use crate::api::ApiError;

/// Where the backend is and which public key to present.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AppConfig {
    /// Base URL of the Supabase-compatible backend; empty means this page's origin.
    #[serde(default)]
    pub supabase_url: String,
    /// The public anon key sent as `apikey`.
    pub anon_key: String,
    /// Seconds between repeated alerts of an unacknowledged urgent message (the server's
    /// `--urgent-realert-seconds`; 60 when the file does not say).
    #[serde(default = "default_realert_seconds")]
    pub urgent_realert_seconds: u32,
}

fn default_realert_seconds() -> u32 {
    60
}

impl AppConfig {
    /// Resolves the configured URL against the page origin.
    pub fn base_url(&self, origin: &str) -> String {
        let url = self.supabase_url.trim().trim_end_matches('/');
        if url.is_empty() {
            origin.trim_end_matches('/').to_string()
        } else {
            url.to_string()
        }
    }

    /// The realtime websocket URL (http→ws, https→wss), as supabase-js derives it.
    pub fn realtime_url(&self, origin: &str) -> String {
        let base = self.base_url(origin);
        let ws = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base
        };
        format!(
            "{ws}/realtime/v1/websocket?apikey={}&vsn={}",
            self.anon_key,
            crate::realtime::protocol::SERIALIZER.vsn()
        )
    }
}

/// The page's origin, e.g. `http://127.0.0.1:3000`.
pub fn page_origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// Fetches `/config.json` from the page's origin.
pub async fn load() -> Result<AppConfig, ApiError> {
    let response = gloo_net::http::Request::get("/config.json")
        .send()
        .await
        .map_err(|e| ApiError::Network(e.to_string()))?;
    if !response.ok() {
        return Err(ApiError::Http {
            status: response.status(),
            code: String::new(),
            message: "cannot load /config.json".into(),
        });
    }
    response
        .json()
        .await
        .map_err(|e| ApiError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> AppConfig {
        AppConfig {
            supabase_url: url.into(),
            anon_key: "k".into(),
            urgent_realert_seconds: 60,
        }
    }

    #[test]
    fn empty_url_means_same_origin() {
        assert_eq!(
            cfg("").base_url("http://127.0.0.1:3000"),
            "http://127.0.0.1:3000"
        );
        assert_eq!(
            cfg("https://x.supabase.co/").base_url("http://o"),
            "https://x.supabase.co"
        );
    }

    #[test]
    fn realtime_url_switches_scheme() {
        assert_eq!(
            cfg("").realtime_url("http://127.0.0.1:3000"),
            "ws://127.0.0.1:3000/realtime/v1/websocket?apikey=k&vsn=2.0.0"
        );
        assert!(cfg("https://x.supabase.co")
            .realtime_url("")
            .starts_with("wss://x.supabase.co/realtime/v1/websocket?"));
    }

    #[test]
    fn the_realert_interval_defaults_to_a_minute() {
        let parsed: AppConfig = serde_json::from_str(r#"{"supabase_url": "", "anon_key": "k"}"#)
            .expect("a config without the field");
        assert_eq!(parsed.urgent_realert_seconds, 60);
        let short: AppConfig =
            serde_json::from_str(r#"{"anon_key": "k", "urgent_realert_seconds": 3}"#)
                .expect("a config with it");
        assert_eq!(short.urgent_realert_seconds, 3);
    }
}

//! A minimal Phoenix vsn 2.0.0 / 1.0.0 test client over tokio-tungstenite.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct Ws {
    pub inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub v1: bool,
    next_ref: u64,
}

/// What `recv` saw.
#[derive(Debug)]
pub enum Got {
    Frame(Value),
    Closed(Option<u16>),
}

impl Ws {
    pub async fn connect(base: &str, anon: &str, vsn: &str) -> Ws {
        let url = format!(
            "{}/realtime/v1/websocket?apikey={anon}&vsn={vsn}",
            base.replace("http", "ws")
        );
        let (inner, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        Ws {
            inner,
            v1: vsn.starts_with('1'),
            next_ref: 0,
        }
    }

    pub fn make_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    pub async fn send(
        &mut self,
        join_ref: Option<&str>,
        reference: Option<&str>,
        topic: &str,
        event: &str,
        payload: Value,
    ) {
        let text = if self.v1 {
            json!({"topic": topic, "event": event, "payload": payload, "ref": reference, "join_ref": join_ref}).to_string()
        } else {
            json!([join_ref, reference, topic, event, payload]).to_string()
        };
        self.inner.send(Message::Text(text.into())).await.unwrap();
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.inner
            .send(Message::Text(text.to_string().into()))
            .await
            .unwrap();
    }

    /// Next frame normalised to `{join_ref, ref, topic, event, payload}`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Got> {
        loop {
            let next = tokio::time::timeout(wait, self.inner.next()).await.ok()?;
            match next {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    let norm = if self.v1 {
                        assert!(
                            v.get("join_ref").is_none(),
                            "v1 server frames never carry join_ref: {v}"
                        );
                        json!({"join_ref": null, "ref": v["ref"], "topic": v["topic"], "event": v["event"], "payload": v["payload"]})
                    } else {
                        json!({"join_ref": v[0], "ref": v[1], "topic": v[2], "event": v[3], "payload": v[4]})
                    };
                    return Some(Got::Frame(norm));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Some(Got::Closed(frame.map(|f| u16::from(f.code))))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Got::Closed(None)),
            }
        }
    }

    pub async fn recv(&mut self) -> Value {
        match self.recv_within(Duration::from_secs(10)).await {
            Some(Got::Frame(v)) => v,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Next frame whose event is `event`, skipping others (e.g. system messages).
    pub async fn recv_event(&mut self, event: &str) -> Value {
        loop {
            let f = self.recv().await;
            if f["event"] == event {
                return f;
            }
        }
    }

    pub async fn join(&mut self, topic: &str, token: &str, changes: Value) -> (String, Value) {
        let r = self.make_ref();
        let payload = json!({
            "config": {"broadcast": {"ack": false, "self": false}, "presence": {"key": "", "enabled": false},
                       "postgres_changes": changes, "private": false},
            "access_token": token,
        });
        self.send(Some(&r), Some(&r), topic, "phx_join", payload)
            .await;
        let reply = self.recv().await;
        assert_eq!(reply["event"], "phx_reply", "{reply}");
        assert_eq!(reply["ref"], r.as_str());
        (r, reply)
    }
}

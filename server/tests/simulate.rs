//! The medic simulator posts real traffic through the public API.

mod common;

use common::Server;
use serde_json::json;
use switchboard_server::simulate::{run, SimulateOptions};

#[tokio::test]
async fn simulator_posts_medic_messages_through_rest() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let (_, before) = s.rpc("unread_total", &ana, json!({})).await;
    run(SimulateOptions {
        url: s.base.clone(),
        rate: 200.0,
        count: Some(5),
        org: "northside".into(),
    })
    .await
    .unwrap();
    let (_, after) = s.rpc("unread_total", &ana, json!({})).await;
    assert_eq!(
        after.as_i64().unwrap(),
        before.as_i64().unwrap() + 5,
        "five new medic messages, unread for the dispatcher"
    );
    let err = run(SimulateOptions {
        url: "http://127.0.0.1:9".into(),
        rate: 1.0,
        count: Some(1),
        org: "northside".into(),
    })
    .await;
    assert!(err.is_err(), "an unreachable server is a clear error");
}

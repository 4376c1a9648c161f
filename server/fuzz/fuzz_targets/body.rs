//! JSON request bodies of a message insert (`rest::write::parse_new_message`, one object
//! or each item of an array, after `rest::nul::reject_nul`): any bytes become a message
//! or a 4xx, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchboard_server::auth::jwt::{AppRole, Principal};
use switchboard_server::rest::nul::reject_nul;
use switchboard_server::rest::write::parse_new_message;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let who = Principal {
        user_id: "11111111-1111-1111-1111-111111111111".into(),
        org_id: "22222222-2222-2222-2222-222222222222".into(),
        role: if data.len().is_multiple_of(2) {
            AppRole::Medic
        } else {
            AppRole::Dispatcher
        },
        exp: i64::MAX,
        session_id: "s".into(),
    };
    if let Err(e) = reject_nul(&value) {
        assert!(e.status().is_client_error(), "{e:?}");
    }
    let items = match &value {
        Value::Array(items) => items.clone(),
        one => vec![one.clone()],
    };
    for item in &items {
        if let Err(e) = parse_new_message(item, &who) {
            assert!(e.status().is_client_error(), "{item}: {e:?}");
        }
    }
});

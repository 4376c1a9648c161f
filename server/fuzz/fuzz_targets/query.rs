//! The PostgREST query-string grammar (`rest::query::parse_query`) and the Realtime filter
//! grammar it shares (`Filter::parse_realtime`): any bytes parse or are refused with a
//! 4xx, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_server::rest::query::parse_query;
use switchboard_server::schema::filter::Filter;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = parse_query(&text) {
        assert!(e.status().is_client_error(), "{text:?}: {e:?}");
    }
    if let Err(e) = Filter::parse_realtime(&text) {
        assert!(e.status().is_client_error(), "{text:?}: {e:?}");
    }
});

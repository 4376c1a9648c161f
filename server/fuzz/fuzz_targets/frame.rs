//! The Phoenix frame decoders: text frames of both serializers (vsn 1.0.0 objects, vsn
//! 2.0.0 arrays) and the vsn 2.0.0 binary push header. Any bytes decode or are refused,
//! never a panic; a decoded message encodes to a frame that decodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_server::realtime::protocol::binary_push_header;
use switchboard_wire::{Message, Serializer};

fuzz_target!(|data: &[u8]| {
    let _ = binary_push_header(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for serializer in [Serializer::V1, Serializer::V2] {
        if let Ok(m) = Message::decode(serializer, text) {
            let again = Message::decode(serializer, &m.encode(serializer));
            assert!(
                again.is_ok(),
                "{serializer:?} {text:?} re-encoded to {again:?}"
            );
        }
    }
});

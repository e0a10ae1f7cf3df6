//! UDP path: one message per datagram.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nano_messages::{decode_datagram, MAX_PAYLOAD_SIZE};

fuzz_target!(|data: &[u8]| {
    if let Ok((header, msg)) = decode_datagram(data, None) {
        assert!(header.payload_size() <= MAX_PAYLOAD_SIZE);
        let bytes = msg.to_bytes(header.network).expect("decoded messages re-encode");
        assert_eq!(decode_datagram(&bytes, None).expect("and decode").1, msg);
    }
});

//! Header decoding: any bytes give a header or a typed error; an accepted header's
//! payload length is within the protocol maximum and re-encodes identically.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nano_messages::{Header, HEADER_SIZE, MAX_PAYLOAD_SIZE};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = Header::decode(data) {
        assert!(h.payload_size() <= MAX_PAYLOAD_SIZE);
        assert_eq!(&h.encode()[..], &data[..HEADER_SIZE]);
    }
    let _ = Header::decode_for(data, nano_core::Network::Live);
});

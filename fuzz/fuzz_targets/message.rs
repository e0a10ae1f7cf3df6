//! Every payload parser: the first byte picks the message type, the next two the
//! extensions, the rest is the payload (cut to the size the header implies).
#![no_main]
use libfuzzer_sys::fuzz_target;
use nano_core::Network;
use nano_messages::{decode_datagram, Header, Message, MessageType, MAX_PAYLOAD_SIZE};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let t = MessageType::ALL[data[0] as usize % MessageType::ALL.len()];
    let header = Header::new(Network::Live, t, u16::from_le_bytes([data[1], data[2]]));
    let body = &data[3..];
    let size = header.payload_size();
    assert!(size <= MAX_PAYLOAD_SIZE);
    if body.len() < size {
        return;
    }
    if let Ok(msg) = Message::decode(&header, &body[..size]) {
        let bytes = msg.to_bytes(Network::Live).expect("decoded messages re-encode");
        let (_, again) = decode_datagram(&bytes, Some(Network::Live)).expect("and decode");
        assert_eq!(again, msg);
    }
});

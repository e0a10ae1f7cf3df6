//! TCP path: the first byte chooses a chunk size, the rest is the byte stream.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nano_core::Network;
use nano_messages::{MessageCodec, MAX_PAYLOAD_SIZE};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = chunk as usize + 1;
    let mut codec = MessageCodec::new(Network::Live).accept_any_network();
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.payload.len() <= MAX_PAYLOAD_SIZE);
                    assert_eq!(frame.payload.len(), frame.header.payload_size());
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = codec.decode_eof(&mut buf);
});

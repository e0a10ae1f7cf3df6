//! frontier_req response stream.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nano_messages::FrontierStreamCodec;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = FrontierStreamCodec::new();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
    let _ = codec.decode_eof(&mut buf);
});

//! bulk_pull response / bulk_push stream of typed blocks.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nano_messages::BlockStreamCodec;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = BlockStreamCodec::new();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
    let _ = codec.decode_eof(&mut buf);
});

//! bulk_pull_account response stream; the first byte picks the flags.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nano_messages::{BulkPullAccountFlags, BulkPullAccountStreamCodec};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&f, rest)) = data.split_first() else {
        return;
    };
    let Some(flags) = BulkPullAccountFlags::from_u8(f % 3) else {
        return;
    };
    let mut codec = BulkPullAccountStreamCodec::new(flags);
    let mut buf = BytesMut::from(rest);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
    let _ = codec.decode_eof(&mut buf);
});

//! Property tests: every message and stream item round-trips; truncated and over-long
//! inputs of every type are refused; the codec reassembles arbitrary chunkings.

mod common;

use bytes::BytesMut;
use common::*;
use nano_core::{KeyPair, Network, RawKey};
use nano_messages::stream::*;
use nano_messages::*;
use proptest::collection::vec;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

fn network() -> impl Strategy<Value = Network> {
    prop_oneof![
        Just(Network::Live),
        Just(Network::Beta),
        Just(Network::Dev),
        Just(Network::Test)
    ]
}

/// Splits `bytes` at the given cut points (taken modulo the length) into chunks.
fn chunks(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn message_round_trip(msg in message(), net in network()) {
        let bytes = msg.to_bytes(net).unwrap();
        prop_assert_eq!(bytes.len(), 8 + msg.payload_size());
        let (header, decoded) = decode_datagram(&bytes, Some(net)).unwrap();
        prop_assert_eq!(header.payload_size(), bytes.len() - 8);
        prop_assert_eq!(header.message_type, msg.message_type());
        prop_assert_eq!(&decoded, &msg);
        prop_assert_eq!(Message::decode(&header, &bytes[8..]).unwrap(), msg);
    }

    #[test]
    fn truncated_messages_are_refused(msg in message(), cut in 1usize..300) {
        let bytes = msg.to_bytes(Network::Live).unwrap();
        let cut = cut.min(bytes.len());
        let short = &bytes[..bytes.len() - cut];
        prop_assert!(decode_datagram(short, None).is_err());
        // The same payload under its own header but with a byte missing.
        if bytes.len() > 8 {
            let header = Header::decode(&bytes).unwrap();
            prop_assert!(Message::decode(&header, &bytes[8..bytes.len() - 1]).is_err());
        }
    }

    #[test]
    fn over_long_messages(msg in message(), extra in vec(any::<u8>(), 1..40)) {
        let mut bytes = msg.to_bytes(Network::Live).unwrap();
        let header = Header::decode(&bytes).unwrap();
        let mut payload = bytes[8..].to_vec();
        payload.extend(&extra);
        // A payload longer than its header says is never accepted by Message::decode.
        prop_assert!(Message::decode(&header, &payload).is_err());
        bytes.extend(&extra);
        let r = decode_datagram(&bytes, None);
        if msg.message_type().allows_trailing_bytes() {
            prop_assert_eq!(r.unwrap().1, msg);
        } else {
            prop_assert_eq!(r, Err(DatagramError::TrailingBytes { count: extra.len() }));
        }
    }

    /// asc_pull_* and telemetry_ack announce their own size; a size too small for the
    /// content is refused, a larger one (trailing data) is accepted.
    #[test]
    fn self_sized_messages(msg in prop_oneof![
        asc_pull_req().prop_map(Message::AscPullReq),
        asc_pull_ack(4, 10).prop_map(Message::AscPullAck),
        telemetry().prop_map(|t| Message::TelemetryAck(Some(Box::new(t)))),
    ], shrink in 1usize..40, extra in vec(any::<u8>(), 1..40)) {
        let bytes = msg.to_bytes(Network::Live).unwrap();
        let header = Header::decode(&bytes).unwrap();
        let known = match &msg {
            Message::TelemetryAck(_) => TelemetryData::KNOWN_SIZE,
            _ => header.payload_size(),
        };
        // Payload length to announce, and the extensions that announce it.
        let ext_for = |len: usize| match &msg {
            Message::TelemetryAck(_) => len as u16,
            _ => (len - 9) as u16,
        };
        let short = (known - shrink.min(known - 1)).max(9);
        let mut h = header;
        h.extensions = ext_for(short);
        prop_assert_eq!(h.payload_size(), short);
        prop_assert!(Message::decode(&h, &bytes[8..8 + short]).is_err());
        let mut long = bytes[8..].to_vec();
        let room = match &msg {
            Message::TelemetryAck(_) => TelemetryData::MAX_SIZE - long.len(),
            _ => usize::from(u16::MAX) + 9 - long.len(),
        };
        let extra = &extra[..extra.len().min(room)];
        long.extend(extra);
        h.extensions = ext_for(header.payload_size() + extra.len());
        let decoded = Message::decode(&h, &long).unwrap();
        if let (Message::TelemetryAck(Some(a)), Message::TelemetryAck(Some(b))) = (&decoded, &msg) {
            prop_assert_eq!(&a.unknown_data[..b.unknown_data.len()], &b.unknown_data[..]);
        } else {
            prop_assert_eq!(decoded, msg);
        }
    }

    #[test]
    fn codec_reassembles_any_chunking(msgs in vec(message(), 1..6), cuts in vec(any::<usize>(), 0..12)) {
        let mut codec = MessageCodec::new(Network::Beta);
        let mut wire = BytesMut::new();
        for m in &msgs {
            codec.encode(m, &mut wire).unwrap();
        }
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks(&wire, &cuts) {
            buf.extend_from_slice(&c);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                out.push(frame.message.unwrap());
            }
        }
        prop_assert!(codec.decode_eof(&mut buf).unwrap().is_none());
        prop_assert_eq!(out, msgs);
    }

    #[test]
    fn frontier_stream_round_trip(items in vec(frontier(), 0..30), cuts in vec(any::<usize>(), 0..8)) {
        let mut wire = BytesMut::new();
        let mut enc = FrontierStreamCodec::new();
        for f in &items {
            enc.encode(StreamItem::Item(*f), &mut wire).unwrap();
        }
        enc.encode(StreamItem::End, &mut wire).unwrap();
        let mut dec = FrontierStreamCodec::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks(&wire, &cuts) {
            buf.extend_from_slice(&c);
            while let Some(item) = dec.decode(&mut buf).unwrap() {
                out.push(item);
            }
        }
        prop_assert_eq!(out.pop(), Some(StreamItem::End));
        prop_assert_eq!(out, items.into_iter().map(StreamItem::Item).collect::<Vec<_>>());
        prop_assert!(dec.is_finished() && buf.is_empty());
    }

    #[test]
    fn block_stream_round_trip(blocks in vec(block(), 0..12), cuts in vec(any::<usize>(), 0..8)) {
        let mut wire = BytesMut::new();
        let mut enc = BlockStreamCodec::new();
        for b in &blocks {
            enc.encode(StreamItem::Item(b.clone()), &mut wire).unwrap();
        }
        enc.encode(StreamItem::End, &mut wire).unwrap();
        let mut dec = BlockStreamCodec::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks(&wire, &cuts) {
            buf.extend_from_slice(&c);
            while let Some(item) = dec.decode(&mut buf).unwrap() {
                out.push(item);
            }
        }
        prop_assert_eq!(out.pop(), Some(StreamItem::End));
        prop_assert_eq!(out, blocks.into_iter().map(StreamItem::Item).collect::<Vec<_>>());
        // Truncated block streams are reported at EOF.
        if wire.len() > 1 {
            let mut d = BlockStreamCodec::new();
            let mut b = BytesMut::from(&wire[..wire.len() - 2]);
            let mut res = Ok(None);
            for _ in 0..20 {
                res = d.decode_eof(&mut b);
                if !matches!(res, Ok(Some(_))) { break; }
            }
            prop_assert!(res.is_err() || b.is_empty());
        }
    }

    #[test]
    fn bulk_pull_account_stream_round_trip((flags, items) in bpa_stream(), cuts in vec(any::<usize>(), 0..8)) {
        let mut wire = BytesMut::new();
        let mut enc = BulkPullAccountStreamCodec::new(flags);
        for i in &items {
            enc.encode(StreamItem::Item(*i), &mut wire).unwrap();
        }
        enc.encode(StreamItem::End, &mut wire).unwrap();
        let mut dec = BulkPullAccountStreamCodec::new(flags);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks(&wire, &cuts) {
            buf.extend_from_slice(&c);
            while let Some(item) = dec.decode(&mut buf).unwrap() {
                out.push(item);
            }
        }
        prop_assert_eq!(out.pop(), Some(StreamItem::End));
        prop_assert_eq!(out, items.into_iter().map(StreamItem::Item).collect::<Vec<_>>());
        prop_assert!(dec.is_finished());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn votes_sign_and_verify(seed in b32(), v in vote(20), flip in any::<usize>()) {
        let kp = KeyPair::from_private(RawKey(seed));
        let signed = Vote::new_signed(&kp, v.timestamp, (v.timestamp & 0xF) as u8, v.hashes.clone());
        prop_assert_eq!(signed.timestamp, v.timestamp);
        prop_assert!(signed.verify());
        let mut tampered = signed.clone();
        tampered.timestamp ^= 1u64 << (flip % 64);
        prop_assert!(!tampered.verify());
        prop_assert_eq!(Vote::verify_many(&[&signed, &tampered, &signed, &signed, &signed]), vec![true, false, true, true, true]);
    }

    #[test]
    fn telemetry_sign_and_verify(seed in b32(), mut t in telemetry(), flip in any::<usize>()) {
        let kp = KeyPair::from_private(RawKey(seed));
        t.sign(&kp);
        prop_assert!(t.verify_signature());
        let bytes = Message::TelemetryAck(Some(Box::new(t.clone()))).to_bytes(Network::Live).unwrap();
        let (_, Message::TelemetryAck(Some(d))) = decode_datagram(&bytes, None).unwrap() else { panic!() };
        prop_assert!(d.verify_signature());
        let mut raw = bytes.clone();
        let i = 8 + 64 + flip % (raw.len() - 72);
        raw[i] ^= 0x01;
        let (_, Message::TelemetryAck(Some(bad))) = decode_datagram(&raw, None).unwrap() else { panic!() };
        prop_assert!(!bad.verify_signature());
    }
}

#[test]
fn encode_refuses_what_the_wire_cannot_carry() {
    use nano_core::{BlockHash, Root};
    let too_many = Message::ConfirmReq(ConfirmReq {
        pairs: vec![(BlockHash([1; 32]), Root([1; 32])); 256],
    });
    assert!(matches!(
        too_many.to_bytes(Network::Live),
        Err(EncodeError::TooMany { .. })
    ));
    let empty = Message::ConfirmReq(ConfirmReq { pairs: vec![] });
    assert_eq!(
        empty.to_bytes(Network::Live),
        Err(EncodeError::Empty("confirm_req pairs"))
    );
    let zero = Message::ConfirmReq(ConfirmReq {
        pairs: vec![(BlockHash::ZERO, Root::ZERO)],
    });
    assert!(matches!(
        zero.to_bytes(Network::Live),
        Err(EncodeError::ZeroEntry(_))
    ));
    let vote = Vote {
        account: Default::default(),
        signature: Default::default(),
        timestamp: 0,
        hashes: vec![BlockHash([1; 32]); 256],
    };
    let ack = Message::ConfirmAck(Box::new(ConfirmAck {
        vote,
        rebroadcast: false,
    }));
    let mut out = vec![1, 2, 3];
    assert!(ack.encode(Network::Live, &mut out).is_err());
    assert_eq!(out, vec![1, 2, 3], "nothing written on error");
    let t = TelemetryData {
        unknown_data: vec![0; TelemetryData::MAX_UNKNOWN_DATA + 1],
        ..Default::default()
    };
    assert!(Message::TelemetryAck(Some(Box::new(t)))
        .to_bytes(Network::Live)
        .is_err());
    let ack = Message::AscPullAck(AscPullAck {
        id: 0,
        payload: AscPullAckPayload::Frontiers(vec![(Default::default(), BlockHash([1; 32]))]),
    });
    assert!(ack.to_bytes(Network::Live).is_err());
}

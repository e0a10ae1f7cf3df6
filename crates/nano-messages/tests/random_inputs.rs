//! Deterministic randomized robustness test: well over a million mutated and random
//! inputs through every decoder (header, each message type, datagram, codec, the three
//! bootstrap stream decoders). Nothing may panic, every accepted header must announce a
//! payload within the protocol maximum, and every decoded message must re-encode to
//! bytes that decode to the same message.

use bytes::BytesMut;
use nano_core::{Amount, Block, BlockHash, Link, Network, PublicKey, Root, Signature, StateBlock};
use nano_messages::stream::*;
use nano_messages::*;
use tokio_util::codec::Decoder;

/// xorshift64*: small, fast, and the same sequence on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.next() as u8;
        }
    }
}

fn state_block(i: u8) -> Block {
    Block::State(StateBlock {
        account: PublicKey([i; 32]),
        previous: BlockHash([i.wrapping_add(1); 32]),
        representative: PublicKey([3; 32]),
        balance: Amount::raw(12345),
        link: Link([4; 32]),
        signature: Signature([5; 64]),
        work: 6,
    })
}

/// One valid encoding of every message type (and variants), to mutate.
fn corpus() -> Vec<Vec<u8>> {
    let mut msgs = vec![
        Message::Keepalive(Box::new(Keepalive::from_peers(["1.2.3.4:7075"
            .parse()
            .unwrap()]))),
        Message::Publish(Box::new(Publish {
            block: state_block(1),
            originator: true,
        })),
        Message::ConfirmReq(ConfirmReq {
            pairs: vec![(BlockHash([1; 32]), Root([2; 32])); 3],
        }),
        Message::ConfirmReq(ConfirmReq {
            pairs: vec![(BlockHash([1; 32]), Root([2; 32])); 20],
        }),
        Message::ConfirmAck(Box::new(ConfirmAck {
            vote: Vote {
                account: PublicKey([1; 32]),
                signature: Signature([2; 64]),
                timestamp: u64::MAX,
                hashes: vec![BlockHash([7; 32]); 12],
            },
            rebroadcast: true,
        })),
        Message::BulkPull(BulkPull {
            start: HashOrAccount([1; 32]),
            end: BlockHash([2; 32]),
            count: Some(5),
            ascending: true,
        }),
        Message::BulkPush,
        Message::FrontierReq(FrontierReq {
            start: PublicKey([1; 32]),
            age: 5,
            count: 6,
            only_confirmed: true,
        }),
        Message::NodeIdHandshake(Box::new(NodeIdHandshake {
            query: Some([1; 32]),
            response: Some(HandshakeResponse {
                node_id: PublicKey([2; 32]),
                signature: Signature([3; 64]),
                v2: Some(HandshakeV2 {
                    salt: [4; 32],
                    genesis: BlockHash([5; 32]),
                }),
            }),
            v2: true,
        })),
        Message::BulkPullAccount(BulkPullAccount {
            account: PublicKey([1; 32]),
            minimum_amount: Amount::raw(5),
            flags: BulkPullAccountFlags::PendingAddressOnly,
        }),
        Message::TelemetryReq,
        Message::TelemetryAck(Some(Box::new(TelemetryData {
            unknown_data: vec![9; 5],
            ..Default::default()
        }))),
        Message::AscPullReq(AscPullReq {
            id: 1,
            payload: AscPullReqPayload::Blocks {
                start: HashOrAccount([1; 32]),
                count: 5,
                start_type: HashType::Block,
            },
        }),
        Message::AscPullReq(AscPullReq {
            id: 1,
            payload: AscPullReqPayload::Frontiers {
                start: PublicKey([1; 32]),
                count: 5,
            },
        }),
        Message::AscPullAck(AscPullAck {
            id: 2,
            payload: AscPullAckPayload::Blocks(vec![state_block(1), state_block(2)]),
        }),
        Message::AscPullAck(AscPullAck {
            id: 2,
            payload: AscPullAckPayload::AccountInfo(Default::default()),
        }),
        Message::AscPullAck(AscPullAck {
            id: 2,
            payload: AscPullAckPayload::Frontiers(vec![
                (PublicKey([1; 32]), BlockHash([2; 32]));
                3
            ]),
        }),
    ];
    let mut out: Vec<Vec<u8>> = msgs
        .drain(..)
        .map(|m| m.to_bytes(Network::Live).unwrap())
        .collect();
    // Stream bodies too, for the stream decoders.
    let mut blocks = Vec::new();
    encode_stream_block(&state_block(9), &mut blocks);
    encode_blocks_end(&mut blocks);
    out.push(blocks);
    let mut fr = Vec::new();
    encode_frontier(
        &Frontier {
            account: PublicKey([1; 32]),
            head: BlockHash([2; 32]),
        },
        &mut fr,
    );
    encode_frontiers_end(&mut fr);
    out.push(fr);
    out
}

fn mutate(rng: &mut Rng, base: &[u8], out: &mut Vec<u8>) {
    out.clear();
    match rng.below(8) {
        // Entirely random bytes, some with a valid-looking header prefix.
        0 => {
            let n = rng.below(400);
            out.resize(n, 0);
            rng.fill(out);
            if n >= 8 && rng.below(2) == 0 {
                out[..5].copy_from_slice(&[0x52, 0x43, 0x15, 0x15, 0x14]);
                out[5] = rng.below(17) as u8;
            }
        }
        // Truncation.
        1 => out.extend_from_slice(&base[..rng.below(base.len() + 1)]),
        // Extension.
        2 => {
            out.extend_from_slice(base);
            for _ in 0..rng.below(64) + 1 {
                out.push(rng.next() as u8);
            }
        }
        // Header field change (type or extensions).
        3 => {
            out.extend_from_slice(base);
            if out.len() >= 8 {
                let i = [5, 6, 7][rng.below(3)];
                out[i] = rng.next() as u8;
            }
        }
        // Several bit flips / byte replacements anywhere.
        _ => {
            out.extend_from_slice(base);
            if !out.is_empty() {
                for _ in 0..rng.below(4) + 1 {
                    let i = rng.below(out.len());
                    if rng.below(2) == 0 {
                        out[i] ^= 1 << rng.below(8);
                    } else {
                        out[i] = rng.next() as u8;
                    }
                }
            }
        }
    }
}

fn check_message(header: &Header, msg: &Message) {
    assert!(header.payload_size() <= MAX_PAYLOAD_SIZE);
    assert!(msg.payload_size() <= MAX_PAYLOAD_SIZE, "{msg:?}");
    let bytes = msg
        .to_bytes(header.network)
        .expect("a decoded message re-encodes");
    assert!(bytes.len() - HEADER_SIZE <= MAX_PAYLOAD_SIZE);
    let (_, again) = decode_datagram(&bytes, Some(header.network)).expect("re-encoding decodes");
    assert_eq!(&again, msg);
}

#[test]
fn a_million_hostile_inputs_never_panic() {
    let corpus = corpus();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut input = Vec::with_capacity(1024);
    let mut stats = [0usize; 4]; // header ok, message ok, stream items, codec frames
    const ROUNDS: usize = 1_000_000;
    for round in 0..ROUNDS {
        let base = &corpus[rng.below(corpus.len())];
        mutate(&mut rng, base, &mut input);

        // Header and every message decoder through the exact-payload entry point.
        if let Ok(header) = Header::decode(&input) {
            stats[0] += 1;
            assert!(header.payload_size() <= MAX_PAYLOAD_SIZE);
            let body = &input[HEADER_SIZE..];
            let payload = &body[..header.payload_size().min(body.len())];
            if let Ok(msg) = Message::decode(&header, payload) {
                stats[1] += 1;
                assert_eq!(payload.len(), header.payload_size());
                check_message(&header, &msg);
            }
        }
        // The same bytes under each message type's header, to reach every payload parser.
        if input.len() >= 8 && round % 4 == 0 {
            let t = MessageType::ALL[rng.below(MessageType::ALL.len())];
            let mut h = Header::new(Network::Live, t, u16::from_le_bytes([input[6], input[7]]));
            if t == MessageType::Publish {
                h.extensions = (h.extensions & !0x0F00) | ((rng.below(8) as u16) << 8);
            }
            let body = &input[HEADER_SIZE..];
            if h.payload_size() <= body.len() {
                if let Ok(msg) = Message::decode(&h, &body[..h.payload_size()]) {
                    check_message(&h, &msg);
                }
            }
        }
        // Datagram path.
        if let Ok((header, msg)) = decode_datagram(&input, None) {
            check_message(&header, &msg);
        }
        let _ = decode_datagram(&input, Some(Network::Dev));

        // Stream decoders on the raw bytes.
        match round % 3 {
            0 => {
                let mut c = FrontierStreamCodec::new();
                let mut rest = &input[..];
                while let Next::Ready(_, used) = c.decode_from(rest) {
                    stats[2] += 1;
                    rest = &rest[used..];
                }
            }
            1 => {
                let mut c = BlockStreamCodec::new();
                let mut rest = &input[..];
                while let Ok(Next::Ready(_, used)) = c.decode_from(rest) {
                    stats[2] += 1;
                    rest = &rest[used..];
                }
            }
            _ => {
                let flags = [
                    BulkPullAccountFlags::PendingHashAndAmount,
                    BulkPullAccountFlags::PendingAddressOnly,
                    BulkPullAccountFlags::PendingHashAmountAndAddress,
                ][rng.below(3)];
                let mut c = BulkPullAccountStreamCodec::new(flags);
                let mut rest = &input[..];
                while let Next::Ready(_, used) = c.decode_from(rest) {
                    stats[2] += 1;
                    rest = &rest[used..];
                }
            }
        }

        // Codec: feed in two chunks; header errors end the stream, payload errors don't.
        if round % 8 == 0 {
            let mut codec = MessageCodec::new(Network::Live).accept_any_network();
            let split = rng.below(input.len() + 1);
            let mut buf = BytesMut::from(&input[..split]);
            let mut alive = true;
            for chunk in [&input[split..], &[][..]] {
                if !alive {
                    break;
                }
                buf.extend_from_slice(chunk);
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(frame)) => {
                            stats[3] += 1;
                            assert!(frame.payload.len() <= MAX_PAYLOAD_SIZE);
                            assert_eq!(frame.payload.len(), frame.header.payload_size());
                            if let Ok(m) = &frame.message {
                                check_message(&frame.header, m);
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            alive = false;
                            break;
                        }
                    }
                }
            }
            if alive {
                let _ = codec.decode_eof(&mut buf);
            }
        }
    }
    // The mutations must actually reach the decoders' success paths.
    eprintln!("header ok, message ok, stream items, codec frames: {stats:?}");
    assert!(stats.iter().all(|&s| s > 1000), "{stats:?}");
}

/// A header announcing a large payload makes the codec wait without allocating it up
/// front beyond the announced (and checked) size.
#[test]
fn codec_waits_for_large_payloads_and_keeps_framing_after_bad_ones() {
    let mut codec = MessageCodec::new(Network::Live);
    let mut buf = BytesMut::from(&[0x52u8, 0x43, 0x15, 0x15, 0x14, 0x0f, 0xFF, 0xFF][..]);
    assert!(codec.decode(&mut buf).unwrap().is_none());
    assert_eq!(codec.pending_header().unwrap().payload_size(), 9 + 0xFFFF);
    assert!(buf.capacity() <= 2 * (MAX_PAYLOAD_SIZE + HEADER_SIZE));
    assert!(matches!(
        codec.decode_eof(&mut buf),
        Err(CodecError::TruncatedAtEof(_))
    ));

    // A bad payload (zero pair) is reported in its frame; the next message still decodes.
    let mut wire = vec![0x52, 0x43, 0x15, 0x15, 0x14, 0x04, 0x00, 0x11];
    wire.extend([0u8; 64]);
    wire.extend(Message::TelemetryReq.to_bytes(Network::Live).unwrap());
    let mut codec = MessageCodec::new(Network::Live);
    let mut buf = BytesMut::from(&wire[..]);
    let f1 = codec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(f1.message, Err(MessageError::ZeroPair { index: 0 }));
    let f2 = codec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(f2.message, Ok(Message::TelemetryReq));
    assert!(codec.decode(&mut buf).unwrap().is_none());

    // A header from another network is fatal.
    let mut buf = BytesMut::from(&Message::TelemetryReq.to_bytes(Network::Dev).unwrap()[..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(CodecError::Header(HeaderError::WrongNetwork { .. }))
    ));
}

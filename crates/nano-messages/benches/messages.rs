//! Messages decoded and encoded per second (no signature checks) for the two hottest
//! realtime messages: publish with a state block and confirm_ack with 12 hashes. Also
//! the stream codec path (several messages per read buffer).

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use nano_core::{Amount, Block, BlockHash, Link, Network, PublicKey, Signature, StateBlock};
use nano_messages::{decode_datagram, ConfirmAck, Message, MessageCodec, Publish, Vote};
use std::hint::black_box;
use tokio_util::codec::Decoder;

fn publish() -> Message {
    Message::Publish(Box::new(Publish {
        block: Block::State(StateBlock {
            account: PublicKey([1; 32]),
            previous: BlockHash([2; 32]),
            representative: PublicKey([3; 32]),
            balance: Amount::raw(1_000_000),
            link: Link([4; 32]),
            signature: Signature([5; 64]),
            work: 0x0123_4567_89AB_CDEF,
        }),
        originator: false,
    }))
}

fn confirm_ack() -> Message {
    Message::ConfirmAck(Box::new(ConfirmAck {
        vote: Vote {
            account: PublicKey([1; 32]),
            signature: Signature([2; 64]),
            timestamp: 0x0000_018B_CFE5_6809,
            hashes: (0..12u8).map(|i| BlockHash([i + 1; 32])).collect(),
        },
        rebroadcast: false,
    }))
}

fn bench(c: &mut Criterion) {
    for (name, msg) in [
        ("publish_state", publish()),
        ("confirm_ack_12", confirm_ack()),
    ] {
        let bytes = msg.to_bytes(Network::Live).unwrap();
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        g.bench_function("decode", |b| {
            b.iter(|| decode_datagram(black_box(&bytes), Some(Network::Live)).unwrap())
        });
        let mut out = Vec::with_capacity(1024);
        g.bench_function("encode", |b| {
            b.iter(|| {
                out.clear();
                black_box(&msg).encode(Network::Live, &mut out).unwrap();
                black_box(out.len())
            })
        });
        // 64 messages back to back through the TCP codec.
        let stream: Vec<u8> = bytes
            .iter()
            .copied()
            .cycle()
            .take(bytes.len() * 64)
            .collect();
        g.throughput(Throughput::Elements(64));
        g.bench_function("codec_decode_x64", |b| {
            b.iter_batched(
                || BytesMut::from(&stream[..]),
                |mut buf| {
                    let mut codec = MessageCodec::new(Network::Live);
                    let mut n = 0;
                    while let Some(f) = codec.decode(&mut buf).unwrap() {
                        n += f.message.is_ok() as usize;
                    }
                    assert_eq!(n, 64);
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

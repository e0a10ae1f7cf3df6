//! Foundation benchmarks: signature verification (single and batch of 64), block hashing
//! and work hashing, the primitives whose speed bounds the whole node.

use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nano_core::keys::{clear_key_cache, verify, verify_batch, KeyPair, VerifyItem};
use nano_core::numbers::{BlockHash, Link, PublicKey, Root};
use nano_core::work::search_range;
use nano_core::{Amount, Block, StateBlock};

fn signed_set(n: usize) -> Vec<(PublicKey, [u8; 32], nano_core::Signature)> {
    (0..n)
        .map(|i| {
            let kp = KeyPair::random();
            let msg = [i as u8; 32];
            (kp.public(), msg, kp.sign(&msg))
        })
        .collect()
}

fn signatures(c: &mut Criterion) {
    let set = signed_set(64);
    let mut g = c.benchmark_group("signatures");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_single", |b| {
        let mut i = 0;
        b.iter(|| {
            let (k, m, s) = &set[i % set.len()];
            i += 1;
            clear_key_cache();
            assert!(verify(black_box(k), black_box(m), black_box(s)));
        })
    });
    g.bench_function("verify_single_known_key", |b| {
        let mut i = 0;
        b.iter(|| {
            let (k, m, s) = &set[i % set.len()];
            i += 1;
            assert!(verify(black_box(k), black_box(m), black_box(s)));
        })
    });
    g.throughput(Throughput::Elements(64));
    g.bench_function("verify_batch_64", |b| {
        let items: Vec<VerifyItem> = set
            .iter()
            .map(|(k, m, s)| VerifyItem {
                key: k,
                msg: m,
                sig: s,
            })
            .collect();
        b.iter(|| {
            clear_key_cache();
            let r = verify_batch(black_box(&items));
            assert!(r.iter().all(|v| *v));
        })
    });
    g.bench_function("verify_batch_64_known_keys", |b| {
        let items: Vec<VerifyItem> = set
            .iter()
            .map(|(k, m, s)| VerifyItem {
                key: k,
                msg: m,
                sig: s,
            })
            .collect();
        b.iter(|| {
            let r = verify_batch(black_box(&items));
            assert!(r.iter().all(|v| *v));
        })
    });
    g.finish();
}

fn hashing(c: &mut Criterion) {
    let kp = KeyPair::random();
    let block = StateBlock::new_signed(
        kp.public(),
        BlockHash([1; 32]),
        kp.public(),
        Amount(12345),
        Link([2; 32]),
        &kp,
        0,
    );
    let mut g = c.benchmark_group("hashing");
    g.throughput(Throughput::Elements(1));
    g.bench_function("state_block_hash", |b| b.iter(|| black_box(&block).hash()));
    g.finish();
    let _: &Block = &block;
}

fn work(c: &mut Criterion) {
    let root = Root([7; 32]);
    let mut g = c.benchmark_group("work");
    const N: u64 = 1 << 16;
    g.throughput(Throughput::Elements(N));
    g.bench_function("hashes_1_thread", |b| {
        let mut start = 0u64;
        b.iter(|| {
            // u64::MAX is practically never reached, so the whole range is hashed.
            black_box(search_range(&root, u64::MAX, start, N));
            start += N;
        })
    });
    g.finish();

    // All threads: a fixed amount of hashing split across every core, timed directly.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let per_thread: u64 = 1 << 23;
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                black_box(search_range(&root, u64::MAX, (t as u64) << 40, per_thread));
            });
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "work/hashes_all_threads: {threads} threads, {:.2} Mhash/s total",
        (per_thread * threads as u64) as f64 / secs / 1e6
    );
    let _ = AtomicBool::new(false);
}

criterion_group!(benches, signatures, hashing, work);
criterion_main!(benches);

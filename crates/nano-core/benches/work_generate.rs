//! Mean time to generate work at the live network's receive (epoch 2 receive) and send
//! (epoch 2 send/change) thresholds with every core, and the hash rate that implies
//! (expected hashes per solution = 2^64 / (2^64 − threshold)). Sample counts:
//! `WORK_BENCH_RECEIVE` (default 20) and `WORK_BENCH_SEND` (default 3).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use nano_core::work::{generate, work_value, WorkThresholds};
use nano_core::Root;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(label: &str, threshold: u64, samples: usize, threads: usize) {
    let cancel = AtomicBool::new(false);
    let mut total = 0.0;
    for i in 0..samples {
        let mut root = [0u8; 32];
        root[..8].copy_from_slice(&(i as u64 ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes());
        let root = Root(root);
        let t0 = Instant::now();
        let w = generate(&root, threshold, threads, &cancel).expect("not cancelled");
        total += t0.elapsed().as_secs_f64();
        assert!(work_value(&root, w) >= threshold);
    }
    let mean = total / samples as f64;
    let expected_hashes = 2f64.powi(64) / threshold.wrapping_neg() as f64;
    println!(
        "work_generate/{label}: threshold {threshold:016x}, {samples} samples, {threads} threads: mean {mean:.3} s, implied {:.1} Mhash/s",
        expected_hashes / mean / 1e6
    );
}

fn main() {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let t = WorkThresholds::LIVE;
    run(
        "live_receive",
        t.epoch_2_receive,
        env("WORK_BENCH_RECEIVE", 20),
        threads,
    );
    run("live_send", t.epoch_2, env("WORK_BENCH_SEND", 3), threads);
}

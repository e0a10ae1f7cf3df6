//! Throughput of `Ledger::process`: blocks per second for (a) one long chain of sends and
//! (b) many accounts sending to and receiving from each other, each measured with
//! signatures pre-verified (ledger only) and with signature and work checks.
//!
//! Blocks are generated (signed, dev-network work) before timing; the timed part is
//! processing in write batches of `BATCH` blocks, commits (fsync) included, on a fresh
//! ledger in a temporary directory. Run: `cargo bench -p nano-ledger`.

use std::time::Instant;

use nano_core::{Block, Epoch, Network};
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::{Ledger, StoreOptions};

const BATCH: usize = 2048;

fn long_chain(n: usize) -> Vec<Block> {
    let mut g = Chain::dev_genesis();
    let dests: Vec<_> = (0..16).map(|i| test_key(i).public()).collect();
    (0..n).map(|i| g.send(&dests[i % dests.len()], 1)).collect()
}

fn many_accounts(accounts: usize, rounds: usize) -> Vec<Block> {
    let mut g = Chain::dev_genesis();
    let mut chains: Vec<Chain> = (0..accounts as u32)
        .map(|i| Chain::unopened(test_key(1000 + i)))
        .collect();
    let mut out = Vec::with_capacity(accounts * (2 + 2 * rounds));
    let sends: Vec<_> = chains
        .iter()
        .map(|c| g.send(&c.account, 1_000_000))
        .collect();
    for (c, s) in chains.iter_mut().zip(&sends) {
        out.push(s.clone());
        out.push(c.receive(&s.hash(), 1_000_000, Epoch::Epoch0));
    }
    for r in 0..rounds {
        let mut pending = Vec::with_capacity(accounts);
        for i in 0..accounts {
            let to = (i + 1 + r) % accounts;
            let dest = chains[to].account;
            let s = chains[i].send(&dest, 10);
            pending.push((to, s.hash()));
            out.push(s);
        }
        for (to, h) in pending {
            out.push(chains[to].receive(&h, 10, Epoch::Epoch0));
        }
    }
    out
}

fn run(name: &str, blocks: &[Block], verify: bool) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open_with(
        &dir.path().join("data.ldb"),
        Network::Dev,
        &StoreOptions {
            map_size: 8 << 30,
            ..StoreOptions::default()
        },
    )
    .expect("open ledger");
    let start = Instant::now();
    for chunk in blocks.chunks(BATCH) {
        let mut txn = ledger.write_txn().expect("txn");
        for b in chunk {
            let r = if verify {
                ledger.process(&mut txn, b)
            } else {
                ledger.process_preverified(&mut txn, b)
            };
            if let Err(e) = r {
                panic!("{name}: block refused: {e}");
            }
        }
        txn.commit().expect("commit");
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = blocks.len() as f64 / secs;
    println!(
        "{name:<48} {:>7} blocks in {:>7.3} s = {:>9.0} blocks/s",
        blocks.len(),
        secs,
        rate
    );
    rate
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs a quick smoke pass.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (chain_n, accounts, rounds) = if quick {
        (500, 50, 2)
    } else {
        (40_000, 2_000, 9)
    };
    let t = Instant::now();
    let chain = long_chain(chain_n);
    let many = many_accounts(accounts, rounds);
    println!(
        "generated {} + {} blocks in {:.1} s (not timed below)",
        chain.len(),
        many.len(),
        t.elapsed().as_secs_f64()
    );
    let reps = if quick { 1 } else { 2 };
    for (name, blocks) in [("long chain", &chain), ("many accounts", &many)] {
        for (mode, verify) in [
            ("ledger only (sig pre-verified)", false),
            ("signature + work checks", true),
        ] {
            let best = (0..reps)
                .map(|_| run(&format!("{name}, {mode}"), blocks, verify))
                .fold(0.0f64, f64::max);
            println!("  best: {best:.0} blocks/s");
        }
    }
}

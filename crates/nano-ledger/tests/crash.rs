//! Crash safety: a child process (this test executable re-run with an environment
//! variable) writes batches of blocks and prints the ledger's block count and last block
//! after every commit; the parent kills it with SIGKILL at random points, reopens the
//! ledger and checks that every reported commit survived and the invariants hold.
//!
//! The child's block sequence is deterministic (fixed keys, deterministic work and
//! signatures), so each restart regenerates the same blocks and skips those already in
//! the ledger (`old`), continuing where the killed run stopped.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nano_core::{Block, BlockHash, Epoch};
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::{BlockStatus, ProcessError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "NANO_LEDGER_CRASH_DIR";
const PLAN_BLOCKS: usize = 1200;
const BATCH: usize = 24;
const KILLS: usize = 12;

/// Deterministic block sequence: genesis funds a few accounts, which open and pay each
/// other, with receives following their sends.
struct Plan {
    chains: Vec<Chain>,
    receivable: Vec<(usize, BlockHash, u128)>,
    rng: StdRng,
}

impl Plan {
    fn new() -> Plan {
        let mut chains = vec![Chain::dev_genesis()];
        chains.extend((0..8).map(|i| Chain::unopened(test_key(100 + i))));
        Plan {
            chains,
            receivable: Vec::new(),
            rng: StdRng::seed_from_u64(42),
        }
    }

    fn next_block(&mut self) -> Block {
        let n = self.chains.len();
        if !self.receivable.is_empty() && self.rng.random_bool(0.5) {
            let i = self.rng.random_range(0..self.receivable.len());
            let (dest, hash, amount) = self.receivable.swap_remove(i);
            return self.chains[dest].receive(&hash, amount, Epoch::Epoch0);
        }
        let funded: Vec<usize> = (0..n).filter(|i| self.chains[*i].balance.0 > 0).collect();
        let from = funded[self.rng.random_range(0..funded.len())];
        let mut to = self.rng.random_range(1..n);
        if to == from {
            to = if to + 1 < n { to + 1 } else { 1 };
        }
        let bal = self.chains[from].balance.0;
        let amount = self.rng.random_range(1..=bal.min(1 << 40));
        let dest = self.chains[to].account;
        let b = self.chains[from].send(&dest, amount);
        self.receivable.push((to, b.hash(), amount));
        b
    }
}

/// The child: process the plan in batches, reporting each commit; then exit.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // Only meaningful when spawned by the parent test.
    };
    let ledger = nano_ledger::Ledger::open_with(
        &std::path::Path::new(&dir).join("data.ldb"),
        nano_core::Network::Dev,
        &nano_ledger::StoreOptions {
            map_size: 1 << 30,
            ..Default::default()
        },
    )
    .unwrap();
    let mut plan = Plan::new();
    let mut out = std::io::stdout();
    let mut done = 0;
    while done < PLAN_BLOCKS {
        let blocks: Vec<Block> = (0..BATCH).map(|_| plan.next_block()).collect();
        done += BATCH;
        let mut txn = ledger.write_txn().unwrap();
        for b in &blocks {
            match ledger.process(&mut txn, b) {
                Ok(_) | Err(ProcessError::Rejected(BlockStatus::Old)) => {}
                Err(e) => panic!("child: {e}"),
            }
        }
        txn.commit().unwrap();
        let count = ledger.block_count(&ledger.read_txn().unwrap()).unwrap();
        let last = blocks.last().unwrap().hash();
        writeln!(out, "committed {count} {last}").unwrap();
        out.flush().unwrap();
    }
    writeln!(out, "finished").unwrap();
    out.flush().unwrap();
}

#[test]
fn killed_writer_keeps_every_committed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut finished = false;
    let mut kills = 0;
    // Block count as of the last reopen: commits that only replay old blocks do not
    // count towards the kill point, so every round makes progress.
    let mut known = 0u64;
    let started = Instant::now();
    for round in 0..KILLS + 5 {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let kill_after = rng.random_range(1..6);
        let mut seen = 0;
        let mut last: Option<(u64, BlockHash)> = None;
        let mut child_finished = false;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if line == "finished" {
                child_finished = true;
                break;
            }
            let Some(rest) = line.strip_prefix("committed ") else {
                continue;
            };
            let (count, hash) = rest.split_once(' ').unwrap();
            let count: u64 = count.parse().unwrap();
            last = Some((count, hash.parse().unwrap()));
            if count > known {
                seen += 1;
            }
            if seen >= kill_after && round < KILLS {
                break;
            }
        }
        if !child_finished && round < KILLS {
            // Let the next batch get under way, then kill mid-write.
            std::thread::sleep(Duration::from_micros(rng.random_range(0..3000)));
            child.kill().unwrap(); // SIGKILL on Unix; only the PID we spawned.
            kills += 1;
        }
        // Drain so a finishing child is not blocked on a full pipe, then reap it.
        for _ in lines {}
        let status = child.wait().unwrap();
        if child_finished {
            assert!(status.success(), "child failed: {status}");
        }
        let ledger = common::open(&dir);
        let txn = ledger.read_txn().unwrap();
        if let Some((count, hash)) = last {
            let now = ledger.block_count(&txn).unwrap();
            assert!(
                now >= count,
                "round {round}: {now} blocks < committed {count}"
            );
            assert!(
                ledger.block_exists(&txn, &hash).unwrap(),
                "round {round}: committed block {hash} lost"
            );
        }
        let report = ledger.check_consistency(&txn).unwrap();
        known = report.blocks;
        eprintln!(
            "round {round}: reported {:?}, found {} blocks, finished {child_finished}",
            last.map(|l| l.0),
            report.blocks
        );
        assert!(ledger.weights_cache_matches(&txn).unwrap());
        drop(txn);
        drop(ledger);
        if child_finished {
            finished = true;
            break;
        }
    }
    assert!(kills >= KILLS, "only {kills} kills");
    assert!(finished, "the last run did not finish");
    let ledger = common::open(&dir);
    let txn = ledger.read_txn().unwrap();
    assert_eq!(ledger.block_count(&txn).unwrap(), 1 + PLAN_BLOCKS as u64);
    assert!(started.elapsed() < Duration::from_secs(120));
}

//! A deterministic dev-network ledger generator for bootstrap tests and the bootstrap
//! benchmark: many accounts with sends, receives (and opens), representative changes,
//! epoch 1 and 2 upgrades and a few legacy blocks, every block valid (real signatures and
//! dev work) and written straight into a [`Ledger`] (not through the block processor).
//! Blocks are built hash-chained but unsealed, sealed (signed, worked) on every core a
//! chunk at a time, and written a chunk per write transaction. Same arguments → the
//! same blocks.

use nano_core::{Account, BlockHash, Epoch};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain, Seal};
use nano_ledger::Ledger;

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    /// Blocks in the ledger including genesis.
    pub blocks: u64,
    pub accounts: u64,
}

/// splitmix64: a tiny deterministic generator (no dependency, stable across versions).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

struct Acc {
    chain: Chain,
    /// Receivable sends: (hash, amount, sender's epoch).
    pending: std::collections::VecDeque<(BlockHash, u128, Epoch)>,
}

/// Blocks built, sealed and written per write transaction: sealing (work and
/// signature, the generator's cost) runs on every core over one chunk at a time, and a
/// commit this size keeps the ledger's free pages and LMDB's dirty-page memory small
/// (see the block processor's batch bound).
const CHUNK: usize = 4096;

/// Blocks cemented per write transaction after generation: cementing a 10M-block
/// ledger in one transaction would hold every page it touches dirty at once (a
/// confirmation-log row per block, a confirmation height per account); 65,536 keeps a
/// commit to tens of MB while the fsyncs stay few.
const CEMENT_PER_TXN: usize = 65_536;

/// Blocks built (hash-chained, unsealed) and not yet written.
struct Pending<'l> {
    ledger: &'l Ledger,
    blocks: Vec<(nano_core::Block, Seal)>,
    written: u64,
}

impl Pending<'_> {
    /// Takes the block `chain` just built (with `defer_sealing` set).
    fn push(&mut self, chain: &mut Chain, block: nano_core::Block) -> Result<(), String> {
        let seal = chain
            .take_seal()
            .ok_or_else(|| "generator chain built a sealed block".to_string())?;
        self.blocks.push((block, seal));
        if self.blocks.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Seals the chunk on every core, then writes it in build order (dependencies
    /// first) in one transaction. The ledger checks every rule but the signature, which
    /// was made here with the signer the block needs.
    fn flush(&mut self) -> Result<(), String> {
        if self.blocks.is_empty() {
            return Ok(());
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = self.blocks.len().div_ceil(threads);
        let mut sealed: Vec<nano_core::Block> = Vec::with_capacity(self.blocks.len());
        std::thread::scope(|s| {
            let parts: Vec<_> = self
                .blocks
                .chunks(per)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|(b, seal)| seal.apply(b.clone()))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for p in parts {
                sealed.extend(p.join().unwrap_or_default());
            }
        });
        if sealed.len() != self.blocks.len() {
            return Err("a sealing thread failed".into());
        }
        self.blocks.clear();
        let mut txn = self.ledger.write_txn().map_err(|e| e.to_string())?;
        for b in &sealed {
            self.ledger
                .process_preverified(&mut txn, b)
                .map_err(|e| format!("generated block {} refused: {e:?}", b.hash()))?;
        }
        txn.commit().map_err(|e| e.to_string())?;
        self.written += sealed.len() as u64;
        Ok(())
    }
}

/// Fills a fresh dev ledger with about `target_blocks` blocks spread over `accounts`
/// accounts, then cements everything (so confirmed-only frontier requests and
/// `account_info` confirmation fields have content). `progress` is called now and then
/// with the number of blocks written.
pub fn generate(
    ledger: &Ledger,
    target_blocks: u64,
    accounts: u32,
    progress: impl FnMut(u64),
) -> Result<Generated, String> {
    generate_cementing(ledger, target_blocks, accounts, CEMENT_PER_TXN, progress)
}

/// [`generate`], cementing at most `cement_per_txn` blocks per write transaction.
fn generate_cementing(
    ledger: &Ledger,
    target_blocks: u64,
    accounts: u32,
    cement_per_txn: usize,
    mut progress: impl FnMut(u64),
) -> Result<Generated, String> {
    let accounts = accounts.max(2);
    let mut rng = Rng(0x6e61_6e6f_626f_6f74);
    let epoch_signer = dev_genesis_key();
    let mut genesis = Chain::dev_genesis();
    genesis.defer_sealing = true;
    let mut accs: Vec<Acc> = (0..accounts)
        .map(|i| {
            let mut chain = Chain::unopened(test_key(i));
            chain.defer_sealing = true;
            Acc {
                chain,
                pending: Default::default(),
            }
        })
        .collect();
    let reps: Vec<Account> = accs.iter().take(8).map(|a| a.chain.account).collect();
    let mut count = 1u64;
    let mut out = Pending {
        ledger,
        blocks: Vec::with_capacity(CHUNK),
        written: 0,
    };
    // A legacy prefix: legacy send, open and change before any epoch upgrade.
    {
        let s = genesis.legacy_send(&accs[0].chain.account, 1_000_000_000_000);
        let h = s.hash();
        out.push(&mut genesis, s)?;
        let rep = reps[1];
        let o = accs[0].chain.legacy_open(&h, 1_000_000_000_000, &rep);
        out.push(&mut accs[0].chain, o)?;
        let c = accs[0].chain.legacy_change(&reps[2]);
        out.push(&mut accs[0].chain, c)?;
        count += 3;
    }
    let unit: u128 = 1_000_000_000_000_000_000_000_000_000_000; // 10^33 raw
    let mut reported = 0u64;
    while count < target_blocks {
        let i = rng.below(accs.len());
        let a = &mut accs[i];
        if let Some((src, amount, epoch)) = a.pending.pop_front() {
            let b = a.chain.receive(&src, amount, epoch);
            out.push(&mut a.chain, b)?;
        } else if a.chain.height == 0 || a.chain.balance.0 < 16 {
            // Fund it from genesis.
            let s = genesis.send(&a.chain.account, unit);
            a.pending.push_back((s.hash(), unit, genesis.epoch));
            out.push(&mut genesis, s)?;
        } else {
            let roll = rng.below(100);
            if roll < 12 {
                let r = reps[rng.below(reps.len())];
                let b = a.chain.change(&r);
                out.push(&mut a.chain, b)?;
            } else if roll < 16 && a.chain.epoch != Epoch::Epoch2 {
                let next = if a.chain.epoch == Epoch::Epoch0 {
                    Epoch::Epoch1
                } else {
                    Epoch::Epoch2
                };
                let b = a.chain.epoch_block(next, &epoch_signer);
                out.push(&mut a.chain, b)?;
            } else {
                let amount = a.chain.balance.0 / 4 + 1;
                let mut j = rng.below(accs.len());
                if j == i {
                    j = (j + 1) % accs.len();
                }
                let dest = accs[j].chain.account;
                let a = &mut accs[i];
                let epoch = a.chain.epoch;
                let s = a.chain.send(&dest, amount);
                let h = s.hash();
                out.push(&mut a.chain, s)?;
                accs[j].pending.push_back((h, amount, epoch));
            }
        }
        count += 1;
        if out.written >= reported + 20_000 {
            reported = out.written;
            progress(out.written + 1);
        }
    }
    out.flush()?;
    let heads: Vec<BlockHash> = std::iter::once(genesis.head)
        .chain(
            accs.iter()
                .filter(|a| a.chain.height > 0)
                .map(|a| a.chain.head),
        )
        .collect();
    cement_all(ledger, &heads, cement_per_txn)?;
    let rtxn = ledger.read_txn().map_err(|e| e.to_string())?;
    Ok(Generated {
        blocks: ledger.block_count(&rtxn).map_err(|e| e.to_string())?,
        accounts: ledger.account_count(&rtxn).map_err(|e| e.to_string())?,
    })
}

/// Cements every chain up to `heads`, committing each time `per_txn` blocks were
/// cemented: the first head alone pulls in most of the ledger as dependencies, and one
/// transaction over millions of blocks would hold every page it touches dirty at once.
fn cement_all(ledger: &Ledger, heads: &[BlockHash], per_txn: usize) -> Result<(), String> {
    let mut txn = ledger.write_txn().map_err(|e| e.to_string())?;
    let mut in_txn = 0usize;
    for h in heads {
        loop {
            let step = ledger
                .confirm_limited(&mut txn, h, per_txn)
                .map_err(|e| e.to_string())?;
            in_txn += step.cemented.len();
            if in_txn >= per_txn {
                txn.commit().map_err(|e| e.to_string())?;
                txn = ledger.write_txn().map_err(|e| e.to_string())?;
                in_txn = 0;
            }
            if step.complete {
                break;
            }
        }
    }
    txn.commit().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cementing in many small transactions (7 blocks each) reaches the same state as
    /// in large ones: every block cemented, every account's confirmation height at its
    /// head, the confirmation log as long as the ledger.
    #[test]
    fn cementing_in_bounded_transactions_cements_everything() {
        let open = |d: &tempfile::TempDir| {
            Ledger::open(&d.path().join("data.ldb"), nano_core::Network::Dev).unwrap()
        };
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (big, small) = (open(&d1), open(&d2));
        let g1 = generate_cementing(&big, 600, 40, CEMENT_PER_TXN, |_| {}).unwrap();
        let g2 = generate_cementing(&small, 600, 40, 7, |_| {}).unwrap();
        assert_eq!(g1, g2);
        assert!(g2.blocks >= 600, "{g2:?}");
        assert_eq!(small.cemented_count(), g2.blocks);
        assert_eq!(big.cemented_count(), g1.blocks);
        let (t1, t2) = (big.read_txn().unwrap(), small.read_txn().unwrap());
        let accounts: Vec<_> = big
            .accounts_from(&t1, &Account::ZERO)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(accounts.len() as u64, g1.accounts);
        for (account, info) in accounts {
            let c = small.store().confirmation_height(&t2, &account).unwrap();
            assert_eq!(c.height, info.block_count, "{account}");
            assert_eq!(c.frontier, info.head, "{account}");
        }
    }
}

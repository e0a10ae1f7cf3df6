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
    // Cement every chain.
    let mut txn = ledger.write_txn().map_err(|e| e.to_string())?;
    let heads: Vec<BlockHash> = std::iter::once(genesis.head)
        .chain(
            accs.iter()
                .filter(|a| a.chain.height > 0)
                .map(|a| a.chain.head),
        )
        .collect();
    for h in heads {
        ledger.confirm(&mut txn, &h).map_err(|e| e.to_string())?;
    }
    txn.commit().map_err(|e| e.to_string())?;
    let rtxn = ledger.read_txn().map_err(|e| e.to_string())?;
    Ok(Generated {
        blocks: ledger.block_count(&rtxn).map_err(|e| e.to_string())?,
        accounts: ledger.account_count(&rtxn).map_err(|e| e.to_string())?,
    })
}

//! A deterministic dev-network ledger generator for bootstrap tests and the bootstrap
//! benchmark: many accounts with sends, receives (and opens), representative changes,
//! epoch 1 and 2 upgrades and a few legacy blocks, every block valid (real signatures and
//! dev work) and written straight into a [`Ledger`] in large write transactions. Same
//! arguments → byte-identical ledger.

use nano_core::{Account, BlockHash, Epoch};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
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
    let mut accs: Vec<Acc> = (0..accounts)
        .map(|i| Acc {
            chain: Chain::unopened(test_key(i)),
            pending: Default::default(),
        })
        .collect();
    let reps: Vec<Account> = accs.iter().take(8).map(|a| a.chain.account).collect();
    let mut count = 1u64;
    let mut txn = ledger.write_txn().map_err(|e| e.to_string())?;
    let mut in_txn = 0u32;
    let put = |txn: &mut nano_ledger::WriteTxn<'_>, b: nano_core::Block| -> Result<(), String> {
        ledger
            .process(txn, &b)
            .map(|_| ())
            .map_err(|e| format!("generated block {} refused: {e:?}", b.hash()))
    };
    // A legacy prefix: legacy send, open and change before any epoch upgrade.
    {
        let s = genesis.legacy_send(&accs[0].chain.account, 1_000_000_000_000);
        let h = s.hash();
        put(&mut txn, s)?;
        let rep = reps[1];
        let o = accs[0].chain.legacy_open(&h, 1_000_000_000_000, &rep);
        put(&mut txn, o)?;
        let c = accs[0].chain.legacy_change(&reps[2]);
        put(&mut txn, c)?;
        count += 3;
    }
    let unit: u128 = 1_000_000_000_000_000_000_000_000_000_000; // 10^33 raw
    while count < target_blocks {
        let i = rng.below(accs.len());
        let a = &mut accs[i];
        let block = if let Some((src, amount, epoch)) = a.pending.pop_front() {
            a.chain.receive(&src, amount, epoch)
        } else if a.chain.height == 0 || a.chain.balance.0 < 16 {
            // Fund it from genesis.
            let s = genesis.send(&a.chain.account, unit);
            a.pending.push_back((s.hash(), unit, genesis.epoch));
            s
        } else {
            let roll = rng.below(100);
            if roll < 12 {
                let r = reps[rng.below(reps.len())];
                a.chain.change(&r)
            } else if roll < 16 && a.chain.epoch != Epoch::Epoch2 {
                let next = if a.chain.epoch == Epoch::Epoch0 {
                    Epoch::Epoch1
                } else {
                    Epoch::Epoch2
                };
                a.chain.epoch_block(next, &epoch_signer)
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
                accs[j].pending.push_back((s.hash(), amount, epoch));
                s
            }
        };
        put(&mut txn, block)?;
        count += 1;
        in_txn += 1;
        if in_txn >= 20_000 {
            txn.commit().map_err(|e| e.to_string())?;
            txn = ledger.write_txn().map_err(|e| e.to_string())?;
            in_txn = 0;
            progress(count);
        }
    }
    txn.commit().map_err(|e| e.to_string())?;
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

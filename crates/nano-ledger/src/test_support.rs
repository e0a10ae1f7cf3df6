//! Block builders for tests and benchmarks of this and later crates: valid, signed blocks
//! with real (dev-network) proof of work, tracking each account's chain state so a
//! test can write `alice.send(&bob, 10)` instead of filling fields by hand.
//!
//! Work is found deterministically (scanning nonces from zero), so the same sequence of
//! calls always yields byte-identical blocks. On the dev network this costs about a
//! hundred BLAKE2b hashes per block.

use nano_core::keys::RawKey;
use nano_core::network::DEV_GENESIS_PRIVATE_KEY;
use nano_core::work::search_range;
use nano_core::{
    Account, Amount, Block, BlockHash, ChangeBlock, Epoch, KeyPair, Link, Network, NetworkParams,
    OpenBlock, ReceiveBlock, Root, SendBlock, Signature, StateBlock,
};

/// The dev genesis key: holds the whole dev supply and signs dev epoch blocks.
pub fn dev_genesis_key() -> KeyPair {
    KeyPair::from_private(RawKey::decode_hex(DEV_GENESIS_PRIVATE_KEY).expect("constant"))
}

/// A deterministic key for index `i` (seeded from a fixed test seed).
pub fn test_key(i: u32) -> KeyPair {
    KeyPair::from_private(RawKey::from_bytes([0x5a; 32]).derive(i))
}

/// The smallest nonce whose work over `root` reaches `threshold`.
pub fn work_for(root: &Root, threshold: u64) -> u64 {
    search_range(root, threshold, 0, u64::MAX).expect("a nonce exists below 2^64")
}

/// Sets `block`'s work to the smallest nonce reaching `threshold`.
pub fn with_work(mut block: Block, threshold: u64) -> Block {
    let w = work_for(&block.root(), threshold);
    block.set_work(w);
    block
}

/// A nonce whose work over `root` is *below* `threshold`: for insufficient_work tests.
pub fn bad_work(root: &Root, threshold: u64) -> u64 {
    (0u64..)
        .find(|n| nano_core::work::work_value(root, *n) < threshold)
        .expect("most nonces fail")
}

/// A signed state block with work at `threshold`.
#[allow(clippy::too_many_arguments)]
pub fn state_block(
    key: &KeyPair,
    account: Account,
    previous: BlockHash,
    representative: Account,
    balance: Amount,
    link: Link,
    threshold: u64,
) -> Block {
    let b = unsealed_state(account, previous, representative, balance, link);
    Seal {
        signer: key.clone(),
        threshold,
    }
    .apply(b)
}

/// A state block without signature and work (its hash is already final).
fn unsealed_state(
    account: Account,
    previous: BlockHash,
    representative: Account,
    balance: Amount,
    link: Link,
) -> Block {
    Block::State(StateBlock {
        account,
        previous,
        representative,
        balance,
        link,
        signature: Signature::ZERO,
        work: 0,
    })
}

/// What a block built by a [`Chain`] with `defer_sealing` set still needs: its
/// signature and its work. Hashes do not cover either, so a generator can build blocks
/// (and chain them by hash) first and seal many of them in parallel afterwards.
#[derive(Clone)]
pub struct Seal {
    pub signer: KeyPair,
    pub threshold: u64,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seal")
            .field("signer", &self.signer.public())
            .field("threshold", &self.threshold)
            .finish()
    }
}

impl Seal {
    pub fn apply(&self, mut block: Block) -> Block {
        block.sign(&self.signer);
        with_work(block, self.threshold)
    }
}

/// One account's chain as the builder believes the ledger holds it. Each builder method
/// returns the next block and advances this state as if the block were accepted.
#[derive(Debug, Clone)]
pub struct Chain {
    pub key: KeyPair,
    pub account: Account,
    pub head: BlockHash,
    pub balance: Amount,
    pub representative: Account,
    pub epoch: Epoch,
    pub height: u64,
    pub params: &'static NetworkParams,
    /// Build blocks unsigned and without work, leaving what sealing needs in
    /// [`Chain::take_seal`] (off by default: blocks come out ready to process).
    pub defer_sealing: bool,
    seal: Option<Seal>,
}

impl Chain {
    /// The dev genesis account right after ledger creation.
    pub fn dev_genesis() -> Chain {
        let params = Network::Dev.params();
        Chain {
            key: dev_genesis_key(),
            account: params.genesis_account,
            head: params.genesis_hash,
            balance: params.genesis_amount,
            representative: params.genesis_account,
            epoch: Epoch::Epoch0,
            height: 1,
            params,
            defer_sealing: false,
            seal: None,
        }
    }

    /// An account with no blocks yet, on the dev network.
    pub fn unopened(key: KeyPair) -> Chain {
        let params = Network::Dev.params();
        Chain {
            account: key.public(),
            key,
            head: BlockHash::ZERO,
            balance: Amount::ZERO,
            representative: Account::ZERO,
            epoch: Epoch::Epoch0,
            height: 0,
            params,
            defer_sealing: false,
            seal: None,
        }
    }

    /// The seal of the last block built while `defer_sealing` was set.
    pub fn take_seal(&mut self) -> Option<Seal> {
        self.seal.take()
    }

    fn sealed(&mut self, block: Block, signer: &KeyPair, threshold: u64) -> Block {
        let seal = Seal {
            signer: signer.clone(),
            threshold,
        };
        if self.defer_sealing {
            self.seal = Some(seal);
            block
        } else {
            seal.apply(block)
        }
    }

    fn advance(&mut self, b: &Block, balance: Amount, rep: Account, epoch: Epoch) {
        self.head = b.hash();
        self.balance = balance;
        self.representative = rep;
        self.epoch = epoch;
        self.height += 1;
    }

    fn state(&mut self, rep: Account, balance: Amount, link: Link, threshold: u64) -> Block {
        let b = unsealed_state(self.account, self.head, rep, balance, link);
        let key = self.key.clone();
        self.sealed(b, &key, threshold)
    }

    /// State send of `amount` to `destination`.
    pub fn send(&mut self, destination: &Account, amount: u128) -> Block {
        let balance = Amount(self.balance.0 - amount);
        let t = self.params.work.threshold(self.epoch, false);
        let b = self.state(self.representative, balance, (*destination).into(), t);
        self.advance(&b, balance, self.representative, self.epoch);
        b
    }

    /// State receive (or open, for an unopened chain) of `source` worth `amount`, sent
    /// at `source_epoch`. An open takes `representative` = own account unless set.
    pub fn receive(&mut self, source: &BlockHash, amount: u128, source_epoch: Epoch) -> Block {
        let balance = Amount(self.balance.0 + amount);
        let epoch = self.epoch.max(source_epoch);
        let t = self.params.work.threshold(epoch, true);
        let rep = if self.height == 0 && self.representative.is_zero() {
            self.account
        } else {
            self.representative
        };
        let b = self.state(rep, balance, (*source).into(), t);
        self.advance(&b, balance, rep, epoch);
        b
    }

    /// State change of representative.
    pub fn change(&mut self, representative: &Account) -> Block {
        let t = self.params.work.threshold(self.epoch, false);
        let b = self.state(*representative, self.balance, Link::ZERO, t);
        self.advance(&b, self.balance, *representative, self.epoch);
        b
    }

    /// Epoch upgrade to `epoch`, signed by `signer` (the network's epoch signer for a
    /// valid block). Works for unopened chains too (epoch open).
    pub fn epoch_block(&mut self, epoch: Epoch, signer: &KeyPair) -> Block {
        let link = self.params.epoch_link(epoch).expect("epoch 1 or 2");
        let t = self.params.work.threshold(epoch, true);
        let b = unsealed_state(
            self.account,
            self.head,
            self.representative,
            self.balance,
            link,
        );
        let b = self.sealed(b, signer, t);
        self.advance(&b, self.balance, self.representative, epoch);
        b
    }

    fn legacy(&mut self, b: Block) -> Block {
        let key = self.key.clone();
        self.sealed(b, &key, self.params.work.epoch_1)
    }

    /// Legacy send.
    pub fn legacy_send(&mut self, destination: &Account, amount: u128) -> Block {
        let balance = Amount(self.balance.0 - amount);
        let b = self.legacy(Block::Send(SendBlock {
            previous: self.head,
            destination: *destination,
            balance,
            signature: Signature::ZERO,
            work: 0,
        }));
        self.advance(&b, balance, self.representative, Epoch::Epoch0);
        b
    }

    /// Legacy receive of `source` worth `amount`.
    pub fn legacy_receive(&mut self, source: &BlockHash, amount: u128) -> Block {
        let balance = Amount(self.balance.0 + amount);
        let b = self.legacy(Block::Receive(ReceiveBlock {
            previous: self.head,
            source: *source,
            signature: Signature::ZERO,
            work: 0,
        }));
        self.advance(&b, balance, self.representative, Epoch::Epoch0);
        b
    }

    /// Legacy open receiving `source` worth `amount`, delegating to `representative`.
    pub fn legacy_open(
        &mut self,
        source: &BlockHash,
        amount: u128,
        representative: &Account,
    ) -> Block {
        let b = self.legacy(Block::Open(OpenBlock {
            source: *source,
            representative: *representative,
            account: self.account,
            signature: Signature::ZERO,
            work: 0,
        }));
        self.advance(&b, Amount(amount), *representative, Epoch::Epoch0);
        b
    }

    /// Legacy change of representative.
    pub fn legacy_change(&mut self, representative: &Account) -> Block {
        let b = self.legacy(Block::Change(ChangeBlock {
            previous: self.head,
            representative: *representative,
            signature: Signature::ZERO,
            work: 0,
        }));
        self.advance(&b, self.balance, *representative, Epoch::Epoch0);
        b
    }
}

/// Unzips the shared reference-ledger fixture `name` (e.g. `reference-ledger-dev-5k`,
/// from the repository's sibling `shared/fixtures/`) into the file `dest` and returns the
/// fixture's directory (with its `expected.json`). Panics if the fixture is missing: a
/// test that needs it fails rather than skips.
pub fn reference_fixture(name: &str, dest: &std::path::Path) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(name);
    assert!(
        dir.join("data.ldb.gz").is_file(),
        "fixture {} is missing",
        dir.display()
    );
    let out = std::process::Command::new("gunzip")
        .arg("-c")
        .arg(dir.join("data.ldb.gz"))
        .output()
        .expect("gunzip runs");
    assert!(out.status.success(), "gunzip failed");
    std::fs::write(dest, &out.stdout).expect("fixture written");
    dir
}

//! Offline ledger and wallet commands of `nano_node` (`--peer_clear`, `--rollback`,
//! `--wallet_create`, ...): they open the stores of the data directory directly, do one
//! thing in one transaction, and print what they did in the reference node's words.
//! The ledger commands refuse to run while another process (a running node) has the
//! ledger open; see [`crate::ledger_lock`].

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use nano_core::{Account, BlockHash, Network, PublicKey, QualifiedRoot, RawKey};
use nano_ledger::{Ledger, StoreError};
use nano_wallet::{Restore, WalletId, Wallets, WalletsConfig};

use crate::daemon::{initialize, LedgerAt};
use crate::ledger_lock::LedgerLock;

/// Opens the ledger (creating it if needed, as the reference's write commands do) after
/// making sure no other process has it open; the returned lock must be kept until the
/// ledger is dropped.
pub(crate) fn open_ledger_for_writing(at: &LedgerAt) -> Result<(LedgerLock, Arc<Ledger>)> {
    std::fs::create_dir_all(&at.dir)
        .with_context(|| format!("cannot create {}", at.dir.display()))?;
    let lock = LedgerLock::acquire(&at.path())?;
    let ledger = initialize(at)?;
    Ok((lock, ledger))
}

/// Opens the existing ledger file `ledger` (`<data_path>/data.ldb` or a copy of one)
/// with the options of `at`; a missing ledger is an error, not created. (This node's
/// earlier `data.ldb/` directory is migrated by the open.)
pub(crate) fn open_existing(at: &LedgerAt, ledger: &Path) -> Result<Ledger> {
    if !ledger.exists() {
        bail!("No ledger found at {}", ledger.display());
    }
    Ok(Ledger::open_with(ledger, at.network, &at.options)?)
}

/// [`open_existing`] for the commands that only read: a current ledger is opened
/// read-only, so checking a downloaded snapshot leaves it byte for byte as it was. A
/// ledger of an older store version or this node's earlier directory layout is opened
/// as [`open_existing`] does, upgrading or migrating it with progress first, as every
/// command of the reference node upgrades the ledger it opens.
pub(crate) fn open_existing_read_only(at: &LedgerAt, ledger: &Path) -> Result<Ledger> {
    if !ledger.exists() {
        bail!("No ledger found at {}", ledger.display());
    }
    match Ledger::open_read_only(ledger, at.network, &at.options) {
        Ok(l) => Ok(l),
        Err(e)
            if matches!(
                e.cause(),
                StoreError::Upgrade { .. } | StoreError::Migrate(_)
            ) =>
        {
            open_existing(at, ledger)
        }
        Err(e) => Err(e.into()),
    }
}

fn open_wallets(network: Network, dir: &Path) -> Result<Wallets> {
    std::fs::create_dir_all(dir)?;
    let cfg = if network == Network::Dev {
        WalletsConfig::dev()
    } else {
        WalletsConfig::default()
    };
    Wallets::open(dir, cfg).map_err(|e| anyhow!("cannot open wallets in {}: {e}", dir.display()))
}

/// Empties the peers table; returns what to print.
pub(crate) fn clear_peers(l: &Ledger) -> Result<String> {
    let mut t = l.write_txn()?;
    t.clear_peers()?;
    t.commit()?;
    Ok("Database peers are removed\n".into())
}

/// `--unchecked_clear`: unchecked blocks wait only in a running node's memory (the
/// reference's ledger file has no unchecked table since store version 22), so a node
/// that is not running holds none; this only says so in the reference's words.
pub(crate) fn clear_unchecked(_l: &Ledger) -> Result<String> {
    Ok("Unchecked blocks deleted\n".into())
}

/// Deletes every online weight sample; returns what to print.
pub(crate) fn clear_online_weight(l: &Ledger) -> Result<String> {
    let mut t = l.write_txn()?;
    let keys: Vec<u64> = l
        .store()
        .iter_online_weight(&t)?
        .map(|r| r.map(|(k, _)| k))
        .collect::<Result<_, _>>()?;
    for k in keys {
        t.del_online_weight(k)?;
    }
    t.commit()?;
    Ok("Online weight records are removed\n".into())
}

/// Resets confirmation heights to 0 (the genesis account to 1), for one account or
/// `all`; returns what to print.
pub(crate) fn clear_confirmation_heights(l: &Ledger, account: &str) -> Result<String> {
    let p = l.params();
    let mut t = l.write_txn()?;
    let targets: Vec<Account> = if account == "all" {
        l.store()
            .confirmation_heights_from(&t, &Account::ZERO)?
            .map(|r| r.map(|(a, _)| a))
            .collect::<Result<_, _>>()?
    } else {
        vec![PublicKey::decode_account(account)
            .map_err(|_| anyhow!("Specify either valid account id or 'all'"))?]
    };
    for a in &targets {
        if *a == p.genesis_account {
            t.put_confirmation_height(
                a,
                &nano_store::ConfirmationHeightInfo {
                    height: 1,
                    frontier: p.genesis_hash,
                },
            )?;
        } else {
            t.del_confirmation_height(a)?;
        }
    }
    t.commit()?;
    Ok(if account == "all" {
        "Confirmation heights of all accounts (except genesis which is set to 1) are set to 0\n"
            .to_string()
    } else {
        format!(
            "Confirmation height of account {account} is set to {}\n",
            if targets.first() == Some(&p.genesis_account) {
                1
            } else {
                0
            }
        )
    })
}

pub fn peer_clear(at: &LedgerAt) -> Result<String> {
    let (_lock, l) = open_ledger_for_writing(at)?;
    clear_peers(&l)
}

pub fn unchecked_clear(at: &LedgerAt) -> Result<String> {
    let (_lock, l) = open_ledger_for_writing(at)?;
    clear_unchecked(&l)
}

pub fn online_weight_clear(at: &LedgerAt) -> Result<String> {
    let (_lock, l) = open_ledger_for_writing(at)?;
    clear_online_weight(&l)
}

pub fn final_vote_clear(at: &LedgerAt, root: Option<&str>, all: bool) -> Result<String> {
    if root.is_none() && !all {
        bail!("Either specify a single --root to clear or --all to clear all final votes (not recommended)");
    }
    let (_lock, l) = open_ledger_for_writing(at)?;
    let mut t = l.write_txn()?;
    if let Some(root) = root {
        let mut b = [0u8; 64];
        nano_core::numbers::decode_hex_into(root, &mut b).map_err(|_| anyhow!("Invalid root"))?;
        t.del_final_vote(&QualifiedRoot::from_bytes(&b))?;
    } else {
        t.clear_final_votes()?;
    }
    t.commit()?;
    Ok(if all {
        "All final votes are cleared\n"
    } else {
        "Successfully cleared final votes\n"
    }
    .into())
}

/// Resets confirmation heights to 0 (the genesis account to 1), for one account or all.
pub fn confirmation_height_clear(at: &LedgerAt, account: &str) -> Result<String> {
    let (_lock, l) = open_ledger_for_writing(at)?;
    clear_confirmation_heights(&l, account)
}

pub fn rollback(at: &LedgerAt, hash: &str) -> Result<String> {
    let h = BlockHash::decode_hex(hash).map_err(|_| anyhow!("Invalid block hash"))?;
    let (_lock, l) = open_ledger_for_writing(at)?;
    let mut t = l.write_txn()?;
    if !l.block_exists(&t, &h)? {
        bail!("Block not found in ledger");
    }
    if l.block_confirmed(&t, &h)? {
        bail!("Cannot rollback cemented block");
    }
    let rolled = l
        .rollback(&mut t, &h)
        .map_err(|e| anyhow!("Error rolling back block: {e}"))?;
    t.commit()?;
    Ok(format!(
        "Rolling back {} ...\nBlock rollback complete\nRolled back {} dependent blocks\n",
        h.encode_hex(),
        rolled.len()
    ))
}

fn wallet_arg(w: &Wallets, wallet: Option<&str>) -> Result<WalletId> {
    let id = WalletId::decode_hex(
        wallet.ok_or_else(|| anyhow!("this command requires one <wallet> option"))?,
    )
    .map_err(|_| anyhow!("Invalid wallet id"))?;
    if !w.exists(id)? {
        bail!("Wallet doesn't exist");
    }
    Ok(id)
}

fn unlock(w: &Wallets, id: WalletId, password: Option<&str>) -> Result<()> {
    if let Some(pw) = password {
        w.enter_password(id, pw)
            .map_err(|_| anyhow!("Invalid password"))?;
    }
    if w.locked(id)? {
        bail!("Invalid password");
    }
    Ok(())
}

pub fn wallet_create(
    network: Network,
    dir: &Path,
    seed: Option<&str>,
    password: Option<&str>,
) -> Result<String> {
    let w = open_wallets(network, dir)?;
    let rep = network.params().preconfigured_representatives[0];
    let id = match seed {
        Some(s) => {
            let seed = RawKey::decode_hex(s).map_err(|_| anyhow!("Invalid seed"))?;
            w.create_from_seed(rep, &seed, Restore::Count(1))?.0
        }
        None => w.create(rep)?,
    };
    if let Some(pw) = password {
        w.password_change(id, pw)?;
    }
    Ok(format!("{}\n", id.encode_hex()))
}

pub fn wallet_list(network: Network, dir: &Path) -> Result<String> {
    let w = open_wallets(network, dir)?;
    let mut out = String::new();
    for id in w.wallet_ids()? {
        out.push_str(&format!("Wallet ID: {}\n", id.encode_hex()));
        for a in w.accounts(id)? {
            out.push_str(&format!("{}\n", a.encode_account()));
        }
    }
    Ok(out)
}

pub fn wallet_destroy(network: Network, dir: &Path, wallet: Option<&str>) -> Result<String> {
    let w = open_wallets(network, dir)?;
    let id = wallet_arg(&w, wallet)?;
    w.destroy(id)?;
    Ok(String::new())
}

pub fn wallet_add_adhoc(
    network: Network,
    dir: &Path,
    wallet: Option<&str>,
    key: Option<&str>,
    password: Option<&str>,
) -> Result<String> {
    let w = open_wallets(network, dir)?;
    let id = wallet_arg(&w, wallet)?;
    unlock(&w, id, password)?;
    let key = RawKey::decode_hex(
        key.ok_or_else(|| anyhow!("wallet_add command requires one <key> option"))?,
    )
    .map_err(|_| anyhow!("Invalid key"))?;
    let a = w.insert_adhoc(id, &key)?;
    Ok(format!("Account: {}\n", a.encode_account()))
}

pub fn account_create(
    network: Network,
    dir: &Path,
    wallet: Option<&str>,
    password: Option<&str>,
) -> Result<String> {
    let w = open_wallets(network, dir)?;
    let id = wallet_arg(&w, wallet)?;
    unlock(&w, id, password)?;
    let a = w.deterministic_insert(id)?;
    Ok(format!("Account: {}\n", a.encode_account()))
}

pub fn wallet_decrypt_unsafe(
    network: Network,
    dir: &Path,
    wallet: Option<&str>,
    password: Option<&str>,
) -> Result<String> {
    let w = open_wallets(network, dir)?;
    let id = wallet_arg(&w, wallet)?;
    unlock(&w, id, password)?;
    let mut out = format!("Seed: {}\n", w.seed(id)?.encode_hex());
    for (a, k) in w.decrypt_all(id)? {
        out.push_str(&format!(
            "Pub: {} Prv: {}\n",
            a.encode_account(),
            k.encode_hex()
        ));
    }
    Ok(out)
}

pub fn wallet_representative_get(
    network: Network,
    dir: &Path,
    wallet: Option<&str>,
) -> Result<String> {
    let w = open_wallets(network, dir)?;
    let id = wallet_arg(&w, wallet)?;
    Ok(format!(
        "Representative: {}\n",
        w.representative(id)?.encode_account()
    ))
}

pub fn wallet_representative_set(
    network: Network,
    dir: &Path,
    wallet: Option<&str>,
    account: Option<&str>,
) -> Result<String> {
    let w = open_wallets(network, dir)?;
    let id = wallet_arg(&w, wallet)?;
    let rep = PublicKey::decode_account(
        account
            .ok_or_else(|| anyhow!("wallet_representative_set requires one <account> option"))?,
    )
    .map_err(|_| anyhow!("Invalid account"))?;
    w.representative_set(id, &rep)?;
    Ok(String::new())
}

/// `--diagnostics`: a self-test of the primitives the node depends on.
pub fn diagnostics(network: Network) -> Result<String> {
    let p = network.params();
    let mut out = String::new();
    let ok = p.genesis.verify_signature(&p.genesis_account);
    out.push_str(&format!(
        "Genesis block signature: {}\n",
        if ok { "ok" } else { "FAILED" }
    ));
    let key = nano_core::keys::KeyPair::from_private(RawKey([0u8; 32]));
    let kv = key.public().encode_hex()
        == "19D3D919475DEED4696B5D13018151D1AF88B2BD3BCFF048B45031C1F36D1858";
    out.push_str(&format!(
        "Key derivation vector: {}\n",
        if kv { "ok" } else { "FAILED" }
    ));
    let t0 = std::time::Instant::now();
    let n = 1u64 << 20;
    nano_core::work::search_range(&nano_core::Root([1; 32]), u64::MAX, 0, n);
    let rate = n as f64 / t0.elapsed().as_secs_f64() / 1e6;
    out.push_str(&format!(
        "Work hash rate (1 thread): {rate:.1} M hashes/s\n"
    ));
    if !(ok && kv) {
        bail!("{out}diagnostics failed");
    }
    Ok(out)
}

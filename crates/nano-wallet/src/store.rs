//! [`Wallets`]: the wallet store of a node. Owns the `wallets.ldb` LMDB environment and the
//! in-memory set of unlocked wallet keys, and implements every wallet operation as exactly
//! one LMDB write transaction that is committed before the call returns, so an
//! acknowledged change survives a crash (including `kill -9`) and a failed one leaves no
//! trace.
//!
//! Slow work (the password KDF, key derivation for restores, the caller's block building
//! in [`Wallets::send_once`]) is done outside write transactions so it never stalls other
//! writers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, RwLock};

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, RoTxn, RwTxn, WithoutTls};
use nano_core::keys::public_from_private;
use nano_core::{Account, BlockHash, KeyPair, RawKey};

use crate::crypto::{self, check_value, random_bytes, random_secret, KdfParams, Secret};
use crate::error::{Result, WalletError};
use crate::format::*;

type Db = Database<'static, Bytes, Bytes>;

/// File name of the wallet store inside the data directory, as the reference node uses.
pub const WALLETS_FILE: &str = "wallets.ldb";

/// How a store is opened.
#[derive(Clone, Debug)]
pub struct WalletsConfig {
    /// KDF cost for passwords set from now on (existing wallets keep the cost they were
    /// written with).
    pub kdf: KdfParams,
    /// LMDB map size in bytes: the most the file can grow to. A multiple of the page size.
    pub map_size: usize,
}

impl WalletsConfig {
    /// The dev-network configuration: a trivial KDF so tests and dev nodes start instantly.
    pub fn dev() -> Self {
        WalletsConfig {
            kdf: KdfParams::DEV,
            ..Self::default()
        }
    }
}

impl Default for WalletsConfig {
    fn default() -> Self {
        WalletsConfig {
            kdf: KdfParams::PRODUCTION,
            map_size: 1 << 30,
        }
    }
}

/// Which deterministic accounts to create when a seed is set.
#[derive(Clone, Copy)]
pub enum Restore<'a> {
    /// Exactly this many accounts, indexes `0..n`.
    Count(u32),
    /// The reference node's recovery scan: index 0 always, then every index up to the last
    /// one `is_used` reports, looking 64 (+ index/64) indexes past each used one. Pass a
    /// closure that asks the ledger whether the account has blocks or receivables.
    Scan(&'a dyn Fn(&Account) -> bool),
}

/// What a seed change or seeded creation restored (RPC `restored_count`,
/// `last_restored_account`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    pub count: u32,
    pub last_account: Option<Account>,
}

/// Outcome of [`Wallets::send_once`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendOnce {
    pub hash: BlockHash,
    /// What the builder asked to keep with the hash (e.g. the serialized block, so a
    /// retry after a crash can republish it).
    pub payload: Vec<u8>,
    /// True when this call built the block; false when an earlier call with the same id
    /// already did and nothing new must be published.
    pub fresh: bool,
}

/// The node's wallets: `Send + Sync`, share it behind an `Arc`.
pub struct Wallets {
    env: Env<WithoutTls>,
    path: PathBuf,
    wallets_db: Db,
    entries: Db,
    kdf: KdfParams,
    unlocked: RwLock<HashMap<WalletId, Secret>>,
    sends_in_flight: Mutex<HashSet<Vec<u8>>>,
    sends_done: Condvar,
}

struct InFlight<'a> {
    wallets: &'a Wallets,
    key: Vec<u8>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut g = self
            .wallets
            .sends_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        g.remove(&self.key);
        self.wallets.sends_done.notify_all();
    }
}

fn derive_account(seed: &RawKey, index: u32) -> Account {
    public_from_private(&seed.derive(index))
}

fn restore_plan(seed: &RawKey, restore: Restore<'_>) -> Vec<(u32, Account)> {
    let count = match restore {
        Restore::Count(n) => n,
        Restore::Scan(is_used) => {
            let mut last = 0u32;
            let mut i = 1u32;
            let mut end = 64u32;
            while i < end {
                if is_used(&derive_account(seed, i)) {
                    last = i;
                    end = i.saturating_add(64).saturating_add(i / 64);
                }
                i += 1;
            }
            last + 1
        }
    };
    (0..count).map(|i| (i, derive_account(seed, i))).collect()
}

impl Wallets {
    /// Opens (creating if needed) `<data_dir>/wallets.ldb`. Every wallet whose password is
    /// empty is unlocked straight away, as the reference node does.
    pub fn open(data_dir: impl AsRef<Path>, config: WalletsConfig) -> Result<Self> {
        std::fs::create_dir_all(data_dir.as_ref())?;
        Self::open_file(data_dir.as_ref().join(WALLETS_FILE), config)
    }

    /// Opens a store at an explicit file path (the lock file goes next to it).
    pub fn open_file(path: impl AsRef<Path>, config: WalletsConfig) -> Result<Self> {
        config.kdf.validate()?;
        let path = path.as_ref().to_path_buf();
        let mut opts = EnvOpenOptions::new().read_txn_without_tls();
        opts.map_size(config.map_size).max_dbs(4);
        // SAFETY: the file is only ever modified through LMDB, whose lock file coordinates
        // every process that opens it; NO_SUB_DIR only changes where the files live.
        let env = unsafe {
            opts.flags(EnvFlags::NO_SUB_DIR);
            opts.open(&path)?
        };
        // Readers left in the lock table by a killed process would pin old pages.
        env.clear_stale_readers()?;
        let txn = env.write_txn()?;
        let (meta, wallets_db, entries): (Db, Db, Db) = env
            .create_databases_and_commit(txn, |opener, txn| -> Result<_> {
                Ok(CommitOrAbort::<_, ()>::Commit((
                    opener.create_database(txn, Some("meta"))?,
                    opener.create_database(txn, Some("wallets"))?,
                    opener.create_database(txn, Some("entries"))?,
                )))
            })?
            .unwrap_commit();
        let mut txn = env.write_txn()?;
        match meta.get(&txn, b"version")? {
            Some(v) => {
                let found = u32_value(v, "store version")?;
                if found != STORE_VERSION {
                    return Err(WalletError::UnsupportedVersion {
                        found,
                        expected: STORE_VERSION,
                    });
                }
            }
            None => meta.put(&mut txn, b"version", &STORE_VERSION.to_be_bytes())?,
        }
        txn.commit()?;
        let wallets = Wallets {
            env,
            path,
            wallets_db,
            entries,
            kdf: config.kdf,
            unlocked: RwLock::new(HashMap::new()),
            sends_in_flight: Mutex::new(HashSet::new()),
            sends_done: Condvar::new(),
        };
        for id in wallets.wallet_ids()? {
            match wallets.enter_password(id, "") {
                Ok(()) | Err(WalletError::InvalidPassword) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(wallets)
    }

    /// The `wallets.ldb` file this store uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// KDF cost applied to passwords set through this store.
    pub fn kdf_params(&self) -> KdfParams {
        self.kdf
    }

    // ---- internal helpers -------------------------------------------------------------

    fn read(&self) -> Result<RoTxn<'_, WithoutTls>> {
        Ok(self.env.read_txn()?)
    }

    /// Runs `f` in one write transaction, committing only when it succeeds.
    fn write<R>(&self, f: impl FnOnce(&mut RwTxn<'_>) -> Result<R>) -> Result<R> {
        let mut txn = self.env.write_txn()?;
        let r = f(&mut txn)?;
        txn.commit()?;
        Ok(r)
    }

    fn require_wallet(&self, txn: &RoTxn, id: &WalletId) -> Result<()> {
        if self.wallets_db.get(txn, &id.0)?.is_some() {
            Ok(())
        } else {
            Err(WalletError::WalletNotFound)
        }
    }

    fn field<'t>(&self, txn: &'t RoTxn, id: &WalletId, field: u8) -> Result<&'t [u8]> {
        self.entries
            .get(txn, &field_key(id, field))?
            .ok_or_else(|| WalletError::Corrupt(format!("wallet {id} lacks field {field}")))
    }

    fn put_field(&self, txn: &mut RwTxn, id: &WalletId, field: u8, value: &[u8]) -> Result<()> {
        Ok(self.entries.put(txn, &field_key(id, field), value)?)
    }

    fn record(
        &self,
        txn: &RoTxn,
        id: &WalletId,
        account: &Account,
    ) -> Result<Option<AccountRecord>> {
        self.entries
            .get(txn, &account_key(id, account))?
            .map(AccountRecord::decode)
            .transpose()
    }

    fn put_record(
        &self,
        txn: &mut RwTxn,
        id: &WalletId,
        account: &Account,
        rec: &AccountRecord,
    ) -> Result<()> {
        Ok(self
            .entries
            .put(txn, &account_key(id, account), &rec.encode())?)
    }

    fn records(&self, txn: &RoTxn, id: &WalletId) -> Result<Vec<(Account, AccountRecord)>> {
        let mut out = Vec::new();
        for item in self
            .entries
            .prefix_iter(txn, &tag_prefix(id, TAG_ACCOUNT))?
        {
            let (k, v) = item?;
            let account = Account::from_slice(&k[33..])
                .ok_or_else(|| WalletError::Corrupt("malformed account key".into()))?;
            out.push((account, AccountRecord::decode(v)?));
        }
        Ok(out)
    }

    /// The in-memory wallet key, or why there is none.
    fn wallet_key(&self, id: &WalletId) -> Result<Secret> {
        if let Some(k) = self.unlocked_read().get(id) {
            return Ok(k.clone());
        }
        let txn = self.read()?;
        self.require_wallet(&txn, id)?;
        Err(WalletError::Locked)
    }

    fn unlocked_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<WalletId, Secret>> {
        self.unlocked.read().unwrap_or_else(|e| e.into_inner())
    }

    fn unlocked_write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<WalletId, Secret>> {
        self.unlocked.write().unwrap_or_else(|e| e.into_inner())
    }

    fn seed_in(&self, txn: &RoTxn, id: &WalletId, wallet_key: &Secret) -> Result<RawKey> {
        let sealed = sealed(self.field(txn, id, FIELD_SEED)?, "seed")?;
        Ok(RawKey(*crypto::open(wallet_key, &sealed)))
    }

    fn private_key_in(
        &self,
        txn: &RoTxn,
        id: &WalletId,
        wallet_key: &Secret,
        account: &Account,
        rec: &AccountRecord,
    ) -> Result<RawKey> {
        let key = match &rec.key {
            KeyMaterial::Adhoc(s) => RawKey(*crypto::open(wallet_key, s)),
            KeyMaterial::Deterministic(i) => self.seed_in(txn, id, wallet_key)?.derive(*i),
            KeyMaterial::Watch => return Err(WalletError::WatchOnly),
        };
        if public_from_private(&key) != *account {
            return Err(WalletError::Corrupt(format!(
                "stored key does not match account {}",
                account.encode_account()
            )));
        }
        Ok(key)
    }

    fn write_new_wallet(
        &self,
        txn: &mut RwTxn,
        id: &WalletId,
        wallet_key: &Secret,
        representative: &Account,
        seed: &RawKey,
        plan: &[(u32, Account)],
    ) -> Result<()> {
        let salt: [u8; 32] = random_bytes();
        let password_key = self.kdf.derive("", &salt)?;
        self.wallets_db.put(txn, &id.0, &[])?;
        let kdf = KdfRecord {
            salt,
            params: self.kdf,
        };
        self.put_field(txn, id, FIELD_VERSION, &WALLET_VERSION.to_be_bytes())?;
        self.put_field(txn, id, FIELD_KDF, &kdf.encode())?;
        self.put_field(
            txn,
            id,
            FIELD_WALLET_KEY,
            &crypto::seal(&password_key, wallet_key),
        )?;
        self.put_field(txn, id, FIELD_CHECK, &check_value(wallet_key))?;
        self.put_field(txn, id, FIELD_REPRESENTATIVE, &representative.0)?;
        self.put_field(txn, id, FIELD_SEED, &crypto::seal(wallet_key, &seed.0))?;
        self.put_field(txn, id, FIELD_INDEX, &(plan.len() as u32).to_be_bytes())?;
        for (i, account) in plan {
            let rec = AccountRecord {
                work: 0,
                key: KeyMaterial::Deterministic(*i),
            };
            self.put_record(txn, id, account, &rec)?;
        }
        Ok(())
    }

    fn create_inner(
        &self,
        representative: Account,
        seed: RawKey,
        restore: Restore<'_>,
    ) -> Result<(WalletId, Restored)> {
        let plan = restore_plan(&seed, restore);
        let wallet_key = random_secret();
        let id = self.write(|txn| {
            let mut id = WalletId::random();
            while self.wallets_db.get(txn, &id.0)?.is_some() {
                id = WalletId::random();
            }
            self.write_new_wallet(txn, &id, &wallet_key, &representative, &seed, &plan)?;
            Ok(id)
        })?;
        self.unlocked_write().insert(id, wallet_key);
        Ok((
            id,
            Restored {
                count: plan.len() as u32,
                last_account: plan.last().map(|p| p.1),
            },
        ))
    }

    // ---- wallets ----------------------------------------------------------------------

    /// Creates a wallet with a fresh random seed, no accounts and the empty password, so it
    /// is unlocked and usable at once.
    pub fn create(&self, representative: Account) -> Result<WalletId> {
        Ok(self
            .create_inner(representative, RawKey::random(), Restore::Count(0))?
            .0)
    }

    /// Creates a wallet from a known seed (`wallet_create` with `seed`), restoring
    /// deterministic accounts as `restore` says, in the same transaction.
    pub fn create_from_seed(
        &self,
        representative: Account,
        seed: &RawKey,
        restore: Restore<'_>,
    ) -> Result<(WalletId, Restored)> {
        self.create_inner(representative, seed.clone(), restore)
    }

    /// Creates an empty wallet under a caller-chosen id (`--wallet_import --force` creates
    /// the named wallet). Returns `Ok(false)`, touching nothing, when the id is taken.
    pub fn create_with_id(&self, id: WalletId, representative: Account) -> Result<bool> {
        let wallet_key = random_secret();
        let seed = RawKey::random();
        let created = self.write(|txn| {
            if self.wallets_db.get(txn, &id.0)?.is_some() {
                return Ok(false);
            }
            self.write_new_wallet(txn, &id, &wallet_key, &representative, &seed, &[])?;
            Ok(true)
        })?;
        if created {
            self.unlocked_write().insert(id, wallet_key);
        }
        Ok(created)
    }

    /// Deletes a wallet with all its keys, cached work and send ids.
    pub fn destroy(&self, id: WalletId) -> Result<()> {
        self.write(|txn| {
            self.require_wallet(txn, &id)?;
            let keys: Vec<Vec<u8>> = self
                .entries
                .prefix_iter(txn, &id.0)?
                .map(|r| r.map(|(k, _)| k.to_vec()))
                .collect::<std::result::Result<_, _>>()?;
            for k in keys {
                self.entries.delete(txn, &k)?;
            }
            self.wallets_db.delete(txn, &id.0)?;
            Ok(())
        })?;
        self.unlocked_write().remove(&id);
        Ok(())
    }

    pub fn exists(&self, id: WalletId) -> Result<bool> {
        let txn = self.read()?;
        Ok(self.wallets_db.get(&txn, &id.0)?.is_some())
    }

    /// Every wallet id, in byte order.
    pub fn wallet_ids(&self) -> Result<Vec<WalletId>> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for item in self.wallets_db.iter(&txn)? {
            let (k, _) = item?;
            let id = k
                .try_into()
                .map_err(|_| WalletError::Corrupt("malformed wallet id".into()))?;
            out.push(WalletId(id));
        }
        Ok(out)
    }

    // ---- accounts ---------------------------------------------------------------------

    /// The wallet's accounts in byte order of their public keys (as the reference lists
    /// them).
    pub fn accounts(&self, id: WalletId) -> Result<Vec<Account>> {
        Ok(self
            .account_entries(id)?
            .into_iter()
            .map(|a| a.account)
            .collect())
    }

    /// [`Self::accounts`] if the wallet has at most `most` accounts, else None, having
    /// read one more: for a caller that answers small wallets at once and hands larger
    /// ones to a pool.
    pub fn accounts_within(&self, id: WalletId, most: usize) -> Result<Option<Vec<Account>>> {
        let txn = self.read()?;
        self.require_wallet(&txn, &id)?;
        let mut out = Vec::new();
        for item in self
            .entries
            .prefix_iter(&txn, &tag_prefix(&id, TAG_ACCOUNT))?
        {
            if out.len() == most {
                return Ok(None);
            }
            let (k, v) = item?;
            let account = Account::from_slice(&k[33..])
                .ok_or_else(|| WalletError::Corrupt("malformed account key".into()))?;
            // Decoded as `accounts` decodes it, so that both fail alike on a bad record.
            AccountRecord::decode(v)?;
            out.push(account);
        }
        Ok(Some(out))
    }

    /// Accounts with their key kind and cached work (`wallet_info`, `wallet_work_get`).
    pub fn account_entries(&self, id: WalletId) -> Result<Vec<WalletAccount>> {
        let txn = self.read()?;
        self.require_wallet(&txn, &id)?;
        Ok(self
            .records(&txn, &id)?
            .into_iter()
            .map(|(account, r)| WalletAccount {
                account,
                kind: r.kind(),
                work: r.work,
            })
            .collect())
    }

    pub fn contains(&self, id: WalletId, account: &Account) -> Result<bool> {
        let txn = self.read()?;
        self.require_wallet(&txn, &id)?;
        Ok(self.record(&txn, &id, account)?.is_some())
    }

    /// Every account of every wallet, locked or not (`all_local_accounts`, the set the
    /// node watches for receivables and votes with).
    pub fn all_accounts(&self) -> Result<Vec<(WalletId, Account)>> {
        let ids = self.wallet_ids()?;
        let txn = self.read()?;
        let mut out = Vec::new();
        for id in ids {
            for item in self
                .entries
                .prefix_iter(&txn, &tag_prefix(&id, TAG_ACCOUNT))?
            {
                let (k, _) = item?;
                let account = Account::from_slice(&k[33..])
                    .ok_or_else(|| WalletError::Corrupt("malformed account key".into()))?;
                out.push((id, account));
            }
        }
        Ok(out)
    }

    /// The first wallet (in id order) that holds `account`, e.g. to sign for it.
    pub fn find_account(&self, account: &Account) -> Result<Option<WalletId>> {
        let txn = self.read()?;
        for item in self.wallets_db.iter(&txn)? {
            let (k, _) = item?;
            let id = WalletId(
                k.try_into()
                    .map_err(|_| WalletError::Corrupt("malformed wallet id".into()))?,
            );
            if self.record(&txn, &id, account)?.is_some() {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Adds an imported private key (`wallet_add`); returns its account. Re-adding a key
    /// the wallet already has is a no-op; adding the key of a watch-only account upgrades
    /// it, keeping its cached work.
    pub fn insert_adhoc(&self, id: WalletId, key: &RawKey) -> Result<Account> {
        let wallet_key = self.wallet_key(&id)?;
        let account = public_from_private(key);
        let sealed = crypto::seal(&wallet_key, &key.0);
        self.write(|txn| {
            self.require_wallet(txn, &id)?;
            let work = match self.record(txn, &id, &account)? {
                Some(AccountRecord {
                    key: KeyMaterial::Watch,
                    work,
                }) => work,
                Some(_) => return Ok(()),
                None => 0,
            };
            let rec = AccountRecord {
                work,
                key: KeyMaterial::Adhoc(sealed),
            };
            self.put_record(txn, &id, &account, &rec)
        })?;
        Ok(account)
    }

    /// Adds watch-only accounts (`wallet_add_watch`); accounts already present are left
    /// as they are. Works while locked: no key material is involved.
    pub fn insert_watch(&self, id: WalletId, accounts: &[Account]) -> Result<()> {
        self.write(|txn| {
            self.require_wallet(txn, &id)?;
            for account in accounts {
                if self.record(txn, &id, account)?.is_none() {
                    let rec = AccountRecord {
                        work: 0,
                        key: KeyMaterial::Watch,
                    };
                    self.put_record(txn, &id, account, &rec)?;
                }
            }
            Ok(())
        })
    }

    /// Adds the next deterministic account (`account_create`): the seed key at the wallet's
    /// next index, skipping indexes whose account the wallet already holds.
    pub fn deterministic_insert(&self, id: WalletId) -> Result<Account> {
        Ok(self.deterministic_insert_many(id, 1)?[0])
    }

    /// Adds `count` deterministic accounts in one transaction (`accounts_create`).
    pub fn deterministic_insert_many(&self, id: WalletId, count: u32) -> Result<Vec<Account>> {
        let wallet_key = self.wallet_key(&id)?;
        self.write(|txn| {
            self.require_wallet(txn, &id)?;
            let seed = self.seed_in(txn, &id, &wallet_key)?;
            let mut index = u32_value(self.field(txn, &id, FIELD_INDEX)?, "index")?;
            let mut out = Vec::with_capacity(count as usize);
            while out.len() < count as usize {
                let account = derive_account(&seed, index);
                if self.record(txn, &id, &account)?.is_none() {
                    let rec = AccountRecord {
                        work: 0,
                        key: KeyMaterial::Deterministic(index),
                    };
                    self.put_record(txn, &id, &account, &rec)?;
                    out.push(account);
                }
                index = index.checked_add(1).ok_or(WalletError::IndexExhausted)?;
            }
            self.put_field(txn, &id, FIELD_INDEX, &index.to_be_bytes())?;
            Ok(out)
        })
    }

    /// Adds the seed's account at a given index (`account_create` with `index`) without
    /// moving the wallet's next index.
    pub fn deterministic_insert_at(&self, id: WalletId, index: u32) -> Result<Account> {
        let wallet_key = self.wallet_key(&id)?;
        self.write(|txn| {
            self.require_wallet(txn, &id)?;
            let seed = self.seed_in(txn, &id, &wallet_key)?;
            let account = derive_account(&seed, index);
            if self.record(txn, &id, &account)?.is_none() {
                let rec = AccountRecord {
                    work: 0,
                    key: KeyMaterial::Deterministic(index),
                };
                self.put_record(txn, &id, &account, &rec)?;
            }
            Ok(account)
        })
    }

    /// The index the next [`Self::deterministic_insert`] starts from
    /// (`deterministic_index` of `wallet_info`).
    pub fn deterministic_index(&self, id: WalletId) -> Result<u32> {
        let txn = self.read()?;
        self.require_wallet(&txn, &id)?;
        u32_value(self.field(&txn, &id, FIELD_INDEX)?, "index")
    }

    /// Removes an account and its key (`account_remove`). Needs the wallet unlocked,
    /// because it destroys key material.
    pub fn remove_account(&self, id: WalletId, account: &Account) -> Result<()> {
        self.wallet_key(&id)?;
        self.write(|txn| {
            self.require_wallet(txn, &id)?;
            if self.entries.delete(txn, &account_key(&id, account))? {
                Ok(())
            } else {
                Err(WalletError::AccountNotFound)
            }
        })
    }

    /// Moves accounts from `source` to `target` (`account_move`), all or nothing. Keys are
    /// re-encrypted under the target's wallet key; deterministic accounts become ad-hoc in
    /// the target (its seed differs). Cached work moves along. Both wallets must be
    /// unlocked; an account the target already has keeps the target's entry.
    pub fn move_accounts(
        &self,
        target: WalletId,
        source: WalletId,
        accounts: &[Account],
    ) -> Result<()> {
        let source_key = self.wallet_key(&source)?;
        let target_key = self.wallet_key(&target)?;
        if source == target {
            let txn = self.read()?;
            for a in accounts {
                self.record(&txn, &source, a)?
                    .ok_or(WalletError::AccountNotFound)?;
            }
            return Ok(());
        }
        self.write(|txn| {
            self.require_wallet(txn, &source)?;
            self.require_wallet(txn, &target)?;
            for account in accounts {
                let rec = self
                    .record(txn, &source, account)?
                    .ok_or(WalletError::AccountNotFound)?;
                let key = match rec.key {
                    KeyMaterial::Watch => KeyMaterial::Watch,
                    _ => {
                        let prv = self.private_key_in(txn, &source, &source_key, account, &rec)?;
                        KeyMaterial::Adhoc(crypto::seal(&target_key, &prv.0))
                    }
                };
                let keep_target = matches!(
                    self.record(txn, &target, account)?,
                    Some(r) if !(r.key == KeyMaterial::Watch && key != KeyMaterial::Watch)
                );
                if !keep_target {
                    let moved = AccountRecord {
                        work: rec.work,
                        key,
                    };
                    self.put_record(txn, &target, account, &moved)?;
                }
                self.entries.delete(txn, &account_key(&source, account))?;
            }
            Ok(())
        })
    }

    // ---- seed and keys ----------------------------------------------------------------

    /// The wallet seed (`wallet_seed`, `--wallet_decrypt_unsafe`); only while unlocked.
    pub fn seed(&self, id: WalletId) -> Result<RawKey> {
        let wallet_key = self.wallet_key(&id)?;
        let txn = self.read()?;
        self.require_wallet(&txn, &id)?;
        self.seed_in(&txn, &id, &wallet_key)
    }

    /// Replaces the seed (`wallet_change_seed`): removes every deterministic account of the
    /// old seed, resets the index and restores accounts of the new seed as `restore`
    /// says. Ad-hoc and watch-only accounts are kept. Needs the wallet unlocked.
    pub fn change_seed(
        &self,
        id: WalletId,
        seed: &RawKey,
        restore: Restore<'_>,
    ) -> Result<Restored> {
        let wallet_key = self.wallet_key(&id)?;
        let plan = restore_plan(seed, restore);
        let sealed_seed = crypto::seal(&wallet_key, &seed.0);
        self.write(|txn| {
            self.require_wallet(txn, &id)?;
            for (account, rec) in self.records(txn, &id)? {
                if matches!(rec.key, KeyMaterial::Deterministic(_)) {
                    self.entries.delete(txn, &account_key(&id, &account))?;
                }
            }
            self.put_field(txn, &id, FIELD_SEED, &sealed_seed)?;
            let mut restored = Restored {
                count: 0,
                last_account: None,
            };
            for (i, account) in &plan {
                if self.record(txn, &id, account)?.is_none() {
                    let rec = AccountRecord {
                        work: 0,
                        key: KeyMaterial::Deterministic(*i),
                    };
                    self.put_record(txn, &id, account, &rec)?;
                }
                restored.count += 1;
                restored.last_account = Some(*account);
            }
            self.put_field(txn, &id, FIELD_INDEX, &(plan.len() as u32).to_be_bytes())?;
            Ok(restored)
        })
    }

    /// The private key of a wallet account; only while unlocked. The decrypted key is
    /// checked against the account, so a damaged file gives `Corrupt`, never a wrong key.
    pub fn private_key(&self, id: WalletId, account: &Account) -> Result<RawKey> {
        let wallet_key = self.wallet_key(&id)?;
        let txn = self.read()?;
        self.require_wallet(&txn, &id)?;
        let rec = self
            .record(&txn, &id, account)?
            .ok_or(WalletError::AccountNotFound)?;
        self.private_key_in(&txn, &id, &wallet_key, account, &rec)
    }

    /// The signing key pair of a wallet account (sends, receives, `sign`).
    pub fn key_pair(&self, id: WalletId, account: &Account) -> Result<KeyPair> {
        Ok(KeyPair::from_private(self.private_key(id, account)?))
    }

    /// Every private key of the wallet, watch-only accounts skipped
    /// (`--wallet_decrypt_unsafe`).
    pub fn decrypt_all(&self, id: WalletId) -> Result<Vec<(Account, RawKey)>> {
        let wallet_key = self.wallet_key(&id)?;
        let txn = self.read()?;
        self.require_wallet(&txn, &id)?;
        let mut out = Vec::new();
        for (account, rec) in self.records(&txn, &id)? {
            if rec.key != KeyMaterial::Watch {
                out.push((
                    account,
                    self.private_key_in(&txn, &id, &wallet_key, &account, &rec)?,
                ));
            }
        }
        Ok(out)
    }

    /// Key pairs of the accounts of all unlocked wallets that `wanted` selects, e.g. the
    /// representatives the node votes with. Locked wallets are skipped.
    pub fn unlocked_key_pairs(&self, wanted: impl Fn(&Account) -> bool) -> Result<Vec<KeyPair>> {
        let unlocked: Vec<(WalletId, Secret)> = self
            .unlocked_read()
            .iter()
            .map(|(id, k)| (*id, k.clone()))
            .collect();
        let txn = self.read()?;
        let mut out = Vec::new();
        for (id, wallet_key) in unlocked {
            if self.wallets_db.get(&txn, &id.0)?.is_none() {
                continue;
            }
            for (account, rec) in self.records(&txn, &id)? {
                if rec.key != KeyMaterial::Watch && wanted(&account) {
                    let prv = self.private_key_in(&txn, &id, &wallet_key, &account, &rec)?;
                    out.push(KeyPair::from_private(prv));
                }
            }
        }
        Ok(out)
    }

    // ---- passwords --------------------------------------------------------------------

    /// Unlocks the wallet with `password` (`password_enter`). A wrong password returns
    /// `InvalidPassword` and, as in the reference node, leaves the wallet locked.
    pub fn enter_password(&self, id: WalletId, password: &str) -> Result<()> {
        let (kdf, wrapped, check) = {
            let txn = self.read()?;
            self.require_wallet(&txn, &id)?;
            let kdf = KdfRecord::decode(self.field(&txn, &id, FIELD_KDF)?)?;
            let wrapped = sealed(self.field(&txn, &id, FIELD_WALLET_KEY)?, "wallet key")?;
            let check = fixed32(self.field(&txn, &id, FIELD_CHECK)?, "check")?;
            let version = u32_value(self.field(&txn, &id, FIELD_VERSION)?, "version")?;
            if version != WALLET_VERSION {
                return Err(WalletError::UnsupportedVersion {
                    found: version,
                    expected: WALLET_VERSION,
                });
            }
            (kdf, wrapped, check)
        };
        let password_key = kdf.params.derive(password, &kdf.salt)?;
        let wallet_key = crypto::open(&password_key, &wrapped);
        if check_value(&wallet_key) == check {
            self.unlocked_write().insert(id, wallet_key);
            Ok(())
        } else {
            self.unlocked_write().remove(&id);
            Err(WalletError::InvalidPassword)
        }
    }

    /// True while the wallet key is in memory (`password_valid`, `wallet_key_valid`).
    pub fn valid_password(&self, id: WalletId) -> Result<bool> {
        match self.wallet_key(&id) {
            Ok(_) => Ok(true),
            Err(WalletError::Locked) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `wallet_locked`: the negation of [`Self::valid_password`].
    pub fn locked(&self, id: WalletId) -> Result<bool> {
        Ok(!self.valid_password(id)?)
    }

    /// Forgets the decrypted wallet key (`wallet_lock`); [`Self::enter_password`] unlocks
    /// again. A wallet with the empty password is also unlocked again on the next open.
    pub fn lock(&self, id: WalletId) -> Result<()> {
        let txn = self.read()?;
        self.require_wallet(&txn, &id)?;
        self.unlocked_write().remove(&id);
        Ok(())
    }

    /// Sets a new password (`password_change`; the empty string removes protection). Needs
    /// the wallet unlocked. Only the wrapped wallet key changes (new salt, current KDF
    /// cost); keys and seed stay as they are.
    pub fn password_change(&self, id: WalletId, password: &str) -> Result<()> {
        let wallet_key = self.wallet_key(&id)?;
        let kdf = KdfRecord {
            salt: random_bytes(),
            params: self.kdf,
        };
        let password_key = kdf.params.derive(password, &kdf.salt)?;
        let wrapped = crypto::seal(&password_key, &wallet_key);
        self.write(|txn| {
            self.require_wallet(txn, &id)?;
            self.put_field(txn, &id, FIELD_KDF, &kdf.encode())?;
            self.put_field(txn, &id, FIELD_WALLET_KEY, &wrapped)
        })
    }

    // ---- representative and work ------------------------------------------------------

    /// Default representative for the wallet's new accounts (`wallet_representative`).
    pub fn representative(&self, id: WalletId) -> Result<Account> {
        let txn = self.read()?;
        self.require_wallet(&txn, &id)?;
        Ok(Account::from(fixed32(
            self.field(&txn, &id, FIELD_REPRESENTATIVE)?,
            "representative",
        )?))
    }

    pub fn representative_set(&self, id: WalletId, representative: &Account) -> Result<()> {
        self.write(|txn| {
            self.require_wallet(txn, &id)?;
            self.put_field(txn, &id, FIELD_REPRESENTATIVE, &representative.0)
        })
    }

    /// Cached work for the account's next block (`work_get`); 0 when none is cached.
    pub fn work_get(&self, id: WalletId, account: &Account) -> Result<u64> {
        let txn = self.read()?;
        self.require_wallet(&txn, &id)?;
        Ok(self
            .record(&txn, &id, account)?
            .ok_or(WalletError::AccountNotFound)?
            .work)
    }

    pub fn work_set(&self, id: WalletId, account: &Account, work: u64) -> Result<()> {
        self.write(|txn| {
            self.require_wallet(txn, &id)?;
            let mut rec = self
                .record(txn, &id, account)?
                .ok_or(WalletError::AccountNotFound)?;
            rec.work = work;
            self.put_record(txn, &id, account, &rec)
        })
    }

    // ---- idempotent sends -------------------------------------------------------------

    /// The block hash and payload recorded for a send id, if any.
    pub fn send_id_get(&self, id: WalletId, send_id: &str) -> Result<Option<(BlockHash, Vec<u8>)>> {
        let key = send_id_key(&id, send_id)?;
        let txn = self.read()?;
        self.require_wallet(&txn, &id)?;
        match self.entries.get(&txn, &key)? {
            Some(v) if v.len() >= 32 => Ok(Some((block_hash(&v[..32])?, v[32..].to_vec()))),
            Some(_) => Err(WalletError::Corrupt("malformed send id entry".into())),
            None => Ok(None),
        }
    }

    /// Runs a send at most once per `(wallet, send_id)` (RPC `send` with `id`).
    ///
    /// If the id was used before, returns what was recorded (`fresh == false`) without
    /// calling `build`. Otherwise calls `build`, which creates and signs the block and
    /// returns its hash plus an opaque payload (typically the serialized block), records
    /// both durably and only then returns `fresh == true`. Publish the block only after
    /// this returns: a crash can then lose at most an unpublished block, never send twice.
    /// Concurrent calls with the same id wait for each other; different ids run in
    /// parallel. Nothing is recorded when `build` fails.
    pub fn send_once<E: From<WalletError>>(
        &self,
        id: WalletId,
        send_id: &str,
        build: impl FnOnce() -> std::result::Result<(BlockHash, Vec<u8>), E>,
    ) -> std::result::Result<SendOnce, E> {
        let key = send_id_key(&id, send_id)?;
        let _claim = {
            let mut g = self
                .sends_in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            while g.contains(&key) {
                g = self.sends_done.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            g.insert(key.clone());
            InFlight {
                wallets: self,
                key: key.clone(),
            }
        };
        if let Some((hash, payload)) = self.send_id_get(id, send_id)? {
            return Ok(SendOnce {
                hash,
                payload,
                fresh: false,
            });
        }
        let (hash, payload) = build()?;
        let mut value = hash.0.to_vec();
        value.extend_from_slice(&payload);
        self.write(|txn| {
            self.require_wallet(txn, &id)?;
            Ok(self.entries.put(txn, &key, &value)?)
        })?;
        Ok(SendOnce {
            hash,
            payload,
            fresh: true,
        })
    }

    // ---- raw access for export/import -------------------------------------------------

    /// Raw `(tag ‖ rest, value)` entries of one wallet.
    pub(crate) fn raw_entries(&self, id: WalletId) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let txn = self.read()?;
        self.require_wallet(&txn, &id)?;
        let mut out = Vec::new();
        for item in self.entries.prefix_iter(&txn, &id.0)? {
            let (k, v) = item?;
            out.push((k[32..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Inserts decrypted keys and watch accounts into `target` in one transaction.
    pub(crate) fn insert_many(
        &self,
        target: WalletId,
        keys: &[(RawKey, u64)],
        watch: &[(Account, u64)],
    ) -> Result<Vec<Account>> {
        let wallet_key = self.wallet_key(&target)?;
        let prepared: Vec<(Account, AccountRecord)> = keys
            .iter()
            .map(|(k, work)| {
                (
                    public_from_private(k),
                    AccountRecord {
                        work: *work,
                        key: KeyMaterial::Adhoc(crypto::seal(&wallet_key, &k.0)),
                    },
                )
            })
            .chain(watch.iter().map(|(a, work)| {
                (
                    *a,
                    AccountRecord {
                        work: *work,
                        key: KeyMaterial::Watch,
                    },
                )
            }))
            .collect();
        self.write(|txn| {
            self.require_wallet(txn, &target)?;
            let mut out = Vec::new();
            for (account, rec) in &prepared {
                let existing = self.record(txn, &target, account)?;
                let replace = match &existing {
                    None => true,
                    Some(e) => e.key == KeyMaterial::Watch && rec.key != KeyMaterial::Watch,
                };
                if replace {
                    self.put_record(txn, &target, account, rec)?;
                }
                out.push(*account);
            }
            Ok(out)
        })
    }
}

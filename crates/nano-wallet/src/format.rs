//! The on-disk layout of `wallets.ldb` (format version 1): how keys and values of the
//! LMDB tables are built and parsed. Nothing here touches LMDB itself.
//!
//! # Environment
//!
//! One LMDB environment in a single file, `<data dir>/wallets.ldb` (plus
//! `wallets.ldb-lock`), separate from the ledger. Three named tables:
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `"version"` | store format version, u32 BE (= 1) |
//! | `wallets` | wallet id (32) | empty: the registry of wallet ids |
//! | `entries` | wallet id (32) ‖ tag (1) ‖ rest | see below |
//!
//! # Entries (all integers big-endian)
//!
//! | tag | rest | value |
//! |---|---|---|
//! | `00` field | `00` version | wallet format version, u32 (= 1) |
//! | | `01` kdf | salt (32) ‖ m_cost KiB u32 ‖ t_cost u32 ‖ p_cost u32 |
//! | | `02` wallet key | IV (16) ‖ AES-256-CTR(password key, wallet key) (32) |
//! | | `03` check | BLAKE2b-256("nano-wallet/check/v1" ‖ wallet key) |
//! | | `04` representative | public key (32) |
//! | | `05` seed | IV (16) ‖ AES-256-CTR(wallet key, seed) (32) |
//! | | `06` deterministic index | next index, u32 |
//! | `01` account | public key (32) | kind (1) ‖ cached work u64 ‖ kind data |
//! | `02` send id | id bytes (UTF-8, 1..=400) | block hash (32) ‖ caller payload (any length) |
//!
//! Account kinds: `00` ad-hoc, data = IV (16) ‖ AES-256-CTR(wallet key, private key) (32);
//! `01` deterministic, data = index u32 (the key is re-derived from the seed);
//! `02` watch-only, no data.
//!
//! # Keys and encryption
//!
//! password key = Argon2d v1.3 (password, per-wallet random 32-byte salt, stored cost,
//! 32-byte output). The wallet key is 32 random bytes chosen at creation and never
//! changed; a password change only re-wraps it under a new salt and password key. Every
//! ciphertext has its own random 16-byte IV (AES-256-CTR, 128-bit big-endian counter), so
//! no keystream is ever reused, even when a seed is replaced. Private keys and the seed are
//! never written in clear. Decrypted keys are verified against their account's public key,
//! which detects damage that the unauthenticated cipher alone would not.
//!
//! A wallet with the empty password (the default) is still encrypted, but its password key
//! is derivable by anyone who reads the file: it protects against casual inspection (grep,
//! backups indexed by content), not against an attacker with the file. Set a password to
//! get real protection.

use std::fmt;
use std::str::FromStr;

use nano_core::numbers::{decode_hex_into, encode_hex_upper, HexError};
use nano_core::{Account, BlockHash};

use crate::crypto::{KdfParams, IV_LEN};
use crate::error::WalletError;

/// Version of the store as a whole (the `meta` table).
pub const STORE_VERSION: u32 = 1;
/// Version of one wallet's entries (field `00`).
pub const WALLET_VERSION: u32 = 1;
/// Longest accepted send id, in bytes (keeps LMDB keys under their 511-byte limit).
pub const MAX_SEND_ID_LEN: usize = 400;

pub(crate) const TAG_FIELD: u8 = 0x00;
pub(crate) const TAG_ACCOUNT: u8 = 0x01;
pub(crate) const TAG_SEND_ID: u8 = 0x02;

pub(crate) const FIELD_VERSION: u8 = 0x00;
pub(crate) const FIELD_KDF: u8 = 0x01;
pub(crate) const FIELD_WALLET_KEY: u8 = 0x02;
pub(crate) const FIELD_CHECK: u8 = 0x03;
pub(crate) const FIELD_REPRESENTATIVE: u8 = 0x04;
pub(crate) const FIELD_SEED: u8 = 0x05;
pub(crate) const FIELD_INDEX: u8 = 0x06;

pub(crate) const SEALED_LEN: usize = IV_LEN + 32;
pub(crate) type Sealed = [u8; SEALED_LEN];

/// Identifies a wallet; random, so that knowing one wallet's id says nothing about others.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WalletId(pub [u8; 32]);

impl WalletId {
    pub fn random() -> Self {
        WalletId(crate::crypto::random_bytes())
    }
    /// Parses hex of either case, as RPC clients send it.
    pub fn decode_hex(s: &str) -> Result<Self, HexError> {
        let mut b = [0u8; 32];
        decode_hex_into(s, &mut b)?;
        Ok(WalletId(b))
    }
    /// 64 upper-case hex digits, as the reference node prints wallet ids.
    pub fn encode_hex(&self) -> String {
        encode_hex_upper(&self.0)
    }
}

impl fmt::Display for WalletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode_hex())
    }
}

impl fmt::Debug for WalletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WalletId({})", self.encode_hex())
    }
}

impl FromStr for WalletId {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, HexError> {
        Self::decode_hex(s)
    }
}

/// Where an account's private key comes from; `wallet_info` counts ad-hoc and
/// deterministic accounts separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// An imported private key, stored encrypted.
    Adhoc,
    /// Derived from the wallet seed at this index.
    Deterministic(u32),
    /// Watched account without a private key (`wallet_add_watch`).
    Watch,
}

/// One account of a wallet, as listed by [`crate::Wallets::account_entries`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalletAccount {
    pub account: Account,
    pub kind: KeyKind,
    /// Cached proof of work for the account's next block; 0 when none.
    pub work: u64,
}

/// Stored form of an account entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyMaterial {
    Adhoc(Sealed),
    Deterministic(u32),
    Watch,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AccountRecord {
    pub work: u64,
    pub key: KeyMaterial,
}

impl AccountRecord {
    pub fn kind(&self) -> KeyKind {
        match self.key {
            KeyMaterial::Adhoc(_) => KeyKind::Adhoc,
            KeyMaterial::Deterministic(i) => KeyKind::Deterministic(i),
            KeyMaterial::Watch => KeyKind::Watch,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(1 + 8 + SEALED_LEN);
        match &self.key {
            KeyMaterial::Adhoc(sealed) => {
                v.push(0);
                v.extend_from_slice(&self.work.to_be_bytes());
                v.extend_from_slice(sealed);
            }
            KeyMaterial::Deterministic(i) => {
                v.push(1);
                v.extend_from_slice(&self.work.to_be_bytes());
                v.extend_from_slice(&i.to_be_bytes());
            }
            KeyMaterial::Watch => {
                v.push(2);
                v.extend_from_slice(&self.work.to_be_bytes());
            }
        }
        v
    }

    pub fn decode(b: &[u8]) -> Result<Self, WalletError> {
        let bad = || WalletError::Corrupt("malformed account entry".into());
        if b.len() < 9 {
            return Err(bad());
        }
        let work = u64::from_be_bytes(b[1..9].try_into().expect("8 bytes"));
        let data = &b[9..];
        let key = match b[0] {
            0 => KeyMaterial::Adhoc(data.try_into().map_err(|_| bad())?),
            1 => {
                KeyMaterial::Deterministic(u32::from_be_bytes(data.try_into().map_err(|_| bad())?))
            }
            2 if data.is_empty() => KeyMaterial::Watch,
            _ => return Err(bad()),
        };
        Ok(AccountRecord { work, key })
    }
}

/// The KDF salt and cost stored with a wallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KdfRecord {
    pub salt: [u8; 32],
    pub params: KdfParams,
}

impl KdfRecord {
    pub fn encode(&self) -> [u8; 44] {
        let mut v = [0u8; 44];
        v[..32].copy_from_slice(&self.salt);
        v[32..36].copy_from_slice(&self.params.m_cost_kib.to_be_bytes());
        v[36..40].copy_from_slice(&self.params.t_cost.to_be_bytes());
        v[40..44].copy_from_slice(&self.params.p_cost.to_be_bytes());
        v
    }

    pub fn decode(b: &[u8]) -> Result<Self, WalletError> {
        let b: &[u8; 44] = b
            .try_into()
            .map_err(|_| WalletError::Corrupt("malformed kdf entry".into()))?;
        let u = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let mut salt = [0u8; 32];
        salt.copy_from_slice(&b[..32]);
        Ok(KdfRecord {
            salt,
            params: KdfParams {
                m_cost_kib: u(32),
                t_cost: u(36),
                p_cost: u(40),
            },
        })
    }
}

pub(crate) fn field_key(id: &WalletId, field: u8) -> [u8; 34] {
    let mut k = [0u8; 34];
    k[..32].copy_from_slice(&id.0);
    k[32] = TAG_FIELD;
    k[33] = field;
    k
}

pub(crate) fn account_key(id: &WalletId, account: &Account) -> [u8; 65] {
    let mut k = [0u8; 65];
    k[..32].copy_from_slice(&id.0);
    k[32] = TAG_ACCOUNT;
    k[33..].copy_from_slice(&account.0);
    k
}

pub(crate) fn tag_prefix(id: &WalletId, tag: u8) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[..32].copy_from_slice(&id.0);
    k[32] = tag;
    k
}

pub(crate) fn send_id_key(id: &WalletId, send_id: &str) -> Result<Vec<u8>, WalletError> {
    if send_id.is_empty() || send_id.len() > MAX_SEND_ID_LEN {
        return Err(WalletError::InvalidSendId {
            max: MAX_SEND_ID_LEN,
        });
    }
    let mut k = Vec::with_capacity(33 + send_id.len());
    k.extend_from_slice(&tag_prefix(id, TAG_SEND_ID));
    k.extend_from_slice(send_id.as_bytes());
    Ok(k)
}

pub(crate) fn sealed(b: &[u8], what: &str) -> Result<Sealed, WalletError> {
    b.try_into()
        .map_err(|_| WalletError::Corrupt(format!("malformed {what} entry")))
}

pub(crate) fn fixed32(b: &[u8], what: &str) -> Result<[u8; 32], WalletError> {
    b.try_into()
        .map_err(|_| WalletError::Corrupt(format!("malformed {what} entry")))
}

pub(crate) fn u32_value(b: &[u8], what: &str) -> Result<u32, WalletError> {
    Ok(u32::from_be_bytes(b.try_into().map_err(|_| {
        WalletError::Corrupt(format!("malformed {what} entry"))
    })?))
}

pub(crate) fn block_hash(b: &[u8]) -> Result<BlockHash, WalletError> {
    Ok(BlockHash(fixed32(b, "send id")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_record_round_trips() {
        for key in [
            KeyMaterial::Adhoc([9u8; SEALED_LEN]),
            KeyMaterial::Deterministic(0xdead_beef),
            KeyMaterial::Watch,
        ] {
            let r = AccountRecord { work: 42, key };
            assert_eq!(AccountRecord::decode(&r.encode()).unwrap(), r);
        }
        assert!(AccountRecord::decode(&[1, 0, 0]).is_err());
        assert!(AccountRecord::decode(&[7; 13]).is_err());
    }

    #[test]
    fn wallet_id_hex() {
        let id = WalletId([0xab; 32]);
        assert_eq!(id.to_string(), "AB".repeat(32));
        assert_eq!(WalletId::decode_hex(&"ab".repeat(32)).unwrap(), id);
        assert!(WalletId::decode_hex("00").is_err());
    }
}

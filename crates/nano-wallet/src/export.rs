//! `wallet_export` and `--wallet_import`: a wallet's raw entries as a flat JSON object, and
//! the way back into another wallet.
//!
//! The export is, like the reference node's, a dump of the wallet's table: one member per
//! entry, named by the entry key without the wallet id (`tag ‖ rest`, see
//! [`crate::format`]) and valued by the stored bytes, both as upper-case hex, in key order:
//!
//! ```json
//! { "0000": "00000001",                 // wallet format version
//!   "0001": "<salt><m><t><p>",          // KDF salt and cost
//!   "0002": "<iv><encrypted wallet key>",
//!   "0003": "<check>", "0004": "<representative>",
//!   "0005": "<iv><encrypted seed>", "0006": "<next index>",
//!   "01<public key>": "<kind><work><key data>", ...
//!   "02<send id bytes>": "<block hash><payload>", ... }
//! ```
//!
//! Keys stay encrypted in the export: it is as safe as the file, and importing it needs the
//! wallet's password.

use nano_core::keys::public_from_private;
use nano_core::numbers::encode_hex_upper;
use nano_core::{Account, RawKey};
use serde_json::{Map, Value};

use crate::crypto::{self, check_value};
use crate::error::{Result, WalletError};
use crate::format::*;
use crate::store::Wallets;

fn decode_hex(s: &str) -> Result<Vec<u8>> {
    if s.len() % 2 != 0 {
        return Err(WalletError::InvalidExport(format!("odd-length hex {s:?}")));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| WalletError::InvalidExport(format!("invalid hex {s:?}")))
        })
        .collect()
}

fn bad(e: WalletError) -> WalletError {
    match e {
        WalletError::Corrupt(m) => WalletError::InvalidExport(m),
        e => e,
    }
}

impl Wallets {
    /// The wallet's entries as a JSON object (`wallet_export`); see the module docs for
    /// the shape. Works while locked: nothing is decrypted.
    pub fn export_json(&self, id: WalletId) -> Result<String> {
        let mut map = Map::new();
        for (k, v) in self.raw_entries(id)? {
            map.insert(encode_hex_upper(&k), Value::String(encode_hex_upper(&v)));
        }
        Ok(Value::Object(map).to_string())
    }

    /// Imports an export made by [`Self::export_json`] into `target` (`--wallet_import`):
    /// decrypts it with the exported wallet's `password` and adds every key to `target` as
    /// an ad-hoc key (deterministic ones too, since `target` has its own seed), watch-only
    /// accounts as watch-only, with their cached work. Representative and send ids are not
    /// imported. `target` must be unlocked; one transaction. Returns the imported accounts.
    pub fn import_json(
        &self,
        target: WalletId,
        json: &str,
        password: &str,
    ) -> Result<Vec<Account>> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| WalletError::InvalidExport(e.to_string()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| WalletError::InvalidExport("not a JSON object".into()))?;
        let mut fields: [Option<Vec<u8>>; 7] = Default::default();
        let mut accounts = Vec::new();
        for (k, v) in obj {
            let key = decode_hex(k)?;
            let val = decode_hex(
                v.as_str()
                    .ok_or_else(|| WalletError::InvalidExport(format!("{k}: not a string")))?,
            )?;
            match (key.first(), key.len()) {
                (Some(&TAG_FIELD), 2) if (key[1] as usize) < fields.len() => {
                    fields[key[1] as usize] = Some(val)
                }
                (Some(&TAG_ACCOUNT), 33) => {
                    let account = Account::from_slice(&key[1..]).expect("32 bytes");
                    accounts.push((account, AccountRecord::decode(&val).map_err(bad)?));
                }
                (Some(&TAG_SEND_ID), _) => {}
                _ => return Err(WalletError::InvalidExport(format!("unknown entry {k}"))),
            }
        }
        let field = |f: u8| {
            fields[f as usize]
                .as_deref()
                .ok_or_else(|| WalletError::InvalidExport(format!("missing field {f:02X}")))
        };
        let version = u32_value(field(FIELD_VERSION)?, "version").map_err(bad)?;
        if version != WALLET_VERSION {
            return Err(WalletError::UnsupportedVersion {
                found: version,
                expected: WALLET_VERSION,
            });
        }
        let kdf = KdfRecord::decode(field(FIELD_KDF)?).map_err(bad)?;
        kdf.params.validate()?;
        let wrapped = sealed(field(FIELD_WALLET_KEY)?, "wallet key").map_err(bad)?;
        let check = fixed32(field(FIELD_CHECK)?, "check").map_err(bad)?;
        let password_key = kdf.params.derive(password, &kdf.salt)?;
        let wallet_key = crypto::open(&password_key, &wrapped);
        if check_value(&wallet_key) != check {
            return Err(WalletError::InvalidPassword);
        }
        let sealed_seed = sealed(field(FIELD_SEED)?, "seed").map_err(bad)?;
        let seed = RawKey(*crypto::open(&wallet_key, &sealed_seed));
        let mut keys = Vec::new();
        let mut watch = Vec::new();
        for (account, rec) in accounts {
            let prv = match rec.key {
                KeyMaterial::Watch => {
                    watch.push((account, rec.work));
                    continue;
                }
                KeyMaterial::Adhoc(s) => RawKey(*crypto::open(&wallet_key, &s)),
                KeyMaterial::Deterministic(i) => seed.derive(i),
            };
            if public_from_private(&prv) != account {
                return Err(WalletError::InvalidExport(format!(
                    "key of {} does not match",
                    account.encode_account()
                )));
            }
            keys.push((prv, rec.work));
        }
        self.insert_many(target, &keys, &watch)
    }
}

//! The offline key utilities (`--key_create`, `--key_expand`, `--account_get`,
//! `--account_key`): they need no ledger, so they run before anything is opened.
//! Output lines match the reference node's so scripts that parse them keep working.

use anyhow::{anyhow, Result};
use nano_core::keys::{KeyPair, RawKey};
use nano_core::PublicKey;

/// `Private:`, `Public:` and `Account:` lines for a key pair.
pub fn describe_pair(kp: &KeyPair) -> String {
    format!(
        "Private: {}\nPublic: {}\nAccount: {}\n",
        kp.private().encode_hex(),
        kp.public().encode_hex(),
        kp.public().encode_account()
    )
}

pub fn key_create() -> String {
    describe_pair(&KeyPair::random())
}

pub fn key_expand(private_hex: &str) -> Result<String> {
    let key = RawKey::decode_hex(private_hex).map_err(|e| anyhow!("Invalid key: {e}"))?;
    Ok(describe_pair(&KeyPair::from_private(key)))
}

pub fn account_get(public_hex: &str) -> Result<String> {
    let key = PublicKey::decode_hex(public_hex).map_err(|e| anyhow!("Invalid key: {e}"))?;
    Ok(format!("Account: {}\n", key.encode_account()))
}

pub fn account_key(account: &str) -> Result<String> {
    let key = PublicKey::decode_account(account).map_err(|e| anyhow!("Invalid account: {e}"))?;
    Ok(format!("Hex: {}\n", key.encode_hex()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_known_key() {
        let out =
            key_expand("0000000000000000000000000000000000000000000000000000000000000000").unwrap();
        assert!(out
            .contains("Public: 19D3D919475DEED4696B5D13018151D1AF88B2BD3BCFF048B45031C1F36D1858"));
        assert!(key_expand("zz").is_err());
    }

    #[test]
    fn account_round_trip() {
        let hex = "E89208DD038FBB269987689621D52292AE9C35941A7484756ECCED92A65093BA";
        let acc = "nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3";
        assert_eq!(account_get(hex).unwrap(), format!("Account: {acc}\n"));
        assert_eq!(account_key(acc).unwrap(), format!("Hex: {hex}\n"));
        assert!(account_key("nano_1")
            .unwrap_err()
            .to_string()
            .contains("length"));
    }
}

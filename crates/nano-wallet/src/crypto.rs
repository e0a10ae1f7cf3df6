//! Key derivation and encryption primitives of the wallet format: Argon2d turns a password
//! into a 32-byte password key, AES-256-CTR wraps 32-byte secrets, and a BLAKE2b digest of
//! the wallet key tells a right password from a wrong one.
//!
//! Every decrypted secret is held in a zeroize-on-drop buffer.

use aes::Aes256;
use argon2::{Algorithm, Argon2, Params, Version};
use ctr::cipher::{KeyIvInit, StreamCipher};
use nano_core::hash::blake2b_256;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::error::WalletError;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// A 32-byte secret (wallet key, password key, decrypted seed or private key) that is
/// zeroed when dropped.
pub(crate) type Secret = Zeroizing<[u8; 32]>;

/// Length of the random IV stored in front of every ciphertext.
pub(crate) const IV_LEN: usize = 16;

/// Cost of the password KDF (Argon2d, 32-byte output).
///
/// Stored with each wallet, so changing the store's configured cost never makes an
/// existing wallet unreadable: the new cost applies the next time its password is changed
/// (and to wallets created afterwards).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB (at least 8).
    pub m_cost_kib: u32,
    /// Passes over memory (at least 1).
    pub t_cost: u32,
    /// Lanes (at least 1).
    pub p_cost: u32,
}

impl KdfParams {
    /// The reference node's production cost: 64 MiB, one pass, one lane. Makes each
    /// password guess cost ~0.1 s and 64 MiB, which is the point of encrypting at rest.
    pub const PRODUCTION: KdfParams = KdfParams {
        m_cost_kib: 64 * 1024,
        t_cost: 1,
        p_cost: 1,
    };
    /// The reference node's dev-network cost (8 KiB): for tests and the dev network only,
    /// where wallets are created by the thousand and protect nothing.
    pub const DEV: KdfParams = KdfParams {
        m_cost_kib: 8,
        t_cost: 1,
        p_cost: 1,
    };

    fn argon2(&self) -> Result<Argon2<'static>, WalletError> {
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| WalletError::Kdf(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2d, Version::V0x13, params))
    }

    /// Checks the parameters are usable before anything is written with them.
    pub fn validate(&self) -> Result<(), WalletError> {
        self.argon2().map(|_| ())
    }

    /// The password key for `password` under `salt`.
    pub(crate) fn derive(&self, password: &str, salt: &[u8; 32]) -> Result<Secret, WalletError> {
        let mut out = Zeroizing::new([0u8; 32]);
        self.argon2()?
            .hash_password_into(password.as_bytes(), salt, &mut out[..])
            .map_err(|e| WalletError::Kdf(e.to_string()))?;
        Ok(out)
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::PRODUCTION
    }
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    b
}

pub(crate) fn random_secret() -> Secret {
    let mut s = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(&mut s[..]);
    s
}

/// AES-256-CTR keystream applied in place (encryption and decryption are the same).
fn apply(key: &[u8; 32], iv: &[u8; IV_LEN], data: &mut [u8; 32]) {
    let mut c = Aes256Ctr::new(key.into(), iv.into());
    c.apply_keystream(data);
}

/// Encrypts a 32-byte secret under `key` with a fresh random IV; returns `iv ‖ ciphertext`.
pub(crate) fn seal(key: &[u8; 32], plain: &[u8; 32]) -> [u8; IV_LEN + 32] {
    let iv: [u8; IV_LEN] = random_bytes();
    let mut buf = Zeroizing::new(*plain);
    apply(key, &iv, &mut buf);
    let mut out = [0u8; IV_LEN + 32];
    out[..IV_LEN].copy_from_slice(&iv);
    out[IV_LEN..].copy_from_slice(&buf[..]);
    out
}

/// Inverse of [`seal`]. CTR is unauthenticated: a wrong key gives garbage, not an error,
/// so callers check the result (the wallet-key check value, or the public key).
pub(crate) fn open(key: &[u8; 32], sealed: &[u8; IV_LEN + 32]) -> Secret {
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&sealed[..IV_LEN]);
    let mut buf = Zeroizing::new([0u8; 32]);
    buf.copy_from_slice(&sealed[IV_LEN..]);
    apply(key, &iv, &mut buf);
    buf
}

/// Public check value of a wallet key: lets a password be verified without storing
/// anything that helps decrypt.
pub(crate) fn check_value(wallet_key: &[u8; 32]) -> [u8; 32] {
    blake2b_256(&[b"nano-wallet/check/v1", wallet_key])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_fresh_iv() {
        let key = random_secret();
        let plain = [7u8; 32];
        let a = seal(&key, &plain);
        let b = seal(&key, &plain);
        assert_ne!(a, b, "each seal uses a fresh IV");
        assert_eq!(*open(&key, &a), plain);
        assert_eq!(*open(&key, &b), plain);
        let other = random_secret();
        assert_ne!(*open(&other, &a), plain);
    }

    #[test]
    fn kdf_is_deterministic_and_salted() {
        let s1 = [1u8; 32];
        let s2 = [2u8; 32];
        let k = KdfParams::DEV;
        assert_eq!(*k.derive("pw", &s1).unwrap(), *k.derive("pw", &s1).unwrap());
        assert_ne!(*k.derive("pw", &s1).unwrap(), *k.derive("pw", &s2).unwrap());
        assert_ne!(*k.derive("pw", &s1).unwrap(), *k.derive("px", &s1).unwrap());
        assert!(KdfParams {
            m_cost_kib: 1,
            t_cost: 1,
            p_cost: 1
        }
        .validate()
        .is_err());
    }
}

//! `nano-wallet` owns the node's wallet store: wallets identified by random 32-byte ids,
//! each with a seed and its deterministic accounts, imported (ad-hoc) keys and watch-only
//! accounts, a default representative, cached work per account and the ids of sends
//! already made, all kept encrypted at rest in their own LMDB environment
//! (`wallets.ldb`), separate from the ledger.
//!
//! - [`store`]: [`Wallets`], every operation, one committed LMDB transaction each.
//! - [`mod@format`]: the versioned on-disk layout (documented there) and the public value types.
//! - [`crypto`]: Argon2d password KDF, AES-256-CTR key wrapping, the password check.
//! - [`export`]: `wallet_export` JSON and importing it back.
//!
//! The store knows nothing of the ledger or the network: operations that need ledger
//! facts (restoring accounts after a seed change) take a closure, and sends take a
//! builder closure so the caller's block creation runs at most once per send id.

pub mod crypto;
pub mod error;
pub mod export;
pub mod format;
pub mod store;

pub use crypto::KdfParams;
pub use error::WalletError;
pub use format::{
    KeyKind, WalletAccount, WalletId, MAX_SEND_ID_LEN, STORE_VERSION, WALLET_VERSION,
};
pub use store::{Restore, Restored, SendOnce, Wallets, WalletsConfig, WALLETS_FILE};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn wallets_is_send_sync() {
        assert_send_sync::<Wallets>();
    }
}

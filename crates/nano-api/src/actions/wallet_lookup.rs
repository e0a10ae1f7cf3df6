//! The `wallet` argument and the wallet store's errors in the reference's texts, shared by
//! the wallet actions (`wallet`) and the node-backed wallet operations (`node_ops`), so
//! neither imports the other for them.

use nano_wallet::{WalletError, WalletId, Wallets};

use crate::error::{err, msg, RpcError};
use crate::json::{req_str, Req};

/// Maps wallet errors to the reference texts.
pub(crate) fn werr(e: WalletError) -> RpcError {
    RpcError::new(match e {
        WalletError::WalletNotFound => "Wallet not found",
        WalletError::Locked => "Wallet is locked",
        WalletError::InvalidPassword => "Invalid password",
        WalletError::AccountNotFound => "Account not found in wallet",
        WalletError::WatchOnly => "Account not found in wallet",
        WalletError::InvalidSendId { .. } => "Invalid id",
        _ => {
            tracing::error!("wallet error in RPC: {e}");
            msg::INTERNAL
        }
    })
}

/// The `wallet` field: a known wallet id.
pub(crate) fn wallet_id(w: &Wallets, r: &Req) -> Result<WalletId, RpcError> {
    let id = crate::json::hex256(req_str(r, "wallet")?, WalletId, msg::BAD_WALLET)?;
    if !w.exists(id).map_err(werr)? {
        return err("Wallet not found");
    }
    Ok(id)
}

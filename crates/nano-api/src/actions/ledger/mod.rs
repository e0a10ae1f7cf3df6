//! Read-only ledger actions (account_info, block_info, history, receivables, counts ...)
//! with the reference node's answer shapes: every number a decimal string, hashes upper
//! hex, accounts as `nano_` addresses, `"true"`/`"false"` for flags.
//!
//! One file per subject: [`accounts`], [`blocks`], [`receivable`], [`history`],
//! [`representatives`]; this module holds the request readers they share.

mod accounts;
mod blocks;
mod history;
mod receivable;
mod representatives;

pub(crate) use accounts::ledger_entry;
pub use accounts::{
    account_balance, account_balance_within, account_block_count, account_count, account_info,
    account_info_of, account_representative, accounts_balances, accounts_balances_within,
    accounts_frontiers, accounts_representatives, available_supply, frontiers, ledger_action,
    ledger_too_many, AccountInfoQuery, LEDGER_MAX_COUNT,
};
pub use blocks::{block_account, block_count, block_info, blocks, blocks_info, chain, successors};
pub use history::account_history;
pub(crate) use history::history_entry;
pub use receivable::{accounts_receivable, receivable, receivable_exists, receivable_text};
pub(crate) use receivable::{receivable_sum_within, receivable_value, ConfirmedFilter};
pub use representatives::{account_weight, delegators, delegators_count, representatives};

use nano_core::Amount;
use nano_ledger::{Ledger, ReadTxn};
use serde_json::Value;

use super::internal;
use crate::error::{err, msg, RpcError};
use crate::json::{opt_text, opt_u64, Req};

fn read(ledger: &Ledger) -> Result<ReadTxn<'_>, RpcError> {
    ledger.read_txn().map_err(internal)
}

fn tf(b: bool) -> Value {
    Value::String(if b { "true" } else { "false" }.into())
}

fn epoch_version(e: nano_core::Epoch) -> &'static str {
    match e {
        nano_core::Epoch::Epoch1 => "1",
        nano_core::Epoch::Epoch2 => "2",
        _ => "0",
    }
}

fn accounts_list(r: &Req) -> Result<Vec<String>, RpcError> {
    match r.get("accounts") {
        Some(Value::Array(a)) => Ok(a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()),
        _ => err(msg::UNABLE_TO_PARSE_JSON),
    }
}

fn hashes_list(r: &Req) -> Result<Vec<String>, RpcError> {
    match r.get("hashes") {
        Some(Value::Array(a)) => Ok(a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()),
        _ => err(msg::UNABLE_TO_PARSE_JSON),
    }
}

/// A required count as the reference reads it: missing, malformed or zero is
/// "Invalid count".
fn required_count(r: &Req) -> Result<u64, RpcError> {
    match opt_u64(r, "count", msg::INVALID_COUNT)? {
        Some(n) if n > 0 => Ok(n),
        _ => err(msg::INVALID_COUNT),
    }
}

fn opt_threshold(r: &Req) -> Result<Amount, RpcError> {
    match opt_text(r, "threshold") {
        Some(s) => Amount::decode_dec(&s).map_err(|_| RpcError::new(msg::BAD_THRESHOLD)),
        None => Ok(Amount::ZERO),
    }
}

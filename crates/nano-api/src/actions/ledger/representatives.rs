//! Voting weight actions: account_weight, delegators, delegators_count, representatives.

use nano_core::{Account, Amount, PublicKey};
use serde_json::{Map, Value};

use super::read;
use crate::actions::{internal, obj};
use crate::context::ApiContext;
use crate::error::{msg, RpcError};
use crate::json::{self, opt_bool, opt_text, opt_u64, Req};

pub fn account_weight(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let a = json::account(r, "account")?;
    Ok(obj([("weight", l.weight(&a).encode_dec().into())]))
}

pub fn delegators(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let rep = json::account(r, "account")?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(1024);
    let threshold = match opt_text(r, "threshold") {
        Some(s) => Amount::decode_dec(&s).map_err(|_| RpcError::new(msg::BAD_THRESHOLD))?,
        None => Amount::ZERO,
    };
    let start = match opt_text(r, "start") {
        Some(s) => {
            Some(PublicKey::decode_account(&s).map_err(|_| RpcError::new(msg::BAD_ACCOUNT))?)
        }
        None => None,
    };
    let t = read(l)?;
    let mut m = Map::new();
    for (a, bal) in l.delegators(&t, &rep).map_err(internal)? {
        if m.len() as u64 >= count {
            break;
        }
        if start.is_some_and(|s| a <= s) || bal < threshold {
            continue;
        }
        m.insert(a.encode_account(), bal.encode_dec().into());
    }
    Ok(obj([("delegators", Value::Object(m))]))
}

pub fn delegators_count(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let rep = json::account(r, "account")?;
    let t = read(l)?;
    let n = l.delegators(&t, &rep).map_err(internal)?.len();
    Ok(obj([("count", n.to_string().into())]))
}

pub fn representatives(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(u64::MAX);
    let sorting = opt_bool(r, "sorting", false)?;
    let t = read(l)?;
    let mut reps: std::collections::BTreeMap<Account, Amount> = Default::default();
    for (a, _) in l
        .frontiers(&t, &Account::ZERO, usize::MAX)
        .map_err(internal)?
    {
        if let Some(info) = l.account_info(&t, &a).map_err(internal)? {
            reps.entry(info.representative).or_default();
        }
    }
    let mut list: Vec<(Account, Amount)> = reps
        .into_keys()
        .map(|a| (a, l.weight(&a)))
        .filter(|(_, w)| !w.is_zero())
        .collect();
    if sorting {
        list.sort_by_key(|x| std::cmp::Reverse(x.1));
    }
    let mut m = Map::new();
    for (a, w) in list.into_iter().take(count.min(usize::MAX as u64) as usize) {
        m.insert(a.encode_account(), w.encode_dec().into());
    }
    Ok(obj([("representatives", Value::Object(m))]))
}

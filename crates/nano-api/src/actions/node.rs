//! Node-level actions: version, uptime, stop, stats.

use serde_json::{json, Value};

use super::obj;
use crate::context::ApiContext;
use crate::error::RpcError;
use crate::json::{opt_text, Req};

pub fn version(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    Ok(obj([
        ("rpc_version", "1".into()),
        ("store_version", "24".into()),
        (
            "protocol_version",
            nano_core::network::PROTOCOL_VERSION.to_string().into(),
        ),
        (
            "node_vendor",
            format!("nano-rs V{}", env!("CARGO_PKG_VERSION")).into(),
        ),
        ("store_vendor", "LMDB".into()),
        ("network", ctx.network.as_str().into()),
        (
            "network_identifier",
            ctx.params.genesis_hash.encode_hex().into(),
        ),
        (
            "build_info",
            format!("nano-rs {} (Rust)", env!("CARGO_PKG_VERSION")).into(),
        ),
    ]))
}

pub fn uptime(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    Ok(obj([(
        "seconds",
        ctx.started.elapsed().as_secs().to_string().into(),
    )]))
}

pub fn stop(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    ctx.stop.notify_waiters();
    ctx.stop.notify_one();
    Ok(obj([("success", "".into())]))
}

pub fn stats(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    match opt_text(r, "type").as_deref() {
        Some("counters") => {
            let entries: Vec<Value> = ctx
                .stats
                .snapshot()
                .into_iter()
                .map(|(t, d, dir, v)| {
                    json!({"time": "", "type": t, "detail": d, "dir": dir, "value": v.to_string()})
                })
                .collect();
            Ok(obj([
                ("type", "counters".into()),
                ("created", "".into()),
                ("entries", Value::Array(entries)),
                (
                    "stat_duration_seconds",
                    ctx.started.elapsed().as_secs().to_string().into(),
                ),
            ]))
        }
        _ => Err(RpcError::new("Invalid or missing type argument")),
    }
}

pub fn stats_clear(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    ctx.stats.clear();
    Ok(obj([("success", "".into())]))
}

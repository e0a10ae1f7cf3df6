//! Node-level actions: version, uptime, stop, stats.

use serde_json::{json, Map, Value};

use super::obj;
use crate::context::ApiContext;
use crate::error::RpcError;
use crate::json::{opt_text, Req};

/// `version`. `store_version` is the schema version recorded in the attached ledger's
/// store; a bare utility server has no store, so it leaves the field out.
pub fn version(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    let store_version = match &ctx.ledger {
        Some(l) => {
            let t = l.read_txn().map_err(super::internal)?;
            l.store_version(&t).map_err(super::internal)?
        }
        None => None,
    };
    let mut m = Map::new();
    m.insert("rpc_version".into(), "1".into());
    if let Some(n) = store_version {
        m.insert("store_version".into(), n.to_string().into());
    }
    let rest = obj([
        (
            "protocol_version",
            nano_core::network::PROTOCOL_VERSION.to_string().into(),
        ),
        (
            "node_vendor",
            format!("nano-rs V{}", env!("CARGO_PKG_VERSION")).into(),
        ),
        ("store_vendor", nano_ledger::store_vendor().into()),
        ("network", ctx.network.as_str().into()),
        (
            "network_identifier",
            ctx.params.genesis_hash.encode_hex().into(),
        ),
        (
            "build_info",
            format!("nano-rs {} (Rust)", env!("CARGO_PKG_VERSION")).into(),
        ),
    ]);
    if let Value::Object(rest) = rest {
        m.extend(rest);
    }
    Ok(Value::Object(m))
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

/// The wall clock as the reference's stats writer prints it: `YYYY.MM.DD HH:MM:SS` for
/// `created` and `HH:MM:SS` for each entry (UTC here; the reference uses local time).
fn stats_clock() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (year, month, day) = nano_core::civil_date::civil_from_days(days);
    let time = format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60);
    (format!("{year:04}.{month:02}.{day:02} {time}"), time)
}

/// `stats`: counters, samples (each read empties the samplers, as the reference's),
/// the node's containers (`objects`) or the store's LMDB statistics (`database`).
pub fn stats(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let kind = opt_text(r, "type");
    match kind.as_deref() {
        Some("counters") | Some("samples") => {}
        Some("objects") => return Ok(super::node(ctx)?.container_info()),
        Some("database") => {
            let s = ctx.ledger()?.database_stat();
            return Ok(obj([
                ("branch_pages", s.branch_pages.to_string().into()),
                ("depth", s.depth.to_string().into()),
                ("entries", s.entries.to_string().into()),
                ("leaf_pages", s.leaf_pages.to_string().into()),
                ("overflow_pages", s.overflow_pages.to_string().into()),
                ("page_size", s.page_size.to_string().into()),
            ]));
        }
        _ => return Err(RpcError::new("Invalid or missing type argument")),
    }
    let (created, time) = stats_clock();
    // Seconds since start or the last stats_clear, as the reference.
    let since = ctx
        .stats_reset
        .lock()
        .ok()
        .and_then(|g| *g)
        .unwrap_or(ctx.started);
    let duration = since.elapsed().as_secs().to_string();
    let (kind, entries): (&str, Vec<Value>) = if kind.as_deref() == Some("counters") {
        let entries = ctx
            .stats
            .snapshot()
            .into_iter()
            .map(|(t, d, dir, v)| {
                json!({"time": time, "type": t, "detail": d, "dir": dir, "value": v.to_string()})
            })
            .collect();
        ("counters", entries)
    } else {
        let entries = ctx
            .stats
            .take_samples()
            .into_iter()
            .map(|(name, (min, max), values)| {
                let values: Vec<String> = values.iter().map(i64::to_string).collect();
                json!({"time": time, "sample": name, "min": min.to_string(), "max": max.to_string(), "values": values})
            })
            .collect();
        ("samples", entries)
    };
    Ok(obj([
        ("type", kind.into()),
        ("created", created.into()),
        ("entries", Value::Array(entries)),
        ("stat_duration_seconds", duration.into()),
    ]))
}

pub fn stats_clear(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    ctx.stats.clear();
    if let Ok(mut g) = ctx.stats_reset.lock() {
        *g = Some(std::time::Instant::now());
    }
    Ok(obj([("success", "".into())]))
}

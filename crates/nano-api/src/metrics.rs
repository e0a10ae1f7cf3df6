//! `/metrics` in the Prometheus text format: ledger counts, node counters, RPC request
//! latency. Written by hand (the format is a few lines of text) so scraping costs one
//! read transaction and no extra dependency.

use std::fmt::Write;

use crate::context::ApiContext;

fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {v}");
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The confirmation log's reach and the HTTP callback's lag behind its head (from the
/// cursor the callback persists at least once a second while it delivers).
fn confirmation_log(out: &mut String, l: &nano_ledger::Ledger, t: &nano_ledger::ReadTxn<'_>) {
    let head = l.confirmation_log_head(t).ok().flatten().unwrap_or(0);
    gauge(
        out,
        "nano_confirmation_sequence_head",
        "Newest confirmation sequence number.",
        head,
    );
    gauge(
        out,
        "nano_confirmation_history_oldest",
        "Oldest confirmation sequence number still replayable.",
        l.confirmation_log_oldest(t)
            .ok()
            .flatten()
            .unwrap_or(head + 1),
    );
    if let Ok(Some(cursor)) = l.confirmation_log_cursor(t, crate::callback::CURSOR_NAME) {
        gauge(
            out,
            "nano_http_callback_lag",
            "Confirmations not yet delivered by the HTTP callback (head minus its cursor).",
            head.saturating_sub(cursor),
        );
    }
}

/// The whole scrape.
pub fn render(ctx: &ApiContext) -> String {
    let mut out = String::new();
    gauge(
        &mut out,
        "nano_uptime_seconds",
        "Seconds since the node started.",
        ctx.started.elapsed().as_secs(),
    );
    if let Some(l) = &ctx.ledger {
        if let Ok(t) = l.read_txn() {
            gauge(
                &mut out,
                "nano_ledger_blocks",
                "Blocks in the ledger.",
                l.block_count(&t).unwrap_or(0),
            );
            gauge(
                &mut out,
                "nano_ledger_cemented_blocks",
                "Cemented (confirmed) blocks.",
                l.cemented_count(),
            );
            gauge(
                &mut out,
                "nano_ledger_accounts",
                "Accounts in the ledger.",
                l.account_count(&t).unwrap_or(0),
            );
            gauge(
                &mut out,
                "nano_ledger_unchecked_blocks",
                "Blocks waiting for a dependency.",
                ctx.node.as_ref().map_or(0, |n| n.unchecked_count() as u64),
            );
            confirmation_log(&mut out, l, &t);
        }
    }
    if let Some(n) = &ctx.node {
        let s = n.status();
        gauge(&mut out, "nano_peers", "Realtime peers.", s.peers as u64);
        gauge(
            &mut out,
            "nano_active_elections",
            "Active elections.",
            s.active_elections as u64,
        );
        gauge(
            &mut out,
            "nano_block_processor_queue",
            "Blocks queued for processing.",
            s.block_queue as u64,
        );
    }
    let _ = writeln!(
        out,
        "# HELP nano_stat Node counters by type, detail and direction."
    );
    let _ = writeln!(out, "# TYPE nano_stat counter");
    for (t, d, dir, v) in ctx.stats.snapshot() {
        let _ = writeln!(
            out,
            "nano_stat{{type=\"{}\",detail=\"{}\",dir=\"{}\"}} {v}",
            label(&t),
            label(&d),
            label(&dir)
        );
    }
    ctx.rpc_latency
        .render("nano_rpc_request_duration_seconds", &mut out);
    out
}

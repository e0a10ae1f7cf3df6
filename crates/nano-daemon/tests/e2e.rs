//! End-to-end flows across real `nano_node` processes: the cold-wallet workflow of the
//! operator docs (a hot node publishes what an offline node signed, and it is
//! confirmed), wallet send/receive with an idempotent id and auto-receive, and the RPC
//! served by a `nano_rpc` child process answering like the in-process server.

mod common;

use common::*;
use serde_json::json;

fn voting_rep() -> Vec<String> {
    vec![
        "--config".into(),
        format!("node.representative_key=\"{DEV_KEY}\""),
        "--config".into(),
        "node.peering_port=0".into(),
    ]
}

/// A voting node A (dev genesis key) on a known peering port, and a node B that knows A
/// as a preconfigured peer or (with `preconfigured = false`) knows nobody.
struct Pair {
    a: Daemon,
    b: Daemon,
    a_peering: u16,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn start_pair(preconfigured: bool) -> Pair {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a_peering = free_port();
    let a = start_daemon(
        a_dir.path(),
        true,
        &[
            "--config".into(),
            format!("node.representative_key=\"{DEV_KEY}\""),
            "--config".into(),
            format!("node.peering_port={a_peering}"),
        ],
    );
    let mut b_args = vec!["--config".into(), "node.peering_port=0".into()];
    if preconfigured {
        b_args.extend([
            "--config".into(),
            format!("node.preconfigured_peers=[\"[::1]:{a_peering}\"]"),
        ]);
    }
    let b = start_daemon(b_dir.path(), true, &b_args);
    Pair {
        a,
        b,
        a_peering,
        _dirs: (a_dir, b_dir),
    }
}

#[test]
fn cold_wallet_workflow() {
    let hot_dir = tempfile::tempdir().unwrap();
    let cold_dir = tempfile::tempdir().unwrap();
    let hot = start_daemon(hot_dir.path(), true, &voting_rep());
    let cold = start_daemon(
        cold_dir.path(),
        true,
        &["--config".into(), "node.peering_port=0".into()],
    );
    // 1. HOT: account_info of the account to spend from.
    let info = rpc(
        hot.rpc,
        json!({"action": "account_info", "account": DEV_ACCOUNT, "representative": "true"}),
    );
    let frontier = info["frontier"].as_str().unwrap().to_string();
    let balance: u128 = info["balance"].as_str().unwrap().parse().unwrap();
    // 2. HOT: block_info of the frontier.
    let head = rpc(
        hot.rpc,
        json!({"action": "block_info", "hash": frontier, "json_block": "true"}),
    );
    // 3. COLD: recompute the head's hash from its contents; never trust HOT.
    let h = rpc(
        cold.rpc,
        json!({"action": "block_hash", "json_block": "true", "block": head["contents"]}),
    );
    assert_eq!(h["hash"], frontier);
    // 4. COLD: derive the destination key offline.
    let dest = rpc(
        cold.rpc,
        json!({"action": "deterministic_key", "seed": "0".repeat(64), "index": "0"}),
    );
    assert_eq!(
        rpc(
            cold.rpc,
            json!({"action": "validate_account_number", "account": dest["account"]})
        )["valid"],
        "1"
    );
    // 5. COLD: build and sign the send with the private key.
    let amount = 1_000_000u128;
    let created = rpc(
        cold.rpc,
        json!({
            "action": "block_create", "json_block": "true", "type": "state", "key": DEV_KEY,
            "account": DEV_ACCOUNT, "previous": frontier, "representative": info["representative"],
            "balance": (balance - amount).to_string(), "link": dest["account"],
        }),
    );
    assert!(created["error"].is_null(), "{created}");
    // 6. HOT: check the work, then publish with process (subtype send).
    let work = rpc(
        hot.rpc,
        json!({"action": "work_validate", "hash": frontier, "work": created["block"]["work"]}),
    );
    assert_eq!(work["valid_all"], "1");
    // A wrong subtype claim is refused before publishing (checked against the
    // account's balance, so before the send is in the ledger).
    let wrong = rpc(
        hot.rpc,
        json!({"action": "process", "json_block": "true", "subtype": "receive", "block": created["block"]}),
    );
    assert_eq!(wrong["error"], "Invalid block balance for given subtype");
    let p = rpc(
        hot.rpc,
        json!({"action": "process", "json_block": "true", "subtype": "send", "block": created["block"]}),
    );
    assert_eq!(p["hash"], created["hash"], "{p}");
    // 7. Track confirmation.
    let hash = created["hash"].as_str().unwrap().to_string();
    assert!(
        wait_until(60, || rpc(
            hot.rpc,
            json!({"action": "block_info", "hash": hash})
        )["confirmed"]
            == "true"),
        "send was not confirmed"
    );
    let r = rpc(
        hot.rpc,
        json!({"action": "receivable", "account": dest["account"]}),
    );
    assert_eq!(r["blocks"], json!([hash]));
    // Republishing the same block is "Old block".
    let again = rpc(
        hot.rpc,
        json!({"action": "process", "json_block": "true", "block": created["block"]}),
    );
    assert_eq!(again["error"], "Old block");
}

#[test]
fn wallet_send_is_idempotent_and_auto_receive_picks_it_up() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_daemon(dir.path(), true, &voting_rep());
    let w = rpc(node.rpc, json!({"action": "wallet_create"}))["wallet"]
        .as_str()
        .unwrap()
        .to_string();
    let added = rpc(
        node.rpc,
        json!({"action": "wallet_add", "wallet": w, "key": DEV_KEY}),
    );
    assert_eq!(added["account"], DEV_ACCOUNT);
    let dest = rpc(node.rpc, json!({"action": "account_create", "wallet": w}))["account"]
        .as_str()
        .unwrap()
        .to_string();
    // Amounts below the receive minimum (10^24 raw by default) are not auto-received.
    assert_eq!(
        rpc(node.rpc, json!({"action": "receive_minimum"}))["amount"],
        "1000000000000000000000000"
    );
    assert_eq!(
        rpc(
            node.rpc,
            json!({"action": "receive_minimum_set", "amount": "1000"})
        )["success"],
        ""
    );
    let send = json!({"action": "send", "wallet": w, "source": DEV_ACCOUNT, "destination": dest, "amount": "1000", "id": "payout-1"});
    let first = rpc(node.rpc, send.clone());
    let hash = first["block"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let second = rpc(node.rpc, send);
    assert_eq!(second["block"], hash, "same id sends once");
    assert!(
        wait_until(60, || {
            rpc(
                node.rpc,
                json!({"action": "account_balance", "account": dest}),
            )["balance"]
                == "1000"
        }),
        "auto-receive did not receive the confirmed send"
    );
    let hist = rpc(
        node.rpc,
        json!({"action": "account_history", "account": DEV_ACCOUNT, "count": "5"}),
    );
    let sends = hist["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "send")
        .count();
    assert_eq!(sends, 1, "exactly one send block: {hist}");
    let e = rpc(
        node.rpc,
        json!({"action": "send", "wallet": w, "source": dest, "destination": DEV_ACCOUNT, "amount": "1000000"}),
    );
    assert_eq!(e["error"], "Insufficient balance");
}

#[test]
fn child_process_rpc_answers_like_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let ipc_port = free_port();
    let queries = [
        json!({"action": "block_count"}),
        json!({"action": "account_info", "account": DEV_ACCOUNT}),
        json!({"action": "key_expand", "key": DEV_KEY}),
        json!({"action": "account_history", "account": DEV_ACCOUNT, "count": "3"}),
        json!({"action": "stop_no_such_action"}),
    ];
    let ipc = |extra: &mut Vec<String>| {
        extra.extend([
            "--config".into(),
            "node.ipc.tcp.enable=true".into(),
            "--config".into(),
            format!("node.ipc.tcp.port={ipc_port}"),
            "--rpcconfig".into(),
            format!("process.ipc_port={ipc_port}"),
            "--rpcconfig".into(),
            "process.ipc_address=\"127.0.0.1\"".into(),
        ]);
    };
    let in_process: Vec<serde_json::Value> = {
        let mut extra = vec!["--config".into(), "node.peering_port=0".into()];
        ipc(&mut extra);
        let node = start_daemon(dir.path(), false, &extra);
        queries.iter().map(|q| rpc(node.rpc, q.clone())).collect()
    };
    let mut extra = vec![
        "--config".into(),
        "node.peering_port=0".into(),
        "--config".into(),
        "rpc.child_process.enable=true".into(),
        "--config".into(),
        format!(
            "rpc.child_process.rpc_path=\"{}\"",
            env!("CARGO_BIN_EXE_nano_rpc")
        ),
    ];
    ipc(&mut extra);
    let node = start_daemon(dir.path(), false, &extra);
    for (q, expected) in queries.iter().zip(in_process) {
        assert_eq!(rpc(node.rpc, q.clone()), expected, "{q}");
    }
    assert_eq!(
        rpc(node.rpc, json!({"action": "stop"}))["error"],
        "RPC control is disabled"
    );
    // A node killed outright takes its RPC child with it (else the orphan keeps the port).
    let rpc_child = children_of(node.child.id())
        .into_iter()
        .find(|pid| process_name(*pid).as_deref() == Some("nano_rpc"))
        .expect("the node runs a nano_rpc child");
    let mut node = node;
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    assert!(
        wait_until(10, || process_name(rpc_child).is_none()),
        "nano_rpc {rpc_child} outlived its SIGKILLed node"
    );
}

/// PIDs whose parent is `parent`, read from /proc.
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    // Fields after the parenthesised name: state, ppid, ...
                    let rest = &s[s.rfind(')')? + 2..];
                    rest.split(' ').nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

/// The command name of a live (not zombie) process, or None once it is gone.
fn process_name(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let state = stat[close + 2..].chars().next()?;
    (state != 'Z').then(|| stat[open + 1..close].to_string())
}

/// The node id `node` announces (`node_id` needs control, which these daemons enable).
fn node_id_of(node: std::net::SocketAddr) -> String {
    rpc(node, json!({"action": "node_id"}))["node_id"]
        .as_str()
        .expect("node_id answered")
        .to_string()
}

/// The `message`/`publish` counter in direction `dir` of `node`'s stats (0 when absent).
fn publish_count(node: std::net::SocketAddr, dir: &str) -> u64 {
    let st = rpc(node, json!({"action": "stats", "type": "counters"}));
    st["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{st}"))
        .iter()
        .find(|e| e["type"] == "message" && e["detail"] == "publish" && e["dir"] == dir)
        .map_or(0, |e| e["value"].as_str().unwrap().parse().unwrap())
}

/// Whether `node` lists a peer whose handshake proved the node id `id`.
fn peered_with(node: std::net::SocketAddr, id: &str) -> bool {
    rpc(node, json!({"action": "peers", "peer_details": "true"}))["peers"]
        .as_object()
        .is_some_and(|peers| peers.values().any(|p| p["node_id"] == id))
}

#[test]
fn send_and_receive_between_two_nodes() {
    // Keep the whole pair alive: its data directories must outlive the daemons.
    let pair = start_pair(true);
    let (a, b) = (&pair.a, &pair.b);
    let a_id = node_id_of(a.rpc);
    assert!(
        wait_until(30, || peered_with(b.rpc, &a_id)),
        "B never connected to A"
    );
    let wa = rpc(a.rpc, json!({"action": "wallet_create"}))["wallet"]
        .as_str()
        .unwrap()
        .to_string();
    rpc(
        a.rpc,
        json!({"action": "wallet_add", "wallet": wa, "key": DEV_KEY}),
    );
    let wb = rpc(b.rpc, json!({"action": "wallet_create"}))["wallet"]
        .as_str()
        .unwrap()
        .to_string();
    let dest = rpc(b.rpc, json!({"action": "account_create", "wallet": wb}))["account"]
        .as_str()
        .unwrap()
        .to_string();
    let one_nano = "1000000000000000000000000000000";
    let sent = rpc(
        a.rpc,
        json!({"action": "send", "wallet": wa, "source": DEV_ACCOUNT, "destination": dest, "amount": one_nano}),
    );
    // The answer is the hash of A's new genesis frontier.
    let sent_hash = sent["block"].as_str().expect("sent").to_string();
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "account_info", "account": DEV_ACCOUNT})
        )["frontier"],
        sent_hash.as_str(),
        "{sent}"
    );
    // B learns the send, sees it confirmed by A's votes and receives it automatically;
    // A then learns and confirms B's receive.
    assert!(
        wait_until(60, || rpc(
            b.rpc,
            json!({"action": "account_balance", "account": dest})
        )["balance"]
            == one_nano),
        "B did not receive the send"
    );
    assert!(
        wait_until(60, || rpc(
            a.rpc,
            json!({"action": "account_balance", "account": dest})
        )["balance"]
            == one_nano),
        "A never confirmed B's receive"
    );
    let info = rpc(b.rpc, json!({"action": "account_info", "account": dest}));
    assert_eq!(info["block_count"], "1");
    // B's open block receives exactly A's send.
    let open = rpc(
        b.rpc,
        json!({"action": "block_info", "hash": info["open_block"], "json_block": "true"}),
    );
    assert_eq!(open["contents"]["link"], sent_hash.as_str(), "{open}");
    assert_eq!(open["subtype"], "open");
    // bootstrap_status: here B's counters depend on whether a bootstrap round or the
    // realtime publish brought A's blocks first, so the fixed parts are checked by value,
    // nothing from the honest peer A is rejected, and the other counters are the decimal
    // strings the reference prints. (nano-api's rpc_node test
    // bootstrap_status_counts_a_real_sync checks every counter's value after a sync.)
    let status = rpc(b.rpc, json!({"action": "bootstrap_status"}));
    assert_eq!(status["bootstrap_threads"], "1", "{status}");
    assert_eq!(status["blocks_rejected"], "0", "{status}");
    for k in [
        "total_attempts_count",
        "serving_connections",
        "blocks_received",
        "blocks_processed",
        "blocks_duplicate",
        "blocks_rejected",
    ] {
        assert!(
            status[k].as_str().is_some_and(|v| v.parse::<u64>().is_ok()),
            "{k}: {status}"
        );
    }
    // Network and election views of node B: its one peer is A, as A identifies itself.
    let peers = rpc(b.rpc, json!({"action": "peers", "peer_details": "true"}));
    let (_, first) = peers["peers"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(first["protocol_version"], "21");
    assert_eq!(first["node_id"], a_id.as_str());
    // The online representative's weight is its ledger weight as B holds it.
    let reps = rpc(
        b.rpc,
        json!({"action": "representatives_online", "weight": "true"}),
    );
    let weight = rpc(
        b.rpc,
        json!({"action": "account_weight", "account": DEV_ACCOUNT}),
    )["weight"]
        .clone();
    assert_eq!(
        reps["representatives"][DEV_ACCOUNT]["weight"], weight,
        "{reps}"
    );
    assert_ne!(weight, "0");
    let q = rpc(b.rpc, json!({"action": "confirmation_quorum"}));
    assert_eq!(q["online_weight_quorum_percent"], "67");
    assert_eq!(
        rpc(b.rpc, json!({"action": "populate_backlog"}))["success"],
        ""
    );
    // node_id: one key in three spellings, the one A saw B prove in the handshake.
    let id = rpc(b.rpc, json!({"action": "node_id"}));
    let public = nano_core::PublicKey::decode_hex(id["public"].as_str().unwrap()).unwrap();
    let as_account = public.encode_account();
    assert_eq!(id["as_account"], as_account.as_str(), "{id}");
    assert_eq!(
        id["node_id"],
        format!("node_{}", as_account.trim_start_matches("nano_"))
    );
    assert!(peered_with(a.rpc, id["node_id"].as_str().unwrap()));
    // A confirmed its send in an election of its own: the history lists it, once.
    let hist = rpc(
        a.rpc,
        json!({"action": "confirmation_history", "hash": sent_hash}),
    );
    assert_eq!(hist["confirmation_stats"]["count"], "1", "{hist}");
    assert_eq!(hist["confirmations"][0]["hash"], sent_hash.as_str());
}

/// The node-backed actions not covered by the flows above, each with a checked answer
/// and a bad-input case, on a voting dev node with one peer.
#[test]
fn node_actions_on_a_live_pair() {
    let Pair {
        a, b, a_peering, ..
    } = start_pair(false);
    // keepalive dials a peer.
    assert_eq!(
        rpc(
            b.rpc,
            json!({"action": "keepalive", "address": "::1", "port": a_peering.to_string()})
        )["started"],
        "1"
    );
    assert_eq!(
        rpc(b.rpc, json!({"action": "keepalive", "address": "::1"}))["error"],
        "Both port and address required"
    );
    assert_eq!(
        rpc(
            b.rpc,
            json!({"action": "keepalive", "address": "nope", "port": "1"})
        )["error"],
        "Invalid IP address"
    );
    let a_id = node_id_of(a.rpc);
    assert!(
        wait_until(30, || peered_with(b.rpc, &a_id)),
        "keepalive did not connect"
    );

    // A wallet with the genesis key on A: change representative, receive explicitly.
    let w = rpc(a.rpc, json!({"action": "wallet_create"}))["wallet"]
        .as_str()
        .unwrap()
        .to_string();
    rpc(
        a.rpc,
        json!({"action": "wallet_add", "wallet": w, "key": DEV_KEY}),
    );
    let dest = rpc(a.rpc, json!({"action": "account_create", "wallet": w}))["account"]
        .as_str()
        .unwrap()
        .to_string();
    // Keep auto-receive out of the way: amounts below the receive minimum.
    let send = rpc(
        a.rpc,
        json!({"action": "send", "wallet": w, "source": DEV_ACCOUNT, "destination": dest, "amount": "5"}),
    );
    let send_hash = send["block"].as_str().unwrap().to_string();
    let r = rpc(
        a.rpc,
        json!({"action": "receive", "wallet": w, "account": dest, "block": send_hash}),
    );
    let recv_hash = r["block"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    let again = rpc(
        a.rpc,
        json!({"action": "receive", "wallet": w, "account": dest, "block": send_hash}),
    );
    assert_eq!(again["error"], "Unreceivable");
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "receive", "wallet": w, "account": dest, "block": "1".repeat(64)})
        )["error"],
        "Block not found"
    );
    let change = rpc(
        a.rpc,
        json!({"action": "account_representative_set", "wallet": w, "account": dest, "representative": DEV_ACCOUNT}),
    );
    let change_hash = change["block"]
        .as_str()
        .unwrap_or_else(|| panic!("{change}"))
        .to_string();
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "account_representative", "account": dest})
        )["representative"],
        DEV_ACCOUNT
    );
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "account_representative_set", "wallet": w, "account": dest, "representative": "x"})
        )["error"],
        "Bad representative number"
    );

    // Everything reaches B and is confirmed there.
    assert!(
        wait_until(60, || rpc(
            b.rpc,
            json!({"action": "block_info", "hash": change_hash})
        )["confirmed"]
            == "true"),
        "B did not confirm A's blocks"
    );
    assert_eq!(
        rpc(b.rpc, json!({"action": "block_info", "hash": recv_hash}))["subtype"],
        "open"
    );

    // block_confirm on a cemented block; on an unknown block.
    assert_eq!(
        rpc(a.rpc, json!({"action": "block_confirm", "hash": recv_hash}))["started"],
        "1"
    );
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "block_confirm", "hash": "2".repeat(64)})
        )["error"],
        "Block not found"
    );
    // republish and wallet_republish list what they sent.
    let r = rpc(a.rpc, json!({"action": "republish", "hash": send_hash}));
    assert_eq!(r["blocks"][0], send_hash);
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "republish", "hash": "3".repeat(64)})
        )["error"],
        "Block not found"
    );
    let r = rpc(
        a.rpc,
        json!({"action": "wallet_republish", "wallet": w, "count": "1"}),
    );
    assert_eq!(r["blocks"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(
        rpc(a.rpc, json!({"action": "wallet_republish", "wallet": w}))["error"],
        "Invalid count"
    );
    // search_receivable: nothing left to receive above the minimum, but it starts (the
    // reference prints the flag as a boolean).
    assert_eq!(
        rpc(a.rpc, json!({"action": "search_receivable", "wallet": w}))["started"],
        "true"
    );
    assert_eq!(
        rpc(a.rpc, json!({"action": "search_receivable_all"}))["success"],
        ""
    );
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "search_receivable", "wallet": "zz"})
        )["error"],
        "Bad wallet number"
    );

    // Elections and telemetry views: A's blocks are all confirmed, so once their
    // elections have ended none runs.
    assert!(
        wait_until(30, || rpc(a.rpc, json!({"action": "election_statistics"}))
            ["total"]
            == "0"),
        "A's elections did not end"
    );
    assert_eq!(
        rpc(a.rpc, json!({"action": "election_statistics"})),
        json!({"manual": "0", "priority": "0", "hinted": "0", "optimistic": "0", "total": "0",
            "aec_utilization_percentage": "0.00", "max_election_age": "0",
            "average_election_age": "0"})
    );
    let c = rpc(a.rpc, json!({"action": "confirmation_active"}));
    assert_eq!(
        c,
        json!({"confirmations": "", "unconfirmed": "0", "confirmed": "0"}),
        "{c}"
    );
    assert_eq!(
        rpc(a.rpc, json!({"action": "confirmation_info", "root": "zz"}))["error"],
        "Invalid root hash"
    );
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "confirmation_info", "root": "0".repeat(128)})
        )["error"],
        "Active confirmation not found"
    );
    // B's raw telemetry holds A's, signed by the node id A announces.
    assert!(
        wait_until(30, || rpc(
            b.rpc,
            json!({"action": "telemetry", "raw": "true"})
        )["metrics"]
            .as_array()
            .is_some_and(|m| m.iter().any(|t| t["node_id"] == a_id))),
        "no telemetry from A on B"
    );
    // Without an address, B answers its own: its node id and its ledger's counts.
    let t = rpc(b.rpc, json!({"action": "telemetry"}));
    assert_eq!(
        t["genesis_block"],
        nano_core::Network::Dev.params().genesis_hash.encode_hex()
    );
    assert_eq!(t["node_id"], node_id_of(b.rpc), "{t}");
    let counts = rpc(b.rpc, json!({"action": "block_count"}));
    assert_eq!(
        (&t["block_count"], &t["cemented_count"]),
        (&counts["count"], &counts["cemented"]),
        "{t} {counts}"
    );
    assert_eq!(
        rpc(b.rpc, json!({"action": "telemetry", "address": "::1"}))["error"],
        "Both port and address required"
    );

    // Bootstrap controls.
    assert_eq!(
        rpc(b.rpc, json!({"action": "bootstrap_any"}))["success"],
        ""
    );
    assert_eq!(
        rpc(
            b.rpc,
            json!({"action": "bootstrap", "address": "::1", "port": a_peering.to_string()})
        )["success"],
        ""
    );
    assert_eq!(
        rpc(b.rpc, json!({"action": "bootstrap", "address": "::1"}))["error"],
        "Both port and address required"
    );
    assert_eq!(
        rpc(
            b.rpc,
            json!({"action": "bootstrap_any", "account": "nano_1bad", "force": "true"})
        )["error"],
        "Bad account number"
    );
    assert_eq!(
        rpc(
            b.rpc,
            json!({"action": "bootstrap_any", "account": DEV_ACCOUNT, "force": "true", "id": "e2e"})
        )["success"],
        ""
    );
    // The forced attempt runs (from the dev genesis account on) and ends: nothing is
    // left open and B's rounds have nothing queued or blocked (it holds A's ledger).
    assert!(
        wait_until(30, || {
            let st = rpc(b.rpc, json!({"action": "bootstrap_status"}));
            st["running_attempts_count"] == "0"
                && st["connections"]["connections"] == "0"
                && st["total_attempts_count"]
                    .as_str()
                    .is_some_and(|n| n.parse::<u64>().unwrap() >= 2)
        }),
        "{}",
        rpc(b.rpc, json!({"action": "bootstrap_status"}))
    );
    let st = rpc(b.rpc, json!({"action": "bootstrap_status"}));
    assert_eq!(
        st["connections"],
        json!({"clients": "0", "connections": "0", "idle": "0", "target_connections": "0", "pulls": "0"}),
        "{st}"
    );
    assert_eq!(st["attempts"], "", "{st}");
    // An empty list prints as "" (the reference's property tree).
    assert!(
        wait_until(30, || rpc(
            b.rpc,
            json!({"action": "debug_bootstrap_priority_info"})
        ) == json!({"priorities": "", "blocking": ""})),
        "{}",
        rpc(b.rpc, json!({"action": "debug_bootstrap_priority_info"}))
    );
    assert_eq!(
        rpc(
            b.rpc,
            json!({"action": "bootstrap_lazy", "hash": send_hash})
        )["error"],
        "Lazy bootstrap is disabled"
    );

    // Unchecked blocks: none waiting on A.
    assert_eq!(rpc(a.rpc, json!({"action": "unchecked"}))["blocks"], "");
    assert_eq!(
        rpc(a.rpc, json!({"action": "unchecked_clear"}))["success"],
        ""
    );

    // Counters, over a window the test controls: A's elections have ended (above), so
    // after stats_clear on both nodes the only publish messages are the ones asked for
    // here, each going to A's one peer, B.
    assert_eq!(rpc(a.rpc, json!({"action": "stats_clear"}))["success"], "");
    assert_eq!(rpc(b.rpc, json!({"action": "stats_clear"}))["success"], "");
    assert_eq!(publish_count(a.rpc, "out"), 0);
    let r = rpc(a.rpc, json!({"action": "republish", "hash": send_hash}));
    assert_eq!(r["blocks"], json!([send_hash]), "{r}");
    let r = rpc(
        a.rpc,
        json!({"action": "wallet_republish", "wallet": w, "count": "1"}),
    );
    assert_eq!(r["blocks"].as_array().unwrap().len(), 2, "{r}");
    // Counted as they are queued, so before the answers above.
    assert_eq!(publish_count(a.rpc, "out"), 3);
    assert!(
        wait_until(30, || publish_count(b.rpc, "in") == 3),
        "B received {} of A's 3 publish messages",
        publish_count(b.rpc, "in")
    );
    assert_eq!(publish_count(a.rpc, "out"), 3);
    assert_eq!(
        rpc(a.rpc, json!({"action": "stats", "type": "bogus"}))["error"],
        "Invalid or missing type argument"
    );
    assert_eq!(rpc(a.rpc, json!({"action": "stats_clear"}))["success"], "");

    // epoch_upgrade: only the epoch signer may, and it upgrades opened accounts.
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "epoch_upgrade", "epoch": "1", "key": "1".repeat(64)})
        )["error"],
        "Incorrect epoch signer"
    );
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "epoch_upgrade", "epoch": "3", "key": DEV_KEY})
        )["error"],
        "Invalid epoch number"
    );
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "epoch_upgrade", "epoch": "1", "key": DEV_KEY})
        )["started"],
        "1"
    );
    assert!(
        wait_until(60, || rpc(
            a.rpc,
            json!({"action": "account_info", "account": dest})
        )["account_version"]
            == "1"),
        "epoch upgrade did not reach the account"
    );

    // wallet_representative_set with update_existing_accounts changes every opened
    // account of the wallet (both are now epoch 1 accounts).
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "wallet_representative_set", "wallet": w, "representative": dest, "update_existing_accounts": "true"})
        )["set"],
        "1"
    );
    for acc in [DEV_ACCOUNT, dest.as_str()] {
        assert_eq!(
            rpc(
                a.rpc,
                json!({"action": "account_representative", "account": acc})
            )["representative"],
            dest.as_str(),
            "{acc}"
        );
    }
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "wallet_representative", "wallet": w})
        )["representative"],
        dest.as_str()
    );
    // A locked wallet cannot change its accounts, and nothing is changed.
    rpc(
        a.rpc,
        json!({"action": "password_change", "wallet": w, "password": "pw"}),
    );
    rpc(a.rpc, json!({"action": "wallet_lock", "wallet": w}));
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "wallet_representative_set", "wallet": w, "representative": DEV_ACCOUNT, "update_existing_accounts": "true"})
        )["error"],
        "Wallet is locked"
    );
    assert_eq!(
        rpc(
            a.rpc,
            json!({"action": "wallet_representative", "wallet": w})
        )["representative"],
        dest.as_str()
    );
}

#[test]
fn unchecked_lists_gap_blocks_until_their_dependency_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let n = start_daemon(dir.path(), true, &voting_rep());
    let info = rpc(
        n.rpc,
        json!({"action": "account_info", "account": DEV_ACCOUNT, "representative": "true"}),
    );
    let frontier = info["frontier"].as_str().unwrap().to_string();
    let balance: u128 = info["balance"].as_str().unwrap().parse().unwrap();
    let create = |previous: &str, balance: u128| {
        let c = rpc(
            n.rpc,
            json!({
                "action": "block_create", "json_block": "true", "type": "state", "key": DEV_KEY,
                "account": DEV_ACCOUNT, "previous": previous, "representative": info["representative"],
                "balance": balance.to_string(), "link": DEV_ACCOUNT,
            }),
        );
        assert!(c["error"].is_null(), "{c}");
        (c["hash"].as_str().unwrap().to_string(), c["block"].clone())
    };
    let (h1, b1) = create(&frontier, balance - 1);
    let (h2, b2) = create(&h1, balance - 2);

    // Nothing waits yet: the reference's empty answers.
    assert_eq!(rpc(n.rpc, json!({"action": "unchecked"}))["blocks"], "");
    assert_eq!(
        rpc(n.rpc, json!({"action": "unchecked_keys"}))["unchecked"],
        ""
    );
    // The second send arrives first: it waits for the first.
    let p = rpc(
        n.rpc,
        json!({"action": "process", "json_block": "true", "block": b2}),
    );
    assert_eq!(p["error"], "Gap previous block", "{p}");
    let listed = rpc(
        n.rpc,
        json!({"action": "unchecked", "json_block": "true", "count": "10"}),
    );
    assert_eq!(
        listed["blocks"],
        json!({ h2.clone(): b2.clone() }),
        "{listed}"
    );
    // Without json_block the contents are the block's JSON text.
    let text = rpc(n.rpc, json!({"action": "unchecked"}));
    let parsed: serde_json::Value =
        serde_json::from_str(text["blocks"][&h2].as_str().unwrap()).unwrap();
    assert_eq!(parsed, b2);
    let got = rpc(
        n.rpc,
        json!({"action": "unchecked_get", "hash": h2, "json_block": "true"}),
    );
    assert_eq!(got["contents"], b2);
    let ts: u64 = got["modified_timestamp"].as_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(ts <= now && now - ts < 120, "{ts} vs {now}");
    let keys = rpc(
        n.rpc,
        json!({"action": "unchecked_keys", "key": h1, "count": "1", "json_block": "true"}),
    );
    assert_eq!(
        keys["unchecked"],
        json!([{"key": h1, "hash": h2, "modified_timestamp": ts.to_string(), "contents": b2}])
    );
    // Errors.
    assert_eq!(
        rpc(
            n.rpc,
            json!({"action": "unchecked_get", "hash": "1".repeat(64)})
        )["error"],
        "Block not found"
    );
    assert_eq!(
        rpc(n.rpc, json!({"action": "unchecked_keys", "key": "zz"}))["error"],
        "Bad key"
    );
    assert_eq!(
        rpc(n.rpc, json!({"action": "unchecked", "count": "x"}))["error"],
        "Invalid count"
    );
    // The missing block arrives: the waiting one is released into the ledger.
    let p = rpc(
        n.rpc,
        json!({"action": "process", "json_block": "true", "block": b1}),
    );
    assert_eq!(p["hash"], h1.as_str(), "{p}");
    assert!(
        wait_until(30, || rpc(
            n.rpc,
            json!({"action": "block_info", "hash": h2, "json_block": "true"})
        )["contents"]
            == b2),
        "the gap block was not released"
    );
    assert_eq!(rpc(n.rpc, json!({"action": "unchecked"}))["blocks"], "");
}

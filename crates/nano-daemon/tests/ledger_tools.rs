//! `--vacuum`, `--snapshot`, `--rebuild_database`, `--update_config`, the `--debug_*`
//! ledger commands and `--validate_blocks`, run as real `nano_node` processes against
//! ledgers written by the test (the deterministic generator, or hand-built chains); and
//! that every ledger command opens the ledger as the node does: with `[node.lmdb]` (map
//! size, sync) from config-node.toml and `--config`, upgrade progress on standard error
//! and in the node log.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use nano_core::{Account, BlockHash, Epoch, Network, Signature};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
use nano_ledger::Ledger;
use nano_node::bootstrap::test_ledger;

const IN_USE: &str = "Write database error, this cannot be run while the node is already running";

fn nano_node(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nano_node"))
        .args(args)
        .args(["--network", "dev", "--data_path"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ledger_dir(dir: &Path) -> PathBuf {
    dir.join("data.ldb")
}

/// The ledger is one file (the reference layout); `ledger_dir` and `data_file` are the
/// same path.
fn data_file(dir: &Path) -> PathBuf {
    ledger_dir(dir)
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

fn open(dir: &Path) -> Ledger {
    Ledger::open(dir, Network::Dev).unwrap()
}

/// A generated ledger of about `blocks` blocks (all cemented) in `<dir>/data.ldb`.
fn generated(dir: &Path, blocks: u64) -> Ledger {
    let l = open(&ledger_dir(dir));
    test_ledger::generate(&l, blocks, 12, |_| {}).unwrap();
    l
}

/// Writes `n` peer entries: local state that the cleanup flags delete (the ledger file
/// has no unchecked table any more, so peers fill pages instead).
fn add_peers(l: &Ledger, n: u32) {
    let mut t = l.write_txn().unwrap();
    for i in 0..n {
        let ip = std::net::Ipv6Addr::from((0xfd00u128 << 112) | i as u128);
        t.put_peer(&std::net::SocketAddrV6::new(ip, 7075, 0, 0), i as u64)
            .unwrap();
    }
    t.commit().unwrap();
}

/// Block count, account count and every account's head.
fn contents(l: &Ledger) -> (u64, u64, Vec<(Account, BlockHash)>) {
    let t = l.read_txn().unwrap();
    let heads = l
        .store()
        .accounts_from(&t, &Account::ZERO)
        .unwrap()
        .map(|r| r.map(|(a, i)| (a, i.head)).unwrap())
        .collect();
    (
        l.block_count(&t).unwrap(),
        l.account_count(&t).unwrap(),
        heads,
    )
}

fn peer_count(l: &Ledger) -> u64 {
    l.store().peer_count(&l.read_txn().unwrap()).unwrap()
}

#[test]
fn vacuum_shrinks_a_ledger_with_deleted_data_and_keeps_its_contents() {
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let l = generated(dir.path(), 400);
        add_peers(&l, 100_000);
        let mut t = l.write_txn().unwrap();
        t.clear_peers().unwrap();
        t.commit().unwrap();
        contents(&l)
    };
    let before = size(&data_file(dir.path()));
    let (ok, out, err) = nano_node(dir.path(), &["--vacuum"]);
    assert!(ok, "{err}");
    let after = size(&data_file(dir.path()));
    assert!(
        after * 4 < before,
        "vacuum should shrink {before} bytes a lot, got {after}"
    );
    assert!(
        out.contains(&format!("Size before: {before} bytes")),
        "{out}"
    );
    assert!(out.contains(&format!("Size after: {after} bytes")), "{out}");
    assert!(out.contains("Vacuum completed"), "{out}");
    // The previous file is kept where the output says.
    let backup = dir.path().join("backup.vacuum.ldb");
    assert!(out.contains(&backup.display().to_string()), "{out}");
    assert_eq!(size(&backup), before);
    assert!(!dir.path().join("vacuum.tmp").exists());
    // Same blocks and frontiers, and every block still valid.
    assert_eq!(contents(&open(&ledger_dir(dir.path()))), expected);
    let (ok, out, err) = nano_node(dir.path(), &["--validate_blocks"]);
    assert!(ok && out.contains(": 0 problems"), "{out}{err}");
    // The backup is a whole ledger too.
    assert_eq!(
        contents(&open(&dir.path().join("backup.vacuum.ldb"))),
        expected
    );
}

#[test]
fn vacuum_applies_cleanup_flags_to_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let l = generated(dir.path(), 200);
        add_peers(&l, 30_000);
        let mut t = l.write_txn().unwrap();
        t.put_peer(&"[::ffff:127.0.0.1]:7075".parse().unwrap(), 1)
            .unwrap();
        t.put_online_weight(1, nano_core::Amount(5)).unwrap();
        t.commit().unwrap();
        contents(&l)
    };
    let before = size(&data_file(dir.path()));
    // --confirmation_height_clear needs its --account, as on its own.
    let (ok, _, err) = nano_node(dir.path(), &["--vacuum", "--confirmation_height_clear"]);
    assert!(!ok && err.contains("<account>"), "{err}");
    let (ok, _, err) = nano_node(dir.path(), &["--vacuum", "--clear_send_ids"]);
    assert!(!ok && err.contains("wallet store"), "{err}");
    assert_eq!(
        size(&data_file(dir.path())),
        before,
        "refusals change nothing"
    );
    let (ok, out, err) = nano_node(
        dir.path(),
        &[
            "--vacuum",
            "--unchecked_clear",
            "--peer_clear",
            "--online_weight_clear",
            "--confirmation_height_clear",
            "--account",
            "all",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("Unchecked blocks deleted"), "{out}");
    assert!(out.contains("Database peers are removed"), "{out}");
    assert!(out.contains("Online weight records are removed"), "{out}");
    assert!(
        out.contains("Confirmation heights of all accounts"),
        "{out}"
    );
    assert!(size(&data_file(dir.path())) * 2 < before);
    let l = open(&ledger_dir(dir.path()));
    assert_eq!(contents(&l), expected);
    let t = l.read_txn().unwrap();
    assert_eq!(l.store().peer_count(&t).unwrap(), 0);
    assert_eq!(l.store().online_weight_count(&t).unwrap(), 0);
    assert_eq!(l.cemented_count(), 1, "only genesis stays cemented");
}

#[test]
fn write_commands_refuse_while_another_process_has_the_ledger_open() {
    let dir = tempfile::tempdir().unwrap();
    let l = generated(dir.path(), 50);
    let before = std::fs::read(data_file(dir.path())).unwrap();
    // This test process holds the ledger open, as a node would.
    for cmd in [
        vec!["--vacuum"],
        vec!["--rebuild_database"],
        vec!["--peer_clear"],
        vec!["--unchecked_clear"],
        vec!["--confirmation_height_clear", "--account", "all"],
    ] {
        let (ok, out, err) = nano_node(dir.path(), &cmd);
        assert!(!ok, "{cmd:?} must refuse: {out}");
        assert!(err.contains(IN_USE), "{cmd:?}: {err}");
    }
    assert!(!dir.path().join("vacuum.tmp").exists());
    assert!(!dir.path().join("backup.vacuum.ldb").exists());
    assert_eq!(std::fs::read(data_file(dir.path())).unwrap(), before);
    // Read-only commands and snapshots work next to a running node.
    let (ok, out, err) = nano_node(dir.path(), &["--debug_block_count"]);
    assert!(ok && out.starts_with("Block count: "), "{err}");
    let (ok, _, err) = nano_node(dir.path(), &["--snapshot"]);
    assert!(ok, "{err}");
    drop(l);
    let (ok, _, err) = nano_node(dir.path(), &["--vacuum"]);
    assert!(ok, "{err}");
}

#[test]
fn vacuum_refuses_while_the_daemon_runs() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = contents(&generated(dir.path(), 20)).0;
    let daemon = common::start_daemon(dir.path(), false, &[]);
    let (ok, _, err) = nano_node(dir.path(), &["--vacuum"]);
    assert!(!ok && err.contains(IN_USE), "{err}");
    let (ok, _, err) = nano_node(dir.path(), &["--peer_clear"]);
    assert!(!ok && err.contains(IN_USE), "{err}");
    assert!(!dir.path().join("backup.vacuum.ldb").exists());
    drop(daemon);
    let (ok, out, err) = nano_node(dir.path(), &["--vacuum"]);
    assert!(ok, "{err}");
    assert!(out.contains("Vacuum completed"));
    // The node starts on the vacuumed ledger and serves it.
    let daemon = common::start_daemon(dir.path(), false, &[]);
    let r = common::rpc(daemon.rpc, serde_json::json!({"action": "block_count"}));
    assert_eq!(r["count"], blocks.to_string(), "{r}");
}

#[test]
fn snapshot_leaves_the_live_ledger_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let l = generated(dir.path(), 200);
        add_peers(&l, 3_000);
        contents(&l)
    };
    let live = std::fs::read(data_file(dir.path())).unwrap();
    let (ok, out, err) = nano_node(dir.path(), &["--snapshot", "--peer_clear"]);
    assert!(ok, "{err}");
    let snap = dir.path().join("snapshot.ldb");
    assert!(out.contains(&snap.display().to_string()), "{out}");
    assert_eq!(
        std::fs::read(data_file(dir.path())).unwrap(),
        live,
        "the live ledger file must not change"
    );
    assert!(!dir.path().join("snapshot.tmp").exists());
    let s = open(&snap);
    assert_eq!(contents(&s), expected);
    assert_eq!(peer_count(&s), 0, "cleanup applies to the snapshot");
    assert!(size(&snap) < live.len() as u64);
    drop(s);
    let l = open(&ledger_dir(dir.path()));
    assert_eq!(peer_count(&l), 3_000, "but not to the live ledger");
    drop(l);
    // A second snapshot replaces the first.
    let (ok, _, err) = nano_node(dir.path(), &["--snapshot"]);
    assert!(ok, "{err}");
    assert_eq!(peer_count(&open(&snap)), 3_000);
}

#[test]
fn rebuild_database_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let l = generated(dir.path(), 300);
        add_peers(&l, 1_000);
        contents(&l)
    };
    let (ok, out, err) = nano_node(dir.path(), &["--rebuild_database"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Rebuilt ") && out.contains("Vacuum completed"),
        "{out}"
    );
    let l = open(&ledger_dir(dir.path()));
    assert_eq!(contents(&l), expected);
    assert_eq!(peer_count(&l), 1_000);
    drop(l);
    let (ok, out, _) = nano_node(dir.path(), &["--validate_blocks"]);
    assert!(ok, "{out}");
}

#[test]
fn commands_need_an_existing_ledger() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        "--vacuum",
        "--snapshot",
        "--debug_block_count",
        "--debug_block_dump",
        "--validate_blocks",
    ] {
        let (ok, _, err) = nano_node(dir.path(), &[cmd]);
        assert!(!ok && err.contains("No ledger found"), "{cmd}: {err}");
    }
    assert!(!ledger_dir(dir.path()).exists(), "no ledger was created");
}

#[test]
fn update_config_keeps_set_values_adds_missing_keys_and_drops_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = nano_node(dir.path(), &["--update_config"]);
    assert!(!ok && err.contains("No config-node.toml"), "{err}");
    let old = "[rpc]\nenable = false\n\n[node]\npeering_port = 1234\nobsolete_key = 5\nwork_peers = [\"127.0.0.1:7000\"]\n\n[node.websocket]\nport = 9999\n\n[gone]\nx = 1\n";
    std::fs::write(dir.path().join("config-node.toml"), old).unwrap();
    let (ok, out, err) = nano_node(
        dir.path(),
        &["--update_config", "--config", "node.enable_voting=true"],
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // Set values stay set.
    for set in [
        "peering_port = 1234",
        "port = 9999",
        "enable = false",
        "work_peers = [\"127.0.0.1:7000\"]",
        "enable_voting = true",
    ] {
        assert!(lines.contains(&set), "{set} missing:\n{out}");
    }
    // Missing keys are added with their defaults, commented out and documented.
    let dev = nano_node::config::DaemonConfig::defaults(Network::Dev);
    assert!(
        lines.contains(&format!("#bandwidth_limit = {}", dev.node.bandwidth_limit).as_str()),
        "{out}"
    );
    assert!(lines.contains(&"[node.ipc.tcp]"), "{out}");
    assert!(out.contains("# Node peering port."), "{out}");
    // Unknown keys are gone, and named on stderr.
    assert!(
        !out.contains("obsolete_key") && !out.contains("[gone]"),
        "{out}"
    );
    assert!(
        err.contains("Dropped unknown key node.obsolete_key"),
        "{err}"
    );
    assert!(err.contains("Dropped unknown key gone.x"), "{err}");
    // The result means what the old file (with the override) meant.
    let before = nano_node::config::DaemonConfig::from_sources(
        Network::Dev,
        Some(old),
        &["node.enable_voting=true".into()],
    )
    .unwrap();
    let after =
        nano_node::config::DaemonConfig::from_sources(Network::Dev, Some(&out), &[]).unwrap();
    assert_eq!(after, before);
    assert_eq!(after.node.peering_port, 1234);
    // A bad value fails as it would at start-up.
    std::fs::write(
        dir.path().join("config-node.toml"),
        "[node]\npeering_port = \"x\"\n",
    )
    .unwrap();
    let (ok, out, err) = nano_node(dir.path(), &["--update_config"]);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("invalid configuration value"), "{err}");
}

/// A hand-built ledger: genesis (legacy send to b, state sends to a and c), a (open,
/// epoch 1, epoch 2, change to b, send to d), b (legacy open with representative a);
/// c and d never open (receivables at epoch 0 and epoch 2). a's open is cemented.
struct Known {
    hashes: Vec<BlockHash>,
    g: Chain,
    a: Chain,
    b: Chain,
    epoch1: BlockHash,
}

fn known(dir: &Path) -> Known {
    let l = open(&ledger_dir(dir));
    let gk = dev_genesis_key();
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let mut b = Chain::unopened(test_key(2));
    let c = Chain::unopened(test_key(3));
    let d = Chain::unopened(test_key(4));
    let mut hashes = vec![Network::Dev.params().genesis_hash];
    let mut t = l.write_txn().unwrap();
    let mut put = |blk: nano_core::Block| {
        l.process(&mut t, &blk).unwrap();
        hashes.push(blk.hash());
        blk.hash()
    };
    let to_b = put(g.legacy_send(&b.account, 50));
    let to_a = put(g.send(&a.account, 1000));
    put(g.send(&c.account, 7));
    let a_open = put(a.receive(&to_a, 1000, Epoch::Epoch0));
    let epoch1 = put(a.epoch_block(Epoch::Epoch1, &gk));
    put(a.epoch_block(Epoch::Epoch2, &gk));
    put(a.change(&b.account));
    put(a.send(&d.account, 100));
    let rep = a.account;
    put(b.legacy_open(&to_b, 50, &rep));
    l.confirm(&mut t, &a_open).unwrap();
    t.commit().unwrap();
    Known {
        hashes,
        g,
        a,
        b,
        epoch1,
    }
}

#[test]
fn debug_commands_report_the_ledger_contents() {
    let dir = tempfile::tempdir().unwrap();
    let k = known(dir.path());
    let run = |cmd: &str| {
        let (ok, out, err) = nano_node(dir.path(), &[cmd]);
        assert!(ok, "{cmd}: {err}");
        out
    };
    assert_eq!(run("--debug_block_count"), "Block count: 10\n");
    assert_eq!(k.hashes.len(), 10);
    assert_eq!(run("--debug_account_count"), "Account count: 3\n");
    // Genesis chain up to the send to a (3 blocks) and a's open.
    assert_eq!(
        run("--debug_cemented_block_count"),
        "Cemented block count: 4\n"
    );
    // Weights: genesis keeps the rest of the supply, b represents a's 900, a represents
    // b's 50.
    let supply = Network::Dev.params().genesis_amount.0;
    assert_eq!(
        run("--debug_dump_representatives"),
        format!(
            "{} {}\n{} 900\n{} 50\n",
            k.g.account.encode_account(),
            supply - 1057,
            k.b.account.encode_account(),
            k.a.account.encode_account()
        )
    );
    assert_eq!(
        run("--debug_account_versions"),
        "epoch_0 accounts: 2\nepoch_1 accounts: 0\nepoch_2 accounts: 1\n\
         epoch_0 unopened accounts with receivables: 1\n\
         epoch_1 unopened accounts with receivables: 0\n\
         epoch_2 unopened accounts with receivables: 1\n"
    );
    // The dump: one JSON object per block, every block once.
    let dump = run("--debug_block_dump");
    let rows: Vec<serde_json::Value> = dump
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut dumped: Vec<String> = rows
        .iter()
        .map(|r| r["hash"].as_str().unwrap().to_string())
        .collect();
    dumped.sort();
    let mut want: Vec<String> = k.hashes.iter().map(|h| h.encode_hex()).collect();
    want.sort();
    assert_eq!(dumped, want);
    let e1 = rows
        .iter()
        .find(|r| r["hash"] == k.epoch1.encode_hex())
        .unwrap();
    assert_eq!(e1["subtype"], "epoch");
    assert_eq!(e1["epoch"], "epoch_1");
    assert_eq!(e1["height"], "2");
    assert_eq!(e1["account"], k.a.account.encode_account());
    assert_eq!(e1["confirmed"], "false");
    assert_eq!(e1["contents"]["type"], "state");
    let genesis = rows
        .iter()
        .find(|r| r["hash"] == Network::Dev.params().genesis_hash.encode_hex())
        .unwrap();
    assert_eq!(genesis["confirmed"], "true");
    assert_eq!(genesis["contents"]["type"], "open");
    // Heads have no successor.
    let a_head = rows
        .iter()
        .find(|r| r["hash"] == k.a.head.encode_hex())
        .unwrap();
    assert_eq!(a_head["successor"], BlockHash::ZERO.encode_hex());
    assert_eq!(a_head["subtype"], "send");
}

#[test]
fn validate_blocks_passes_a_good_ledger_and_reports_a_corrupted_block() {
    // A generated ledger: every block kind, many accounts, all cemented.
    let gen = tempfile::tempdir().unwrap();
    drop(generated(gen.path(), 300));
    let (ok, out, err) = nano_node(gen.path(), &["--validate_blocks", "--threads", "2"]);
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("Validated "), "{out}");
    assert!(out.trim_end().ends_with(": 0 problems"), "{out}");
    // The hand-built ledger, then one flipped signature bit of a's head, written behind
    // the ledger's back.
    let dir = tempfile::tempdir().unwrap();
    let k = known(dir.path());
    let (ok, out, err) = nano_node(dir.path(), &["--validate_blocks"]);
    assert!(ok, "{out}{err}");
    assert_eq!(
        out,
        "Validated 10 blocks, 3 accounts, 2 confirmation heights: 0 problems\n"
    );
    {
        let l = open(&ledger_dir(dir.path()));
        let t = l.read_txn().unwrap();
        let mut stored = l.store().block(&t, &k.a.head).unwrap().unwrap();
        drop(t);
        let mut sig = stored.block.signature().0;
        sig[10] ^= 0x40;
        stored.block.set_signature(Signature(sig));
        let mut w = l.write_txn().unwrap();
        w.put_block(&k.a.head, &stored).unwrap();
        w.commit().unwrap();
    }
    let (ok, out, err) = nano_node(dir.path(), &["--debug_validate_blocks"]);
    assert!(!ok, "a corrupted ledger fails: {out}");
    assert!(
        out.lines()
            .any(|l| l == format!("block {}: invalid signature", k.a.head.encode_hex())),
        "{out}"
    );
    assert!(out.trim_end().ends_with(": 1 problems"), "{out}");
    assert!(err.contains("the ledger has 1 problems"), "{err}");
    let (ok, out, _) = nano_node(dir.path(), &["--validate_blocks", "--silent"]);
    assert!(!ok);
    assert_eq!(out.lines().count(), 1, "only the summary: {out}");
}

// ---- The ledger opened as the node opens it ([node.lmdb], progress) ----------------

#[test]
fn ledger_commands_use_the_configured_map_size_and_sync_mode() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Four pages cannot hold a new ledger: the command must fail on the map size it was
    // given (with the default 64 GiB map it succeeds below).
    let (ok, _, err) = nano_node(d, &["--initialize", "--config", "node.lmdb.map_size=16384"]);
    assert!(!ok, "a 16 KiB map cannot hold the genesis ledger");
    assert!(err.contains("MDB_MAP_FULL"), "{err}");
    // The same through config-node.toml.
    std::fs::write(
        d.join("config-node.toml"),
        "[node.lmdb]\nmap_size = 16384\n",
    )
    .unwrap();
    let (ok, _, err) = nano_node(d, &["--peer_clear"]);
    assert!(!ok && err.contains("MDB_MAP_FULL"), "{err}");
    std::fs::write(
        d.join("config-node.toml"),
        "[node.lmdb]\nsync = \"nosync_unsafe\"\n",
    )
    .unwrap();
    let (ok, out, err) = nano_node(d, &["--initialize"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = nano_node(d, &["--peer_clear"]);
    assert!(ok, "{err}");
    assert_eq!(out, "Database peers are removed\n");
    let (ok, out, _) = nano_node(d, &["--debug_block_count"]);
    assert!(ok);
    assert_eq!(out, "Block count: 1\n");
    // A value that is not a sync mode stops every ledger command, naming the key.
    let (ok, _, err) = nano_node(
        d,
        &[
            "--debug_block_count",
            "--config",
            "node.lmdb.sync=\"nosync\"",
        ],
    );
    assert!(!ok);
    assert!(err.contains("node.lmdb.sync"), "{err}");
}

#[test]
fn an_upgrade_run_by_a_command_reports_progress_on_stderr_and_in_the_node_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    {
        let l = Ledger::open(&d.join("data.ldb"), Network::Dev).unwrap();
        let mut t = l.write_txn().unwrap();
        // What a V25/V26 reference node leaves: version 22, rep_weights to be refilled.
        t.set_version(22).unwrap();
        t.commit().unwrap();
    }
    let (ok, out, err) = nano_node(d, &["--debug_block_count"]);
    assert!(ok, "{err}");
    assert_eq!(
        out, "Block count: 1\n",
        "standard output is the answer only"
    );
    for line in [
        "Upgrade in progress: ledger store version 22 to 24",
        "Upgrade 22 -> 23: filled rep_weights for 1 representatives from 1 accounts",
        "Upgrade done",
    ] {
        assert!(err.contains(line), "stderr lacks {line:?}: {err}");
    }
    let log = std::fs::read_to_string(d.join("log").join("node.log")).unwrap();
    assert!(
        log.contains("Upgrade in progress: ledger store version 22 to 24")
            && log.contains("Upgrade done"),
        "{log}"
    );
    let l = Ledger::open(&d.join("data.ldb"), Network::Dev).unwrap();
    let r = l.read_txn().unwrap();
    assert_eq!(l.store().version(&r).unwrap(), Some(24));
}

// ---- --compare_rep_weights -----------------------------------------------------------

/// The checking and dump commands open a current ledger read-only: run on a reference
/// snapshot they answer, and the file is byte for byte what it was (no table of this
/// node's added, nothing rewritten).
#[test]
fn checking_commands_leave_a_snapshot_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nano_ledger::test_support::reference_fixture("reference-ledger-dev-5k", &d.join("data.ldb"));
    let before = std::fs::read(data_file(d)).unwrap();
    for args in [
        &["--validate_blocks", "--silent"][..],
        &["--compare_rep_weights"],
        &["--debug_block_count"],
        &["--debug_dump_representatives"],
    ] {
        let (ok, out, err) = nano_node(d, args);
        assert!(ok, "{args:?}: {out}{err}");
        assert!(
            std::fs::read(data_file(d)).unwrap() == before,
            "{args:?} changed the file"
        );
    }
    let (_, out, _) = nano_node(d, &["--debug_block_count"]);
    assert_eq!(out, "Block count: 5007\n");
}

#[test]
fn compare_rep_weights_passes_the_reference_fixture_and_names_a_tampered_weight() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fixture = nano_ledger::test_support::reference_fixture(
        "reference-ledger-dev-5k",
        &d.join("data.ldb"),
    );
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("expected.json")).unwrap())
            .unwrap();
    let reps = expected["rep_weights_count"].as_u64().unwrap();
    let (ok, out, err) = nano_node(d, &["--compare_rep_weights"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("\tsamples {reps}\n")), "{out}");
    assert!(
        out.contains(&format!("Compared {reps} representatives: 0 differ\n")),
        "{out}"
    );
    assert!(out.contains("at 5007 blocks"), "{out}");
    assert!(out.contains(&format!(
        "from {} accounts",
        expected["account_count"].as_u64().unwrap()
    )));

    // A snapshot whose rep_weights table was altered: one weight off by one raw, one
    // representative that no account delegates to.
    let top = nano_core::PublicKey::decode_account(
        expected["top_representatives"][0]["representative"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let stranger = Account::from_bytes([0x55; 32]);
    {
        let l = open(&ledger_dir(d));
        let mut t = l.write_txn().unwrap();
        let w = l.store().rep_weight(&t, &top).unwrap();
        t.put_rep_weight(&top, nano_core::Amount(w.0 + 1)).unwrap();
        t.put_rep_weight(&stranger, nano_core::Amount(5)).unwrap();
        t.commit().unwrap();
    }
    let (ok, out, err) = nano_node(d, &["--compare_rep_weights"]);
    assert!(!ok, "a differing table fails the command");
    assert!(
        err.contains("differs from its accounts for 2 representatives"),
        "{err}"
    );
    assert!(
        out.contains(&format!(
            "Compared {} representatives: 2 differ\n",
            reps + 1
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "representative {} recomputed {} raw ledger {} raw mismatch 1 raw",
            top.encode_account(),
            expected["top_representatives"][0]["weight"]
                .as_str()
                .unwrap(),
            nano_core::Amount::decode_dec(
                expected["top_representatives"][0]["weight"]
                    .as_str()
                    .unwrap()
            )
            .unwrap()
            .0 + 1
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "representative {} recomputed --- ledger 5 raw mismatch 5 raw",
            stranger.encode_account()
        )),
        "{out}"
    );
}

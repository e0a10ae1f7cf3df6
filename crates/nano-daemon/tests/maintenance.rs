//! The offline maintenance and wallet commands of `nano_node`, run as real processes
//! against a data directory.

use std::process::Command;

use nano_ledger::test_support::Chain;

fn run(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
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

#[test]
fn wallet_commands() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(dir.path(), &["--wallet_create", "--seed", &"0".repeat(64)]);
    assert!(ok, "{err}");
    let id = out.trim().to_string();
    assert_eq!(id.len(), 64);
    let (ok, out, _) = run(dir.path(), &["--wallet_list"]);
    assert!(ok);
    assert!(out.contains(&format!("Wallet ID: {id}")));
    assert!(out.contains("nano_3i1aq1cchnmbn9x5rsbap8b15akfh7wj7pwskuzi7ahz8oq6cobd99d4r3b7"));
    let (ok, out, _) = run(dir.path(), &["--account_create", "--wallet", &id]);
    assert!(ok);
    assert!(out.starts_with("Account: nano_"));
    let (ok, out, _) = run(dir.path(), &["--wallet_decrypt_unsafe", "--wallet", &id]);
    assert!(ok);
    assert!(out.contains(&format!("Seed: {}", "0".repeat(64))));
    assert_eq!(out.matches("Prv: ").count(), 2);
    let (ok, _, err) = run(dir.path(), &["--wallet_destroy", "--wallet", "zz"]);
    assert!(!ok && err.contains("Invalid wallet id"), "{err}");
}

#[test]
fn ledger_maintenance_commands() {
    let dir = tempfile::tempdir().unwrap();
    let send = {
        let ledger =
            nano_ledger::Ledger::open(&dir.path().join("data.ldb"), nano_core::Network::Dev)
                .unwrap();
        let mut g = Chain::dev_genesis();
        let s = g.send(&nano_core::PublicKey([7; 32]), 10);
        let mut t = ledger.write_txn().unwrap();
        ledger.process(&mut t, &s).unwrap();
        t.commit().unwrap();
        s.hash()
    };
    let (ok, out, err) = run(dir.path(), &["--rollback", "--hash", &send.encode_hex()]);
    assert!(ok, "{err}");
    assert!(out.contains("Block rollback complete"), "{out}");
    let genesis = nano_core::Network::Dev.params().genesis_hash.encode_hex();
    let (ok, _, err) = run(dir.path(), &["--rollback", "--hash", &genesis]);
    assert!(
        !ok && err.contains("Cannot rollback cemented block"),
        "{err}"
    );
    let (ok, _, err) = run(dir.path(), &["--rollback", "--hash", &send.encode_hex()]);
    assert!(!ok && err.contains("Block not found"), "{err}");
    for cmd in [
        vec!["--peer_clear"],
        vec!["--unchecked_clear"],
        vec!["--online_weight_clear"],
        vec!["--final_vote_clear", "--all"],
        vec!["--confirmation_height_clear", "--account", "all"],
    ] {
        let (ok, out, err) = run(dir.path(), &cmd);
        assert!(ok, "{cmd:?}: {err}");
        assert!(!out.is_empty(), "{cmd:?} prints what it did");
    }
    let (ok, _, err) = run(dir.path(), &["--final_vote_clear"]);
    assert!(!ok && err.contains("--all"), "{err}");
    let (ok, out, _) = run(dir.path(), &["--diagnostics"]);
    assert!(ok);
    assert!(out.contains("Genesis block signature: ok"));
}

//! Runs the real `nano_node` binary for the key tools and checks stdout, stderr and the
//! exit status.

use std::process::Command;

fn nano_node(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nano_node"))
        .args(args)
        .output()
        .expect("run nano_node");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn key_create_prints_a_consistent_pair() {
    let (ok, out, _) = nano_node(&["--key_create"]);
    assert!(ok);
    let private = out
        .lines()
        .next()
        .unwrap()
        .strip_prefix("Private: ")
        .unwrap();
    let (ok2, out2, _) = nano_node(&["--key_expand", "--key", private]);
    assert!(ok2);
    assert_eq!(out, out2);
}

#[test]
fn key_expand_accepts_equals_form() {
    let (ok, out, _) = nano_node(&[
        "--key_expand",
        "--key=34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4",
    ]);
    assert!(ok);
    assert!(
        out.contains("Account: nano_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo")
    );
}

#[test]
fn account_tools_and_errors() {
    let (ok, out, _) = nano_node(&[
        "--account_key",
        "--account",
        "nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3",
    ]);
    assert!(ok);
    assert_eq!(
        out,
        "Hex: E89208DD038FBB269987689621D52292AE9C35941A7484756ECCED92A65093BA\n"
    );
    let (ok, out, _) = nano_node(&[
        "--account_get",
        "--key",
        "E89208DD038FBB269987689621D52292AE9C35941A7484756ECCED92A65093BA",
        "--network",
        "dev",
    ]);
    assert!(ok);
    assert_eq!(
        out,
        "Account: nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3\n"
    );
    for bad in [
        vec![
            "--account_key",
            "--account",
            "nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr4",
        ],
        vec!["--account_get", "--key", "XYZ"],
        vec!["--key_expand"],
        vec!["--version", "--network", "mainnet"],
    ] {
        let (ok, out, err) = nano_node(&bad);
        assert!(!ok, "{bad:?} should fail");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "one-line error for {bad:?}: {err}");
    }
}

#[test]
fn version_names_protocol() {
    let (ok, out, _) = nano_node(&["--version"]);
    assert!(ok);
    assert!(out.contains("Protocol: 0x15"));
}

//! `claims reference load FILE`: reference data from a file, stored as events, once.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use std::process::Command;

fn load(file: &str, database: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_claims"))
        .args(["reference", "load", file, "--database"])
        .arg(database)
        .output()
        .unwrap()
}

#[test]
fn a_reference_file_is_stored_once_and_a_bad_one_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("claims.db");
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/reference-data.toml"
    );

    let first = load(file, &database);
    assert!(first.status.success(), "{first:?}");
    let stdout = String::from_utf8(first.stdout).unwrap();
    assert!(
        stdout.contains("8 entries stored, 0 already stored as given"),
        "{stdout}"
    );

    let again = load(file, &database);
    assert!(again.status.success(), "{again:?}");
    let stdout = String::from_utf8(again.stdout).unwrap();
    assert!(
        stdout.contains("0 entries stored, 8 already stored as given"),
        "{stdout}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[member]]\nid = \"M-9\"\ninsurer = \"acme-health\"\n",
    )
    .unwrap();
    let refused = load(bad.to_str().unwrap(), &database);
    assert!(!refused.status.success());
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(stderr.contains("is not valid reference data"), "{stderr}");
}

//! `claims status <claim>` on the log a demo run wrote: a paid claim's status, amounts,
//! transaction and timeline; an unknown or malformed id refused with its reason.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use claims_domain::{ClaimId, InsurerClaimRef, InsurerId};
use std::process::{Command, Output};

fn claims(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_claims"))
        .args(args)
        .env_remove("CLAIMS_DATABASE_URL")
        .output()
        .unwrap()
}

#[test]
fn claims_status_prints_a_claims_status_and_refuses_unknown_and_malformed_ids() {
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("claims.db");
    let database = database.to_str().unwrap();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let demo = claims(&["demo", "--examples", examples, "--database", database]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );

    let knee = ClaimId::for_submission(
        &InsurerId::new("acme-health").unwrap(),
        &InsurerClaimRef::new("ACME-2026-0001").unwrap(),
    )
    .to_string();
    let status = claims(&["status", &knee, "--database", database]);
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(stdout.contains("status       paid"), "{stdout}");
    assert!(stdout.contains("billed       1200.00 USD"), "{stdout}");
    assert!(stdout.contains("plan pays    600.00 USD"), "{stdout}");
    assert!(stdout.contains("transaction  0x"), "{stdout}");
    assert!(stdout.contains("ClaimPayoutConfirmed"), "{stdout}");

    let unknown = claims(&[
        "status",
        "8c1e0f6a-2b1d-4a4e-9f1c-5a0d7c3b2e91",
        "--database",
        database,
    ]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("no claim 8c1e0f6a-2b1d-4a4e-9f1c-5a0d7c3b2e91"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    let malformed = claims(&["status", "ACME-2026-0001", "--database", database]);
    assert!(!malformed.status.success());
    assert!(
        String::from_utf8_lossy(&malformed.stderr).contains("not a valid claim id"),
        "{}",
        String::from_utf8_lossy(&malformed.stderr)
    );
}

//! Golden files for the FHIR anti-corruption layer, in `tests/fixtures/fhir/`:
//!
//! - `claim/good/<name>.json`, a FHIR R4 `Claim`, maps to exactly `<name>.native.json`, the
//!   native submission (so a reader can compare the two side by side);
//! - `claim/bad/<name>.json` is refused with exactly the problems in `<name>.reasons.json`
//!   (kind, element path, why);
//! - `claim-response/<name>.claim.json` and `<name>.adjudication.json`, a claim and its
//!   adjudication as the engine stores them, give exactly `<name>.response.json`, the FHIR
//!   R4 `ClaimResponse` (compared as text, so `150.00` must stay `150.00`).
//!
//! `UPDATE_GOLDEN=1 cargo test -p claims --test fhir_golden` rewrites the expected files;
//! review the diff before committing it.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use claims::fhir::claim::to_submission;
use claims::fhir::claim_response::claim_response;
use claims_domain::adjudication::Adjudication;
use claims_domain::claim::Claim;
use std::path::{Path, PathBuf};

fn fixtures(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fhir")
        .join(folder)
}

/// The inputs in a folder: every `*.json` that is not an expected output.
fn inputs(folder: &str, outputs: &[&str]) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures(folder))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.ends_with(".json") && !outputs.iter().any(|output| name.ends_with(output))
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {folder}");
    paths
}

fn sibling(input: &Path, suffix: &str) -> PathBuf {
    let stem = input.file_name().unwrap().to_string_lossy();
    let stem = stem.trim_end_matches(".json");
    input.with_file_name(format!("{stem}{suffix}"))
}

/// Compares `actual` with the golden file, or rewrites it when asked to.
fn check(expected_path: &Path, actual: &str, input: &Path) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(expected_path, format!("{}\n", actual.trim_end())).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(expected_path).unwrap_or_else(|error| {
        panic!(
            "{}: {error} (run with UPDATE_GOLDEN=1 to create it)",
            expected_path.display()
        )
    });
    assert_eq!(
        expected.trim_end(),
        actual.trim_end(),
        "{} does not give {}",
        input.display(),
        expected_path.display()
    );
}

#[test]
fn every_good_fhir_claim_maps_to_its_native_submission() {
    for input in inputs("claim/good", &[".native.json"]) {
        let submission = to_submission(&std::fs::read(&input).unwrap())
            .unwrap_or_else(|problems| panic!("{} is refused: {problems:#?}", input.display()));
        let actual = serde_json::to_string_pretty(&submission).unwrap();
        check(&sibling(&input, ".native.json"), &actual, &input);
    }
}

#[test]
fn every_bad_fhir_claim_is_refused_with_its_reasons() {
    for input in inputs("claim/bad", &[".reasons.json"]) {
        let problems = match to_submission(&std::fs::read(&input).unwrap()) {
            Ok(submission) => panic!("{} is accepted as {submission:#?}", input.display()),
            Err(problems) => problems,
        };
        assert!(!problems.is_empty());
        let actual = serde_json::to_string_pretty(&problems).unwrap();
        check(&sibling(&input, ".reasons.json"), &actual, &input);
    }
}

#[test]
fn a_decided_claim_gives_its_golden_claim_response() {
    for input in inputs("claim-response", &[".response.json", ".adjudication.json"]) {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let stem = name.trim_end_matches(".claim.json");
        let claim: Claim = serde_json::from_slice(&std::fs::read(&input).unwrap()).unwrap();
        let adjudication: Adjudication = serde_json::from_slice(
            &std::fs::read(input.with_file_name(format!("{stem}.adjudication.json"))).unwrap(),
        )
        .unwrap();
        let actual =
            serde_json::to_string_pretty(&claim_response(claim.id, &claim, &adjudication)).unwrap();
        check(
            &input.with_file_name(format!("{stem}.response.json")),
            &actual,
            &input,
        );
    }
}

/// The mapping keeps a decimal's digits: no float ever holds an amount.
#[test]
fn amounts_keep_every_digit() {
    let claim = std::fs::read_to_string(fixtures("claim/good").join("office-visit.json"))
        .unwrap()
        .replace("\"value\": 180.00", "\"value\": 180.0000000000000000000001")
        .replace("\"value\": 264.25", "\"value\": 264.2500000000000000000001");
    let submission = to_submission(claim.as_bytes()).unwrap();
    assert_eq!(
        submission.lines[0].billed.to_string(),
        "180.0000000000000000000001 USD"
    );
}

//! The adjudication benchmark on the domain alone, quick to build and steady under
//! callgrind: `cargo run --release -p claims-domain --features bench --example
//! adjudication_bench -- [passes]`.
//!
//! It adjudicates the benchmark's 4,096 three-line claims (`claims_domain::bench`) `passes`
//! times (default 20) and prints the rate in wall time and a SHA3 fingerprint of every
//! adjudication as serialised, so that an optimisation can show it changed no decision and
//! no amount. Instructions per claim: run it under `valgrind --tool=callgrind
//! --toggle-collect='claims_domain::adjudication::adjudicate'` (only the rules are counted,
//! not the fixture's parsing) and divide by the claims adjudicated, the fingerprint's pass
//! included: `(passes + 1) × 4,096`.

use claims_domain::adjudication::adjudicate;
use claims_domain::bench::{LINES_PER_CLAIM, cases};
use sha3::{Digest, Sha3_256};
use std::io::Write;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let passes: usize = std::env::args()
        .nth(1)
        .map(|text| text.parse())
        .transpose()?
        .unwrap_or(20);
    let cases = cases()?;

    let mut fingerprint = Sha3_256::new();
    for (claim, context) in &cases {
        fingerprint.update(serde_json::to_vec(&adjudicate(claim, context)?)?);
    }

    let started = Instant::now();
    for _ in 0..passes {
        for (claim, context) in &cases {
            let result = adjudicate(std::hint::black_box(claim), context);
            std::hint::black_box(&result);
        }
    }
    let elapsed = started.elapsed();
    let claims = (passes * cases.len()) as u128;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{claims} claims of {LINES_PER_CLAIM} lines in {} ms: {} claims/s (wall time)",
        elapsed.as_millis(),
        claims * 1_000_000 / elapsed.as_micros().max(1)
    )?;
    writeln!(
        out,
        "fingerprint of the {} adjudications: {}",
        cases.len(),
        hex::encode(fingerprint.finalize())
    )?;
    Ok(())
}

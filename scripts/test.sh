#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs what the tests need, then runs
# formatting, lints, the layering check, the contract reproducibility check and every test
# (unit, property, contract, integration and the analysts' Gherkin specifications).
#
# Usage: scripts/test.sh        (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Toolchain"
cargo --version
rustc --version

step "Node packages for the contracts (solc, OpenZeppelin)"
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is required to check the Solidity build; install Node.js 20 or later" >&2
  exit 1
fi
scripts/check-contracts.sh

step "Formatting"
cargo fmt --all --check

step "Lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "The domain crate stays pure (no I/O, no clock, no randomness in its dependency tree)"
forbidden='^(tokio|sqlx|sqlx-core|async-nats|alloy|alloy-provider|revm|reqwest|hyper|mio|libsqlite3-sys|getrandom|rand)$'
offenders=$(cargo tree -p claims-domain -e normal --prefix none --format '{p}' --locked | awk '{print $1}' | sort -u | grep -E "$forbidden" || true)
if [ -n "$offenders" ]; then
  echo "claims-domain depends on I/O crates: $offenders" >&2
  exit 1
fi
echo "claims-domain depends on none of tokio, sqlx, async-nats, alloy, revm, reqwest, hyper, getrandom, rand"

step "Tests"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"

# One closing line for the whole run: every libtest summary plus the analysts' scenarios.
passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{ total += $1 } END { print total + 0 }')
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{ total += $1 } END { print total + 0 }')
scenarios=$(grep -E '^[0-9]+ scenarios? \(' "$log" | sed -E 's/^([0-9]+) scenarios?.*/\1/' | awk '{ total += $1 } END { print total + 0 }')
echo
echo "(${scenarios:-0} of them are the analysts' scenarios, run as one test binary)"
echo "tests: $((passed + ${scenarios:-0})) passed, ${failed:-0} failed"

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

step "PostgreSQL for the event-store tests"
# The PostgreSQL contract and gap tests fail (never skip) without a server. They use
# CLAIMS_TEST_POSTGRES_URL when it is set; otherwise the machine's own server on
# 127.0.0.1:5432 (trust authentication, database `test`), which this step starts, and
# installs first if it is missing.
if [ -n "${CLAIMS_TEST_POSTGRES_URL:-}" ]; then
  echo "using CLAIMS_TEST_POSTGRES_URL; not touching a local server"
else
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "PostgreSQL is not installed; installing it"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
    # A fresh test machine: let local TCP clients in as the tests do (trust, no password).
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    done
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    echo "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 30); do
      pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && break
      sleep 1
    done
  fi
  pg_isready -h 127.0.0.1 -p 5432
  exists="$(psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'test'")"
  if [ "$exists" != "1" ]; then
    echo "creating database test"
    createdb -h 127.0.0.1 -p 5432 -U postgres test
  fi
  echo "PostgreSQL is up on 127.0.0.1:5432 with database test"
fi

step "NATS with JetStream for the message-bus tests"
# The NATS bus contract tests fail (never skip) without a server. They use
# CLAIMS_TEST_NATS_URL when it is set; otherwise a server on 127.0.0.1:4222, which this
# step starts with JetStream (storing under target/nats), and installs first if it is missing.
if [ -n "${CLAIMS_TEST_NATS_URL:-}" ]; then
  echo "using CLAIMS_TEST_NATS_URL; not touching a local server"
else
  nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) >/dev/null 2>&1; }
  if ! nats_up; then
    if ! command -v nats-server >/dev/null 2>&1; then
      echo "nats-server is not installed; installing it"
      apt-get update
      DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server
    fi
    store="$(pwd)/target/nats"
    mkdir -p "$store"
    echo "starting nats-server with JetStream (store $store, log $store/nats-server.log)"
    nohup nats-server -a 127.0.0.1 -p 4222 -js -sd "$store" >"$store/nats-server.log" 2>&1 &
    echo $! >"$store/nats-server.pid"
    for _ in $(seq 1 30); do
      nats_up && break
      sleep 1
    done
  fi
  if ! nats_up; then
    echo "NATS did not come up on 127.0.0.1:4222" >&2
    exit 1
  fi
  echo "NATS is up on 127.0.0.1:4222"
fi
# Tests that run the engine as separate processes start a nats-server of their own (with
# the per-insurer users of `claims nats-config`), so the binary is needed either way.
if [ -z "${CLAIMS_TEST_NATS_SERVER:-}" ] && ! command -v nats-server >/dev/null 2>&1; then
  echo "nats-server is not installed; installing it"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server
fi

step "nats-server for the end-to-end scenarios"
# features/tests/e2e.rs starts a nats-server of each @e2e scenario's own, from
# CLAIMS_TEST_NATS_SERVER_BIN or the PATH, even when the tests above use another server.
if [ -z "${CLAIMS_TEST_NATS_SERVER_BIN:-}" ] && ! command -v nats-server >/dev/null 2>&1; then
  echo "nats-server is not installed; installing it"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server
fi
echo "nats-server: ${CLAIMS_TEST_NATS_SERVER_BIN:-$(command -v nats-server)}"

step "anvil (Foundry's local EVM node, from npm) for the settlement-chain tests"
# The JSON-RPC settlement tests fail (never skip) without anvil. Each test starts its own
# anvil on a free port of 127.0.0.1 with --enable-tx-gas-limit (a reorg or a dropped
# transaction in one test must not disturb another), from the binary named by
# CLAIMS_TEST_ANVIL_BIN. This step installs the version pinned in scripts/anvil/ under
# target/anvil (npm registry only; the package ships the binary) unless the variable is set.
if [ -n "${CLAIMS_TEST_ANVIL_BIN:-}" ]; then
  echo "using CLAIMS_TEST_ANVIL_BIN=$CLAIMS_TEST_ANVIL_BIN"
else
  scripts/install-anvil.sh
  CLAIMS_TEST_ANVIL_BIN="$(scripts/install-anvil.sh --print-path)"
  export CLAIMS_TEST_ANVIL_BIN
fi
"$CLAIMS_TEST_ANVIL_BIN" --version | head -n 1

step "Chromium for the dashboard test"
# The dashboard test opens the page in headless Chromium and fails (never skips) without
# it. CLAIMS_TEST_CHROMIUM names another browser binary; otherwise Debian's chromium,
# installed here if it is missing.
if [ -n "${CLAIMS_TEST_CHROMIUM:-}" ]; then
  echo "using CLAIMS_TEST_CHROMIUM=$CLAIMS_TEST_CHROMIUM"
else
  if ! command -v chromium >/dev/null 2>&1; then
    echo "chromium is not installed; installing it"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
  fi
  chromium --version
fi

step "Tests"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# --no-fail-fast: one failing test binary must not hide what the later ones would say.
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"

# One closing line for the whole run: every libtest summary plus the analysts' scenarios.
passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{ total += $1 } END { print total + 0 }')
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{ total += $1 } END { print total + 0 }')
scenarios=$(grep -E '^[0-9]+ scenarios? \(' "$log" | sed -E 's/^([0-9]+) scenarios?.*/\1/' | awk '{ total += $1 } END { print total + 0 }')
echo
echo "(${scenarios:-0} of them are the analysts' scenarios, run as one test binary)"
echo "tests: $((passed + ${scenarios:-0})) passed, ${failed:-0} failed"

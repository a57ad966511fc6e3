#!/usr/bin/env bash
# Compares builds or settings of `claims bench e2e` the way docs/benchmarks.md asks: the
# variants alternated within each round (the machines are shared and noisy, so only runs
# side by side compare), every run's JSON line kept, and the medians printed at the end.
#
#   scripts/bench-e2e-compare.sh ROUNDS NAME=COMMAND [NAME=COMMAND ...]
#
# COMMAND is a `claims` binary and anything after it, to which `bench e2e --quiet` and
# the common arguments in $BENCH_ARGS (default: --claims 3000 --rate 1000 --seconds 5)
# are added. For example, a build before a change against the current one:
#
#   cp target/release/claims /tmp/claims-before      # at the commit before
#   cargo build --release -p claims
#   scripts/bench-e2e-compare.sh 5 before=/tmp/claims-before after=target/release/claims
#
# or two settings of one build:
#
#   scripts/bench-e2e-compare.sh 4 'linger0=target/release/claims --linger-ms 0' \
#                                  'linger2=target/release/claims --linger-ms 2'
#
# Needs PostgreSQL and NATS as the benchmark does, and python3 for the summary. Each run's
# JSON line goes to $OUT (default: a fresh file under /tmp, named at the end), each run's
# log beside it.
set -euo pipefail

if [ $# -lt 3 ]; then
    sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
rounds=$1
shift
read -r -a common <<< "${BENCH_ARGS:---claims 3000 --rate 1000 --seconds 5}"
out=${OUT:-$(mktemp /tmp/bench-e2e-compare.XXXXXX)}
: > "$out"

for round in $(seq 1 "$rounds"); do
    for variant in "$@"; do
        name=${variant%%=*}
        read -r -a command <<< "${variant#*=}"
        log="$out.$name.$round.log"
        line=$("${command[0]}" bench e2e --quiet "${common[@]}" "${command[@]:1}" 2> "$log" | tail -n 1)
        printf '%s %s\n' "$name" "$line" >> "$out"
        printf 'round %s, %s: %s claims/s sustained\n' "$round" "$name" \
            "$(printf '%s' "$line" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["claims_per_s"]))')"
    done
done

python3 - "$out" <<'EOF'
import json, statistics, sys
from collections import defaultdict

runs = defaultdict(list)
for line in open(sys.argv[1]):
    name, report = line.split(" ", 1)
    runs[name].append(json.loads(report))

def at_rate(report, key):
    return report["open_loop"]["cpu"][key]

columns = [
    ("sustained claims/s", lambda r: r["claims_per_s"]),
    ("p50 ms at rate", lambda r: r["p50_ms_at_rate"]),
    ("p99 ms at rate", lambda r: r["p99_ms_at_rate"]),
    ("busy ms/claim at rate", lambda r: at_rate(r, "machine_busy_ms_per_claim")),
    ("engine ms/claim at rate", lambda r: at_rate(r, "engine_ms_per_claim")),
    ("PostgreSQL ms/claim at rate", lambda r: at_rate(r, "postgres_ms_per_claim")),
    ("NATS ms/claim at rate", lambda r: at_rate(r, "nats_ms_per_claim")),
]
print()
print(f"medians of each variant's runs ({sys.argv[1]}):")
print(f"{'':30}" + "".join(f"{name:>16}" for name in runs))
for title, value in columns:
    cells = "".join(f"{statistics.median(value(r) for r in reports):>16.3f}" for reports in runs.values())
    print(f"{title:30}{cells}")
EOF

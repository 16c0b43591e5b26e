#!/usr/bin/env bash
# Instructions per op at P=1 under callgrind, for the W2 and W3 subjects
# (docs/BENCHMARKS.md, "Instructions per op"): each subject runs in one
# process through `churn-solo` (the loop `sharena bench` times) twice, with
# OPS and 2*OPS ops; the difference of the two totals over OPS is the cost of
# one op (free + alloc + the loop), with the setup, fill and teardown
# cancelled out. The C loop over glibc (scripts/churn_malloc.c) is counted
# the same way. Counts do not depend on what else the machine runs.
#
#   scripts/callgrind.sh [OPS]      # default 200000
set -euo pipefail
cd "$(dirname "$0")/.."
ops=${1:-200000}
cargo build --release -q -p sharena-testkit --bin churn-solo
bin=target/release/churn-solo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/churn_malloc" scripts/churn_malloc.c

# Total instructions (Ir) of one run of "$@".
count() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$@" >/dev/null 2>"$tmp/log" ||
        { cat "$tmp/log" >&2; exit 1; }
    grep -E '^(summary|totals):' "$tmp/out" | head -1 | awk '{print $2}'
}

per_op() {
    local a b
    a=$(count "$@" "$ops")
    b=$(count "$@" $((2 * ops)))
    awk -v a="$a" -v b="$b" -v n="$ops" 'BEGIN { printf "%.0f", (b - a) / n }'
}

echo "| workload | subject | instructions per op |"
echo "| --- | --- | ---: |"
for s in slab limit-treiber-slab system rts-alloc; do
    echo "| W2 | \`$s\` | $(per_op "$bin" W2 "$s") |"
done
echo "| W2 | C loop over glibc (\`scripts/churn_malloc.c\`) | $(per_op "$tmp/churn_malloc" w2) |"
for s in freelist system mutex-shm rts-alloc; do
    echo "| W3 | \`$s\` | $(per_op "$bin" W3 "$s") |"
done
echo "| W3 | C loop over glibc (\`scripts/churn_malloc.c\`) | $(per_op "$tmp/churn_malloc" w3) |"

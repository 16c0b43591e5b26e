#!/usr/bin/env bash
# Instructions per W1 allocation (64 bytes and an 8-byte tag store) of the
# bump allocator at P=1 under callgrind: the example `w1_loop` runs twice,
# with OPS and 2*OPS allocations; the difference of the totals over OPS is
# one allocation with its loop, setup and teardown cancelled out.
#
#   scripts/callgrind_bump.sh [OPS]      # default 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
ops=${1:-1000000}
cargo build --release -q -p sharena-bump --example w1_loop
bin=target/release/examples/w1_loop
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$@" >/dev/null 2>"$tmp/log" ||
        { cat "$tmp/log" >&2; exit 1; }
    grep -E '^(summary|totals):' "$tmp/out" | head -1 | awk '{print $2}'
}
a=$(count "$bin" "$ops")
b=$(count "$bin" $((2 * ops)))
awk -v a="$a" -v b="$b" -v n="$ops" 'BEGIN { printf "W1 bump: %.2f instructions per allocation\n", (b - a) / n }'

#!/usr/bin/env bash
# The crash explorer: kills a victim process at every write it makes to
# segment memory, in every scenario of every allocator kind, and checks,
# reclaims and accounts after each death (docs/RECOVERY.md).
#
#   scripts/crashpoints.sh [--json] [--kind K]... [--scenario S]...
#
# Exit status 0 when every crash state was clean, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p sharena-testkit --features crash-hooks --bin crashpoints
exec target/release/crashpoints "$@"

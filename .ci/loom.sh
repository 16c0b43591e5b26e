#!/usr/bin/env bash
# Model-checks every lock-free structure under loom. Models stay tiny (2 or 3
# threads, a few slots) and every retry loop calls the shim's spin_loop,
# because loom's scheduler is not fair.
# `--cfg shm_loom` swaps the sync shim's atomics for loom's; a separate target
# dir keeps these builds from invalidating the normal ones.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg shm_loom ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
# Crates with loom models; each runs only its loom_tests module.
for crate in shm-layout sharena-bump sharena-slab sharena-freelist sharena-handles; do
    cargo test --release -p "$crate" --lib -- loom_tests
done

#!/usr/bin/env bash
# Builds and runs every fuzz target for DURATION seconds each (default 20), one after another;
# exits non-zero on the first crash, leak, timeout or out-of-memory (libFuzzer keeps the input
# under fuzz/artifacts/<target>/). Usage: fuzz/run.sh [SECONDS] [TARGET...]
#
# The toolchain is stable: cargo-fuzz passes nightly-only flags (-Zsanitizer=address, ...), so
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them. Nothing else needs nightly.
set -euo pipefail
cd "$(dirname "$0")"

DURATION="${1:-20}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(head chunked connection proxy h2 ws)
fi
case "$DURATION" in
    '' | *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

# The committed seeds (and kept regressions) through the same checks, on plain stable.
echo "== replay corpus (cargo test)"
cargo test --quiet

for t in "${TARGETS[@]}"; do
    echo "== fuzz $t for ${DURATION}s"
    # New inputs go to work/<t> (ignored by git); corpus/<t> holds the committed seeds and is
    # only read. -timeout: one input taking over 10 s is a hang and fails the run.
    mkdir -p "work/$t"
    cargo fuzz run "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$DURATION" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1
done
echo "== fuzz: no crash in ${TARGETS[*]} (${DURATION}s each)"

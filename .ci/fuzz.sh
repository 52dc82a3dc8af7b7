#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for FUZZ_SECONDS seconds
# (default 60), starting from a scratch copy of its seed corpus so that the
# repository's corpus is not touched. Crash inputs are kept in
# fuzz/artifacts/<target>/. Exits non-zero if any target fails.
#
#   FUZZ_SECONDS=600 bash .ci/fuzz.sh
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-60}"

if ! cargo +nightly fuzz build; then
    echo "fuzz: build failed"
    exit 1
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

failed=()
for target in $(cargo +nightly fuzz list); do
    mkdir -p "$scratch/$target"
    cp corpus/"$target"/seed-* "$scratch/$target/" 2>/dev/null || true
    echo "=== fuzz $target for ${seconds}s"
    if ! cargo +nightly fuzz run "$target" "$scratch/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz: failed: ${failed[*]} (inputs in fuzz/artifacts/)"
    exit 1
fi
echo "fuzz: all targets ran ${seconds}s without a failure"

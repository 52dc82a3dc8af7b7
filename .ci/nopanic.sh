#!/usr/bin/env bash
# Proves that no panic path survives in a release build of the audio-path
# operations. nopanic/ is a freestanding x86_64-unknown-none binary (release,
# panic=abort, LTO) that calls them all on inputs hidden behind
# core::hint::black_box, with a panic handler that calls an extern function
# nobody defines: it links only if the optimiser removed every panic path.
#
# Then it proves the check bites: the same binary with one deliberate panic
# path (`--features prove-it-bites`: an index the optimiser cannot bound) must
# fail to link with that undefined symbol.
#
# If the first build fails, bisect by commenting out calls in
# nopanic/src/main.rs, or link with
#   RUSTFLAGS="-C link-arg=--unresolved-symbols=ignore-all"
# and `--config profile.release.debug=true`, then run `addr2line -i` on the
# calls to core::panicking in `objdump -d` of the binary.
set -uo pipefail
cd "$(dirname "$0")/../nopanic"
target=x86_64-unknown-none
symbol=pcm_ring_nopanic_panic_path_survived
build=(cargo build --release --target "$target")

echo "=== nopanic: rustfmt and clippy"
if ! cargo fmt -- --check || ! cargo clippy --release --target "$target" -- -D warnings; then
    echo "nopanic: the check crate itself is not rustfmt/clippy clean"
    exit 1
fi

echo "=== nopanic: the audio path must link without a panic handler"
if ! "${build[@]}"; then
    echo "nopanic: FAILED: a panic path survives (or the build broke); see above"
    exit 1
fi

echo "=== nopanic: a deliberate panic path must fail the link"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if "${build[@]}" --features prove-it-bites >"$log" 2>&1; then
    cat "$log"
    echo "nopanic: FAILED: the deliberate panic linked, so the check proves nothing"
    exit 1
fi
if ! grep -q "undefined symbol: $symbol" "$log"; then
    cat "$log"
    echo "nopanic: FAILED: the deliberate panic broke the build for another reason"
    exit 1
fi
grep "undefined symbol: $symbol" "$log"
echo "nopanic: ok: no panic path on the audio path, and the check bites"

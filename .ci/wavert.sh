#!/usr/bin/env bash
# The WaveRT adapter's CI (examples/wavert): its tests, the simulator, the C
# ABI's generated header, the C harness, the Windows kernel-target builds and
# the proof that the C ABI has no panic path. Installs what it needs
# (rustup targets, nightly Miri, cbindgen, gcc). Exits non-zero on any
# failure.
#
#   bash .ci/wavert.sh                  # everything
#   bash .ci/wavert.sh --update-header  # regenerate the committed C header
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

capi=examples/wavert/capi
header=$capi/include/pcm_ring_wavert.h
# Builds of the C ABI use panic = "abort" (a no_std staticlib cannot unwind;
# a kernel must not): their own target directory, so they do not rebuild
# the simulator's dependencies back and forth.
abort_dir="${CARGO_TARGET_DIR:-target}/wavert-abort"
abort_build() {
    env CARGO_PROFILE_RELEASE_PANIC=abort CARGO_PROFILE_RELEASE_LTO=true \
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_DEBUG=0 \
        cargo build --release --target-dir "$abort_dir" -p pcm-ring-wavert-capi "$@"
}
host=$(rustc -vV | sed -n 's/^host: //p')
windows_targets=(x86_64-pc-windows-msvc aarch64-pc-windows-msvc)
sentinel=pcm_wavert_panic_path_survived

generate_header() {
    cbindgen --quiet --config "$capi/cbindgen.toml" --crate pcm-ring-wavert-capi --output "$1"
}

if [ "${1:-}" = "--update-header" ]; then
    generate_header "$header" && echo "wrote $header"
    exit
fi

results=()
failed=0
passed=0
started=$(date +%s)
step() {
    local name=$1
    shift
    echo
    echo "=== wavert: $name"
    local t0
    t0=$(date +%s)
    if "$@"; then
        passed=$((passed + 1))
        results+=("ok    $(printf '%4ss' $(($(date +%s) - t0)))  $name")
    else
        failed=$((failed + 1))
        results+=("FAIL  $(printf '%4ss' $(($(date +%s) - t0)))  $name")
    fi
}

setup() {
    rustup target add "${windows_targets[@]}" || return 1
    command -v cbindgen >/dev/null || cargo install cbindgen --locked || return 1
    if ! command -v gcc >/dev/null; then
        apt-get update && apt-get install -y gcc || return 1
    fi
    command -v llvm-nm >/dev/null || command -v nm >/dev/null
}

header_is_fresh() {
    local tmp
    tmp=$(mktemp)
    generate_header "$tmp" || { rm -f "$tmp"; return 1; }
    if ! diff -u "$header" "$tmp"; then
        echo "the committed $header is stale: run bash .ci/wavert.sh --update-header"
        rm -f "$tmp"
        return 1
    fi
    rm -f "$tmp"
    echo "$header matches the source"
}

c_harness() {
    abort_build || return 1
    local out
    out=$(mktemp -d)
    gcc -std=c11 -pthread -O1 -Wall -Wextra -Werror -I "$capi/include" "$capi/tests/harness.c" \
        "$abort_dir/release/libpcm_ring_wavert_capi.a" -o "$out/harness" || { rm -rf "$out"; return 1; }
    "$out/harness"
    local status=$?
    rm -rf "$out"
    return $status
}

windows_builds() {
    for t in "${windows_targets[@]}"; do
        abort_build --target "$t" || return 1
        ls -l "$abort_dir/$t/release/pcm_ring_wavert_capi.lib" || return 1
    done
}

nm_tool() { command -v llvm-nm || command -v nm; }

# A staticlib built with LTO keeps only what its exported functions reach.
# Its panic handler calls $sentinel, which nobody defines: the archive
# references it (and core's panicking functions) only if a panic path
# survived.
panic_free() {
    local lib=$1 symbols
    # nm may complain about archive members without symbols: keep its
    # output, ignore its status, and insist that it listed our functions.
    symbols=$("$(nm_tool)" "$lib" 2>/dev/null)
    if ! grep -q " T pcm_wavert_timer$" <<<"$symbols"; then
        echo "no-panic: FAILED: nm did not list pcm_wavert_timer in $lib"
        return 1
    fi
    if grep -E "$sentinel|core9panicking" <<<"$symbols"; then
        echo "no-panic: FAILED: $lib reaches a panic path"
        return 1
    fi
    echo "no-panic: ok: $lib"
}

no_panic() {
    panic_free "$abort_dir/release/libpcm_ring_wavert_capi.a" || return 1
    for t in "${windows_targets[@]}"; do
        panic_free "$abort_dir/$t/release/pcm_ring_wavert_capi.lib" || return 1
    done
    echo "no-panic: a deliberate panic path must be caught"
    local bites="$abort_dir/bites"
    env CARGO_PROFILE_RELEASE_PANIC=abort CARGO_PROFILE_RELEASE_LTO=true \
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_DEBUG=0 \
        cargo build --release --target-dir "$bites" -p pcm-ring-wavert-capi \
        --features prove-it-bites --target x86_64-pc-windows-msvc || return 1
    if panic_free "$bites/x86_64-pc-windows-msvc/release/pcm_ring_wavert_capi.lib" >/dev/null; then
        echo "no-panic: FAILED: the deliberate panic path was not seen, so the check proves nothing"
        return 1
    fi
    echo "no-panic: ok: the deliberate panic path is seen ($sentinel referenced)"
}

step "setup: Windows targets, cbindgen, gcc" setup
miri_setup() {
    { rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal; } \
        && rustup component add miri rust-src --toolchain nightly \
        && cargo +nightly miri setup
}

step "setup: nightly Miri" miri_setup
step "rustfmt" cargo fmt -p pcm-ring-wavert -p pcm-ring-wavert-capi -- --check
step "clippy" cargo clippy -p pcm-ring-wavert -p pcm-ring-wavert-capi --all-targets -- -D warnings
step "clippy (model, no_std)" cargo clippy -p pcm-ring-wavert --lib --no-default-features -- -D warnings
# The C ABI as the kernel builds it: no_std, its own panic handler.
step "clippy (C ABI, no_std, panic=abort)" env CARGO_PROFILE_DEV_PANIC=abort \
    cargo clippy --target-dir "$abort_dir" -p pcm-ring-wavert-capi --lib --target x86_64-pc-windows-msvc -- -D warnings
step "docs" env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p pcm-ring-wavert -p pcm-ring-wavert-capi
step "tests (model, simulator, C ABI checks)" cargo test -p pcm-ring-wavert -p pcm-ring-wavert-capi
# The C ABI's unsafe code (raw-pointer projections, the two sides of a
# stream used from two threads at once) under Miri.
step "Miri: the C ABI's checks and two threads" env MIRIFLAGS="-Zmiri-strict-provenance" \
    cargo +nightly miri test -p pcm-ring-wavert-capi
step "simulator (the README's first command)" cargo run --release -p pcm-ring-wavert
step "C header is generated from the source" header_is_fresh
step "C harness (gcc, host staticlib, panic=abort)" c_harness
step "Windows kernel targets (staticlib, panic=abort)" windows_builds
step "no panic path in the C ABI, and the check bites" no_panic

echo
echo "=== wavert: summary ($(($(date +%s) - started)) s)"
printf '%s\n' "${results[@]}"
echo "wavert: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# Proves that the library takes no lock on targets that have compare-and-swap
# but no 64-bit atomics (Cortex-M4/M7, RISC-V with the A extension): it
# builds the library for thumbv7em-none-eabihf and riscv32imac-unknown-none-elf
# with every feature set a `no_std` user may pick, and fails if the compiled
# code references portable-atomic's lock-based fallback (a global table of
# spinlocks, which an interrupt handler can deadlock on) or a critical
# section.
#
# Then it proves the check bites: a scratch crate that uses portable-atomic's
# 64-bit atomics on the same targets must be flagged.
set -uo pipefail
cd "$(dirname "$0")/.."

targets=(thumbv7em-none-eabihf riscv32imac-unknown-none-elf)
rustup target add "${targets[@]}" >/dev/null
rustup component add llvm-tools >/dev/null
nm="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-nm"
pattern='portable_atomic::imp::fallback|critical_section|__atomic_.*_8'

# scan NAME RLIB: prints and counts the lock symbols RLIB references.
found=0
scan() {
    local hits
    hits=$("$nm" -C "$2" 2>/dev/null | grep -E "$pattern" | sort -u)
    if [ -n "$hits" ]; then
        echo "$1: references a lock:"
        printf '    %s\n' "$hits" | head -10
        found=$((found + 1))
    else
        echo "$1: no lock symbol"
    fi
}

failed=0
export CARGO_TARGET_DIR="$PWD/target/no-locks"
for target in "${targets[@]}"; do
    for features in "" "alloc"; do
        name="$target${features:+ --features $features}"
        if ! cargo build --quiet --release --lib --no-default-features ${features:+--features "$features"} \
            --target "$target"; then
            echo "$name: BUILD FAILED"
            failed=1
            continue
        fi
        before=$found
        scan "$name" "$CARGO_TARGET_DIR/$target/release/libpcm_ring.rlib"
        [ "$found" -eq "$before" ] || failed=1
    done
done

echo "=== no-locks: the check must flag 64-bit atomics through portable-atomic's fallback"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/src"
cat >"$scratch/Cargo.toml" <<'EOF'
[package]
name = "lock-fixture"
version = "0.0.0"
edition = "2021"

[dependencies]
portable-atomic = { version = "1.6", default-features = false, features = ["fallback"] }

[workspace]
EOF
cat >"$scratch/src/lib.rs" <<'EOF'
#![no_std]
pub fn bump(counter: &portable_atomic::AtomicU64) {
    counter.store(counter.load(portable_atomic::Ordering::Relaxed) + 1, portable_atomic::Ordering::Relaxed);
}
EOF
for target in "${targets[@]}"; do
    if ! (cd "$scratch" && cargo build --quiet --release --lib --target "$target"); then
        echo "fixture for $target: BUILD FAILED"
        failed=1
        continue
    fi
    before=$found
    scan "fixture for $target" "$CARGO_TARGET_DIR/$target/release/liblock_fixture.rlib"
    if [ "$found" -eq "$before" ]; then
        echo "no-locks: FAILED: the check did not flag the fixture on $target"
        failed=1
    fi
done

if [ "$failed" -ne 0 ]; then
    echo "no-locks: FAILED"
    exit 1
fi
echo "no-locks: ok: no lock on ${targets[*]}, and the check bites"

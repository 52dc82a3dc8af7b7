#!/usr/bin/env bash
# Builds the library without default features (no_std, no allocation) for
# the embedded and kernel targets the crate supports. Library builds only:
# nothing is linked. Exits non-zero if any build fails.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
# build NAME COMMAND...: runs one build and records a failure.
build() {
    local name=$1
    shift
    echo "=== $name"
    if ! "$@"; then
        failed+=("$name")
    fi
}

lib=(cargo build --lib --no-default-features)

# Cortex-M4F/M7F and RISC-V with the A extension: 32-bit atomics with
# compare-and-swap and no 64-bit atomics, which the ring does not need (its
# counters are published as 32-bit words; .ci/no-locks.sh checks that no
# lock is referenced).
build thumbv7em-none-eabihf "${lib[@]}" --target thumbv7em-none-eabihf
build riscv32imac-unknown-none-elf "${lib[@]}" --target riscv32imac-unknown-none-elf
# Bare-metal x86-64 (kernels, hypervisors).
build x86_64-unknown-none "${lib[@]}" --target x86_64-unknown-none
# The Windows kernel-mode driver build: there is no unwinding in a driver
# (a panic at DISPATCH_LEVEL is a bugcheck), so build with panic=abort.
build x86_64-pc-windows-msvc env RUSTFLAGS="-C panic=abort" \
    "${lib[@]}" --target x86_64-pc-windows-msvc
build aarch64-pc-windows-msvc env RUSTFLAGS="-C panic=abort" \
    "${lib[@]}" --target aarch64-pc-windows-msvc
# Cortex-M0/M0+ (ARMv6-M) has atomic loads and stores but no compare-and-swap,
# which the ring needs (the OverwriteOldest claim and discard are
# compare-and-swaps). Without a feature the build fails; with
# `critical-section`, portable-atomic implements them inside a critical
# section that the final binary provides (for example cortex-m's
# `critical-section-single-core`), so a library build needs no implementation.
build "thumbv6m-none-eabi (critical-section)" "${lib[@]}" \
    --features critical-section --target thumbv6m-none-eabi

if [ "${#failed[@]}" -ne 0 ]; then
    echo "targets: failed: ${failed[*]}"
    exit 1
fi
echo "targets: all builds succeeded"

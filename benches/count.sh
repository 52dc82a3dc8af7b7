#!/usr/bin/env bash
# Instruction counts per operation (callgrind: exact and repeatable). Each
# operation of `PCM_RING_COUNT=list` runs ITERS times inside one
# never-inlined loop function (`count::measured` in benches/ring/count.rs),
# and callgrind collects only inside it; the `noop_0` row is the loop alone.
# Prints a Markdown table of instructions per iteration; with
# PCM_RING_COUNT_STORES=1, also the stores per iteration in the bench's own
# code (benches/stores.py: the C library's memcpy/memset left out).
#
# Usage: bash benches/count.sh [ITERS [OP...]]
# Needs valgrind (and, for the stores, objdump); builds the bench in release
# (CARGO_TARGET_DIR is honoured).
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-20000}
shift || true
exe=$(cargo bench --bench ring --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "ring":
        print(m["executable"])')
ops=("$@")
if [ ${#ops[@]} -eq 0 ]; then
    mapfile -t ops < <(PCM_RING_COUNT=list "$exe")
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
stores=${PCM_RING_COUNT_STORES:-0}
extra=()
if [ "$stores" = 1 ]; then
    extra=(--dump-instr=yes --compress-pos=no)
    echo "| operation | instructions per iteration | stores per iteration |"
    echo "|---|---:|---:|"
else
    echo "| operation | instructions per iteration |"
    echo "|---|---:|"
fi
for op in "${ops[@]}"; do
    if ! PCM_RING_COUNT=$op PCM_RING_COUNT_ITERS=$iters valgrind --tool=callgrind \
        "${extra[@]}" --callgrind-out-file="$out/$op.out" --collect-atstart=no \
        --toggle-collect='*count*measured*' "$exe" >/dev/null 2>"$out/$op.err"; then
        echo "| $op | failed: $(tail -1 "$out/$op.err") |"
        continue
    fi
    total=$(grep -E '^(summary|totals):' "$out/$op.out" | head -1 | awk '{print $2}')
    if [ "$stores" = 1 ]; then
        n=$(python3 benches/stores.py "$out/$op.out" "$exe" "$iters")
        python3 -c "print('| $op | %.1f | $n |' % ($total / $iters))"
    else
        python3 -c "print('| $op | %.1f |' % ($total / $iters))"
    fi
done

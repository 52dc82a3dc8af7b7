#!/usr/bin/env bash
# Shows that the loom models bite: for every ordering that src/sync.rs names
# (the pcm_ring_weaken values declared in Cargo.toml), builds the models with
# that ordering weakened on purpose,
#
#   --cfg loom --cfg pcm_ring_weaken="<name>"
#
# (orderings listed as redundant below must make none fail) and
# runs the models known to catch it (all of them with LOOM_BITE_ALL=1; the
# models in tests/loom.rs and the counters' model in src/counters.rs) and
# requires at least one to FAIL. Prints which models failed for each
# weakening; exits non-zero if any weakening goes unnoticed.
#
# The weakening is passed to this crate alone through cargo's per-package
# profile rustflags (nightly, -Zprofile-rustflags), so the dependencies are
# built once with --cfg loom and each weakening rebuilds only pcm-ring (a few
# seconds) rather than every dependency (minutes). By hand, the stable
# equivalent is RUSTFLAGS='--cfg loom --cfg pcm_ring_weaken="<name>"'.
# The target directory is separate from the main build's:
# LOOM_BITE_TARGET_DIR, default target/loom-bite.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${LOOM_BITE_TARGET_DIR:-target/loom-bite}"
export CARGO_TERM_COLOR=never
export RUSTFLAGS="--cfg loom"

# The models that catch each weakening (measured; docs/loom.md has the full
# table). Running only these keeps the script short.
declare -A catchers=(
    [publish_write]="wrap_write_read stream_partial_blocks overwrite_oldest_racing_read shm::loom_tests::honest_protocol_over_shared_header"
    [observe_write]="wrap_write_read stream_partial_blocks overwrite_oldest_racing_read shm::loom_tests::honest_protocol_over_shared_header"
    [publish_read]="wrap_write_read reject_racing_read overwrite_oldest_racing_read shm::loom_tests::honest_protocol_over_shared_header"
    [observe_read]="wrap_write_read reject_racing_read overwrite_oldest_racing_read shm::loom_tests::honest_protocol_over_shared_header"
    [overwrite_cas]="overwrite_oldest_racing_read overwrite_oldest_racing_grant overwrite_oldest_stream"
    [claim]="overwrite_oldest_full_ring_never_reads_empty overwrite_oldest_claim_looks_again_after_a_span_of_discards"
    [skip_claim]="overwrite_oldest_racing_read overwrite_oldest_racing_grant overwrite_oldest_stream"
    [finish]="wrap_write_read priming_then_end_of_stream rearm_prime_racing_writes"
    [counter_write]="counters::loom_tests::readers_see_only_published_snapshots counters_while_writing"
    [counter_read]="counters::loom_tests::readers_see_only_published_snapshots counters_while_writing"
    [claim_idle]="overwrite_oldest_idle_reads_claim_nothing"
    [positions_once]="available_while_overwriting"
    [discards_unchecked]="overwrite_oldest_full_ring_never_grants_empty"
    [discards]="overwrite_oldest_full_ring_never_grants_empty"
    [claim_stale_write]="overwrite_oldest_claim_looks_again_after_a_span_of_discards"
    [producer_cache]="producer_cache_refreshes_when_short"
    [consumer_cache]="consumer_cache_refreshes_when_short"
    [cache_edges]="cache_keeps_edges_exact"
    [peak_from_cache]="peak_fill_is_a_fill_the_ring_had"
    [overwrite_own_read]="overwrite_consumer_starts_from_the_shared_read_position"
    [counter_in_place]="counters::loom_tests::hot_counter_in_place_then_carry counters::loom_tests::alone_counter_in_place_then_carry counters::loom_tests::other_counters_never_in_place"
)

# Orderings that the protocol no longer relies on, with the reason. A model
# cannot catch them; the script reports them and requires them to pass.
# None at present (docs/loom.md tells how `claim` was one for a while).
declare -A redundant=()

# The declared weakenings: the values of cfg(pcm_ring_weaken, values(...)).
mapfile -t names < <(sed -n 's/.*cfg(pcm_ring_weaken, values(\(.*\))).*/\1/p' Cargo.toml |
    tr ',' '\n' | tr -d ' "')
# Arguments, if any, pick some of them: bash .ci/loom-bite.sh claim_idle
if [ "$#" -gt 0 ]; then
    names=("$@")
fi
if [ "${#names[@]}" -eq 0 ]; then
    echo "loom-bite: no pcm_ring_weaken values found in Cargo.toml"
    exit 1
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=()
missed=()
for name in "${names[@]}"; do
    echo "=== weaken $name"
    weakened=(+nightly -Zprofile-rustflags test --no-fail-fast --release --lib --test loom --test loom_cache
        --config "profile.release.package.pcm-ring.rustflags=[\"--cfg\", \"pcm_ring_weaken=\\\"$name\\\"\"]")
    if ! cargo "${weakened[@]}" --no-run >"$logs/$name.build" 2>&1; then
        cat "$logs/$name.build"
        summary+=("$name: BUILD FAILED")
        missed+=("$name")
        continue
    fi
    filter=()
    if [ -z "${LOOM_BITE_ALL:-}" ] && [ -n "${catchers[$name]:-}" ]; then
        read -ra filter <<<"${catchers[$name]}"
        filter+=(--exact)
    fi
    timeout 1200 cargo "${weakened[@]}" -- "${filter[@]}" >"$logs/$name.run" 2>&1
    failed=$(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$logs/$name.run" | sort | tr '\n' ' ')
    passed=$(sed -n 's/^test \(.*\) \.\.\. ok$/\1/p' "$logs/$name.run" | sort | tr '\n' ' ')
    if [ -n "${redundant[$name]:-}" ]; then
        if [ -n "$failed" ]; then
            summary+=("$name: listed as redundant, but caught by ${failed% }: update the list")
            missed+=("$name")
        else
            summary+=("$name: redundant, not caught as expected (${redundant[$name]})")
        fi
    elif [ -n "$failed" ]; then
        summary+=("$name: caught by ${failed% }${passed:+ (passed: ${passed% })}")
        grep -E "^(Causality violation|thread '.*' .*panicked at)" -A1 "$logs/$name.run" |
            grep -vE "^(--|stack backtrace:)$" | head -4
    else
        tail -5 "$logs/$name.run"
        summary+=("$name: NOT CAUGHT (passed: ${passed% })")
        missed+=("$name")
    fi
done

echo
echo "=== loom-bite summary"
printf '%s\n' "${summary[@]}"
if [ "${#missed[@]}" -ne 0 ]; then
    echo "loom-bite: FAILED: not caught: ${missed[*]}"
    exit 1
fi
echo "loom-bite: every weakened ordering fails at least one model (those listed as redundant pass, as they must)"

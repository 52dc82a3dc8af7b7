#!/usr/bin/env bash
# End-to-end test of the cpal adapter (examples/cpal) on a real audio server:
# a private PipeWire with a null sink, inside dbus-run-session, on a machine
# with no sound card. `play` writes through an ALSA file tap in front of
# PipeWire, so the test checks exactly what the callback delivered; `record`
# captures the null sink's monitor. Fails loudly, never skips, when the audio
# server does not come up.
#
#   bash .ci/cpal-e2e.sh        (as root: installs the Debian packages it needs)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
assets=$root/.ci/cpal

die() {
    echo "cpal-e2e: FAIL: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- inside ---
# Runs inside dbus-run-session: starts the daemons, runs the checks.
if [ "${1:-}" = "--inside" ]; then
    work=$2
    bin=$3
    results=()
    failed=0
    pids=()
    stop_daemons() {
        for pid in "${pids[@]}"; do
            kill "$pid" 2>/dev/null
        done
        for pid in "${pids[@]}"; do
            wait "$pid" 2>/dev/null
        done
        pids=()
        rm -f "$work/daemons.pid"
    }
    trap stop_daemons EXIT

    export XDG_RUNTIME_DIR=$work/runtime
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

    # Without a server, the programs must fail with a clear error.
    check_error() { # NAME EXPECTED-TEXT COMMAND...
        local name=$1 expected=$2
        shift 2
        local out
        out=$("$@" 2>&1)
        local rc=$?
        echo "$out" | sed 's/^/    /'
        if [ "$rc" -ne 0 ] && grep -qF -- "$expected" <<<"$out"; then
            results+=("ok    $name")
        else
            results+=("FAIL  $name (exit $rc, wanted an error with \"$expected\")")
            failed=$((failed + 1))
        fi
    }
    echo "=== clear errors"
    check_error "no audio server: play fails with the backend's error" "Host is down" \
        "$bin/play" --seconds 1 --quiet
    check_error "missing WAV file" "cannot open WAV file $work/missing.wav" \
        "$bin/play" --wav "$work/missing.wav"
    echo "not a wav" >"$work/bad.wav"
    check_error "bad WAV file" "is not a WAV file" "$bin/play" --wav "$work/bad.wav"

    echo "=== starting PipeWire and WirePlumber"
    mkdir -p "$work/pw-config/pipewire/pipewire.conf.d"
    cp "$assets/10-null-sink.conf" "$work/pw-config/pipewire/pipewire.conf.d/"
    XDG_CONFIG_HOME=$work/pw-config pipewire >"$work/pipewire.log" 2>&1 &
    pids+=($!)
    sleep 0.3
    XDG_CONFIG_HOME=$work/pw-config wireplumber >"$work/wireplumber.log" 2>&1 &
    pids+=($!)
    # For the outer script, should this session be killed before its trap runs.
    echo "${pids[@]}" >"$work/daemons.pid"
    # Up = WirePlumber made the null sink the default sink: its policy runs,
    # so new streams get linked (before that, a stream plays two callbacks
    # and stalls).
    up=0
    for _ in $(seq 100); do
        if wpctl status 2>/dev/null | grep -q '\*.*Test Null Sink'; then
            up=1
            break
        fi
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || up=0
    done
    if [ "$up" -ne 1 ]; then
        echo "--- pipewire.log"; tail -n 30 "$work/pipewire.log"
        echo "--- wireplumber.log"; tail -n 30 "$work/wireplumber.log"
        echo "--- wpctl status"; wpctl status 2>&1 | head -n 40
        die "the audio server did not come up (no default sink \"Test Null Sink\" within 10 s)"
    fi
    wpctl status | sed -n '/^Audio/,/Streams/p'

    # play through the tap: TAP-NAME then play's options.
    play_tapped() {
        local name=$1
        shift
        mkdir -p "$work/$name/alsa"
        sed "s|@TAP@|$work/$name.raw|" "$assets/asoundrc-tap.in" >"$work/$name/alsa/asoundrc"
        XDG_CONFIG_HOME=$work/$name "$bin/play" --quiet --report "$work/$name.report" "$@"
    }
    # xruns REPORT...: device xruns cpal reported in these runs. An xrun
    # means the callback thread was not scheduled in time (a busy machine),
    # and cpal's ALSA backend then drops that period: a gap the ring did not
    # make, and that its counters do not show.
    sum_of() { # KEY REPORT...
        local key=$1
        shift
        cat "$@" 2>/dev/null | sed -n "s/^$key=//p" | awk '{ s += $1 } END { print s + 0 }'
    }
    xruns() { sum_of xruns "$@"; }
    # The programs restart a stream whose callbacks stopped (PipeWire's ALSA
    # plugin now and then stalls a stream after its first callbacks); the
    # summary says when that happened.
    noted() { # NAME
        local r
        r=$(sum_of restarts "$work"/*.report)
        if [ "$r" -gt 0 ]; then
            echo "$1 ($r stalled stream(s) restarted)"
        else
            echo "$1"
        fi
    }
    step() { # NAME COMMAND...
        local name=$1
        shift
        echo
        echo "=== $name"
        rm -f "$work"/*.report
        if "$@"; then
            results+=("ok    $(noted "$name")")
            return
        fi
        # One more try only when cpal itself reported an xrun; any other
        # failure stands.
        local x
        x=$(xruns "$work"/*.report)
        if [ "$x" -gt 0 ]; then
            echo "--- cpal reported $x device xrun(s) in this attempt; trying once more"
            rm -f "$work"/*.report
            if "$@"; then
                results+=("ok    $(noted "$name") (second try; the first had $x cpal xrun(s))")
                return
            fi
        fi
        results+=("FAIL  $name")
        failed=$((failed + 1))
    }
    analyze() { python3 "$assets/analyze.py" "$@"; }

    continuous() { # FORMAT
        play_tapped "cont-$1" --seconds 2 --format "$1" \
            && analyze tap "$work/cont-$1.raw" --report "$work/cont-$1.report" --expect continuous
    }
    stall() { # FORMAT
        # 1.003 s: not on a zero of the sine, so the stretch's edges are exact.
        play_tapped "stall-$1" --seconds 2 --format "$1" --stall-at 1.003 --stall-ms 200 \
            && analyze tap "$work/stall-$1.raw" --report "$work/stall-$1.report" --expect stall
    }
    wav_file() {
        # -D: no dither, so the file holds a plain quantised sine.
        sox -D -n -r 48000 -c 1 -b 16 -e signed-integer "$work/sine.wav" synth 1.5 sine 440 vol 0.5 \
            && play_tapped wav --wav "$work/sine.wav" \
            && analyze tap "$work/wav.raw" --report "$work/wav.report" --expect continuous --source-bits 16
    }
    # cpal's ALSA backend keeps two periods in the device; with 2048-frame
    # periods (43 ms) the two streams ride out scheduling delays on a busy
    # two-core machine.
    record_once() {
        mkdir -p "$work/monitor/alsa"
        cp "$assets/asoundrc-monitor" "$work/monitor/alsa/asoundrc"
        XDG_CONFIG_HOME=$work/monitor "$bin/record" --out "$work/monitor.wav" --seconds 4.5 \
            --buffer-frames 2048 --quiet --report "$work/monitor.report" >"$work/record.log" 2>&1 &
        local rec=$!
        # Play once the capture stream runs, and a little later, so the
        # recording starts with silence.
        for _ in $(seq 50); do
            grep -q '^recording' "$work/record.log" && break
            sleep 0.1
        done
        sleep 0.3
        play_tapped during-record --seconds 2 --buffer-frames 2048
        local play_rc=$?
        wait "$rec"
        local rec_rc=$?
        cat "$work/record.log"
        [ "$play_rc" -eq 0 ] && [ "$rec_rc" -eq 0 ] \
            && analyze wav "$work/monitor.wav" --report "$work/monitor.report" --min-seconds 1.9 \
                --expect-frames "$(sed -n 's/^produced_frames=//p' "$work/during-record.report")"
    }
    step "play f32: continuous 440 Hz sine, no gap, no phase jump" continuous f32
    step "play f32: one 200 ms stall = one silent stretch of the reported length" stall f32
    step "play i16: one stall, zero silence" stall i16
    step "play u8: one stall, 0x80 silence" stall u8
    step "play i32: continuous" continuous i32
    step "play i24: continuous" continuous i24
    step "play a WAV file (16-bit mono on a stereo stream)" wav_file
    step "record the sink's monitor while play runs: 440 Hz, no gap" record_once
    check_error "unknown device" "no output device named \"no-such-device\"" \
        "$bin/play" --device no-such-device --quiet
    check_error "unsupported format" "the device does not support format u16" \
        "$bin/play" --format u16 --quiet

    stop_daemons
    echo
    echo "=== summary"
    printf '%s\n' "${results[@]}"
    echo "cpal-e2e: $(( ${#results[@]} - failed )) passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
fi

# --------------------------------------------------------------- outside ---
export CARGO_TERM_COLOR=never
packages=(pipewire pipewire-bin pipewire-alsa wireplumber dbus libasound2-dev pkg-config sox)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "=== installing ${missing[*]}"
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || die "cannot install ${missing[*]}"
fi
command -v python3 >/dev/null || die "python3 is needed for the audio analysis"

echo "=== unit tests and lints of the adapter"
cargo test -p pcm-ring-cpal || die "cargo test -p pcm-ring-cpal"
cargo clippy -p pcm-ring-cpal --all-targets -- -D warnings || die "clippy on pcm-ring-cpal"
RUSTDOCFLAGS="-D warnings" cargo doc -p pcm-ring-cpal --no-deps || die "docs of pcm-ring-cpal"
echo "=== building play and record (release)"
cargo build --release -p pcm-ring-cpal --bins || die "build"
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release

work=$(mktemp -d)
keep=${CPAL_E2E_KEEP:-}
cleanup() {
    if [ -s "$work/daemons.pid" ]; then
        for pid in $(cat "$work/daemons.pid"); do
            kill "$pid" 2>/dev/null
        done
    fi
    [ -n "$keep" ] && echo "cpal-e2e: files kept in $work" || rm -rf "$work"
}
trap cleanup EXIT
timeout 240 dbus-run-session -- bash "$0" --inside "$work" "$bin"
rc=$?
[ "$rc" -eq 124 ] && echo "cpal-e2e: FAIL: timed out after 240 s"
exit "$rc"

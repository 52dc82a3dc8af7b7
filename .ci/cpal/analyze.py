#!/usr/bin/env python3
"""Checks audio captured in the cpal end-to-end test. Plain Python, no numpy.

  analyze.py tap RAW --report PLAY_REPORT --freq HZ --expect continuous|stall
      RAW is what `play` wrote to ALSA (a file tap in front of PipeWire), in
      the stream's sample format; PLAY_REPORT is `play --report`.
  analyze.py wav WAV --freq HZ [--report RECORD_REPORT]
      WAV is what `record` saved from the null sink's monitor.

A sine is checked sample by sample with its recurrence
x[n+1] = 2 cos(w) x[n] - x[n-1]: a gap, a dropped or repeated sample or a
phase jump breaks it. Silence is a run of at least two frames that are
exactly the format's silence (a sine at these frequencies is never exactly
zero twice in a row). Prints what it measured; exits 1 on any failed check.
"""

import argparse
import math
import struct
import sys

# cpal format -> (struct code, bytes, offset, scale): value = (raw - offset) / scale
FORMATS = {
    "i8": ("b", 1, 0, 128.0),
    "u8": ("B", 1, 128, 128.0),
    "i16": ("h", 2, 0, 32768.0),
    "u16": ("H", 2, 32768, 32768.0),
    "i24": ("i", 4, 0, 8388608.0),
    "u24": ("i", 4, 8388608, 8388608.0),
    "i32": ("i", 4, 0, 2147483648.0),
    "u32": ("I", 4, 2147483648, 2147483648.0),
    "i64": ("q", 8, 0, 9223372036854775808.0),
    "u64": ("Q", 8, 9223372036854775808, 9223372036854775808.0),
    "f32": ("f", 4, 0, 1.0),
    "f64": ("d", 8, 0, 1.0),
}

failures = []


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what)
    if not ok:
        failures.append(what)
    return ok


def read_report(path):
    out = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.strip().split("=", 1)
                out[k] = v
    return out


def decode(data, fmt, channels):
    code, size, offset, scale = FORMATS[fmt]
    n = len(data) // size
    vals = struct.unpack("<%d%s" % (n, code), data[: n * size])
    frames = n // channels
    return [
        [(vals[i * channels + c] - offset) / scale for c in range(channels)]
        for i in range(frames)
    ], (1.0 / scale if scale != 1.0 else 0.0)


def read_wav(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SystemExit("%s is not a WAV file" % path)
    pos, fmt, payload = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == 0xFFFE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            payload = body
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise SystemExit("%s: no fmt or data chunk" % path)
    tag, channels, rate, bits = fmt
    name = {(3, 32): "f32", (1, 8): "u8", (1, 16): "i16", (1, 32): "i32"}.get((tag, bits))
    if name is None and (tag, bits) == (1, 24):
        # Packed 24-bit: widen to 4-byte containers.
        payload = b"".join(
            payload[i : i + 3] + (b"\xff" if payload[i + 2] & 0x80 else b"\x00")
            for i in range(0, len(payload) - 2, 3)
        )
        name = "i24"
    if name is None:
        raise SystemExit("%s: unsupported WAV format tag %d, %d bits" % (path, tag, bits))
    frames, lsb = decode(payload, name, channels)
    return frames, rate, name, lsb


def segments(mono):
    """Silent runs (start, length) of >= 2 exact-zero frames."""
    runs, i, n = [], 0, len(mono)
    while i < n:
        if mono[i] == 0.0:
            j = i
            while j < n and mono[j] == 0.0:
                j += 1
            if j - i >= 2:
                runs.append((i, j - i))
            i = j
        else:
            i += 1
    return runs


def max_residual(x, w):
    """Largest |x[n+1] - 2cos(w)x[n] + x[n-1]| and where."""
    c = 2.0 * math.cos(w)
    worst, at = 0.0, -1
    for n in range(1, len(x) - 1):
        r = abs(x[n + 1] - c * x[n] + x[n - 1])
        if r > worst:
            worst, at = r, n
    return worst, at


def frequency(x, rate):
    """From the first and last rising zero crossings, interpolated."""
    ups = []
    for n in range(1, len(x)):
        if x[n - 1] < 0.0 <= x[n]:
            ups.append(n - 1 + (-x[n - 1]) / (x[n] - x[n - 1]))
    if len(ups) < 3:
        return 0.0
    return (len(ups) - 1) * rate / (ups[-1] - ups[0])


def analyse(frames, rate, freq, lsb, label):
    """Common measurements; returns (mono, lead, trail, interior runs, tol)."""
    channels = len(frames[0]) if frames else 0
    aligned = all(all(v == f[0] for v in f) for f in frames)
    check(aligned, "%s: every channel of every frame carries the same sample (frame alignment)" % label)
    mono = [f[0] for f in frames]
    runs = segments(mono)
    lead = runs[0][1] if runs and runs[0][0] == 0 else 0
    trail = runs[-1][1] if runs and runs[-1][0] + runs[-1][1] == len(mono) else 0
    interior = [r for r in runs if r[0] != 0 and r[0] + r[1] != len(mono)]
    # Quantisation: each sample is within half a step, the residual within 2.
    tol = 2.5 * lsb + 1e-5
    print(
        "  %s: %d frames x %d channels at %d Hz; leading silence %d, trailing %d, interior silent runs %s"
        % (label, len(mono), channels, rate, lead, trail, [(s, n) for s, n in interior] or "none")
    )
    return mono, lead, trail, interior, tol


def cmd_tap(args):
    rep = read_report(args.report)
    fmt, channels, rate = rep["format"], int(rep["channels"]), int(rep["rate"])
    with open(args.raw, "rb") as f:
        data = f.read()
    frames, lsb = decode(data, fmt, channels)
    if args.source_bits:
        # The source was quantised more coarsely than the stream's format.
        lsb = max(lsb, 2.0 ** (1 - args.source_bits))
    w = 2.0 * math.pi * args.freq / rate
    print("tap %s (%s x%d, %d Hz), expecting a %s sine" % (args.raw, fmt, channels, rate, args.expect))
    check(bool(frames), "the tap holds audio")
    if not frames:
        return
    mono, lead, trail, interior, tol = analyse(frames, rate, args.freq, lsb, "tap")
    callback_frames = int(rep["callback_frames"])
    check(
        len(mono) == callback_frames,
        "the tap holds every frame the callbacks delivered (%d == %d)" % (len(mono), callback_frames),
    )
    sound = mono[lead : len(mono) - trail]
    callback = int(rep["max_callback_frames"])
    underrun = int(rep["silence_underrun_frames"])
    priming = int(rep["silence_priming_frames"])
    end = int(rep["silence_end_frames"])
    # The sine starts at phase 0 (an exact zero that joins the leading run)
    # and ends wherever it ends.
    check(
        priming <= lead <= priming + 2,
        "leading silence %d frames = the ring's priming silence %d (+ the sine's first zero)" % (lead, priming),
    )
    check(trail >= end, "trailing silence %d frames >= the ring's end-of-stream silence %d" % (trail, end))
    if args.expect == "continuous":
        check(not interior, "no silent stretch after the start")
        check(underrun == 0 and int(rep["underruns"]) == 0, "the ring reported no underrun")
        worst, at = max_residual(sound, w)
        check(worst <= tol, "no gap or phase jump: largest recurrence residual %.2e (limit %.2e) at frame %d" % (worst, tol, lead + at))
        data = len(sound)
        f = frequency(sound, rate)
    else:
        check(len(interior) == 1, "exactly one silent stretch after the start (found %d)" % len(interior))
        if len(interior) != 1:
            return
        start, length = interior[0]
        check(
            abs(length - underrun) <= callback,
            "the stretch is %d frames (%.1f ms); the ring reported %d frames of underrun silence; "
            "difference %d, within one callback (%d)" % (length, length * 1000.0 / rate, underrun, length - underrun, callback),
        )
        a, b = start - lead, start - lead + length
        before, after = sound[:a], sound[b:]
        wa, ata = max_residual(before, w)
        wb, atb = max_residual(after, w)
        check(max(wa, wb) <= tol, "the sine is continuous before and after the stretch (residuals %.2e, %.2e; limit %.2e)" % (wa, wb, tol))
        # Across the stretch: the audio after it continues the audio before
        # it, so the stall delayed the stream and lost none of it.
        # The sine's own exact zero (phase 0) next to the stretch looks like
        # silence: allow up to two of the stretch's frames to be that sample.
        for own_zeros in range(3):
            seam = before[-2:] + [0.0] * own_zeros + after[:2]
            ws, _ = max_residual(seam, w)
            if ws <= tol:
                break
        check(
            ws <= tol,
            "no audio lost across the stretch: the sine resumes at the next sample "
            "(seam residual %.2e; %d of the stretch's frames are the sine's own zero)" % (ws, own_zeros),
        )
        data = len(before) + len(after)
        f = frequency(before + after, rate)
    check(abs(f - args.freq) < 0.5, "frequency %.3f Hz (want %.1f +- 0.5)" % (f, args.freq))
    produced = int(rep["produced_frames"])
    check(
        abs(data - produced) <= 2,
        "sine frames in the tap %d = frames produced %d (within the sine's zero samples at the edges)" % (data, produced),
    )


def cmd_wav(args):
    frames, rate, name, lsb = read_wav(args.wav)
    print("wav %s (%s x%d, %d Hz)" % (args.wav, name, len(frames[0]) if frames else 0, rate))
    check(bool(frames), "the file holds audio")
    if not frames:
        return
    mono, lead, trail, interior, tol = analyse(frames, rate, args.freq, lsb, "wav")
    sound = mono[lead : len(mono) - trail]
    seconds = len(sound) / rate
    check(seconds >= args.min_seconds, "%.2f s of sine recorded (want >= %.2f)" % (seconds, args.min_seconds))
    f = frequency(sound, rate)
    check(abs(f - args.freq) < 0.5, "frequency %.3f Hz (want %.1f +- 0.5)" % (f, args.freq))
    check(not interior, "no gap: no silent stretch inside the sine")
    if args.expect_frames:
        check(
            abs(len(sound) - args.expect_frames) <= 2,
            "every frame played reached the sink: %d sine frames recorded, %d played" % (len(sound), args.expect_frames),
        )
    w = 2.0 * math.pi * args.freq / rate
    worst, at = max_residual(sound, w)
    check(worst <= tol, "no dropout or phase jump: largest recurrence residual %.2e (limit %.2e) at frame %d" % (worst, tol, lead + at))
    if args.report:
        rep = read_report(args.report)
        check(
            int(rep["wav_frames"]) == len(mono),
            "the file holds every frame the ring delivered (%s == %d)" % (rep["wav_frames"], len(mono)),
        )
        check(int(rep["overruns"]) == 0 and int(rep["dropped_frames"]) == 0, "the ring lost nothing (no overrun)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tap")
    t.add_argument("raw")
    t.add_argument("--report", required=True)
    t.add_argument("--freq", type=float, default=440.0)
    t.add_argument("--expect", choices=["continuous", "stall"], required=True)
    t.add_argument("--source-bits", type=int, help="bits of an integer source (a WAV file)")
    w = sub.add_parser("wav")
    w.add_argument("wav")
    w.add_argument("--freq", type=float, default=440.0)
    w.add_argument("--min-seconds", type=float, default=1.5)
    w.add_argument("--report")
    w.add_argument("--expect-frames", type=int, help="sine frames that were played")
    args = p.parse_args()
    {"tap": cmd_tap, "wav": cmd_wav}[args.cmd](args)
    if failures:
        print("  => %d check(s) failed" % len(failures))
        sys.exit(1)
    print("  => all checks passed")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Prints one Markdown table from the last `cargo bench --bench ring` run.

For every benchmark it reads criterion's `<id>/new/benchmark.json` and
`<id>/new/estimates.json` (the median point estimate) and prints the median,
the throughput, and two ratios of medians measured in the same run:

- x floor: to the `floor` variant of the same group and parameter (the same
  bytes copied with plain `copy_from_slice`, or filled with a plain fill);
- x peer: to the best peer (the fastest variant named `rtrb...` or
  `ringbuf...`) of the same group and parameter.

A ratio below 1 means faster than the baseline. The `target` column checks the
performance targets (see docs/performance.md).

Results older than the newest one by more than --window minutes (default 20)
are left out, so that a table never mixes runs; run the whole bench before
reporting, or widen the window on purpose. Only the groups of
benches/ring.rs are read (benches/shm_report.py reports group `shm`).

Usage: python3 benches/report.py [--dir CRITERION_DIR] [--window MINUTES]

The criterion directory defaults to $CRITERION_HOME, else
$CARGO_TARGET_DIR/criterion, else target/criterion.
"""

import argparse
import json
import os
import sys
import time

PEER_PREFIXES = ("rtrb", "ringbuf")
FLOOR = "floor"
GROUP_ORDER = ["one_thread", "two_threads", "silence", "overwrite", "cyclic"]


def is_peer(variant):
    return variant.startswith(PEER_PREFIXES)


def target(group, variant, param, x_floor, x_peer):
    """The verdict on docs/performance.md's targets for one row ("" if none).

    Each check is (label, ratio, limit); a label starting with "<=" allows
    the limit itself, one starting with "<" does not.
    """
    checks = []
    copy_api = variant.startswith(("pcm_copy_", "pcm_plain_"))
    if group == "one_thread" and copy_api:
        if param == "1920":
            checks.append(("<=1.2x floor", x_floor, 1.2))
        if variant.endswith("_overwrite"):
            checks.append(("<=1.1x peer", x_peer, 1.1))
        else:
            checks.append(("<=1.0x peer", x_peer, 1.0))
    elif group == "two_threads" and variant.startswith("pcm_"):
        checks.append(("<=1.0x peer", x_peer, 1.0))
    elif group == "silence" and variant.startswith("pcm_"):
        checks.append(("<=1.2x floor", x_floor, 1.2))
    verdicts = []
    for text, ratio, limit in checks:
        if ratio is None:
            verdicts.append(f"{text}: n/a")
            continue
        strict = text.startswith("<") and not text.startswith("<=")
        ok = ratio < limit if strict else ratio <= limit
        verdicts.append(f"{text}: {'PASS' if ok else 'MISS'}")
    return "; ".join(verdicts)


def default_dir():
    if os.environ.get("CRITERION_HOME"):
        return os.environ["CRITERION_HOME"]
    if os.environ.get("CARGO_TARGET_DIR"):
        return os.path.join(os.environ["CARGO_TARGET_DIR"], "criterion")
    return os.path.join("target", "criterion")


def load(root):
    rows = []
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        if "estimates.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        est_path = os.path.join(dirpath, "estimates.json")
        with open(est_path) as f:
            est = json.load(f)
        throughput = bench.get("throughput") or {}
        rows.append(
            {
                "group": bench["group_id"],
                "variant": bench.get("function_id") or "",
                "param": bench.get("value_str") or "",
                "median_ns": est["median"]["point_estimate"],
                "bytes": throughput.get("Bytes") or throughput.get("BytesDecimal"),
                "mtime": os.path.getmtime(est_path),
            }
        )
    return rows


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_rate(nbytes, ns):
    if not nbytes:
        return ""
    rate = nbytes / ns  # bytes per ns = GB/s
    return f"{rate:.3g} GB/s" if rate >= 1 else f"{rate * 1e3:.3g} MB/s"


def fmt_ratio(r):
    return "" if r is None else f"{r:.2f}"


def param_key(p):
    head = p.split("-")[-1].split("+")[0]
    return (int(head) if head.isdigit() else 0, p)


def variant_key(v):
    if v == FLOOR or v.startswith(FLOOR + "_"):
        return (2, v)
    if is_peer(v):
        return (1, v)
    return (0, v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=default_dir(), help="criterion output directory")
    ap.add_argument(
        "--window",
        type=float,
        default=20.0,
        help="minutes: leave out results older than the newest by more than this",
    )
    args = ap.parse_args()

    # Only the groups of benches/ring.rs: another bench's results (group
    # `shm`, see benches/shm_report.py) must not move the window.
    rows = [r for r in load(args.dir) if r["group"] in GROUP_ORDER]
    if not rows:
        sys.exit(f"no criterion results under {args.dir}; run `cargo bench --bench ring`")
    newest = max(r["mtime"] for r in rows)
    fresh = [r for r in rows if newest - r["mtime"] <= args.window * 60]
    stale = len(rows) - len(fresh)

    by_key = {}
    for r in fresh:
        by_key.setdefault((r["group"], r["param"]), {})[r["variant"]] = r

    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    header = ["group", "variant", "param", "median", "throughput", "x floor", "x peer", "target"]
    out = []
    keys = sorted(by_key, key=lambda k: (order.get(k[0], len(order)), k[0], param_key(k[1])))
    for group, param in keys:
        variants = by_key[(group, param)]
        floor = variants.get(FLOOR)
        peers = [r["median_ns"] for name, r in variants.items() if is_peer(name)]
        best_peer = min(peers) if peers else None
        for name in sorted(variants, key=variant_key):
            r = variants[name]
            m = r["median_ns"]
            x_floor = m / floor["median_ns"] if floor else None
            x_peer = m / best_peer if best_peer else None
            out.append(
                [
                    group,
                    name,
                    param,
                    fmt_time(m),
                    fmt_rate(r["bytes"], m),
                    fmt_ratio(x_floor),
                    fmt_ratio(x_peer),
                    target(group, name, param, x_floor, x_peer),
                ]
            )

    widths = [max(len(h), *(len(row[i]) for row in out)) for i, h in enumerate(header)]
    right = {3, 4, 5, 6}

    def line(cells):
        padded = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        ]
        return "| " + " | ".join(padded) + " |"

    print(line(header))
    rule = ("-" * (w + 1) + ":" if i in right else "-" * (w + 2) for i, w in enumerate(widths))
    print("|" + "|".join(rule) + "|")
    for row in out:
        print(line(row))
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(newest))
    note = f"\n{len(fresh)} results, newest {when} UTC, from {args.dir}"
    if stale:
        note += f"; {stale} older results left out (--window {args.window:g})"
    print(note)


if __name__ == "__main__":
    main()

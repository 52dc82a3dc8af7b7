#!/usr/bin/env python3
"""Prints the ratio table of the last `cargo bench --bench shm` run.

For each chunk size of criterion group `shm` it reads the median of the
`heap`, `trusted`, `hardened` and `floor` variants (criterion's
`<id>/new/estimates.json`, through `benches/report.py`'s loader) and prints
ratios of medians measured in the same run:

- trusted / heap: the trusted shared-memory attach against the heap ring;
- hardened / trusted: the cost of hardening;
- hardened / heap;
- each variant's time over the floor's (the same bytes copied with
  `copy_from_slice` into a plain array and out again).

A ratio above 1 means slower than the baseline. As in `benches/report.py`,
results of group `shm` older than its newest by more than --window minutes
(default 20) are left out, so that a table never mixes runs. --times adds
the medians.

Usage: python3 benches/shm_report.py [--dir CRITERION_DIR] [--window MINUTES] [--times]

The criterion directory defaults to $CRITERION_HOME, else
$CARGO_TARGET_DIR/criterion, else target/criterion.
"""

import argparse
import os
import sys
import time

sys.dont_write_bytecode = True  # no benches/__pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  (benches/report.py: load, default_dir, fmt_time)

GROUP = "shm"
VARIANTS = ("heap", "trusted", "hardened", "floor")


def ratio(a, b):
    return "" if a is None or b is None else f"{a / b:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=report.default_dir(), help="criterion output directory")
    ap.add_argument(
        "--window",
        type=float,
        default=20.0,
        help="minutes: leave out results older than the newest by more than this",
    )
    ap.add_argument("--times", action="store_true", help="add the median times")
    args = ap.parse_args()

    rows = [r for r in report.load(args.dir) if r["group"] == GROUP]
    if not rows:
        sys.exit(f"no results of group {GROUP} under {args.dir}; run `cargo bench --bench shm`")
    newest = max(r["mtime"] for r in rows)
    fresh = [r for r in rows if newest - r["mtime"] <= args.window * 60]
    stale = len(rows) - len(fresh)

    by_param = {}
    for r in fresh:
        by_param.setdefault(r["param"], {})[r["variant"]] = r["median_ns"]

    header = [
        "chunk bytes",
        "trusted / heap",
        "hardened / trusted",
        "hardened / heap",
        "heap / floor",
        "trusted / floor",
        "hardened / floor",
    ]
    if args.times:
        header += [f"{v} median" for v in VARIANTS]
    out = []
    for param in sorted(by_param, key=report.param_key):
        m = by_param[param]
        heap, trusted, hardened, floor = (m.get(v) for v in VARIANTS)
        row = [
            param,
            ratio(trusted, heap),
            ratio(hardened, trusted),
            ratio(hardened, heap),
            ratio(heap, floor),
            ratio(trusted, floor),
            ratio(hardened, floor),
        ]
        if args.times:
            row += ["" if m.get(v) is None else report.fmt_time(m[v]) for v in VARIANTS]
        out.append(row)

    widths = [max(len(h), *(len(row[i]) for row in out)) for i, h in enumerate(header)]

    def line(cells):
        return "| " + " | ".join(c.rjust(widths[i]) for i, c in enumerate(cells)) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for row in out:
        print(line(row))
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(newest))
    note = f"\n{len(fresh)} results of group {GROUP}, newest {when} UTC, from {args.dir}"
    if stale:
        note += f"; {stale} older results left out (--window {args.window:g})"
    print(note)


if __name__ == "__main__":
    main()

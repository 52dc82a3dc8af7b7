//! Per call, interleaved: the `one_thread` comparison in short batches that
//! take turns, so that a slow stretch of the machine falls on every variant
//! alike.
//!
//! `PCM_RING_INTERLEAVED=1 <bench executable>`. Criterion measures each
//! variant in one stretch of seconds; on a machine that switches between a
//! fast and a slow state (as the two-thread driver's A/A control showed,
//! `benches/ring/threads.rs`) a ratio of two such stretches compares states
//! as much as code. Here each variant runs a batch of about
//! `PCM_RING_INTERLEAVED_BATCH_US` microseconds (default 2000), every
//! variant of a group one after the other, starting at a different variant
//! each round (`PCM_RING_INTERLEAVED_ROUNDS`, default 51), and each round
//! gives each variant a ratio to that round's best peer (the faster of
//! rtrb and ringbuf) and to that round's floor.
//!
//! Each round also makes every variant anew (`PCM_RING_INTERLEAVED_REPLACE`,
//! default 1; 0 keeps the first instances) behind a spacer allocation of
//! 0 to 16 KiB, so that its buffers and handles land elsewhere: identical
//! code measured 0.86–1.24 × itself from one process to the next when each
//! kept one placement for the whole run, and the per-round ratios now
//! average over placements instead. With the same switch each batch also
//! runs 0 to 4 KiB deeper on the stack (the operations keep values there),
//! which took most of the remaining run-long outliers away (one variant at
//! 1.77 × its usual time for a whole run, once in five runs; about once in
//! twelve since).
//!
//! The operations are the ones `benches/count.sh` counts (`count::make`,
//! set up as in the criterion groups), called through the same
//! never-inlined loop (`count::measured`). The cost of that loop and its
//! call of the operation (the `noop_0` operation, measured in every round)
//! is subtracted from every variant's time per call. `twin_rtrb` is rtrb
//! again, a second instance and not a peer: an A/A control that shows the
//! statistic's own lean and spread for code exactly as fast as a peer.

use super::count::{make, measured};
use super::threads::{at_depth, env_usize, median_of, pin, quantile, Placement};
use super::PERIOD;
use std::time::Instant;

/// One comparison: its name and its variants (the name shown, the
/// operation).
struct Group {
    name: String,
    variants: Vec<(&'static str, String)>,
}

/// The groups: the `one_thread` sizes, then the empty-ring silence.
fn groups() -> Vec<Group> {
    let mut groups: Vec<Group> = [4usize, 64, 480, 1920, 7680]
        .iter()
        .map(|n| Group {
            name: format!("one_thread/{n}"),
            variants: vec![
                ("floor", format!("floor_{n}")),
                ("rtrb", format!("rtrb_{n}")),
                ("twin_rtrb", format!("rtrb_{n}")),
                ("ringbuf", format!("ringbuf_{n}")),
                ("claim_bound", format!("claim_bound_{n}")),
                ("pcm_copy_reject", format!("pcm_copy_reject_{n}")),
                ("pcm_copy_overwrite", format!("pcm_copy_overwrite_{n}")),
                ("pcm_zc_reject", format!("pcm_zc_reject_{n}")),
            ],
        })
        .collect();
    groups.push(Group {
        name: format!("silence/{PERIOD}"),
        variants: vec![
            ("fill_zero", format!("fill_zero_{PERIOD}")),
            ("pcm_empty_zero", format!("empty_zero_{PERIOD}")),
            ("fill_u16le", format!("fill_u16le_{PERIOD}")),
            ("pcm_empty_u16le", format!("empty_u16le_{PERIOD}")),
        ],
    });
    groups
}

fn is_peer(name: &str) -> bool {
    matches!(name, "rtrb" | "ringbuf")
}

/// A variant's operation, how many calls make one batch, and its times.
struct Runner {
    name: &'static str,
    /// The operation's name in `count::make`.
    key: String,
    op: Box<dyn FnMut()>,
    /// Allocated just before `op`, so that `op`'s buffers land elsewhere.
    _spacer: Vec<u8>,
    iters: u64,
    /// Nanoseconds per call, one per round (the loop's cost subtracted).
    ns: Vec<f64>,
}

/// Nanoseconds per call of `iters` calls of `op`.
fn time(op: &mut dyn FnMut(), iters: u64) -> f64 {
    let start = Instant::now();
    measured(iters, op);
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// Warms `op` up and returns the number of calls that take about
/// `batch_ns` nanoseconds.
fn calibrate(op: &mut dyn FnMut(), batch_ns: f64) -> u64 {
    let mut iters = 16u64;
    loop {
        let per_call = time(op, iters);
        let took = per_call * iters as f64;
        if took >= batch_ns / 4.0 || iters >= 1 << 30 {
            return ((batch_ns / per_call.max(0.01)) as u64).clamp(16, 1 << 30);
        }
        iters *= 4;
    }
}

/// The median, 10th and 90th percentile of `v` (sorted here), if any.
fn spread(v: &mut [f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some((quantile(v, 0.5), quantile(v, 0.1), quantile(v, 0.9)))
}

/// A table cell: `median (p10–p90)`, or a dash.
fn ratio_cell(spread: Option<(f64, f64, f64)>) -> String {
    spread.map_or_else(
        || String::from("–"),
        |(m, lo, hi)| format!("{m:.2} ({lo:.2}–{hi:.2})"),
    )
}

/// The target a pcm-ring variant of `group` is held to, and whether the
/// per-round median ratios `peer` and `floor` meet it.
fn verdict(group: &str, name: &str, peer: f64, floor: f64) -> String {
    let mark = |ok: bool| if ok { "PASS" } else { "MISS" };
    if group.starts_with("silence/") {
        return if name.starts_with("pcm_") {
            format!("<=1.2x fill: {}", mark(floor <= 1.2))
        } else {
            String::new()
        };
    }
    let mut out = Vec::new();
    if group.ends_with("/1920") && name.starts_with("pcm_copy") {
        out.push(format!("<=1.2x floor: {}", mark(floor <= 1.2)));
    }
    match name {
        "pcm_copy_reject" => out.push(format!("<=1.0x peer: {}", mark(peer <= 1.0))),
        "pcm_copy_overwrite" => out.push(format!("<=1.1x peer: {}", mark(peer <= 1.1))),
        _ => {}
    }
    out.join("; ")
}

/// Runs the rounds and prints one table per group.
pub fn run() {
    let rounds = env_usize("PCM_RING_INTERLEAVED_ROUNDS", 51).max(1);
    let batch_ns = env_usize("PCM_RING_INTERLEAVED_BATCH_US", 2000).max(1) as f64 * 1e3;
    let replace = env_usize("PCM_RING_INTERLEAVED_REPLACE", 1) != 0;
    let pinned = if pin(0) {
        "pinned to CPU 0"
    } else {
        "not pinned"
    };
    let mut noop = make("noop_0").expect("noop_0 is an operation");
    let noop_iters = calibrate(&mut *noop, batch_ns);
    let mut groups: Vec<(String, Vec<Runner>)> = groups()
        .into_iter()
        .map(|g| {
            let runners = g
                .variants
                .into_iter()
                .map(|(name, key)| {
                    let mut op = make(&key).unwrap_or_else(|| panic!("unknown operation {key}"));
                    let iters = calibrate(&mut *op, batch_ns);
                    Runner {
                        name,
                        key,
                        op,
                        _spacer: Vec::new(),
                        iters,
                        ns: Vec::with_capacity(rounds),
                    }
                })
                .collect();
            (g.name, runners)
        })
        .collect();
    let mut loop_ns = Vec::with_capacity(rounds);
    let mut placement = Placement::new();
    for round in 0..rounds {
        let base = time(&mut *noop, noop_iters);
        loop_ns.push(base);
        for (_, runners) in &mut groups {
            let n = runners.len();
            for k in 0..n {
                let r = &mut runners[(round + k) % n];
                let seed = placement.next();
                if replace {
                    // A new instance behind a spacer of 0 to 16 KiB in
                    // 64-byte steps: its buffers and handles land at other
                    // addresses than last round's, so that no variant keeps
                    // one lucky or unlucky placement for the whole run.
                    // (And below, the stack 0 to 4 KiB deeper.)
                    r.op = Box::new(|| {});
                    r._spacer = Placement::spacer(seed);
                    r.op = make(&r.key).unwrap_or_else(|| panic!("unknown operation {}", r.key));
                    let warm = (r.iters / 8).max(100);
                    measured(warm, &mut *r.op);
                }
                let depth = if replace {
                    Placement::depth(seed, 0)
                } else {
                    0
                };
                let ns = at_depth(depth, || time(&mut *r.op, r.iters)) - base;
                r.ns.push(ns.max(0.0));
            }
        }
    }
    println!(
        "per call, interleaved: {rounds} rounds of batches of about {} us, one thread ({pinned}); \
         the loop and call ({:.2} ns per call, median) subtracted\n",
        batch_ns / 1e3,
        median_of(loop_ns)
    );
    for (name, runners) in &groups {
        println!("{name}\n");
        println!("| variant | median ns/call | per-round / best peer: median (p10–p90) | per-round / floor: median (p10–p90) | target |");
        println!("|---|---:|---:|---:|---|");
        let floor_index = runners
            .iter()
            .position(|r| r.name == "floor" || r.name.starts_with("fill_"));
        for r in runners {
            // The floor of a silence variant is the fill of its pattern.
            let floor = if name.starts_with("silence/") {
                let pattern = r.name.rsplit('_').next().unwrap_or("");
                runners
                    .iter()
                    .position(|f| f.name == format!("fill_{pattern}"))
            } else {
                floor_index
            };
            let mut peer_ratios = Vec::new();
            let mut floor_ratios = Vec::new();
            for round in 0..rounds {
                let best = runners
                    .iter()
                    .filter(|p| is_peer(p.name))
                    .map(|p| p.ns[round])
                    .min_by(f64::total_cmp);
                if let Some(best) = best.filter(|b| *b > 0.0) {
                    peer_ratios.push(r.ns[round] / best);
                }
                if let Some(f) = floor.map(|i| runners[i].ns[round]).filter(|f| *f > 0.0) {
                    floor_ratios.push(r.ns[round] / f);
                }
            }
            let (peer, floor) = (spread(&mut peer_ratios), spread(&mut floor_ratios));
            let median = |s: Option<(f64, f64, f64)>| s.map_or(f64::NAN, |(m, _, _)| m);
            println!(
                "| {} | {:.2} | {} | {} | {} |",
                r.name,
                median_of(r.ns.clone()),
                ratio_cell(peer),
                ratio_cell(floor),
                verdict(name, r.name, median(peer), median(floor))
            );
        }
        let find = |name: &str| runners.iter().find(|r| r.name == name);
        if let (Some(twin), Some(rtrb)) = (find("twin_rtrb"), find("rtrb")) {
            let mut aa: Vec<f64> = twin
                .ns
                .iter()
                .zip(&rtrb.ns)
                .filter(|(_, r)| **r > 0.0)
                .map(|(t, r)| t / r)
                .collect();
            println!(
                "\nA/A: `twin_rtrb` / `rtrb` per round: {}",
                ratio_cell(spread(&mut aa))
            );
        }
        println!();
    }
}

//! Instruction counts: one operation in a plain loop, for callgrind.
//!
//! `PCM_RING_COUNT=<op> <bench executable>` runs operation `<op>`
//! `PCM_RING_COUNT_ITERS` times (default 20 000) inside [`measured`], which
//! `benches/count.sh` hands to callgrind's `--toggle-collect`, so that the
//! count covers the loop and nothing else (the `noop_0` operation is the
//! loop alone). `PCM_RING_COUNT=list` prints the operations. Each operation
//! is set up exactly as in the criterion groups.

use super::*;

/// The loop callgrind counts: `iters` calls of `op`. Never inlined, so that
/// it is one function to toggle collection on.
#[inline(never)]
pub fn measured(iters: u64, op: &mut dyn FnMut()) {
    for _ in 0..iters {
        op();
    }
}

pub type Op = Box<dyn FnMut()>;

fn policy(name: &str) -> Overrun {
    match name {
        "reject" => Overrun::Reject,
        "truncate" => Overrun::Truncate,
        _ => Overrun::OverwriteOldest,
    }
}

/// The operation named `name` (`<kind>_<bytes>`), set up and ready to run.
pub fn make(name: &str) -> Option<Op> {
    let parts: Vec<&str> = name.split('_').collect();
    let n: usize = parts.last()?.parse().ok()?;
    let op: Op = match parts[..parts.len() - 1] {
        ["noop"] => Box::new(|| {}),
        ["floor"] => {
            let mut store = PageBuf::new(RING, 0);
            let (src, mut dst) = (PageBuf::pattern(n, 0), PageBuf::new(n, 0));
            Box::new(move || {
                store[..n].copy_from_slice(black_box(&src[..]));
                let store = black_box(&store[..n]);
                black_box(&mut dst[..]).copy_from_slice(store);
            })
        }
        ["fill", "zero"] => {
            let mut dst = PageBuf::new(n, 0);
            Box::new(move || black_box(&mut dst[..]).fill(black_box(0)))
        }
        ["fill", "u16le"] => {
            // Unsigned 16-bit little-endian silence as a plain loop writes
            // it (the `silence` group's floor).
            let mut dst = PageBuf::new(n, 0);
            Box::new(move || {
                for frame in black_box(&mut dst[..]).chunks_exact_mut(2) {
                    frame.copy_from_slice(&[0x00, 0x80]);
                }
            })
        }
        ["rtrb"] => {
            let (mut tx, mut rx) = rtrb::RingBuffer::<u8>::new(RING);
            let phase = rtrb_phase(&mut tx);
            let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
            Box::new(move || rtrb_round_trip(&mut tx, &mut rx, &src, &mut dst, None))
        }
        ["claim", "bound"] => {
            let (mut tx, mut rx) = rtrb::RingBuffer::<u8>::new(RING);
            let phase = rtrb_phase(&mut tx);
            let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
            let claim = Box::new(ClaimWord::default());
            Box::new(move || rtrb_round_trip(&mut tx, &mut rx, &src, &mut dst, Some(&claim)))
        }
        ["ringbuf"] => {
            let (mut tx, mut rx) = ringbuf::HeapRb::<u8>::new(RING).split();
            let phase = ringbuf_phase(&tx);
            let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
            Box::new(move || {
                let pushed = tx.push_slice(black_box(&src[..]));
                let popped = rx.pop_slice(black_box(&mut dst[..]));
                black_box((pushed, popped));
            })
        }
        ["pcm", kind @ ("copy" | "partial"), p] => {
            let underrun = if kind == "partial" {
                pcm_ring::Underrun::Partial
            } else {
                pcm_ring::Underrun::SilenceFill
            };
            let config = Config::raw(BLOCK, RING)
                .overrun(policy(p))
                .underrun(underrun);
            let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
            let phase = pcm_phase(&mut tx);
            let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
            Box::new(move || {
                let _ = tx.write(black_box(&src[..])).unwrap();
                let _ = rx.read(black_box(&mut dst[..])).unwrap();
            })
        }
        ["pcm", "plain", p] => {
            let config = Config::raw(BLOCK, RING).overrun(policy(p));
            let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
            let src: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            let mut dst = vec![0u8; n];
            Box::new(move || plain_round_trip(&mut tx, &mut rx, black_box(&src), &mut dst).unwrap())
        }
        ["pcm", "zc", p] => {
            let config = Config::raw(BLOCK, RING).overrun(policy(p));
            let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
            let phase = pcm_phase(&mut tx);
            let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
            Box::new(move || {
                let src = black_box(&src[..]);
                let mut grant = tx.grant(src.len()).unwrap();
                let (w0, w1) = grant.as_mut_slices();
                let (s0, s1) = src.split_at(w0.len());
                w0.copy_from_slice(s0);
                w1.copy_from_slice(s1);
                grant.commit(src.len()).unwrap();
                let dst = black_box(&mut dst[..]);
                let grant = rx.read_grant(dst.len());
                let (r0, r1) = grant.as_slices();
                let (d0, d1) = dst.split_at_mut(r0.len());
                d0.copy_from_slice(r0);
                d1.copy_from_slice(r1);
                let _ = grant.release(dst.len()).unwrap();
            })
        }
        ["empty", pattern] => {
            let silence = if pattern == "zero" {
                Silence::ZERO
            } else {
                Silence::U16_LE
            };
            let config = Config::raw(BLOCK, RING).silence(silence);
            let (tx, mut rx) = pcm_ring::heap(&config).unwrap();
            let mut dst = PageBuf::new(n, 0);
            Box::new(move || {
                let _keep = &tx;
                let _ = black_box(rx.read(black_box(&mut dst[..])).unwrap());
            })
        }
        ["overwrite"] => {
            // Write `n` bytes into a full ring, read a quarter of that.
            let config = Config::raw(BLOCK, RING).overrun(Overrun::OverwriteOldest);
            let (mut tx, mut rx) = pcm_ring::heap(&config).unwrap();
            let phase = pcm_phase(&mut tx);
            let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n / 4, phase));
            let _ = tx.write(&PageBuf::pattern(RING, 0)).unwrap();
            Box::new(move || {
                let put = tx.write(black_box(&src[..])).unwrap();
                let got = rx.read(black_box(&mut dst[..])).unwrap();
                let _ = black_box((put, got));
            })
        }
        ["cyclic"] => {
            // As the `cyclic` group: both the ring and the destination wrap.
            const DMA: usize = 2 * PERIOD;
            const OFFSET: usize = DMA - PERIOD / 4;
            let (mut tx, mut rx) = pcm_ring::heap(&Config::raw(BLOCK, PERIOD)).unwrap();
            let phase = pcm_phase(&mut tx);
            let (src, mut dma) = (PageBuf::pattern(PERIOD, phase), PageBuf::new(DMA, phase));
            let _ = tx.write(&src[..PERIOD / 2]).unwrap();
            let _ = rx.read(&mut [0; PERIOD / 2]).unwrap();
            Box::new(move || {
                let _ = tx.write(black_box(&src[..])).unwrap();
                let got = rx
                    .read_cyclic(black_box(&mut dma[..]), black_box(OFFSET), PERIOD)
                    .unwrap();
                let _ = black_box(got);
            })
        }
        _ => return None,
    };
    Some(op)
}

/// Every operation `benches/count.sh` counts, in table order.
const OPS: &[&str] = &[
    "noop_0",
    "floor_4",
    "rtrb_4",
    "ringbuf_4",
    "claim_bound_4",
    "pcm_copy_reject_4",
    "pcm_copy_truncate_4",
    "pcm_copy_overwrite_4",
    "pcm_plain_reject_4",
    "pcm_plain_overwrite_4",
    "pcm_zc_reject_4",
    "pcm_zc_overwrite_4",
    "floor_64",
    "rtrb_64",
    "ringbuf_64",
    "claim_bound_64",
    "pcm_copy_reject_64",
    "pcm_copy_overwrite_64",
    "floor_480",
    "rtrb_480",
    "ringbuf_480",
    "claim_bound_480",
    "pcm_copy_reject_480",
    "pcm_copy_overwrite_480",
    "pcm_partial_reject_480",
    "floor_1920",
    "rtrb_1920",
    "ringbuf_1920",
    "claim_bound_1920",
    "pcm_copy_reject_1920",
    "pcm_copy_overwrite_1920",
    "floor_7680",
    "rtrb_7680",
    "ringbuf_7680",
    "claim_bound_7680",
    "pcm_copy_reject_7680",
    "pcm_copy_overwrite_7680",
    "fill_zero_1920",
    "empty_zero_1920",
    "fill_u16le_1920",
    "empty_u16le_1920",
    "overwrite_1920",
    "cyclic_1920",
];

/// Runs operation `name` (or lists them for `list`).
pub fn run(name: &str) {
    if name == "list" {
        for op in OPS {
            println!("{op}");
        }
        return;
    }
    let iters = std::env::var("PCM_RING_COUNT_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000u64);
    let Some(mut op) = make(name) else {
        eprintln!("unknown operation {name}; PCM_RING_COUNT=list lists them");
        std::process::exit(2);
    };
    // Outside the counted loop: first-call paths (the first peak, the
    // first look at the other side's position).
    for _ in 0..100 {
        op();
    }
    measured(iters, &mut *op);
}

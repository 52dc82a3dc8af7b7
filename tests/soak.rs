//! Soak: at least 10 GiB of sequence-numbered frames through small rings under
//! each overrun policy, with zero corruption. Ignored by default:
//!
//! ```text
//! cargo test --release --test soak -- --ignored --nocapture
//! PCM_RING_SOAK_BYTES=1G cargo test --release --test soak -- --ignored --nocapture
//! ```
//!
//! `PCM_RING_SOAK_BYTES` (bytes, with an optional K, M or G suffix for KiB,
//! MiB, GiB) is the total written into the rings, shared evenly between the
//! cases.

#![cfg(feature = "std")]

mod common;

use common::harness::{run, Case};
use pcm_ring::Overrun;

const DEFAULT_BYTES: u64 = 10 << 30;

fn total_bytes() -> u64 {
    let Ok(text) = std::env::var("PCM_RING_SOAK_BYTES") else {
        return DEFAULT_BYTES;
    };
    let text = text.trim();
    let (digits, shift) = match text.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&text[..text.len() - 1], 10),
        Some('M') => (&text[..text.len() - 1], 20),
        Some('G') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let n: u64 = digits
        .parse()
        .unwrap_or_else(|e| panic!("PCM_RING_SOAK_BYTES={text:?}: {e}"));
    n << shift
}

#[test]
#[ignore = "moves 10 GiB; run with --release -- --ignored"]
fn soak_ten_gib_without_corruption() {
    // 48 kHz 16-bit stereo (4-byte frames) and 5.1 16-bit (12-byte frames),
    // each in a 40 ms ring of 7680 bytes.
    let rings = [(4, 1920), (12, 640)];
    let policies = [Overrun::Reject, Overrun::Truncate, Overrun::OverwriteOldest];
    let total = total_bytes();
    let per_case = total / (rings.len() * policies.len()) as u64;
    let mut moved = 0u64;
    let mut elapsed = std::time::Duration::ZERO;
    for (block, blocks) in rings {
        for overrun in policies {
            let mut case = Case::new(block, blocks, overrun, per_case);
            // Audio-sized pieces: up to half the ring (Reject) or the whole ring.
            case.max_chunk = case.max_chunk.min(case.capacity);
            case.max_read = case.capacity / 2;
            let report = run(&case);
            let c = report.counters;
            assert!(c.written >= per_case);
            moved += c.written;
            elapsed += report.elapsed;
            println!(
                "block {block:2} {overrun:15?}: wrote {:6} MiB in {:6.2} s ({:7.1} MiB/s); \
                 read {} frames of {}, dropped {} B, overwritten {} B, refusals {}, \
                 underruns {}, overruns {}",
                c.written >> 20,
                report.elapsed.as_secs_f64(),
                c.written as f64 / (1 << 20) as f64 / report.elapsed.as_secs_f64(),
                report.frames_seen,
                report.frames_given,
                c.dropped,
                c.overwritten,
                report.refusals,
                c.underruns,
                c.overruns,
            );
        }
    }
    println!(
        "total: {} MiB in {:.2} s ({:.1} MiB/s)",
        moved >> 20,
        elapsed.as_secs_f64(),
        moved as f64 / (1 << 20) as f64 / elapsed.as_secs_f64()
    );
    assert!(moved >= total - total % 6);
}

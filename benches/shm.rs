//! The cost of hardening, per call: one write and one read of one chunk
//! through a ring in memory shaped like a shared-memory region, attached
//! hardened (`shm::attach_producer`/`attach_consumer`: validated peer
//! positions, data copied with relaxed atomic word accesses) and trusted
//! (`shm::attach_trusted_producer`/`attach_trusted_consumer`: the plain
//! `Producer`/`Consumer`, `memcpy`), against the heap ring
//! (`pcm_ring::heap`) and the copy floor, all in one run.
//!
//! Group `shm` (criterion ids `shm/<variant>/<chunk bytes>`): a 7680-byte
//! ring of 4-byte blocks, `Overrun::Reject` and `Underrun::SilenceFill` (the
//! defaults), chunks of 4, 64, 480, 1920 and 7680 bytes, as in
//! `benches/ring.rs`'s `one_thread` group. Variants:
//!
//! - `heap`: `pcm_ring::heap`, `write` then `read`;
//! - `trusted`: the same calls on the trusted attach of a region;
//! - `hardened`: the same calls on the hardened attach of a region;
//! - `floor`: the same bytes copied into a plain array and out again.
//!
//! Every ring's data starts on a page (the heap ring's through the same
//! allocator as `benches/ring.rs`, a region's by placing the region a
//! header's length before a page), and each variant's source and
//! destination sit at its ring data's offset within a page.
//!
//! `PCM_RING_BENCH_QUICK=1` shortens warm-up and measurement;
//! `python3 benches/shm_report.py` prints the ratios. `PCM_RING_COUNT=<op>`
//! runs one operation in a loop for callgrind, `PCM_RING_COUNT=list` lists
//! them, and `PCM_RING_COUNT=table` runs every one under callgrind and
//! prints the instruction counts (see [`count`]). See
//! `docs/performance.md`, "Shared memory: the cost of hardening".

use std::hint::black_box;
use std::ptr::NonNull;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use pcm_ring::shm::{self, ShmConsumer, ShmProducer};
use pcm_ring::{
    Config, Consumer, Overrun, Producer, ReadError, ReadOutcome, WriteError, WriteOutcome,
};

/// 48 kHz 16-bit stereo.
const BLOCK: usize = 4;
/// 10 ms of 48 kHz 16-bit stereo.
const PERIOD: usize = 1920;
/// The ring: 40 ms, as in `benches/ring.rs`.
const RING: usize = 4 * PERIOD;
/// Chunk sizes, as in `benches/ring.rs`'s `one_thread` group.
const CHUNKS: [usize; 5] = [4, 64, 480, 1920, 7680];

use common::{criterion_config, PageBuf, PAGE};

#[global_allocator]
static ALLOCATOR: common::PageAligned = common::PageAligned;

#[path = "common/mod.rs"]
mod common;

/// The ring every variant uses: Reject, SilenceFill.
fn config() -> Config {
    Config::raw(BLOCK, RING).overrun(Overrun::Reject)
}

/// The page offset of a heap ring's storage, found through a write grant
/// at position 0 (dropped uncommitted).
fn heap_phase(tx: &mut Producer<'_>) -> usize {
    let mut grant = tx.grant(BLOCK).unwrap();
    grant.as_mut_slices().0.as_ptr() as usize % PAGE
}

/// An initialised region for [`config`] in heap memory, both sides in this
/// process. The region starts [`shm::HEADER_BYTES`] before a page, so that
/// its data starts on a page as the heap ring's storage does (the
/// allocator puts that on a page): the same layout for every variant.
struct Region {
    /// Owns the memory; never touched after `base` is taken from it.
    _mem: Vec<u64>,
    base: NonNull<u8>,
    len: usize,
}

impl Region {
    fn new() -> Self {
        let len = shm::region_size(&config()).unwrap();
        let mut mem = vec![0u64; (len + PAGE).div_ceil(8)];
        let start = mem.as_mut_ptr().cast::<u8>();
        let skip = (PAGE - (start as usize + shm::HEADER_BYTES) % PAGE) % PAGE;
        assert_eq!(skip % shm::REGION_ALIGN, 0);
        // SAFETY: `skip < PAGE`, and `mem` has `len + PAGE` bytes.
        let base = NonNull::new(unsafe { start.add(skip) }).unwrap();
        // SAFETY: `base..base + len` is inside `mem`, valid for reads and
        // writes, aligned for a region (checked), and nothing is attached
        // to it yet.
        unsafe { shm::init(&config(), base, len) }.unwrap();
        Region {
            _mem: mem,
            base,
            len,
        }
    }

    /// The page offset of the ring's data (it follows the header).
    fn phase(&self) -> usize {
        (self.base.as_ptr() as usize + shm::HEADER_BYTES) % PAGE
    }

    /// Both trusted handles.
    fn trusted(&self) -> (Producer<'_>, Consumer<'_>) {
        let (base, len) = (self.base, self.len);
        // SAFETY: the region is valid for reads and writes for as long as
        // `self` is borrowed (which the handles' lifetime is), was
        // initialised by `new`, and gets exactly one producer and one
        // consumer of this crate version.
        unsafe {
            (
                shm::attach_trusted_producer(&config(), base, len).unwrap(),
                shm::attach_trusted_consumer(&config(), base, len).unwrap(),
            )
        }
    }

    /// Both hardened handles.
    fn hardened(&self) -> (ShmProducer<'_>, ShmConsumer<'_>) {
        let (base, len) = (self.base, self.len);
        // SAFETY: as in `trusted`.
        unsafe {
            (
                shm::attach_producer(&config(), base, len).unwrap(),
                shm::attach_consumer(&config(), base, len).unwrap(),
            )
        }
    }
}

/// The producer's copying write, for the plain and the hardened handle.
trait Tx {
    fn put(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError>;
}

/// The consumer's copying read, for the plain and the hardened handle.
trait Rx {
    fn get(&mut self, dst: &mut [u8]) -> Result<ReadOutcome, ReadError>;
}

impl Tx for Producer<'_> {
    #[inline(always)]
    fn put(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
        self.write(src)
    }
}

impl Tx for ShmProducer<'_> {
    #[inline(always)]
    fn put(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
        self.write(src)
    }
}

impl Rx for Consumer<'_> {
    #[inline(always)]
    fn get(&mut self, dst: &mut [u8]) -> Result<ReadOutcome, ReadError> {
        self.read(dst)
    }
}

impl Rx for ShmConsumer<'_> {
    #[inline(always)]
    fn get(&mut self, dst: &mut [u8]) -> Result<ReadOutcome, ReadError> {
        self.read(dst)
    }
}

/// One iteration of every ring variant: write `src`, read it back into
/// `dst`, as `benches/ring.rs`'s `pcm_copy_*`.
#[inline(always)]
fn round_trip(tx: &mut impl Tx, rx: &mut impl Rx, src: &PageBuf, dst: &mut PageBuf) {
    let _ = tx.put(black_box(&src[..])).unwrap();
    let _ = rx.get(black_box(&mut dst[..])).unwrap();
}

/// One iteration of the floor: the same bytes into a plain array and out.
#[inline(always)]
fn floor_trip(store: &mut PageBuf, src: &PageBuf, dst: &mut PageBuf) {
    let n = src.len();
    store[..n].copy_from_slice(black_box(&src[..]));
    let store = black_box(&store[..n]);
    black_box(&mut dst[..]).copy_from_slice(store);
}

fn shm_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("shm");
    for n in CHUNKS {
        group.throughput(Throughput::Bytes(n as u64));
        group.bench_with_input(BenchmarkId::new("heap", n), &n, |b, &n| {
            let (mut tx, mut rx) = pcm_ring::heap(&config()).unwrap();
            let phase = heap_phase(&mut tx);
            let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
            b.iter(|| round_trip(&mut tx, &mut rx, &src, &mut dst));
            assert_eq!(dst[..], src[..]);
        });
        group.bench_with_input(BenchmarkId::new("trusted", n), &n, |b, &n| {
            let region = Region::new();
            let (mut tx, mut rx) = region.trusted();
            let phase = region.phase();
            let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
            b.iter(|| round_trip(&mut tx, &mut rx, &src, &mut dst));
            assert_eq!(dst[..], src[..]);
        });
        group.bench_with_input(BenchmarkId::new("hardened", n), &n, |b, &n| {
            let region = Region::new();
            let (mut tx, mut rx) = region.hardened();
            let phase = region.phase();
            let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
            b.iter(|| round_trip(&mut tx, &mut rx, &src, &mut dst));
            assert_eq!(dst[..], src[..]);
            assert_eq!(rx.counters().protocol_errors, 0);
        });
        group.bench_with_input(BenchmarkId::new("floor", n), &n, |b, &n| {
            let mut store = PageBuf::new(RING, 0);
            let (src, mut dst) = (PageBuf::pattern(n, 0), PageBuf::new(n, 0));
            b.iter(|| floor_trip(&mut store, &src, &mut dst));
            assert_eq!(dst[..], src[..]);
        });
    }
    group.finish();
}

/// Instruction counts: one operation in a plain loop, for callgrind, as
/// `benches/ring/count.rs` and `benches/count.sh` do for `benches/ring.rs`.
///
/// `PCM_RING_COUNT=<variant>_<bytes>` (`noop_0`, or `floor`, `heap`,
/// `trusted`, `hardened` with a chunk size) runs the operation
/// `PCM_RING_COUNT_ITERS` times (default 20 000) inside [`measured`],
/// after 100 iterations outside it. `PCM_RING_COUNT=table` runs this
/// executable under `valgrind --tool=callgrind --collect-atstart=no
/// --toggle-collect='*count*measured*'` for every operation (the same
/// options as `benches/count.sh`) and prints instructions per iteration.
mod count {
    use super::*;
    use std::process::Command;

    /// The loop callgrind counts: `iters` calls of `op`. Never inlined, so
    /// that it is one function to toggle collection on.
    #[inline(never)]
    pub fn measured(iters: u64, op: &mut dyn FnMut()) {
        for _ in 0..iters {
            op();
        }
    }

    type Op = Box<dyn FnMut()>;

    /// The variants of a chunk-size row, in table order.
    const VARIANTS: [&str; 4] = ["floor", "heap", "trusted", "hardened"];

    /// The operation named `name` (`<variant>_<bytes>`), set up as in the
    /// criterion group and ready to run. Regions are leaked: the process
    /// runs one operation and exits.
    fn make(name: &str) -> Option<Op> {
        let (variant, n) = name.rsplit_once('_')?;
        let n: usize = n.parse().ok()?;
        if n > RING {
            return None;
        }
        let op: Op = match variant {
            "noop" => Box::new(|| {}),
            "floor" => {
                let mut store = PageBuf::new(RING, 0);
                let (src, mut dst) = (PageBuf::pattern(n, 0), PageBuf::new(n, 0));
                Box::new(move || floor_trip(&mut store, &src, &mut dst))
            }
            "heap" => {
                let (mut tx, mut rx) = pcm_ring::heap(&config()).unwrap();
                let phase = heap_phase(&mut tx);
                let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
                Box::new(move || round_trip(&mut tx, &mut rx, &src, &mut dst))
            }
            "trusted" => {
                let region: &'static Region = Box::leak(Box::new(Region::new()));
                let (mut tx, mut rx) = region.trusted();
                let phase = region.phase();
                let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
                Box::new(move || round_trip(&mut tx, &mut rx, &src, &mut dst))
            }
            "hardened" => {
                let region: &'static Region = Box::leak(Box::new(Region::new()));
                let (mut tx, mut rx) = region.hardened();
                let phase = region.phase();
                let (src, mut dst) = (PageBuf::pattern(n, phase), PageBuf::new(n, phase));
                Box::new(move || round_trip(&mut tx, &mut rx, &src, &mut dst))
            }
            _ => return None,
        };
        Some(op)
    }

    /// Every operation, in table order.
    fn ops() -> Vec<String> {
        let mut ops = vec!["noop_0".to_string()];
        for n in CHUNKS {
            ops.extend(VARIANTS.iter().map(|v| format!("{v}_{n}")));
        }
        ops
    }

    fn iters() -> u64 {
        std::env::var("PCM_RING_COUNT_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000)
    }

    /// Instructions per iteration of `op` under callgrind, or why not.
    fn under_callgrind(op: &str, iters: u64) -> Result<f64, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let out = std::env::temp_dir().join(format!(
            "pcm-ring-shm-count-{}-{op}.out",
            std::process::id()
        ));
        let status = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg("--collect-atstart=no")
            .arg("--toggle-collect=*count*measured*")
            .arg(&exe)
            .env("PCM_RING_COUNT", op)
            .env("PCM_RING_COUNT_ITERS", iters.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("valgrind: {e}"))?;
        let text = std::fs::read_to_string(&out);
        let _ = std::fs::remove_file(&out);
        if !status.success() {
            return Err(format!("valgrind exited with {status}"));
        }
        let total = text
            .map_err(|e| e.to_string())?
            .lines()
            .find_map(|l| {
                l.strip_prefix("summary:")
                    .or_else(|| l.strip_prefix("totals:"))
            })
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .ok_or("no totals in the callgrind output")?;
        Ok(total / iters as f64)
    }

    /// Every operation under callgrind; one Markdown table.
    fn table() {
        let iters = iters();
        let count = |op: &str| match under_callgrind(op, iters) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{op}: {e}");
                f64::NAN
            }
        };
        let noop = count("noop_0");
        println!(
            "instructions per iteration (one write and one read; the loop alone: {noop:.1}), \
             {iters} iterations"
        );
        println!();
        println!(
            "| chunk bytes | floor | heap | trusted | hardened | hardened − trusted | \
             hardened / trusted |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|");
        for n in CHUNKS {
            let v: Vec<f64> = VARIANTS
                .iter()
                .map(|v| count(&format!("{v}_{n}")))
                .collect();
            println!(
                "| {n} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} |",
                v[0],
                v[1],
                v[2],
                v[3],
                v[3] - v[2],
                v[3] / v[2]
            );
        }
    }

    /// Runs operation `name`, lists them (`list`), or prints the table
    /// (`table`).
    pub fn run(name: &str) {
        match name {
            "list" => {
                for op in ops() {
                    println!("{op}");
                }
                return;
            }
            "table" => return table(),
            _ => {}
        }
        let Some(mut op) = make(name) else {
            eprintln!("unknown operation {name}; PCM_RING_COUNT=list lists them");
            std::process::exit(2);
        };
        // Outside the counted loop: first-call paths (the first peak, the
        // first look at the other side's position).
        for _ in 0..100 {
            op();
        }
        measured(iters(), &mut *op);
    }
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = shm_group
}

/// Criterion's group, or, with `PCM_RING_COUNT` set, the instruction
/// counts ([`count`]).
fn main() {
    if let Ok(op) = std::env::var("PCM_RING_COUNT") {
        count::run(&op);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

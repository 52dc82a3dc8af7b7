//! Shared-memory rings between two processes: a real `MAP_SHARED` mapping of
//! a temporary file, one side in this test process and the other in a child
//! process. (One process: `tests/shm.rs`.)
//!
//! The test harness runs tests on several threads, and forking a
//! multi-threaded process is unsafe, so the child is this same test binary
//! executed again: the parent test runs
//! `current_exe() --exact <child test> --ignored --nocapture --test-threads=1`
//! with the child's role and the mapped file's path in the environment. The
//! child tests are `#[ignore]`d and return at once without that environment,
//! so they pass (doing nothing) in an ordinary run.
//!
//! Besides the ring, the file holds a guard area after the region (which no
//! side may write: the library is given exactly `region_size` bytes) and a
//! control page after that, which is not part of the protocol: the tests use
//! it to tell each other which phase they are in.
//!
//! Every wait is bounded by a deadline, so a broken build fails instead of
//! hanging, and a parent that fails kills its child.
//!
//! Linux only, and not under Miri, which runs neither file mappings nor
//! child processes (`tests/shm.rs` covers the hardened sides under Miri).
#![cfg(all(target_os = "linux", not(miri)))]

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::ptr::NonNull;
use std::sync::atomic::Ordering::{Acquire, Release, SeqCst};
use std::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize};
use std::time::{Duration, Instant};

use pcm_ring::shm::{self, ShmConsumer, ShmProducer};
use pcm_ring::{Config, WriteError};

/// The child's role (and parameters); a child test without it does nothing.
const ROLE_VAR: &str = "PCM_RING_SHM_PROCESS_ROLE";
/// The path of the mapped file.
const PATH_VAR: &str = "PCM_RING_SHM_PROCESS_PATH";

/// How long any test, or any child, may take before it is a failure.
const DEADLINE: Duration = Duration::from_secs(60);

// Byte offsets of the header words (docs/shared-memory.md).
/// Magic, version, header size, capacity, block size, ring flags.
const IDENTITY_WORDS: usize = 6;
const WRITE: usize = 128;
const PRODUCER_FLAGS: usize = 132;
const DISCARDS: usize = 136;
const PRODUCER_COUNTERS: std::ops::Range<usize> = 144..248;
const READ: usize = 384;
const CONSUMER_FLAGS: usize = 388;
const CONSUMER_COUNTERS: std::ops::Range<usize> = 392..480;
const DATA: usize = shm::HEADER_BYTES;

// Words of the control page.
/// The phase the child is in (`PHASE_*`), stored by the child.
const CTL_PHASE: usize = 0;
/// Operations the parent completed (reads or writes), stored by the parent.
const CTL_PARENT_OPS: usize = 4;
/// Protocol errors the parent's side detected, stored by the parent.
const CTL_PARENT_ERRORS: usize = 8;
/// The hostile-consumer test: the first sequence number the parent wrote
/// after it saw `PHASE_RECOVERED`, and how many frames it wrote in all.
const CTL_FIRST_RECOVERED: usize = 12;
const CTL_TOTAL: usize = 16;

const PHASE_HONEST: u32 = 1;
const PHASE_HOSTILE: u32 = 2;
const PHASE_RECOVERING: u32 = 3;
const PHASE_RECOVERED: u32 = 4;

/// What the guard area between the region and the control page holds.
const GUARD: u8 = 0xA5;

/// Where the control page starts and how long the file is, for a region of
/// `region` bytes: at least 256 guard bytes, then one page.
fn layout(region: usize) -> (usize, usize) {
    let ctl = (region + 256).next_multiple_of(4096);
    (ctl, ctl + 4096)
}

/// A file in the temporary directory mapped `MAP_SHARED`: the ring region
/// at its start, the guard area, the control page.
struct Mapping {
    base: NonNull<u8>,
    len: usize,
    /// Bytes of the ring region (`shm::region_size`).
    region: usize,
    /// Offset of the control page.
    ctl: usize,
    path: PathBuf,
    /// Whether this process created the file (and removes it).
    owner: bool,
}

impl Mapping {
    /// Creates the file, maps it, fills the guard area and initialises the
    /// ring (the parent's side).
    fn create(tag: &str, config: &Config) -> Mapping {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let region = shm::region_size(config).expect("a valid configuration");
        let (ctl, len) = layout(region);
        let path = std::env::temp_dir().join(format!(
            "pcm-ring-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, SeqCst)
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .expect("create the shared file");
        file.set_len(len as u64).expect("size the shared file");
        let map = Mapping::map(&file, path, region, ctl, len, true);
        for offset in region..ctl {
            map.byte(offset).store(GUARD, Release);
        }
        // SAFETY: the mapping is ours, valid for `region` bytes, page
        // aligned, and nothing is attached to it yet (the child is started
        // after this).
        unsafe { shm::init(config, map.base, map.region) }.expect("init the region");
        map
    }

    /// Maps the file the parent created (the child's side).
    fn open(path: &Path, config: &Config) -> Mapping {
        let region = shm::region_size(config).expect("a valid configuration");
        let (ctl, len) = layout(region);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open the shared file");
        let on_disk = file.metadata().expect("the file's size").len();
        assert_eq!(
            on_disk, len as u64,
            "the parent sized the file for another ring"
        );
        Mapping::map(&file, path.to_path_buf(), region, ctl, len, false)
    }

    fn map(file: &File, path: PathBuf, region: usize, ctl: usize, len: usize, owner: bool) -> Self {
        // SAFETY: a fresh shared mapping of a file we opened read-write and
        // sized to `len`; the kernel picks the address. It stays mapped
        // until `drop` (closing the file does not unmap it).
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(
            ptr,
            libc::MAP_FAILED,
            "mmap: {}",
            std::io::Error::last_os_error()
        );
        Mapping {
            base: NonNull::new(ptr.cast()).expect("mmap returned null"),
            len,
            region,
            ctl,
            path,
            owner,
        }
    }

    /// The 32-bit word at byte `offset` of the file.
    fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.len, "word {offset}");
        // SAFETY: inside the mapping (checked), 4-byte aligned (the mapping
        // is page aligned), and mapped for as long as `self` borrows it.
        // Both processes and the library access shared words only
        // atomically.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }

    /// The byte at `offset` of the file.
    fn byte(&self, offset: usize) -> &AtomicU8 {
        assert!(offset < self.len, "byte {offset}");
        // SAFETY: as for `word`; bytes need no alignment.
        unsafe { AtomicU8::from_ptr(self.base.as_ptr().add(offset)) }
    }

    /// A word of the control page.
    fn ctl(&self, word: usize) -> &AtomicU32 {
        self.word(self.ctl + word)
    }

    fn phase(&self) -> u32 {
        self.ctl(CTL_PHASE).load(SeqCst)
    }

    fn set_phase(&self, phase: u32) {
        self.ctl(CTL_PHASE).store(phase, SeqCst);
    }

    /// Whether nothing wrote past the ring's region.
    fn guard_intact(&self) -> bool {
        (self.region..self.ctl).all(|offset| self.byte(offset).load(Acquire) == GUARD)
    }

    /// The identity words of the header.
    fn identity(&self) -> [u32; IDENTITY_WORDS] {
        core::array::from_fn(|i| self.word(4 * i).load(Acquire))
    }

    /// A hardened producer on the region.
    ///
    /// # Safety
    ///
    /// The handle must be dropped before `self`.
    unsafe fn producer(&self, config: &Config) -> ShmProducer<'static> {
        // SAFETY: the region is mapped read-write for `region` bytes and
        // page aligned; the caller drops the handle before the mapping;
        // no other producer is attached in this process.
        unsafe { shm::attach_producer(config, self.base, self.region) }.expect("attach producer")
    }

    /// A hardened consumer on the region.
    ///
    /// # Safety
    ///
    /// As for [`producer`](Self::producer).
    unsafe fn consumer(&self, config: &Config) -> ShmConsumer<'static> {
        // SAFETY: as in `producer`.
        unsafe { shm::attach_consumer(config, self.base, self.region) }.expect("attach consumer")
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base..base + len` is the mapping `map` made, and every
        // handle into it was dropped before (the callers' contract).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
        if self.owner {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The child process; killed if the parent test fails first.
struct Peer {
    child: Option<Child>,
}

impl Peer {
    /// Runs the child test `test` of this binary with `role`.
    fn spawn(test: &str, role: &str, path: &Path) -> Peer {
        let exe = std::env::current_exe().expect("the test binary");
        let child = Command::new(exe)
            .args([
                "--exact",
                test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ROLE_VAR, role)
            .env(PATH_VAR, path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the child process");
        Peer { child: Some(child) }
    }

    /// Whether the child already exited unsuccessfully.
    fn failed(&mut self) -> bool {
        let child = self.child.as_mut().expect("running");
        matches!(child.try_wait(), Ok(Some(status)) if !status.success())
    }

    /// Waits for the child until `deadline` (then kills it): whether it
    /// succeeded, and its output.
    fn finish(mut self, deadline: Instant) -> (bool, String) {
        let mut child = self.child.take().expect("running");
        let mut killed = false;
        while child.try_wait().expect("wait for the child").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                killed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let out = child.wait_with_output().expect("the child's output");
        let text = format!(
            "{}{}{}",
            if killed {
                "(killed at the deadline)\n"
            } else {
                ""
            },
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success() && !killed, text)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How long to wait for the child: until `deadline`, or (if the parent
/// already failed, and the child may be waiting for it) briefly.
fn child_deadline(failed: bool, deadline: Instant) -> Instant {
    if failed {
        Instant::now() + Duration::from_millis(500)
    } else {
        deadline
    }
}

/// The child's side: `Some((role, path))` if this process was started as a
/// child whose role starts with `prefix`.
fn child_role(prefix: &str) -> Option<(String, PathBuf)> {
    let role = std::env::var(ROLE_VAR).ok()?;
    if !role.starts_with(prefix) {
        return None;
    }
    Some((role, PathBuf::from(std::env::var_os(PATH_VAR)?)))
}

/// The child's summary: its output from `child:` to the end of that line.
fn child_summary(output: &str) -> &str {
    // The harness may print `test <name> ... ` on the same line first.
    output
        .lines()
        .find_map(|line| line.find("child:").map(|at| &line[at..]))
        .unwrap_or("child: (no summary)")
}

/// xorshift64*: the tests' randomness, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Waits (yielding) until `done`, failing at `deadline` with `what`.
fn wait_until(deadline: Instant, what: &str, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}

// ---------------------------------------------------------------------------
// An honest stream between processes.

/// Frames the stream test sends, per frame size.
const STREAM_FRAMES: u64 = 300_000;

/// The stream test's ring: 8-byte frames in a power-of-two capacity, or
/// 12-byte frames in a capacity that is not one.
fn stream_config(block: usize) -> Config {
    let frames = if block == 8 { 256 } else { 250 };
    Config::raw(block, block * frames)
}

/// Stream frame `seq`: the number, then (12-byte frames) a check word.
fn stream_frame(block: usize, seq: u64, out: &mut [u8]) {
    out[..8].copy_from_slice(&seq.to_le_bytes());
    if block == 12 {
        let x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        out[8..12].copy_from_slice(&((x >> 32) as u32 ^ x as u32 ^ 0x5A5A_A5A5).to_le_bytes());
    }
}

#[test]
fn cross_process_stream_has_no_corruption() {
    for block in [8, 12] {
        stream_between_processes(block);
    }
}

/// The parent: a hardened consumer checking every frame of a child's
/// stream of sequence numbers.
fn stream_between_processes(block: usize) {
    let start = Instant::now();
    let deadline = start + DEADLINE;
    let config = stream_config(block);
    let map = Mapping::create("stream", &config);
    // SAFETY: dropped below, before `map`.
    let mut rx = unsafe { map.consumer(&config) };
    let mut peer = Peer::spawn(
        "child_stream_producer",
        &format!("stream:{block}"),
        &map.path,
    );

    let mut rng = Rng::new(block as u64);
    let mut buf = vec![0u8; 64 * block];
    let mut expected = vec![0u8; block];
    let (mut next, mut reads, mut empty, mut data) = (0u64, 0u64, 0u64, 0u64);
    let mut end_of_stream = false;
    let mut failure = None;
    'stream: while Instant::now() < deadline {
        let dst = &mut buf[..(1 + rng.below(64)) * block];
        let out = match rx.read(dst) {
            Ok(out) => out,
            Err(err) => {
                failure = Some(format!("read refused: {err}"));
                break;
            }
        };
        reads += 1;
        if out.protocol_error {
            failure = Some(format!(
                "protocol error from an honest producer at frame {next}"
            ));
            break;
        }
        if out.data + out.silence != dst.len() || dst[out.data..].iter().any(|&b| b != 0) {
            failure = Some(format!(
                "{out:?} does not fill {} bytes with data, then zeros",
                dst.len()
            ));
            break;
        }
        for frame in dst[..out.data].chunks_exact(block) {
            stream_frame(block, next, &mut expected);
            if frame != expected {
                failure = Some(format!(
                    "frame {next} is {frame:02x?}, expected {expected:02x?}"
                ));
                break 'stream;
            }
            next += 1;
        }
        data += out.data as u64;
        if out.end_of_stream {
            end_of_stream = true;
            break;
        }
        if out.data == 0 {
            empty += 1;
            if empty % 1024 == 0 && peer.failed() {
                break;
            }
            std::thread::yield_now();
        }
    }
    let still_end = rx.is_end_of_stream();
    let counters = rx.counters();
    drop(rx);
    let (child_ok, output) = peer.finish(child_deadline(failure.is_some(), deadline));
    let context = format!("{block}-byte frames; child output:\n{output}");

    assert!(
        failure.is_none(),
        "{}; {context}",
        failure.unwrap_or_default()
    );
    assert!(child_ok, "the producer process failed; {context}");
    assert!(
        end_of_stream && still_end,
        "no end of stream after {next} frames; {context}"
    );
    assert_eq!(next, STREAM_FRAMES, "frames received; {context}");
    assert_eq!(counters.protocol_errors, 0, "{context}");
    assert_eq!(
        counters.read, data,
        "the consumer's read counter; {context}"
    );
    assert_eq!(
        counters.written, data,
        "the producer's published written counter; {context}"
    );
    assert!(
        map.guard_intact(),
        "a side wrote past the region; {context}"
    );
    println!(
        "shm_process stream: {block}-byte frames: {next} frames in {reads} reads, 0 lost, 0 corrupted, \
         {} protocol errors, {} underruns, {:.2?}; {}",
        counters.protocol_errors,
        counters.underruns,
        start.elapsed(),
        child_summary(&output)
    );
}

/// The child of `cross_process_stream_has_no_corruption`: a hardened
/// producer writing sequence numbers in random batches, retrying when the
/// ring is full, then dropping the handle (the end of the stream).
#[test]
#[ignore = "a child process of cross_process_stream_has_no_corruption"]
fn child_stream_producer() {
    let Some((role, path)) = child_role("stream:") else {
        return;
    };
    let block: usize = role["stream:".len()..].parse().expect("the frame size");
    let deadline = Instant::now() + DEADLINE;
    let config = stream_config(block);
    let map = Mapping::open(&path, &config);
    // SAFETY: dropped below, before `map`.
    let mut tx = unsafe { map.producer(&config) };
    let mut rng = Rng::new(0x5EED + block as u64);
    let mut buf = vec![0u8; 64 * block];
    let (mut seq, mut full) = (0u64, 0u64);
    while seq < STREAM_FRAMES {
        assert!(Instant::now() < deadline, "timed out at frame {seq}");
        let n = (1 + rng.below(64)).min((STREAM_FRAMES - seq) as usize);
        let src = &mut buf[..n * block];
        for (i, frame) in src.chunks_exact_mut(block).enumerate() {
            stream_frame(block, seq + i as u64, frame);
        }
        match tx.write(src) {
            Ok(out) => {
                assert_eq!(out.written, src.len());
                seq += n as u64;
            }
            Err(WriteError::Full { .. }) => {
                full += 1;
                std::thread::yield_now();
            }
            Err(err) => panic!("write of frame {seq}: {err}"),
        }
    }
    let counters = tx.counters();
    assert_eq!(counters.protocol_errors, 0, "from an honest consumer");
    assert_eq!(counters.written, STREAM_FRAMES * block as u64);
    drop(tx);
    println!("child: {seq} frames written, {full} writes refused while the ring was full");
}

// ---------------------------------------------------------------------------
// Hostile peers.

/// Bytes of a tagged frame: a magic word, a sequence number, a check word.
const FRAME: usize = 12;
/// The hostile tests' ring: 100 tagged frames.
const HOSTILE_CAPACITY: usize = FRAME * 100;
fn hostile_config() -> Config {
    Config::raw(FRAME, HOSTILE_CAPACITY)
}

/// Tags of the streams before and after a hostile phase.
const HONEST_MAGIC: u32 = 0x4F4E_4831;
const RECOVERED_MAGIC: u32 = 0x5643_4552;

/// Honest frames before the hostile phase, and frames after the recovery.
const HONEST_FRAMES: u32 = 20_000;
const RECOVERED_FRAMES: u32 = 20_000;

/// The hostile phase lasts at least this long and this many scribbles (and
/// until the parent has reported a protocol error).
const HOSTILE_TIME: Duration = Duration::from_millis(300);
const HOSTILE_SCRIBBLES: u64 = 50_000;

/// Values a peer never publishes as a position (beyond any position space).
const INVALID: u32 = u32::MAX;

/// The check word of a tagged frame (murmur3's finaliser).
fn tag_check(magic: u32, seq: u32) -> u32 {
    let mut x = magic ^ seq.rotate_left(16) ^ 0x85EB_CA6B;
    x ^= x >> 16;
    x = x.wrapping_mul(0x85EB_CA6B);
    x ^= x >> 13;
    x = x.wrapping_mul(0xC2B2_AE35);
    x ^ (x >> 16)
}

fn tagged_frame(magic: u32, seq: u32, out: &mut [u8]) {
    out[0..4].copy_from_slice(&magic.to_le_bytes());
    out[4..8].copy_from_slice(&seq.to_le_bytes());
    out[8..12].copy_from_slice(&tag_check(magic, seq).to_le_bytes());
}

/// `(magic, seq)` of a tagged frame whose check word matches; random bytes
/// pass with a probability of 2^-32.
fn parse_tagged(frame: &[u8]) -> Option<(u32, u32)> {
    let word = |i: usize| u32::from_le_bytes(frame[i..i + 4].try_into().expect("4 bytes"));
    let (magic, seq) = (word(0), word(4));
    (word(8) == tag_check(magic, seq)).then_some((magic, seq))
}

/// Writes `count` tagged frames through `tx` in random batches, retrying
/// while the ring is full; any other error fails the child.
fn write_tagged(
    tx: &mut ShmProducer<'_>,
    magic: u32,
    count: u32,
    rng: &mut Rng,
    deadline: Instant,
) {
    let mut buf = [0u8; 16 * FRAME];
    let mut seq = 0;
    while seq < count {
        assert!(Instant::now() < deadline, "timed out writing frame {seq}");
        let n = (1 + rng.below(16) as u32).min(count - seq);
        let src = &mut buf[..n as usize * FRAME];
        for (i, frame) in src.chunks_exact_mut(FRAME).enumerate() {
            tagged_frame(magic, seq + i as u32, frame);
        }
        match tx.write(src) {
            Ok(_) => seq += n,
            Err(WriteError::Full { .. }) => std::thread::yield_now(),
            Err(err) => panic!("write of frame {seq}: {err}"),
        }
    }
}

/// One write of garbage into the header or the data, as a hostile peer
/// would: positions (often in range, sometimes even on the block grid),
/// flags, counters, reserved words, identity words (if `identity`), data.
fn scribble(map: &Mapping, rng: &mut Rng, identity: bool) {
    let capacity = map.region - DATA;
    let span = 2 * capacity as u64;
    let x = rng.next();
    let value = (x >> 32) as u32;
    let position = |x: u64| -> u32 {
        match (x >> 8) % 4 {
            0 => value,
            1 => (value as u64 % span) as u32,
            2 => ((value as u64 % (span / FRAME as u64)) * FRAME as u64) as u32,
            // Edges, and bit 31 (the overwrite claim, which no hardened
            // ring uses) on an otherwise valid position.
            _ => [
                0,
                capacity as u32,
                span as u32,
                span as u32 - FRAME as u32,
                1 << 31 | (value as u64 % (span / FRAME as u64) * FRAME as u64) as u32,
            ][value as usize % 5],
        }
    };
    let word_in =
        |range: std::ops::Range<usize>| range.start + 4 * (value as usize % (range.len() / 4));
    let (offset, value) = match x % 16 {
        0..=2 => (WRITE, position(x)),
        3..=4 => (READ, position(x)),
        5 => (PRODUCER_FLAGS, value % 4),
        6 => (CONSUMER_FLAGS, value % 4),
        7 => (DISCARDS, value),
        8 => (word_in(PRODUCER_COUNTERS), value),
        9 => (word_in(CONSUMER_COUNTERS), value),
        10 if identity => (word_in(0..4 * IDENTITY_WORDS), value),
        10 | 11 => (word_in(4 * IDENTITY_WORDS..DATA), rng.next() as u32),
        _ => {
            // A run of garbage words in the data.
            let first = rng.below(capacity / 4);
            for i in first..(first + 1 + rng.below(8)).min(capacity / 4) {
                map.word(DATA + 4 * i).store(rng.next() as u32, Release);
            }
            return;
        }
    };
    map.word(offset).store(value, Release);
}

/// Scribbles for at least `HOSTILE_TIME` and `HOSTILE_SCRIBBLES`, and until
/// the parent reported a protocol error; returns the scribbles.
fn hostile_phase(map: &Mapping, rng: &mut Rng, identity: bool, deadline: Instant) -> u64 {
    map.set_phase(PHASE_HOSTILE);
    let start = Instant::now();
    let mut scribbles = 0u64;
    while scribbles < HOSTILE_SCRIBBLES
        || start.elapsed() < HOSTILE_TIME
        || map.ctl(CTL_PARENT_ERRORS).load(SeqCst) == 0
    {
        assert!(
            Instant::now() < deadline,
            "the parent never reported a protocol error ({scribbles} scribbles)"
        );
        scribble(map, rng, identity);
        scribbles += 1;
        if scribbles % 256 == 0 {
            std::thread::yield_now();
        }
    }
    scribbles
}

/// Protocol errors the parent saw, by the child's phase around the
/// operation that saw them.
#[derive(Debug, Default)]
struct Errors {
    /// The phase was still `PHASE_HONEST` *after* the operation: no garbage
    /// had been written yet (the child stores the phase before it
    /// scribbles), so this must stay 0.
    honest: u64,
    /// During the hostile phase or the recovery.
    hostile: u64,
    /// The phase was `PHASE_RECOVERED` *before* the operation: the child is
    /// honest again, so this must stay 0.
    recovered: u64,
}

impl Errors {
    fn count(&mut self, before: u32, after: u32) -> u64 {
        if after == PHASE_HONEST {
            self.honest += 1;
        } else if before >= PHASE_RECOVERED {
            self.recovered += 1;
        } else {
            self.hostile += 1;
        }
        self.honest + self.hostile + self.recovered
    }
}

#[test]
fn hostile_producer_is_survived_and_recovered_from() {
    let start = Instant::now();
    let deadline = start + DEADLINE;
    let config = hostile_config();
    let map = Mapping::create("hostile-producer", &config);
    map.set_phase(PHASE_HONEST);
    // SAFETY: dropped below, before `map`.
    let mut rx = unsafe { map.consumer(&config) };
    let mut peer = Peer::spawn("child_hostile_producer", "hostile-producer", &map.path);

    let capacity = HOSTILE_CAPACITY;
    let mut rng = Rng::new(7);
    let mut buf = vec![0u8; 2 * capacity];
    let mut errors = Errors::default();
    let (mut honest, mut recovered, mut garbage) = (0u32, 0u32, 0u64);
    let (mut reads, mut data) = (0u64, 0u64);
    let mut end_of_stream = false;
    let mut failure = None;
    'read: while Instant::now() < deadline {
        let before = map.phase();
        // Now and then more than the ring holds: a consumer that believed
        // a garbage write position would copy from past the data.
        let len = if reads % 64 == 63 {
            buf.len()
        } else {
            (1 + rng.below(16)) * FRAME
        };
        let dst = &mut buf[..len];
        let out = match rx.read(dst) {
            Ok(out) => out,
            Err(err) => {
                failure = Some(format!("read refused: {err}"));
                break;
            }
        };
        let after = map.phase();
        if out.data > capacity {
            failure = Some(format!("a read delivered more than the capacity: {out:?}"));
            break;
        }
        reads += 1;
        map.ctl(CTL_PARENT_OPS).store(reads as u32, SeqCst);
        if out.protocol_error {
            let total = errors.count(before, after);
            map.ctl(CTL_PARENT_ERRORS).store(total as u32, SeqCst);
            if out.data != 0 {
                failure = Some(format!(
                    "a read with a protocol error delivered data: {out:?}"
                ));
                break;
            }
        }
        if out.data + out.silence != dst.len() {
            failure = Some(format!(
                "SilenceFill left part of {} bytes unwritten: {out:?}",
                dst.len()
            ));
            break;
        }
        data += out.data as u64;
        for frame in dst[..out.data].chunks_exact(FRAME) {
            let tag = parse_tagged(frame);
            if honest < HONEST_FRAMES {
                // Nothing is scribbled before the child saw all of these read.
                if tag != Some((HONEST_MAGIC, honest)) {
                    failure = Some(format!("honest frame {honest} is {frame:02x?}"));
                    break 'read;
                }
                honest += 1;
            } else if recovered > 0 {
                // Once the recovered stream started, it must be intact.
                if tag != Some((RECOVERED_MAGIC, recovered)) {
                    failure = Some(format!("recovered frame {recovered} is {frame:02x?}"));
                    break 'read;
                }
                recovered += 1;
            } else if let Some((RECOVERED_MAGIC, seq)) = tag {
                // The recovered stream starts where the consumer is.
                if seq != 0 {
                    failure = Some(format!("the recovered stream starts at frame {seq}"));
                    break 'read;
                }
                recovered = 1;
            } else {
                garbage += 1;
            }
        }
        if out.end_of_stream && recovered == RECOVERED_FRAMES {
            end_of_stream = true;
            break;
        }
        if out.data == 0 {
            if reads % 1024 == 0 && peer.failed() {
                break;
            }
            std::thread::yield_now();
        }
    }
    let still_end = rx.is_end_of_stream();
    let counters = rx.counters();
    drop(rx);
    let (child_ok, output) = peer.finish(child_deadline(failure.is_some(), deadline));
    let context = format!("{errors:?}; child output:\n{output}");

    assert!(
        failure.is_none(),
        "{}; {context}",
        failure.unwrap_or_default()
    );
    assert!(child_ok, "the producer process failed; {context}");
    assert_eq!(
        honest, HONEST_FRAMES,
        "honest frames before the hostile phase; {context}"
    );
    assert_eq!(
        errors.honest, 0,
        "protocol errors before any garbage; {context}"
    );
    assert!(
        errors.hostile > 0,
        "no protocol error while the producer scribbled; {context}"
    );
    assert_eq!(
        errors.recovered, 0,
        "protocol errors after the recovery; {context}"
    );
    assert_eq!(
        recovered, RECOVERED_FRAMES,
        "frames after the recovery; {context}"
    );
    assert!(end_of_stream && still_end, "no end of stream; {context}");
    let seen = errors.honest + errors.hostile + errors.recovered;
    assert!(
        counters.protocol_errors >= seen,
        "{counters:?} counts fewer than the reads flagged; {context}"
    );
    assert_eq!(
        counters.read, data,
        "the consumer's read counter; {context}"
    );
    assert_eq!(
        counters.written,
        u64::from(RECOVERED_FRAMES) * FRAME as u64,
        "the re-attached producer's published counter; {context}"
    );
    assert!(
        map.guard_intact(),
        "a side wrote past the region; {context}"
    );
    println!(
        "shm_process hostile producer: {honest} honest + {recovered} recovered frames intact, \
         {garbage} garbage frames while hostile, {} protocol errors counted ({} flagged reads) \
         in {reads} reads, {:.2?}; {}",
        counters.protocol_errors,
        errors.hostile,
        start.elapsed(),
        child_summary(&output)
    );
}

/// Recovery after scribbling, from the producer's side. The consumer keeps
/// its read position privately and publishes it at `READ` after every read
/// that moved it, so the producer learns it from there:
///
/// 1. store `INVALID` at `READ`, so any later valid value there is the
///    consumer's own;
/// 2. offer a write position `w` (`capacity`, then 0, in turn: for any read
///    position one of them is at most a capacity ahead, and a position
///    equal to the consumer's reads as an empty ring and publishes nothing,
///    which is why there are two). The consumer reads the garbage up to
///    `w`, if `w` is valid for it, and publishes `w`;
/// 3. once `READ` says `w`, and stays `w` while the parent completes three
///    more reads (a read that was under way, or data the consumer had
///    cached from an earlier garbage position, would move it on), the
///    consumer's position is `w` and it looks at the header again.
///
/// Returns the position and the number of offers.
fn resync_write_position(map: &Mapping, deadline: Instant) -> (u32, u32) {
    let capacity = (map.region - DATA) as u32;
    let (read, write, reads) = (map.word(READ), map.word(WRITE), map.ctl(CTL_PARENT_OPS));
    read.store(INVALID, SeqCst);
    for offer in 1.. {
        assert!(
            Instant::now() < deadline,
            "no resynchronisation after {offer} offers"
        );
        let w = if offer % 2 == 1 { capacity } else { 0 };
        write.store(w, SeqCst);
        let until = Instant::now() + Duration::from_millis(50);
        while Instant::now() < until {
            if read.load(SeqCst) == w {
                let seen = reads.load(SeqCst);
                wait_until(deadline, "the parent completed three reads", || {
                    reads.load(SeqCst).wrapping_sub(seen) >= 3
                });
                if read.load(SeqCst) == w {
                    return (w, offer);
                }
            }
            std::thread::yield_now();
        }
    }
    unreachable!("the loop returns or fails")
}

/// The child of `hostile_producer_is_survived_and_recovered_from`: honest,
/// then hostile, then honest again after resynchronising (see
/// `resync_write_position`).
#[test]
#[ignore = "a child process of hostile_producer_is_survived_and_recovered_from"]
fn child_hostile_producer() {
    let Some((_, path)) = child_role("hostile-producer") else {
        return;
    };
    let deadline = Instant::now() + DEADLINE;
    let config = hostile_config();
    let map = Mapping::open(&path, &config);
    let identity = map.identity();
    let mut rng = Rng::new(0xBAD);

    // Honest: a stream of numbered frames, all read before going on.
    {
        // SAFETY: dropped at the end of this block, before `map`.
        let mut tx = unsafe { map.producer(&config) };
        write_tagged(&mut tx, HONEST_MAGIC, HONEST_FRAMES, &mut rng, deadline);
        wait_until(deadline, "the consumer read every honest frame", || {
            tx.fill() == 0
        });
        assert_eq!(tx.counters().protocol_errors, 0, "from an honest consumer");
    } // Dropped: finished and gone, which the scribbling then contradicts.

    let scribbles = hostile_phase(&map, &mut rng, true, deadline);

    // Recovering: put back what an attach checks, clear the flags (a
    // finished stream would end the new one) and the producer's counters (a
    // new producer's counters start from zero), then resynchronise.
    map.set_phase(PHASE_RECOVERING);
    for (i, &word) in identity.iter().enumerate() {
        map.word(4 * i).store(word, SeqCst);
    }
    map.word(PRODUCER_FLAGS).store(0, SeqCst);
    map.word(DISCARDS).store(0, SeqCst);
    for offset in PRODUCER_COUNTERS.step_by(4) {
        map.word(offset).store(0, SeqCst);
    }
    let (position, offers) = resync_write_position(&map, deadline);

    // Honest again: a fresh hardened producer takes its position from the
    // header, where the consumer's now is.
    // SAFETY: dropped below, before `map`.
    let mut tx = unsafe { map.producer(&config) };
    map.set_phase(PHASE_RECOVERED);
    write_tagged(
        &mut tx,
        RECOVERED_MAGIC,
        RECOVERED_FRAMES,
        &mut rng,
        deadline,
    );
    let counters = tx.counters();
    assert_eq!(counters.protocol_errors, 0, "after the recovery");
    drop(tx);
    println!(
        "child: {scribbles} scribbles, resynchronised at position {position} after {offers} offer(s)"
    );
}

#[test]
fn hostile_consumer_never_breaks_the_producer() {
    let start = Instant::now();
    let deadline = start + DEADLINE;
    let config = hostile_config();
    let capacity = HOSTILE_CAPACITY;
    let map = Mapping::create("hostile-consumer", &config);
    let identity = map.identity();
    map.set_phase(PHASE_HONEST);
    // SAFETY: dropped below, before `map`.
    let mut tx = unsafe { map.producer(&config) };
    let mut peer = Peer::spawn("child_hostile_consumer", "hostile-consumer", &map.path);

    let mut rng = Rng::new(11);
    let mut buf = [0u8; 16 * FRAME];
    let oversized = vec![0xEE; capacity + FRAME];
    let mut errors = Errors::default();
    let (mut seq, mut ops, mut full) = (0u32, 0u64, 0u64);
    let (mut first_recovered, mut recovered) = (None, 0u32);
    let mut next_len = None;
    let mut failure = None;
    while Instant::now() < deadline && recovered < RECOVERED_FRAMES {
        let before = map.phase();
        let mut n = next_len.take().unwrap_or(1 + rng.below(8));
        if before >= PHASE_RECOVERED {
            n = n.min((RECOVERED_FRAMES - recovered) as usize);
        }
        let src = &mut buf[..n * FRAME];
        for (i, frame) in src.chunks_exact_mut(FRAME).enumerate() {
            tagged_frame(HONEST_MAGIC, seq + i as u32, frame);
        }
        let result = tx.write(src);
        let after = map.phase();
        ops += 1;
        map.ctl(CTL_PARENT_OPS).store(ops as u32, SeqCst);
        match result {
            Ok(out) if out.written == src.len() => {
                if before >= PHASE_RECOVERED {
                    first_recovered.get_or_insert(seq);
                    recovered += n as u32;
                }
                seq += n as u32;
            }
            Ok(out) => {
                failure = Some(format!("a strict write of {} bytes did {out:?}", src.len()));
                break;
            }
            Err(WriteError::Full { free, .. }) if free <= capacity => {
                full += 1;
                if free >= FRAME {
                    next_len = Some((free / FRAME).min(16));
                } else {
                    std::thread::yield_now();
                }
            }
            Err(WriteError::Protocol) => {
                let total = errors.count(before, after);
                map.ctl(CTL_PARENT_ERRORS).store(total as u32, SeqCst);
                std::thread::yield_now();
            }
            Err(err) => {
                failure = Some(format!("write refused: {err:?}"));
                break;
            }
        }
        if ops % 64 == 0 {
            // More than the ring holds, refused whatever the read position
            // says: a producer that believed a garbage position would write
            // past the data, into the guard area.
            match tx.write(&oversized) {
                Err(WriteError::Full { .. } | WriteError::Protocol) => {}
                other => {
                    failure = Some(format!("a write larger than the ring gave {other:?}"));
                    break;
                }
            }
            let (fill, free, to_full) = (tx.fill(), tx.free(), tx.bytes_to_reach(capacity));
            if fill > capacity || free > capacity || to_full > capacity {
                failure = Some(format!("fill {fill}, free {free}, to full {to_full}"));
                break;
            }
            let _ = (tx.counters(), tx.is_abandoned());
            if peer.failed() {
                break;
            }
        }
    }
    map.ctl(CTL_FIRST_RECOVERED)
        .store(first_recovered.unwrap_or(u32::MAX), SeqCst);
    map.ctl(CTL_TOTAL).store(seq, SeqCst);
    let counters = tx.counters();
    drop(tx); // The end of the stream: the child reads to it.
    let (child_ok, output) = peer.finish(child_deadline(failure.is_some(), deadline));
    let context = format!("{errors:?}; child output:\n{output}");

    assert!(
        failure.is_none(),
        "{}; {context}",
        failure.unwrap_or_default()
    );
    assert!(child_ok, "the consumer process failed; {context}");
    assert_eq!(
        errors.honest, 0,
        "protocol errors before any garbage; {context}"
    );
    assert!(
        errors.hostile > 0,
        "no protocol error while the consumer scribbled; {context}"
    );
    assert_eq!(
        errors.recovered, 0,
        "protocol errors after the recovery; {context}"
    );
    assert_eq!(
        recovered, RECOVERED_FRAMES,
        "frames written after the recovery; {context}"
    );
    let seen = errors.honest + errors.hostile + errors.recovered;
    assert!(
        counters.protocol_errors >= seen,
        "{counters:?} counts fewer than refused; {context}"
    );
    assert_eq!(
        map.identity(),
        identity,
        "the identity words changed; {context}"
    );
    assert!(
        map.guard_intact(),
        "a side wrote past the region; {context}"
    );
    println!(
        "shm_process hostile consumer: {seq} frames written ({recovered} after the recovery), \
         {} writes refused as protocol errors, {full} as full, {} protocol errors counted, {:.2?}; {}",
        errors.hostile,
        counters.protocol_errors,
        start.elapsed(),
        child_summary(&output)
    );
}

/// The child of `hostile_consumer_never_breaks_the_producer`: an honest
/// consumer for a while, then one that scribbles, then honest again.
///
/// Recovery from the consumer's side: the producer keeps its write position
/// privately, publishes it after every write, and after a protocol error
/// loads the read position again on every write. So the consumer stores
/// `INVALID` as its read position and waits for two more refused writes
/// (the producer has then dropped whatever free space it had cached from
/// the garbage), stores `INVALID` as the write position, and offers read
/// positions (0, then the capacity: one of them is at most a capacity
/// behind any write position with room to spare) until the producer
/// publishes a write. That write was checked against the offered read
/// position, so a consumer attached there (it takes its position from the
/// header) agrees with the producer.
#[test]
#[ignore = "a child process of hostile_consumer_never_breaks_the_producer"]
fn child_hostile_consumer() {
    const HONEST_READS: u32 = 10_000;
    let Some((_, path)) = child_role("hostile-consumer") else {
        return;
    };
    let deadline = Instant::now() + DEADLINE;
    let config = hostile_config();
    let map = Mapping::open(&path, &config);
    let capacity = (map.region - DATA) as u32;
    let mut rng = Rng::new(0xC0DE);
    let mut buf = [0u8; 16 * FRAME];

    // Honest: the first frames, in order.
    {
        // SAFETY: dropped at the end of this block, before `map`.
        let mut rx = unsafe { map.consumer(&config) };
        let mut next = 0u32;
        while next < HONEST_READS {
            assert!(
                Instant::now() < deadline,
                "timed out at honest frame {next}"
            );
            let dst = &mut buf[..(1 + rng.below(16)) * FRAME];
            let out = rx.read(dst).expect("whole frames");
            assert!(!out.protocol_error, "from an honest producer");
            for frame in dst[..out.data].chunks_exact(FRAME) {
                assert_eq!(
                    parse_tagged(frame),
                    Some((HONEST_MAGIC, next)),
                    "frame {next}"
                );
                next += 1;
            }
            if out.data == 0 {
                std::thread::yield_now();
            }
        }
    }

    let scribbles = hostile_phase(&map, &mut rng, false, deadline);

    map.set_phase(PHASE_RECOVERING);
    let (read, write) = (map.word(READ), map.word(WRITE));
    // Undo what would mislead the new consumer: a forged end of stream, and
    // its own counters (a new consumer's start from zero).
    map.word(PRODUCER_FLAGS).store(0, SeqCst);
    map.word(CONSUMER_FLAGS).store(0, SeqCst);
    for offset in CONSUMER_COUNTERS.step_by(4) {
        map.word(offset).store(0, SeqCst);
    }
    read.store(INVALID, SeqCst);
    let errors = map.ctl(CTL_PARENT_ERRORS);
    let seen = errors.load(SeqCst);
    wait_until(deadline, "the producer refused two more writes", || {
        errors.load(SeqCst).wrapping_sub(seen) >= 2
    });
    write.store(INVALID, SeqCst);
    let mut offers = 0;
    while write.load(SeqCst) == INVALID {
        assert!(Instant::now() < deadline, "no write after {offers} offers");
        offers += 1;
        read.store(if offers % 2 == 1 { 0 } else { capacity }, SeqCst);
        let until = Instant::now() + Duration::from_millis(50);
        while write.load(SeqCst) == INVALID && Instant::now() < until {
            std::thread::yield_now();
        }
    }
    let position = read.load(SeqCst);

    // Honest again, to the end of the stream.
    // SAFETY: dropped below, before `map`.
    let mut rx = unsafe { map.consumer(&config) };
    map.set_phase(PHASE_RECOVERED);
    // The last run of consecutive frames: its first and last numbers.
    let mut run: Option<(u32, u32)> = None;
    let (mut garbage, mut flagged) = (0u64, 0u64);
    loop {
        assert!(
            Instant::now() < deadline,
            "no end of stream; last run {run:?}"
        );
        let dst = &mut buf[..(1 + rng.below(16)) * FRAME];
        let out = rx.read(dst).expect("whole frames");
        flagged += u64::from(out.protocol_error);
        for frame in dst[..out.data].chunks_exact(FRAME) {
            run = match (parse_tagged(frame), run) {
                (Some((HONEST_MAGIC, seq)), Some((first, last))) if seq == last.wrapping_add(1) => {
                    Some((first, seq))
                }
                (Some((HONEST_MAGIC, seq)), _) => Some((seq, seq)),
                _ => {
                    garbage += 1;
                    None
                }
            };
        }
        if out.end_of_stream {
            break;
        }
        if out.data == 0 {
            std::thread::yield_now();
        }
    }
    assert_eq!(
        flagged, 0,
        "protocol errors from the producer after the recovery"
    );
    let first_recovered = map.ctl(CTL_FIRST_RECOVERED).load(SeqCst);
    let total = map.ctl(CTL_TOTAL).load(SeqCst);
    let (first, last) = run.expect("frames after the recovery");
    assert_eq!(last, total.wrapping_sub(1), "the stream's last frame");
    assert!(
        first <= first_recovered,
        "frames {first}..={last} are intact, but every frame from {first_recovered} on was written after the recovery"
    );
    drop(rx);
    println!(
        "child: {scribbles} scribbles, resynchronised at read position {position} after {offers} offer(s), \
         then frames {first}..={last} intact ({garbage} stale frames skipped)"
    );
}

// ---------------------------------------------------------------------------
// A producer written in C from the layout document alone.

/// The C block of docs/shared-memory.md.
fn documented_c_producer() -> String {
    let doc = include_str!("../docs/shared-memory.md");
    let start = doc
        .find("```c\n")
        .expect("a C block in the layout document")
        + 5;
    let len = doc[start..].find("```").expect("the C block's end");
    doc[start..start + len].to_owned()
}

/// A `main` around the documented producer: map the file, attach, stream
/// `frames` 8-byte frames `(seq, !seq)`, finish.
const C_MAIN: &str = r#"
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv)
{
    if (argc != 4) return 2;
    int fd = open(argv[1], O_RDWR);
    size_t len = strtoul(argv[2], 0, 10);
    uint32_t frames = strtoul(argv[3], 0, 10);
    if (fd < 0) return 3;
    uint8_t *base = mmap(0, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return 4;
    struct pcm_producer p;
    if (pcm_producer_attach(&p, base, len, 8 * 37, 8) != 0) return 5;
    for (uint32_t seq = 0; seq < frames;) {
        uint32_t frame[2] = {seq, ~seq};
        int rc = pcm_producer_write(&p, (const uint8_t *)frame, 8);
        if (rc < 0) return 6;
        if (rc == 0) seq++;
        else sched_yield();
    }
    pcm_producer_finish(&p);
    return 0;
}
"#;

#[test]
fn c_producer_from_the_layout_document() {
    // Plain `cargo test` needs only Rust: without a C compiler this test
    // says so and stops (CI installs gcc).
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    if Command::new(&cc).arg("--version").output().is_err() {
        eprintln!("c_producer_from_the_layout_document: no C compiler ({cc}); not run");
        return;
    }
    let dir = std::env::temp_dir().join(format!("pcm-ring-c-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let source = dir.join("peer.c");
    let exe = dir.join("peer");
    std::fs::write(&source, documented_c_producer() + C_MAIN).expect("write the C source");
    let built = Command::new(&cc)
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(&source)
        .output()
        .expect("run the C compiler");
    assert!(
        built.status.success(),
        "the documented C does not compile:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );

    // 37 frames of 8 bytes: not a power of two, so the copies wrap mid-ring.
    let config = Config::raw(8, 8 * 37);
    let map = Mapping::create("c-peer", &config);
    // SAFETY: the mapping is valid for `region` bytes and outlives the handle.
    let mut rx = unsafe { shm::attach_consumer(&config, map.base, map.region) }.expect("attach");
    let frames: u32 = if cfg!(debug_assertions) {
        200_000
    } else {
        1_000_000
    };
    // Killed when dropped, should an assertion below fail first.
    let peer = Peer {
        child: Some(
            Command::new(&exe)
                .arg(&map.path)
                .arg(map.len.to_string())
                .arg(frames.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start the C producer"),
        ),
    };
    let deadline = Instant::now() + DEADLINE;
    let mut next = 0u32;
    let mut buf = [0u8; 8 * 16];
    let mut ended = false;
    while !ended && Instant::now() < deadline {
        let got = rx.read(&mut buf).expect("whole blocks");
        assert!(
            !got.protocol_error,
            "an honest C producer broke the protocol"
        );
        for frame in buf[..got.data].chunks_exact(8) {
            let seq = u32::from_ne_bytes(frame[..4].try_into().unwrap());
            let check = u32::from_ne_bytes(frame[4..].try_into().unwrap());
            assert_eq!((seq, check), (next, !next), "frame {next}");
            next += 1;
        }
        ended = got.end_of_stream;
        if got.data == 0 {
            std::thread::yield_now();
        }
    }
    let (ok, output) = peer.finish(deadline);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "the C producer failed: {output}");
    assert!(ended, "no end of stream before the deadline");
    assert_eq!(next, frames);
    let c = rx.counters();
    assert_eq!((c.read, c.protocol_errors), (8 * u64::from(frames), 0));
    println!("c_producer_from_the_layout_document: {frames} frames from C, in order");
}

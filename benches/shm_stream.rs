//! The cost of hardening between two processes: a stream through a ring in
//! shared memory, the producer in a child process and the consumer in this
//! one, attached trusted (`shm::attach_trusted_*`) or hardened
//! (`shm::attach_producer`/`attach_consumer`), in interleaved rounds.
//!
//! `cargo bench --bench shm_stream` (Linux and other unix systems):
//!
//! - The region is a `memfd` (a temporary file elsewhere) mapped
//!   `MAP_SHARED` by both processes: one page of control words for the
//!   start handshake, then the ring's region (header, then data) on a page.
//! - Each stream moves `PCM_RING_SHM_STREAM_MIB` MiB (default 1024) in
//!   1920-byte chunks through a 7680-byte ring of 4-byte blocks, as
//!   `benches/ring/threads.rs`: the producer writes under `Reject` and backs
//!   off when refused, the consumer reads what is there
//!   (`Underrun::Partial`); waiting is a short exponential spin, then
//!   `yield_now`.
//! - The producer is this executable run again (`current_exe()` with
//!   `PCM_RING_SHM_STREAM_CHILD` set); it attaches, then waits for the
//!   consumer's start word, so that the time covers the stream only (from
//!   the start word to the last byte read), not the process start.
//! - Every chunk carries its sequence number in the first 8 bytes of each of
//!   its 64-byte lines; the consumer checks all of them in every chunk and
//!   every byte of one chunk in 64, and that no protocol error was counted.
//! - Rounds (`PCM_RING_SHM_STREAM_ROUNDS`, default 41): each round streams
//!   trusted and hardened once, alternating which goes first, after one
//!   short warm-up stream of each.
//! - The producer is pinned to CPU 0 and the consumer to CPU 1 with
//!   `sched_setaffinity` on Linux where the system allows it (the output
//!   says whether it did); `PCM_RING_SHM_STREAM_PIN=0` leaves them to the
//!   scheduler.
//! - It prints each attach's median throughput with its quartiles, the
//!   ratio of the median times, and the median (10th–90th percentile,
//!   minimum–maximum) of the hardened/trusted time ratio within each round.
//!
//! Run without `--bench` (as `cargo test --benches` does) it streams 16 MiB
//! with each attach, one round, as a smoke test.
//!
//! If either process fails (a check, a panic), the other notices and ends
//! too: the producer sees the consumer's detach flag when refused, the
//! consumer the producer's flag or its exit when the ring stays empty, and
//! on Linux the producer is killed when its parent ends.

/// The ring and the chunk, as in `benches/ring/threads.rs`.
const BLOCK: usize = 4;
const PERIOD: usize = 1920;
const RING: usize = 4 * PERIOD;

#[cfg(unix)]
mod imp {
    use super::{BLOCK, PERIOD, RING};
    use pcm_ring::shm::{self, ShmConsumer, ShmProducer};
    use pcm_ring::{
        Config, Consumer, Overrun, Producer, ReadError, ReadOutcome, Underrun, WriteError,
        WriteOutcome,
    };
    use std::hint::black_box;
    use std::process::{Child, Command};
    use std::ptr::NonNull;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    const PAGE: usize = 4096;
    /// Bytes between sequence stamps in a chunk: one per cache line.
    const LINE: usize = 64;
    /// Every this many chunks the consumer compares every byte.
    const FULL_CHECK_EVERY: u64 = 64;
    /// The environment variable that makes this executable the producer.
    const CHILD: &str = "PCM_RING_SHM_STREAM_CHILD";

    /// The two attaches, in the order of the first round.
    const VARIANTS: [&str; 2] = ["trusted", "hardened"];

    fn config() -> Config {
        Config::raw(BLOCK, RING)
            .overrun(Overrun::Reject)
            .underrun(Underrun::Partial)
    }

    /// The control words in the first page of the mapping.
    #[repr(C)]
    struct Control {
        /// The producer attached and waits for `go`.
        ready: AtomicU32,
        /// The consumer started the clock.
        go: AtomicU32,
        /// Whether the producer could pin itself.
        pinned: AtomicU32,
    }

    /// A shared mapping of the control page and the region.
    struct Mapping {
        fd: i32,
        ptr: NonNull<u8>,
        len: usize,
    }

    impl Mapping {
        /// The mapping's length.
        fn len() -> usize {
            PAGE + shm::region_size(&config()).unwrap()
        }

        /// A new zeroed shared object of [`len`](Self::len) bytes whose file
        /// descriptor a child process inherits, mapped.
        fn create() -> Mapping {
            let len = Self::len();
            let fd = inheritable_fd();
            // SAFETY: `fd` is an open file descriptor this function owns.
            if unsafe { libc::ftruncate(fd, len as libc::off_t) } != 0 {
                panic!("ftruncate: {}", std::io::Error::last_os_error());
            }
            Self::map(fd, len)
        }

        /// The producer process's mapping, from the inherited descriptor `fd`.
        fn open(fd: i32) -> Mapping {
            Self::map(fd, Self::len())
        }

        fn map(fd: i32, len: usize) -> Mapping {
            // SAFETY: a fresh shared mapping of `len` bytes of `fd` at an
            // address the system chooses; nothing else is affected.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd,
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                panic!("mmap: {}", std::io::Error::last_os_error());
            }
            let ptr = NonNull::new(ptr.cast::<u8>()).unwrap();
            Mapping { fd, ptr, len }
        }

        fn control(&self) -> &Control {
            // SAFETY: the mapping is page-aligned, at least a page long,
            // lives as long as `self`, and `Control` is atomics only, which
            // stay valid whatever the other process writes.
            unsafe { self.ptr.cast::<Control>().as_ref() }
        }

        /// The ring's region: its start (page-aligned) and length.
        fn region(&self) -> (NonNull<u8>, usize) {
            // SAFETY: the mapping is longer than a page.
            (unsafe { self.ptr.add(PAGE) }, self.len - PAGE)
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: unmaps the mapping this value made and closes its
            // descriptor; no reference into it outlives `self` (the handles
            // borrow it).
            unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), self.len);
                libc::close(self.fd);
            }
        }
    }

    /// An anonymous shared-memory file without close-on-exec.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn inheritable_fd() -> i32 {
        // SAFETY: the name is a NUL-terminated string; no flags, so the
        // descriptor stays open across `exec`.
        let fd = unsafe { libc::memfd_create(c"pcm-ring-shm-stream".as_ptr(), 0) };
        if fd < 0 {
            panic!("memfd_create: {}", std::io::Error::last_os_error());
        }
        fd
    }

    /// A temporary file, unlinked at once, without close-on-exec.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn inheritable_fd() -> i32 {
        use std::os::fd::IntoRawFd;
        let path = std::env::temp_dir().join(format!("pcm-ring-shm-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        let _ = std::fs::remove_file(&path);
        let fd = file.into_raw_fd();
        // SAFETY: clears close-on-exec on a descriptor this function owns.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
            panic!("fcntl: {}", std::io::Error::last_os_error());
        }
        fd
    }

    /// Pins the calling process's thread to `cpu`; whether it worked.
    #[cfg(target_os = "linux")]
    fn pin(cpu: usize) -> bool {
        if std::env::var_os("PCM_RING_SHM_STREAM_PIN").is_some_and(|v| v == "0") {
            return false;
        }
        // SAFETY: `cpu_set_t` is plain data, valid all zero.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `CPU_SET` indexes the set's array with a bounds check
        // (`cpu` is 0 or 1 here); `set` is a valid set for the duration of
        // the call; pid 0 is the calling thread.
        unsafe {
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn pin(_cpu: usize) -> bool {
        false
    }

    /// Asks the system to end this (producer) process when its parent ends,
    /// so that a consumer that fails never leaves a producer spinning.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn die_with_parent() {
        // SAFETY: `prctl(PR_SET_PDEATHSIG, SIGKILL)` only sets a property
        // of the calling process.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn die_with_parent() {}

    /// Spins a little, then yields the core, as `benches/ring.rs`.
    struct Backoff(u32);

    impl Backoff {
        fn new() -> Self {
            Backoff(0)
        }

        fn reset(&mut self) {
            self.0 = 0;
        }

        /// Waits a little; whether it yielded (the peer is slow: worth a
        /// look whether it is still there).
        fn snooze(&mut self) -> bool {
            if self.0 < 6 {
                for _ in 0..1u32 << self.0 {
                    std::hint::spin_loop();
                }
                self.0 += 1;
                false
            } else {
                std::thread::yield_now();
                true
            }
        }
    }

    /// The producer's copying write, for the plain and the hardened handle.
    trait Tx {
        fn put(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError>;
        fn consumer_gone(&self) -> bool;
    }

    /// The consumer's copying read, for the plain and the hardened handle.
    trait Rx {
        fn get(&mut self, dst: &mut [u8]) -> Result<ReadOutcome, ReadError>;
        fn protocol_errors(&self) -> u64;
        fn producer_gone(&self) -> bool;
    }

    impl Tx for Producer<'_> {
        #[inline(always)]
        fn put(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
            self.write(src)
        }
        fn consumer_gone(&self) -> bool {
            self.is_abandoned()
        }
    }

    impl Tx for ShmProducer<'_> {
        #[inline(always)]
        fn put(&mut self, src: &[u8]) -> Result<WriteOutcome, WriteError> {
            self.write(src)
        }
        fn consumer_gone(&self) -> bool {
            self.is_abandoned()
        }
    }

    impl Rx for Consumer<'_> {
        #[inline(always)]
        fn get(&mut self, dst: &mut [u8]) -> Result<ReadOutcome, ReadError> {
            self.read(dst)
        }
        fn protocol_errors(&self) -> u64 {
            self.counters().protocol_errors
        }
        fn producer_gone(&self) -> bool {
            self.is_abandoned()
        }
    }

    impl Rx for ShmConsumer<'_> {
        #[inline(always)]
        fn get(&mut self, dst: &mut [u8]) -> Result<ReadOutcome, ReadError> {
            self.read(dst)
        }
        fn protocol_errors(&self) -> u64 {
            self.counters().protocol_errors
        }
        fn producer_gone(&self) -> bool {
            self.is_abandoned()
        }
    }

    /// The byte at `i` of every chunk outside the stamps.
    fn pattern(i: usize) -> u8 {
        (i * 7 + 3) as u8
    }

    /// The stamp of line `line` of chunk `seq`.
    fn stamp(seq: u64, line: usize) -> [u8; 8] {
        ((seq << 8) | line as u64).to_le_bytes()
    }

    /// A chunk: the pattern, with `seq`'s stamps at the start of each line.
    fn stamp_chunk(chunk: &mut [u8], seq: u64) {
        for line in 0..PERIOD / LINE {
            chunk[line * LINE..line * LINE + 8].copy_from_slice(&stamp(seq, line));
        }
    }

    /// Checks chunk `seq` as read: every stamp, and every byte if `full`.
    fn check_chunk(chunk: &[u8], seq: u64, full: bool) {
        for line in 0..PERIOD / LINE {
            let at = line * LINE;
            if chunk[at..at + 8] != stamp(seq, line) {
                panic!("chunk {seq}, line {line}: found {:?}", &chunk[at..at + 8]);
            }
        }
        if full {
            for (i, &b) in chunk.iter().enumerate() {
                if i % LINE >= 8 && b != pattern(i) {
                    panic!("chunk {seq}, byte {i}: found {b}, expected {}", pattern(i));
                }
            }
        }
    }

    /// The producer's loop: `chunks` stamped chunks, waiting while refused.
    fn produce(tx: &mut impl Tx, chunks: u64) {
        let mut src: Vec<u8> = (0..PERIOD).map(pattern).collect();
        let mut backoff = Backoff::new();
        for seq in 0..chunks {
            stamp_chunk(&mut src, seq);
            loop {
                match tx.put(black_box(&src[..])) {
                    Ok(out) => {
                        assert_eq!(out.written, PERIOD);
                        break;
                    }
                    Err(WriteError::Full { .. }) => {
                        if backoff.snooze() && tx.consumer_gone() {
                            panic!("the consumer left at chunk {seq}");
                        }
                    }
                    Err(e) => panic!("write: {e:?}"),
                }
            }
            backoff.reset();
        }
    }

    /// The consumer's loop: `chunks` chunks, each checked. While it waits
    /// it looks whether the producer left (its flag, seen twice with a read
    /// between: data published before the flag is found by that read) or
    /// its process ended (`exited`, every 1024 yields).
    fn consume(rx: &mut impl Rx, chunks: u64, mut exited: impl FnMut() -> bool) {
        let mut dst = vec![0u8; PERIOD];
        let mut backoff = Backoff::new();
        let (mut gone, mut yields) = (0u32, 0u32);
        for seq in 0..chunks {
            let mut filled = 0;
            while filled < PERIOD {
                let got = rx.get(black_box(&mut dst[filled..])).unwrap();
                assert!(!got.protocol_error, "protocol error at chunk {seq}");
                if got.data == 0 {
                    if backoff.snooze() {
                        gone = if rx.producer_gone() { gone + 1 } else { 0 };
                        yields = yields.wrapping_add(1);
                        if gone > 1 || (yields % 1024 == 0 && exited()) {
                            panic!("the producer left at chunk {seq}");
                        }
                    }
                } else {
                    backoff.reset();
                    gone = 0;
                }
                filled += got.data;
            }
            check_chunk(black_box(&dst), seq, seq % FULL_CHECK_EVERY == 0);
        }
        assert_eq!(rx.protocol_errors(), 0);
    }

    /// The producer process: attaches, says so, waits for the start word,
    /// streams.
    fn child(spec: &str) {
        let mut words = spec.split_whitespace();
        let (Some(variant), Some(chunks), Some(fd)) = (words.next(), words.next(), words.next())
        else {
            panic!("{CHILD}={spec}: expected `<variant> <chunks> <fd>`");
        };
        let chunks: u64 = chunks.parse().unwrap();
        die_with_parent();
        let map = Mapping::open(fd.parse().unwrap());
        let pinned = pin(0);
        let (base, len) = map.region();
        let control = map.control();
        let start = |control: &Control| {
            control.pinned.store(pinned.into(), Ordering::Relaxed);
            control.ready.store(1, Ordering::Release);
            let mut backoff = Backoff::new();
            while control.go.load(Ordering::Acquire) == 0 {
                backoff.snooze();
            }
        };
        match variant {
            "trusted" => {
                // SAFETY: the region is mapped for as long as `map` lives,
                // which outlives `tx`; the parent initialised it before
                // starting this process and attaches the only consumer,
                // this crate's.
                let mut tx = unsafe { shm::attach_trusted_producer(&config(), base, len) }.unwrap();
                start(control);
                produce(&mut tx, chunks);
            }
            "hardened" => {
                // SAFETY: as above; the hardening does not rely on the peer.
                let mut tx = unsafe { shm::attach_producer(&config(), base, len) }.unwrap();
                start(control);
                produce(&mut tx, chunks);
            }
            _ => panic!("unknown variant {variant}"),
        }
    }

    /// Waits for the child's `ready`, failing if it exits first.
    fn wait_ready(control: &Control, child: &mut Child) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut backoff = Backoff::new();
        while control.ready.load(Ordering::Acquire) == 0 {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("producer process exited before it started: {status}");
            }
            assert!(Instant::now() < deadline, "producer never attached");
            backoff.snooze();
        }
    }

    /// One stream of `chunks` chunks through a fresh region; its time and
    /// whether both processes were pinned.
    fn stream(map: &Mapping, variant: &str, chunks: u64, pinned_here: bool) -> (Duration, bool) {
        let control = map.control();
        control.ready.store(0, Ordering::Relaxed);
        control.go.store(0, Ordering::Relaxed);
        control.pinned.store(0, Ordering::Relaxed);
        let (base, len) = map.region();
        // SAFETY: the region is mapped while `map` lives and no handle is
        // attached to it: the previous stream's producer process has exited
        // and its consumer was dropped.
        unsafe { shm::init(&config(), base, len) }.unwrap();
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .env(CHILD, format!("{variant} {chunks} {}", map.fd))
            .spawn()
            .unwrap();
        let elapsed = match variant {
            "trusted" => {
                // SAFETY: as in `child`: the mapping outlives `rx`, the
                // producer is this crate's.
                let mut rx = unsafe { shm::attach_trusted_consumer(&config(), base, len) }.unwrap();
                wait_ready(control, &mut child);
                let start = Instant::now();
                control.go.store(1, Ordering::Release);
                consume(&mut rx, chunks, || matches!(child.try_wait(), Ok(Some(_))));
                start.elapsed()
            }
            _ => {
                // SAFETY: as above.
                let mut rx = unsafe { shm::attach_consumer(&config(), base, len) }.unwrap();
                wait_ready(control, &mut child);
                let start = Instant::now();
                control.go.store(1, Ordering::Release);
                consume(&mut rx, chunks, || matches!(child.try_wait(), Ok(Some(_))));
                start.elapsed()
            }
        };
        let status = child.wait().unwrap();
        assert!(status.success(), "producer process: {status}");
        let pinned = pinned_here && control.pinned.load(Ordering::Relaxed) == 1;
        (elapsed, pinned)
    }

    /// The `q`-quantile of sorted `v` (nearest rank).
    fn quantile(v: &[f64], q: f64) -> f64 {
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        v[i]
    }

    fn env_usize(name: &str, default: usize) -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    fn sorted(mut v: Vec<f64>) -> Vec<f64> {
        v.sort_by(f64::total_cmp);
        v
    }

    pub fn main() {
        if let Ok(spec) = std::env::var(CHILD) {
            child(&spec);
            return;
        }
        let bench = std::env::args().any(|a| a == "--bench");
        let (mib, rounds) = if bench {
            (
                env_usize("PCM_RING_SHM_STREAM_MIB", 1024),
                env_usize("PCM_RING_SHM_STREAM_ROUNDS", 41).max(1),
            )
        } else {
            (16, 1)
        };
        let chunks = ((mib << 20) / PERIOD) as u64;
        let bytes = chunks as f64 * PERIOD as f64;
        let map = Mapping::create();
        let pinned_here = pin(1);
        let mut all_pinned = true;
        // Warm-up: one short stream of each.
        for v in VARIANTS {
            all_pinned &= stream(&map, v, chunks / 16 + 1, pinned_here).1;
        }
        let mut secs = [Vec::new(), Vec::new()];
        for round in 0..rounds {
            for k in 0..VARIANTS.len() {
                let i = (round + k) % VARIANTS.len();
                let (t, pinned) = stream(&map, VARIANTS[i], chunks, pinned_here);
                all_pinned &= pinned;
                secs[i].push(t.as_secs_f64());
            }
        }
        println!(
            "two processes: {mib} MiB in {PERIOD}-byte chunks through a {RING}-byte ring, \
             {rounds} interleaved rounds, processes pinned: {}",
            if all_pinned {
                "yes (producer CPU 0, consumer CPU 1)"
            } else {
                "no"
            }
        );
        println!();
        println!("| attach | median GB/s | p25–p75 GB/s | time / trusted (medians) |");
        println!("|---|---:|---:|---:|");
        let median = |i: usize| quantile(&sorted(secs[i].clone()), 0.5);
        for (i, v) in VARIANTS.iter().enumerate() {
            let rate = sorted(secs[i].iter().map(|s| bytes / s / 1e9).collect());
            println!(
                "| {v} | {:.2} | {:.2}–{:.2} | {:.2} |",
                quantile(&rate, 0.5),
                quantile(&rate, 0.25),
                quantile(&rate, 0.75),
                median(i) / median(0),
            );
        }
        let ratio = sorted((0..rounds).map(|r| secs[1][r] / secs[0][r]).collect());
        println!();
        println!(
            "hardened / trusted time, per round: median {:.2} (p10–p90 {:.2}–{:.2}, \
             min–max {:.2}–{:.2}, {} of {rounds} rounds above 1)",
            quantile(&ratio, 0.5),
            quantile(&ratio, 0.1),
            quantile(&ratio, 0.9),
            ratio[0],
            ratio[rounds - 1],
            ratio.iter().filter(|&&r| r > 1.0).count(),
        );
    }
}

fn main() {
    #[cfg(unix)]
    imp::main();
    #[cfg(not(unix))]
    eprintln!("shm_stream maps shared memory with libc: unix only");
}

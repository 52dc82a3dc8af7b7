//! Two processes streaming audio through a ring in shared memory.
//!
//! ```text
//! cargo run --release --example shm_ipc              # an honest producer
//! cargo run --release --example shm_ipc -- --hostile # one that scribbles for a moment
//! ```
//!
//! The parent plays the driver: it maps a temporary file `MAP_SHARED`,
//! initialises a 20 ms ring of 48 kHz stereo `i16` in it, attaches the
//! hardened consumer, and starts a copy of itself (`--producer <path>`) as
//! the application. The application maps the same file, attaches the
//! hardened producer, and writes a 440 Hz sine for 2 s, paced by the fill
//! level as an audio application would be, then drops its handle (the end
//! of the stream). The driver reads one 10 ms period every 10 ms and checks
//! that the sine is continuous sample to sample (a sine satisfies
//! `x[n+1] = 2cos(w)x[n] - x[n-1]`, so a lost, repeated or corrupted sample
//! shows, whatever the phase). It prints the counters and a verdict, and
//! exits non-zero if an honest stream had protocol errors or glitches, or a
//! hostile one went unnoticed or did not recover.
//!
//! With `--hostile`, the application scribbles invalid write positions and
//! random data into the region for 100 ms in the middle of the stream. The
//! driver counts the protocol errors, plays silence while the positions are
//! broken (garbage samples already in the ring are acceptable; touching
//! memory outside the region is not, and cannot happen), and follows the
//! stream again as soon as the application writes honestly.
//!
//! In a real system the application is a user-mode process and the
//! consumer is a driver: the application allocates the page-aligned region
//! and hands it over in an IOCTL; the driver locks the pages, maps them into
//! system space, checks the length, and attaches the hardened consumer,
//! which validates the header once. From then on the application writes
//! audio with no system call, and nothing it writes into its pages can make
//! the driver read or write outside them, panic or hang.

use std::process::ExitCode;

#[cfg(not(unix))]
fn main() -> ExitCode {
    println!("shm_ipc maps shared memory with mmap(2): Unix only; nothing to do here.");
    ExitCode::SUCCESS
}

#[cfg(unix)]
fn main() -> ExitCode {
    ipc::main()
}

#[cfg(unix)]
mod ipc {
    use std::f64::consts::TAU;
    use std::os::fd::AsRawFd;
    use std::process::{Command, ExitCode};
    use std::ptr::NonNull;
    use std::sync::atomic::{AtomicU32, Ordering::Acquire, Ordering::Release};
    use std::time::{Duration, Instant};

    use pcm_ring::{shm, Config, Counters, Format, SampleFormat};

    const RATE: usize = 48_000;
    const HZ: f64 = 440.0;
    const RING_FRAMES: usize = RATE / 50; // 20 ms
    const PERIOD_FRAMES: usize = RATE / 100; // 10 ms
    const STREAM_FRAMES: usize = 2 * RATE; // 2 s
    const FRAME_BYTES: usize = 4;

    fn config() -> Config {
        Config::new(Format::new(SampleFormat::I16, 2), RING_FRAMES)
            .start_threshold(PERIOD_FRAMES * FRAME_BYTES)
    }

    /// Sample `n` of the sine, as the application makes it.
    fn sine(n: usize) -> i16 {
        (0.5 * f64::from(i16::MAX) * (TAU * HZ * n as f64 / RATE as f64).sin()).round() as i16
    }

    /// A file mapped shared, read-write.
    struct Mapping {
        base: NonNull<u8>,
        len: usize,
    }

    impl Mapping {
        fn new(file: &std::fs::File, len: usize) -> std::io::Result<Mapping> {
            // SAFETY: a new shared mapping of a file opened read-write and at
            // least `len` long; the kernel picks the (page-aligned) address.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    file.as_raw_fd(),
                    0,
                )
            };
            match NonNull::new(ptr.cast::<u8>()) {
                Some(base) if ptr != libc::MAP_FAILED => Ok(Mapping { base, len }),
                _ => Err(std::io::Error::last_os_error()),
            }
        }

        /// The 32-bit word at byte `offset`, as a peer writes it.
        fn word(&self, offset: usize) -> &AtomicU32 {
            assert!(offset % 4 == 0 && offset + 4 <= self.len);
            // SAFETY: aligned, inside the mapping, which outlives the
            // borrow; the ring accesses shared memory only atomically.
            unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast()) }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: the mapping `new` made; the ring handles are gone.
            unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
        }
    }

    pub fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().collect();
        let hostile = args.iter().any(|a| a == "--hostile");
        let result = match args.iter().position(|a| a == "--producer") {
            Some(i) => application(args.get(i + 1).map_or("", String::as_str), hostile),
            None => driver(hostile),
        };
        let ok = result.unwrap_or_else(|err| {
            eprintln!("shm_ipc: {err}");
            false
        });
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

    /// The application: a hardened producer writing the sine.
    fn application(path: &str, hostile: bool) -> Result<bool> {
        let config = config();
        let len = shm::region_size(&config)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        let map = Mapping::new(&file, len)?;
        // SAFETY: the mapping is valid for `len` bytes and outlives `tx`
        // (dropped first); this is the only producer.
        let mut tx = unsafe { shm::attach_producer(&config, map.base, len)? };
        let (mut n, mut refused, mut scribbles) = (0, 0u64, 0u64);
        let mut samples = vec![0i16; 2 * RING_FRAMES];
        while n < STREAM_FRAMES && !tx.is_abandoned() {
            if hostile && n >= STREAM_FRAMES / 2 && scribbles == 0 {
                scribbles = scribble(&map, len, Duration::from_millis(100));
            }
            // Keep 15 ms buffered: top up, then sleep a little.
            let frames = (tx.bytes_to_reach(15 * RATE / 1000 * FRAME_BYTES) / FRAME_BYTES)
                .min(STREAM_FRAMES - n);
            for (i, frame) in samples[..2 * frames].chunks_exact_mut(2).enumerate() {
                frame.fill(sine(n + i));
            }
            if frames > 0 {
                match tx.write_samples(&samples[..2 * frames]) {
                    Ok(out) => n += out.written / FRAME_BYTES,
                    Err(_) => refused += 1, // the consumer's position broke the protocol
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let errors = tx.counters().protocol_errors;
        drop(tx); // the end of the stream
        println!("application: wrote {n} frames, {scribbles} scribbles; {refused} writes refused, {errors} protocol errors");
        Ok(n == STREAM_FRAMES && refused == 0 && errors == 0) // the driver is honest
    }

    /// The hostile moment: invalid write positions (beyond position space,
    /// or off the frame grid) and random data, for `time`. Then the write
    /// position goes back: a producer publishes it only when it moves it,
    /// so with the ring at its target fill the garbage would stay.
    fn scribble(map: &Mapping, len: usize, time: Duration) -> u64 {
        let capacity = len - shm::HEADER_BYTES;
        let own = map.word(128).load(Acquire);
        let (mut x, mut count) = (0x9E37_79B9_7F4A_7C15u64, 0);
        let until = Instant::now() + time;
        while Instant::now() < until {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let value = (x >> 32) as u32;
            let position = [value | 1, (2 * capacity) as u32 + value % 4096][x as usize & 1];
            map.word(128).store(position, Release);
            let offset = shm::HEADER_BYTES + 4 * (x as usize % (capacity / 4));
            map.word(offset).store(value, Release);
            count += 1;
            std::thread::yield_now();
        }
        map.word(128).store(own, Release);
        count
    }

    /// Sample-to-sample continuity of the sine: each sample as the two
    /// before it predict, both channels equal.
    #[derive(Default)]
    struct Continuity {
        last: [f64; 2],
        known: usize,
        glitches: u64,
        /// Frames checked since the last glitch.
        clean: usize,
    }

    impl Continuity {
        fn check(&mut self, frames: &[i16]) {
            let k = 2.0 * (TAU * HZ / RATE as f64).cos();
            for frame in frames.chunks_exact(2) {
                let x = f64::from(frame[0]);
                let ok = frame[0] == frame[1]
                    && (self.known < 2 || (x - (k * self.last[1] - self.last[0])).abs() <= 3.0);
                if ok {
                    self.clean += 1;
                } else {
                    self.glitches += 1;
                    self.clean = 0;
                }
                self.last = [self.last[1], x];
                self.known = (self.known + 1).min(2);
            }
        }
    }

    /// The driver: a hardened consumer reading a period every 10 ms.
    fn driver(hostile: bool) -> Result<bool> {
        let config = config();
        let len = shm::region_size(&config)?;
        let path = std::env::temp_dir().join(format!("pcm-ring-shm-ipc-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.set_len(len as u64)?;
        let map = Mapping::new(&file, len)?;
        // SAFETY: the mapping is valid for `len` bytes, outlives `rx`
        // (dropped first), and nothing is attached before `init`.
        let mut rx = unsafe {
            shm::init(&config, map.base, len)?;
            shm::attach_consumer(&config, map.base, len)?
        };
        let mut command = Command::new(std::env::current_exe()?);
        command.arg("--producer").arg(&path);
        if hostile {
            command.arg("--hostile");
        }
        let mut app = command.spawn()?;

        let mut period = vec![0i16; 2 * PERIOD_FRAMES];
        let mut sine = Continuity::default();
        let (mut periods, mut flagged) = (0u64, 0u64);
        let start = Instant::now();
        let mut tick = start;
        let ended = loop {
            let out = rx.read_samples(&mut period)?;
            periods += 1;
            flagged += u64::from(out.protocol_error);
            let data = out.data / 2;
            sine.check(&period[..data]);
            if out.silence > 0 {
                sine.known = 0; // the next data starts a new run
            }
            if out.end_of_stream || start.elapsed() > Duration::from_secs(10) {
                break out.end_of_stream;
            }
            tick += Duration::from_millis(10);
            std::thread::sleep(tick.saturating_duration_since(Instant::now()));
        };
        let c = rx.counters();
        drop(rx); // the application stops when it sees the driver gone
        let app_ok = app.wait()?.success();
        drop(map);
        std::fs::remove_file(&path)?;

        let Counters {
            written,
            read,
            underruns,
            protocol_errors,
            ..
        } = c;
        let (elapsed, silence, glitches) = (start.elapsed(), c.silence(), sine.glitches);
        println!("driver: {periods} periods in {elapsed:.2?}");
        println!(
            "  written {written} B, read {read} B ({} of {STREAM_FRAMES} frames)",
            read / 4
        );
        println!("  underruns {underruns}, silence {silence} B");
        println!("  protocol errors {protocol_errors} ({flagged} periods flagged), sine glitches {glitches}");
        let whole = read == (STREAM_FRAMES * FRAME_BYTES) as u64 && written == read;
        let verdict = if !ended || !app_ok {
            Err("the stream did not end cleanly")
        } else if !hostile && (protocol_errors > 0 || glitches > 0 || !whole) {
            Err("an honest stream was damaged")
        } else if hostile && protocol_errors == 0 {
            Err("the hostile moment went unnoticed")
        } else if hostile && sine.clean < RATE / 4 {
            Err("the stream did not recover after the hostile moment")
        } else if hostile {
            Ok("survived: the broken positions were refused and counted, and the sine came back")
        } else {
            Ok("every sample arrived, in order, intact")
        };
        match verdict {
            Ok(what) => println!("verdict: OK, {what}"),
            Err(what) => println!("verdict: FAILED, {what}"),
        }
        Ok(verdict.is_ok())
    }
}

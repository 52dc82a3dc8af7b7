//! A jittery producer feeding a consumer that runs at a steady rate, the way
//! an app feeds a virtual-microphone driver whose DMA timer copies 10 ms every
//! 10 ms. Runs two setups for a few seconds each and prints their counters:
//!
//! 1. the original virtual-microphone bug: the app writes 10 ms per
//!    `Sleep(10)`, which a 15.6 ms timer tick stretches, and the ring
//!    re-primes to half full after every underrun;
//! 2. the app catches up by wall clock, but the ring still re-primes to half
//!    full after every underrun, so each short stall becomes a long silence;
//! 3. pcm-ring's way: the consumer resumes as soon as data is there
//!    (`ReArm::Immediate`) and signals a low watermark, and the producer waits
//!    for that signal and writes what `bytes_to_reach` says.
//!
//! ```text
//! cargo run --release --example jitter [seconds per setup]
//! ```

use std::thread;
use std::time::{Duration, Instant};

use pcm_ring::{Config, Counters, Overrun, ReArm};

/// 48 kHz, 16-bit stereo.
const FRAME: usize = 4;
const PERIOD: usize = 48_000 * FRAME / 100; // 10 ms = 1920 bytes
const CAPACITY: usize = 4 * PERIOD; // 40 ms

/// How the producer decides when and how much to write.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pacing {
    /// One period per coarse sleep.
    Sleep,
    /// Coarse sleep, then as many periods as the wall clock says are due.
    CatchUp,
    /// Wait for the low-watermark signal, then top up by fill level.
    LowWatermark,
}

/// A tiny deterministic xorshift generator for the jitter.
struct Jitter(u64);

impl Jitter {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % (max + 1)
    }
}

/// Sleeps like a timer whose tick is 15.6 ms: always to the next tick.
fn coarse_sleep(ms: u64) {
    let tick = Duration::from_micros(15_625);
    let ticks = Duration::from_millis(ms)
        .as_micros()
        .div_ceil(tick.as_micros())
        .max(1);
    thread::sleep(tick * ticks as u32);
}

/// Runs one setup; returns the counters and how many periods had any silence.
fn run(config: &Config, pacing: Pacing, seconds: u64) -> (Counters, u32, u32) {
    let (mut tx, mut rx) = pcm_ring::heap(config).expect("valid configuration");
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let periods = (seconds * 100) as u32;

    // This thread is the producer; the consumer wakes it on low watermark.
    let producer = thread::current();
    let consumer = thread::spawn(move || {
        let mut buf = vec![0u8; PERIOD];
        let mut glitched = 0;
        for i in 0..periods {
            // The DMA timer: steady, deadline-based.
            let deadline = start + Duration::from_millis(10 * u64::from(i + 1));
            if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            let got = rx.read(&mut buf).expect("whole blocks");
            if got.silence > 0 {
                glitched += 1;
            }
            if got.low_watermark {
                // A driver would set a KEVENT here; the app waits on it.
                producer.unpark();
            }
        }
        (rx.counters(), glitched)
    });

    let mut jitter = Jitter(0x9E37_79B9_7F4A_7C15);
    let chunk = [0x5Au8; PERIOD];
    let mut sent = 0u64;
    while Instant::now() < end {
        if pacing == Pacing::LowWatermark {
            // Wait for the low-watermark event (or at most a period), then
            // top up to 30 ms.
            thread::park_timeout(Duration::from_millis(10 + jitter.next_ms(6)));
            let n = tx.bytes_to_reach(3 * PERIOD);
            if n > 0 {
                let _ = tx.write(&vec![0x5A; n]).expect("whole blocks");
            }
        } else if pacing == Pacing::Sleep {
            // Sleep(10) on a 15.6 ms clock, then one period.
            coarse_sleep(10);
            let _ = tx.write(&chunk);
        } else {
            // Sleep(10) on a 15.6 ms clock, then catch up by wall clock.
            coarse_sleep(10 + jitter.next_ms(6));
            let due = start.elapsed().as_millis() as u64 / 10;
            while sent < due {
                let _ = tx.write(&chunk);
                sent += 1;
            }
        }
    }
    let (counters, glitched) = consumer.join().expect("consumer thread");
    (counters, glitched, periods)
}

fn print(name: &str, (c, glitched, periods): (Counters, u32, u32)) {
    println!("{name}");
    println!(
        "  periods with silence: {glitched} of {periods} ({:.1} %)",
        100.0 * f64::from(glitched) / f64::from(periods)
    );
    println!(
        "  silence: {:.1} ms priming, {:.1} ms underrun; underruns {}, overruns {}",
        c.silence_priming as f64 / (PERIOD as f64 / 10.0),
        c.silence_underrun as f64 / (PERIOD as f64 / 10.0),
        c.underruns,
        c.overruns
    );
    println!(
        "  bytes written {}, read {}, dropped {}, overwritten {}, peak fill {:.1} ms",
        c.written,
        c.read,
        c.dropped,
        c.overwritten,
        c.peak_fill as f64 / (PERIOD as f64 / 10.0)
    );
}

fn main() {
    let seconds = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    println!("48 kHz 16-bit stereo, 10 ms periods, 40 ms ring, {seconds} s per setup\n");

    let naive = Config::raw(FRAME, CAPACITY)
        .overrun(Overrun::Truncate)
        .start_threshold(CAPACITY / 2)
        .rearm(ReArm::Prime {
            restart_threshold: CAPACITY / 2,
        });
    print(
        "1. Sleep(10) per period on a 15.6 ms clock, re-prime to half full:",
        run(&naive, Pacing::Sleep, seconds),
    );
    print(
        "\n2. coarse sleep + catch-up by wall clock, re-prime to half full:",
        run(&naive, Pacing::CatchUp, seconds),
    );

    let good = Config::raw(FRAME, CAPACITY)
        .overrun(Overrun::OverwriteOldest)
        .start_threshold(PERIOD)
        .rearm(ReArm::Immediate)
        .low_watermark(2 * PERIOD);
    print(
        "\n3. low-watermark signal + bytes_to_reach, resume at once:",
        run(&good, Pacing::LowWatermark, seconds),
    );
}

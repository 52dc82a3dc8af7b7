//! A two-thread run. A producer thread gives sequence-numbered frames in
//! jittery pieces through every write entry point (`write_stream` with
//! arbitrary lengths, `write` and `grant` with whole frames); the calling
//! thread consumes them with copying reads and read grants. Every frame the
//! consumer receives is checked as it arrives, and at the end what it saw is
//! checked against the producer's tallies and the ring's counters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pcm_ring::{Config, Consumer, Counters, Overrun, Producer, ReArm, WriteError, WriteOutcome};

use super::frames::{encode_frames, modulus, Checker, Rng};

/// One run's shape.
#[derive(Clone, Debug)]
pub struct Case {
    /// Bytes per frame.
    pub block: usize,
    /// Ring capacity in bytes.
    pub capacity: usize,
    /// The overrun policy. Under `Reject` the producer retries a refused
    /// piece until it fits, so nothing may be lost.
    pub overrun: Overrun,
    /// The consumer's start threshold in bytes.
    pub start_threshold: usize,
    /// The consumer's re-arm policy.
    pub rearm: ReArm,
    /// The low watermark in bytes.
    pub low_watermark: usize,
    /// Bytes to write into the ring before the producer finishes.
    pub bytes: u64,
    /// The largest piece the producer gives at once, in bytes.
    pub max_chunk: usize,
    /// The largest read the consumer asks for, in bytes.
    pub max_read: usize,
    /// How many frames the producer may run ahead of the last frame the
    /// consumer received (while the ring holds data for the consumer to
    /// catch up with), so that the consumer sees a fair share of the frames
    /// even when the producer is much faster.
    pub max_lead: u64,
    /// Seeds the choices of both threads.
    pub seed: u64,
}

impl Case {
    /// A case with `capacity_blocks` frames of `block` bytes, no thresholds,
    /// and pieces and reads of up to twice the capacity (`Reject`: pieces
    /// that can always fit once the consumer catches up).
    pub fn new(block: usize, capacity_blocks: usize, overrun: Overrun, bytes: u64) -> Case {
        let capacity = block * capacity_blocks;
        let max_chunk = match overrun {
            Overrun::Reject => capacity - 2 * block,
            _ => 2 * capacity,
        };
        Case {
            block,
            capacity,
            overrun,
            start_threshold: 0,
            rearm: ReArm::Immediate,
            low_watermark: 0,
            bytes,
            max_chunk,
            max_read: 2 * capacity,
            max_lead: 4 * capacity_blocks as u64,
            seed: ((block as u64) << 8) | overrun as u64,
        }
    }

    /// The ring's configuration.
    pub fn config(&self) -> Config {
        Config::raw(self.block, self.capacity)
            .overrun(self.overrun)
            .start_threshold(self.start_threshold)
            .rearm(self.rearm)
            .low_watermark(self.low_watermark)
    }
}

/// What a run did.
#[derive(Debug)]
pub struct Report {
    /// The ring's counters at the end.
    pub counters: Counters,
    /// Frames the producer gave.
    pub frames_given: u64,
    /// Frames the consumer received.
    pub frames_seen: u64,
    /// Pieces `Reject` refused (then given again).
    pub refusals: u64,
    /// From the producer's start to its end and the consumer's.
    pub elapsed: Duration,
}

/// What the threads share besides the ring.
#[derive(Default)]
struct Progress {
    /// Frames the producer has given or is giving: an upper bound on every
    /// sequence number the consumer can receive.
    given: AtomicU64,
    /// The sequence number the consumer expects next.
    seen: AtomicU64,
    /// Set when the consumer stops, so that a producer waiting for it stops
    /// too instead of hanging a failed run.
    stop: AtomicBool,
}

/// Sets [`Progress::stop`] however the consumer returns or unwinds.
struct StopOnDrop(Arc<Progress>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Release);
    }
}

/// The producer's own account of what it did.
#[derive(Debug, Default)]
struct Given {
    frames: u64,
    bytes: u64,
    written: u64,
    dropped: u64,
    overwritten: u64,
    /// Pieces refused (then given again); a refusal drops nothing.
    refusals: u64,
}

impl Given {
    fn add(&mut self, o: &WriteOutcome) {
        self.written += o.written as u64;
        self.dropped += o.dropped as u64;
        self.overwritten += o.overwritten as u64;
    }
}

/// Gives a piece until the ring takes it: only `Reject` refuses.
fn retry(
    given: &mut Given,
    overrun: Overrun,
    progress: &Progress,
    len: usize,
    mut write: impl FnMut() -> Result<WriteOutcome, WriteError>,
) -> Option<WriteOutcome> {
    loop {
        match write() {
            Ok(o) => return Some(o),
            Err(WriteError::Full { .. }) if overrun == Overrun::Reject => {
                given.refusals += 1;
                if progress.stop.load(Ordering::Acquire) {
                    return None;
                }
                thread::yield_now();
            }
            Err(e) => panic!("{overrun:?}: write of {len} bytes failed: {e}"),
        }
    }
}

fn produce(case: &Case, mut tx: Producer<'static>, progress: &Progress) -> Given {
    let block = case.block;
    let b = block as u64;
    let mut rng = Rng::new(case.seed);
    let mut frames = Vec::new();
    let mut given = Given::default();
    // Small frames carry their sequence number modulo `modulus`: keep the
    // producer's lead and its pieces below a quarter of it, so that fewer
    // than `modulus` frames lie between two frames the consumer receives.
    let (lead_limit, max_chunk) = match modulus(block) {
        Some(m) => (
            case.max_lead.min(m / 4),
            case.max_chunk.min((m / 4) as usize * block),
        ),
        None => (case.max_lead, case.max_chunk),
    };
    // The consumer surely catches up (and the producer may wait for it) only
    // while the ring holds enough for it to stream.
    let restart = match case.rearm {
        ReArm::Prime { restart_threshold } => restart_threshold,
        ReArm::Immediate => 0,
    };
    let wake = case.start_threshold.max(restart).max(1);
    assert!(
        wake == 1 || modulus(block).is_none(),
        "small frames need a consumer that streams whenever there is data"
    );
    let max_frames = (max_chunk / block).max(1);
    let mut pos = 0u64; // stream bytes given
    while given.written < case.bytes || pos % b != 0 {
        // Strict writes and grants only on a frame boundary.
        let op = if pos % b == 0 { rng.range(0, 2) } else { 0 };
        let len = if op == 0 {
            rng.range(1, max_chunk)
        } else {
            rng.range(1, max_frames) * block
        };
        let first = pos / b;
        let end = (pos + len as u64).div_ceil(b);
        while end - progress.seen.load(Ordering::Acquire) > lead_limit && tx.fill() >= wake {
            if progress.stop.load(Ordering::Acquire) {
                return given;
            }
            thread::yield_now();
        }
        progress.given.store(end, Ordering::Release);
        encode_frames(block, first, (end - first) as usize, &mut frames);
        let skip = (pos % b) as usize;
        let piece = &frames[skip..skip + len];
        match op {
            0 => {
                let held = tx.held_partial().len();
                let Some(o) = retry(&mut given, case.overrun, progress, len, || {
                    tx.write_stream(piece)
                }) else {
                    return given;
                };
                assert_eq!(o.written + o.dropped + o.held, len + held, "{o:?}");
                assert_eq!(
                    o.held,
                    ((pos + len as u64) % b) as usize * usize::from(o.held > 0)
                );
                given.add(&o);
            }
            1 => {
                let Some(o) = retry(&mut given, case.overrun, progress, len, || tx.write(piece))
                else {
                    return given;
                };
                assert_eq!((o.written + o.dropped, o.held), (len, 0), "{o:?}");
                given.add(&o);
            }
            _ => {
                let before = tx.counters().overwritten;
                let granted = loop {
                    match tx.grant(len) {
                        Ok(mut grant) => {
                            let granted = grant.len();
                            assert!(granted <= len && granted % block == 0);
                            let (a, rest) = grant.as_mut_slices();
                            let split = a.len();
                            assert_eq!(split + rest.len(), granted);
                            a.copy_from_slice(&piece[..split]);
                            rest.copy_from_slice(&piece[split..granted]);
                            assert_eq!(grant.commit(granted), Ok(granted));
                            break granted;
                        }
                        Err(WriteError::Full { .. }) if case.overrun == Overrun::Reject => {
                            given.refusals += 1;
                            if progress.stop.load(Ordering::Acquire) {
                                return given;
                            }
                            thread::yield_now();
                        }
                        Err(e) => panic!("{:?}: grant of {len} failed: {e}", case.overrun),
                    }
                };
                given.written += granted as u64;
                given.dropped += (len - granted) as u64;
                // Only the producer writes this counter, so the difference is exact.
                given.overwritten += tx.counters().overwritten - before;
            }
        }
        pos += len as u64;
    }
    assert_eq!(tx.finish(), 0, "no partial frame is held at the end");
    given.frames = pos / b;
    given.bytes = pos;
    given
}

/// How long the consumer waits for data before it declares the run stalled.
const STALL: Duration = Duration::from_secs(60);

/// The consumer's own account.
#[derive(Debug)]
struct Seen {
    checker: Checker,
    silence: u64,
    underruns: u64,
}

fn consume(case: &Case, rx: &mut Consumer<'static>, progress: &Progress) -> Result<Seen, String> {
    let block = case.block;
    let mut rng = Rng::new(!case.seed);
    let mut checker = Checker::new(block, case.overrun != Overrun::Reject);
    let (mut silence, mut underruns) = (0u64, 0u64);
    let max_read_frames = (case.max_read / block).max(1);
    let mut dst = vec![0u8; max_read_frames * block];
    let mut last_data = Instant::now();
    loop {
        let (data, end) = if rng.range(0, 1) == 0 {
            let n = rng.range(1, max_read_frames) * block;
            let o = rx.read(&mut dst[..n]).map_err(|e| e.to_string())?;
            if o.data + o.silence != n || o.data % block != 0 {
                return Err(format!("read of {n} bytes gave {o:?}"));
            }
            if dst[o.data..n].iter().any(|&s| s != 0) {
                return Err(format!("silence is not zero after {o:?}"));
            }
            checker.feed(&dst[..o.data], progress.given.load(Ordering::Acquire))?;
            silence += o.silence as u64;
            underruns += u64::from(o.underrun);
            (o.data, o.end_of_stream)
        } else {
            let max = rng.range(1, case.max_read);
            let grant = rx.read_grant(max);
            let len = grant.len();
            if len > max || len % block != 0 {
                return Err(format!("read grant of {len} bytes for {max}"));
            }
            let release = if rng.range(0, 3) == 0 {
                rng.range(0, len / block) * block
            } else {
                len
            };
            let (a, b) = grant.as_slices();
            if a.len() + b.len() != len {
                return Err(format!(
                    "grant of {len} has slices {} + {}",
                    a.len(),
                    b.len()
                ));
            }
            let given = progress.given.load(Ordering::Acquire);
            let first = release.min(a.len());
            checker.feed(&a[..first], given)?;
            checker.feed(&b[..release - first], given)?;
            let o = grant.release(release).map_err(|e| e.to_string())?;
            if (o.data, o.silence, o.underrun) != (release, 0, false) {
                return Err(format!("release of {release} gave {o:?}"));
            }
            (release, o.end_of_stream)
        };
        progress.seen.store(checker.next, Ordering::Release);
        if end {
            return Ok(Seen {
                checker,
                silence,
                underruns,
            });
        }
        if data > 0 {
            last_data = Instant::now();
        } else if last_data.elapsed() > STALL {
            return Err(format!("no data for {STALL:?}: stalled"));
        } else {
            thread::yield_now();
        }
    }
}

/// Runs `case` and checks everything; panics with the case on any failure.
pub fn run(case: &Case) -> Report {
    let (tx, mut rx) = pcm_ring::heap(&case.config()).expect("valid case");
    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let producer = {
        let (case, progress) = (case.clone(), Arc::clone(&progress));
        thread::spawn(move || produce(&case, tx, &progress))
    };
    let seen = {
        let _stop = StopOnDrop(Arc::clone(&progress));
        consume(case, &mut rx, &progress)
    };
    let given = match producer.join() {
        Ok(given) => given,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let elapsed = start.elapsed();
    let seen = seen.unwrap_or_else(|e| panic!("{case:?}: {e}"));
    let c = rx.counters();
    let b = case.block as u64;
    let lost = given.frames - seen.checker.frames;

    assert_eq!(rx.available(), 0, "{case:?}");
    assert!(rx.is_end_of_stream(), "{case:?}");
    assert_eq!(c.read, seen.checker.frames * b, "{case:?}: {c:?}");
    assert_eq!(c.written, c.read + c.overwritten, "{case:?}: {c:?}");
    assert_eq!(c.written, given.written, "{case:?}: {c:?} {given:?}");
    assert_eq!(c.dropped, given.dropped, "{case:?}: {c:?} {given:?}");
    assert_eq!(
        c.overwritten, given.overwritten,
        "{case:?}: {c:?} {given:?}"
    );
    assert_eq!(
        given.written + given.dropped,
        given.bytes,
        "{case:?}: {given:?}"
    );
    assert!(seen.checker.next <= given.frames, "{case:?}");
    // The frames the consumer never saw are exactly what was dropped or overwritten.
    assert_eq!(lost * b, given.dropped + c.overwritten, "{case:?}: {c:?}");
    assert_eq!(c.silence(), seen.silence, "{case:?}: {c:?}");
    assert_eq!(c.underruns, seen.underruns, "{case:?}: {c:?}");
    assert!(c.peak_fill <= case.capacity as u64, "{case:?}: {c:?}");
    match case.overrun {
        Overrun::Reject => {
            assert_eq!((lost, c.overwritten), (0, 0), "{case:?}: {c:?}");
            // A refusal lost nothing: it is counted apart from overruns.
            assert_eq!(
                (c.overruns, c.refused),
                (0, given.refusals),
                "{case:?}: {c:?}"
            );
        }
        Overrun::Truncate => assert_eq!(c.overwritten, 0, "{case:?}: {c:?}"),
        Overrun::OverwriteOldest => {}
    }
    Report {
        counters: c,
        frames_given: given.frames,
        frames_seen: seen.checker.frames,
        refusals: given.refusals,
        elapsed,
    }
}

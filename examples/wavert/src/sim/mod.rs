//! A deterministic simulation, on a virtual QPC clock, of
//! app → IOCTL → ring → timer DPC → cyclic DMA buffer → audio engine.
//!
//! Everything runs on one thread in virtual time: the app's wake-ups, the
//! 1 ms high-resolution timer whose DPC updates the position at each
//! notification (as SYSVAD's does), and the audio engine that reads each
//! packet after its notification. Jitter comes from a seeded xorshift
//! generator, so a seed reproduces a run exactly.

pub mod original;
#[cfg(feature = "sim")]
pub mod plot;

use pcm_ring::{Config, Overrun, ReArm};
use pcm_ring_wavert::{CaptureStream, Format, KsState, RenderStream};

use original::{OriginalRing, SysvadClock};

/// QPC ticks per second (100 ns ticks, as on most machines).
pub const QPC: u64 = 10_000_000;
/// One millisecond in QPC ticks.
pub const MS: u64 = QPC / 1000;
/// The system timer tick that `Sleep` rounds up to: 15.625 ms.
pub const SYSTEM_TICK: u64 = 156_250;

/// A sample format of the tables.
#[derive(Clone, Copy, Debug)]
pub struct FormatSpec {
    pub name: &'static str,
    pub rate: u32,
    pub channels: u16,
    pub bits: u16,
}

pub const FORMATS: [FormatSpec; 4] = [
    FormatSpec {
        name: "48 kHz 16-bit stereo",
        rate: 48_000,
        channels: 2,
        bits: 16,
    },
    FormatSpec {
        name: "44.1 kHz 16-bit stereo",
        rate: 44_100,
        channels: 2,
        bits: 16,
    },
    FormatSpec {
        name: "48 kHz 16-bit 5.1",
        rate: 48_000,
        channels: 6,
        bits: 16,
    },
    FormatSpec {
        name: "48 kHz 8-bit stereo",
        rate: 48_000,
        channels: 2,
        bits: 8,
    },
];

impl FormatSpec {
    pub fn format(&self) -> Format {
        Format::pcm(self.rate, self.channels, self.bits).expect("valid format")
    }
    pub fn block_align(&self) -> usize {
        usize::from(self.channels) * usize::from(self.bits / 8)
    }
    /// Frames in `ms` milliseconds.
    pub fn frames_ms(&self, ms: u64) -> usize {
        (u64::from(self.rate) * ms / 1000) as usize
    }
    /// Bytes of `us` microseconds, rounded down to whole frames.
    pub fn bytes_us(&self, us: u64) -> usize {
        (u64::from(self.rate) * us / 1_000_000) as usize * self.block_align()
    }
}

/// How the app (or, for a virtual cable, the render side) feeds the ring.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// The forum thread's app: one 10 ms write, then `Sleep(10)`, which the
    /// 15.625 ms system tick stretches.
    Sleep10,
    /// Wake on the same 15.625 ms clock, then write what brings the fill to
    /// `target_us`.
    TopUp { target_us: u64 },
    /// Wait on the event the timer sets at the low watermark (`target_us`),
    /// then top up to `target_us`.
    Event { target_us: u64 },
    /// A render endpoint feeds the ring from its own DMA buffer; the capture
    /// side starts once `target_us` is buffered.
    Cable { target_us: u64 },
}

impl Pacing {
    pub fn with_target(self, target_us: u64) -> Pacing {
        match self {
            Pacing::Sleep10 => Pacing::Sleep10,
            Pacing::TopUp { .. } => Pacing::TopUp { target_us },
            Pacing::Event { .. } => Pacing::Event { target_us },
            Pacing::Cable { .. } => Pacing::Cable { target_us },
        }
    }
}

/// Which ring sits between the IOCTL and the timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingKind {
    /// The forum thread's driver.
    Original,
    /// pcm-ring through the WaveRT adapter, recommended configuration.
    PcmRing,
}

/// Jitter bounds, in QPC ticks.
#[derive(Clone, Copy, Debug)]
pub struct Jitter {
    /// DPC latency after each 1 ms timer expiration.
    pub dpc: u64,
    /// App thread wake-up latency after its tick or event.
    pub app: u64,
    /// Audio engine wake-up latency after a notification.
    pub engine: u64,
}

pub const JITTER: Jitter = Jitter {
    dpc: 300 * MS / 1000,
    app: MS,
    engine: 500 * MS / 1000,
};

/// One simulation run's settings.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    pub format: FormatSpec,
    pub ring: RingKind,
    pub pacing: Pacing,
    pub seed: u64,
    /// Simulated time, QPC ticks.
    pub duration: u64,
    /// When the capture client starts the stream (the app starts at 0).
    pub run_at: u64,
    /// The capture client pauses the stream: (start, length).
    pub pause: Option<(u64, u64)>,
    /// Keep a trace for the plots.
    pub trace: bool,
}

/// DMA buffer: 10 ms, two notifications (5 ms packets), as a WaveRT
/// capture client typically asks.
pub const DMA_MS: u64 = 10;
pub const NOTIFICATIONS: u32 = 2;
/// The ring holds four DMA buffers (40 ms), as the original driver's did.
pub const RING_BUFFERS: usize = 4;

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// 10 ms periods (of captured frames) since the first data frame.
    pub periods: u64,
    pub silent_periods: u64,
    /// Timer copies that found the ring short after the first data.
    pub underruns: u64,
    pub silence_frames: u64,
    pub data_frames: u64,
    /// Frames of silence written as zero bytes where the format's silence is
    /// not zero (unsigned 8-bit: 0x00 is full-scale negative).
    pub wrong_silence_frames: u64,
    /// Frames that are neither whole data frames nor silence: the stream is
    /// off the frame grid.
    pub misaligned_frames: u64,
    pub dropped_bytes: u64,
    pub overwritten_bytes: u64,
    pub overruns: u64,
    /// Latency of the data frames written while the stream ran, QPC ticks.
    pub latency_sum: u128,
    pub latency_n: u64,
    pub latency_max: u64,
    /// Bytes the app delivered and bytes the stream consumed while running.
    pub app_bytes: u64,
    pub consumed_bytes: u64,
    /// The original ring: overruns that left its reader off the frame grid,
    /// and by how many bytes.
    pub misaligning_overruns: u64,
    pub byte_shift: usize,
    /// Runs of silence between data (after the first data): count, total
    /// and longest, in frames.
    pub gaps: u64,
    pub gap_frames: u64,
    pub gap_max: u64,
    pub trace: Trace,
    pub bytes_per_ms: f64,
    pub rate: u32,
}

/// Samples for the plots: (ms, fill ms) at each timer copy, and silence ms
/// per 10 ms period (at the period's capture time).
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub fill: Vec<(f64, f64)>,
    pub silence: Vec<(f64, f64)>,
}

impl Stats {
    pub fn ms(&self, frames: u64) -> f64 {
        frames as f64 * 1000.0 / f64::from(self.rate)
    }
    pub fn bytes_ms(&self, bytes: u64) -> f64 {
        bytes as f64 / self.bytes_per_ms
    }
    pub fn mean_latency_ms(&self) -> f64 {
        if self.latency_n == 0 {
            return 0.0;
        }
        (self.latency_sum / u128::from(self.latency_n)) as f64 / MS as f64
    }
    pub fn max_latency_ms(&self) -> f64 {
        self.latency_max as f64 / MS as f64
    }
    pub fn silent_share(&self) -> f64 {
        if self.periods == 0 {
            return 0.0;
        }
        100.0 * self.silent_periods as f64 / self.periods as f64
    }
}

/// A tiny deterministic xorshift generator.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// 0..=max
    pub fn upto(&mut self, max: u64) -> u64 {
        self.next() % (max + 1)
    }
}

/// Frames carry their sequence number in base-127 digits: byte 0 in 1..=127,
/// the other bytes in 0x81..=0xFF. So no data byte is 0 or 0x80 (silence),
/// and any shift off the frame grid puts a high byte first: detectable.
pub struct Codec {
    block_align: usize,
    digits: u32,
    modulus: u64,
    silence: Vec<u8>,
}

impl Codec {
    pub fn new(spec: &FormatSpec) -> Self {
        let block_align = spec.block_align();
        let digits = block_align.min(4) as u32;
        let format = spec.format();
        let pattern = format.silence().pattern().to_vec();
        let silence = pattern.iter().cycle().take(block_align).copied().collect();
        Codec {
            block_align,
            digits,
            modulus: 127u64.pow(digits),
            silence,
        }
    }

    pub fn encode(&self, seq: u64, out: &mut [u8]) {
        let mut v = seq % self.modulus;
        for (i, b) in out.iter_mut().enumerate() {
            let d = if (i as u32) < self.digits {
                let d = v % 127;
                v /= 127;
                d
            } else {
                i as u64 % 127
            } as u8;
            *b = if i == 0 { 1 + d } else { 0x81 + d };
        }
    }

    /// A frame's class: silence, data (with its number: the newest frame
    /// written so far, `written - 1` at most, whose digits match), or
    /// neither. A frame is heard at most a ring and a DMA buffer after it
    /// was written, far less than the 127^digits frames the digits tell
    /// apart.
    pub fn decode(&self, frame: &[u8], written: u64) -> Frame {
        if frame == &self.silence[..] {
            return Frame::Silence;
        }
        if frame.iter().all(|&b| b == 0) {
            return Frame::ZeroFill;
        }
        let ok = (1..=127).contains(&frame[0]) && frame[1..].iter().all(|&b| b >= 0x81);
        if !ok {
            return Frame::Bad;
        }
        let mut v = 0u64;
        for i in (0..self.digits as usize).rev() {
            let d = if i == 0 {
                frame[0] - 1
            } else {
                frame[i] - 0x81
            };
            v = v * 127 + u64::from(d);
        }
        // The largest number below `written` congruent to v.
        let m = self.modulus;
        if written == 0 {
            return Frame::Bad;
        }
        let newest = written - 1;
        let back = (newest % m + m - v) % m;
        match newest.checked_sub(back) {
            Some(seq) => Frame::Data(seq),
            None => Frame::Bad,
        }
    }

    pub fn block_align(&self) -> usize {
        self.block_align
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    Silence,
    ZeroFill,
    Data(u64),
    Bad,
}

/// The capture endpoint: either the original driver's or pcm-ring's (one
/// per run, so the size difference does not matter).
#[allow(clippy::large_enum_variant)]
enum Capture<'a> {
    Original {
        ring: OriginalRing,
        clock: SysvadClock,
        linear: u64,
        running: bool,
    },
    PcmRing {
        producer: Option<pcm_ring::Producer<'a>>,
        stream: CaptureStream<'a>,
    },
}

/// The audio engine reading the capture DMA buffer.
struct Engine {
    codec: Codec,
    /// Bytes of the DMA stream read so far.
    pos: u64,
    /// The next expected sequence number and the highest seen.
    expected: u64,
    started: bool,
    period_frames: u64,
    frames_in_period: u64,
    silence_in_period: u64,
    frame_index: u64,
    trace: bool,
    /// The current run of silence (frames).
    gap: u64,
    /// Frames written before this time waited out a stop or a pause: their
    /// latency is not the stream's.
    latency_from: u64,
}

impl Engine {
    /// Reads DMA bytes `[pos, upto)` (whole frames) at time `now`.
    fn read(&mut self, dma: &[u8], upto: u64, now: u64, writes: &[u64], stats: &mut Stats) {
        let fa = self.codec.block_align() as u64;
        let upto = upto / fa * fa;
        let size = dma.len() as u64;
        if upto > self.pos + size {
            // More than a buffer behind: those bytes are gone.
            self.pos = upto - size;
        }
        let mut frame = vec![0u8; fa as usize];
        while self.pos < upto {
            for (i, b) in frame.iter_mut().enumerate() {
                *b = dma[((self.pos + i as u64) % size) as usize];
            }
            self.pos += fa;
            let class = self.codec.decode(&frame, writes.len() as u64);
            let silent = matches!(class, Frame::Silence | Frame::ZeroFill);
            match class {
                Frame::Data(seq) if seq >= self.expected && (seq as usize) < writes.len() => {
                    self.started = true;
                    stats.data_frames += 1;
                    let written = writes[seq as usize];
                    if written >= self.latency_from {
                        let latency = now.saturating_sub(written);
                        stats.latency_sum += u128::from(latency);
                        stats.latency_n += 1;
                        stats.latency_max = stats.latency_max.max(latency);
                    }
                    self.expected = seq + 1;
                    if self.gap > 0 {
                        stats.gaps += 1;
                        stats.gap_frames += self.gap;
                        stats.gap_max = stats.gap_max.max(self.gap);
                        self.gap = 0;
                    }
                }
                Frame::Silence | Frame::ZeroFill => {
                    if self.started {
                        self.gap += 1;
                        stats.silence_frames += 1;
                        if class == Frame::ZeroFill {
                            stats.wrong_silence_frames += 1;
                        }
                    }
                }
                _ => {
                    // Off the frame grid (or out of order): counts from the
                    // first frame that is not silence.
                    self.started = true;
                    stats.misaligned_frames += 1;
                }
            }
            if self.started {
                self.frames_in_period += 1;
                if silent {
                    self.silence_in_period += 1;
                }
                if self.frames_in_period == self.period_frames {
                    stats.periods += 1;
                    if self.silence_in_period > 0 {
                        stats.silent_periods += 1;
                    }
                    if self.trace {
                        stats
                            .trace
                            .silence
                            .push((now as f64 / MS as f64, stats.ms(self.silence_in_period)));
                    }
                    self.frames_in_period = 0;
                    self.silence_in_period = 0;
                }
            }
            self.frame_index += 1;
        }
    }
}

/// The app: produces numbered frames and remembers when each was written.
struct App {
    codec_frame: Vec<u8>,
    next_seq: u64,
    /// Write time of every frame, by sequence number.
    writes: Vec<u64>,
    next_wake: u64,
    event_at: Option<u64>,
}

impl App {
    fn frames(&mut self, codec: &Codec, n: usize, now: u64) -> Vec<u8> {
        let fa = codec.block_align();
        let mut out = vec![0u8; n * fa];
        for chunk in out.chunks_mut(fa) {
            codec.encode(self.next_seq, &mut self.codec_frame[..]);
            chunk.copy_from_slice(&self.codec_frame);
            self.writes.push(now);
            self.next_seq += 1;
        }
        out
    }
}

/// `Sleep(ms)` called at `t`: wakes at the first system tick at or after
/// `t + ms`.
fn sleep_until(t: u64, ms: u64) -> u64 {
    let due = t + ms * MS;
    due.div_ceil(SYSTEM_TICK) * SYSTEM_TICK
}

/// The pcm-ring configuration the adapter recommends for a virtual
/// microphone: frames, overwrite the oldest (a microphone keeps the newest
/// audio while nobody records), the format's silence, start at once and
/// resume at once (as the port drivers do), and the low watermark at the
/// app's target.
pub fn recommended_config(spec: &FormatSpec, capacity: usize, low_watermark: usize) -> Config {
    Config::raw(spec.block_align(), capacity)
        .overrun(Overrun::OverwriteOldest)
        .silence(spec.format().silence())
        .start_threshold(0)
        .rearm(ReArm::Immediate)
        .low_watermark(low_watermark.min(capacity))
}

/// Runs one simulation.
pub fn simulate(run: &Run) -> Stats {
    if let Pacing::Cable { .. } = run.pacing {
        return simulate_cable(run);
    }
    let spec = run.format;
    let format = spec.format();
    let fa = spec.block_align();
    let codec = Codec::new(&spec);
    let mut rng = XorShift::new(run.seed);
    let dma_size = spec.frames_ms(DMA_MS) * fa;
    let capacity = RING_BUFFERS * dma_size;
    let mut stats = Stats {
        bytes_per_ms: (u64::from(spec.rate) * fa as u64) as f64 / 1000.0,
        rate: spec.rate,
        ..Stats::default()
    };
    if run.trace {
        stats.trace.fill.reserve(4096);
    }
    let target = match run.pacing {
        Pacing::TopUp { target_us } | Pacing::Event { target_us } => spec.bytes_us(target_us),
        _ => 0,
    };
    // Only the event-driven app uses the low watermark (at its target).
    let watermark = match run.pacing {
        Pacing::Event { .. } => target,
        _ => 0,
    };
    let config = recommended_config(&spec, capacity, watermark);
    let mut memory = vec![0u8; config.required_memory().expect("valid config")];
    let mut capture = match run.ring {
        RingKind::Original => Capture::Original {
            ring: OriginalRing::new(capacity, fa),
            clock: SysvadClock::new(format.bytes_per_second(), QPC),
            linear: 0,
            running: false,
        },
        RingKind::PcmRing => {
            let (producer, consumer) =
                pcm_ring::borrowed(&config, &mut memory).expect("memory sized by the config");
            let mut stream = CaptureStream::new(format, consumer).expect("same frame size");
            let size = stream
                .allocate_buffer_with_notification(dma_size, NOTIFICATIONS)
                .expect("valid buffer");
            assert_eq!(size, dma_size);
            Capture::PcmRing {
                producer: Some(producer),
                stream,
            }
        }
    };
    let mut dma = vec![0u8; dma_size];
    let period_frames = spec.frames_ms(10) as u64;
    let mut engine = Engine {
        codec: Codec::new(&spec),
        pos: 0,
        expected: 0,
        started: false,
        period_frames,
        frames_in_period: 0,
        silence_in_period: 0,
        frame_index: 0,
        trace: run.trace,
        gap: 0,
        latency_from: 0,
    };
    let mut app = App {
        codec_frame: vec![0u8; fa],
        next_seq: 0,
        writes: Vec::with_capacity(spec.frames_ms(run.duration / MS + 100)),
        next_wake: 0,
        event_at: None,
    };
    let packet_ticks = DMA_MS * MS / u64::from(NOTIFICATIONS);
    // Timer state: the 1 ms timer's next expiration, the next notification.
    let mut next_timer = u64::MAX;
    let mut next_notify = u64::MAX;
    let mut engine_at: Option<u64> = None;
    let (pause_at, resume_at) = match run.pause {
        Some((start, len)) => (start, start + len),
        None => (u64::MAX, u64::MAX),
    };
    let mut state_events = vec![(run.run_at, true)];
    if run.pause.is_some() {
        state_events.push((pause_at, false));
        state_events.push((resume_at, true));
    }
    let mut state_idx = 0;
    let period_bytes = spec.frames_ms(10) * fa;

    loop {
        let next_state = state_events.get(state_idx).map_or(u64::MAX, |e| e.0);
        let app_wake = match app.event_at {
            Some(e) => app.next_wake.min(e),
            None => app.next_wake,
        };
        let now = next_state
            .min(app_wake)
            .min(next_timer)
            .min(engine_at.unwrap_or(u64::MAX));
        if now >= run.duration {
            break;
        }
        if now == next_state {
            let run_it = state_events[state_idx].1;
            state_idx += 1;
            match &mut capture {
                Capture::Original {
                    clock,
                    running: r,
                    ring,
                    linear,
                } => {
                    if run_it {
                        clock.run(now);
                    } else {
                        // GetPositions at PAUSE: a last update.
                        let disp = clock.update(now);
                        original_copy(ring, &mut dma, linear, disp, &mut stats, engine.started);
                    }
                    *r = run_it;
                }
                Capture::PcmRing { stream, .. } => {
                    if run_it {
                        if stream.timing().state() == KsState::Stop {
                            stream.set_state(KsState::Acquire, now, QPC).unwrap();
                        }
                        stream.set_state(KsState::Pause, now, QPC).unwrap();
                        stream.set_state(KsState::Run, now, QPC).unwrap();
                    } else {
                        stream.set_state(KsState::Pause, now, QPC).unwrap();
                        let tick = stream.update_position(&mut dma, now, QPC).unwrap();
                        if tick.underrun && engine.started {
                            stats.underruns += 1;
                        }
                    }
                }
            }
            if run_it {
                engine.latency_from = now;
            }
            if run_it {
                next_timer = now + MS + rng.upto(JITTER.dpc);
                next_notify = now + packet_ticks;
            } else {
                next_timer = u64::MAX;
                next_notify = u64::MAX;
            }
            continue;
        }
        if now == next_timer {
            // The 1 ms timer's DPC (its expirations are on the 1 ms grid
            // since RUN; the DPC runs a little after).
            let grid = now - now % MS;
            next_timer = grid + MS + rng.upto(JITTER.dpc);
            if now >= next_notify {
                next_notify += packet_ticks;
                // UpdatePosition, then the notification event.
                let fill_bytes = match &mut capture {
                    Capture::Original {
                        ring,
                        clock,
                        linear,
                        ..
                    } => {
                        let disp = clock.update(now);
                        original_copy(ring, &mut dma, linear, disp, &mut stats, engine.started);
                        stats.consumed_bytes += disp;
                        ring.fill()
                    }
                    Capture::PcmRing { stream, .. } => {
                        let tick = stream.update_position(&mut dma, now, QPC).unwrap();
                        stats.consumed_bytes += tick.frames * fa as u64;
                        if tick.underrun && engine.started {
                            stats.underruns += 1;
                        }
                        if tick.low_watermark && matches!(run.pacing, Pacing::Event { .. }) {
                            app.event_at.get_or_insert(now + rng.upto(JITTER.app));
                        }
                        stream.consumer().available()
                    }
                };
                if run.trace {
                    stats
                        .trace
                        .fill
                        .push((now as f64 / MS as f64, stats.bytes_ms(fill_bytes as u64)));
                }
                engine_at.get_or_insert(now + rng.upto(JITTER.engine));
            }
            continue;
        }
        if Some(now) == engine_at {
            engine_at = None;
            let linear = match &capture {
                Capture::Original { linear, .. } => *linear,
                Capture::PcmRing { stream, .. } => stream.timing().linear_position(),
            };
            engine.read(&dma, linear, now, &app.writes, &mut stats);
            continue;
        }
        // The app wakes.
        app.event_at = None;
        let bytes = match run.pacing {
            Pacing::Sleep10 => period_bytes,
            Pacing::TopUp { .. } | Pacing::Event { .. } => match &capture {
                Capture::PcmRing {
                    producer: Some(p), ..
                } => p.bytes_to_reach(target),
                _ => 0,
            },
            Pacing::Cable { .. } => 0,
        };
        if bytes > 0 {
            let data = app.frames(&codec, bytes / fa, now);
            stats.app_bytes += data.len() as u64;
            match &mut capture {
                Capture::Original { ring, .. } => ring.put(&data),
                Capture::PcmRing {
                    producer: Some(p), ..
                } => {
                    // The IOCTL: the app's buffer in pieces of any length.
                    let split = (rng.upto(data.len() as u64)) as usize;
                    for piece in [&data[..split], &data[split..]] {
                        let _outcome = p
                            .write_stream(piece)
                            .expect("OverwriteOldest never refuses");
                    }
                }
                Capture::PcmRing { producer: None, .. } => {}
            }
        }
        if run.trace {
            let fill = match &capture {
                Capture::Original { ring, .. } => ring.fill(),
                Capture::PcmRing {
                    producer: Some(p), ..
                } => p.fill(),
                Capture::PcmRing { producer: None, .. } => 0,
            };
            stats
                .trace
                .fill
                .push((now as f64 / MS as f64, stats.bytes_ms(fill as u64)));
        }
        app.next_wake = match run.pacing {
            // Sleep(10) and the wait's 20 ms time-out both end on a system
            // tick; then the thread is scheduled a little later.
            Pacing::Sleep10 | Pacing::TopUp { .. } => sleep_until(now, 10) + rng.upto(JITTER.app),
            Pacing::Event { .. } => sleep_until(now, 20) + rng.upto(JITTER.app),
            Pacing::Cable { .. } => u64::MAX,
        };
    }

    match &capture {
        Capture::Original { ring, .. } => {
            stats.overwritten_bytes = ring.overwritten;
            stats.overruns = ring.overruns;
            // Where the reader stands relative to the app's frame grid.
            stats.misaligning_overruns = ring.misaligning_overruns;
            stats.byte_shift = ring.last_shift;
        }
        Capture::PcmRing { stream, .. } => {
            let c = stream.ring_counters();
            stats.dropped_bytes = c.dropped;
            stats.overwritten_bytes = c.overwritten;
            stats.overruns = c.overruns;
        }
    }
    stats
}

/// The original driver's timer copy: `Take(disp)` into the cyclic DMA buffer
/// at `linear % size`, zeros (`RtlZeroMemory`) for whatever `Take` did not
/// return.
fn original_copy(
    ring: &mut OriginalRing,
    dma: &mut [u8],
    linear: &mut u64,
    disp: u64,
    stats: &mut Stats,
    started: bool,
) {
    let mut tmp = vec![0u8; disp as usize];
    let got = ring.take(&mut tmp);
    if got < tmp.len() && started {
        stats.underruns += 1;
    }
    let size = dma.len() as u64;
    for (i, &b) in tmp.iter().enumerate() {
        dma[((*linear + i as u64) % size) as usize] = b;
    }
    *linear += disp;
}

/// A virtual cable: a render endpoint's engine writes numbered frames into
/// its DMA buffer, the render stream's timer copies them into the ring, and
/// the capture stream's timer copies the ring into the capture DMA buffer.
fn simulate_cable(run: &Run) -> Stats {
    let spec = run.format;
    let format = spec.format();
    let fa = spec.block_align();
    let codec = Codec::new(&spec);
    let mut rng = XorShift::new(run.seed);
    let dma_size = spec.frames_ms(DMA_MS) * fa;
    let capacity = RING_BUFFERS * dma_size;
    let target_us = match run.pacing {
        Pacing::Cable { target_us } => target_us,
        _ => 0,
    };
    let mut stats = Stats {
        bytes_per_ms: (u64::from(spec.rate) * fa as u64) as f64 / 1000.0,
        rate: spec.rate,
        ..Stats::default()
    };
    if run.trace {
        stats.trace.fill.reserve(4096);
    }
    let config = recommended_config(&spec, capacity, 0).start_threshold(spec.bytes_us(target_us));
    let mut memory = vec![0u8; config.required_memory().expect("valid config")];
    let (producer, consumer) = pcm_ring::borrowed(&config, &mut memory).expect("memory");
    let mut render = RenderStream::new(format, producer).expect("same frame size");
    let mut capture = CaptureStream::new(format, consumer).expect("same frame size");
    render
        .allocate_buffer_with_notification(dma_size, NOTIFICATIONS)
        .expect("buffer");
    capture
        .allocate_buffer_with_notification(dma_size, NOTIFICATIONS)
        .expect("buffer");
    let mut render_dma = vec![0u8; dma_size];
    let mut capture_dma = vec![0u8; dma_size];
    let size_frames = (dma_size / fa) as u64;
    let mut app = App {
        codec_frame: vec![0u8; fa],
        next_seq: 0,
        writes: Vec::new(),
        next_wake: u64::MAX,
        event_at: None,
    };
    // The render engine fills the whole buffer before RUN.
    let mut engine_written = 0u64;
    let mut refill = |render_dma: &mut [u8], app: &mut App, upto: u64, now: u64| {
        while engine_written < upto {
            let frame = app.frames(&codec, 1, now);
            let at = ((engine_written % size_frames) as usize) * fa;
            render_dma[at..at + fa].copy_from_slice(&frame);
            engine_written += 1;
        }
    };
    refill(&mut render_dma, &mut app, size_frames, 0);
    let mut engine = Engine {
        codec: Codec::new(&spec),
        pos: 0,
        expected: 0,
        started: false,
        period_frames: spec.frames_ms(10) as u64,
        frames_in_period: 0,
        silence_in_period: 0,
        frame_index: 0,
        trace: run.trace,
        gap: 0,
        latency_from: 0,
    };
    let packet_ticks = DMA_MS * MS / u64::from(NOTIFICATIONS);
    let render_start = run.run_at;
    // The engine's pre-roll, written before RUN, waited for the stream.
    engine.latency_from = render_start;
    // The capture client opens the microphone a little later, off the
    // render side's phase.
    let capture_start = run.run_at + 3 * MS + MS / 3;
    for s in [KsState::Acquire, KsState::Pause, KsState::Run] {
        render.set_state(s, render_start, QPC).unwrap();
        capture.set_state(s, capture_start, QPC).unwrap();
    }
    let mut r_timer = render_start + MS;
    let mut r_notify = render_start + packet_ticks;
    let mut c_timer = capture_start + MS;
    let mut c_notify = capture_start + packet_ticks;
    let mut engine_at: Option<u64> = None;
    loop {
        let now = r_timer.min(c_timer).min(engine_at.unwrap_or(u64::MAX));
        if now >= run.duration {
            break;
        }
        if now == r_timer {
            r_timer = now - (now - render_start) % MS + MS + rng.upto(JITTER.dpc);
            if now >= r_notify {
                r_notify += packet_ticks;
                let tick = render.update_position(&render_dma, now, QPC).unwrap();
                stats.app_bytes += tick.written as u64;
                if run.trace {
                    let fill = render.producer().fill() as u64;
                    stats
                        .trace
                        .fill
                        .push((now as f64 / MS as f64, stats.bytes_ms(fill)));
                }
                // The render engine, woken by the notification, writes the
                // packet it may now write (the buffer stays full ahead).
                let linear = render.timing().linear_frames();
                let at = now + rng.upto(JITTER.engine);
                refill(&mut render_dma, &mut app, linear + size_frames, at);
            }
            continue;
        }
        if now == c_timer {
            c_timer = now - (now - capture_start) % MS + MS + rng.upto(JITTER.dpc);
            if now >= c_notify {
                c_notify += packet_ticks;
                let tick = capture.update_position(&mut capture_dma, now, QPC).unwrap();
                stats.consumed_bytes += tick.frames * fa as u64;
                if tick.underrun && engine.started {
                    stats.underruns += 1;
                }
                if run.trace {
                    let fill = capture.consumer().available() as u64;
                    stats
                        .trace
                        .fill
                        .push((now as f64 / MS as f64, stats.bytes_ms(fill)));
                }
                engine_at.get_or_insert(now + rng.upto(JITTER.engine));
            }
            continue;
        }
        engine_at = None;
        let linear = capture.timing().linear_position();
        engine.read(&capture_dma, linear, now, &app.writes, &mut stats);
    }
    let c = capture.ring_counters();
    stats.dropped_bytes = c.dropped + render.timing().counters().dropped_bytes;
    stats.overwritten_bytes = c.overwritten;
    stats.overruns = c.overruns;
    stats
}

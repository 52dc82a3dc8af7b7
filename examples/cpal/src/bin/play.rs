//! `play`: a producer thread (a sine generator, or a WAV file read with
//! hound) writes into a pcm-ring; a cpal output callback reads from it with
//! silence fill. The producer is paced by the ring's fill level, never by a
//! wall-clock sleep. At the end it prints the ring's counters and cpal's
//! xruns.

mod common;

use std::fs::File;
use std::io::BufReader;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{OutputCallbackInfo, Sample, SampleFormat, StreamConfig};
use pcm_ring::Producer;
use pcm_ring_cpal::device::{self, Direction, Request};
use pcm_ring_cpal::{FrameFormat, OutputFeed, StreamStats};

use common::{frames_to_ms, ms_to_frames, Options, Progress, ProgressLine, Report, Watchdog};

const USAGE: &str = "\
play: a producer thread -> pcm-ring -> a cpal output callback

usage: play [options]

source (default: a sine)
  --freq HZ           sine frequency (440)
  --amplitude A       sine amplitude, 0..1 (0.5)
  --wav FILE          play a WAV file instead (8/16/24/32-bit integer or 32-bit float)
  --seconds S         how long to play (sine: 2; WAV: the whole file)

ring
  --latency-ms MS     the fill level the producer holds (50)
  --start-ms MS       buffered audio before playback starts, the start threshold (= latency)

stream
  --device NAME       output device (default: the host's default); see its id in errors
  --format F          sample format: i8 i16 i24 i32 i64 u8 u16 u24 u32 u64 f32 f64
                      (default: the device's)
  --rate HZ           sample rate (default: the device's, or the WAV file's)
  --channels N        channel count (default: the device's)
  --buffer-frames N   cpal callback size, BufferSize::Fixed (default: the backend's)

testing
  --stall-at S        stall the producer once, S seconds into the audio
  --stall-ms MS       ... for this long (200)
  --progress          print a progress line every second (default when --seconds > 2)
  --quiet             no progress line
  --report FILE       also write the final counters as key=value lines
";

/// The callback size assumed when sizing the ring before the backend has
/// said (`BufferSize::Default`): generous, since the ring's memory is cheap and
/// the fill target, not the capacity, sets the latency.
const DEFAULT_CALLBACK_HINT: usize = 4096;

/// Callbacks the device may ask for back to back when playback starts.
const START_CALLBACKS: usize = 3;

/// Callbacks to wait for after the ring drained, so that the audio still
/// in the device (two periods with cpal's ALSA backend, and PipeWire's
/// graph) is played before the stream is dropped.
const DRAIN_CALLBACKS: u64 = 4;

/// Where the producer's audio comes from.
enum Source {
    Sine {
        freq: f64,
        amplitude: f64,
        rate: f64,
        n: u64,
    },
    Wav {
        samples: WavSamples,
        channels: usize,
        frame: Vec<f32>,
    },
}

enum WavSamples {
    Int(hound::WavIntoSamples<BufReader<File>, i32>, f32),
    Float(hound::WavIntoSamples<BufReader<File>, f32>),
}

impl Source {
    /// Fills `out` (one frame, every channel) and returns whether there was one.
    fn next_frame(&mut self, out: &mut [f32]) -> Result<bool, String> {
        match self {
            Source::Sine {
                freq,
                amplitude,
                rate,
                n,
            } => {
                // From the frame index, so the phase never drifts.
                let phase = (*n as f64 * *freq / *rate).fract();
                let x = (*amplitude * (std::f64::consts::TAU * phase).sin()) as f32;
                out.fill(x);
                *n += 1;
                Ok(true)
            }
            Source::Wav {
                samples,
                channels,
                frame,
            } => {
                for (i, slot) in frame.iter_mut().enumerate() {
                    let next = match samples {
                        WavSamples::Int(s, scale) => s.next().map(|r| r.map(|v| v as f32 * *scale)),
                        WavSamples::Float(s) => s.next(),
                    };
                    match next {
                        None if i == 0 => return Ok(false),
                        None => return Err("the WAV file ends in the middle of a frame".into()),
                        Some(Err(e)) => return Err(format!("reading the WAV file: {e}")),
                        Some(Ok(v)) => *slot = v,
                    }
                }
                // File channel c % file channels goes to device channel c.
                for (c, o) in out.iter_mut().enumerate() {
                    *o = frame[c % *channels];
                }
                Ok(true)
            }
        }
    }
}

/// Opens a WAV file, with errors that say which file and what is wrong.
fn open_wav(path: &str) -> Result<(Source, hound::WavSpec, u32), String> {
    let reader = hound::WavReader::open(path).map_err(|e| match e {
        hound::Error::IoError(io) => format!("cannot open WAV file {path}: {io}"),
        other => format!("{path} is not a WAV file this program can read: {other}"),
    })?;
    let spec = reader.spec();
    let frames = reader.duration();
    if spec.channels == 0 {
        return Err(format!("{path}: the WAV file has no channels"));
    }
    let samples = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            WavSamples::Int(reader.into_samples(), 1.0 / (1u64 << (bits - 1)) as f32)
        }
        (hound::SampleFormat::Float, 32) => WavSamples::Float(reader.into_samples()),
        (format, bits) => {
            return Err(format!(
                "{path}: unsupported WAV sample format ({bits}-bit {format:?})"
            ))
        }
    };
    let channels = usize::from(spec.channels);
    Ok((
        Source::Wav {
            samples,
            channels,
            frame: vec![0.0; channels],
        },
        spec,
        frames,
    ))
}

/// How the producer runs.
struct Plan {
    /// Fill level to hold, in bytes.
    target: usize,
    /// Most frames per write.
    chunk_frames: usize,
    /// Frames to play, if limited.
    total_frames: Option<u64>,
    /// One injected stall: after this many frames, for this long.
    stall: Option<(u64, Duration)>,
    /// How often to look at the fill level while it is at the target.
    poll: Duration,
}

/// What the producer thread hands back.
struct Produced {
    producer: Producer<'static>,
    frames: u64,
    stalled: Option<Duration>,
}

/// The producer thread: keeps the ring at `plan.target` bytes, writing what
/// `bytes_to_reach` says, converting each sample to the stream's type `W`.
///
/// While the ring is at its target the thread parks for `plan.poll` (a
/// quarter of the target, 1 to 5 ms) and looks again: it is paced by the
/// fill level, so a late wake-up only means a larger write next time, never
/// a drift. The callback could wake it on the low-watermark signal instead,
/// but `unpark` makes a system call (a futex wake) when the thread sleeps,
/// and the callback makes none; polling costs the producer a few hundred
/// wake-ups a second and the callback nothing.
fn produce<W: bytemuck::Pod>(
    mut tx: Producer<'static>,
    mut source: Source,
    to_wire: fn(f32) -> W,
    channels: usize,
    plan: Plan,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
) -> Result<Produced, String> {
    let frame_bytes = tx.block_align();
    let mut wire: Vec<W> = Vec::with_capacity(plan.chunk_frames * channels);
    let mut frame = vec![0.0f32; channels];
    let mut generated = 0u64;
    let mut stalled = None;
    loop {
        // Stopped, or the stream (and its consumer) is gone.
        if stop.load(Ordering::Relaxed) || tx.is_abandoned() {
            break;
        }
        if let Some((at, length)) = plan.stall {
            if stalled.is_none() && generated >= at {
                // The injected fault: the producer stops, as a decoder might
                // on a slow disk. (Not pacing: the loop below is paced by the
                // fill level.)
                let t = Instant::now();
                thread::sleep(length);
                stalled = Some(t.elapsed());
            }
        }
        let due = tx.bytes_to_reach(plan.target) / frame_bytes;
        if due == 0 {
            progress.fill.store(tx.fill() as u64, Ordering::Relaxed);
            progress.set_counters(tx.counters());
            thread::park_timeout(plan.poll);
            continue;
        }
        let mut n = due.min(plan.chunk_frames) as u64;
        if let Some(total) = plan.total_frames {
            n = n.min(total - generated);
        }
        if let (Some((at, _)), None) = (plan.stall, stalled) {
            if at > generated {
                n = n.min(at - generated);
            }
        }
        wire.clear();
        let mut peak = 0.0f32;
        let mut ended = false;
        for _ in 0..n {
            if !source.next_frame(&mut frame)? {
                ended = true;
                break;
            }
            for &x in &frame {
                peak = peak.max(x.abs());
                wire.push(to_wire(x));
            }
        }
        let outcome = tx
            .write(bytemuck::cast_slice(&wire))
            .map_err(|e| format!("ring write: {e}"))?;
        generated += (outcome.written / frame_bytes) as u64;
        progress.peak(peak);
        progress.fill.store(tx.fill() as u64, Ordering::Relaxed);
        progress.set_counters(tx.counters());
        if ended || plan.total_frames == Some(generated) {
            let _ = tx.finish();
            break;
        }
    }
    Ok(Produced {
        producer: tx,
        frames: generated,
        stalled,
    })
}

/// Spawns the producer with the conversion to the stream's sample type.
fn spawn_producer(
    format: SampleFormat,
    tx: Producer<'static>,
    source: Source,
    channels: usize,
    plan: Plan,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
) -> Result<thread::JoinHandle<Result<Produced, String>>, String> {
    macro_rules! spawn {
        ($t:ty, $conv:expr) => {{
            let to_wire: fn(f32) -> $t = $conv;
            thread::Builder::new()
                .name("producer".into())
                .spawn(move || produce(tx, source, to_wire, channels, plan, progress, stop))
                .map_err(|e| format!("cannot start the producer thread: {e}"))
        }};
    }
    match format {
        SampleFormat::I8 => spawn!(i8, i8::from_sample),
        SampleFormat::I16 => spawn!(i16, i16::from_sample),
        // 24-bit samples travel in 4-byte containers, as cpal lays them out.
        SampleFormat::I24 => spawn!(i32, |x| cpal::I24::from_sample(x).inner()),
        SampleFormat::I32 => spawn!(i32, i32::from_sample),
        SampleFormat::I64 => spawn!(i64, i64::from_sample),
        SampleFormat::U8 => spawn!(u8, u8::from_sample),
        SampleFormat::U16 => spawn!(u16, u16::from_sample),
        SampleFormat::U24 => spawn!(i32, |x| cpal::U24::from_sample(x).inner()),
        SampleFormat::U32 => spawn!(u32, u32::from_sample),
        SampleFormat::U64 => spawn!(u64, u64::from_sample),
        SampleFormat::F32 => spawn!(f32, |x| x),
        SampleFormat::F64 => spawn!(f64, f64::from),
        other => Err(pcm_ring_cpal::Error::UnsupportedFormat(other).to_string()),
    }
}

/// Builds the output stream whose callback is `feed.fill`.
fn build_stream(
    device: &cpal::Device,
    config: StreamConfig,
    format: SampleFormat,
    mut feed: OutputFeed<'static>,
    stats: Arc<StreamStats>,
) -> Result<cpal::Stream, pcm_ring_cpal::Error> {
    let on_error = move |e: cpal::Error| stats.record_error(&e);
    macro_rules! typed {
        ($t:ty) => {
            device.build_output_stream(
                config,
                move |out: &mut [$t], _: &OutputCallbackInfo| {
                    // Data, then silence; never allocates, locks or blocks.
                    // A failure already played silence and was counted.
                    let _ = feed.fill(out);
                },
                on_error,
                None,
            )
        };
    }
    let stream = match format {
        SampleFormat::I8 => typed!(i8),
        SampleFormat::I16 => typed!(i16),
        SampleFormat::I32 => typed!(i32),
        SampleFormat::I64 => typed!(i64),
        SampleFormat::U8 => typed!(u8),
        SampleFormat::U16 => typed!(u16),
        SampleFormat::U32 => typed!(u32),
        SampleFormat::U64 => typed!(u64),
        SampleFormat::F32 => typed!(f32),
        SampleFormat::F64 => typed!(f64),
        SampleFormat::I24 | SampleFormat::U24 => device.build_output_stream_raw(
            config,
            format,
            move |data: &mut cpal::Data, _: &OutputCallbackInfo| {
                let _ = feed.fill_bytes(data.bytes_mut());
            },
            on_error,
            None,
        ),
        other => return Err(pcm_ring_cpal::Error::UnsupportedFormat(other)),
    }?;
    Ok(stream)
}

fn run() -> Result<(), String> {
    let mut opts = Options::from_env(USAGE);
    if opts.help() {
        print!("{}", opts.usage());
        return Ok(());
    }
    let freq: f64 = opts.parse("--freq")?.unwrap_or(440.0);
    let amplitude: f64 = opts.parse("--amplitude")?.unwrap_or(0.5);
    let wav = opts.value("--wav")?;
    let seconds: Option<f64> = opts.parse("--seconds")?;
    let latency_ms: f64 = opts.parse("--latency-ms")?.unwrap_or(50.0);
    let start_ms: Option<f64> = opts.parse("--start-ms")?;
    let device_name = opts.value("--device")?;
    let format_name = opts.value("--format")?;
    let rate: Option<u32> = opts.parse("--rate")?;
    let channels: Option<u16> = opts.parse("--channels")?;
    let buffer_frames: Option<u32> = opts.parse("--buffer-frames")?;
    let stall_at: Option<f64> = opts.parse("--stall-at")?;
    let stall_ms: f64 = opts.parse("--stall-ms")?.unwrap_or(200.0);
    let progress_flag = opts.flag("--progress");
    let quiet = opts.flag("--quiet");
    let report_path = opts.value("--report")?;
    opts.finish()?;

    if !common::positive(freq) {
        return Err("--freq must be above 0".into());
    }
    if !(0.0..=1.0).contains(&amplitude) {
        return Err("--amplitude must be within 0..1".into());
    }
    if !(common::positive(latency_ms) && latency_ms <= 60_000.0) {
        return Err("--latency-ms must be above 0 and at most 60000".into());
    }
    if start_ms.is_some_and(|ms| !(ms.is_finite() && ms >= 0.0)) {
        return Err("--start-ms must be 0 or more".into());
    }
    if !(stall_ms.is_finite() && (0.0..=60_000.0).contains(&stall_ms)) {
        return Err("--stall-ms must be within 0..60000".into());
    }
    if stall_at.is_some_and(|s| !(s.is_finite() && s >= 0.0)) {
        return Err("--stall-at must be 0 or more".into());
    }
    if seconds.is_some_and(|s| !common::positive(s)) {
        return Err("--seconds must be above 0".into());
    }

    // The source first: a bad file fails before any audio device is opened.
    let (source, wav_rate) = match &wav {
        Some(path) => {
            let (source, spec, frames) = open_wav(path)?;
            println!(
                "source:  {path}: {} Hz, {} channels, {}-bit {:?}, {:.2} s",
                spec.sample_rate,
                spec.channels,
                spec.bits_per_sample,
                spec.sample_format,
                f64::from(frames) / f64::from(spec.sample_rate.max(1)),
            );
            (source, Some(spec.sample_rate))
        }
        None => {
            println!("source:  sine {freq} Hz, amplitude {amplitude}");
            (
                Source::Sine {
                    freq,
                    amplitude,
                    rate: 0.0,
                    n: 0,
                },
                None,
            )
        }
    };

    let host = cpal::default_host();
    let device = device::find(&host, Direction::Output, device_name.as_deref())
        .map_err(|e| e.to_string())?;
    let request = Request {
        sample_format: format_name
            .as_deref()
            .map(device::parse_format)
            .transpose()?,
        channels,
        sample_rate: rate.or(wav_rate),
        buffer_frames,
    };
    let (sample_format, config) =
        device::choose(&device, Direction::Output, &request).map_err(|e| e.to_string())?;
    let format = FrameFormat::new(sample_format, config.channels).map_err(|e| e.to_string())?;
    let rate = config.sample_rate;
    let source = match source {
        Source::Sine {
            freq, amplitude, ..
        } => Source::Sine {
            freq,
            amplitude,
            rate: f64::from(rate),
            n: 0,
        },
        wav => wav,
    };

    // Ring geometry, in frames. The capacity leaves room for a fill target
    // of three callbacks even when the backend picks the callback size.
    let latency = ms_to_frames(latency_ms, rate).max(1);
    let start = start_ms.map_or(latency, |ms| ms_to_frames(ms, rate));
    let callback_hint = buffer_frames.map_or(DEFAULT_CALLBACK_HINT, |b| b as usize);
    let capacity = 2 * latency.max(START_CALLBACKS * callback_hint);
    if start > capacity {
        return Err(format!(
            "--start-ms {} is above the ring's {:.1} ms",
            start_ms.unwrap_or(latency_ms),
            frames_to_ms(capacity as u64, rate)
        ));
    }
    let fb = format.frame_bytes();
    let ring = format
        .ring_config(capacity)
        .map_err(|e| e.to_string())?
        .start_threshold(start * fb)
        .low_watermark(latency / 2 * fb);
    let (tx, rx) = pcm_ring::heap(&ring).map_err(|e| e.to_string())?;

    let device_id = device
        .id()
        .map(|id| id.to_string())
        .unwrap_or_else(|_| "?".into());
    let stats = Arc::new(StreamStats::default());
    let feed = OutputFeed::new(rx, format, Arc::clone(&stats));
    let stream = build_stream(&device, config, sample_format, feed, Arc::clone(&stats))
        .map_err(|e| format!("cannot open the output stream: {e}"))?;
    // The backend's callback size, known once the stream exists. At start
    // the device pulls its whole buffer back to back (two callbacks with
    // cpal's ALSA backend), and PipeWire takes one of them into its graph at
    // once, which frees room for a third: the fill target covers three
    // callbacks, or the start of playback underruns.
    let callback = stream.buffer_size().map_or(callback_hint, |n| n as usize);
    let target = latency.max(START_CALLBACKS * callback).min(capacity);
    println!(
        "stream:  {device_id}, {sample_format} x{} at {rate} Hz, {callback} frames per callback ({:.1} ms)",
        config.channels,
        frames_to_ms(callback as u64, rate),
    );
    println!(
        "ring:    {capacity} frames ({:.1} ms) of {fb} bytes, target fill {:.1} ms{}, start at {:.1} ms",
        frames_to_ms(capacity as u64, rate),
        frames_to_ms(target as u64, rate),
        if target > latency {
            " (three callbacks)"
        } else {
            ""
        },
        frames_to_ms(start as u64, rate),
    );
    if START_CALLBACKS * callback > capacity {
        eprintln!(
            "play: warning: callbacks of {callback} frames leave no headroom in a ring of {capacity}; raise --latency-ms"
        );
    }

    let total_frames = seconds.map(|s| (s * f64::from(rate)).round() as u64);
    let seconds_expected = match (seconds, &wav) {
        (Some(s), _) => s,
        (None, Some(_)) => f64::INFINITY,
        (None, None) => 2.0,
    };
    let total_frames = match (total_frames, &wav) {
        (None, None) => Some(2 * u64::from(rate)),
        (t, _) => t,
    };
    let stall = stall_at.map(|s| {
        (
            (s * f64::from(rate)).round() as u64,
            Duration::from_secs_f64(stall_ms / 1000.0),
        )
    });
    let plan = Plan {
        target: target * fb,
        chunk_frames: target.min(4096),
        total_frames,
        stall,
        // A quarter of the target, within 1..5 ms: the fill never falls far
        // below the target between two looks.
        poll: Duration::from_secs_f64(
            (frames_to_ms(target as u64, rate) / 4.0).clamp(1.0, 5.0) / 1000.0,
        ),
    };

    let progress = Arc::new(Progress::default());
    let stop = Arc::new(AtomicBool::new(false));
    let producer = spawn_producer(
        sample_format,
        tx,
        source,
        usize::from(config.channels),
        plan,
        Arc::clone(&progress),
        Arc::clone(&stop),
    )?;
    // Let the producer fill the ring to the start threshold before the
    // device starts pulling (as long as it takes a decoder to get going).
    let prefill = Instant::now();
    while progress.fill.load(Ordering::Relaxed) < (start.min(target) * fb) as u64
        && !producer.is_finished()
        && prefill.elapsed() < Duration::from_secs(2)
    {
        thread::sleep(Duration::from_millis(1));
    }
    if let Err(e) = stream.play() {
        stop.store(true, Ordering::Relaxed);
        producer.thread().unpark();
        return Err(format!("cannot start playback: {e}"));
    }

    // Wait for the end of the stream, watching that callbacks keep coming.
    let show_progress = !quiet && (progress_flag || seconds_expected > 2.0);
    let mut line = ProgressLine::new();
    let began = Instant::now();
    let mut next_line = Duration::from_secs(1);
    let mut watchdog = Watchdog::new(Duration::from_secs_f64(
        callback as f64 / f64::from(rate.max(1)),
    ));
    let mut end_callbacks = None;
    let result = loop {
        thread::sleep(Duration::from_millis(10));
        let s = stats.snapshot();
        if s.end_of_stream {
            // The ring is drained, but the device still holds the last
            // callbacks' audio: dropping the stream now would cut it. Each
            // callback after the end means one more period has left the
            // device; keep the stream until the last audio has.
            let ended_at = *end_callbacks.get_or_insert(s.callbacks);
            if s.callbacks >= ended_at + DRAIN_CALLBACKS {
                break Ok(());
            }
        }
        if let Err(e) = watchdog.check(s.callbacks, &stream, "play") {
            break Err(e);
        }
        if show_progress && began.elapsed() >= next_line {
            line.print(began.elapsed(), &progress, &s, &format, rate);
            next_line += Duration::from_secs(1);
        }
    };
    line.done();
    drop(stream);
    stop.store(true, Ordering::Relaxed);
    producer.thread().unpark();
    let produced = producer
        .join()
        .map_err(|_| "the producer thread panicked".to_string())??;
    result?;

    let counters = produced.producer.counters();
    let s = stats.snapshot();
    let mut report = Report::new();
    report.add("format", sample_format);
    report.add("channels", config.channels);
    report.add("rate", rate);
    report.add("frame_bytes", fb);
    report.add("restarts", watchdog.restarts());
    report.add("produced_frames", produced.frames);
    report.add(
        "stall_ms",
        produced
            .stalled
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
            .round(),
    );
    report.counters(&counters, &s, &format);
    report.finish(
        &format!(
            "played {:.2} s ({} frames) in {:.2} s",
            frames_to_ms(produced.frames, rate) / 1000.0,
            produced.frames,
            began.elapsed().as_secs_f64()
        ),
        report_path.as_deref(),
    )
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("play: error: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `record`: a cpal input callback writes into a pcm-ring under a selectable
//! overrun policy; a writer thread drains the ring into a WAV file (hound).
//! At the end it prints the ring's counters and cpal's xruns.

mod common;

use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{InputCallbackInfo, SampleFormat, StreamConfig};
use pcm_ring::{Consumer, Overrun, Underrun};
use pcm_ring_cpal::device::{self, Direction, Request};
use pcm_ring_cpal::{FrameFormat, InputFeed, StreamStats};

use common::{frames_to_ms, ms_to_frames, Options, Progress, ProgressLine, Report, Watchdog};

const USAGE: &str = "\
record: a cpal input callback -> pcm-ring -> a writer thread -> a WAV file

usage: record --out FILE [options]

  --out FILE          the WAV file to write
  --seconds S         how long to record (3)
  --latency-ms MS     the ring's capacity (200)
  --overrun P         what the callback does when the ring is full:
                      reject (drop the whole buffer), truncate (drop the newest,
                      the default) or overwrite (drop the oldest)
  --device NAME       input device (default: the host's default)
  --format F          sample format: i8 i16 i24 i32 i64 u8 u16 u24 u32 u64 f32 f64
                      (default: the device's)
  --rate HZ           sample rate (default: the device's)
  --channels N        channel count (default: the device's)
  --buffer-frames N   cpal callback size, BufferSize::Fixed (default: the backend's)
  --progress          print a progress line every second (default when --seconds > 2)
  --quiet             no progress line
  --report FILE       also write the final counters as key=value lines
";

/// Parses an overrun policy name.
pub fn parse_overrun(name: &str) -> Result<Overrun, String> {
    match name {
        "reject" => Ok(Overrun::Reject),
        "truncate" => Ok(Overrun::Truncate),
        "overwrite" | "overwrite-oldest" => Ok(Overrun::OverwriteOldest),
        _ => Err(format!(
            "unknown overrun policy \"{name}\" (reject, truncate or overwrite)"
        )),
    }
}

/// The WAV layout for a cpal format: integer formats keep their width
/// (unsigned ones become signed, as WAV stores them; 64-bit ones keep their
/// top 32 bits), float formats become 32-bit float.
fn wav_spec(format: SampleFormat, channels: u16, rate: u32) -> hound::WavSpec {
    let (bits, sample_format) = match format {
        SampleFormat::F32 | SampleFormat::F64 => (32, hound::SampleFormat::Float),
        SampleFormat::I8 | SampleFormat::U8 => (8, hound::SampleFormat::Int),
        SampleFormat::I16 | SampleFormat::U16 => (16, hound::SampleFormat::Int),
        SampleFormat::I24 | SampleFormat::U24 => (24, hound::SampleFormat::Int),
        _ => (32, hound::SampleFormat::Int),
    };
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format,
    }
}

/// One sample as hound writes it.
enum WavValue {
    I8(i8),
    I16(i16),
    I32(i32),
    F32(f32),
}

type Wav = hound::WavWriter<BufWriter<File>>;

/// What the writer thread hands back.
struct Written {
    consumer: Consumer<'static>,
    frames: u64,
}

/// The writer thread: drains the ring into the WAV file, paced by the fill
/// level (it reads once a chunk is buffered, and drains at the end).
#[allow(clippy::too_many_arguments)]
fn write_wav<W: bytemuck::Pod>(
    mut rx: Consumer<'static>,
    mut wav: Wav,
    to_wav: fn(W) -> WavValue,
    to_level: fn(&WavValue) -> f32,
    chunk_frames: usize,
    poll: Duration,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
) -> Result<Written, String> {
    let frame_bytes = rx.block_align();
    let per_frame = frame_bytes / std::mem::size_of::<W>();
    let mut buf: Vec<W> = vec![W::zeroed(); chunk_frames * per_frame];
    let mut frames = 0u64;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let available = rx.available();
        progress.fill.store(available as u64, Ordering::Relaxed);
        progress.set_counters(rx.counters());
        if available < chunk_frames * frame_bytes && !stopping && !rx.is_end_of_stream() {
            thread::park_timeout(poll);
            continue;
        }
        // Underrun::Partial: only what is there.
        let got = rx
            .read(bytemuck::cast_slice_mut(&mut buf))
            .map_err(|e| format!("ring read: {e}"))?;
        let n = got.data / std::mem::size_of::<W>();
        let mut peak = 0.0f32;
        for &s in &buf[..n] {
            let v = to_wav(s);
            peak = peak.max(to_level(&v));
            let r = match v {
                WavValue::I8(x) => wav.write_sample(x),
                WavValue::I16(x) => wav.write_sample(x),
                WavValue::I32(x) => wav.write_sample(x),
                WavValue::F32(x) => wav.write_sample(x),
            };
            r.map_err(|e| format!("writing the WAV file: {e}"))?;
        }
        progress.peak(peak);
        frames += (got.data / frame_bytes) as u64;
        // The end: the callback's producer finished (the stream was
        // dropped) and everything was read.
        if got.end_of_stream || (got.data == 0 && (stopping || rx.is_abandoned())) {
            break;
        }
    }
    wav.finalize()
        .map_err(|e| format!("finishing the WAV file: {e}"))?;
    Ok(Written {
        consumer: rx,
        frames,
    })
}

fn spawn_writer(
    format: SampleFormat,
    rx: Consumer<'static>,
    wav: Wav,
    chunk_frames: usize,
    poll: Duration,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
) -> Result<thread::JoinHandle<Result<Written, String>>, String> {
    macro_rules! spawn {
        ($t:ty, $to_wav:expr, $scale:expr) => {{
            let to_wav: fn($t) -> WavValue = $to_wav;
            let to_level: fn(&WavValue) -> f32 = |v| match *v {
                WavValue::I8(x) => f32::from(x).abs() / 128.0,
                WavValue::I16(x) => f32::from(x).abs() / 32768.0,
                WavValue::I32(x) => (x as f32).abs() / $scale,
                WavValue::F32(x) => x.abs(),
            };
            thread::Builder::new()
                .name("wav writer".into())
                .spawn(move || {
                    write_wav(
                        rx,
                        wav,
                        to_wav,
                        to_level,
                        chunk_frames,
                        poll,
                        progress,
                        stop,
                    )
                })
                .map_err(|e| format!("cannot start the writer thread: {e}"))
        }};
    }
    const S32: f32 = 2_147_483_648.0;
    const S24: f32 = 8_388_608.0;
    match format {
        SampleFormat::I8 => spawn!(i8, WavValue::I8, S32),
        SampleFormat::U8 => spawn!(u8, |x| WavValue::I8((x ^ 0x80) as i8), S32),
        SampleFormat::I16 => spawn!(i16, WavValue::I16, S32),
        SampleFormat::U16 => spawn!(u16, |x| WavValue::I16((x ^ 0x8000) as i16), S32),
        SampleFormat::I24 => spawn!(i32, WavValue::I32, S24),
        SampleFormat::U24 => spawn!(i32, |x| WavValue::I32(x - 0x80_0000), S24),
        SampleFormat::I32 => spawn!(i32, WavValue::I32, S32),
        SampleFormat::U32 => spawn!(u32, |x| WavValue::I32((x ^ 0x8000_0000) as i32), S32),
        SampleFormat::I64 => spawn!(i64, |x| WavValue::I32((x >> 32) as i32), S32),
        SampleFormat::U64 => spawn!(
            u64,
            |x| WavValue::I32(((x ^ (1 << 63)) as i64 >> 32) as i32),
            S32
        ),
        SampleFormat::F32 => spawn!(f32, WavValue::F32, S32),
        SampleFormat::F64 => spawn!(f64, |x| WavValue::F32(x as f32), S32),
        other => Err(pcm_ring_cpal::Error::UnsupportedFormat(other).to_string()),
    }
}

/// Builds the input stream whose callback is `feed.push`.
fn build_stream(
    device: &cpal::Device,
    config: StreamConfig,
    format: SampleFormat,
    mut feed: InputFeed<'static>,
    stats: Arc<StreamStats>,
) -> Result<cpal::Stream, pcm_ring_cpal::Error> {
    let on_error = move |e: cpal::Error| stats.record_error(&e);
    macro_rules! typed {
        ($t:ty) => {
            device.build_input_stream(
                config,
                move |input: &[$t], _: &InputCallbackInfo| {
                    // Never allocates, locks or blocks; what does not fit is
                    // handled by the overrun policy and counted by the ring.
                    let _ = feed.push(input);
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
        SampleFormat::I24 | SampleFormat::U24 => device.build_input_stream_raw(
            config,
            format,
            move |data: &cpal::Data, _: &InputCallbackInfo| {
                let _ = feed.push_bytes(data.bytes());
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
    let out = opts.value("--out")?;
    let seconds: f64 = opts.parse("--seconds")?.unwrap_or(3.0);
    let latency_ms: f64 = opts.parse("--latency-ms")?.unwrap_or(200.0);
    let overrun = opts
        .value("--overrun")?
        .map_or(Ok(Overrun::Truncate), |p| parse_overrun(&p))?;
    let device_name = opts.value("--device")?;
    let format_name = opts.value("--format")?;
    let rate: Option<u32> = opts.parse("--rate")?;
    let channels: Option<u16> = opts.parse("--channels")?;
    let buffer_frames: Option<u32> = opts.parse("--buffer-frames")?;
    let progress_flag = opts.flag("--progress");
    let quiet = opts.flag("--quiet");
    let report_path = opts.value("--report")?;
    opts.finish()?;
    let out = out.ok_or("--out FILE is required (see --help)")?;
    if !common::positive(seconds) {
        return Err("--seconds must be above 0".into());
    }
    let length = Duration::try_from_secs_f64(seconds).map_err(|e| format!("--seconds: {e}"))?;
    if !(common::positive(latency_ms) && latency_ms <= 60_000.0) {
        return Err("--latency-ms must be above 0 and at most 60000".into());
    }

    let host = cpal::default_host();
    let device =
        device::find(&host, Direction::Input, device_name.as_deref()).map_err(|e| e.to_string())?;
    let request = Request {
        sample_format: format_name
            .as_deref()
            .map(device::parse_format)
            .transpose()?,
        channels,
        sample_rate: rate,
        buffer_frames,
    };
    let (sample_format, config) =
        device::choose(&device, Direction::Input, &request).map_err(|e| e.to_string())?;
    let format = FrameFormat::new(sample_format, config.channels).map_err(|e| e.to_string())?;
    let rate = config.sample_rate;

    // The file: created before the stream, so a bad path fails first.
    let wav = hound::WavWriter::create(&out, wav_spec(sample_format, config.channels, rate))
        .map_err(|e| format!("cannot create WAV file {out}: {e}"))?;

    let capacity = ms_to_frames(latency_ms, rate).max(1);
    let fb = format.frame_bytes();
    let ring = format
        .ring_config(capacity)
        .map_err(|e| e.to_string())?
        .overrun(overrun)
        .underrun(Underrun::Partial);
    let (tx, rx) = pcm_ring::heap(&ring).map_err(|e| e.to_string())?;

    let device_id = device
        .id()
        .map(|id| id.to_string())
        .unwrap_or_else(|_| "?".into());
    println!(
        "stream:  {device_id}, {sample_format} x{} at {rate} Hz, buffer {}",
        config.channels,
        match config.buffer_size {
            cpal::BufferSize::Fixed(n) => format!("{n} frames"),
            cpal::BufferSize::Default => "backend default".into(),
        }
    );
    println!(
        "ring:    {capacity} frames ({:.1} ms) of {fb} bytes, overrun {overrun:?}",
        frames_to_ms(capacity as u64, rate)
    );
    println!("file:    {out}");

    let stats = Arc::new(StreamStats::default());
    let progress = Arc::new(Progress::default());
    let stop = Arc::new(AtomicBool::new(false));
    // The writer reads once a quarter of the ring is buffered and looks a
    // few times per quarter, so the ring never comes close to full while
    // the writer keeps up.
    let chunk = (capacity / 4).max(1);
    let poll = Duration::from_secs_f64((latency_ms / 16.0).clamp(1.0, 10.0) / 1000.0);
    let writer = spawn_writer(
        sample_format,
        rx,
        wav,
        chunk,
        poll,
        Arc::clone(&progress),
        Arc::clone(&stop),
    )?;
    let feed = InputFeed::new(tx, format, Arc::clone(&stats));
    let stream = build_stream(&device, config, sample_format, feed, Arc::clone(&stats))
        .and_then(|s| s.play().map(|()| s).map_err(Into::into))
        .map_err(|e| {
            stop.store(true, Ordering::Relaxed);
            writer.thread().unpark();
            format!("cannot start recording: {e}")
        })?;

    if let Ok(callback) = stream.buffer_size() {
        if 2 * callback as usize > capacity {
            eprintln!(
                "record: warning: callbacks of {callback} frames and a ring of {capacity}: raise --latency-ms, or expect overruns"
            );
        }
    }
    println!("recording {seconds} s");
    let show_progress = !quiet && (progress_flag || seconds > 2.0);
    let mut line = ProgressLine::new();
    let began = Instant::now();
    let mut next_line = Duration::from_secs(1);
    let callback = stream.buffer_size().map_or(0, |n| n as usize);
    let mut watchdog = Watchdog::new(Duration::from_secs_f64(
        callback as f64 / f64::from(rate.max(1)),
    ));
    let result = loop {
        thread::sleep(Duration::from_millis(10));
        if began.elapsed() >= length {
            break Ok(());
        }
        if writer.is_finished() {
            break Err("the writer thread stopped early".to_string());
        }
        let s = stats.snapshot();
        if let Err(e) = watchdog.check(s.callbacks, &stream, "record") {
            break Err(e);
        }
        if show_progress && began.elapsed() >= next_line {
            line.print(began.elapsed(), &progress, &s, &format, rate);
            next_line += Duration::from_secs(1);
        }
    };
    line.done();
    // Dropping the stream drops the callback and its producer, which marks
    // the end of the stream: the writer drains the rest and finishes.
    drop(stream);
    stop.store(true, Ordering::Relaxed);
    writer.thread().unpark();
    let written = writer
        .join()
        .map_err(|_| "the writer thread panicked".to_string())??;
    result?;

    let counters = written.consumer.counters();
    let s = stats.snapshot();
    let mut report = Report::new();
    report.add("format", sample_format);
    report.add("channels", config.channels);
    report.add("rate", rate);
    report.add("frame_bytes", fb);
    report.add("restarts", watchdog.restarts());
    report.add("overrun_policy", format!("{overrun:?}"));
    report.add("wav_frames", written.frames);
    report.counters(&counters, &s, &format);
    report.finish(
        &format!(
            "recorded {:.2} s ({} frames) to {out}",
            frames_to_ms(written.frames, rate) / 1000.0,
            written.frames
        ),
        report_path.as_deref(),
    )
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("record: error: {e}");
            ExitCode::FAILURE
        }
    }
}

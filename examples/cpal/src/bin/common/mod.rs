//! What `play` and `record` share: option parsing, the progress line, the
//! counter report.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cpal::traits::StreamTrait;

use pcm_ring::Counters;
use pcm_ring_cpal::{FrameFormat, StreamStatsSnapshot};

/// Command-line options as `--name value` pairs and `--flag`s.
pub struct Options {
    args: VecDeque<String>,
    usage: &'static str,
}

impl Options {
    pub fn from_env(usage: &'static str) -> Options {
        Options {
            args: std::env::args().skip(1).collect(),
            usage,
        }
    }

    /// Whether `--help` was given.
    pub fn help(&self) -> bool {
        self.args.iter().any(|a| a == "--help" || a == "-h")
    }

    pub fn usage(&self) -> &'static str {
        self.usage
    }

    /// Removes `--name` and returns whether it was there.
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.args.len();
        self.args.retain(|a| a != name);
        self.args.len() != before
    }

    /// Removes `--name VALUE` and returns VALUE.
    pub fn value(&mut self, name: &str) -> Result<Option<String>, String> {
        let Some(i) = self.args.iter().position(|a| a == name) else {
            return Ok(None);
        };
        let _ = self.args.remove(i);
        self.args
            .remove(i)
            .filter(|v| !v.starts_with("--"))
            .map(Some)
            .ok_or_else(|| format!("{name} needs a value"))
    }

    /// Removes `--name VALUE` and parses VALUE.
    pub fn parse<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        match self.value(name)? {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}: \"{v}\" is not a valid value")),
        }
    }

    /// Fails on anything left over.
    pub fn finish(self) -> Result<(), String> {
        match self.args.front() {
            None => Ok(()),
            Some(a) => Err(format!("unknown option \"{a}\"")),
        }
    }
}

/// Whether `x` is a finite number above 0.
pub fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Milliseconds to whole frames at `rate`.
pub fn ms_to_frames(ms: f64, rate: u32) -> usize {
    (ms * f64::from(rate) / 1000.0).round().max(0.0) as usize
}

/// Frames to milliseconds at `rate`.
pub fn frames_to_ms(frames: u64, rate: u32) -> f64 {
    frames as f64 * 1000.0 / f64::from(rate)
}

/// Peak level in dBFS of samples in -1..1.
pub fn dbfs(peak: f32) -> String {
    if peak <= 0.0 {
        "  -inf dBFS".to_string()
    } else {
        format!("{:6.1} dBFS", 20.0 * peak.log10())
    }
}

/// Watches that the device keeps calling back. Through PipeWire's ALSA
/// plugin (0.3.65), a stream now and then plays the callbacks that fill the
/// device and is never asked again (about 1 start in 20 here); pausing and
/// resuming it (`snd_pcm_pause`, which keeps the buffered audio) gets it
/// going. The watchdog does that at most [`Watchdog::MAX_RESTARTS`] times
/// and says so, then gives up with an error.
pub struct Watchdog {
    kick_after: Duration,
    restarts: u32,
    callbacks: u64,
    since: Instant,
}

impl Watchdog {
    /// Restarts before giving up.
    pub const MAX_RESTARTS: u32 = 3;
    /// How long without a callback, after the last restart, is an error.
    pub const TIMEOUT: Duration = Duration::from_secs(5);

    /// For callbacks of `callback` each: restart after four of them (at
    /// least 500 ms) without one.
    pub fn new(callback: Duration) -> Watchdog {
        Watchdog {
            kick_after: (callback * 4).max(Duration::from_millis(500)),
            restarts: 0,
            callbacks: 0,
            since: Instant::now(),
        }
    }

    /// Restarts made.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Looks at the callback count; restarts `stream` if it stalled.
    ///
    /// # Errors
    ///
    /// A message once the stream stayed silent for [`TIMEOUT`](Self::TIMEOUT)
    /// after the last restart.
    pub fn check(
        &mut self,
        callbacks: u64,
        stream: &cpal::Stream,
        program: &str,
    ) -> Result<(), String> {
        if callbacks != self.callbacks {
            self.callbacks = callbacks;
            self.since = Instant::now();
        } else if self.restarts < Self::MAX_RESTARTS && self.since.elapsed() > self.kick_after {
            self.restarts += 1;
            eprintln!(
                "{program}: the device stopped calling back after {callbacks} callbacks; restarting the stream (pause and resume, the audio kept)"
            );
            stream
                .pause()
                .and_then(|()| stream.play())
                .map_err(|e| format!("cannot restart the stalled stream: {e}"))?;
            self.since = Instant::now();
        } else if self.since.elapsed() > Self::TIMEOUT {
            return Err(format!(
                "no audio callback for {} s after {callbacks} callbacks and {} restarts: the audio server stalled or is not running",
                Self::TIMEOUT.as_secs(),
                self.restarts
            ));
        }
        Ok(())
    }
}

/// What the worker thread (producer or writer) publishes for the progress line.
#[derive(Default)]
pub struct Progress {
    /// Bytes buffered in the ring.
    pub fill: AtomicU64,
    /// The peak |sample| since the last progress line, as `f32` bits.
    pub peak: AtomicU32,
    /// The ring's counters, refreshed by the worker.
    pub counters: Mutex<Counters>,
}

impl Progress {
    pub fn peak(&self, peak: f32) {
        let _ = self
            .peak
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                (peak > f32::from_bits(bits)).then_some(peak.to_bits())
            });
    }

    pub fn take_peak(&self) -> f32 {
        f32::from_bits(self.peak.swap(0, Ordering::Relaxed))
    }

    pub fn set_counters(&self, counters: Counters) {
        if let Ok(mut c) = self.counters.lock() {
            *c = counters;
        }
    }

    pub fn counters(&self) -> Counters {
        self.counters.lock().map(|c| *c).unwrap_or_default()
    }
}

/// Prints one progress line to stderr: level, fill, glitches so far.
pub struct ProgressLine {
    tty: bool,
    printed: bool,
}

impl ProgressLine {
    pub fn new() -> ProgressLine {
        ProgressLine {
            tty: std::io::stderr().is_terminal(),
            printed: false,
        }
    }

    pub fn print(
        &mut self,
        elapsed: Duration,
        progress: &Progress,
        stats: &StreamStatsSnapshot,
        format: &FrameFormat,
        rate: u32,
    ) {
        let c = progress.counters();
        let frame = format.frame_bytes() as u64;
        let fill = progress.fill.load(Ordering::Relaxed) / frame;
        let line = format!(
            "[{:6.1} s] level {}  fill {:6.1} ms  glitches: {} underruns ({:.1} ms silence), {} overruns, {} xruns",
            elapsed.as_secs_f64(),
            dbfs(progress.take_peak()),
            frames_to_ms(fill, rate),
            c.underruns,
            frames_to_ms(c.silence_underrun / frame, rate),
            c.overruns,
            stats.xruns,
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        self.printed = true;
    }

    /// Ends the line on a terminal.
    pub fn done(&mut self) {
        if self.tty && self.printed {
            eprintln!();
        }
    }
}

/// The end-of-run report: human-readable lines, and `key=value` lines for
/// scripts (also written to a file with `--report`).
pub struct Report {
    pairs: Vec<(String, String)>,
}

impl Report {
    pub fn new() -> Report {
        Report { pairs: Vec::new() }
    }

    pub fn add(&mut self, key: &str, value: impl ToString) {
        self.pairs.push((key.to_string(), value.to_string()));
    }

    /// The ring's counters, in frames, and what the callbacks saw.
    pub fn counters(&mut self, c: &Counters, s: &StreamStatsSnapshot, format: &FrameFormat) {
        let frame = format.frame_bytes() as u64;
        for (key, bytes) in [
            ("written_frames", c.written),
            ("read_frames", c.read),
            ("dropped_frames", c.dropped),
            ("overwritten_frames", c.overwritten),
            ("silence_priming_frames", c.silence_priming),
            ("silence_underrun_frames", c.silence_underrun),
            ("silence_end_frames", c.silence_end),
            ("peak_fill_frames", c.peak_fill),
        ] {
            self.add(key, bytes / frame);
        }
        self.add("underruns", c.underruns);
        self.add("overruns", c.overruns);
        self.add("refused", c.refused);
        self.add("callbacks", s.callbacks);
        self.add("callback_frames", s.frames);
        self.add("min_callback_frames", s.min_callback_frames);
        self.add("max_callback_frames", s.max_callback_frames);
        self.add("failed_callbacks", s.failed_callbacks);
        self.add("low_watermark_events", s.low_watermark);
        self.add("xruns", s.xruns);
        self.add("stream_errors", s.errors);
    }

    /// Writes the pairs to `path` if given, and prints the summary (a closed
    /// stdout is not an error).
    pub fn finish(&self, title: &str, path: Option<&str>) -> Result<(), String> {
        let mut text = String::new();
        for (k, v) in &self.pairs {
            let _ = writeln!(text, "{k}={v}");
        }
        if let Some(path) = path {
            std::fs::write(path, &text).map_err(|e| format!("cannot write {path}: {e}"))?;
        }
        let get = |k: &str| {
            self.pairs
                .iter()
                .find(|(key, _)| key == k)
                .map_or("?", |(_, v)| v.as_str())
        };
        let summary = format!(
            "{title}\n\
             \x20 ring:      written {} frames, read {}, dropped {}, overwritten {}, peak fill {}\n\
             \x20 silence:   priming {} frames, underrun {} ({} underruns), end {}\n\
             \x20 overruns:  {} (writes that lost audio), {} refused (Reject)\n\
             \x20 callbacks: {} ({} frames in all, {}..{} per callback), {} failed, {} low-watermark crossings\n\
             \x20 cpal:      {} xruns, {} other stream errors, {} stream restarts\n",
            get("written_frames"),
            get("read_frames"),
            get("dropped_frames"),
            get("overwritten_frames"),
            get("peak_fill_frames"),
            get("silence_priming_frames"),
            get("silence_underrun_frames"),
            get("underruns"),
            get("silence_end_frames"),
            get("overruns"),
            get("refused"),
            get("callbacks"),
            get("callback_frames"),
            get("min_callback_frames"),
            get("max_callback_frames"),
            get("failed_callbacks"),
            get("low_watermark_events"),
            get("xruns"),
            get("stream_errors"),
            get("restarts"),
        );
        let _ = std::io::stdout().lock().write_all(summary.as_bytes());
        Ok(())
    }
}

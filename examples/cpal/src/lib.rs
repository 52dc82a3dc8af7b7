//! Playback and capture through a [`pcm_ring`] ring with [`cpal`].
//!
//! The piece to lift into your own program is small:
//!
//! - [`FrameFormat`]: a cpal [`SampleFormat`] and a channel count, giving the
//!   ring's block size (one frame), the format-correct [`Silence`] and a ring
//!   [`Config`] with [`Underrun::SilenceFill`];
//! - [`OutputFeed`]: owns the ring's [`Consumer`] inside a cpal output
//!   callback and fills cpal's `&mut [T]` from it (data first, then silence);
//! - [`InputFeed`]: owns the ring's [`Producer`] inside a cpal input callback
//!   and writes cpal's `&[T]` into it under the ring's overrun policy;
//! - [`StreamStats`]: what the callbacks saw (callback sizes, low-watermark
//!   crossings, the end of the stream, cpal's xruns), shared through atomics.
//!
//! Nothing on the callback path allocates, locks or blocks: a feed does one
//! ring read or write (typed through `bytemuck`, no conversion) and a few
//! relaxed atomic updates.
//!
//! ```no_run
//! use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
//! use pcm_ring_cpal::{FrameFormat, OutputFeed, StreamStats};
//! use std::sync::Arc;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = cpal::default_host().default_output_device().ok_or("no output device")?;
//! let supported = device.default_output_config()?;
//! let format = FrameFormat::new(supported.sample_format(), supported.channels())?;
//! assert_eq!(format.sample_format(), cpal::SampleFormat::F32); // this sketch writes f32
//!
//! // 100 ms of ring; start playing once 40 ms are buffered.
//! let rate = supported.sample_rate() as usize;
//! let config = format
//!     .ring_config(rate / 10)?
//!     .start_threshold(format.frame_bytes() * rate / 25);
//! let (mut producer, consumer) = pcm_ring::heap(&config)?;
//!
//! let stats = Arc::new(StreamStats::default());
//! let mut feed = OutputFeed::new(consumer, format, Arc::clone(&stats));
//! let errors = Arc::clone(&stats);
//! let stream = device.build_output_stream(
//!     supported.config(),
//!     move |out: &mut [f32], _: &cpal::OutputCallbackInfo| {
//!         let _ = feed.fill(out); // data, then silence; never blocks
//!     },
//!     move |err| errors.record_error(&err),
//!     None,
//! )?;
//! stream.play()?;
//! // A producer thread keeps the ring filled to its target:
//! let target = format.frame_bytes() * rate / 20; // 50 ms
//! let wanted = producer.bytes_to_reach(target) / format.sample_bytes();
//! let _ = producer.write_samples(&vec![0.0f32; wanted])?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use cpal::SampleFormat;
use pcm_ring::{
    Config, ConfigError, Consumer, Producer, ReadError, ReadOutcome, Silence, Underrun, WriteError,
    WriteOutcome,
};

pub mod device;

/// Why a format, a device or a stream cannot be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The sample format is not PCM that this adapter can carry (DSD, or a
    /// format newer than this adapter).
    UnsupportedFormat(SampleFormat),
    /// A stream with no channels.
    NoChannels,
    /// The ring configuration is invalid (for example a capacity of 0).
    Ring(ConfigError),
    /// No device of the asked direction (and name, if one was given).
    NoDevice {
        /// `"output"` or `"input"`.
        direction: &'static str,
        /// The name asked for, if any.
        name: Option<String>,
        /// The devices that were found, to choose from.
        available: Vec<String>,
    },
    /// The device does not support the requested stream configuration.
    UnsupportedConfig {
        /// What was asked for.
        requested: String,
        /// What the device offers.
        supported: Vec<String>,
    },
    /// The audio backend failed.
    Cpal(cpal::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnsupportedFormat(format) => write!(
                f,
                "sample format {format} is not supported (PCM formats only: \
                 i8, i16, i24, i32, i64, u8, u16, u24, u32, u64, f32, f64)"
            ),
            Error::NoChannels => f.write_str("a stream needs at least one channel"),
            Error::Ring(e) => write!(f, "ring configuration: {e}"),
            Error::NoDevice {
                direction,
                name,
                available,
            } => {
                match name {
                    Some(name) => write!(f, "no {direction} device named \"{name}\"")?,
                    None => write!(f, "no default {direction} device")?,
                }
                if available.is_empty() {
                    write!(
                        f,
                        "; no {direction} devices found (is an audio server running?)"
                    )
                } else {
                    write!(f, "; {direction} devices: {}", available.join(", "))
                }
            }
            Error::UnsupportedConfig {
                requested,
                supported,
            } => {
                write!(f, "the device does not support {requested}")?;
                if supported.is_empty() {
                    f.write_str(" (it reports no configurations)")
                } else {
                    write!(f, "; it supports: {}", supported.join("; "))
                }
            }
            Error::Cpal(e) => {
                write!(f, "audio backend: {e}")?;
                match e.kind() {
                    cpal::ErrorKind::DeviceNotAvailable
                    | cpal::ErrorKind::HostUnavailable
                    | cpal::ErrorKind::BackendError => {
                        f.write_str(" (is the audio server running and the device there?)")
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Ring(e) => Some(e),
            Error::Cpal(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Ring(e)
    }
}

impl From<cpal::Error> for Error {
    fn from(e: cpal::Error) -> Self {
        Error::Cpal(e)
    }
}

/// The silence of a cpal sample format, as the ring's per-sample pattern in
/// native byte order (cpal's samples are native-endian).
///
/// Signed and float formats are silent at zero, unsigned ones at their
/// midpoint: `0x80` for `U8`, `0x8000` for `U16`, `0x80_0000` for `U24` (in a
/// 4-byte container), `0x8000_0000` for `U32`, `1 << 63` for `U64`.
///
/// # Errors
///
/// [`Error::UnsupportedFormat`] for DSD and formats this adapter does not
/// know.
///
/// # Examples
///
/// ```
/// use pcm_ring_cpal::{silence_for, SampleFormat};
///
/// assert_eq!(silence_for(SampleFormat::U8)?.pattern(), &[0x80]);
/// assert_eq!(silence_for(SampleFormat::F32)?.pattern(), &[0]);
/// # Ok::<(), pcm_ring_cpal::Error>(())
/// ```
pub fn silence_for(format: SampleFormat) -> Result<Silence, Error> {
    let pattern: Silence = match format {
        SampleFormat::I8
        | SampleFormat::I16
        | SampleFormat::I24
        | SampleFormat::I32
        | SampleFormat::I64
        | SampleFormat::F32
        | SampleFormat::F64 => Silence::ZERO,
        SampleFormat::U8 => Silence::U8,
        SampleFormat::U16 => Silence::from_array(0x8000u16.to_ne_bytes()),
        SampleFormat::U24 => Silence::from_array(0x0080_0000u32.to_ne_bytes()),
        SampleFormat::U32 => Silence::from_array(0x8000_0000u32.to_ne_bytes()),
        SampleFormat::U64 => Silence::from_array((1u64 << 63).to_ne_bytes()),
        other => return Err(Error::UnsupportedFormat(other)),
    };
    Ok(pattern)
}

/// The layout of one frame of a cpal stream: its sample format and channel
/// count. A frame is the ring's block, so the ring never holds part of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameFormat {
    sample_format: SampleFormat,
    channels: u16,
    silence: Silence,
}

impl FrameFormat {
    /// A frame of `channels` samples of `sample_format`.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedFormat`] (DSD, unknown formats) or
    /// [`Error::NoChannels`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring_cpal::{FrameFormat, SampleFormat};
    ///
    /// let f = FrameFormat::new(SampleFormat::I24, 6)?; // 5.1, 24 bits in 4-byte containers
    /// assert_eq!((f.sample_bytes(), f.frame_bytes()), (4, 24));
    /// # Ok::<(), pcm_ring_cpal::Error>(())
    /// ```
    pub fn new(sample_format: SampleFormat, channels: u16) -> Result<FrameFormat, Error> {
        let silence = silence_for(sample_format)?;
        if channels == 0 {
            return Err(Error::NoChannels);
        }
        Ok(FrameFormat {
            sample_format,
            channels,
            silence,
        })
    }

    /// The sample format.
    pub fn sample_format(&self) -> SampleFormat {
        self.sample_format
    }

    /// Samples per frame.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Bytes per sample as cpal lays them out (`I24`/`U24` use 4).
    pub fn sample_bytes(&self) -> usize {
        self.sample_format.sample_size()
    }

    /// Bytes per frame: the ring's block size.
    pub fn frame_bytes(&self) -> usize {
        self.sample_bytes() * usize::from(self.channels)
    }

    /// The format's silence.
    pub fn silence(&self) -> Silence {
        self.silence
    }

    /// A ring configuration for this format holding `capacity_frames`
    /// frames, with [`Underrun::SilenceFill`] and this format's silence.
    /// Adjust the overrun policy, start threshold and low watermark with the
    /// [`Config`] builder methods (they take bytes: multiply frames by
    /// [`frame_bytes`](Self::frame_bytes)).
    ///
    /// # Errors
    ///
    /// [`Error::Ring`] if the ring would be empty or too large.
    pub fn ring_config(&self, capacity_frames: usize) -> Result<Config, Error> {
        let capacity = capacity_frames
            .checked_mul(self.frame_bytes())
            .ok_or(Error::Ring(ConfigError::CapacityTooLarge {
                capacity: usize::MAX,
                max: pcm_ring::MAX_CAPACITY,
            }))?;
        let config = Config::raw(self.frame_bytes(), capacity)
            .underrun(Underrun::SilenceFill)
            .silence(self.silence);
        config.validate()?;
        Ok(config)
    }

    /// The same layout as pcm-ring's own [`pcm_ring::SampleFormat`], where
    /// there is one: cpal's `I24` (4-byte container), `U24`, `I64` and `U64`
    /// have none, so this adapter makes its rings with
    /// [`Config::raw`](pcm_ring::Config::raw) and its own silence.
    pub fn ring_sample_format(&self) -> Option<pcm_ring::SampleFormat> {
        use pcm_ring::SampleFormat as Ring;
        Some(match self.sample_format {
            SampleFormat::U8 => Ring::U8,
            SampleFormat::I8 => Ring::I8,
            SampleFormat::I16 => Ring::I16,
            SampleFormat::U16 => Ring::U16,
            SampleFormat::I32 => Ring::I32,
            SampleFormat::U32 => Ring::U32,
            SampleFormat::F32 => Ring::F32,
            SampleFormat::F64 => Ring::F64,
            _ => return None,
        })
    }

    /// Fills `out` with this format's silence (any length; a trailing partial
    /// sample gets the start of the pattern).
    pub fn fill_silence(&self, out: &mut [u8]) {
        let pattern = self.silence.pattern();
        for chunk in out.chunks_mut(pattern.len()) {
            chunk.copy_from_slice(&pattern[..chunk.len()]);
        }
    }
}

/// A cpal sample type that the feeds can move through the ring without any
/// conversion: cpal's own type for the format, viewed as bytes by
/// `bytemuck`. (`I24`/`U24` are not plain old data in cpal: carry them with
/// the raw stream API and [`OutputFeed::fill_bytes`] /
/// [`InputFeed::push_bytes`].)
pub trait RingSample: cpal::SizedSample + bytemuck::Pod {}

impl<T: cpal::SizedSample + bytemuck::Pod> RingSample for T {}

/// Why a feed could not move a callback's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedError {
    /// The callback's sample type is not the feed's format.
    FormatMismatch {
        /// The feed's format.
        expected: SampleFormat,
        /// The callback's format.
        got: SampleFormat,
    },
    /// The ring refused the read (the buffer is not whole frames).
    Read(ReadError),
    /// The ring refused the write (not whole frames, or full under
    /// [`Overrun::Reject`](pcm_ring::Overrun::Reject), or the stream was
    /// finished).
    Write(WriteError),
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::FormatMismatch { expected, got } => {
                write!(f, "callback samples are {got}, the feed carries {expected}")
            }
            FeedError::Read(e) => write!(f, "ring read: {e}"),
            FeedError::Write(e) => write!(f, "ring write: {e}"),
        }
    }
}

impl std::error::Error for FeedError {}

/// What the callbacks saw, shared through relaxed atomics: a callback
/// updates it without locks, any thread reads a [`StreamStatsSnapshot`].
#[derive(Debug, Default)]
pub struct StreamStats {
    callbacks: AtomicU64,
    frames: AtomicU64,
    min_callback_frames: AtomicU64,
    max_callback_frames: AtomicU64,
    failed_callbacks: AtomicU64,
    low_watermark: AtomicU64,
    end_of_stream: AtomicBool,
    xruns: AtomicU64,
    errors: AtomicU64,
}

/// A snapshot of [`StreamStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStatsSnapshot {
    /// Data callbacks run.
    pub callbacks: u64,
    /// Frames the callbacks moved (data and silence).
    pub frames: u64,
    /// The smallest callback buffer, in frames (0 before the first).
    pub min_callback_frames: u64,
    /// The largest callback buffer, in frames.
    pub max_callback_frames: u64,
    /// Callbacks the ring could not serve (a buffer of partial frames, a
    /// format mismatch, a refused write): their output was silence, their
    /// input was lost.
    pub failed_callbacks: u64,
    /// Low-watermark crossings reported by output reads.
    pub low_watermark: u64,
    /// The output drained a finished stream.
    pub end_of_stream: bool,
    /// cpal reported an xrun (`ErrorKind::Xrun`).
    pub xruns: u64,
    /// Other errors cpal reported on the stream.
    pub errors: u64,
}

impl StreamStats {
    fn callback(&self, frames: u64) {
        let n = self.callbacks.fetch_add(1, Ordering::Relaxed);
        self.frames.fetch_add(frames, Ordering::Relaxed);
        self.max_callback_frames
            .fetch_max(frames, Ordering::Relaxed);
        if n == 0 {
            self.min_callback_frames.store(frames, Ordering::Relaxed);
        } else {
            self.min_callback_frames
                .fetch_min(frames, Ordering::Relaxed);
        }
    }

    fn read(&self, outcome: &ReadOutcome) {
        if outcome.low_watermark {
            self.low_watermark.fetch_add(1, Ordering::Relaxed);
        }
        if outcome.end_of_stream {
            self.end_of_stream.store(true, Ordering::Relaxed);
        }
    }

    fn failed(&self) {
        self.failed_callbacks.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error from cpal's error callback: an xrun, or any other.
    /// Call it from the error callback you give cpal.
    pub fn record_error(&self, error: &cpal::Error) {
        if error.kind() == cpal::ErrorKind::Xrun {
            self.xruns.fetch_add(1, Ordering::Relaxed);
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether an output read reported the end of a finished stream.
    pub fn end_of_stream(&self) -> bool {
        self.end_of_stream.load(Ordering::Relaxed)
    }

    /// The values now.
    pub fn snapshot(&self) -> StreamStatsSnapshot {
        StreamStatsSnapshot {
            callbacks: self.callbacks.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            min_callback_frames: self.min_callback_frames.load(Ordering::Relaxed),
            max_callback_frames: self.max_callback_frames.load(Ordering::Relaxed),
            failed_callbacks: self.failed_callbacks.load(Ordering::Relaxed),
            low_watermark: self.low_watermark.load(Ordering::Relaxed),
            end_of_stream: self.end_of_stream.load(Ordering::Relaxed),
            xruns: self.xruns.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// The output side: owns the ring's consumer inside a cpal output callback.
///
/// Every call fills the whole callback buffer: the buffered frames first,
/// then the format's silence (counted by the ring as priming, underrun or
/// end-of-stream silence). It never allocates, locks or blocks.
#[derive(Debug)]
pub struct OutputFeed<'a> {
    consumer: Consumer<'a>,
    format: FrameFormat,
    stats: std::sync::Arc<StreamStats>,
}

impl<'a> OutputFeed<'a> {
    /// Wraps `consumer`, which must come from a ring made for `format`
    /// ([`FrameFormat::ring_config`]); `stats` is shared with whoever
    /// watches the stream.
    pub fn new(
        consumer: Consumer<'a>,
        format: FrameFormat,
        stats: std::sync::Arc<StreamStats>,
    ) -> Self {
        OutputFeed {
            consumer,
            format,
            stats,
        }
    }

    /// Fills a typed cpal output buffer from the ring. `T` must be the
    /// stream's sample type.
    ///
    /// # Errors
    ///
    /// [`FeedError::FormatMismatch`] or [`FeedError::Read`] (a buffer of
    /// partial frames); `out` is silence then.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring_cpal::{FrameFormat, OutputFeed, SampleFormat, StreamStats};
    /// use std::sync::Arc;
    ///
    /// let format = FrameFormat::new(SampleFormat::U8, 1)?;
    /// let (mut tx, rx) = pcm_ring::heap(&format.ring_config(16)?)?;
    /// let _ = tx.write_samples(&[10u8, 20])?;
    /// let mut feed = OutputFeed::new(rx, format, Arc::new(StreamStats::default()));
    /// let mut out = [0u8; 4];
    /// let got = feed.fill(&mut out)?;
    /// assert_eq!(out, [10, 20, 0x80, 0x80]);
    /// assert_eq!((got.data, got.silence, got.underrun), (2, 2, true));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fill<T: RingSample>(&mut self, out: &mut [T]) -> Result<ReadOutcome, FeedError> {
        if T::FORMAT != self.format.sample_format {
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(out);
            self.format.fill_silence(bytes);
            self.stats
                .callback((bytes.len() / self.format.frame_bytes()) as u64);
            self.stats.failed();
            return Err(FeedError::FormatMismatch {
                expected: self.format.sample_format,
                got: T::FORMAT,
            });
        }
        self.fill_bytes(bytemuck::cast_slice_mut(out))
    }

    /// Fills a cpal output buffer given as bytes (the raw stream API's
    /// `Data::bytes_mut`, the way to carry `I24`/`U24`).
    ///
    /// # Errors
    ///
    /// [`FeedError::Read`] if `out` is not whole frames; `out` is silence
    /// then.
    pub fn fill_bytes(&mut self, out: &mut [u8]) -> Result<ReadOutcome, FeedError> {
        let frames = out.len() / self.format.frame_bytes();
        self.stats.callback(frames as u64);
        match self.consumer.read(out) {
            Ok(outcome) => {
                self.stats.read(&outcome);
                Ok(outcome)
            }
            Err(e) => {
                self.format.fill_silence(out);
                self.stats.failed();
                Err(FeedError::Read(e))
            }
        }
    }

    /// The consumer, for its counters and fill level.
    pub fn consumer(&self) -> &Consumer<'a> {
        &self.consumer
    }
}

/// The input side: owns the ring's producer inside a cpal input callback.
///
/// Every call writes the callback's frames into the ring under the ring's
/// overrun policy; it never allocates, locks or blocks. Dropping the feed
/// (when the stream is dropped) finishes the stream, so the reader drains
/// the rest and sees the end.
#[derive(Debug)]
pub struct InputFeed<'a> {
    producer: Producer<'a>,
    format: FrameFormat,
    stats: std::sync::Arc<StreamStats>,
}

impl<'a> InputFeed<'a> {
    /// Wraps `producer`, which must come from a ring made for `format`.
    pub fn new(
        producer: Producer<'a>,
        format: FrameFormat,
        stats: std::sync::Arc<StreamStats>,
    ) -> Self {
        InputFeed {
            producer,
            format,
            stats,
        }
    }

    /// Writes a typed cpal input buffer into the ring. `T` must be the
    /// stream's sample type.
    ///
    /// # Errors
    ///
    /// [`FeedError::FormatMismatch`], or [`FeedError::Write`]: with
    /// [`Overrun::Reject`](pcm_ring::Overrun::Reject) a buffer that does not
    /// fit is refused whole (the ring counts it). Nothing is written then.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::Overrun;
    /// use pcm_ring_cpal::{FrameFormat, InputFeed, SampleFormat, StreamStats};
    /// use std::sync::Arc;
    ///
    /// let format = FrameFormat::new(SampleFormat::I16, 2)?;
    /// let config = format.ring_config(2)?.overrun(Overrun::Truncate);
    /// let (tx, mut rx) = pcm_ring::heap(&config)?;
    /// let mut feed = InputFeed::new(tx, format, Arc::new(StreamStats::default()));
    /// let got = feed.push(&[1i16, -1, 2, -2, 3, -3])?; // three frames, room for two
    /// assert_eq!((got.written, got.dropped), (8, 4));
    /// let mut back = [0i16; 4];
    /// let _ = rx.read_samples(&mut back)?;
    /// assert_eq!(back, [1, -1, 2, -2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn push<T: RingSample>(&mut self, input: &[T]) -> Result<WriteOutcome, FeedError> {
        if T::FORMAT != self.format.sample_format {
            self.stats
                .callback((std::mem::size_of_val(input) / self.format.frame_bytes()) as u64);
            self.stats.failed();
            return Err(FeedError::FormatMismatch {
                expected: self.format.sample_format,
                got: T::FORMAT,
            });
        }
        self.push_bytes(bytemuck::cast_slice(input))
    }

    /// Writes a cpal input buffer given as bytes (the raw stream API's
    /// `Data::bytes`).
    ///
    /// # Errors
    ///
    /// [`FeedError::Write`], as for [`push`](Self::push).
    pub fn push_bytes(&mut self, input: &[u8]) -> Result<WriteOutcome, FeedError> {
        let frames = input.len() / self.format.frame_bytes();
        self.stats.callback(frames as u64);
        self.producer.write(input).map_err(|e| {
            self.stats.failed();
            FeedError::Write(e)
        })
    }

    /// The producer, for its counters and fill level.
    pub fn producer(&self) -> &Producer<'a> {
        &self.producer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpal::Sample;
    use pcm_ring::Overrun;
    use std::sync::Arc;

    const PCM: [SampleFormat; 12] = [
        SampleFormat::I8,
        SampleFormat::I16,
        SampleFormat::I24,
        SampleFormat::I32,
        SampleFormat::I64,
        SampleFormat::U8,
        SampleFormat::U16,
        SampleFormat::U24,
        SampleFormat::U32,
        SampleFormat::U64,
        SampleFormat::F32,
        SampleFormat::F64,
    ];

    #[test]
    fn silence_bytes_per_format() {
        let le = cfg!(target_endian = "little");
        let pat = |f| silence_for(f).unwrap().pattern().to_vec();
        assert_eq!(pat(SampleFormat::U8), [0x80]);
        if le {
            assert_eq!(pat(SampleFormat::U16), [0x00, 0x80]);
            assert_eq!(pat(SampleFormat::U24), [0x00, 0x00, 0x80, 0x00]);
            assert_eq!(pat(SampleFormat::U32), [0x00, 0x00, 0x00, 0x80]);
            assert_eq!(pat(SampleFormat::U64), [0, 0, 0, 0, 0, 0, 0, 0x80]);
        }
        for f in [
            SampleFormat::I8,
            SampleFormat::I16,
            SampleFormat::I24,
            SampleFormat::I32,
            SampleFormat::I64,
            SampleFormat::F32,
            SampleFormat::F64,
        ] {
            assert_eq!(pat(f), [0], "{f}");
        }
    }

    /// The pattern equals the bytes of cpal's own equilibrium value.
    fn equilibrium_matches<T: RingSample>() {
        let format = FrameFormat::new(T::FORMAT, 3).unwrap();
        let mut filled = vec![0xAAu8; format.frame_bytes() * 5];
        format.fill_silence(&mut filled);
        let want: Vec<u8> = (0..15)
            .flat_map(|_| bytemuck::bytes_of(&T::EQUILIBRIUM).to_vec())
            .collect();
        assert_eq!(filled, want, "{}", T::FORMAT);
    }

    #[test]
    fn silence_is_cpal_equilibrium() {
        equilibrium_matches::<i8>();
        equilibrium_matches::<i16>();
        equilibrium_matches::<i32>();
        equilibrium_matches::<i64>();
        equilibrium_matches::<u8>();
        equilibrium_matches::<u16>();
        equilibrium_matches::<u32>();
        equilibrium_matches::<u64>();
        equilibrium_matches::<f32>();
        equilibrium_matches::<f64>();
        // I24/U24: 4-byte containers holding the 24-bit value.
        let i24 = cpal::I24::EQUILIBRIUM.inner();
        assert_eq!(i24, 0);
        let u24 = cpal::U24::EQUILIBRIUM.inner();
        assert_eq!(
            silence_for(SampleFormat::U24).unwrap().pattern(),
            &(u24 as u32).to_ne_bytes()
        );
    }

    #[test]
    fn agrees_with_the_ring_formats() {
        for f in PCM {
            let ff = FrameFormat::new(f, 2).unwrap();
            match ff.ring_sample_format() {
                Some(ring) => {
                    assert_eq!(ring.bytes(), ff.sample_bytes(), "{f}");
                    if cfg!(target_endian = "little") {
                        assert_eq!(ring.silence(), ff.silence(), "{f}");
                    }
                }
                None => assert!(matches!(
                    f,
                    SampleFormat::I24 | SampleFormat::U24 | SampleFormat::I64 | SampleFormat::U64
                )),
            }
        }
    }

    #[test]
    fn frame_sizes() {
        let sizes = [1, 2, 4, 4, 8, 1, 2, 4, 4, 8, 4, 8];
        for (f, size) in PCM.into_iter().zip(sizes) {
            let ff = FrameFormat::new(f, 2).unwrap();
            assert_eq!(ff.sample_bytes(), size, "{f}");
            assert_eq!(ff.frame_bytes(), 2 * size, "{f}");
            let config = ff.ring_config(480).unwrap();
            assert_eq!(config.block_align(), 2 * size);
            assert_eq!(config.capacity(), 480 * 2 * size);
        }
        assert!(matches!(
            FrameFormat::new(SampleFormat::F32, 0),
            Err(Error::NoChannels)
        ));
        assert!(matches!(
            FrameFormat::new(SampleFormat::DsdU8, 2),
            Err(Error::UnsupportedFormat(SampleFormat::DsdU8))
        ));
        let f32s = FrameFormat::new(SampleFormat::F32, 2).unwrap();
        assert!(matches!(
            f32s.ring_config(0),
            Err(Error::Ring(ConfigError::ZeroCapacity))
        ));
    }

    /// Data, then silence in the format's pattern, with the ring's counts.
    fn fill_then_silence<T: RingSample + std::fmt::Debug + cpal::FromSample<f32>>(data: &[T]) {
        let format = FrameFormat::new(T::FORMAT, 2).unwrap();
        let (mut tx, rx) = pcm_ring::heap(&format.ring_config(64).unwrap()).unwrap();
        let _ = tx.write(bytemuck::cast_slice(data)).unwrap();
        let stats = Arc::new(StreamStats::default());
        let mut feed = OutputFeed::new(rx, format, Arc::clone(&stats));
        let mut out = vec![T::from_sample_(0.25f32); data.len() + 6];
        let got = feed.fill(&mut out).unwrap();
        assert_eq!(&out[..data.len()], data, "{}", T::FORMAT);
        assert!(out[data.len()..].iter().all(|&s| s == T::EQUILIBRIUM));
        let bytes = std::mem::size_of::<T>();
        assert_eq!(got.data, std::mem::size_of_val(data));
        assert_eq!(got.silence, 6 * bytes);
        assert!(got.underrun);
        let c = feed.consumer().counters();
        assert_eq!(c.silence_underrun, 6 * bytes as u64);
        assert_eq!(c.underruns, 1);
        let s = stats.snapshot();
        assert_eq!((s.callbacks, s.frames), (1, (data.len() as u64 + 6) / 2));
        assert_eq!((s.min_callback_frames, s.max_callback_frames), (5, 5));
        // The producer finishes: the next callback is all end-of-stream silence.
        drop(tx);
        let got = feed.fill(&mut out).unwrap();
        assert!(got.end_of_stream && !got.underrun);
        assert!(out.iter().all(|&s| s == T::EQUILIBRIUM));
        assert!(stats.end_of_stream());
    }

    #[test]
    fn fill_data_then_silence_every_format() {
        fill_then_silence(&[-3i8, 3, -5, 5]);
        fill_then_silence(&[-300i16, 300, -500, 500]);
        fill_then_silence(&[-70_000i32, 70_000, -1, 1]);
        fill_then_silence(&[-1i64 << 40, 1 << 40, -1, 1]);
        fill_then_silence(&[3u8, 250, 0, 255]);
        fill_then_silence(&[3u16, 65_000, 0, 1]);
        fill_then_silence(&[3u32, u32::MAX, 0, 1]);
        fill_then_silence(&[3u64, u64::MAX, 0, 1]);
        fill_then_silence(&[-0.5f32, 0.5, 0.25, -0.25]);
        fill_then_silence(&[-0.5f64, 0.5, 0.25, -0.25]);
    }

    #[test]
    fn priming_is_silence_until_the_threshold() {
        let format = FrameFormat::new(SampleFormat::U16, 1).unwrap();
        let config = format.ring_config(32).unwrap().start_threshold(8 * 2);
        let (mut tx, rx) = pcm_ring::heap(&config).unwrap();
        let mut feed = OutputFeed::new(rx, format, Arc::default());
        let _ = tx.write_samples(&[1u16; 4]).unwrap();
        let mut out = [7u16; 4];
        let got = feed.fill(&mut out).unwrap();
        assert_eq!(out, [0x8000; 4]);
        assert!(got.priming && !got.underrun);
        let _ = tx.write_samples(&[2u16; 4]).unwrap();
        let got = feed.fill(&mut out).unwrap();
        assert_eq!(out, [1; 4]);
        assert!(!got.priming);
        assert_eq!(feed.consumer().counters().silence_priming, 8);
    }

    #[test]
    fn low_watermark_is_counted() {
        let format = FrameFormat::new(SampleFormat::F32, 1).unwrap();
        let config = format.ring_config(16).unwrap().low_watermark(4 * 4);
        let (mut tx, rx) = pcm_ring::heap(&config).unwrap();
        let stats = Arc::new(StreamStats::default());
        let mut feed = OutputFeed::new(rx, format, Arc::clone(&stats));
        let _ = tx.write_samples(&[0.1f32; 8]).unwrap();
        let mut out = [0f32; 2];
        assert!(!feed.fill(&mut out).unwrap().low_watermark); // 6 frames left
        assert!(!feed.fill(&mut out).unwrap().low_watermark); // 4: at, not below
        assert!(feed.fill(&mut out).unwrap().low_watermark); // 2: below
        assert!(!feed.fill(&mut out).unwrap().low_watermark); // once per crossing
        assert_eq!(stats.snapshot().low_watermark, 1);
    }

    #[test]
    fn mismatched_or_partial_buffers_play_silence() {
        let format = FrameFormat::new(SampleFormat::U8, 2).unwrap();
        let (mut tx, rx) = pcm_ring::heap(&format.ring_config(8).unwrap()).unwrap();
        let _ = tx.write_samples(&[1u8, 2, 3, 4]).unwrap();
        let stats = Arc::new(StreamStats::default());
        let mut feed = OutputFeed::new(rx, format, Arc::clone(&stats));
        let mut wrong = [1i16; 4];
        assert_eq!(
            feed.fill(&mut wrong),
            Err(FeedError::FormatMismatch {
                expected: SampleFormat::U8,
                got: SampleFormat::I16
            })
        );
        assert_eq!(wrong, [i16::from_ne_bytes([0x80, 0x80]); 4]);
        let mut odd = [0u8; 3]; // a frame and a half
        assert!(matches!(feed.fill(&mut odd), Err(FeedError::Read(_))));
        assert_eq!(odd, [0x80; 3]);
        assert_eq!(stats.snapshot().failed_callbacks, 2);
        // Nothing was consumed by the failed calls.
        let mut out = [0u8; 4];
        let got = feed.fill(&mut out).unwrap();
        assert_eq!((out, got.data), ([1, 2, 3, 4], 4));
    }

    #[test]
    fn capture_follows_the_overrun_policy() {
        let format = FrameFormat::new(SampleFormat::F32, 1).unwrap();
        for (policy, written, first) in [
            (Overrun::Reject, 0, None),
            (Overrun::Truncate, 16, Some(0.0f32)),
            (Overrun::OverwriteOldest, 16, Some(2.0f32)),
        ] {
            let config = format.ring_config(4).unwrap().overrun(policy);
            let (tx, mut rx) = pcm_ring::heap(&config).unwrap();
            let stats = Arc::new(StreamStats::default());
            let mut feed = InputFeed::new(tx, format, Arc::clone(&stats));
            let got = feed.push(&[0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0]);
            match policy {
                Overrun::Reject => assert!(matches!(got, Err(FeedError::Write(_)))),
                _ => assert_eq!(got.unwrap().written, written),
            }
            let mut out = [9f32; 1];
            let read = rx.read_samples(&mut out).unwrap();
            match first {
                Some(v) => assert_eq!((out[0], read.data), (v, 4)),
                None => assert_eq!(read.data, 0),
            }
            assert_eq!(stats.snapshot().callbacks, 1);
            assert_eq!(stats.snapshot().max_callback_frames, 6);
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = Error::NoDevice {
            direction: "output",
            name: Some("hw:9".into()),
            available: vec!["default".into(), "pipewire".into()],
        };
        assert_eq!(
            e.to_string(),
            "no output device named \"hw:9\"; output devices: default, pipewire"
        );
        let e = Error::NoDevice {
            direction: "input",
            name: None,
            available: vec![],
        };
        assert!(e.to_string().contains("is an audio server running?"));
        assert!(Error::UnsupportedFormat(SampleFormat::DsdU32)
            .to_string()
            .contains("dsdu32"));
    }
}

//! Finding a device and a stream configuration, with errors that say what
//! was asked for and what there is.

use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{
    BufferSize, SampleFormat, StreamConfig, SupportedBufferSize, SupportedStreamConfigRange,
};

use crate::Error;

/// Playback or capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Playback.
    Output,
    /// Capture.
    Input,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Output => "output",
            Direction::Input => "input",
        }
    }
}

/// The names a device answers to: its id without the host (`default`,
/// `hw:CARD=0,DEV=0`), its full id (`alsa:default`) and its description.
pub fn names(device: &cpal::Device) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(id) = device.id() {
        names.push(id.id().to_string());
        names.push(id.to_string());
    }
    if let Ok(description) = device.description() {
        names.push(description.name().to_string());
    }
    names
}

/// The device to use: the host's default for `direction`, or the one that
/// answers to `name` (see [`names`]).
///
/// # Errors
///
/// [`Error::NoDevice`], listing the devices found.
pub fn find(
    host: &cpal::Host,
    direction: Direction,
    name: Option<&str>,
) -> Result<cpal::Device, Error> {
    let listed = || -> Vec<cpal::Device> {
        let devices = match direction {
            Direction::Output => host.output_devices().map(|d| d.collect::<Vec<_>>()),
            Direction::Input => host.input_devices().map(|d| d.collect::<Vec<_>>()),
        };
        devices.unwrap_or_default()
    };
    let found = match name {
        None => match direction {
            Direction::Output => host.default_output_device(),
            Direction::Input => host.default_input_device(),
        },
        Some(name) => listed()
            .into_iter()
            .find(|d| names(d).iter().any(|n| n == name)),
    };
    found.ok_or_else(|| Error::NoDevice {
        direction: direction.name(),
        name: name.map(str::to_string),
        available: listed()
            .iter()
            .filter_map(|d| d.id().ok().map(|id| id.id().to_string()))
            .collect(),
    })
}

/// What the program asks of a stream; `None` takes the device's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The sample format.
    pub sample_format: Option<SampleFormat>,
    /// The channel count.
    pub channels: Option<u16>,
    /// The sample rate in Hz.
    pub sample_rate: Option<u32>,
    /// The callback buffer size in frames (`BufferSize::Fixed`).
    pub buffer_frames: Option<u32>,
}

impl Request {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = self.sample_format {
            parts.push(format!("format {f}"));
        }
        if let Some(c) = self.channels {
            parts.push(format!("{c} channels"));
        }
        if let Some(r) = self.sample_rate {
            parts.push(format!("{r} Hz"));
        }
        if let Some(b) = self.buffer_frames {
            parts.push(format!("a buffer of {b} frames"));
        }
        parts.join(", ")
    }

    fn accepts(&self, range: &SupportedStreamConfigRange) -> bool {
        self.sample_format
            .is_none_or(|f| f == range.sample_format())
            && self.channels.is_none_or(|c| c == range.channels())
            && self.sample_rate.is_none_or(|r| range.contains_rate(r))
            && self
                .buffer_frames
                .is_none_or(|b| match *range.buffer_size() {
                    SupportedBufferSize::Range { min, max } => (min..=max).contains(&b),
                    SupportedBufferSize::Unknown => true,
                })
    }
}

/// One line per sample format: the channel counts and rates it comes with.
fn summarize(ranges: &[SupportedStreamConfigRange]) -> Vec<String> {
    let mut formats: Vec<SampleFormat> = Vec::new();
    for r in ranges {
        if !formats.contains(&r.sample_format()) {
            formats.push(r.sample_format());
        }
    }
    formats
        .into_iter()
        .map(|f| {
            let of = || ranges.iter().filter(move |r| r.sample_format() == f);
            let span = |lo: u32, hi: u32, unit: &str| {
                if lo == hi {
                    format!("{lo} {unit}")
                } else {
                    format!("{lo}-{hi} {unit}")
                }
            };
            let channels = span(
                of().map(|r| u32::from(r.channels())).min().unwrap_or(0),
                of().map(|r| u32::from(r.channels())).max().unwrap_or(0),
                "channels",
            );
            let rates = span(
                of().map(|r| r.min_sample_rate()).min().unwrap_or(0),
                of().map(|r| r.max_sample_rate()).max().unwrap_or(0),
                "Hz",
            );
            format!("{f} {channels} {rates}")
        })
        .collect()
}

/// The stream configuration and sample format for `request` on `device`:
/// the device's default where the request says nothing, otherwise the first
/// supported configuration that matches it.
///
/// # Errors
///
/// [`Error::UnsupportedConfig`], listing what the device supports, or
/// [`Error::Cpal`] if the device cannot be queried.
pub fn choose(
    device: &cpal::Device,
    direction: Direction,
    request: &Request,
) -> Result<(SampleFormat, StreamConfig), Error> {
    let default = match direction {
        Direction::Output => device.default_output_config(),
        Direction::Input => device.default_input_config(),
    }?;
    let buffer_size = request
        .buffer_frames
        .map_or(BufferSize::Default, BufferSize::Fixed);
    let ranges: Vec<SupportedStreamConfigRange> = match direction {
        Direction::Output => device.supported_output_configs()?.collect(),
        Direction::Input => device.supported_input_configs()?.collect(),
    };
    // The default, if it satisfies the request.
    let default_ok = request
        .sample_format
        .is_none_or(|f| f == default.sample_format())
        && request.channels.is_none_or(|c| c == default.channels())
        && request
            .sample_rate
            .is_none_or(|r| r == default.sample_rate())
        && (request.buffer_frames.is_none()
            || ranges.iter().any(|r| {
                r.sample_format() == default.sample_format()
                    && r.channels() == default.channels()
                    && r.contains_rate(default.sample_rate())
                    && request.accepts(r)
            }));
    if default_ok {
        let mut config = default.config();
        config.buffer_size = buffer_size;
        return Ok((default.sample_format(), config));
    }
    let rate = request.sample_rate.unwrap_or(default.sample_rate());
    let wanted = Request {
        sample_rate: Some(rate),
        ..*request
    };
    match pick(
        &ranges,
        &wanted,
        default.sample_format(),
        default.channels(),
    ) {
        Some(range) => Ok((
            range.sample_format(),
            StreamConfig {
                channels: range.channels(),
                sample_rate: rate,
                buffer_size,
            },
        )),
        None => Err(Error::UnsupportedConfig {
            requested: request.describe(),
            supported: summarize(&ranges),
        }),
    }
}

/// The range that satisfies `wanted`, preferring the default's sample format
/// and then its channel count for what the request leaves open.
fn pick<'r>(
    ranges: &'r [SupportedStreamConfigRange],
    wanted: &Request,
    format: SampleFormat,
    channels: u16,
) -> Option<&'r SupportedStreamConfigRange> {
    ranges.iter().filter(|r| wanted.accepts(r)).min_by_key(|r| {
        (
            r.sample_format() != format,
            r.channels() != channels,
            r.channels(),
        )
    })
}

/// Parses a sample format name as cpal prints it (`f32`, `i16`, `u8` …).
///
/// # Errors
///
/// A message listing the names, for an unknown one.
pub fn parse_format(name: &str) -> Result<SampleFormat, String> {
    const ALL: [SampleFormat; 12] = [
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
    ALL.into_iter()
        .find(|f| f.to_string() == name.to_ascii_lowercase())
        .ok_or_else(|| {
            let names: Vec<String> = ALL.iter().map(ToString::to_string).collect();
            format!(
                "unknown sample format \"{name}\" (one of {})",
                names.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for name in [
            "i8", "i16", "i24", "i32", "i64", "u8", "u16", "u24", "u32", "u64", "f32", "F64",
        ] {
            let f = parse_format(name).unwrap();
            assert_eq!(f.to_string(), name.to_ascii_lowercase());
        }
        let e = parse_format("s16le").unwrap_err();
        assert!(e.contains("s16le") && e.contains("f32"), "{e}");
    }

    #[test]
    fn picks_the_default_format_and_channels_first() {
        let range = |format, channels, max_rate| {
            SupportedStreamConfigRange::new(
                channels,
                8_000,
                max_rate,
                SupportedBufferSize::Unknown,
                format,
            )
        };
        let ranges = [
            range(SampleFormat::U8, 1, 192_000),
            range(SampleFormat::U8, 2, 192_000),
            range(SampleFormat::F32, 1, 192_000),
            range(SampleFormat::F32, 2, 192_000),
            range(SampleFormat::I16, 2, 48_000),
        ];
        let at = |rate| Request {
            sample_rate: Some(rate),
            ..Request::default()
        };
        // Another rate: keep f32 stereo, the default's format and channels.
        let got = pick(&ranges, &at(44_100), SampleFormat::F32, 2).unwrap();
        assert_eq!(
            (got.sample_format(), got.channels()),
            (SampleFormat::F32, 2)
        );
        // A format asked for: the default's channel count.
        let i16s = Request {
            sample_format: Some(SampleFormat::I16),
            ..at(44_100)
        };
        let got = pick(&ranges, &i16s, SampleFormat::F32, 2).unwrap();
        assert_eq!(
            (got.sample_format(), got.channels()),
            (SampleFormat::I16, 2)
        );
        // Nothing fits.
        let too_fast = Request {
            sample_format: Some(SampleFormat::I16),
            ..at(96_000)
        };
        assert!(pick(&ranges, &too_fast, SampleFormat::F32, 2).is_none());
    }

    #[test]
    fn requests_match_ranges() {
        let range = SupportedStreamConfigRange::new(
            2,
            8_000,
            192_000,
            SupportedBufferSize::Range { min: 64, max: 4096 },
            SampleFormat::I16,
        );
        let any = Request::default();
        assert!(any.accepts(&range));
        let ok = Request {
            sample_format: Some(SampleFormat::I16),
            channels: Some(2),
            sample_rate: Some(44_100),
            buffer_frames: Some(256),
        };
        assert!(ok.accepts(&range));
        for bad in [
            Request {
                sample_format: Some(SampleFormat::F32),
                ..ok
            },
            Request {
                channels: Some(1),
                ..ok
            },
            Request {
                sample_rate: Some(384_000),
                ..ok
            },
            Request {
                buffer_frames: Some(8192),
                ..ok
            },
        ] {
            assert!(!bad.accepts(&range), "{bad:?}");
        }
        let mono = SupportedStreamConfigRange::new(
            1,
            8_000,
            48_000,
            SupportedBufferSize::Unknown,
            SampleFormat::I16,
        );
        let float = SupportedStreamConfigRange::new(
            2,
            48_000,
            48_000,
            SupportedBufferSize::Unknown,
            SampleFormat::F32,
        );
        assert_eq!(
            summarize(&[range, mono, float]),
            ["i16 1-2 channels 8000-192000 Hz", "f32 2 channels 48000 Hz"]
        );
        assert_eq!(
            ok.describe(),
            "format i16, 2 channels, 44100 Hz, a buffer of 256 frames"
        );
    }
}

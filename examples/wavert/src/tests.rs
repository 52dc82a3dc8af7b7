//! Unit tests of the model: exact carry, frames across the wrap, every state
//! transition, concurrent timer callbacks, the buffer checks and both
//! directions.

use std::vec;
use std::vec::Vec;

use pcm_ring::{Config, Overrun, Silence};

use crate::*;

const HNS: u64 = 10_000_000;
const ODD_FREQUENCIES: [u64; 5] = [10_000_000, 3_579_545, 2_343_750, 24_000_000, 19_200_000];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn running(format: Format, size: usize, count: u32, freq: u64) -> Timing {
    let mut t = Timing::new(format);
    t.allocate_buffer_with_notification(size, count).unwrap();
    for s in [KsState::Acquire, KsState::Pause, KsState::Run] {
        t.set_state(s, 0, freq).unwrap();
    }
    t
}

fn expected_frames(elapsed: u64, rate: u32, freq: u64) -> u64 {
    (u128::from(elapsed) * u128::from(rate) / u128::from(freq)) as u64
}

#[test]
fn carry_is_exact_over_24_hours() {
    let day = 24 * 3600;
    for rate in [44_100u32, 48_000] {
        for freq in ODD_FREQUENCIES {
            let format = Format::pcm(rate, 2, 16).unwrap();
            let mut t = running(format, 1764 * 4, 2, freq);
            let mut rng = XorShift(0x2545_F491_4F6C_DD1D ^ u64::from(rate) ^ freq);
            let end = day * freq;
            let (mut qpc, mut sum) = (0u64, 0u64);
            while qpc < end {
                // From one QPC tick to two seconds, most of them around 1 ms.
                let step = match rng.below(4) {
                    0 => 1 + rng.below(freq * 2),
                    _ => 1 + rng.below(freq / 500),
                };
                qpc += step;
                sum += t.advance(qpc, freq).unwrap();
                assert_eq!(t.linear_frames(), expected_frames(qpc, rate, freq));
            }
            assert_eq!(sum, t.linear_frames());
            assert_eq!(t.linear_position(), t.linear_frames() * 4);
            // 24 hours to the frame, whatever the frequency.
            assert!(t.linear_frames() >= u64::from(rate) * day);
        }
    }
}

#[test]
fn paused_time_does_not_count_and_no_fraction_is_lost() {
    for freq in ODD_FREQUENCIES {
        let format = Format::pcm(44_100, 2, 16).unwrap();
        let mut t = running(format, 1764, 1, freq);
        let mut rng = XorShift(freq);
        let (mut qpc, mut run_elapsed) = (0u64, 0u64);
        for _ in 0..2_000 {
            let step = 1 + rng.below(freq / 300);
            qpc += step;
            run_elapsed += step;
            t.advance(qpc, freq).unwrap();
            if rng.below(10) == 0 {
                t.set_state(KsState::Pause, qpc, freq).unwrap();
                let frozen = t.linear_frames();
                qpc += 1 + rng.below(freq); // paused time
                assert_eq!(t.advance(qpc, freq).unwrap(), 0);
                assert_eq!(t.linear_frames(), frozen);
                t.set_state(KsState::Run, qpc, freq).unwrap();
            }
            assert_eq!(
                t.linear_frames(),
                expected_frames(run_elapsed, 44_100, freq)
            );
        }
    }
}

/// SYSVAD's UpdatePosition arithmetic (QPC → 100 ns → ms, then bytes with a
/// byte carry), to show what the frame carry fixes.
fn sysvad_displacements(rate_bytes: u64, ms_ticks: u64) -> Vec<u64> {
    let (mut hns_carry, mut byte_carry, mut out) = (0u64, 0u64, Vec::new());
    for _ in 0..ms_ticks {
        let hns = 10_000 + hns_carry;
        let ms = hns / 10_000;
        hns_carry = hns % 10_000;
        let total = rate_bytes * ms + byte_carry;
        out.push(total / 1000);
        byte_carry = total % 1000;
    }
    out
}

#[test]
fn at_44k1_the_position_moves_in_whole_frames() {
    // SYSVAD moves 176 or 177 bytes per millisecond: not whole 4-byte frames.
    let sysvad = sysvad_displacements(44_100 * 4, 10);
    assert!(sysvad.iter().any(|d| !d.is_multiple_of(4)), "{sysvad:?}");
    let format = Format::pcm(44_100, 2, 16).unwrap();
    let mut t = running(format, 1764, 2, HNS);
    let mut moved = Vec::new();
    for ms in 1..=1000u64 {
        moved.push(t.advance(ms * 10_000, HNS).unwrap());
        assert_eq!(t.linear_position() % 4, 0);
        assert_eq!(t.position().play_offset % 4, 0);
    }
    assert!(moved.iter().all(|&m| m == 44 || m == 45));
    assert_eq!(t.linear_frames(), 44_100);
}

#[test]
fn buffer_checks_follow_sysvad() {
    let mut t = Timing::new(Format::pcm(48_000, 6, 16).unwrap());
    assert_eq!(
        t.allocate_buffer_with_notification(11, 1),
        Err(StreamError::BufferTooSmall {
            requested: 11,
            block_align: 12
        })
    );
    assert_eq!(
        t.allocate_buffer_with_notification(0, 1),
        Err(StreamError::BufferTooSmall {
            requested: 0,
            block_align: 12
        })
    );
    for count in [0, 3, 4, u32::MAX] {
        assert_eq!(
            t.allocate_buffer_with_notification(1920, count),
            Err(StreamError::InvalidNotificationCount { count })
        );
    }
    assert_eq!(
        t.allocate_buffer_with_notification(1921, 2),
        Err(StreamError::SizeNotMultipleOfCount {
            requested: 1921,
            count: 2
        })
    );
    assert_eq!(t.buffer_size(), 0, "a refused allocation keeps nothing");
    assert_eq!(t.allocate_buffer_with_notification(1000, 2), Ok(996));
    assert_eq!(t.allocate_buffer_with_notification(13, 1), Ok(12));
    assert_eq!(t.allocate_buffer_with_notification(1920, 2), Ok(1920));
    assert_eq!(t.packet_frames(), 80);
    t.set_state(KsState::Acquire, 0, HNS).unwrap();
    assert_eq!(
        t.allocate_buffer_with_notification(960, 1),
        Err(StreamError::NotStopped {
            state: KsState::Acquire
        })
    );
    assert_eq!(t.buffer_size(), 1920);
    assert_eq!(
        t.free_buffer(),
        Err(StreamError::NotStopped {
            state: KsState::Acquire
        })
    );
}

#[test]
fn every_state_transition() {
    use KsState::*;
    let all = [Stop, Acquire, Pause, Run];
    let format = Format::pcm(48_000, 2, 16).unwrap();
    // Reach `from` with some position, then try every `to`.
    for from in all {
        for to in all {
            let mut t = running(format, 1920, 2, HNS);
            t.advance(HNS, HNS).unwrap(); // one second: 48000 frames
            let path: &[KsState] = match from {
                Stop => &[Pause, Acquire, Stop],
                Acquire => &[Pause, Acquire],
                Pause => &[Pause],
                Run => &[],
            };
            for &s in path {
                t.set_state(s, 2 * HNS, HNS).unwrap();
            }
            assert_eq!(t.state(), from);
            let before = (t.linear_frames(), t.counters());
            let result = t.set_state(to, 3 * HNS, HNS);
            let adjacent = (from as u32).abs_diff(to as u32) <= 1;
            if !adjacent {
                assert_eq!(result, Err(StreamError::InvalidTransition { from, to }));
                assert_eq!(t.state(), from);
                assert_eq!((t.linear_frames(), t.counters()), before);
                continue;
            }
            result.unwrap();
            assert_eq!(t.state(), to);
            match (from, to) {
                (_, Stop) => {
                    assert_eq!(t.linear_frames(), 0);
                    assert_eq!(t.counters(), StreamCounters::default());
                    assert_eq!(t.presentation_position(), PresentationPosition::default());
                }
                // RUN → PAUSE moves the position to the pause: 2 s of RUN.
                (Run, Pause) => assert_eq!(t.linear_frames(), 3 * 48_000),
                _ => assert_eq!(t.linear_frames(), before.0),
            }
            // PAUSE and ACQUIRE freeze; RUN starts a new time base.
            let frozen = t.linear_frames();
            let expected = match (from, to) {
                (Pause, Run) => 48_000,
                (Run, Run) => 3 * 48_000,
                _ => 0,
            };
            assert_eq!(t.advance(4 * HNS, HNS).unwrap(), expected);
            if to != Run {
                assert_eq!(t.linear_frames(), frozen);
            }
        }
    }
}

#[test]
fn leaving_stop_needs_a_buffer_and_run_needs_a_frequency() {
    let mut t = Timing::new(Format::pcm(48_000, 2, 16).unwrap());
    assert_eq!(
        t.set_state(KsState::Acquire, 0, HNS),
        Err(StreamError::NoBuffer)
    );
    t.allocate_buffer_with_notification(1920, 1).unwrap();
    t.set_state(KsState::Acquire, 0, HNS).unwrap();
    t.set_state(KsState::Pause, 0, HNS).unwrap();
    assert_eq!(
        t.set_state(KsState::Run, 0, 0),
        Err(StreamError::ZeroQpcFrequency)
    );
    assert_eq!(t.state(), KsState::Pause);
    t.set_state(KsState::Run, 100, HNS).unwrap();
    assert_eq!(
        t.advance(200, 3_579_545),
        Err(StreamError::QpcFrequencyChanged {
            expected: HNS,
            got: 3_579_545
        })
    );
    assert_eq!(t.linear_frames(), 0);
    // Time counts from RUN, not from 0.
    assert_eq!(t.advance(100 + HNS / 1000, HNS).unwrap(), 48);
}

fn capture(
    format: Format,
    capacity: usize,
    memory: &mut [u8],
) -> (pcm_ring::Producer<'_>, CaptureStream<'_>) {
    let config = Config::raw(format.block_align(), capacity)
        .silence(format.silence())
        .overrun(Overrun::OverwriteOldest);
    let (tx, rx) = pcm_ring::borrowed(&config, memory).unwrap();
    (tx, CaptureStream::new(format, rx).unwrap())
}

fn start(stream: &mut CaptureStream<'_>, freq: u64) {
    for s in [KsState::Acquire, KsState::Pause, KsState::Run] {
        stream.set_state(s, 0, freq).unwrap();
    }
}

/// A 5.1 frame numbered `n`: 12 bytes, none of them zero.
fn frame12(n: u32) -> [u8; 12] {
    let mut f = [0u8; 12];
    for (i, b) in f.iter_mut().enumerate() {
        *b = (n.wrapping_mul(7).wrapping_add(i as u32) % 251) as u8 + 1;
    }
    f[..4].copy_from_slice(&(n | 0x8000_0000).to_le_bytes());
    f
}

#[test]
fn surround_frames_cross_the_dma_wrap_whole() {
    let format = Format::pcm(48_000, 6, 16).unwrap();
    let config = Config::raw(12, 12 * 4000).silence(Silence::ZERO);
    let mut memory = vec![0u8; config.required_memory().unwrap()];
    let (mut tx, mut stream) = capture(format, 12 * 4000, &mut memory);
    // 83 frames: packets do not divide the buffer evenly in time.
    let size = stream.allocate_buffer_with_notification(1000, 2).unwrap();
    assert_eq!(size, 996);
    let mut dma = vec![0u8; size];
    start(&mut stream, 3_579_545);
    let mut written = 0u32;
    let mut rng = XorShift(99);
    let mut qpc = 0u64;
    let mut heard = Vec::new();
    for _ in 0..3_000 {
        // The IOCTL: pieces of arbitrary length, splitting frames.
        while tx.fill() < 12 * 500 {
            let frames: Vec<u8> = (0..50).flat_map(|i| frame12(written + i)).collect();
            let mut rest = &frames[..];
            while !rest.is_empty() {
                let n = (1 + rng.below(40) as usize).min(rest.len());
                let _ = tx.write_stream(&rest[..n]).unwrap();
                rest = &rest[n..];
            }
            written += 50;
        }
        let before = stream.timing().linear_position();
        qpc += 1 + rng.below(3_579_545 / 700); // up to 1.4 ms (the buffer: 1.7 ms)
        let tick = stream.update_position(&mut dma, qpc, 3_579_545).unwrap();
        assert_eq!(tick.silence, 0);
        assert_eq!(tick.data as u64, tick.frames * 12);
        // The audio engine reads what moved, from the cyclic buffer.
        let mut offset = (before % size as u64) as usize;
        for _ in 0..tick.frames {
            let mut f = [0u8; 12];
            for b in f.iter_mut() {
                *b = dma[offset];
                offset = (offset + 1) % size;
            }
            heard.push(f);
        }
    }
    assert!(heard.len() > 10_000);
    for (n, f) in heard.iter().enumerate() {
        assert_eq!(*f, frame12(n as u32), "frame {n}");
    }
}

#[test]
fn two_timer_callbacks_on_the_same_tick() {
    let format = Format::pcm(48_000, 2, 16).unwrap();
    let mut memory = vec![0u8; 1 << 16];
    let (mut tx, mut stream) = capture(format, 7680, &mut memory);
    stream.allocate_buffer_with_notification(1920, 2).unwrap();
    let mut dma = vec![0u8; 1920];
    start(&mut stream, HNS);
    let _ = tx.write(&[7u8; 7680]).unwrap();
    let first = stream.update_position(&mut dma, 10_000, HNS).unwrap();
    assert_eq!((first.frames, first.data), (48, 192));
    let snapshot = dma.clone();
    let fill = tx.fill();
    // A second expiration on another processor, same QPC value.
    let second = stream.update_position(&mut dma, 10_000, HNS).unwrap();
    assert_eq!(second, CaptureTick::default());
    // And one whose QPC sample is older than the last (it took the lock
    // second).
    let third = stream.update_position(&mut dma, 9_990, HNS).unwrap();
    assert_eq!(third, CaptureTick::default());
    assert_eq!(dma, snapshot);
    assert_eq!(tx.fill(), fill);
    assert_eq!(stream.timing().counters().stale_updates, 2);
    assert_eq!(stream.timing().counters().updates, 1);
    // Time was neither lost nor invented: the next tick covers the rest.
    let fourth = stream.update_position(&mut dma, 20_000, HNS).unwrap();
    assert_eq!(fourth.frames, 48);
    assert_eq!(stream.timing().linear_frames(), 96);
}

#[test]
fn shortfall_is_the_formats_silence_and_nothing_stale() {
    let format = Format::pcm(48_000, 2, 8).unwrap();
    let mut memory = vec![0u8; 1 << 14];
    let (mut tx, mut stream) = capture(format, 960, &mut memory);
    stream.allocate_buffer_with_notification(96, 1).unwrap();
    let mut dma = vec![0x55u8; 96]; // stale audio
    start(&mut stream, 1_000_000);
    let _ = tx.write(&[1, 2, 3, 4, 5, 6]).unwrap();
    let tick = stream.update_position(&mut dma, 500, 1_000_000).unwrap(); // 24 frames
    assert_eq!((tick.data, tick.silence, tick.underrun), (6, 42, true));
    assert_eq!(&dma[..6], &[1, 2, 3, 4, 5, 6]);
    assert!(dma[6..48].iter().all(|&b| b == 0x80));
    assert!(dma[48..].iter().all(|&b| b == 0x55), "not reached yet");
    assert_eq!(stream.timing().counters().underruns, 1);
    assert_eq!(stream.ring_counters().underruns, 1);
}

#[test]
fn silence_ahead_covers_the_next_bytes_but_never_the_new_data() {
    let format = Format::pcm(48_000, 2, 16).unwrap();
    let mut memory = vec![0u8; 1 << 15];
    let (mut tx, mut stream) = capture(format, 7680, &mut memory);
    stream.allocate_buffer_with_notification(400, 1).unwrap(); // 100 frames
    stream.set_silence_ahead(43); // rounded down to 40 bytes
    let mut dma = vec![0xEEu8; 400];
    start(&mut stream, 1_000_000);
    let _ = tx.write(&[9u8; 4000]).unwrap();
    // 1 ms: 48 frames at 0..192, silence at 192..232.
    let tick = stream.update_position(&mut dma, 1_000, 1_000_000).unwrap();
    assert_eq!((tick.data, tick.silence_ahead), (192, 40));
    assert!(dma[..192].iter().all(|&b| b == 9));
    assert!(dma[192..232].iter().all(|&b| b == 0));
    assert!(dma[232..].iter().all(|&b| b == 0xEE));
    // 2 ms more: 96 frames at 192..400 and 0..176 (wrap), silence 176..216.
    let tick = stream.update_position(&mut dma, 3_000, 1_000_000).unwrap();
    assert_eq!(
        (tick.data, tick.silence_ahead),
        (384, 16),
        "capped at what is left"
    );
    assert!(dma[..176].iter().all(|&b| b == 9));
    assert!(dma[176..192].iter().all(|&b| b == 0));
}

#[test]
fn a_gap_longer_than_the_buffer_copies_one_buffer_and_keeps_time() {
    let format = Format::pcm(48_000, 2, 16).unwrap();
    let mut memory = vec![0u8; 1 << 16];
    let (mut tx, mut stream) = capture(format, 4 * 4800, &mut memory);
    stream.allocate_buffer_with_notification(1920, 2).unwrap();
    let mut dma = vec![0u8; 1920];
    start(&mut stream, HNS);
    let bytes: Vec<u8> = (0..4800u32).flat_map(|n| n.to_le_bytes()).collect();
    let _ = tx.write(&bytes).unwrap();
    // 25 ms late: 1200 frames; the last 480 land in the buffer.
    let tick = stream.update_position(&mut dma, 250_000, HNS).unwrap();
    assert_eq!((tick.frames, tick.data), (1200, 1920));
    assert_eq!(stream.timing().counters().skipped_frames, 720);
    // Frames 720..1200 end at the position (1200 % 480 = 240 frames in):
    // 720.. from byte 960, wrapping to 960.. at byte 0.
    let at = |i: usize| u32::from_le_bytes(dma[i..i + 4].try_into().unwrap());
    assert_eq!((at(960), at(1916), at(0), at(956)), (720, 959, 960, 1199));
    assert_eq!(stream.consumer().available(), (4800 - 1200) * 4);
}

#[test]
fn a_wrong_dma_buffer_is_refused_and_loses_nothing() {
    let format = Format::pcm(48_000, 2, 16).unwrap();
    let mut memory = vec![0u8; 1 << 15];
    let (mut tx, mut stream) = capture(format, 7680, &mut memory);
    let mut small = vec![0u8; 100];
    assert_eq!(
        stream.update_position(&mut small, 1, HNS),
        Err(StreamError::NoBuffer)
    );
    stream.allocate_buffer_with_notification(1920, 2).unwrap();
    start(&mut stream, HNS);
    let _ = tx.write(&[1u8; 960]).unwrap();
    assert_eq!(
        stream.update_position(&mut small, 10_000, HNS),
        Err(StreamError::DmaLength {
            expected: 1920,
            got: 100
        })
    );
    assert_eq!(stream.timing().linear_frames(), 0);
    assert_eq!(tx.fill(), 960);
}

#[test]
fn ring_and_format_must_agree() {
    let (_tx, rx) = pcm_ring::heap(&Config::raw(4, 64)).unwrap();
    let err = CaptureStream::new(Format::pcm(48_000, 6, 16).unwrap(), rx).err();
    assert_eq!(
        err,
        Some(StreamError::RingFormatMismatch {
            format: 12,
            ring: 4
        })
    );
    assert!(Format::pcm(0, 2, 16).is_err());
    assert!(Format::pcm(48_000, 0, 16).is_err());
    assert!(Format::pcm(48_000, 2, 12).is_err());
    assert!(Format::new(48_000, 3, Silence::U16_LE).is_err());
}

#[test]
fn render_moves_the_engines_audio_into_the_ring_across_the_wrap() {
    let format = Format::pcm(44_100, 2, 16).unwrap();
    let (ring, mut reader) = pcm_ring::heap(&Config::raw(4, 4 * 4410)).unwrap();
    let mut stream = RenderStream::new(format, ring).unwrap();
    let size = stream.allocate_buffer_with_notification(1764, 2).unwrap(); // 10 ms
    let mut dma = vec![0u8; size];
    for s in [KsState::Acquire, KsState::Pause, KsState::Run] {
        stream.set_state(s, 0, 2_343_750).unwrap();
    }
    let frames = size / 4;
    let mut next = 0u32; // the engine's next frame number
    let mut engine_pos = 0usize; // frames written ahead of the position
    let mut rng = XorShift(5);
    let mut qpc = 0u64;
    let mut got = Vec::new();
    // The engine keeps the buffer full ahead of the position.
    for i in 0..frames {
        dma[i * 4..i * 4 + 4].copy_from_slice(&next.to_le_bytes());
        next += 1;
        engine_pos += 1;
    }
    for _ in 0..2_000 {
        qpc += 1 + rng.below(2_343_750 / 250);
        let tick = stream.update_position(&dma, qpc, 2_343_750).unwrap();
        assert_eq!(tick.written as u64, tick.frames * 4);
        let linear = stream.timing().linear_frames() as usize;
        while engine_pos < linear + frames {
            let at = (engine_pos % frames) * 4;
            dma[at..at + 4].copy_from_slice(&next.to_le_bytes());
            next += 1;
            engine_pos += 1;
        }
        let mut out = vec![0u8; reader.available()];
        let _ = reader.read(&mut out).unwrap();
        got.extend(
            out.chunks(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap())),
        );
    }
    assert!(got.len() > 10_000);
    assert!(got.iter().enumerate().all(|(i, &n)| n == i as u32));
}

#[test]
fn render_into_a_full_rejecting_ring_counts_what_was_lost() {
    let format = Format::pcm(48_000, 2, 16).unwrap();
    let (ring, reader) = pcm_ring::heap(&Config::raw(4, 400)).unwrap();
    let mut stream = RenderStream::new(format, ring).unwrap();
    stream.allocate_buffer_with_notification(1920, 2).unwrap();
    let dma = vec![3u8; 1920];
    for s in [KsState::Acquire, KsState::Pause, KsState::Run] {
        stream.set_state(s, 0, HNS).unwrap();
    }
    let tick = stream.update_position(&dma, 10_000, HNS).unwrap(); // 192 bytes
    assert_eq!((tick.written, tick.dropped), (192, 0));
    let tick = stream.update_position(&dma, 30_000, HNS).unwrap(); // 384 more
    assert_eq!((tick.written, tick.dropped), (0, 384));
    assert_eq!(stream.timing().counters().dropped_bytes, 384);
    assert_eq!(reader.available(), 192);
}

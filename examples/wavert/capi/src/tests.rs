//! Every pointer and length from C is checked: these calls pass null,
//! misaligned and dangling-but-not-live handles, and lengths that do not fit.

use super::*;

fn config() -> PcmWavertConfig {
    PcmWavertConfig {
        sample_rate: 48_000,
        channels: 2,
        bits_per_sample: 16,
        ring_bytes: 7680,
        overrun: PCM_WAVERT_OVERRUN_REJECT,
        start_threshold_bytes: 0,
        low_watermark_bytes: 0,
        silence_ahead_bytes: 0,
        direction: PCM_WAVERT_DIRECTION_CAPTURE,
    }
}

/// Memory with room to misalign the start.
fn memory() -> Vec<u64> {
    vec![0u64; 4096]
}

#[test]
fn bad_configs_and_pointers_are_refused() {
    let mut size = 0usize;
    // SAFETY: every pointer is valid, or deliberately null, misaligned or
    // not a stream, which the functions check before using it.
    unsafe {
        assert_eq!(
            pcm_wavert_memory_size(ptr::null(), &mut size),
            PCM_WAVERT_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            pcm_wavert_memory_size(&config(), ptr::null_mut()),
            PCM_WAVERT_STATUS_INVALID_PARAMETER
        );
        let misaligned = (ptr::addr_of_mut!(size) as *mut u8).add(1) as *mut usize;
        assert_eq!(
            pcm_wavert_memory_size(&config(), misaligned),
            PCM_WAVERT_STATUS_INVALID_PARAMETER
        );
        for bad in [
            PcmWavertConfig {
                sample_rate: 0,
                ..config()
            },
            PcmWavertConfig {
                channels: 0,
                ..config()
            },
            PcmWavertConfig {
                bits_per_sample: 12,
                ..config()
            },
            PcmWavertConfig {
                ring_bytes: 7681,
                ..config()
            },
            PcmWavertConfig {
                ring_bytes: 0,
                ..config()
            },
            PcmWavertConfig {
                overrun: 7,
                ..config()
            },
            PcmWavertConfig {
                start_threshold_bytes: 8000,
                ..config()
            },
            PcmWavertConfig {
                low_watermark_bytes: 8000,
                ..config()
            },
        ] {
            assert_eq!(
                pcm_wavert_memory_size(&bad, &mut size),
                PCM_WAVERT_STATUS_INVALID_PARAMETER,
                "{bad:?}"
            );
        }
        assert_eq!(pcm_wavert_memory_size(&config(), &mut size), 0);
        assert!(size > 7680);
    }
}

#[test]
fn create_checks_its_memory_at_any_alignment() {
    let mut size = 0usize;
    // SAFETY: every pointer is valid, or deliberately null, misaligned or
    // not a stream, which the functions check before using it.
    unsafe {
        assert_eq!(pcm_wavert_memory_size(&config(), &mut size), 0);
    }
    let mut mem = memory();
    let base = mem.as_mut_ptr() as *mut u8;
    for offset in 0..9 {
        let mut stream = ptr::null_mut();
        // SAFETY: every pointer is valid, or deliberately null, misaligned or
        // not a stream, which the functions check before using it.
        unsafe {
            let at = base.add(offset);
            assert_eq!(
                pcm_wavert_create(&config(), at, size - 1, &mut stream),
                PCM_WAVERT_STATUS_BUFFER_TOO_SMALL
            );
            assert_eq!(
                pcm_wavert_create(&config(), ptr::null_mut(), size, &mut stream),
                PCM_WAVERT_STATUS_INVALID_PARAMETER
            );
            assert_eq!(pcm_wavert_create(&config(), at, size, &mut stream), 0);
            assert!(!stream.is_null());
            let data = [1u8; 10];
            let mut accepted = 0usize;
            assert_eq!(
                pcm_wavert_ioctl_write(stream, data.as_ptr(), 10, &mut accepted),
                0
            );
            assert_eq!(accepted, 10);
            assert_eq!(pcm_wavert_destroy(stream), 0);
            // Destroyed: every call refuses the handle.
            assert_eq!(
                pcm_wavert_destroy(stream),
                PCM_WAVERT_STATUS_INVALID_PARAMETER
            );
            assert_eq!(
                pcm_wavert_ioctl_write(stream, data.as_ptr(), 10, &mut accepted),
                PCM_WAVERT_STATUS_INVALID_PARAMETER
            );
            assert_eq!(
                pcm_wavert_set_state(stream, PCM_WAVERT_KSSTATE_ACQUIRE, 0, 1),
                PCM_WAVERT_STATUS_INVALID_PARAMETER
            );
        }
    }
}

#[test]
fn handles_that_are_not_streams_are_refused() {
    let mut not_a_stream = memory();
    let fake = not_a_stream.as_mut_ptr() as *mut PcmWavertStream;
    let mut out = PcmWavertCounters::default();
    // SAFETY: every pointer is valid, or deliberately null, misaligned or
    // not a stream, which the functions check before using it.
    unsafe {
        assert_eq!(
            pcm_wavert_counters(fake, &mut out),
            PCM_WAVERT_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            pcm_wavert_counters(ptr::null_mut(), &mut out),
            PCM_WAVERT_STATUS_INVALID_PARAMETER
        );
        let misaligned = (fake as *mut u8).add(1) as *mut PcmWavertStream;
        assert_eq!(
            pcm_wavert_destroy(misaligned),
            PCM_WAVERT_STATUS_INVALID_PARAMETER
        );
    }
}

#[test]
fn bad_lengths_and_states_lose_nothing() {
    let mut size = 0usize;
    let mut mem = memory();
    let mut stream = ptr::null_mut();
    // SAFETY: every pointer is valid, or deliberately null, misaligned or
    // not a stream, which the functions check before using it.
    unsafe {
        assert_eq!(pcm_wavert_memory_size(&config(), &mut size), 0);
        assert_eq!(
            pcm_wavert_create(&config(), mem.as_mut_ptr() as *mut u8, size, &mut stream),
            0
        );
        let data = vec![3u8; 8000];
        let mut accepted = 99usize;
        assert_eq!(
            pcm_wavert_ioctl_write(stream, data.as_ptr(), 0, &mut accepted),
            PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE
        );
        assert_eq!(
            pcm_wavert_ioctl_write(stream, data.as_ptr(), 8000, &mut accepted),
            PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE
        );
        assert_eq!(
            pcm_wavert_ioctl_write(stream, ptr::null(), 8, &mut accepted),
            PCM_WAVERT_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            pcm_wavert_ioctl_write(stream, data.as_ptr(), 7000, ptr::null_mut()),
            0
        );
        assert_eq!(
            pcm_wavert_ioctl_write(stream, data.as_ptr(), 1000, &mut accepted),
            PCM_WAVERT_STATUS_DEVICE_BUSY
        );
        assert_eq!(accepted, 0);
        let mut actual = 0u32;
        for (count, status) in [
            (0, PCM_WAVERT_STATUS_INVALID_PARAMETER),
            (3, PCM_WAVERT_STATUS_INVALID_PARAMETER),
        ] {
            assert_eq!(
                pcm_wavert_allocate_buffer(stream, 1920, count, &mut actual),
                status
            );
        }
        assert_eq!(
            pcm_wavert_allocate_buffer(stream, 3, 1, &mut actual),
            PCM_WAVERT_STATUS_UNSUCCESSFUL
        );
        let mut dma = vec![0u8; 1920];
        assert_eq!(
            pcm_wavert_timer(stream, dma.as_mut_ptr(), 1920, 1, 1, ptr::null_mut()),
            PCM_WAVERT_STATUS_INVALID_DEVICE_STATE
        );
        assert_eq!(
            pcm_wavert_set_state(stream, PCM_WAVERT_KSSTATE_ACQUIRE, 0, 10_000_000),
            PCM_WAVERT_STATUS_INVALID_DEVICE_STATE
        );
        assert_eq!(pcm_wavert_allocate_buffer(stream, 1922, 2, &mut actual), 0);
        assert_eq!(actual, 1920);
        assert_eq!(
            pcm_wavert_set_state(stream, PCM_WAVERT_KSSTATE_RUN, 0, 10_000_000),
            PCM_WAVERT_STATUS_INVALID_DEVICE_STATE
        );
        assert_eq!(
            pcm_wavert_set_state(stream, 9, 0, 10_000_000),
            PCM_WAVERT_STATUS_INVALID_PARAMETER
        );
        for s in [1, 2, 3] {
            assert_eq!(pcm_wavert_set_state(stream, s, 0, 10_000_000), 0);
        }
        assert_eq!(
            pcm_wavert_timer(
                stream,
                dma.as_mut_ptr(),
                1919,
                10_000,
                10_000_000,
                ptr::null_mut()
            ),
            PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE
        );
        assert_eq!(
            pcm_wavert_timer(
                stream,
                ptr::null_mut(),
                1920,
                10_000,
                10_000_000,
                ptr::null_mut()
            ),
            PCM_WAVERT_STATUS_INVALID_PARAMETER
        );
        let mut counters = PcmWavertCounters::default();
        assert_eq!(pcm_wavert_counters(stream, &mut counters), 0);
        assert_eq!(
            (counters.fill, counters.read, counters.updates),
            (7000, 0, 0)
        );
        let mut tick = PcmWavertTick::default();
        assert_eq!(
            pcm_wavert_timer(
                stream,
                dma.as_mut_ptr(),
                1920,
                10_000,
                10_000_000,
                &mut tick
            ),
            0
        );
        assert_eq!(
            (tick.frames, tick.data_bytes, tick.silence_bytes),
            (48, 192, 0)
        );
        let mut pos = PcmWavertPosition::default();
        assert_eq!(pcm_wavert_position(stream, &mut pos), 0);
        assert_eq!(
            (
                pos.play_offset,
                pos.linear_position,
                pos.presentation_frames
            ),
            (192, 192, 48)
        );
        assert_eq!(pcm_wavert_destroy(stream), 0);
    }
}

#[test]
fn status_values_are_the_ntstatus_values() {
    let pairs = [
        (PCM_WAVERT_STATUS_UNSUCCESSFUL, 0xC000_0001u32),
        (PCM_WAVERT_STATUS_INVALID_PARAMETER, 0xC000_000D),
        (PCM_WAVERT_STATUS_BUFFER_TOO_SMALL, 0xC000_0023),
        (PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE, 0xC000_0206),
        (PCM_WAVERT_STATUS_DEVICE_BUSY, 0x8000_0011),
        (PCM_WAVERT_STATUS_INVALID_DEVICE_STATE, 0xC000_0184),
    ];
    for (status, ntstatus) in pairs {
        assert_eq!(status as u32, ntstatus);
    }
}

/// The handle crossing to another thread, as a driver's context pointer does.
#[derive(Clone, Copy)]
struct Handle(*mut PcmWavertStream);
// SAFETY: the C ABI lets the producer call and the stream calls run on two
// threads at once; each side touches only its own part of the stream.
unsafe impl Send for Handle {}

#[test]
fn ioctl_writer_and_timer_on_two_threads() {
    let frames: u32 = if cfg!(miri) { 300 } else { 100_000 };
    let config = PcmWavertConfig {
        ring_bytes: 384,
        ..config()
    };
    let mut size = 0usize;
    let mut mem = memory();
    let mut stream = ptr::null_mut();
    // SAFETY: valid pointers; the memory outlives the stream.
    unsafe {
        assert_eq!(pcm_wavert_memory_size(&config, &mut size), 0);
        assert_eq!(
            pcm_wavert_create(&config, mem.as_mut_ptr() as *mut u8, size, &mut stream),
            0
        );
    }
    let handle = Handle(stream);
    let mut actual = 0u32;
    // SAFETY: a live stream; no other call runs yet.
    unsafe {
        assert_eq!(pcm_wavert_allocate_buffer(stream, 192, 2, &mut actual), 0);
        for s in 1..=3 {
            assert_eq!(pcm_wavert_set_state(stream, s, 0, 1_000_000), 0);
        }
    }
    let writer = std::thread::spawn(move || {
        let h = handle;
        let mut next = 1u32;
        while next <= frames {
            let n = (frames + 1 - next).min(1 + next % 7);
            let bytes: Vec<u8> = (next..next + n).flat_map(u32::to_le_bytes).collect();
            for part in bytes.chunks(5) {
                loop {
                    // SAFETY: the producer call, alone on this thread.
                    let status = unsafe {
                        pcm_wavert_ioctl_write(h.0, part.as_ptr(), part.len(), ptr::null_mut())
                    };
                    if status == 0 {
                        break;
                    }
                    assert_eq!(status, PCM_WAVERT_STATUS_DEVICE_BUSY);
                    std::thread::yield_now();
                }
            }
            next += n;
        }
    });
    let mut dma = vec![0u8; actual as usize];
    let (mut qpc, mut linear, mut expected) = (0u64, 0usize, 1u32);
    while expected <= frames {
        qpc += 100; // 100 µs: 4 or 5 frames
        let mut tick = PcmWavertTick::default();
        // SAFETY: the stream calls, alone on this thread.
        let status = unsafe {
            pcm_wavert_timer(
                stream,
                dma.as_mut_ptr(),
                dma.len(),
                qpc,
                1_000_000,
                &mut tick,
            )
        };
        assert_eq!(status, 0);
        for _ in 0..tick.frames {
            let at = linear % dma.len();
            let n = u32::from_le_bytes(dma[at..at + 4].try_into().unwrap());
            linear += 4;
            if n != 0 {
                assert_eq!(n, expected);
                expected += 1;
            }
        }
        std::thread::yield_now();
    }
    writer.join().unwrap();
    // SAFETY: both threads are done.
    unsafe { assert_eq!(pcm_wavert_destroy(stream), 0) };
}

#[test]
fn render_copies_the_engines_audio_to_the_ioctl_reader() {
    let config = PcmWavertConfig {
        direction: PCM_WAVERT_DIRECTION_RENDER,
        ring_bytes: 768,
        ..config()
    };
    let mut size = 0usize;
    let mut mem = memory();
    let mut stream = ptr::null_mut();
    // SAFETY: every pointer is valid, or deliberately null, misaligned or
    // of the wrong direction, which the functions check before using it.
    unsafe {
        assert_eq!(pcm_wavert_memory_size(&config, &mut size), 0);
        assert_eq!(
            pcm_wavert_create(&config, mem.as_mut_ptr() as *mut u8, size, &mut stream),
            0
        );
        let mut actual = 0u32;
        assert_eq!(pcm_wavert_allocate_buffer(stream, 384, 2, &mut actual), 0);
        // The engine's audio: frames 0..96 in the DMA buffer.
        let mut dma: Vec<u8> = (0u32..96).flat_map(u32::to_le_bytes).collect();
        for s in 1..=3 {
            assert_eq!(pcm_wavert_set_state(stream, s, 0, 1_000_000), 0);
        }
        let data = [0u8; 8];
        assert_eq!(
            pcm_wavert_ioctl_write(stream, data.as_ptr(), 8, ptr::null_mut()),
            PCM_WAVERT_STATUS_INVALID_DEVICE_REQUEST
        );
        let mut tick = PcmWavertTick::default();
        // 1.5 ms: 72 frames.
        assert_eq!(
            pcm_wavert_timer(
                stream,
                dma.as_mut_ptr(),
                dma.len(),
                1_500,
                1_000_000,
                &mut tick
            ),
            0
        );
        assert_eq!(
            (tick.frames, tick.data_bytes, tick.dropped_bytes),
            (72, 288, 0)
        );
        let mut out = vec![0u8; 1000];
        let mut got = 0usize;
        assert_eq!(
            pcm_wavert_ioctl_read(stream, out.as_mut_ptr(), 3, &mut got),
            PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE
        );
        assert_eq!(
            pcm_wavert_ioctl_read(stream, ptr::null_mut(), 100, &mut got),
            PCM_WAVERT_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            pcm_wavert_ioctl_read(stream, out.as_mut_ptr(), 100, ptr::null_mut()),
            PCM_WAVERT_STATUS_INVALID_PARAMETER
        );
        // 102 bytes: 25 whole frames.
        assert_eq!(
            pcm_wavert_ioctl_read(stream, out.as_mut_ptr(), 102, &mut got),
            0
        );
        assert_eq!(got, 100);
        assert_eq!(
            pcm_wavert_ioctl_read(stream, out[100..].as_mut_ptr(), 900, &mut got),
            0
        );
        assert_eq!(got, 188);
        let frames: Vec<u32> = out[..288]
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(frames, (0..72).collect::<Vec<u32>>());
        // Nothing buffered: 0 bytes, no silence invented.
        assert_eq!(
            pcm_wavert_ioctl_read(stream, out.as_mut_ptr(), 900, &mut got),
            0
        );
        assert_eq!(got, 0);
        // The reader falls behind: a REJECT ring drops what it cannot take.
        for (qpc, written, dropped) in [(3_500, 384, 0), (5_500, 384, 0), (6_500, 0, 192)] {
            assert_eq!(
                pcm_wavert_timer(
                    stream,
                    dma.as_mut_ptr(),
                    dma.len(),
                    qpc,
                    1_000_000,
                    &mut tick
                ),
                0
            );
            assert_eq!((tick.data_bytes, tick.dropped_bytes), (written, dropped));
        }
        let mut c = PcmWavertCounters::default();
        assert_eq!(pcm_wavert_counters(stream, &mut c), 0);
        // The last 48 frames cross the DMA wrap: two writes, both refused.
        assert_eq!(
            (c.written, c.read, c.fill, c.refused),
            (288 + 768, 288, 768, 2)
        );
        assert_eq!(pcm_wavert_destroy(stream), 0);
    }
}

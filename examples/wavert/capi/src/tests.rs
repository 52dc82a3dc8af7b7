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

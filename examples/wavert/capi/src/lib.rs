//! The C ABI of the pcm-ring WaveRT adapter: a virtual-microphone capture
//! stream (or a virtual-speaker render stream) for a SYSVAD-derived C++
//! PortCls miniport.
//!
//! The driver allocates [`pcm_wavert_memory_size`] bytes of nonpaged memory
//! and calls [`pcm_wavert_create`] over it; everything (the stream, the
//! ring's header and its data) lives there, nothing is allocated later.
//! Then:
//!
//! | call | where in a SYSVAD-style stream | IRQL |
//! |---|---|---|
//! | [`pcm_wavert_ioctl_write`] (capture) | the IOCTL dispatch routine (a sequential queue: one writer at a time) | ≤ DISPATCH_LEVEL |
//! | [`pcm_wavert_ioctl_read`] (render) | the IOCTL dispatch routine (a sequential queue: one reader at a time) | ≤ DISPATCH_LEVEL |
//! | [`pcm_wavert_allocate_buffer`] | `AllocateBufferWithNotification` | PASSIVE_LEVEL |
//! | [`pcm_wavert_set_state`] | `SetState` | ≤ DISPATCH_LEVEL |
//! | [`pcm_wavert_timer`] | `UpdatePosition` / `WriteBytes` (capture) or `ReadBytes` (render), in the timer DPC and `GetPosition` | ≤ DISPATCH_LEVEL |
//! | [`pcm_wavert_position`], [`pcm_wavert_counters`] | `GetPosition`, `GetPositions`, diagnostics | ≤ DISPATCH_LEVEL |
//!
//! Concurrency contract: the *IOCTL* call ([`pcm_wavert_ioctl_write`] or
//! [`pcm_wavert_ioctl_read`]) may run at the same time as any *stream* call
//! (all the others), on another processor; IOCTL calls must be serialised
//! among themselves (one producer, or one consumer), and stream calls among
//! themselves (SYSVAD's position spin lock already does). Create and
//! destroy must not overlap anything.
//!
//! Every pointer and length is checked: a null or misaligned pointer, a
//! length that does not fit, or a handle that is not a live stream returns
//! an error status (`NTSTATUS` values, so a dispatch routine can return
//! them), never undefined behaviour or a panic. What cannot be checked is
//! that a non-null pointer points to memory of the length given; that is
//! the caller's contract, as for any C function.

// `no_std` with its own panic handler when built with `panic = "abort"` (the
// kernel build, the C harness, the no-panic check); a plain `cargo build`
// or `cargo test` (which unwind) links std instead, because a no_std crate
// cannot unwind.
#![cfg_attr(panic = "abort", no_std)]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use core::mem::{align_of, size_of};
use core::ptr;

use pcm_ring::{Config, Consumer, Overrun, Producer, ReArm, Underrun, WriteError};
use pcm_ring_wavert::{CaptureStream, Format, KsState, RenderStream, StreamError, Timing};

/// `STATUS_SUCCESS`.
pub const PCM_WAVERT_STATUS_SUCCESS: i32 = 0;
/// `STATUS_UNSUCCESSFUL` (0xC0000001): SYSVAD's answer to a DMA buffer smaller than a frame.
pub const PCM_WAVERT_STATUS_UNSUCCESSFUL: i32 = -0x3FFF_FFFF;
/// `STATUS_INVALID_PARAMETER` (0xC000000D): a null or misaligned pointer, a handle that
/// is not a live stream, or an invalid configuration or notification count.
pub const PCM_WAVERT_STATUS_INVALID_PARAMETER: i32 = -0x3FFF_FFF3;
/// `STATUS_BUFFER_TOO_SMALL` (0xC0000023): the memory given to create is too small.
pub const PCM_WAVERT_STATUS_BUFFER_TOO_SMALL: i32 = -0x3FFF_FFDD;
/// `STATUS_INVALID_BUFFER_SIZE` (0xC0000206): an IOCTL write of 0 bytes or longer than the
/// ring, or a DMA buffer whose length is not the allocated size.
pub const PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE: i32 = -0x3FFF_FDFA;
/// `STATUS_DEVICE_BUSY` (0x80000011): the ring is full (`PCM_WAVERT_OVERRUN_REJECT`);
/// nothing was written, retry when the timer has made room.
pub const PCM_WAVERT_STATUS_DEVICE_BUSY: i32 = -0x7FFF_FFEF;
/// `STATUS_INVALID_DEVICE_STATE` (0xC0000184): a state change that skips a state, a
/// buffer allocation outside STOP, or a timer call without a buffer.
pub const PCM_WAVERT_STATUS_INVALID_DEVICE_STATE: i32 = -0x3FFF_FE7C;

/// `STATUS_INVALID_DEVICE_REQUEST` (0xC0000010): an IOCTL write on a render
/// stream, or an IOCTL read on a capture stream.
pub const PCM_WAVERT_STATUS_INVALID_DEVICE_REQUEST: i32 = -0x3FFF_FFF0;

/// Direction: a capture stream, a virtual microphone (IOCTL writes → ring →
/// the timer copies into the DMA buffer).
pub const PCM_WAVERT_DIRECTION_CAPTURE: u32 = 0;
/// Direction: a render stream, a virtual speaker (the timer copies the DMA
/// buffer into the ring → IOCTL reads).
pub const PCM_WAVERT_DIRECTION_RENDER: u32 = 1;

/// Overrun policy: refuse a write that does not fit (`STATUS_DEVICE_BUSY`).
pub const PCM_WAVERT_OVERRUN_REJECT: u32 = 0;
/// Overrun policy: write the whole frames that fit, drop the rest.
pub const PCM_WAVERT_OVERRUN_TRUNCATE: u32 = 1;
/// Overrun policy: discard the oldest audio so the newest fits (a
/// microphone keeps the newest audio while nobody records).
pub const PCM_WAVERT_OVERRUN_OVERWRITE_OLDEST: u32 = 2;

/// `KSSTATE_STOP`.
pub const PCM_WAVERT_KSSTATE_STOP: u32 = 0;
/// `KSSTATE_ACQUIRE`.
pub const PCM_WAVERT_KSSTATE_ACQUIRE: u32 = 1;
/// `KSSTATE_PAUSE`.
pub const PCM_WAVERT_KSSTATE_PAUSE: u32 = 2;
/// `KSSTATE_RUN`.
pub const PCM_WAVERT_KSSTATE_RUN: u32 = 3;

/// A stream's configuration: the `WAVEFORMATEX` fields that matter and the
/// ring's shape.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PcmWavertConfig {
    /// `nSamplesPerSec`.
    pub sample_rate: u32,
    /// `nChannels`.
    pub channels: u16,
    /// `wBitsPerSample` (8: unsigned, silence 0x80; wider: signed, silence 0).
    pub bits_per_sample: u16,
    /// The ring's capacity in bytes, a whole number of frames.
    pub ring_bytes: u32,
    /// `PCM_WAVERT_OVERRUN_*`.
    pub overrun: u32,
    /// Bytes buffered before the first data reaches the DMA buffer (0: at
    /// once, as the port drivers do).
    pub start_threshold_bytes: u32,
    /// The timer reports `low_watermark` when the fill falls below this
    /// (0: never): set the event the app waits on.
    pub low_watermark_bytes: u32,
    /// Silence written ahead of each new write position in the DMA buffer
    /// (capture; 0: none).
    pub silence_ahead_bytes: u32,
    /// `PCM_WAVERT_DIRECTION_*` (0: capture).
    pub direction: u32,
}

/// What one timer call did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PcmWavertTick {
    /// Frames the position moved.
    pub frames: u64,
    /// Bytes of ring data copied into the DMA buffer.
    pub data_bytes: u32,
    /// Bytes of silence for a shortfall (capture).
    pub silence_bytes: u32,
    /// Bytes the ring did not take (render: the reader is behind and the
    /// ring rejects or truncates).
    pub dropped_bytes: u32,
    /// 1 if the ring was short while streaming (an underrun).
    pub underrun: u8,
    /// 1 if the fill fell below the low watermark: set the app's event.
    pub low_watermark: u8,
}

/// Positions (`KSAUDIO_POSITION`, linear and presentation positions).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PcmWavertPosition {
    /// Byte offset in the DMA buffer.
    pub play_offset: u64,
    /// Byte offset in the DMA buffer (equal to `play_offset`).
    pub write_offset: u64,
    /// Bytes since RUN, whole frames.
    pub linear_position: u64,
    /// Frames since RUN.
    pub presentation_frames: u64,
    /// The QPC value of the last position update.
    pub presentation_qpc: u64,
}

/// The ring's and the stream's counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PcmWavertCounters {
    /// Bytes written into the ring (capture: by IOCTLs; render: by the timer).
    pub written: u64,
    /// Bytes read from the ring (capture: into the DMA buffer; render: by IOCTLs).
    pub read: u64,
    /// Bytes given to the ring that never entered it.
    pub dropped: u64,
    /// Bytes discarded unread by `PCM_WAVERT_OVERRUN_OVERWRITE_OLDEST`.
    pub overwritten: u64,
    /// Silence bytes while priming, for underruns, after the end.
    pub silence_priming: u64,
    /// Silence bytes for underruns.
    pub silence_underrun: u64,
    /// Underrun events.
    pub underruns: u64,
    /// Overrun events (writes that lost audio).
    pub overruns: u64,
    /// Writes refused because they did not fit (`PCM_WAVERT_OVERRUN_REJECT`:
    /// `STATUS_DEVICE_BUSY`; nothing was lost, the app keeps its bytes).
    pub refused: u64,
    /// The highest fill level seen, bytes.
    pub peak_fill: u64,
    /// Bytes buffered now.
    pub fill: u64,
    /// Position updates since STOP.
    pub updates: u64,
    /// Timer calls that found no new time (same QPC tick, or older).
    pub stale_updates: u64,
    /// Frames skipped because the position moved more than a buffer.
    pub skipped_frames: u64,
}

/// A live stream inside the caller's memory. Opaque to C.
pub struct PcmWavertStream {
    magic: u32,
    /// The IOCTL side: only [`pcm_wavert_ioctl_write`] (capture) or
    /// [`pcm_wavert_ioctl_read`] (render) touches it.
    user: UserSide,
    /// The device side: every other call.
    device: DeviceSide,
}

struct UserSide {
    end: UserEnd,
    capacity: usize,
    /// `Reject`: an input longer than the ring can never be written.
    reject: bool,
    block_align: usize,
}

enum UserEnd {
    /// Capture: the app's audio goes in.
    Writer(Producer<'static>),
    /// Render: the engine's audio comes out.
    Reader(Consumer<'static>),
}

enum DeviceSide {
    Capture(CaptureStream<'static>),
    Render(RenderStream<'static>),
}

impl DeviceSide {
    fn timing(&self) -> &Timing {
        match self {
            DeviceSide::Capture(s) => s.timing(),
            DeviceSide::Render(s) => s.timing(),
        }
    }
}

const MAGIC: u32 = 0x5743_4D50; // "PMCW"

fn format_of(config: &PcmWavertConfig) -> Option<Format> {
    Format::pcm(config.sample_rate, config.channels, config.bits_per_sample).ok()
}

fn ring_config(config: &PcmWavertConfig, format: &Format) -> Option<Config> {
    let overrun = match config.overrun {
        PCM_WAVERT_OVERRUN_REJECT => Overrun::Reject,
        PCM_WAVERT_OVERRUN_TRUNCATE => Overrun::Truncate,
        PCM_WAVERT_OVERRUN_OVERWRITE_OLDEST => Overrun::OverwriteOldest,
        _ => return None,
    };
    // A render ring's reader (an IOCTL) takes what is there, no silence.
    let underrun = match config.direction {
        PCM_WAVERT_DIRECTION_CAPTURE => Underrun::SilenceFill,
        PCM_WAVERT_DIRECTION_RENDER => Underrun::Partial,
        _ => return None,
    };
    let c = Config::raw(format.block_align(), config.ring_bytes as usize)
        .overrun(overrun)
        .underrun(underrun)
        .silence(format.silence())
        .start_threshold(config.start_threshold_bytes as usize)
        .rearm(ReArm::Immediate)
        .low_watermark(config.low_watermark_bytes as usize);
    c.validate().ok().map(|()| c)
}

/// Total bytes: the stream, alignment padding, and the ring.
fn total_size(ring: &Config) -> Option<usize> {
    let ring_bytes = ring.required_memory().ok()?;
    size_of::<PcmWavertStream>()
        .checked_add(align_of::<PcmWavertStream>() - 1)?
        .checked_add(ring_bytes)
}

fn is_aligned<T>(p: *const T) -> bool {
    (p as usize).is_multiple_of(align_of::<T>())
}

/// Reads a caller's struct through a checked pointer.
///
/// # Safety
///
/// `p`, if non-null and aligned, must point to a readable `T`.
unsafe fn read_in<T: Copy>(p: *const T) -> Option<T> {
    if p.is_null() || !is_aligned(p) {
        return None;
    }
    // SAFETY: non-null and aligned; readable by the caller's contract.
    Some(unsafe { ptr::read(p) })
}

/// Writes a caller's out-parameter through a checked pointer.
///
/// # Safety
///
/// `p`, if non-null and aligned, must point to a writable `T`.
unsafe fn write_out<T>(p: *mut T, value: T) -> bool {
    if p.is_null() || !is_aligned(p) {
        return false;
    }
    // SAFETY: non-null and aligned; writable by the caller's contract.
    unsafe { ptr::write(p, value) };
    true
}

/// Checks a handle: non-null, aligned, and a live stream (its magic value).
///
/// # Safety
///
/// `s`, if non-null and aligned, must point to memory the caller gave
/// [`pcm_wavert_create`] (live or destroyed) or to readable memory at least
/// as large as a stream.
unsafe fn check(s: *const PcmWavertStream) -> bool {
    if s.is_null() || !is_aligned(s) {
        return false;
    }
    // SAFETY: only the `magic` field is read, by raw pointer, without a
    // reference to the whole stream (the other side may hold one to its
    // part); create and destroy do not overlap other calls.
    let magic = unsafe { ptr::read_volatile(ptr::addr_of!((*s).magic)) };
    magic == MAGIC
}

fn status_of(e: StreamError) -> i32 {
    match e {
        StreamError::BufferTooSmall { .. } => PCM_WAVERT_STATUS_UNSUCCESSFUL,
        StreamError::DmaLength { .. } | StreamError::BufferTooLarge { .. } => {
            PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE
        }
        StreamError::NotStopped { .. }
        | StreamError::NoBuffer
        | StreamError::InvalidTransition { .. } => PCM_WAVERT_STATUS_INVALID_DEVICE_STATE,
        _ => PCM_WAVERT_STATUS_INVALID_PARAMETER,
    }
}

/// Bytes of nonpaged memory a stream with `config` needs, any alignment.
///
/// Returns `STATUS_SUCCESS` and writes `*out_size`, or
/// `STATUS_INVALID_PARAMETER` for a null or misaligned pointer or an
/// invalid configuration (zero rate or channels, bits not a multiple of 8,
/// a ring that is not whole frames, thresholds above the ring, an unknown
/// overrun policy).
///
/// # Safety
///
/// Non-null pointers must point to a readable config and a writable size.
#[no_mangle]
pub unsafe extern "C" fn pcm_wavert_memory_size(
    config: *const PcmWavertConfig,
    out_size: *mut usize,
) -> i32 {
    // SAFETY: the caller's contract for `config`.
    let Some(config) = (unsafe { read_in(config) }) else {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    };
    let Some(format) = format_of(&config) else {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    };
    let Some(size) = ring_config(&config, &format).and_then(|r| total_size(&r)) else {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    };
    // SAFETY: the caller's contract for `out_size`.
    if unsafe { write_out(out_size, size) } {
        PCM_WAVERT_STATUS_SUCCESS
    } else {
        PCM_WAVERT_STATUS_INVALID_PARAMETER
    }
}

/// Creates a stopped capture stream and its ring inside `memory`
/// (`memory_len` bytes, any alignment, at least what
/// [`pcm_wavert_memory_size`] said) and writes its handle to `*out_stream`.
/// The memory must stay valid, and untouched by the caller, until
/// [`pcm_wavert_destroy`].
///
/// Returns `STATUS_SUCCESS`, `STATUS_INVALID_PARAMETER` (null or misaligned
/// pointers, invalid configuration) or `STATUS_BUFFER_TOO_SMALL`.
///
/// # Safety
///
/// `memory` must be valid for reads and writes of `memory_len` bytes and not
/// used by anything else until destroy; non-null `config` and `out_stream`
/// must be readable and writable.
#[no_mangle]
pub unsafe extern "C" fn pcm_wavert_create(
    config: *const PcmWavertConfig,
    memory: *mut u8,
    memory_len: usize,
    out_stream: *mut *mut PcmWavertStream,
) -> i32 {
    if memory.is_null() || out_stream.is_null() || !is_aligned(out_stream) {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: the caller's contract for `config`.
    let Some(config) = (unsafe { read_in(config) }) else {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    };
    let Some(format) = format_of(&config) else {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    };
    let Some(ring) = ring_config(&config, &format) else {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    };
    let Some(needed) = total_size(&ring) else {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    };
    if memory_len < needed {
        return PCM_WAVERT_STATUS_BUFFER_TOO_SMALL;
    }
    let pad = memory.align_offset(align_of::<PcmWavertStream>());
    let head = size_of::<PcmWavertStream>();
    let ring_start = match pad.checked_add(head) {
        Some(n) if n <= memory_len => n,
        _ => return PCM_WAVERT_STATUS_BUFFER_TOO_SMALL,
    };
    // SAFETY: `ring_start <= memory_len`, inside the caller's memory, which
    // is ours until destroy; the stream part `[pad, ring_start)` and the
    // ring part do not overlap. The 'static lifetime stands for "until
    // destroy", which the caller promises.
    let ring_memory: &'static mut [u8] =
        unsafe { core::slice::from_raw_parts_mut(memory.add(ring_start), memory_len - ring_start) };
    let Ok((producer, consumer)) = pcm_ring::borrowed(&ring, ring_memory) else {
        return PCM_WAVERT_STATUS_BUFFER_TOO_SMALL;
    };
    let (end, device) = if config.direction == PCM_WAVERT_DIRECTION_RENDER {
        let Ok(stream) = RenderStream::new(format, producer) else {
            return PCM_WAVERT_STATUS_INVALID_PARAMETER;
        };
        (UserEnd::Reader(consumer), DeviceSide::Render(stream))
    } else {
        let Ok(mut stream) = CaptureStream::new(format, consumer) else {
            return PCM_WAVERT_STATUS_INVALID_PARAMETER;
        };
        stream.set_silence_ahead(config.silence_ahead_bytes as usize);
        (UserEnd::Writer(producer), DeviceSide::Capture(stream))
    };
    let value = PcmWavertStream {
        magic: MAGIC,
        user: UserSide {
            end,
            capacity: config.ring_bytes as usize,
            reject: config.overrun == PCM_WAVERT_OVERRUN_REJECT,
            block_align: format.block_align(),
        },
        device,
    };
    // SAFETY: `memory + pad` is aligned for a stream and `head` bytes fit
    // before the ring part.
    unsafe {
        let at = memory.add(pad).cast::<PcmWavertStream>();
        ptr::write(at, value);
        ptr::write(out_stream, at);
    }
    PCM_WAVERT_STATUS_SUCCESS
}

/// Destroys a stream; its memory can be freed afterwards. Returns
/// `STATUS_INVALID_PARAMETER` for a handle that is not a live stream.
///
/// # Safety
///
/// `stream` must be a handle from [`pcm_wavert_create`] (or null), with no
/// other call on it running.
#[no_mangle]
pub unsafe extern "C" fn pcm_wavert_destroy(stream: *mut PcmWavertStream) -> i32 {
    // SAFETY: the caller's contract.
    if !unsafe { check(stream) } {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a live stream that nothing else uses now; the magic is cleared
    // first so a second destroy is refused.
    unsafe {
        ptr::write_volatile(ptr::addr_of_mut!((*stream).magic), 0);
        ptr::drop_in_place(ptr::addr_of_mut!((*stream).user));
        ptr::drop_in_place(ptr::addr_of_mut!((*stream).device));
    }
    PCM_WAVERT_STATUS_SUCCESS
}

/// The device side, by raw-pointer projection: no reference to the IOCTL
/// side is made.
///
/// # Safety
///
/// `stream` passed [`check`], and stream calls are serialised.
unsafe fn device_side<'a>(stream: *mut PcmWavertStream) -> &'a mut DeviceSide {
    // SAFETY: the caller's contract; the field is disjoint from the IOCTL
    // side that an IOCTL call may be using.
    unsafe { &mut *ptr::addr_of_mut!((*stream).device) }
}

/// The IOCTL side, by raw-pointer projection: no reference to the device
/// side is made.
///
/// # Safety
///
/// `stream` passed [`check`], and IOCTL calls are serialised.
unsafe fn user_side<'a>(stream: *mut PcmWavertStream) -> &'a mut UserSide {
    // SAFETY: the caller's contract; disjoint from the device side.
    unsafe { &mut *ptr::addr_of_mut!((*stream).user) }
}

/// The IOCTL write: `len` bytes of the app's audio, any length (a trailing
/// partial frame is held until the next write completes it). Writes the
/// bytes accepted (committed or held) to `*out_accepted` if it is not null.
///
/// Returns `STATUS_SUCCESS` (under `TRUNCATE` some bytes may have been
/// dropped: `*out_accepted < len`), `STATUS_DEVICE_BUSY` if the ring is full
/// under `REJECT` (nothing written; retry), `STATUS_INVALID_BUFFER_SIZE` for
/// 0 bytes or more than the ring holds under `REJECT`, or
/// `STATUS_INVALID_PARAMETER` for a null `data` or a bad handle,
/// `STATUS_INVALID_DEVICE_REQUEST` on a render stream.
///
/// # Safety
///
/// `data` must be readable for `len` bytes; `stream` a handle from create;
/// IOCTL calls serialised (one producer).
#[no_mangle]
pub unsafe extern "C" fn pcm_wavert_ioctl_write(
    stream: *mut PcmWavertStream,
    data: *const u8,
    len: usize,
    out_accepted: *mut usize,
) -> i32 {
    // SAFETY: the caller's contract.
    if !unsafe { check(stream) } || data.is_null() || !is_aligned(out_accepted) {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a live stream; only the IOCTL side is borrowed, which IOCTL
    // calls (serialised) alone use.
    let side = unsafe { user_side(stream) };
    let UserEnd::Writer(producer) = &mut side.end else {
        return PCM_WAVERT_STATUS_INVALID_DEVICE_REQUEST;
    };
    if len == 0 || (side.reject && len > side.capacity) || len > isize::MAX as usize {
        return PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE;
    }
    // SAFETY: `data` is non-null and readable for `len` bytes by contract.
    let bytes = unsafe { core::slice::from_raw_parts(data, len) };
    let (status, accepted) = match producer.write_stream(bytes) {
        Ok(outcome) => (
            PCM_WAVERT_STATUS_SUCCESS,
            len.saturating_sub(outcome.dropped),
        ),
        Err(WriteError::Full { .. }) => (PCM_WAVERT_STATUS_DEVICE_BUSY, 0),
        Err(_) => (PCM_WAVERT_STATUS_INVALID_DEVICE_STATE, 0),
    };
    if !out_accepted.is_null() {
        // SAFETY: non-null and aligned (checked above), writable by contract.
        unsafe { ptr::write(out_accepted, accepted) };
    }
    status
}

/// The IOCTL read of a render stream (a virtual speaker's audio, or the
/// far end of a virtual cable): copies the whole frames buffered, up to
/// `len` bytes, into `buf` and writes their count to `*out_read` (0 when
/// nothing is buffered: no silence is invented for a reader).
///
/// Returns `STATUS_SUCCESS`, `STATUS_INVALID_BUFFER_SIZE` for a `len`
/// smaller than one frame, `STATUS_INVALID_PARAMETER` for a null `buf` or
/// `out_read`, a misaligned `out_read` or a bad handle, and
/// `STATUS_INVALID_DEVICE_REQUEST` on a capture stream.
///
/// # Safety
///
/// `buf` must be writable for `len` bytes; `stream` a handle from create;
/// IOCTL calls serialised (one consumer).
#[no_mangle]
pub unsafe extern "C" fn pcm_wavert_ioctl_read(
    stream: *mut PcmWavertStream,
    buf: *mut u8,
    len: usize,
    out_read: *mut usize,
) -> i32 {
    // SAFETY: the caller's contract.
    if !unsafe { check(stream) } || buf.is_null() || out_read.is_null() || !is_aligned(out_read) {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a live stream; only the IOCTL side is borrowed.
    let side = unsafe { user_side(stream) };
    let block_align = side.block_align;
    let UserEnd::Reader(consumer) = &mut side.end else {
        return PCM_WAVERT_STATUS_INVALID_DEVICE_REQUEST;
    };
    let whole = len
        .checked_div(block_align)
        .unwrap_or(0)
        .saturating_mul(block_align);
    if whole == 0 || len > isize::MAX as usize {
        return PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE;
    }
    // SAFETY: `buf` is non-null and writable for `len >= whole` bytes.
    let dst = unsafe { core::slice::from_raw_parts_mut(buf, whole) };
    let got = match consumer.read(dst) {
        Ok(outcome) => outcome.data,
        // Unreachable: `whole` is a whole number of frames.
        Err(_) => return PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE,
    };
    // SAFETY: non-null and aligned (checked above), writable by contract.
    unsafe { ptr::write(out_read, got) };
    PCM_WAVERT_STATUS_SUCCESS
}

/// `AllocateBufferWithNotification`'s checks (size ≥ one frame, count 1 or
/// 2 dividing the size, rounded down to frames) in STOP; writes the actual
/// size to `*out_actual`.
///
/// Returns `STATUS_SUCCESS`, `STATUS_UNSUCCESSFUL` (smaller than a frame,
/// as SYSVAD), `STATUS_INVALID_PARAMETER` (count, pointers),
/// `STATUS_INVALID_DEVICE_STATE` (not in STOP).
///
/// # Safety
///
/// `stream` a handle from create; `out_actual` writable; stream calls
/// serialised.
#[no_mangle]
pub unsafe extern "C" fn pcm_wavert_allocate_buffer(
    stream: *mut PcmWavertStream,
    requested: u32,
    notification_count: u32,
    out_actual: *mut u32,
) -> i32 {
    // SAFETY: the caller's contract.
    if !unsafe { check(stream) } || out_actual.is_null() || !is_aligned(out_actual) {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: checked; stream calls are serialised.
    let result = match unsafe { device_side(stream) } {
        DeviceSide::Capture(s) => {
            s.allocate_buffer_with_notification(requested as usize, notification_count)
        }
        DeviceSide::Render(s) => {
            s.allocate_buffer_with_notification(requested as usize, notification_count)
        }
    };
    match result {
        Ok(size) => {
            // SAFETY: checked non-null and aligned above.
            unsafe { ptr::write(out_actual, size as u32) };
            PCM_WAVERT_STATUS_SUCCESS
        }
        Err(e) => status_of(e),
    }
}

/// `SetState` (`PCM_WAVERT_KSSTATE_*`), one step at a time; `qpc` and
/// `qpc_frequency` are `KeQueryPerformanceCounter`'s value and frequency.
///
/// Returns `STATUS_SUCCESS`, `STATUS_INVALID_DEVICE_STATE` (a skipped
/// state, or leaving STOP without a buffer) or `STATUS_INVALID_PARAMETER`
/// (unknown state, zero or changed frequency, bad handle).
///
/// # Safety
///
/// `stream` a handle from create; stream calls serialised.
#[no_mangle]
pub unsafe extern "C" fn pcm_wavert_set_state(
    stream: *mut PcmWavertStream,
    state: u32,
    qpc: u64,
    qpc_frequency: u64,
) -> i32 {
    // SAFETY: the caller's contract.
    if !unsafe { check(stream) } {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    }
    let Some(state) = KsState::from_u32(state) else {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    };
    // SAFETY: checked; stream calls are serialised.
    let result = match unsafe { device_side(stream) } {
        DeviceSide::Capture(s) => s.set_state(state, qpc, qpc_frequency),
        DeviceSide::Render(s) => s.set_state(state, qpc, qpc_frequency),
    };
    match result {
        Ok(()) => PCM_WAVERT_STATUS_SUCCESS,
        Err(e) => status_of(e),
    }
}

/// The timer path: moves the position to `qpc` and copies the frames it
/// moved between the cyclic DMA buffer `dma` (`dma_len` bytes, the
/// allocated size) and the ring: capture, ring → DMA buffer with silence
/// for any shortfall; render, DMA buffer → ring. Writes what it did
/// to `*out_tick` if it is not null. Call it from the timer DPC and from
/// `GetPosition`, under the stream's position lock.
///
/// Returns `STATUS_SUCCESS`, `STATUS_INVALID_BUFFER_SIZE` (a `dma_len` that
/// is not the allocated size), `STATUS_INVALID_DEVICE_STATE` (no buffer) or
/// `STATUS_INVALID_PARAMETER` (null `dma`, misaligned `out_tick`, zero or
/// changed frequency, bad handle). Nothing moves on an error.
///
/// # Safety
///
/// `dma` writable for `dma_len` bytes and not accessed by anything else
/// during the call; `stream` a handle from create; stream calls serialised.
#[no_mangle]
pub unsafe extern "C" fn pcm_wavert_timer(
    stream: *mut PcmWavertStream,
    dma: *mut u8,
    dma_len: usize,
    qpc: u64,
    qpc_frequency: u64,
    out_tick: *mut PcmWavertTick,
) -> i32 {
    // SAFETY: the caller's contract.
    if !unsafe { check(stream) } || dma.is_null() || !is_aligned(out_tick) {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: checked; stream calls are serialised.
    let device = unsafe { device_side(stream) };
    let size = device.timing().buffer_size();
    if dma_len != size || dma_len > isize::MAX as usize {
        return if size == 0 {
            PCM_WAVERT_STATUS_INVALID_DEVICE_STATE
        } else {
            PCM_WAVERT_STATUS_INVALID_BUFFER_SIZE
        };
    }
    // SAFETY: non-null, writable for `dma_len` bytes by contract.
    let dma = unsafe { core::slice::from_raw_parts_mut(dma, dma_len) };
    let result = match device {
        DeviceSide::Capture(s) => {
            s.update_position(dma, qpc, qpc_frequency)
                .map(|t| PcmWavertTick {
                    frames: t.frames,
                    data_bytes: t.data as u32,
                    silence_bytes: t.silence as u32,
                    dropped_bytes: 0,
                    underrun: u8::from(t.underrun),
                    low_watermark: u8::from(t.low_watermark),
                })
        }
        DeviceSide::Render(s) => {
            s.update_position(dma, qpc, qpc_frequency)
                .map(|t| PcmWavertTick {
                    frames: t.frames,
                    data_bytes: t.written as u32,
                    silence_bytes: 0,
                    dropped_bytes: t.dropped as u32,
                    underrun: 0,
                    low_watermark: 0,
                })
        }
    };
    match result {
        Ok(tick) => {
            if !out_tick.is_null() {
                // SAFETY: non-null and aligned (checked), writable by contract.
                unsafe { ptr::write(out_tick, tick) };
            }
            PCM_WAVERT_STATUS_SUCCESS
        }
        Err(e) => status_of(e),
    }
}

/// The positions, frozen outside RUN (call [`pcm_wavert_timer`] first for
/// the current time, as SYSVAD's `GetPosition` calls `UpdatePosition`).
///
/// # Safety
///
/// `stream` a handle from create; `out` writable; stream calls serialised.
#[no_mangle]
pub unsafe extern "C" fn pcm_wavert_position(
    stream: *mut PcmWavertStream,
    out: *mut PcmWavertPosition,
) -> i32 {
    // SAFETY: the caller's contract.
    if !unsafe { check(stream) } {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: checked; stream calls are serialised.
    let t = unsafe { device_side(stream) }.timing();
    let p = t.position();
    let pp = t.presentation_position();
    let value = PcmWavertPosition {
        play_offset: p.play_offset,
        write_offset: p.write_offset,
        linear_position: t.linear_position(),
        presentation_frames: pp.position_in_blocks,
        presentation_qpc: pp.qpc_position,
    };
    // SAFETY: the caller's contract for `out`.
    if unsafe { write_out(out, value) } {
        PCM_WAVERT_STATUS_SUCCESS
    } else {
        PCM_WAVERT_STATUS_INVALID_PARAMETER
    }
}

/// The ring's and the stream's counters (the ring's totals never reset;
/// the stream's reset at STOP).
///
/// # Safety
///
/// `stream` a handle from create; `out` writable; stream calls serialised.
#[no_mangle]
pub unsafe extern "C" fn pcm_wavert_counters(
    stream: *mut PcmWavertStream,
    out: *mut PcmWavertCounters,
) -> i32 {
    // SAFETY: the caller's contract.
    if !unsafe { check(stream) } {
        return PCM_WAVERT_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: checked; stream calls are serialised.
    let device = unsafe { device_side(stream) };
    let (c, fill) = match &*device {
        DeviceSide::Capture(s) => (s.ring_counters(), s.consumer().available()),
        DeviceSide::Render(s) => (s.ring_counters(), s.producer().fill()),
    };
    let t = device.timing().counters();
    let value = PcmWavertCounters {
        written: c.written,
        read: c.read,
        dropped: c.dropped,
        overwritten: c.overwritten,
        silence_priming: c.silence_priming,
        silence_underrun: c.silence_underrun,
        underruns: c.underruns,
        overruns: c.overruns,
        refused: c.refused,
        peak_fill: c.peak_fill,
        fill: fill as u64,
        updates: t.updates,
        stale_updates: t.stale_updates,
        skipped_frames: t.skipped_frames,
    };
    // SAFETY: the caller's contract for `out`.
    if unsafe { write_out(out, value) } {
        PCM_WAVERT_STATUS_SUCCESS
    } else {
        PCM_WAVERT_STATUS_INVALID_PARAMETER
    }
}

/// A deliberate panic path, to prove the no-panic check bites.
#[cfg(feature = "prove-it-bites")]
#[no_mangle]
pub extern "C" fn pcm_wavert_prove_it_bites(index: usize) -> u8 {
    let table = [1u8, 2, 3, 4];
    table[index]
}

#[cfg(all(panic = "abort", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    extern "C" {
        /// Never defined: a release build with LTO references it only if a
        /// panic path survived. `.ci/wavert.sh` looks for it with `nm`.
        fn pcm_wavert_panic_path_survived() -> !;
    }
    // SAFETY: never reached in a build that passes the no-panic check; in
    // one that does not, the link fails on this undefined symbol.
    unsafe { pcm_wavert_panic_path_survived() }
}

#[cfg(test)]
mod tests;

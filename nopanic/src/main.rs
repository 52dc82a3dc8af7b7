//! A freestanding binary that calls every audio-path operation of pcm-ring
//! on inputs the optimiser cannot see (`core::hint::black_box`), with a panic
//! handler that calls a function nobody defines. A release build links only
//! if the optimiser removed every panic path, which proves that none of these
//! operations can panic on any input.
//!
//! ```text
//! cargo build --release --target x86_64-unknown-none
//! ```

#![no_std]
#![no_main]

use core::hint::black_box;

use core::ptr::NonNull;

use pcm_ring::shm::{self, ShmConsumer, ShmProducer};
use pcm_ring::{
    borrowed, Config, Consumer, Format, Overrun, Producer, ReArm, SampleFormat, Silence,
    StaticRing, Underrun,
};

extern "C" {
    /// Deliberately never defined: referencing it fails the link.
    fn pcm_ring_nopanic_panic_path_survived() -> !;
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: never executed: the call is only there so that a reachable
    // panic leaves an undefined symbol for the linker to report.
    unsafe { pcm_ring_nopanic_panic_path_survived() }
}

/// The entry point the linker looks for. It is never run.
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut ring = StaticRing::<1024>::new();
    let mut memory = [0u8; 2048];
    let config = opaque_config();
    let split = if black_box(true) {
        ring.split(&config)
    } else {
        borrowed(&config, &mut memory)
    };
    if let Ok((mut producer, mut consumer)) = split {
        produce(&mut producer);
        consume(&mut consumer);
        black_box(producer.finish());
    }
    // Shared memory: init and every attach on an opaque region, then the
    // hardened sides (whose peer could have written anything meanwhile).
    let mut region = [0u32; 512];
    let base = black_box(NonNull::from(&mut region[..]).cast::<u8>());
    let len = black_box(2048usize);
    // SAFETY: `region` is valid for `len` bytes and outlives every handle.
    unsafe {
        let _ = black_box(shm::init(&config, base, len));
        if let Ok(mut tx) = shm::attach_producer(&config, base, len) {
            shm_produce(&mut tx);
        }
        if let Ok(mut rx) = shm::attach_consumer(&config, base, len) {
            shm_consume(&mut rx);
        }
        if let Ok(mut tx) = shm::attach_trusted_producer(&config, base, len) {
            produce(&mut tx);
        }
        if let Ok(mut rx) = shm::attach_trusted_consumer(&config, base, len) {
            consume(&mut rx);
        }
    }
    #[cfg(feature = "prove-it-bites")]
    {
        let table = [1u8, 2, 3, 4];
        black_box(table[black_box(7usize)]);
    }
    loop {
        core::hint::spin_loop();
    }
}

/// A configuration whose every value is opaque.
fn opaque_config() -> Config {
    let overrun = match black_box(2u8) {
        0 => Overrun::Reject,
        1 => Overrun::Truncate,
        _ => Overrun::OverwriteOldest,
    };
    let underrun = if black_box(true) {
        Underrun::SilenceFill
    } else {
        Underrun::Partial
    };
    let rearm = if black_box(true) {
        ReArm::Immediate
    } else {
        ReArm::Prime {
            restart_threshold: black_box(512),
        }
    };
    let silence = Silence::from_pattern(black_box(&[0x00, 0x80][..])).unwrap_or(Silence::ZERO);
    // A raw ring, or one with a declared format (typed reads and writes are
    // then checked against it).
    let base = if black_box(true) {
        Config::raw(black_box(4), black_box(1024))
    } else {
        Config::new(Format::new(SampleFormat::I16, black_box(2)), black_box(256))
    };
    base.overrun(overrun)
        .underrun(underrun)
        .rearm(rearm)
        .silence(silence)
        .start_threshold(black_box(256))
        .low_watermark(black_box(128))
        .start_position_blocks(black_box(0))
}

/// Every producer operation on the audio path.
fn produce(tx: &mut Producer<'_>) {
    let bytes = [0x5Au8; 300];
    let _ = black_box(tx.write(black_box(&bytes[..])));
    let _ = black_box(tx.write_stream(black_box(&bytes[..])));
    let _ = black_box(tx.held_partial());
    let _ = black_box(tx.is_abandoned());
    let _ = black_box(tx.discard_partial());
    let _ = black_box(tx.write_samples(black_box(&[1i16; 64][..])));
    let _ = black_box(tx.write_samples(black_box(&[0.5f32; 32][..])));
    let _ = black_box(tx.write_samples(black_box(&[1u8; 20][..])));
    if let Ok(mut grant) = tx.grant(black_box(64)) {
        black_box((grant.len(), grant.is_empty()));
        let (a, b) = grant.as_mut_slices();
        a.fill(black_box(1));
        b.fill(black_box(2));
        let _ = black_box(grant.commit(black_box(32)));
    }
    let _ = black_box(tx.grant(black_box(8)).map(|grant| grant.len()));
    let _ = black_box((tx.fill(), tx.free(), tx.bytes_to_reach(black_box(700))));
    let _ = black_box((tx.capacity(), tx.block_align(), tx.is_finished()));
    let _ = black_box(tx.counters());
}

/// Every consumer operation on the audio path.
fn consume(rx: &mut Consumer<'_>) {
    let mut out = [0u8; 256];
    let _ = black_box(rx.read(black_box(&mut out[..])));
    let _ = black_box(rx.read_samples(black_box(&mut [0i16; 64][..])));
    let _ = black_box(rx.read_samples(black_box(&mut [0f32; 32][..])));
    let _ = black_box(rx.read_samples(black_box(&mut [0u8; 20][..])));
    let mut dma = [0u8; 512];
    let _ = black_box(rx.read_cyclic(black_box(&mut dma[..]), black_box(100), black_box(300)));
    let grant = rx.read_grant(black_box(usize::MAX));
    let _ = black_box((grant.len(), grant.is_empty()));
    let (a, b) = grant.as_slices();
    let _ = black_box((a, b));
    let _ = black_box(grant.release(black_box(8)));
    drop(rx.read_grant(black_box(16)));
    let _ = black_box((rx.available(), rx.is_streaming(), rx.is_end_of_stream()));
    let _ = black_box(rx.is_abandoned());
    let _ = black_box((rx.capacity(), rx.block_align()));
    let _ = black_box(rx.counters().silence());
}

/// Every hardened shared-memory producer operation.
fn shm_produce(tx: &mut ShmProducer<'_>) {
    let bytes = [0x5Au8; 300];
    let _ = black_box(tx.write(black_box(&bytes[..])));
    let _ = black_box(tx.write_stream(black_box(&bytes[..])));
    let _ = black_box(tx.write_samples(black_box(&[1i16; 64][..])));
    let _ = black_box(tx.discard_partial());
    let _ = black_box((tx.fill(), tx.free(), tx.bytes_to_reach(black_box(700))));
    let _ = black_box((tx.capacity(), tx.block_align(), tx.is_abandoned()));
    let _ = black_box(tx.counters());
    let _ = black_box((tx.finish(), tx.is_finished()));
}

/// Every hardened shared-memory consumer operation.
fn shm_consume(rx: &mut ShmConsumer<'_>) {
    let mut out = [0u8; 256];
    let _ = black_box(rx.read(black_box(&mut out[..])));
    let _ = black_box(rx.read_samples(black_box(&mut [0i16; 64][..])));
    let mut dma = [0u8; 512];
    let _ = black_box(rx.read_cyclic(black_box(&mut dma[..]), black_box(100), black_box(300)));
    let _ = black_box((rx.available(), rx.is_streaming(), rx.is_end_of_stream()));
    let _ = black_box((rx.capacity(), rx.block_align(), rx.is_abandoned()));
    let _ = black_box(rx.counters());
}

//! A `no_std`, lock-free, single-producer/single-consumer byte ring for audio.
//!
//! See the README for the problem it solves. In short: every position is a
//! whole number of frames ("blocks"), the overrun policy is yours (reject,
//! drop newest, or overwrite oldest — sound with split handles), reads can
//! fill underruns with format-correct silence, the consumer primes to a start
//! threshold with optional re-arm, counters make every glitch visible, and a
//! low-watermark edge lets a driver set an event instead of sleeping.
//!
//! ```
//! use pcm_ring::{Config, Overrun};
//!
//! // 48 kHz 16-bit stereo: 4-byte frames, 40 ms ring, start at 10 ms.
//! let config = Config::new(4, 7680)
//!     .overrun(Overrun::OverwriteOldest)
//!     .start_threshold(1920);
//! let (mut producer, mut consumer) = pcm_ring::heap(&config)?;
//!
//! producer.write(&[0x11; 1920])?; // 10 ms
//! let mut period = [0u8; 960]; // 5 ms
//! let got = consumer.read(&mut period)?;
//! assert_eq!((got.data, got.silence), (960, 0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//!
//! The crate is organised one concept per module: `header` (the shared
//! `#[repr(C)]` state and position arithmetic), `producer`, `consumer`,
//! `config` (policies), `silence`, `counters`, `storage` (heap, static,
//! borrowed) and `sync` (the atomics shim for loom and the named orderings).
//!
//! # Features
//!
//! - `std` (default): implies `alloc`.
//! - `alloc`: [`heap`] rings.
//! - `critical-section`: atomics for targets without compare-and-swap
//!   (thumbv6m) through a `critical-section` implementation.
//!
//! Without default features the crate is `#![no_std]` and allocation-free:
//! use [`StaticRing`] or [`borrowed`].

#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "std")]
extern crate std;

mod config;
mod consumer;
mod counters;
mod error;
mod header;
mod producer;
mod silence;
mod storage;
mod sync;

pub use config::{Config, Overrun, ReArm, Underrun, MAX_BLOCK_ALIGN, MAX_CAPACITY};
pub use consumer::{Consumer, ReadGrant, ReadOutcome};
pub use counters::Counters;
pub use error::{ConfigError, ReadError, WriteError};
pub use producer::{Producer, WriteGrant, WriteOutcome};
pub use silence::Silence;
pub use storage::borrowed;
#[cfg(feature = "alloc")]
pub use storage::heap;
#[cfg(not(loom))]
pub use storage::StaticRing;

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

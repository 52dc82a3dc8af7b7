#![doc = include_str!("../README.md")]
#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "std")]
extern crate std;

// One module per concept: the shared header and its position arithmetic,
// the two handles, the policies, sample formats, silence, the lock-free
// counters, where a ring lives, and the atomics shim for loom.
mod config;
mod consumer;
mod counters;
mod error;
mod format;
mod header;
mod producer;
pub mod shm;
mod silence;
mod storage;
mod sync;

pub use config::{Config, Overrun, ReArm, Underrun, MAX_BLOCK_ALIGN, MAX_CAPACITY};
pub use consumer::{Consumer, ReadGrant, ReadOutcome};
pub use counters::Counters;
pub use error::{AttachError, ConfigError, ReadError, WriteError};
pub use format::{Format, Sample, SampleFormat};
pub use producer::{Producer, WriteGrant, WriteOutcome};
pub use silence::Silence;
pub use storage::borrowed;
#[cfg(feature = "alloc")]
pub use storage::heap;
#[cfg(not(loom))]
pub use storage::StaticRing;

//! Shared by the stress and soak tests: sequence-numbered frames that reveal
//! any torn, shifted, repeated or reordered frame, and a two-thread run that
//! checks what the consumer sees against what the producer gave and against
//! the ring's counters.

pub mod frames;
pub mod harness;

//! cpal adapter (in progress).

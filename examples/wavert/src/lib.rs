//! WaveRT miniport adapter (in progress).

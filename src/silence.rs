//! Format-correct silence: a per-sample byte pattern that tiles the block.

use crate::ConfigError;

/// The bytes that mean "silence" in the stream's sample format.
///
/// Signed integer and float PCM are silent at zero; unsigned formats are
/// silent at their midpoint, so 8-bit PCM is `0x80` and unsigned 16-bit
/// little-endian is `[0x00, 0x80]` per sample. Any other format can give its own
/// pattern, which must tile the block: the block size must be a whole number of
/// patterns (checked when the ring is made).
///
/// # Examples
///
/// ```
/// use pcm_ring::Silence;
///
/// assert_eq!(Silence::U8.pattern(), &[0x80]);
/// assert_eq!(Silence::U16_LE.pattern(), &[0x00, 0x80]);
/// let dsd = Silence::from_pattern(&[0x69])?;
/// assert_eq!(dsd.pattern(), &[0x69]);
/// # Ok::<(), pcm_ring::ConfigError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Silence {
    /// The pattern, repeated to fill `tile` bytes (the pattern is the first
    /// `len` bytes).
    bytes: [u8; Silence::MAX_PATTERN],
    len: u8,
    /// 32 or 24 if the pattern tiles that many bytes (then fills write whole
    /// tiles of a fixed size, which the compiler turns into wide stores), else 0.
    tile: u8,
    /// Every byte of the pattern is `bytes[0]`: a plain `fill` does.
    uniform: bool,
}

/// The tile a pattern of `len` bytes fills: 32, 24 or none (0).
const fn tile_for(len: usize) -> usize {
    if 32 % len == 0 {
        32
    } else if 24 % len == 0 {
        24
    } else {
        0
    }
}

impl Silence {
    /// The longest pattern, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::Silence;
    ///
    /// assert!(Silence::from_pattern(&[0; Silence::MAX_PATTERN]).is_ok());
    /// assert!(Silence::from_pattern(&[0; Silence::MAX_PATTERN + 1]).is_err());
    /// ```
    pub const MAX_PATTERN: usize = 32;

    /// Zero: signed integer PCM of any width and IEEE float.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 16).silence(pcm_ring::Silence::ZERO))?;
    /// let mut out = [0x55u8; 4];
    /// let _ = rx.read(&mut out)?; // nothing buffered: silence
    /// assert_eq!(out, [0; 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const ZERO: Silence = Silence::from_array([0]);
    /// Unsigned 8-bit PCM (`0x80`), as WAVE and Windows use for 8-bit audio.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(2, 16).silence(pcm_ring::Silence::U8))?;
    /// let mut out = [0u8; 4];
    /// let _ = rx.read(&mut out)?;
    /// assert_eq!(out, [0x80; 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const U8: Silence = Silence::from_array([0x80]);
    /// Unsigned 16-bit little-endian PCM.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = pcm_ring::heap(&pcm_ring::Config::raw(4, 16).silence(pcm_ring::Silence::U16_LE))?;
    /// let mut out = [0u8; 4];
    /// let _ = rx.read(&mut out)?;
    /// assert_eq!(out, [0x00, 0x80, 0x00, 0x80]); // 0x8000 per sample
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const U16_LE: Silence = Silence::from_array([0x00, 0x80]);
    /// Unsigned 16-bit big-endian PCM.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(pcm_ring::Silence::U16_BE.pattern(), &[0x80, 0x00]);
    /// ```
    pub const U16_BE: Silence = Silence::from_array([0x80, 0x00]);
    /// Unsigned 24-bit little-endian PCM packed in 3 bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{Config, Silence};
    ///
    /// // Stereo: 6-byte frames, two patterns each.
    /// assert!(Config::raw(6, 60).silence(Silence::U24_LE).validate().is_ok());
    /// assert!(Config::raw(4, 60).silence(Silence::U24_LE).validate().is_err()); // 3 does not tile 4
    /// ```
    pub const U24_LE: Silence = Silence::from_array([0x00, 0x00, 0x80]);
    /// Unsigned 32-bit little-endian PCM.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(pcm_ring::Silence::U32_LE.pattern(), &[0, 0, 0, 0x80]);
    /// ```
    pub const U32_LE: Silence = Silence::from_array([0x00, 0x00, 0x00, 0x80]);

    /// A pattern known at compile time. `N` must be 1 to
    /// [`MAX_PATTERN`](Self::MAX_PATTERN); other lengths fail to compile.
    ///
    /// # Examples
    ///
    /// ```
    /// const DSD: pcm_ring::Silence = pcm_ring::Silence::from_array([0x69]);
    /// assert_eq!(DSD.pattern(), &[0x69]);
    /// ```
    pub const fn from_array<const N: usize>(pattern: [u8; N]) -> Silence {
        const {
            assert!(
                N >= 1 && N <= Silence::MAX_PATTERN,
                "silence pattern length"
            );
        }
        let tile = tile_for(N);
        let mut bytes = [0u8; Silence::MAX_PATTERN];
        let mut uniform = true;
        let mut i = 0;
        while i < Silence::MAX_PATTERN {
            if i < N || i < tile {
                bytes[i] = pattern[i % N];
            }
            uniform &= pattern[i % N] == pattern[0];
            i += 1;
        }
        Silence {
            bytes,
            len: N as u8,
            tile: tile as u8,
            uniform,
        }
    }

    /// A pattern given at run time.
    ///
    /// # Errors
    ///
    /// [`ConfigError::SilencePatternLength`] if the pattern is empty or longer
    /// than [`MAX_PATTERN`](Self::MAX_PATTERN).
    ///
    /// # Examples
    ///
    /// ```
    /// use pcm_ring::{ConfigError, Silence};
    ///
    /// assert!(Silence::from_pattern(&[0x00, 0x80]).is_ok());
    /// assert_eq!(
    ///     Silence::from_pattern(&[]),
    ///     Err(ConfigError::SilencePatternLength { len: 0 })
    /// );
    /// ```
    pub fn from_pattern(pattern: &[u8]) -> Result<Silence, ConfigError> {
        if pattern.is_empty() || pattern.len() > Self::MAX_PATTERN {
            return Err(ConfigError::SilencePatternLength { len: pattern.len() });
        }
        let tile = tile_for(pattern.len());
        let mut bytes = [0u8; Self::MAX_PATTERN];
        for (i, b) in bytes.iter_mut().enumerate().take(tile.max(pattern.len())) {
            *b = pattern[i % pattern.len()];
        }
        Ok(Silence {
            bytes,
            len: pattern.len() as u8,
            tile: tile as u8,
            uniform: pattern.iter().all(|&b| b == pattern[0]),
        })
    }

    /// The pattern's bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(pcm_ring::Silence::U24_LE.pattern(), &[0x00, 0x00, 0x80]);
    /// ```
    #[must_use]
    pub fn pattern(&self) -> &[u8] {
        // `len` is 1..=MAX_PATTERN by construction; `get` keeps this panic-free.
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The byte every pattern byte equals, if there is one (then a plain
    /// `fill` does).
    fn uniform(&self) -> Option<u8> {
        self.uniform.then_some(self.bytes[0])
    }

    /// Fills `dst` with the pattern, starting at the pattern's first byte.
    /// The caller passes a `dst` that starts on a block boundary, so the phase
    /// is always right.
    #[inline]
    pub(crate) fn fill(&self, dst: &mut [u8]) {
        // An empty slice may carry a dangling pointer; glibc's AVX-512 memset
        // writes short lengths with a masked store, which costs a microcode
        // assist when the (empty) mask points at an unmapped page.
        if dst.is_empty() {
            return;
        }
        if let Some(b) = self.uniform() {
            dst.fill(b);
            return;
        }
        match self.tile {
            32 => return fill_tiles::<32>(dst, &self.bytes),
            24 => return fill_tiles::<24>(dst, &self.bytes),
            _ => {}
        }
        let p = self.pattern();
        let head = p.len().min(dst.len());
        dst[..head].copy_from_slice(&p[..head]);
        // Double the filled prefix until the slice is full: O(log n) copies.
        let mut done = head;
        while done < dst.len() {
            let n = done.min(dst.len() - done);
            dst.copy_within(..n, done);
            done += n;
        }
    }
}

/// Fills `dst` with the first `N` bytes of `bytes`, repeated.
#[inline]
fn fill_tiles<const N: usize>(dst: &mut [u8], bytes: &[u8; Silence::MAX_PATTERN]) {
    let Some(tile) = bytes.first_chunk::<N>() else {
        return;
    };
    let mut chunks = dst.chunks_exact_mut(N);
    for chunk in &mut chunks {
        chunk.copy_from_slice(tile);
    }
    let rest = chunks.into_remainder();
    rest.copy_from_slice(&tile[..rest.len()]);
}

impl core::fmt::Debug for Silence {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Silence").field(&self.pattern()).finish()
    }
}

impl Default for Silence {
    fn default() -> Self {
        Silence::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_from_block_start() {
        let s = Silence::U24_LE;
        let mut buf = [0xFFu8; 12];
        s.fill(&mut buf);
        assert_eq!(buf, [0, 0, 0x80, 0, 0, 0x80, 0, 0, 0x80, 0, 0, 0x80]);
        let mut short = [0xFFu8; 2];
        s.fill(&mut short);
        assert_eq!(short, [0, 0]);
        let mut empty: [u8; 0] = [];
        s.fill(&mut empty);
    }

    #[test]
    fn uniform_patterns_use_fill() {
        let s = Silence::from_pattern(&[7, 7, 7]).unwrap();
        let mut buf = [0u8; 10];
        s.fill(&mut buf);
        assert_eq!(buf, [7; 10]);
        assert_eq!(Silence::ZERO.uniform(), Some(0));
        assert_eq!(Silence::U16_LE.uniform(), None);
    }

    #[test]
    fn every_pattern_length_tiles_like_the_naive_loop() {
        for len in 1..=Silence::MAX_PATTERN {
            let pattern: std::vec::Vec<u8> =
                (0..len as u8).map(|i| i.wrapping_mul(37) ^ 0x5A).collect();
            let s = Silence::from_pattern(&pattern).unwrap();
            assert_eq!(s.pattern(), &pattern[..]);
            for n in [
                0, 1, len, 23, 24, 31, 32, 33, 100, 191, 192, 193, 255, 256, 257, 1920, 4099,
            ] {
                let mut buf = std::vec![0xEEu8; n];
                s.fill(&mut buf);
                let want: std::vec::Vec<u8> = (0..n).map(|i| pattern[i % len]).collect();
                assert_eq!(buf, want, "pattern length {len}, fill {n}");
            }
        }
        // The compile-time constructor builds the same tiles.
        assert_eq!(
            Silence::U24_LE,
            Silence::from_pattern(&[0, 0, 0x80]).unwrap()
        );
        assert_eq!(Silence::U16_LE, Silence::from_pattern(&[0, 0x80]).unwrap());
    }

    #[test]
    fn pattern_length_is_checked() {
        assert!(Silence::from_pattern(&[0; 33]).is_err());
        assert!(Silence::from_pattern(&[0; 32]).is_ok());
    }
}

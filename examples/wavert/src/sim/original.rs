//! The original virtual-microphone driver, modelled faithfully so that its
//! failure can be measured: a byte ring with one slot always empty, whose
//! `Put` makes room on overrun by moving the reader's index from the
//! writer's side, and whose `Take` returns nothing while a "filling" flag is
//! set until the ring is half full again; and SYSVAD's `UpdatePosition`
//! arithmetic (QPC → 100 ns → milliseconds → bytes, with carries).

/// The original driver's ring.
pub struct OriginalRing {
    buf: Vec<u8>,
    read: usize,
    write: usize,
    filling: bool,
    /// Bytes the overrun handler skipped by moving the reader's index.
    pub overwritten: u64,
    /// Overrun events.
    pub overruns: u64,
    /// Overruns after which the reader stood off the frame grid, and by how
    /// many bytes the last one left it.
    pub misaligning_overruns: u64,
    pub last_shift: usize,
    block_align: usize,
    put_total: u64,
}

impl OriginalRing {
    pub fn new(size: usize, block_align: usize) -> Self {
        OriginalRing {
            buf: vec![0; size],
            read: 0,
            write: 0,
            // It starts gated, like after every underrun.
            filling: true,
            overwritten: 0,
            overruns: 0,
            misaligning_overruns: 0,
            last_shift: 0,
            block_align,
            put_total: 0,
        }
    }

    pub fn fill(&self) -> usize {
        (self.write + self.buf.len() - self.read) % self.buf.len()
    }

    /// `Put`: on overrun, the writer moves the reader's index forward by the
    /// bytes it lacks. With one slot kept empty, that is one byte more than
    /// the frames it pushes out: the stream shifts by a byte.
    pub fn put(&mut self, data: &[u8]) {
        let size = self.buf.len();
        let free = size - 1 - self.fill();
        if data.len() > free {
            let lack = data.len() - free;
            self.read = (self.read + lack) % size;
            self.overwritten += lack as u64;
            self.overruns += 1;
            // The reader's place in the app's byte stream.
            let reader = self.put_total - self.fill() as u64;
            let shift = (reader % self.block_align as u64) as usize;
            if shift != 0 {
                self.misaligning_overruns += 1;
                self.last_shift = shift;
            }
        }
        self.put_total += data.len() as u64;
        for &b in data {
            self.buf[self.write] = b;
            self.write = (self.write + 1) % size;
        }
    }

    /// `Take`: nothing while filling and below half; otherwise what is
    /// there, up to `dst.len()`; running short sets the filling flag.
    pub fn take(&mut self, dst: &mut [u8]) -> usize {
        let size = self.buf.len();
        if self.filling {
            if self.fill() >= size / 2 {
                self.filling = false;
            } else {
                return 0;
            }
        }
        let n = dst.len().min(self.fill());
        for d in dst[..n].iter_mut() {
            *d = self.buf[self.read];
            self.read = (self.read + 1) % size;
        }
        if n < dst.len() {
            self.filling = true;
        }
        n
    }
}

/// SYSVAD's `UpdatePosition` arithmetic: elapsed time in milliseconds with
/// a 100 ns carry, then `bytes = (rate * ms + carry) / 1000` with a byte
/// carry. At 44.1 kHz 16-bit stereo that is 176.4 bytes per millisecond.
pub struct SysvadClock {
    bytes_per_second: u64,
    qpc_frequency: u64,
    dma_timestamp_hns: u64,
    hns_carry: u64,
    byte_carry: u64,
}

impl SysvadClock {
    pub fn new(bytes_per_second: u64, qpc_frequency: u64) -> Self {
        SysvadClock {
            bytes_per_second,
            qpc_frequency,
            dma_timestamp_hns: 0,
            hns_carry: 0,
            byte_carry: 0,
        }
    }

    fn hns(&self, qpc: u64) -> u64 {
        // KSCONVERT_PERFORMANCE_TIME
        (u128::from(qpc) * 10_000_000 / u128::from(self.qpc_frequency)) as u64
    }

    /// RUN: a new time base (the carries are kept, as in SYSVAD).
    pub fn run(&mut self, qpc: u64) {
        self.dma_timestamp_hns = self.hns(qpc);
    }

    /// Bytes the position moves to `qpc`.
    pub fn update(&mut self, qpc: u64) -> u64 {
        let now = self.hns(qpc);
        let elapsed = now - self.dma_timestamp_hns + self.hns_carry;
        let ms = elapsed / 10_000;
        self.hns_carry = elapsed % 10_000;
        let total = self.bytes_per_second * ms + self.byte_carry;
        self.byte_carry = total % 1000;
        self.dma_timestamp_hns = now;
        total / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrun_moves_the_reader_and_shifts_the_stream_by_a_byte() {
        let mut ring = OriginalRing::new(16, 4);
        ring.put(&[1; 12]);
        ring.put(&[2; 8]); // 15 fit: the reader moves by 5, not 4
        assert_eq!(ring.overwritten, 5);
        assert_eq!((ring.misaligning_overruns, ring.last_shift), (1, 1));
        assert_eq!(ring.fill(), 15);
        let mut out = [0u8; 15];
        assert_eq!(ring.take(&mut out), 15);
        assert_eq!(&out[..7], &[1; 7]); // 7 bytes of 4-byte frames: misaligned
    }

    #[test]
    fn take_is_gated_until_half_full() {
        let mut ring = OriginalRing::new(16, 4);
        ring.put(&[1; 4]);
        let mut out = [0u8; 4];
        assert_eq!(ring.take(&mut out), 0);
        ring.put(&[1; 4]);
        assert_eq!(ring.take(&mut out), 4);
        assert_eq!(ring.take(&mut out), 4);
        assert_eq!(ring.take(&mut out), 0); // empty: gated again
        ring.put(&[1; 4]);
        assert_eq!(ring.take(&mut out), 0); // data there, but below half
    }

    #[test]
    fn sysvad_moves_176_4_bytes_per_ms_at_44k1() {
        let mut clock = SysvadClock::new(44_100 * 4, 10_000_000);
        clock.run(0);
        let moved: Vec<u64> = (1..=5).map(|ms| clock.update(ms * 10_000)).collect();
        assert_eq!(moved, [176, 176, 177, 176, 177]);
    }
}

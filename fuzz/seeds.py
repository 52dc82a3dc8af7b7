#!/usr/bin/env python3
"""Writes the hand-made seed inputs in corpus/<target>/seed-*.

Each seed is a structured input encoded the way `arbitrary` 1.x decodes it
(integers little endian, `bool` = low bit of a byte, `Option` = a bool then
the value, enum variant i of n = a u32 t with (t * n) >> 32 == i, `Vec` = a
true byte before each element and a false byte at the end). Run from fuzz/:

    python3 seeds.py
"""

import os
import struct


class Enc:
    def __init__(self):
        self.out = bytearray()

    def u8(self, v):
        self.out += struct.pack("<B", v)
        return self

    def i8(self, v):
        self.out += struct.pack("<b", v)
        return self

    def u16(self, v):
        self.out += struct.pack("<H", v)
        return self

    def i16(self, v):
        self.out += struct.pack("<h", v)
        return self

    def u32(self, v):
        self.out += struct.pack("<I", v)
        return self

    def usize(self, v):
        self.out += struct.pack("<Q", v)
        return self

    def bool(self, v):
        return self.u8(1 if v else 0)

    def variant(self, i, n):
        t = ((2 * i + 1) << 32) // (2 * n)
        assert (t * n) >> 32 == i
        return self.u32(t)

    def none(self):
        return self.bool(False)

    def some(self):
        return self.bool(True)

    def vec(self, items, put):
        for item in items:
            self.bool(True)
            put(self, item)
        return self.bool(False)


def blocks(k):
    """A raw length of k whole blocks (ops target)."""
    return 2 * k


def nbytes(n):
    """A raw length of n bytes (ops target)."""
    return 2 * n + 1


# ----- ops ------------------------------------------------------------------

OP = {
    "Write": 0, "WriteStream": 1, "WriteSamples": 2, "Grant": 3, "Read": 4,
    "ReadSamples": 5, "ReadCyclic": 6, "ReadGrant": 7, "DiscardPartial": 8,
    "Finish": 9,
}
PRODUCER_OP = {"Write": 0, "WriteStream": 1, "Grant": 2, "DiscardPartial": 3, "Finish": 4}


def close(e, c):
    if c == "All":
        e.variant(0, 3)
    elif c == "Drop":
        e.variant(2, 3)
    else:
        e.variant(1, 3).u16(c)


def producer_op(e, op):
    name, *args = op
    e.variant(PRODUCER_OP[name], 5)
    if name in ("Write", "WriteStream"):
        e.u16(args[0])
    elif name == "Grant":
        e.u16(args[0])
        close(e, args[1])


def op(e, o):
    name, *args = o
    e.variant(OP[name], 10)
    if name in ("Write", "WriteStream", "Read"):
        e.u16(args[0])
    elif name in ("WriteSamples", "ReadSamples"):
        e.u8(args[0]).u8(args[1])
    elif name == "Grant":
        e.u16(args[0])
        close(e, args[1])
        if args[2] is None:
            e.none()
        else:
            e.some().u16(args[2])
    elif name == "ReadCyclic":
        e.u16(args[0]).u16(args[1]).u16(args[2])
    elif name == "ReadGrant":
        e.u16(args[0])
        close(e, args[1])
        if args[2] is None:
            e.none()
        else:
            e.some()
            producer_op(e, args[2])


SILENCE = {"Zero": 0, "U8": 1, "U16Le": 2, "U24Le": 3, "Custom": 4}


def ops_input(block, nblocks, overrun, partial, silence, start_threshold,
              restart, low_watermark, start, storage, ops):
    e = Enc()
    e.u8(block - 1).u8(nblocks - 1).u8(overrun).bool(partial)
    if isinstance(silence, list):
        e.variant(SILENCE["Custom"], 5).vec(silence, Enc.u8)
    else:
        e.variant(SILENCE[silence], 5)
    e.u16(start_threshold)
    if restart is None:
        e.none()
    else:
        e.some().u16(restart)
    e.u16(low_watermark)
    if start[0] == "NearWrap":
        e.variant(0, 2).u8(start[1])
    else:
        e.variant(1, 2).usize(start[1])
    if storage[0] == "Heap":
        e.variant(0, 3)
    elif storage[0] == "Borrowed":
        e.variant(1, 3).u8(storage[1])
    else:
        e.variant(2, 3)
    e.vec(ops, op)
    return bytes(e.out)


OPS_SEEDS = {
    # 4-byte frames, 16-byte Reject ring right before the wrap, U16 silence.
    "seed-stream-wrap": ops_input(
        4, 4, 0, False, "U16Le", 0, None, 0, ("NearWrap", 1), ("Heap",),
        [("WriteStream", nbytes(7)), ("Read", blocks(2)), ("WriteStream", nbytes(9)),
         ("ReadGrant", blocks(4), "All", ("WriteStream", nbytes(5))),
         ("Read", blocks(4)), ("Finish",), ("Read", blocks(4))]),
    # 6-byte frames, OverwriteOldest racing a held read grant, priming re-arm,
    # low watermark, borrowed memory at an odd address.
    "seed-overwrite-busy": ops_input(
        6, 5, 2, False, "U24Le", 6, 12, 18, ("NearWrap", 2), ("Borrowed", 3),
        [("Write", blocks(5)),
         ("ReadGrant", blocks(2), blocks(1), ("Write", blocks(3))),
         ("WriteStream", nbytes(35)), ("Grant", blocks(3), "All", blocks(2)),
         ("ReadCyclic", blocks(4), blocks(1), blocks(4)), ("Read", blocks(10)),
         ("DiscardPartial",), ("WriteSamples", 3, 4), ("Read", blocks(2))]),
    # 3-byte frames, Truncate, partial reads, a custom silence pattern, a
    # start threshold, static storage.
    "seed-truncate-priming": ops_input(
        3, 7, 1, True, [1, 2, 3], 9, None, 6, ("Any", 123456), ("Static",),
        [("Read", blocks(1)), ("WriteStream", nbytes(4)), ("Read", blocks(1)),
         ("WriteStream", nbytes(25)), ("ReadSamples", 1, 3),
         ("Grant", blocks(2), "Drop", None), ("Read", blocks(15)), ("Finish",),
         ("Read", blocks(2))]),
    # Every misuse: misaligned writes, grants, commits, reads, offsets,
    # releases; writes mid-frame and after the end.
    "seed-misuse": ops_input(
        4, 3, 0, False, "Zero", 0, None, 0, ("Any", 0), ("Heap",),
        [("Write", nbytes(1)), ("Grant", nbytes(2), "All", None),
         ("Grant", blocks(2), nbytes(3), None),
         ("Grant", blocks(2), blocks(3), None), ("WriteStream", nbytes(5)),
         ("Write", blocks(1)), ("Grant", blocks(1), "All", None),
         ("Read", nbytes(3)), ("ReadCyclic", blocks(2), blocks(2), blocks(1)),
         ("ReadCyclic", blocks(2), nbytes(1), blocks(1)),
         ("ReadCyclic", blocks(1), blocks(0), blocks(2)),
         ("ReadGrant", blocks(3), blocks(3), None),
         ("ReadGrant", blocks(3), nbytes(2), None),
         ("WriteSamples", 5, 2), ("ReadSamples", 6, 1), ("Write", blocks(9)),
         ("Finish",), ("Write", blocks(1)), ("Grant", blocks(1), "All", None),
         ("Read", blocks(4))]),
}

# ----- fragmentation --------------------------------------------------------

STEP = {"Write": 0, "Read": 1, "Grant": 2}


def step(e, s):
    name, n = s
    e.variant(STEP[name], 3)
    if name == "Write":
        e.u16(n)
    else:
        e.u8(n)


def frag_input(block, nblocks, mode, partial, frames, steps):
    e = Enc()
    e.u8(block - 1).u8(nblocks - 1).u8(mode).bool(partial).u16(frames)
    e.vec(steps, step)
    return bytes(e.out)


FRAG_SEEDS = {
    # Reject with retries on a 3-frame ring: lossless.
    "seed-reject-retry": frag_input(
        4, 3, 0, False, 100,
        [("Write", 7), ("Read", 2), ("Write", 13), ("Grant", 3), ("Write", 1),
         ("Write", 50)]),
    # A ring that holds the whole stream, Truncate, odd pieces.
    "seed-large-ring": frag_input(
        6, 1, 1 + 4 * 1, False, 40,
        [("Write", 5), ("Write", 1), ("Write", 7), ("Read", 1)]),
    # Truncate on a small ring: drops, whole frames in order.
    "seed-truncate": frag_input(
        12, 4, 2, False, 200,
        [("Write", 100), ("Read", 1), ("Write", 37), ("Grant", 2)]),
    # OverwriteOldest on a 3-frame ring of 3-byte frames, partial reads.
    "seed-overwrite": frag_input(
        3, 3, 3, True, 300,
        [("Write", 20), ("Read", 1), ("Write", 5), ("Grant", 1)]),
    # One-byte frames, a read-only step list (the rest is sent at once).
    "seed-bytes": frag_input(1, 8, 3, False, 500, [("Read", 3), ("Grant", 2)]),
}

# ----- config ---------------------------------------------------------------

SIZE = {"Small": 0, "Medium": 1, "Wide": 2, "Any": 3, "NearBlockLimit": 4,
        "NearCapacityLimit": 5}


def size(e, s):
    name, v = s
    e.variant(SIZE[name], 6)
    {"Small": e.u8, "Medium": e.u16, "Wide": e.u32, "Any": e.usize,
     "NearBlockLimit": e.i8, "NearCapacityLimit": e.i8}[name](v)


def config_input(block, capacity, start_threshold, restart, low_watermark,
                 silence, overrun, partial, start_blocks, storage):
    e = Enc()
    size(e, block)
    size(e, capacity)
    size(e, start_threshold)
    if restart is None:
        e.none()
    else:
        e.some()
        size(e, restart)
    size(e, low_watermark)
    e.vec(silence, Enc.u8)
    e.u8(overrun).bool(partial).usize(start_blocks)
    if storage[0] == "Heap":
        e.variant(0, 3)
    elif storage[0] == "Static":
        e.variant(1, 3)
    else:
        e.variant(2, 3)
        kind, v, offset = storage[1:]
        if kind == "Exactly":
            e.variant(0, 2)
            size(e, v)
        else:
            e.variant(1, 2).i16(v)
        e.u8(offset)
    return bytes(e.out)


S = lambda v: ("Small", v)  # noqa: E731
M = lambda v: ("Medium", v)  # noqa: E731

CONFIG_SEEDS = {
    "seed-heap-valid": config_input(
        S(4), M(64), S(8), S(16), S(4), [0x00, 0x80], 2, False, 0, ("Heap",)),
    "seed-borrowed-one-short": config_input(
        S(6), S(60), S(0), None, S(0), [0], 1, True, 5,
        ("Borrowed", "NearRequired", -1, 3)),
    "seed-borrowed-exact": config_input(
        S(24), M(2400), M(480), None, M(960), [0, 0, 0x80], 0, False, 99,
        ("Borrowed", "NearRequired", 0, 77)),
    "seed-zero-block": config_input(
        S(0), S(60), S(0), None, S(0), [0], 0, False, 0, ("Heap",)),
    "seed-not-whole-blocks": config_input(
        S(6), S(100), S(0), None, S(0), [0], 0, False, 0, ("Static",)),
    "seed-limits": config_input(
        ("NearBlockLimit", 1), ("NearCapacityLimit", 0), S(0), None, S(0), [0],
        0, False, 0, ("Borrowed", "Exactly", M(1000), 1)),
    "seed-huge-valid": config_input(
        S(1), ("NearCapacityLimit", 0), S(0), None, S(0), [0], 0, False, 0,
        ("Borrowed", "Exactly", M(4096), 0)),
    "seed-thresholds": config_input(
        S(2), S(16), S(18), S(20), S(17), [0], 0, False, 0, ("Heap",)),
    "seed-silence-does-not-tile": config_input(
        S(4), S(16), S(0), None, S(0), [1, 2, 3], 0, False, 0, ("Heap",)),
    "seed-empty-silence": config_input(
        S(4), S(16), S(0), None, S(0), [], 0, False, 0, ("Heap",)),
    "seed-static-too-small": config_input(
        S(1), M(8192), S(0), None, S(0), [0x80], 1, False, 0, ("Static",)),
}


# ----- shm ------------------------------------------------------------------

SHM_OP = {
    "Write": 0, "WriteStream": 1, "WriteSamples": 2, "Fill": 3, "Free": 4,
    "BytesToReach": 5, "Finish": 6, "DiscardPartial": 7, "ProducerCounters": 8,
    "Read": 9, "ReadSamples": 10, "ReadCyclic": 11, "Available": 12,
    "IsEndOfStream": 13, "ConsumerCounters": 14, "Corrupt": 15,
    "CorruptByte": 16, "CorruptData": 17, "Reattach": 18, "Reinit": 19,
}
SHM_FIELD = {
    "WritePosition": 0, "ReadPosition": 1, "ProducerGeneration": 2,
    "ConsumerGeneration": 3, "ProducerFlags": 4, "ConsumerFlags": 5,
    "Identity": 6, "Any": 7,
}
SHM_VALUE = {"Raw": (0, Enc.u32), "Delta": (1, Enc.i16), "Blocks": (2, Enc.u16),
             "FlipBit": (3, Enc.u8)}


def shm_op(e, o):
    name, *args = o
    e.variant(SHM_OP[name], len(SHM_OP))
    if name in ("Write", "WriteStream", "BytesToReach", "Read"):
        e.u16(args[0])
    elif name in ("WriteSamples", "ReadSamples"):
        e.bool(args[0]).u8(args[1])
    elif name == "ReadCyclic":
        e.u16(args[0]).u16(args[1]).u16(args[2])
    elif name == "Corrupt":
        (field, *at), (value, v) = args
        e.variant(SHM_FIELD[field], len(SHM_FIELD))
        if field == "Identity":
            e.u8(at[0])
        elif field == "Any":
            e.u16(at[0])
        index, put = SHM_VALUE[value]
        e.variant(index, len(SHM_VALUE))
        put(e, v)
    elif name == "CorruptByte":
        e.u16(args[0]).u8(args[1])
    elif name == "CorruptData":
        e.u16(args[0]).u8(args[1]).u8(args[2])
    elif name == "Reattach":
        e.bool(args[0])


def shm_input(block, nblocks, overrun, partial, silence, start_threshold,
              restart, low_watermark, start, ops):
    """`silence` is the pattern's index: 0 zero, 1 U8, 2 U16_LE, 3 U24_LE,
    4 U32_LE (zero if the block does not take it); `start` with bit 7 clear
    is (mod 4) blocks before the wrap, else (low bits) blocks."""
    e = Enc()
    e.u8(block - 1).u8(nblocks - 1).u8(overrun).bool(partial).u8(silence)
    e.u16(start_threshold)
    if restart is None:
        e.none()
    else:
        e.some().u16(restart)
    e.u16(low_watermark).u8(start)
    e.vec(ops, shm_op)
    return bytes(e.out)


SHM_SEEDS = {
    # Honest sides: 6-byte frames, 5 frames, Reject, U24 silence, starting
    # one frame before the wrap; stream writes that hold partial frames,
    # typed and cyclic reads, every observer, the end of the stream.
    "seed-honest-stream": shm_input(
        6, 5, 0, False, 3, 12, 6, 12, 1,
        [("WriteStream", nbytes(7)), ("Read", blocks(2)), ("Fill",), ("Free",),
         ("BytesToReach", 20), ("WriteStream", nbytes(22)),
         ("WriteSamples", False, 12), ("Available",),
         ("ReadCyclic", blocks(4), blocks(3), blocks(3)), ("ProducerCounters",),
         ("Write", blocks(6)), ("Read", blocks(5)), ("Finish",),
         ("IsEndOfStream",), ("Read", blocks(3)), ("ConsumerCounters",)]),
    # The write position broken every way: too far ahead, out of range, off
    # the block grid, then plausible again; the consumer re-attaches.
    "seed-broken-write-position": shm_input(
        4, 4, 1, False, 1, 0, None, 0, 0,
        [("Write", blocks(3)), ("Corrupt", ("WritePosition",), ("Blocks", 9)),
         ("Read", blocks(4)), ("Available",),
         ("Corrupt", ("WritePosition",), ("Raw", 0xFFFFFFFF)),
         ("ReadCyclic", blocks(4), blocks(1), blocks(4)),
         ("Corrupt", ("WritePosition",), ("Delta", 1)), ("Read", blocks(2)),
         ("Corrupt", ("WritePosition",), ("Blocks", 4)), ("Read", blocks(4)),
         ("IsEndOfStream",), ("Reattach", False), ("Read", blocks(1)),
         ("Write", blocks(2)), ("Read", blocks(8))]),
    # The read position broken: the overwrite claim bit, out of range, too
    # far behind; writes refused, observers read a full ring; the producer
    # re-attaches, then a fresh init recovers.
    "seed-broken-read-position": shm_input(
        2, 8, 0, True, 2, 0, None, 4, 0x83,
        [("Write", blocks(4)), ("Corrupt", ("ReadPosition",), ("FlipBit", 31)),
         ("Write", blocks(1)), ("Fill",), ("Free",), ("BytesToReach", 0xFFFF),
         ("Corrupt", ("ReadPosition",), ("Blocks", 100)),
         ("WriteStream", nbytes(5)),
         ("Corrupt", ("ReadPosition",), ("Delta", -2)), ("Write", blocks(1)),
         ("Reattach", True), ("Write", blocks(1)), ("Reinit",),
         ("Write", blocks(3)), ("Read", blocks(3))]),
    # Truncate (the input asks for OverwriteOldest, which a hardened attach
    # refuses): overflowing stream writes on 3-byte frames, partial reads,
    # odd lengths and u16 samples refused.
    "seed-truncate-odd-frames": shm_input(
        3, 3, 2, True, 0, 0, None, 0, 2,
        [("WriteStream", nbytes(40)), ("Read", blocks(1)),
         ("WriteStream", nbytes(2)), ("Write", blocks(1)),
         ("WriteSamples", True, 3), ("ReadSamples", True, 3),
         ("ReadSamples", False, 6), ("Read", nbytes(4)),
         ("ReadCyclic", blocks(2), blocks(2), blocks(1)),
         ("DiscardPartial",), ("Write", blocks(5)), ("Read", blocks(4))]),
    # Scribbles that must change nothing (reserved bytes, the identity after
    # attach, the discard count), then counter generations and flags, then
    # the data; a consumer attaching to a broken identity is refused.
    "seed-scribble-header": shm_input(
        8, 4, 0, False, 4, 8, None, 16, 0x80,
        [("Write", blocks(2)), ("CorruptByte", 300, 0xAB),
         ("Corrupt", ("Any", 250), ("Raw", 0x12345678)),
         ("Corrupt", ("Identity", 3), ("Raw", 0)),
         ("Corrupt", ("Any", 138), ("Delta", 7)), ("Read", blocks(1)),
         ("Corrupt", ("ProducerGeneration",), ("FlipBit", 1)),
         ("ConsumerCounters",), ("Write", blocks(1)),
         ("Corrupt", ("ConsumerGeneration",), ("Raw", 0xFFFFFFFE)),
         ("ProducerCounters",), ("Corrupt", ("ProducerFlags",), ("Raw", 3)),
         ("IsEndOfStream",), ("ConsumerCounters",),
         ("Corrupt", ("ConsumerFlags",), ("Raw", 2)), ("ProducerCounters",),
         ("CorruptData", 5, 9, 0x41), ("Read", blocks(4)),
         ("Reattach", False), ("Read", blocks(1)), ("Reinit",),
         ("Write", blocks(4)), ("Read", blocks(4))]),
}

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for target, seeds in (("ops", OPS_SEEDS), ("fragmentation", FRAG_SEEDS),
                          ("config", CONFIG_SEEDS), ("shm", SHM_SEEDS)):
        d = os.path.join(here, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            print(f"{target}/{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()

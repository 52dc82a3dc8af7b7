#!/usr/bin/env python3
"""Stores per iteration of a counted operation (see benches/count.sh).

Usage: python3 benches/stores.py CALLGRIND_OUT EXECUTABLE ITERS [--list]

CALLGRIND_OUT must come from `valgrind --tool=callgrind --dump-instr=yes
--compress-pos=no ...` of the bench executable (count.sh does this when
PCM_RING_COUNT_STORES=1). Prints the instructions that write memory in the
executable's own code (pushes, calls, and instructions whose destination is
a memory operand), weighted by how often each ran, per iteration. The C
library's code (memcpy, memset) is left out: it is the same for every crate
at a given size. With --list, prints each store and its count too.

Where a copy's own stores fill the store buffer, each further store costs
time that the instruction count does not show (docs/performance.md, item 41).
"""

import re
import subprocess
import sys

# Instructions that only read their operands, even with memory last.
READ_ONLY = ("cmp", "test", "bt", "ucomis", "comis", "prefetch", "nop")
# One-operand instructions that write a memory operand.
ONE_OPERAND_RMW = ("inc", "dec", "neg", "not")


def counts_by_address(path):
    """Instruction address -> times executed, in objects other than libc."""
    counts = {}
    names = {}
    obj = ""
    after_calls = False
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith(("ob=", "cob=")):
            m = re.match(r"c?ob=\((\d+)\)\s*(.*)", line)
            if m:
                if m.group(2):
                    names[m.group(1)] = m.group(2)
                name = names.get(m.group(1), "")
            else:
                name = line.split("=", 1)[1]
            if line.startswith("ob="):
                obj = name
            continue
        if line.startswith("calls="):
            # The next line is the call's inclusive cost: not this code's.
            after_calls = True
            continue
        if not line.startswith("0x"):
            continue
        parts = line.split()
        if after_calls:
            after_calls = False
            continue
        if len(parts) < 3 or "libc" in obj or "ld-linux" in obj or "vgpreload" in obj:
            continue
        address = int(parts[0], 16)
        counts[address] = counts.get(address, 0) + int(parts[2])
    return counts


def disassembly(exe):
    """Instruction address -> AT&T text, from objdump."""
    out = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", exe], capture_output=True, text=True, check=True
    ).stdout
    text = {}
    for line in out.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(\S.*)", line)
        if m:
            text[int(m.group(1), 16)] = m.group(2).strip()
    return text


def writes_memory(instruction):
    """Whether an AT&T instruction writes memory."""
    words = instruction.split(None, 1)
    if not words:
        return False
    mnemonic = words[0]
    operands = words[1] if len(words) > 1 else ""
    if mnemonic == "lock" or mnemonic.startswith("rep"):
        return writes_memory(operands) or mnemonic.startswith("rep")
    if mnemonic.startswith(("push", "call")):
        return True
    if mnemonic.startswith(READ_ONLY) and not mnemonic.startswith("cmpxchg"):
        return False
    operands = split_operands(operands.split("#")[0].strip())
    if len(operands) > 1:
        # The destination is the last operand in AT&T syntax.
        return "(" in operands[-1]
    if operands and mnemonic.startswith(("set",) + ONE_OPERAND_RMW):
        return "(" in operands[0]
    return False


def split_operands(operands):
    """AT&T operands, split at the commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for c in operands:
        if c == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += (c == "(") - (c == ")")
        current += c
    if current:
        parts.append(current)
    return parts


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    path, exe, iters = sys.argv[1], sys.argv[2], float(sys.argv[3])
    listing = "--list" in sys.argv[4:]
    text = disassembly(exe)
    stores = 0.0
    for address, count in sorted(counts_by_address(path).items()):
        instruction = text.get(address, "")
        if writes_memory(instruction):
            stores += count
            if listing:
                print(f"{count / iters:8.2f}  {address:x}  {instruction}")
    print(f"{stores / iters:.1f}")


if __name__ == "__main__":
    main()

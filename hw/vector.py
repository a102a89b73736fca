"""Vector unit: REQUANT (docs/isa.md), DIM lanes, one accumulator row per cycle.

    out = sat8(rshift_round(sat32(x + bias) * m, s))          (isa.numerics.requant8)

with ``x`` the int32 element of the source tile (accumulator) and ``bias, m, s`` the lanes of
the parameter rows ``param + 3j + {0, 1, 2}`` of column block ``j``; block ``j`` row ``i`` of
both tiles is at ``base + j*rows + i``; the result goes to the scratchpad.

Schedule (``vector_cycles`` below; tests/hw/test_vector.py checks it cycle-exactly):

1. **Shift scan** (``blocks`` cycles): read the shift row of every block and check each lane is
   in ``[0, MAX_SHIFT]``. This is the instruction's only data-dependent check; the functional
   simulator raises BAD_FIELD for it before anything is written, so the unit must know the
   answer before its first write. The cycle after the last shift row arrives the unit raises
   ``checked`` (the dispatcher holds the next instruction until then, hw/controller.py) and,
   if the check failed, ``done`` with ``error`` = BAD_FIELD and no write at all. The
   destination range check, which the ISA orders after the shift check, is made here too
   (SRAM_RANGE), so both come out in the functional simulator's order.
2. **Blocks**: per block, 3 cycles read bias, m, s (one accumulator row each), then ``rows``
   cycles read one source row each. Parameters are registered as they arrive; each is used by
   exactly one pipeline stage (bias by A, m by B, s by C), in the same order as they are read,
   so the next block's parameters overwrite a register only after the previous block's last
   row has passed that stage: rows stream back to back with no double buffering.
3. **Pipeline**: read (SRAM latency 1) -> A: ``sat32(x + bias)`` -> B: ``* m`` (64-bit) ->
   C: ``rshift_round`` and ``sat8`` -> write the scratchpad row. ``done`` is raised in the cycle
   of the last write.

Rounding: for ``s > 0``, ``rshift_round(p, s) = ((p >> (s - 1)) + 1) >> 1`` (floor shifts), which
equals ``(p + 2^(s-1)) >> s`` and needs no 64-bit constant adder.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from isa import PARAM_ROWS_PER_BLOCK, ErrorCode, Opcode, numerics

from .checks import requant_dst_out_of_range
from .isa_layout import instr_layout

#: Parameter rows per column block (bias, m, s).
PARAM_ROWS = PARAM_ROWS_PER_BLOCK[Opcode.REQUANT]
#: Cycles from a source row's read to its scratchpad write (read, A, B, C).
PIPELINE = 4
#: Lane of the shift parameter (0..MAX_SHIFT after the check).
SHIFT_BITS = numerics.MAX_SHIFT.bit_length()

#: What the accumulator read of a cycle is (travels with it down the pipeline).
_KIND = {"none": 0, "scan": 1, "bias": 2, "mult": 3, "shift": 4, "row": 5}


def vector_cycles(rows: int, blocks: int) -> int:
    """Busy cycles of a REQUANT that passes its checks: start pulse to done pulse.

    ``blocks`` shift-scan reads, then per block ``PARAM_ROWS`` parameter reads and ``rows`` row
    reads, then ``PIPELINE`` cycles until the last row is written:
    ``blocks * (rows + PARAM_ROWS + 1) + PIPELINE``.
    """
    return blocks + blocks * (PARAM_ROWS + rows) + PIPELINE


def check_cycles(blocks: int) -> int:
    """Cycles from the start pulse to ``checked`` (the last shift row arrives and is checked)."""
    return blocks + 1


class VectorUnit(wiring.Component):
    """Members: ``start``/``instr`` (REQUANT word), ``busy``, ``done``, ``checked`` (a one-cycle
    pulse once the data-dependent checks are decided), ``error`` (valid with ``done``: NONE, or
    the code the instruction failed with, in which case nothing was written), an accumulator
    read port and a scratchpad write port of its own."""

    def __init__(self, *, dim: int, sp_depth: int, acc_depth: int):
        self._dim, self._sp_depth = dim, sp_depth
        sp_aw, acc_aw = (sp_depth - 1).bit_length(), (acc_depth - 1).bit_length()
        super().__init__({
            "start": In(1), "instr": In(instr_layout(Opcode.REQUANT)),
            "busy": Out(1), "done": Out(1), "checked": Out(1), "error": Out(ErrorCode),
            "acc_rd": In(ReadPort.Signature(addr_width=acc_aw, shape=32 * dim)),
            "sp_wr": In(WritePort.Signature(addr_width=sp_aw, shape=8 * dim)),
        })

    def elaborate(self, platform):
        m = Module()
        d = self._dim
        ins = Signal(instr_layout(Opcode.REQUANT))

        # -- issue: one accumulator read per cycle ------------------------------------------
        scanning = Signal()
        running = Signal()
        scan_n = Signal(10)
        scan_addr = Signal(32)
        blk = Signal(10)
        t = Signal(17)            # 0..2: parameter rows, 3..rows+2: source rows
        par_addr = Signal(32)     # param + 3*blk + t
        off = Signal(26)          # j*rows + i of the next source row
        kind = Signal(3)
        last = Signal()
        rd_addr = Signal(32)
        m.d.comb += [self.acc_rd.addr.eq(rd_addr), self.acc_rd.en.eq(1)]
        with m.If(scanning):
            m.d.comb += [rd_addr.eq(scan_addr), kind.eq(_KIND["scan"]),
                         last.eq(scan_n + 1 == ins.blocks)]
            m.d.sync += [scan_n.eq(scan_n + 1), scan_addr.eq(scan_addr + PARAM_ROWS)]
            with m.If(scan_n + 1 == ins.blocks):
                m.d.sync += [scanning.eq(0), running.eq(1)]
        with m.Elif(running):
            with m.If(t < PARAM_ROWS):
                m.d.comb += [rd_addr.eq(par_addr), kind.eq(_KIND["bias"] + t)]
                m.d.sync += par_addr.eq(par_addr + 1)
            with m.Else():
                m.d.comb += [rd_addr.eq(ins.src + off), kind.eq(_KIND["row"]),
                             last.eq((blk + 1 == ins.blocks) & (t == ins.rows + PARAM_ROWS - 1))]
                m.d.sync += off.eq(off + 1)
            m.d.sync += t.eq(t + 1)
            with m.If(t == ins.rows + PARAM_ROWS - 1):
                m.d.sync += [t.eq(0), blk.eq(blk + 1)]
                with m.If(blk + 1 == ins.blocks):
                    m.d.sync += running.eq(0)

        # -- the read data arrives one cycle later ------------------------------------------
        kind_q = Signal(3)
        last_q = Signal()
        off_q = Signal(26)
        m.d.sync += [kind_q.eq(kind), last_q.eq(last), off_q.eq(off)]
        word = self.acc_rd.data
        lane = [word[32 * n: 32 * n + 32].as_signed() for n in range(d)]

        # Shift check: a lane outside [0, MAX_SHIFT] (negative values are large unsigned).
        bad_seen = Signal()
        lane_bad = Cat(*[word[32 * n: 32 * n + 32] > numerics.MAX_SHIFT for n in range(d)]).any()
        bad_now = bad_seen | lane_bad
        dst_bad = Signal()
        with m.If(kind_q == _KIND["scan"]):
            m.d.sync += bad_seen.eq(bad_now)
            with m.If(last_q):
                m.d.comb += self.checked.eq(1)
                with m.If(bad_now):
                    m.d.comb += self.error.eq(ErrorCode.BAD_FIELD)
                with m.Elif(dst_bad):
                    m.d.comb += self.error.eq(ErrorCode.SRAM_RANGE)
                with m.If(bad_now | dst_bad):  # nothing written: stop here
                    m.d.comb += self.done.eq(1)
                    m.d.sync += [self.busy.eq(0), running.eq(0)]

        # Parameter registers, one per pipeline stage that uses them.
        bias = Signal(32 * d)
        mult = Signal(32 * d)
        shift = Signal(SHIFT_BITS * d)
        with m.If(kind_q == _KIND["bias"]):
            m.d.sync += bias.eq(word)
        with m.If(kind_q == _KIND["mult"]):
            m.d.sync += mult.eq(word)
        with m.If(kind_q == _KIND["shift"]):
            m.d.sync += shift.eq(Cat(*[word[32 * n: 32 * n + SHIFT_BITS] for n in range(d)]))

        # -- A: sat32(x + bias) ---------------------------------------------------------------
        lo32, hi32 = numerics.INT32_MIN, numerics.INT32_MAX
        lo8, hi8 = numerics.INT8_MIN, numerics.INT8_MAX
        a_q = Signal(32 * d)
        va, lasta = Signal(), Signal()
        offa = Signal(26)
        lanes_a = []
        for n in range(d):
            s = Signal(signed(33), name=f"sum{n}")
            m.d.comb += s.eq(lane[n] + bias[32 * n: 32 * n + 32].as_signed())
            lanes_a.append(Mux(s > hi32, Const(hi32, signed(32)),
                               Mux(s < lo32, Const(lo32, signed(32)), s[:32].as_signed()))
                           .as_unsigned()[:32])
        m.d.sync += [a_q.eq(Cat(*lanes_a)), va.eq(kind_q == _KIND["row"]), lasta.eq(last_q),
                     offa.eq(off_q)]

        # -- B: * m (signed 32 x 32 -> 64) ----------------------------------------------------
        p_q = Signal(64 * d)
        vb, lastb = Signal(), Signal()
        offb = Signal(26)
        prods = [(a_q[32 * n: 32 * n + 32].as_signed() * mult[32 * n: 32 * n + 32].as_signed())
                 .as_unsigned()[:64] for n in range(d)]
        m.d.sync += [p_q.eq(Cat(*prods)), vb.eq(va), lastb.eq(lasta), offb.eq(offa)]

        # -- C: rshift_round, sat8 --------------------------------------------------------------
        r_q = Signal(8 * d)
        vc, lastc = Signal(), Signal()
        offc = Signal(26)
        lanes_c = []
        for n in range(d):
            p = p_q[64 * n: 64 * n + 64].as_signed()
            sh = shift[SHIFT_BITS * n: SHIFT_BITS * (n + 1)]
            q = Signal(signed(64), name=f"q{n}")
            r = Signal(signed(64), name=f"r{n}")
            m.d.comb += [q.eq(p >> (sh - 1)[:SHIFT_BITS]), r.eq(Mux(sh == 0, p, (q + 1) >> 1))]
            lanes_c.append(Mux(r > hi8, Const(hi8, signed(8)),
                               Mux(r < lo8, Const(lo8, signed(8)), r[:8].as_signed()))
                           .as_unsigned()[:8])
        m.d.sync += [r_q.eq(Cat(*lanes_c)), vc.eq(vb), lastc.eq(lastb), offc.eq(offb)]

        # -- write ------------------------------------------------------------------------------
        m.d.comb += [self.sp_wr.addr.eq(ins.dst + offc), self.sp_wr.data.eq(r_q),
                     self.sp_wr.en.eq(vc & self.busy)]
        with m.If(vc & lastc & self.busy):
            m.d.comb += self.done.eq(1)
            m.d.sync += self.busy.eq(0)

        with m.If(self.start):
            m.d.sync += [
                ins.eq(self.instr), self.busy.eq(1), scanning.eq(1), running.eq(0),
                scan_n.eq(0), scan_addr.eq(self.instr.param + PARAM_ROWS - 1),
                blk.eq(0), t.eq(0), par_addr.eq(self.instr.param), off.eq(0),
                bad_seen.eq(0),
                dst_bad.eq(requant_dst_out_of_range(self.instr, self._sp_depth)),
            ]
        return m

"""2-D strided DMA engines: LOAD (DRAM -> SP/ACC) and STORE (SP/ACC -> DRAM) over AXI4 streams.

Both walk the rows of an instruction twice, independently: one walker issues the bursts, the
other consumes / produces the data beats, so requests run ahead of the data and the DRAM
latency is paid once per instruction, not once per row. Each DRAM row is one burst (two if it
crosses a 4 KiB boundary) covering the bus-aligned span of its ``cols * esize`` bytes.
Fields are checked by the dispatcher before an instruction reaches an engine (hw/checks.py).

An AXI error response (RRESP / BRESP SLVERR or DECERR) does not cut an instruction short: the
engine still takes every beat and response of the bursts it issued (no transaction is abandoned)
and finishes, with ``bus_error`` set from the first bad response until its next ``start``; the
controller then stops the run with ErrorCode.BUS_ERROR at the instruction's index.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from isa import Opcode
from isa.cycles import SRAM_READ_LATENCY

from .isa_layout import instr_layout
from .streams import ADDR_LAYOUT, RowGeometry, log2_exact, max_beats, write_layout


def _lane_mask(cols, dim: int, lane_bits: int):
    """All-ones in lanes < cols, zeros above (``dim`` lanes of ``lane_bits``)."""
    # unsigned: Const(-1, n) would be signed(n), and a Mux of it with an unsigned zero is
    # signed(n + 1), which would misalign every lane of the Cat by one bit more.
    ones, zeros = Const((1 << lane_bits) - 1, lane_bits), Const(0, lane_bits)
    return Cat(*[Mux(cols > lane, ones, zeros) for lane in range(dim)])


class _DmaBase(wiring.Component):
    def __init__(self, *, dim: int, sp_depth: int, acc_depth: int, bus_bytes: int, members: dict):
        self._dim, self._bus_bytes = dim, bus_bytes
        self._lw = log2_exact(bus_bytes, "dram_bytes_per_cycle")
        self._max_row = 4 * dim
        self._max_beats = max_beats(self._max_row, bus_bytes)
        super().__init__({
            "start": In(1), "instr": In(instr_layout(Opcode.LOAD)),
            "busy": Out(1), "done": Out(1), "bus_error": Out(1), **members,
        })

    def _latch(self, m):
        """Latch the instruction at ``start``; returns the latched view and nbytes per row."""
        ins = Signal(instr_layout(Opcode.LOAD))
        with m.If(self.start):
            m.d.sync += ins.eq(self.instr)
        nbytes = Signal(range(self._max_row + 1))
        m.d.comb += nbytes.eq(Mux(ins.mem, ins.cols << 2, ins.cols))
        return ins, nbytes


class LoadDMA(_DmaBase):
    """LOAD: requests on ``ar``, beats on ``r``, rows into SP / ACC write ports (one per cycle)."""

    def __init__(self, *, dim: int, sp_depth: int, acc_depth: int, bus_bytes: int):
        super().__init__(dim=dim, sp_depth=sp_depth, acc_depth=acc_depth, bus_bytes=bus_bytes,
                         members={
            "ar": Out(stream.Signature(ADDR_LAYOUT)),
            "r": In(stream.Signature(8 * bus_bytes)), "rresp": In(2),
            "sp_wr": In(WritePort.Signature(addr_width=(sp_depth - 1).bit_length(),
                                             shape=8 * dim)),
            "acc_wr": In(WritePort.Signature(addr_width=(acc_depth - 1).bit_length(),
                                              shape=32 * dim)),
        })

    def elaborate(self, platform):
        m = Module()
        d, w, mb = self._dim, self._bus_bytes, self._max_beats
        ins, nbytes = self._latch(m)
        m.submodules.req_geo = req_geo = RowGeometry(bus_bytes=w, max_row_bytes=self._max_row)
        m.submodules.dat_geo = dat_geo = RowGeometry(bus_bytes=w, max_row_bytes=self._max_row)

        # -- request walker: one AR per row (two across a 4 KiB boundary) ------------------
        req_active = Signal()
        req_row = Signal(16)
        req_addr = Signal(32)
        req_second = Signal()
        m.d.comb += [req_geo.addr.eq(req_addr), req_geo.nbytes.eq(nbytes)]
        split = req_geo.first_beats != req_geo.nbeats
        m.d.comb += [
            self.ar.valid.eq(req_active),
            self.ar.payload.addr.eq(Mux(req_second,
                                        req_geo.beat_addr + (req_geo.first_beats << self._lw),
                                        req_geo.beat_addr)),
            self.ar.payload.len.eq(Mux(req_second, req_geo.nbeats - req_geo.first_beats,
                                       req_geo.first_beats) - 1),
        ]
        with m.If(self.ar.valid & self.ar.ready):
            with m.If(split & ~req_second):
                m.d.sync += req_second.eq(1)
            with m.Else():
                m.d.sync += [req_second.eq(0), req_row.eq(req_row + 1),
                             req_addr.eq(req_addr + ins.dram_stride)]
                with m.If(req_row + 1 == ins.rows):
                    m.d.sync += req_active.eq(0)

        # -- data walker: collect a row's beats, then shift it into place and write it ------
        dat_row = Signal(16)
        dat_addr = Signal(32)
        beat = Signal(range(mb + 1))
        beats = [Signal(8 * w, name=f"beat_{j}") for j in range(mb)]
        m.d.comb += [dat_geo.addr.eq(dat_addr), dat_geo.nbytes.eq(nbytes), self.r.ready.eq(1)]
        # The beat arriving now is used directly, so a row is written in the cycle of its last beat.
        full = Cat(*[Mux(beat == j, self.r.payload, beats[j]) for j in range(mb)])
        row = Signal(8 * self._max_row)
        m.d.comb += row.eq(full >> (dat_geo.offset << 3))
        last_beat = self.r.valid & (beat == dat_geo.nbeats - 1)
        m.d.comb += [
            self.sp_wr.addr.eq(ins.sram_addr + dat_row),
            self.acc_wr.addr.eq(ins.sram_addr + dat_row),
            self.sp_wr.data.eq(row[: 8 * d] & _lane_mask(ins.cols, d, 8)),
            self.acc_wr.data.eq(row[: 32 * d] & _lane_mask(ins.cols, d, 32)),
            self.sp_wr.en.eq(self.busy & last_beat & ~ins.mem),
            self.acc_wr.en.eq(self.busy & last_beat & ins.mem),
        ]
        with m.If(self.busy & self.r.valid):
            for j in range(mb):
                with m.If(beat == j):
                    m.d.sync += beats[j].eq(self.r.payload)
            m.d.sync += beat.eq(beat + 1)
            with m.If(last_beat):
                m.d.sync += [beat.eq(0), dat_row.eq(dat_row + 1),
                             dat_addr.eq(dat_addr + ins.dram_stride)]
                with m.If(dat_row + 1 == ins.rows):
                    m.d.sync += self.busy.eq(0)
                    m.d.comb += self.done.eq(1)

        # -- error responses: sticky, and visible in the cycle of the beat that carries one --
        err = Signal()
        beat_err = self.busy & self.r.valid & (self.rresp != 0)
        with m.If(beat_err):
            m.d.sync += err.eq(1)
        m.d.comb += self.bus_error.eq(err | beat_err)

        with m.If(self.start):
            m.d.sync += [
                err.eq(0),
                self.busy.eq(1), req_active.eq(1), req_row.eq(0), req_second.eq(0),
                req_addr.eq(self.instr.dram_addr), dat_row.eq(0), beat.eq(0),
                dat_addr.eq(self.instr.dram_addr),
            ]
        return m


class StoreDMA(_DmaBase):
    """STORE: rows read from SP / ACC into a small FIFO, sent as AW + W bursts, done on last B."""

    #: Rows read or in the FIFO at once: a row is counted from the cycle after its read for
    #: SRAM_READ_LATENCY + 3 cycles (the read latency, 2 through the FIFO, taken), so this many
    #: keep one row per cycle flowing (the W channel's best rate: store_cycles assumes it).
    ROW_FIFO_DEPTH = SRAM_READ_LATENCY + 3

    def __init__(self, *, dim: int, sp_depth: int, acc_depth: int, bus_bytes: int):
        super().__init__(dim=dim, sp_depth=sp_depth, acc_depth=acc_depth, bus_bytes=bus_bytes,
                         members={
            "aw": Out(stream.Signature(ADDR_LAYOUT)),
            "w": Out(stream.Signature(write_layout(bus_bytes))),
            "b": In(stream.Signature(2)),
            "sp_rd": In(ReadPort.Signature(addr_width=(sp_depth - 1).bit_length(),
                                            shape=8 * dim)),
            "acc_rd": In(ReadPort.Signature(addr_width=(acc_depth - 1).bit_length(),
                                             shape=32 * dim)),
        })

    def elaborate(self, platform):
        m = Module()
        d, w, mb, lw = self._dim, self._bus_bytes, self._max_beats, self._lw
        ins, nbytes = self._latch(m)
        depth = self.ROW_FIFO_DEPTH
        m.submodules.rows = rows_fifo = fifo.SyncFIFOBuffered(width=32 * d, depth=depth)

        # -- SRAM reader: keeps the row FIFO full (reads have SRAM_READ_LATENCY cycles of
        # latency: pending[k] is the read of k + 1 cycles ago, the last one arriving now) ------
        rd_row = Signal(16)
        rd_issue = Signal()
        pending = []
        for k in range(SRAM_READ_LATENCY):
            pending.append(Signal(name=f"rd_pending{k + 1}"))
            m.d.sync += pending[-1].eq(pending[-2] if k else rd_issue)
        rd_pending = pending[-1]
        in_flight = sum(pending[1:], pending[0])
        m.d.comb += rd_issue.eq(self.busy & (rd_row != ins.rows)
                                & (rows_fifo.level + in_flight < depth))
        m.d.comb += [
            self.sp_rd.addr.eq(ins.sram_addr + rd_row), self.acc_rd.addr.eq(ins.sram_addr + rd_row),
            self.sp_rd.en.eq(rd_issue), self.acc_rd.en.eq(rd_issue),
            rows_fifo.w_en.eq(rd_pending),
            rows_fifo.w_data.eq(Mux(ins.mem, self.acc_rd.data, self.sp_rd.data)),
        ]
        with m.If(rd_issue):
            m.d.sync += rd_row.eq(rd_row + 1)

        # -- writer: one row at a time, its AW(s) and W beats in parallel -------------------
        m.submodules.geo = geo = RowGeometry(bus_bytes=w, max_row_bytes=self._max_row)
        wr_row = Signal(16)
        wr_addr = Signal(32)
        have_row = Signal()
        row = Signal(32 * d)
        aw_sent = Signal(2)
        beat = Signal(range(mb + 1))
        m.d.comb += [geo.addr.eq(wr_addr), geo.nbytes.eq(nbytes)]
        split = geo.first_beats != geo.nbeats
        n_bursts = Mux(split, 2, 1)
        # Row bytes placed at their offset in the beats; strobes cover exactly cols*esize bytes.
        row_bytes = Mux(ins.mem, row, row[: 8 * d])
        wide = Signal(8 * w * mb)
        m.d.comb += wide.eq(row_bytes << (geo.offset << 3))
        byte_mask = Signal(w * mb)
        m.d.comb += byte_mask.eq(((Const(1, w * mb + 1) << nbytes) - 1) << geo.offset)
        m.d.comb += [
            self.aw.valid.eq(have_row & (aw_sent != n_bursts)),
            self.aw.payload.addr.eq(Mux(aw_sent == 1, geo.beat_addr + (geo.first_beats << lw),
                                        geo.beat_addr)),
            self.aw.payload.len.eq(Mux(aw_sent == 1, geo.nbeats - geo.first_beats,
                                       geo.first_beats) - 1),
            self.w.valid.eq(have_row & (beat != geo.nbeats)),
            self.w.payload.data.eq(wide.word_select(beat, 8 * w)),
            self.w.payload.strb.eq(byte_mask.word_select(beat, w)),
            self.w.payload.last.eq((beat + 1 == geo.nbeats)
                                   | (split & (beat + 1 == geo.first_beats))),
        ]
        aw_fire = self.aw.valid & self.aw.ready
        w_fire = self.w.valid & self.w.ready
        aw_finished = (aw_sent == n_bursts) | ((aw_sent + 1 == n_bursts) & aw_fire)
        w_finished = (beat == geo.nbeats) | ((beat + 1 == geo.nbeats) & w_fire)
        row_done = have_row & aw_finished & w_finished
        with m.If(aw_fire):
            m.d.sync += aw_sent.eq(aw_sent + 1)
        with m.If(w_fire):
            m.d.sync += beat.eq(beat + 1)
        with m.If(row_done):
            m.d.sync += [have_row.eq(0), wr_row.eq(wr_row + 1),
                         wr_addr.eq(wr_addr + ins.dram_stride)]
        take = (~have_row | row_done) & rows_fifo.r_rdy
        m.d.comb += rows_fifo.r_en.eq(take)
        with m.If(take):
            m.d.sync += [have_row.eq(1), row.eq(rows_fifo.r_data), aw_sent.eq(0), beat.eq(0)]

        # -- write responses: the instruction completes when every burst is acknowledged -----
        bursts = Signal(18)
        acks = Signal(18)
        m.d.comb += self.b.ready.eq(1)
        with m.If(aw_fire):
            m.d.sync += bursts.eq(bursts + 1)
        err = Signal()
        with m.If(self.b.valid):
            m.d.sync += acks.eq(acks + 1)
            with m.If(self.b.payload != 0):  # BRESP SLVERR / DECERR
                m.d.sync += err.eq(1)
        m.d.comb += self.bus_error.eq(err)
        with m.If(self.busy & (wr_row == ins.rows) & (acks == bursts) & ~have_row):
            m.d.sync += self.busy.eq(0)
            m.d.comb += self.done.eq(1)

        with m.If(self.start):
            m.d.sync += [self.busy.eq(1), rd_row.eq(0), wr_row.eq(0), bursts.eq(0), acks.eq(0),
                         err.eq(0),
                         wr_addr.eq(self.instr.dram_addr)]
        return m

"""On-chip SRAMs built only from memories that an FPGA block RAM can hold (docs/rtl.md, "Memories").

An :class:`Sram` is one logical memory (the scratchpad, the accumulator, a future score buffer)
with any number of synchronous read ports and write ports, each owned by a *role*: the queue
that uses it ("load", "compute", "store", ...). Engines ask for a port by role
(:meth:`Sram.read_port`, :meth:`Sram.write_port`); several engines of the same queue (the GEMM
unit and the vector engines all run in the compute queue, one instruction at a time) share the
role's port through a multiplexer on the engine that owns the queue (:func:`owner_select`).

Physically, every (write role, read role) pair has its own simple-dual-port bank (one write,
one read: what yosys maps to DP16KD on ECP5 and RAMB18/36 on Xilinx), written by that write
role and read by that read role; a *live-value table* (LVT, ``log2(writers)`` bits per row, in
flip-flops) remembers which writer wrote each row last, and each read port returns that
writer's bank. The behaviour is exactly that of one multi-ported ``lib.memory.Memory`` with
non-transparent synchronous reads: a read returns the row as it was before the writes of the
same cycle, one cycle later, and holds its data while ``en`` is low. No arbitration, no bank
conflicts, no address dependence: cycles are those of the multi-ported memory.
"""

from __future__ import annotations

from amaranth.hdl import Array, Elaboratable, Module, Mux, Signal
from amaranth.lib.memory import Memory, ReadPort, WritePort

__all__ = ["Sram", "owner_select", "bank_count", "lvt_table_count"]


def bank_count(n_write: int, n_read: int) -> int:
    """Simple-dual-port banks an :class:`Sram` with these role counts is built from."""
    return n_write * n_read


def lvt_table_count(n_write: int, n_read: int) -> int:
    """Live-value-table memories (one write, one read port, ``log2(n_write)`` bits a row) of
    an :class:`Sram` with these role counts: each writer's table once per reader and once per
    other writer; none with a single writer."""
    return n_write * (n_read + n_write - 1) if n_write > 1 else 0


def owner_select(m: Module, starts: list[Signal], name: str = "owner") -> list[Signal]:
    """One ``active`` signal per engine of a queue, given each engine's ``start`` pulse.

    The engine that started last owns the queue's SRAM ports (from its start cycle on, until
    another engine of the queue starts), so exactly one of the returned signals is high in
    every cycle (engine 0 before any start).
    """
    owner = Signal(range(max(2, len(starts))), name=name)
    current = Signal.like(owner, name=f"{name}_now")
    m.d.comb += current.eq(owner)
    for i, start in enumerate(starts):
        with m.If(start):
            m.d.comb += current.eq(i)
    m.d.sync += owner.eq(current)
    return [current == i for i in range(len(starts))]


class Sram(Elaboratable):
    """``depth`` rows of ``width`` bits; ports requested by role (see the module docstring).

    ``reads`` / ``writes``: the role names, one physical port each. A role's port may be
    requested several times (with an ``active`` signal each, see :func:`owner_select`); the
    requests are multiplexed onto the one port.
    """

    def __init__(self, name: str, *, width: int, depth: int, reads: tuple[str, ...],
                 writes: tuple[str, ...]):
        if not reads or not writes or len(set(reads)) != len(reads) \
                or len(set(writes)) != len(writes):
            self._MustUse__silence = True  # never built: do not warn about it as well
        if not reads or not writes:
            raise ValueError(f"SRAM {name!r} needs at least one read and one write role")
        for kind, roles in (("read", reads), ("write", writes)):
            if len(set(roles)) != len(roles):
                raise ValueError(f"SRAM {name!r}: duplicate {kind} role in {roles}")
        self.name, self.width, self.depth = name, width, depth
        self.reads, self.writes = tuple(reads), tuple(writes)
        self.addr_width = max(0, (depth - 1).bit_length())
        self._requests = {("r", r): [] for r in reads} | {("w", w): [] for w in writes}

    @property
    def banks(self) -> int:
        """Simple-dual-port banks this SRAM is built from."""
        return bank_count(len(self.writes), len(self.reads))

    def _request(self, kind: str, role: str, sig, active):
        key = (kind, role)
        if key not in self._requests:
            roles = self.reads if kind == "r" else self.writes
            raise ValueError(f"SRAM {self.name!r} has no {'read' if kind == 'r' else 'write'} "
                             f"role {role!r} (it has {', '.join(roles)})")
        reqs = self._requests[key]
        if reqs and (active is None or reqs[0][1] is None):
            raise ValueError(f"SRAM {self.name!r}: role {role!r} requested twice; every request "
                             "of a shared role needs an `active` signal")
        port = sig.create(path=(self.name, f"{kind}_{role}_{len(reqs)}"))
        reqs.append((port, active))
        return port

    def read_port(self, role: str, *, active=None):
        """A read port interface (memory side: connect it to an engine's ``In(ReadPort...)``)."""
        return self._request("r", role, ReadPort.Signature(addr_width=self.addr_width,
                                                           shape=self.width), active)

    def write_port(self, role: str, *, active=None):
        """A write port interface (memory side: connect it to an engine's ``In(WritePort...)``)."""
        return self._request("w", role, WritePort.Signature(addr_width=self.addr_width,
                                                            shape=self.width), active)

    def _merged(self, m: Module, kind: str, role: str):
        """The signals (en, addr[, data]) driving the role's one physical port."""
        reqs = self._requests[(kind, role)]
        if not reqs:
            raise ValueError(f"SRAM {self.name!r}: role {role!r} has no port requested")
        port = (ReadPort if kind == "r" else WritePort).Signature(
            addr_width=self.addr_width, shape=self.width).create(
            path=(self.name, f"{kind}_{role}"))
        names = ("en", "addr") + (("data",) if kind == "w" else ())
        for name in names:
            value = getattr(reqs[-1][0], name)
            for req, active in reversed(reqs[:-1]):
                value = Mux(active, getattr(req, name), value)
            m.d.comb += getattr(port, name).eq(value)
        if kind == "r":
            for req, _ in reqs:
                m.d.comb += req.data.eq(port.data)
        return port

    def elaborate(self, platform):
        m = Module()
        writers = [self._merged(m, "w", w) for w in self.writes]
        readers = [self._merged(m, "r", r) for r in self.reads]
        sels = _xor_lvt(m, self.name, self.addr_width, self.depth, self.writes, writers,
                        self.reads, readers) if len(writers) > 1 else None
        for k, (role, rd) in enumerate(zip(self.reads, readers, strict=True)):
            datas = []
            for wrole, wr in zip(self.writes, writers, strict=True):
                bank = Memory(shape=self.width, depth=self.depth, init=[])
                m.submodules[f"{self.name}_{wrole}_to_{role}"] = bank
                bw, br = bank.write_port(), bank.read_port()
                m.d.comb += [bw.en.eq(wr.en), bw.addr.eq(wr.addr), bw.data.eq(wr.data),
                             br.en.eq(rd.en), br.addr.eq(rd.addr)]
                datas.append(br.data)
            if sels is None:
                m.d.comb += rd.data.eq(datas[0])
            elif len(datas) == 2:
                m.d.comb += rd.data.eq(Mux(sels[k], datas[1], datas[0]))
            else:
                m.d.comb += rd.data.eq(Array(datas)[sels[k]])
        return m


def _xor_lvt(m: Module, name: str, addr_width: int, depth: int, wroles, writers, rroles,
             readers) -> list:
    """The live-value table, built from memories with one write and one read port each
    (docs/rtl.md "Memories", "The live-value table"); returns, for each reader, the index of the
    writer whose bank holds the row it read, valid in the cycle after the read like the banks'
    data (and held with them while the read's ``en`` is low).

    Writer ``i`` owns table ``T_i`` (``log2(writers)`` bits a row); once a write is committed,
    the last writer of a row is the XOR of every ``T_j`` at that row. A write of row ``a`` by
    writer ``i`` in cycle ``c`` reads every other ``T_j[a]`` in cycle ``c`` (the block RAM's
    output goes straight into a register in ``c + 1``) and commits
    ``T_i[a] = i ^ XOR(T_j[a], j != i)`` in cycle ``c + 2``; the two writes of each writer not
    yet committed when a table is read (cycles ``c - 1``, ``c - 2``) are bypassed by address
    compares against the pipeline's registers. A later-numbered writer of the same row in the
    same cycle XORs in the earlier one's new value: the highest-numbered writer wins, as in a
    multi-ported ``Memory``. A reader whose row has a write of the last two cycles not yet
    committed takes the latest such writer (decided from registers, before the block RAM's
    output arrives); otherwise the XOR of the tables. Each ``T_j`` is one memory per reader and
    one per other writer, all written alike, so each has one read and one write port: a block
    RAM (DP16KD) read, not a ``rows``-to-1 multiplexer of flip-flops.
    """
    n = len(writers)
    shape = range(n)

    def reg(value, name, en=None, like=None):
        q = Signal.like(like, name=name) if like is not None else Signal(value.shape(), name=name)
        if en is None:
            m.d.sync += q.eq(value)
        else:
            with m.If(en):
                m.d.sync += q.eq(value)
        return q

    # The write pipeline: d1 = the write of the previous cycle, d2 = of two cycles ago (being
    # committed now with value[i]); wv1 / wv2 = value[i] of one / two cycles ago.
    d1 = [(reg(wr.en, f"{name}_lvt{i}_en1"), reg(wr.addr, f"{name}_lvt{i}_addr1"))
          for i, wr in enumerate(writers)]
    d2 = [(reg(en, f"{name}_lvt{i}_en2"), reg(addr, f"{name}_lvt{i}_addr2"))
          for i, (en, addr) in enumerate(d1)]
    values = [Signal(shape, name=f"{name}_lvt{i}_value") for i in range(n)]
    wv1 = [reg(v, f"{name}_lvt{i}_wv1") for i, v in enumerate(values)]
    wv2 = [reg(v, f"{name}_lvt{i}_wv2") for i, v in enumerate(wv1)]

    def pending(j, addr):
        """(row written by writer j in the last cycle, in the one before), not yet committed."""
        return (d1[j][0] & (d1[j][1] == addr), d2[j][0] & (d2[j][1] == addr))

    def table(j: int, user: str, en, addr):
        mem = Memory(shape=shape, depth=depth, init=[])
        m.submodules[f"{name}_lvt_{wroles[j]}_for_{user}"] = mem
        wp, rp = mem.write_port(), mem.read_port()
        m.d.comb += [wp.en.eq(d2[j][0]), wp.addr.eq(d2[j][1]), wp.data.eq(values[j]),
                     rp.en.eq(en), rp.addr.eq(addr)]
        return rp.data

    for i, wr in enumerate(writers):
        value = i
        for j in range(n):
            if j == i:
                continue
            ram = reg(table(j, f"w_{wroles[i]}", wr.en, wr.addr), f"{name}_lvt{i}_old{j}")
            h1, h2 = pending(j, wr.addr)
            h1 = reg(reg(h1, f"{name}_lvt{i}_h1_{j}"), f"{name}_lvt{i}_h1_{j}_q")
            h2 = reg(reg(h2, f"{name}_lvt{i}_h2_{j}"), f"{name}_lvt{i}_h2_{j}_q")
            old = Mux(h1, wv1[j], Mux(h2, wv2[j], ram))
            if j < i:  # the same row written by an earlier writer in the same cycle
                same = d2[j][0] & (d2[j][1] == d2[i][1])
                old = Mux(same, values[j], old)
            value = value ^ old
        m.d.comb += values[i].eq(value)

    sels = []
    for role, rd in zip(rroles, readers, strict=True):
        committed = 0
        for j in range(n):
            committed = committed ^ table(j, f"r_{role}", rd.en, rd.addr)
        hits = [pending(j, rd.addr) for j in range(n)]
        forced, latest = 0, 0
        for age in (1, 0):  # the older pending writes first: a newer one overrides them
            for j in range(n):  # the same cycle: the highest-numbered writer last
                forced = forced | hits[j][age]
                latest = Mux(hits[j][age], j, latest)
        forced_q = reg(forced, f"{name}_lvt_{role}_forced", en=rd.en, like=Signal())
        latest_q = reg(latest, f"{name}_lvt_{role}_latest", en=rd.en, like=Signal(shape))
        sels.append(Mux(forced_q, latest_q, committed))
    return sels

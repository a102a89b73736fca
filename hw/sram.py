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

__all__ = ["Sram", "owner_select", "bank_count"]


def bank_count(n_write: int, n_read: int) -> int:
    """Simple-dual-port banks an :class:`Sram` with these role counts is built from."""
    return n_write * n_read


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
        lvt = None
        if len(writers) > 1:
            lvt = Memory(shape=range(len(writers)), depth=self.depth, init=[])
            m.submodules[f"{self.name}_lvt"] = lvt
            for i, wr in enumerate(writers):
                port = lvt.write_port()
                m.d.comb += [port.en.eq(wr.en), port.addr.eq(wr.addr), port.data.eq(i)]
        for role, rd in zip(self.reads, readers, strict=True):
            datas = []
            for wrole, wr in zip(self.writes, writers, strict=True):
                bank = Memory(shape=self.width, depth=self.depth, init=[])
                m.submodules[f"{self.name}_{wrole}_to_{role}"] = bank
                bw, br = bank.write_port(), bank.read_port()
                m.d.comb += [bw.en.eq(wr.en), bw.addr.eq(wr.addr), bw.data.eq(wr.data),
                             br.en.eq(rd.en), br.addr.eq(rd.addr)]
                datas.append(br.data)
            if lvt is None:
                m.d.comb += rd.data.eq(datas[0])
            else:
                sel = lvt.read_port()
                m.d.comb += [sel.en.eq(rd.en), sel.addr.eq(rd.addr)]
                if len(datas) == 2:
                    m.d.comb += rd.data.eq(Mux(sel.data, datas[1], datas[0]))
                else:
                    m.d.comb += rd.data.eq(Array(datas)[sel.data])
        return m

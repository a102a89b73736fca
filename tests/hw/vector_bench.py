"""Run one compute engine on its own in the Amaranth simulator, with fresh SRAMs."""

from __future__ import annotations

from amaranth.hdl import Const, Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.engine import Port
from hw.sram import staged_read_port
from isa import ErrorCode


def pack(row, bits):
    return sum((int(v) & ((1 << bits) - 1)) << (bits * i) for i, v in enumerate(row))


def unpack(word, bits, n):
    out = [(word >> (bits * i)) & ((1 << bits) - 1) for i in range(n)]
    return [v - (1 << bits) if v >> (bits - 1) else v for v in out]


def run_engine(cls, dim, acc0, sp0, ins, *, limit=20_000, shared_mul=False, **kw):
    """Start ``cls`` on ``ins``; returns a dict: ``cycles`` (busy cycles, start to done),
    ``checked`` (the busy cycles at which it pulsed), ``error``, final ``sp`` and ``acc`` rows.
    ``shared_mul``: the engine takes its products from a shared bank (hw/mulbank.py) that it
    shares with an idle GELU engine (which uses every slot), as in the compute block.
    ``kw``: further engine arguments (ATTN: ``max_seq``)."""
    m = Module()
    m.submodules.sp = sp = Memory(shape=8 * dim, depth=len(sp0), init=[pack(r, 8) for r in sp0])
    m.submodules.acc = acc = Memory(shape=32 * dim, depth=len(acc0),
                                    init=[pack(r, 32) for r in acc0])
    m.submodules.eng = eng = cls(dim=dim, sp_depth=len(sp0), acc_depth=len(acc0),
                                 shared_mul=shared_mul, **kw)
    if shared_mul:
        from hw.mulbank import connect_bank
        from hw.vector import GeluEngine

        m.submodules.idle = idle = GeluEngine(dim=dim, sp_depth=len(sp0), acc_depth=len(acc0),
                                              shared_mul=True)
        for name, kind in GeluEngine.PORTS.items():  # its own (unused) memories' ports
            sp_mem = kind.value[0] == "sp"
            mem = Memory(shape=8 * dim if sp_mem else 32 * dim,
                         depth=len(sp0) if sp_mem else len(acc0), init=[])
            m.submodules[f"idle_{name}"] = mem
            port = (staged_read_port(m, mem, f"idle_{name}_rd") if kind.value[1] == "rd"
                    else mem.write_port())
            wiring.connect(m, getattr(idle, name), port)
        connect_bank(m, [idle, eng], Const(1), dim)  # the engine under test is active
    make = {Port.SP_RD: lambda n: staged_read_port(m, sp, n), Port.SP_WR: sp.write_port,
            Port.ACC_RD: lambda n: staged_read_port(m, acc, n), Port.ACC_WR: acc.write_port}
    for name, kind in cls.PORTS.items():
        wiring.connect(m, getattr(eng, name), make[kind](name) if kind.value[1] == "rd"
                       else make[kind]())
    out = {"checked": []}

    async def bench(ctx):
        ctx.set(eng.instr, ins.encode())
        ctx.set(eng.start, 1)
        await ctx.tick()
        ctx.set(eng.start, 0)
        busy = 0
        for n in range(1, limit):
            busy += ctx.get(eng.busy)
            if ctx.get(eng.checked):
                out["checked"].append(n)
            if ctx.get(eng.done):
                out["cycles"], out["error"], out["busy"] = n, ErrorCode(ctx.get(eng.error)), busy
                break
            await ctx.tick()
        await ctx.tick()
        out["busy_after"] = ctx.get(eng.busy)
        out["sp"] = [unpack(ctx.get(sp.data[i]), 8, dim) for i in range(len(sp0))]
        out["acc"] = [unpack(ctx.get(acc.data[i]), 32, dim) for i in range(len(acc0))]

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert "cycles" in out, f"{cls.__name__} never signalled done"
    assert out["busy_after"] == 0 and out["busy"] == out["cycles"]
    return out

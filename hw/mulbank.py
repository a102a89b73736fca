"""The per-lane multiplier bank the compute engines share (docs/rtl.md, "Multipliers").

The compute queue runs one instruction at a time, so the vector engines (REQUANT, GELU,
RESADD, LAYERNORM) and the attention engine need not each have their own per-lane multipliers:
``MUL_SLOTS`` lists the bank's slots, per lane a signed ``a x b`` multiplier with a registered
product, and each engine declares in ``MULS`` which slots it uses (each at most once, through
``Engine.mul``). ``connect_bank`` (hw/compute.py) builds the bank: slot ``k``'s operands come
from the engine that started last (``active``, registered at its start, so valid from its first
busy cycle on), the product goes to every engine that uses the slot. An engine's pipeline is
the same as with its own multipliers: one multiply per stage, product one cycle later.

Slot widths: three 32 x 32 (REQUANT ``x*m``; RESADD ``x*m1``, ``r*m2``; GELU ``x*m_in``,
``gelu*m_out``, ``x*phi``; LAYERNORM ``x^2``, ``d*inv``, ``n*gamma``; ATTN ``O*m_o``) and two
18 x 18 (GELU ``t*c2``, ``t*inner``; ATTN ``q*k``, ``P*v``); with DIM 4 about 14 MULT18X18D per
lane instead of 43 when every engine had its own.
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal, signed
from amaranth.lib.wiring import In, Out

#: Signed operand widths (a, b) of each slot, per lane.
MUL_SLOTS = ((32, 32), (32, 32), (32, 32), (18, 18), (18, 18))


def mul_members(slots, dim: int) -> dict:
    """An engine's bank members for the ``slots`` it uses (engine side)."""
    out = {}
    for k in slots:
        wa, wb = MUL_SLOTS[k]
        out[f"mul{k}_a"] = Out(signed(wa)).array(dim)
        out[f"mul{k}_b"] = Out(signed(wb)).array(dim)
        out[f"mul{k}_p"] = In(signed(wa + wb)).array(dim)
    return out


def slot_operand(v, width: int, what: str):
    """``v`` as a signed ``width``-bit operand; ValueError if its shape does not fit."""
    shape = v.shape()
    need = shape.width + (0 if shape.signed else 1)
    if need > width:
        raise ValueError(f"multiplier operand {what}: {shape} does not fit signed({width})")
    return v.as_signed() if shape.signed else v


def connect_bank(m: Module, engines: list, active, dim: int) -> None:
    """The shared bank: per slot and lane one multiplier fed by the active engine."""
    for k, (wa, wb) in enumerate(MUL_SLOTS):
        users = [(i, e) for i, e in enumerate(engines) if k in type(e).MULS]
        if not users:
            continue
        index = Signal(range(len(users)), name=f"mul{k}_sel")
        for j, (i, _) in enumerate(users):
            with m.If(active == i):
                m.d.comb += index.eq(j)
        for n in range(dim):
            a, b = Signal(signed(wa), name=f"mul{k}_a{n}"), Signal(signed(wb), name=f"mul{k}_b{n}")
            p = Signal(signed(wa + wb), name=f"mul{k}_p{n}")
            m.d.comb += [
                a.eq(Array(getattr(e, f"mul{k}_a")[n] for _, e in users)[index]),
                b.eq(Array(getattr(e, f"mul{k}_b")[n] for _, e in users)[index]),
            ]
            m.d.sync += p.eq(a * b)
            for _, e in users:
                m.d.comb += getattr(e, f"mul{k}_p")[n].eq(p)

"""The per-lane multiplier bank the compute engines share (docs/rtl.md, "Multipliers").

The compute queue runs one instruction at a time, so the vector engines (REQUANT, GELU,
RESADD, LAYERNORM) and the attention engine need not each have their own per-lane multipliers:
``MUL_SLOTS`` lists the bank's slots, per lane a signed ``a x b`` multiplier with a registered
product, and each engine declares in ``MULS`` which slots it uses (each at most once, through
``Engine.mul``). ``connect_bank`` (hw/compute.py) builds the bank: slot ``k``'s operands come
from the engine that started last (``active``, registered at its start, so valid from its first
busy cycle on), the product goes to every engine that uses the slot. Every product is pipelined
(:func:`product`): the operands are registered after the select, then the product of a narrow
slot, or a wide slot's four 17-bit partial products, a first sum and the product:
``slot_cycles`` after the engine presents its operands (``isa.cycles.MUL_NARROW_CYCLES``,
``MUL_WIDE_CYCLES``), the same whether the slot is shared or the engine's own
(``shared_mul=False``).

Slot widths: three 32 x 32 (REQUANT ``x*m``; RESADD ``x*m1``, ``r*m2``; GELU ``x*m_in``,
``gelu*m_out``, ``x*phi``; LAYERNORM ``x^2``, ``d*inv``, ``n*gamma``; ATTN ``O*m_o``) and two
18 x 18 (GELU ``t*c2``, ``t*inner``; ATTN ``q*k``, ``P*v``); with DIM 4 about 14 MULT18X18D per
lane instead of 43 when every engine had its own.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Signal, signed
from amaranth.lib.wiring import In, Out

from isa.cycles import MUL_NARROW_CYCLES, MUL_WIDE_CYCLES

#: Signed operand widths (a, b) of each slot, per lane.
MUL_SLOTS = ((32, 32), (32, 32), (32, 32), (18, 18), (18, 18))
#: Bits of the unsigned low pieces a wide operand is split into (the top piece is signed and at
#: most 18 bits): each partial product is one MULT18X18D / DSP multiplier.
PIECE_BITS = 17


def _signed_width(shape) -> int:
    return shape.width + (0 if shape.signed else 1)


def _as_signed(v):
    shape = v.shape()
    return v.as_signed() if shape.signed else Cat(v, 0).as_signed()


def product_cycles(wa: int, wb: int) -> int:
    """Cycles of :func:`product` for signed operand widths ``wa``, ``wb``."""
    return MUL_NARROW_CYCLES if max(wa, wb) <= PIECE_BITS + 1 else MUL_WIDE_CYCLES


def product_latency(a, b) -> int:
    """Cycles of :func:`product` for the values ``a`` and ``b``."""
    return product_cycles(_signed_width(a.shape()), _signed_width(b.shape()))


def slot_cycles(slot: int) -> int:
    return product_cycles(*MUL_SLOTS[slot])


def operand_pieces(v) -> list[tuple[object, int]]:
    """``v`` (signed) as (piece, bit offset): unsigned PIECE_BITS-bit pieces, a signed top."""
    w = len(v)
    out, lo = [], 0
    while w - lo > PIECE_BITS + 1:
        out.append((v[lo:lo + PIECE_BITS], lo))
        lo += PIECE_BITS
    out.append((v[lo:].as_signed(), lo))
    return out


def product(m: Module, a, b, name: str) -> Signal:
    """``a * b``, exact, pipelined for the FPGA (``isa.cycles.MUL_*_CYCLES``): the operands are
    registered first (off the path of whatever selected them); operands that fit 18 signed bits
    then give the product register; wider ones are split into 17-bit pieces whose partial
    products are registered (each one DSP multiplier), then summed into the product register.
    Returns the product register, ``product_cycles`` cycles after ``a`` and ``b``."""
    sa, sb = _as_signed(a), _as_signed(b)
    ar = Signal(signed(len(sa)), name=f"{name}_a")
    br = Signal(signed(len(sb)), name=f"{name}_b")
    m.d.sync += [ar.eq(sa), br.eq(sb)]
    p = Signal(signed(len(sa) + len(sb)), name=f"{name}_p")
    if product_cycles(len(sa), len(sb)) == MUL_NARROW_CYCLES:
        m.d.sync += p.eq(ar * br)
        return p
    terms, pps = [], {}
    pieces_a, pieces_b = operand_pieces(ar), operand_pieces(br)
    for i, (pa, oa) in enumerate(pieces_a):
        for j, (pb, ob) in enumerate(pieces_b):
            pp = Signal(signed(len(pa) + len(pb) + 1), name=f"{name}_pp{i}{j}")
            m.d.sync += pp.eq(pa * pb)
            terms.append(pp << (oa + ob))
            pps[i, j] = pp
    assert MUL_WIDE_CYCLES == 4, "operands, partial products, a first sum, the product"
    if len(pieces_a) == len(pieces_b) == 2:
        # Two pieces each: the low x low product (unsigned, 2*PIECE_BITS bits) and the
        # high x high one (at 2*PIECE_BITS) do not overlap: one value, no adder; the two
        # cross products are summed (registered: the two carry chains in series were the
        # longest path of LAYERNORM's statistics, 90.4 MHz), then added at PIECE_BITS.
        k = PIECE_BITS
        outer = Signal(signed(len(pps[1, 1]) + 2 * k), name=f"{name}_outer")
        cross = Signal(signed(max(len(pps[0, 1]), len(pps[1, 0])) + 1), name=f"{name}_cross")
        m.d.sync += [outer.eq(Cat(pps[0, 0][:2 * k], pps[1, 1]).as_signed()),
                     cross.eq(pps[0, 1] + pps[1, 0])]
        m.d.sync += p.eq(Cat(outer[:k], (outer[k:] + cross)[:len(p) - k]).as_signed())
    else:
        # the terms summed in pairs (registered), then the pair sums
        pairs = []
        for n in range(0, len(terms), 2):
            t = terms[n] if n + 1 == len(terms) else terms[n] + terms[n + 1]
            r = Signal(signed(len(p) + 1), name=f"{name}_s{n // 2}")
            m.d.sync += r.eq(t)
            pairs.append(r)
        m.d.sync += p.eq(sum(pairs))
    return p


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
    if _signed_width(shape) > width:
        raise ValueError(f"multiplier operand {what}: {shape} does not fit signed({width})")
    return v.as_signed() if shape.signed else v


def slot_product(m: Module, slot: int, a, b, name: str) -> Signal:
    """The product of one lane of ``slot`` (operands already fitted to the slot's widths)."""
    wa, wb = MUL_SLOTS[slot]
    sa, sb = Signal(signed(wa), name=f"{name}_in_a"), Signal(signed(wb), name=f"{name}_in_b")
    m.d.comb += [sa.eq(a), sb.eq(b)]
    return product(m, sa, sb, name)


def connect_bank(m: Module, engines: list, active, dim: int, muls=None) -> None:
    """The shared bank: per slot and lane one multiplier fed by the active engine; engine
    ``i`` uses the slots ``muls[i]`` (default: its class's ``MULS``)."""
    muls = [type(e).MULS for e in engines] if muls is None else muls
    for k in range(len(MUL_SLOTS)):
        users = [(i, e) for i, e in enumerate(engines) if k in muls[i]]
        if not users:
            continue
        index = Signal(range(len(users)), name=f"mul{k}_sel")
        for j, (i, _) in enumerate(users):
            with m.If(active == i):
                m.d.comb += index.eq(j)
        for n in range(dim):
            a = Array(getattr(e, f"mul{k}_a")[n] for _, e in users)[index]
            b = Array(getattr(e, f"mul{k}_b")[n] for _, e in users)[index]
            p = slot_product(m, k, a, b, f"mul{k}_{n}")
            for _, e in users:
                m.d.comb += getattr(e, f"mul{k}_p")[n].eq(p)

"""The shared per-lane multiplier bank (hw/mulbank.py): the engines declare their slots, an
operand that does not fit its slot is refused at elaboration, the compute block holds one bank
(``MUL_SLOTS`` x DIM, in DSP-sized pieces) instead of per-engine multipliers, and no product in
the compute engines is wider than one 18 x 18 multiplier. Bit-exactness of the
shared bank is covered by every RTL test (tests/hw/test_rtl_*.py run the whole machine)."""

from __future__ import annotations

import re

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal, unsigned

from hw.compute import ComputeEngines
from hw.mulbank import MUL_SLOTS, slot_operand
from hw.vector import RequantEngine
from isa import MachineConfig


def _mul_cells(text: str) -> dict[str, list[tuple[int, int]]]:
    """Per RTLIL module: the (A_WIDTH, B_WIDTH) of its $mul cells."""
    out = {}
    for mod in re.split(r"\nmodule ", text)[1:]:
        cells = re.findall(r"cell \$mul \S+\n((?:\s+parameter.*\n)+)", mod)
        widths = []
        for c in cells:
            p = dict(re.findall(r"parameter \\(\w+) (\S+)", c))
            widths.append((int(p["A_WIDTH"]), int(p["B_WIDTH"])))
        out[mod.split("\n")[0].strip()] = widths
    return out


def test_the_compute_block_has_one_bank_and_no_multiply_wider_than_a_dsp():
    dim = 4
    cells = _mul_cells(rtlil.convert(ComputeEngines(MachineConfig(dim=dim, sp_kib=4, acc_kib=4)),
                                     name="compute", emit_src=False))
    # The bank, per lane: three 32 x 32 slots of four 17-bit-piece products, two 18 x 18.
    assert sorted(MUL_SLOTS) == [(18, 18)] * 2 + [(32, 32)] * 3
    assert len(cells["\\compute"]) == (3 * 4 + 2) * dim
    # Every product in the compute engines (the bank, the scalar statistics, the range checks)
    # is at most 18 x 18 bits: one DSP multiplier, nothing wider in one stage (Fmax).
    for mod, widths in cells.items():
        if mod.startswith("\\compute"):
            assert all(max(a, b) <= 18 for a, b in widths), (mod, widths)


def test_operands_must_fit_their_slot():
    with pytest.raises(ValueError, match=r"operand x a: unsigned\(32\) does not fit signed\(32\)"):
        slot_operand(Signal(32), 32, "x a")
    assert slot_operand(Signal(31), 32, "x a").shape() == unsigned(31)  # zero-extended
    eng = RequantEngine(dim=4, sp_depth=16, acc_depth=16)
    eng._MustUse__silence = True  # never elaborated: no unused-elaboratable warning
    with pytest.raises(ValueError, match=r"slot 3 not declared in MULS \(0,\)"):
        eng.mul(m := Module(), 3, [Signal(8)], [Signal(8)], "p")
    m._MustUse__silence = True


@pytest.mark.parametrize("wa,wb", [(32, 32), (28, 32), (26, 20), (33, 18), (17, 31), (18, 18)])
def test_pipelined_product_is_exact_at_the_extremes(wa, wb):
    """``hw.mulbank.product``: every split (two pieces each: the outer products concatenated,
    the cross products added; other splits summed; narrow operands one product) is exact."""
    import random

    from amaranth.hdl import signed

    from hw.mulbank import product, product_latency

    from .pipelined import run_cases

    rng = random.Random(wa * 100 + wb)
    m = Module()
    a, b = Signal(signed(wa)), Signal(signed(wb))
    p = product(m, a, b, "t")
    lat = product_latency(a, b)
    ea = [-(1 << (wa - 1)), (1 << (wa - 1)) - 1, 0, -1, 1, 1 << 16, (1 << 17) - 1]
    eb = [-(1 << (wb - 1)), (1 << (wb - 1)) - 1, 0, -1, 1, 1 << 16, (1 << 17) - 1]
    cases = [(x, y) for x in ea for y in eb if -(1 << (wa - 1)) <= x < 1 << (wa - 1)
             and -(1 << (wb - 1)) <= y < 1 << (wb - 1)]
    cases += [(rng.randrange(-(1 << (wa - 1)), 1 << (wa - 1)),
               rng.randrange(-(1 << (wb - 1)), 1 << (wb - 1))) for _ in range(200)]
    got = run_cases(m, (a, b), cases, lat, lambda ctx: ctx.get(p))
    assert got == [x * y for x, y in cases]

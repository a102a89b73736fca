"""Products of word-check expressions pipelined out of the cycle that uses them (Fmax).

The instruction checks (hw/checks.py) and the engines' late checks (hw/engine.py) are written as
plain expressions (e.g. ``(rows - 1) * stride + cols > limit``). A product there would put a
multiplier, adds and a compare in one cycle, so both build the expressions twice: once to find
their products (:class:`Products`), whose operands and results :func:`register_products`
registers, and once on the registered values with each product replaced by its register.
"""

from __future__ import annotations

from amaranth.hdl import Signal, Value
from amaranth.hdl._xfrm import ValueTransformer  # Amaranth 0.5 (pinned): rebuilds expressions


class Products(ValueTransformer):
    """Collects the products of an expression in a fixed order (``found``) and, with
    ``replace``, rebuilds it with the k-th product replaced by ``replace[k]``. Products are not
    descended into (their operands are what a pipeline registers)."""

    def __init__(self, replace=None):
        self.found, self.replace = [], replace

    def on_Operator(self, value):
        if value.operator == "*":
            k = len(self.found)
            self.found.append(value)
            return value if self.replace is None else self.replace[k]
        return super().on_Operator(value)


def register_products(m, exprs, prefix: str, enable=None) -> Products:
    """Find the products of ``exprs``; register each one's operands (while ``enable``, if
    given), then the product of the registered operands (a DSP multiplier each, no logic
    around it). Returns the :class:`Products` that rebuilds an expression (of the same shape,
    e.g. the same checks on a later copy of the word) with the k-th product replaced by its
    register, two cycles after the operands were taken; call it on every expression, then
    :func:`check_rebuilt`."""
    first = Products()
    for e in exprs:
        first(Value.cast(e))
    regs = []
    for k, p in enumerate(first.found):
        a, b = (Signal(Value.cast(o).shape(), name=f"{prefix}_op{k}_{n}")
                for n, o in zip("ab", p.operands, strict=True))
        take = [a.eq(p.operands[0]), b.eq(p.operands[1])]
        if enable is None:
            m.d.sync += take
        else:
            with m.If(enable):
                m.d.sync += take
        prod = Signal(p.shape(), name=f"{prefix}_prod{k}")
        m.d.sync += prod.eq(a * b)
        regs.append(prod)
    return Products(replace=regs)


def check_rebuilt(second: Products) -> None:
    """Both builds of the expressions had the same products."""
    assert len(second.found) == len(second.replace), \
        "both builds of the checks have the same products"

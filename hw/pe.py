"""One processing element of the weight-stationary systolic array.

Holds two weights (double buffering: the ``sel`` bit travelling with each activation chooses the
weight it meets, so the next tile can be written into the other buffer while the current one
computes). Every cycle: ``prod <= a_in * w[sel_in]`` and ``psum_out <= psum_in + prod``
(``isa.cycles.PE_PRODUCT_STAGES``: the product registered before its add, for Fmax), and the
activation and its ``sel`` bit move one PE to the right. Every PE delays its product alike, so
a partial sum from above meets the product of the same row.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from isa.cycles import PE_PRODUCT_STAGES


class PE(wiring.Component):
    """int8 x int8 multiply-accumulate with a ``psum_width``-bit signed partial sum."""

    def __init__(self, *, psum_width: int):
        if not isinstance(psum_width, int) or psum_width < 16:
            raise ValueError(f"psum_width must be an int >= 16 (an int8 product needs 16), "
                             f"not {psum_width!r}")
        self._psum_width = psum_width
        super().__init__({
            "a_in": In(signed(8)), "sel_in": In(1), "psum_in": In(signed(psum_width)),
            "a_out": Out(signed(8)), "sel_out": Out(1), "psum_out": Out(signed(psum_width)),
            # Weight write: w[w_buf] := w_data at the clock edge when w_en is high.
            "w_data": In(signed(8)), "w_buf": In(1), "w_en": In(1),
        })

    @property
    def psum_width(self) -> int:
        return self._psum_width

    def elaborate(self, platform):
        m = Module()
        w0 = Signal(signed(8))
        w1 = Signal(signed(8))
        with m.If(self.w_en):
            with m.If(self.w_buf):
                m.d.sync += w1.eq(self.w_data)
            with m.Else():
                m.d.sync += w0.eq(self.w_data)
        w = Mux(self.sel_in, w1, w0)
        assert PE_PRODUCT_STAGES == 1, "one product register"
        prod = Signal(signed(16))
        m.d.sync += [
            prod.eq(self.a_in * w),
            self.psum_out.eq(self.psum_in + prod),
            self.a_out.eq(self.a_in),
            self.sel_out.eq(self.sel_in),
        ]
        return m

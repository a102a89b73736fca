"""cocotb bench: runs the jobs listed in $ENCORE_RTL_JOBS (JSON) one after the other on the DUT.

Each job: ``dram`` (.npy uint8 image with the instruction words in place), ``prog_addr``,
``prog_len``, ``dram_size``, ``out_dram`` (.npy written back), ``out_json`` (registers),
``seed``, ``latency`` [min, max], ``ready_prob``, ``valid_prob``, ``write_latency``,
``max_cycles``, optionally ``resp_errors`` (error responses to inject, see dram_model.py).
The bench knows nothing of programs; hw/rtlsim/runner.py prepares the images and checks the
results.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles

from .axil import PERIOD_NS, AxiLiteMaster, start_and_wait
from .dram_model import AxiDram


@cocotb.test()
async def run_jobs(dut):
    with open(os.environ["ENCORE_RTL_JOBS"]) as f:
        jobs = json.load(f)
    bus_bytes = len(dut.dram__wstrb)
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    for job in jobs:
        dut.rst.value = 1
        dram = np.load(job["dram"])
        model = AxiDram(dut, "dram", dram, bus_bytes, seed=job["seed"],
                        latency=tuple(job["latency"]), ready_prob=job["ready_prob"],
                        valid_prob=job.get("valid_prob", 0.9),
                        write_latency=job.get("write_latency"),
                        resp_errors=job.get("resp_errors", ()))
        host = AxiLiteMaster(dut, "ctrl", dut.clk)
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        task = cocotb.start_soon(model.run(dut.clk))
        regs = await start_and_wait(host, dut, job, ClockCycles(dut.clk, job["max_cycles"]))
        regs.update(model_errors=model.errors, injected=model.injected,
                    outstanding=model.outstanding())
        task.cancel()
        np.save(job["out_dram"], model.mem)
        with open(job["out_json"], "w") as f:
            json.dump(regs, f)

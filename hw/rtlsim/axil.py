"""AXI4-Lite master driver for cocotb (the host's view of the control registers)."""

from __future__ import annotations

from cocotb.triggers import FallingEdge, ReadOnly

#: The benches' clock period.
PERIOD_NS = 10


class AxiLiteMaster:
    def __init__(self, dut, prefix: str, clk, *, timeout: int = 1000):
        self.clk, self.timeout = clk, timeout
        self.s = {n: getattr(dut, f"{prefix}__{n}") for n in (
            "awvalid", "awready", "awaddr", "wvalid", "wready", "wdata", "wstrb", "bvalid",
            "bready", "arvalid", "arready", "araddr", "rvalid", "rready", "rdata")}
        for n in ("awvalid", "wvalid", "bready", "arvalid", "rready", "awaddr", "wdata",
                  "wstrb", "araddr"):
            self.s[n].value = 0

    async def write(self, addr: int, value: int) -> None:
        s = self.s
        await FallingEdge(self.clk)
        s["awaddr"].value, s["awvalid"].value = addr, 1
        s["wdata"].value, s["wstrb"].value, s["wvalid"].value = value & 0xFFFFFFFF, 0xF, 1
        s["bready"].value = 1
        aw = w = b = False
        for _ in range(self.timeout):
            await ReadOnly()
            aw |= bool(s["awvalid"].value and s["awready"].value)
            w |= bool(s["wvalid"].value and s["wready"].value)
            b = bool(s["bvalid"].value)
            await FallingEdge(self.clk)
            if aw:
                s["awvalid"].value = 0
            if w:
                s["wvalid"].value = 0
            if b:
                s["bready"].value = 0
                return
        raise TimeoutError(f"AXI4-Lite write to {addr:#x} got no response in {self.timeout} cycles")

    async def read(self, addr: int) -> int:
        s = self.s
        await FallingEdge(self.clk)
        s["araddr"].value, s["arvalid"].value, s["rready"].value = addr, 1, 1
        for _ in range(self.timeout):
            await ReadOnly()
            ar = bool(s["arvalid"].value and s["arready"].value)
            r = bool(s["rvalid"].value)
            value = int(s["rdata"].value) if r else None
            await FallingEdge(self.clk)
            if ar:
                s["arvalid"].value = 0
            if r:
                s["rready"].value = 0
                return value
        raise TimeoutError(f"AXI4-Lite read of {addr:#x} got no response in {self.timeout} cycles")


#: The registers both benches read back after a run.
STATUS_REGS = ("status", "error", "error_index", "cycles", "load_busy", "compute_busy",
               "store_busy", "retired", "hw_config")


async def _wait_with_progress(host: AxiLiteMaster, dut, job: dict, t0: float) -> bool:
    """Wait for the interrupt in steps of ``job["progress_cycles"]`` (a Timer: no Python per
    clock), rewriting ``job["progress"]`` with the live retired / cycles registers after each
    step; True if ``max_cycles`` passed first."""
    import json
    import time

    from cocotb.triggers import First, RisingEdge, Timer

    from hw.regs import OFFSETS

    left = job["max_cycles"]
    while not int(dut.irq.value):
        if left <= 0:
            return True
        step = min(job["progress_cycles"], left)
        await First(RisingEdge(dut.irq), Timer(step * PERIOD_NS, unit="ns"))
        left -= step
        if int(dut.irq.value):
            break
        live = {n: await host.read(OFFSETS[n]) for n in ("retired", "cycles")}
        with open(job["progress"], "w") as f:
            json.dump({**live, "wall_s": time.perf_counter() - t0}, f)
    return False


async def start_and_wait(host: AxiLiteMaster, dut, job: dict, guard) -> dict:
    """Write the program registers of ``job``, start it and wait for the interrupt or the
    ``guard`` trigger (or, when ``job["progress"]`` names a file, in steps that report
    progress there); then read the status registers. Returns them with ``timed_out``,
    ``wall_seconds`` (START to the interrupt), ``cpu_seconds`` (the simulator process's CPU
    time over the same span: what the run costs whatever else shares the machine) and ``irq``."""
    import time

    from cocotb.triggers import First, RisingEdge

    from hw.regs import OFFSETS

    await host.write(OFFSETS["prog_addr"], job["prog_addr"])
    await host.write(OFFSETS["prog_len"], job["prog_len"])
    await host.write(OFFSETS["dram_size"], job["dram_size"])
    t0, c0 = time.perf_counter(), time.process_time()
    await host.write(OFFSETS["ctrl"], 1)
    timed_out = False
    if job.get("progress"):
        timed_out = await _wait_with_progress(host, dut, job, t0)
    elif not int(dut.irq.value):
        fired = await First(RisingEdge(dut.irq), guard)
        timed_out = fired is guard
    regs = {"timed_out": timed_out, "wall_seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0}
    for name in STATUS_REGS:
        regs[name] = await host.read(OFFSETS[name])
    regs["irq"] = int(dut.irq.value)
    return regs

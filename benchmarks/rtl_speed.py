"""RTL simulation speed: simulated cycles per wall-clock second on Verilator (through cocotb), for
DIM 4, 8 and 16 and both DRAM models, on a compiled model's program.

    .venv/bin/python benchmarks/rtl_speed.py [--dims 4 8 16] [--dram fast python] [--rebuild]
    .venv/bin/python benchmarks/rtl_speed.py --dims 16 --verilog-steps

The program: a small random BERT (2 layers, hidden 64, 4 heads, FFN 128, vocab 64) compiled
at seq 32 (``--seq``) for each DIM. Its whole instruction stream (embedding LayerNorm, every
linear layer with its epilogue, attention, the residual LayerNorms) runs on the RTL and is
checked against the functional simulator on the same program (DRAM bit-exact). The time covers
only the program run (START to the interrupt), as wall-clock seconds and as the simulator
process's CPU seconds (less sensitive to other jobs on the machine, though not immune: two
hardware threads share a core's caches). Builds are cached in .cache/rtl (``--rebuild``
removes the cached build and the design's Verilog first); a build made during the run is
timed, wall and CPU, the compiler processes included, with the CPU seconds of its steps
(Verilog generation, Verilator, C++ build; the Verilator runtime objects are shared by all
builds and stay cached, see hw/rtlsim/objcache.py). Results go to results/rtl_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hw.rtlsim import runner  # noqa: E402
from isa import MachineConfig, Program  # noqa: E402

SEQ = 32
MODEL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
             vocab_size=64, max_position_embeddings=64, type_vocab_size=1)


def machine(dim: int) -> MachineConfig:
    """The RTL tests' machine (so the builds are shared), DRAM latency 64."""
    return runner.small_machine(dim, dram_latency=64)


def compiled_program(dim: int, seq: int = SEQ) -> Program:
    import torch
    import transformers

    from compiler import compile_model

    torch.manual_seed(0)
    model = transformers.BertModel(transformers.BertConfig(**MODEL), add_pooling_layer=False)
    return compile_model(model, machine(dim), seq_len=seq).program


def cpu_now() -> float:
    """CPU seconds of this process and its finished children (the Verilator and C++ compilers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def random_inputs(prog: Program, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, t in prog.tensors.items():
        if t.role == "input":
            lo, hi = (-128, 128) if t.dtype == "int8" else (-(1 << 20), 1 << 20)
            out[name] = rng.integers(lo, hi, size=(t.rows, t.cols), dtype=np.int64)
    return out


def measure(dim: int, drams: list[str], rebuild: bool, seq: int = SEQ) -> list[dict]:
    from sim.functional import run_program

    prog = compiled_program(dim, seq)
    cfg = prog.config
    inputs = random_inputs(prog)
    dram = prog.new_dram()
    for name, value in inputs.items():
        prog.write_tensor(dram, name, value)
    func, _ = run_program(prog, inputs)
    image = runner.place_program(prog, dram)[0].size
    rows = []
    for model in drams:
        mem = runner.mem_bytes_for(image) if model == "fast" else runner.MEM_TIERS[0]
        if rebuild:  # the build and the design's Verilog; the runtime objects stay cached
            for old in runner.CACHE.glob(f"verilator-dim{dim}-{model}-*"):
                shutil.rmtree(old)
            for old in runner.cache.VERILOG_CACHE.glob(f"dim{dim}-*.v"):
                old.unlink()
        t0, c0 = time.perf_counter(), cpu_now()
        build_dir = runner.build_dir_of(cfg, "verilator", model, mem)  # may make the Verilog
        fresh = not (build_dir / "built.ok").exists()
        runner.build(cfg, "verilator", model, mem)
        times_file = build_dir / "build_times.json"
        build_s = round(time.perf_counter() - t0, 1) if fresh else None
        build_cpu = round(cpu_now() - c0, 1) if fresh else None
        steps = json.loads(times_file.read_text()) if fresh else {}
        job = runner.RtlJob.fixed(prog, dram, max_cycles=50_000_000)
        t0 = time.perf_counter()
        res = runner.run_jobs(cfg, [job], dram=model)[0]
        total = time.perf_counter() - t0
        wall, cpu = res.regs["wall_seconds"], res.regs["cpu_seconds"]
        rows.append({"dim": dim, "dram": model, "instructions": len(prog.instructions),
                     "cycles": res.cycles, "error": res.error,
                     "bit_exact": bool(np.array_equal(res.dram, func.dram)),
                     "run_seconds": round(wall, 3), "cycles_per_second": round(res.cycles / wall),
                     "run_cpu_seconds": round(cpu, 3),
                     "cycles_per_cpu_second": round(res.cycles / cpu),
                     "total_seconds": round(total, 1), "build_seconds": build_s,
                     "build_cpu_seconds": build_cpu, "build_steps": steps,
                     "load_average": os.getloadavg()[0]})
        print(f"DIM {dim} {model}: {res.cycles} cycles in {wall:.2f} s ({cpu:.2f} s CPU)",
              file=sys.stderr)
    return rows


def verilog_steps(dim: int) -> dict:
    """CPU seconds of the two parts of generating the design's Verilog (what
    ``hw.top.generate_verilog`` does, uncached): Amaranth's elaboration and RTLIL conversion
    (Python), then yosys (``proc``, ``write_verilog``)."""
    from amaranth.back import rtlil, verilog

    from hw.top import EncoreTop

    cfg = machine(dim)
    c0 = cpu_now()
    text = rtlil.convert(EncoreTop(cfg), name=runner.TOPLEVEL, emit_src=False)
    c1 = cpu_now()
    out = verilog._convert_rtlil_text(text)
    c2 = cpu_now()
    return {"dim": dim, "rtlil_cpu_s": round(c1 - c0, 1), "yosys_cpu_s": round(c2 - c1, 1),
            "verilog_bytes": len(out), "load_average": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--dram", nargs="+", choices=runner.DRAM_MODELS,
                    default=list(runner.DRAM_MODELS))
    ap.add_argument("--seq", type=int, default=SEQ, help="sequence length of the model")
    ap.add_argument("--rebuild", action="store_true", help="time a fresh build (slow)")
    ap.add_argument("--verilog-steps", action="store_true",
                    help="only time the Verilog generation's two parts for each DIM")
    args = ap.parse_args()
    if args.verilog_steps:
        for d in args.dims:
            print(json.dumps(verilog_steps(d)))
        return
    rows = [r for d in args.dims for r in measure(d, args.dram, args.rebuild, args.seq)]
    print("| DIM | DRAM model | instructions | RTL cycles | run (s) | cycles / s | "
          "cycles / CPU s | DRAM = functional sim | build wall / CPU (s) | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        build = ("cached" if r["build_seconds"] is None
                 else f"{r['build_seconds']} / {r['build_cpu_seconds']}")
        if r["build_steps"]:
            build += " (" + ", ".join(f"{k} {v['cpu_s']}" for k, v in r["build_steps"].items()
                                      if isinstance(v, dict)) + " CPU s)"
        print(f"| {r['dim']} | {r['dram']} | {r['instructions']} | {r['cycles']:,} | "
              f"{r['run_seconds']} | {r['cycles_per_second']:,} | "
              f"{r['cycles_per_cpu_second']:,} | {r['bit_exact']} | {build} | "
              f"{r['load_average']:.1f} |")
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "rtl_speed.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

"""``encore rtl``: run a program on the RTL (Verilator or Icarus, through cocotb), compare its
DRAM, error code and index with the functional simulator and its cycle counter with the timing
model, and, for a compiled model, its outputs with PyTorch FP32."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from isa import ErrorCode, Program

from ._common import write_json


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "rtl", help="run a program on the RTL simulation and check it against the simulators",
        description="Build (cached under .cache/rtl) and simulate the RTL for the program's "
        "machine configuration, run the program with a DRAM model behind the AXI4 port, and "
        "compare: DRAM and error with the functional simulator, the cycle counter with the "
        "timing model (same fixed DRAM latency), and for a program from `encore compile` the "
        "final hidden states with the PyTorch FP32 model.")
    p.add_argument("program", help="program file (.encore)")
    p.add_argument("--inputs", help="NPZ of inputs: input_ids and attention_mask for a model "
                   "program, else its input tensors by name (default: seeded random)")
    p.add_argument("--text", action="append", help="input text of a model program (needs the "
                   "model's tokenizer; repeat for a batch)")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs and DRAM stalls")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--dram", choices=("fast", "python"), default=None,
                   help="DRAM model: fast (Verilog AXI4 memory inside the simulation, the "
                   "default on Verilator) or python (the protocol-checking cocotb model, the "
                   "default on Icarus)")
    p.add_argument("--latency", type=int, nargs=2, metavar=("MIN", "MAX"), default=None,
                   help="random DRAM read latency in [MIN, MAX] cycles (default: the config's "
                   "fixed dram_latency for reads and write responses, no back-pressure: the "
                   "timing model's setting, whose cycles must then equal the RTL's)")
    p.add_argument("--max-cycles", type=int, default=500_000_000)
    p.add_argument("--model", help="PyTorch model for the accuracy check (default: the one "
                   "`encore compile` recorded in the program)")
    p.add_argument("--no-accuracy", action="store_true", help="skip the PyTorch comparison")
    p.add_argument("--show", type=int, default=4, help="rows of each output to print")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)
    p.epilog = ("Exit status: 0 if the RTL agrees with the functional simulator (DRAM, error "
                "code and index) and, at the fixed DRAM latency, its cycles equal the timing "
                "model's; 5 if both stop with the same program error; 6 on any disagreement.")


def _tensor_inputs(program: Program, path: str | None, seed: int) -> dict[str, np.ndarray]:
    wanted = {n: t for n, t in program.tensors.items() if t.role == "input"}
    if path:
        with np.load(path) as data:
            missing = sorted(set(wanted) - set(data.files))
            if missing:
                raise ValueError(f"--inputs {path!r} lacks input tensors {missing}")
            return {n: data[n] for n in wanted}
    rng = np.random.default_rng(seed)
    out = {}
    for n, t in wanted.items():
        lo, hi = (-128, 128) if t.dtype == "int8" else (-(1 << 20), 1 << 20)
        out[n] = rng.integers(lo, hi, size=(t.rows, t.cols), dtype=np.int64)
    return out


def _inputs(program: Program, args) -> tuple[dict[str, np.ndarray], tuple | None]:
    """Input tensors, and (ids, mask) for a model program (as `encore simulate` makes them)."""
    if "arch" not in program.meta:
        if args.text:
            raise ValueError("--text needs a model program (from encore compile); this program "
                             "takes input tensors: use --inputs NPZ")
        return _tensor_inputs(program, args.inputs, args.seed), None
    from encore.host import prepare_inputs

    from .simulate import model_inputs

    ids, mask = model_inputs(args, program)
    return prepare_inputs(program, ids, mask), (ids, mask)


def run(args: argparse.Namespace) -> int:
    return run_program(Program.load(args.program), args)


def run_program(program: Program, args: argparse.Namespace) -> int:
    """``encore rtl`` on a program already in memory (``args.program`` only names it)."""
    from hw.rtlsim.runner import RtlJob, run_jobs, simulator_available
    from hw.top import check_config

    check_config(program.config)
    reason = simulator_available(args.simulator)
    if reason:
        raise ValueError(f"cannot run on {args.simulator}: {reason}")
    if args.latency and not 0 <= args.latency[0] <= args.latency[1]:
        raise ValueError(f"--latency {tuple(args.latency)}: expected 0 <= MIN <= MAX")
    if args.max_cycles < 1:
        raise ValueError(f"--max-cycles {args.max_cycles}: expected >= 1")
    inputs, model_io = _inputs(program, args)
    dram = program.new_dram()
    for name, value in inputs.items():
        program.write_tensor(dram, name, value)
    fixed = args.latency is None
    lat = program.config.dram_latency
    kw = {"seed": args.seed, "max_cycles": args.max_cycles}
    job = (RtlJob.fixed(program, dram, **kw) if fixed else
           RtlJob(program, dram, latency=tuple(args.latency), ready_prob=1.0, **kw))
    work = Path(tempfile.mkdtemp(prefix="encore-rtl-"))
    progress = not args.no_progress
    if progress:
        job.progress = str(work / "progress.json")
    print(f"running {len(program.instructions):,} instructions on {args.simulator} "
          f"(DIM={program.config.dim}, DRAM latency "
          f"{lat if fixed else tuple(args.latency)}{' fixed' if fixed else ''})", flush=True)
    t0 = time.perf_counter()
    if progress:
        from .rtl_report import Progress

        with Progress(Path(job.progress), len(program.instructions)):
            res = run_jobs(program.config, [job], sim=args.simulator, dram=args.dram,
                           workdir=work)[0]
    else:
        res = run_jobs(program.config, [job], sim=args.simulator, dram=args.dram,
                       workdir=work)[0]
    wall = time.perf_counter() - t0
    report, failure = _compare(program, args, res, inputs, model_io, fixed, wall)
    if args.json:
        write_json(args.json, report)
    if failure is not None:
        raise failure
    return 0


def _compare(program, args, res, inputs, model_io, fixed: bool, wall: float):
    """The report dict and the exception to raise (None when the RTL agrees)."""
    import sim.timing
    from encore.errors import RtlMismatch
    from sim.errors import SimError
    from sim.functional import run_program

    from .rtl_report import (
        describe_difference,
        first_difference,
        model_accuracy,
        reference_source,
    )

    regs = res.regs
    run_s = regs.get("wall_seconds", wall)  # START to the interrupt, as the bench measured it
    try:
        func, _ = run_program(program, inputs)
        func_err = None
    except SimError as e:
        func, func_err = None, e
    try:
        model_cycles = sim.timing.estimate(program).cycles
    except SimError:
        model_cycles = None  # the timing model stops at the same static errors
    err = ErrorCode(regs["error"])
    rtl_err = None if err == ErrorCode.NONE else err.name
    report = {
        "program": args.program, "simulator": args.simulator, "dim": program.config.dim,
        "dram_latency": ([program.config.dram_latency] * 2 if fixed else list(args.latency)),
        "fixed_latency": fixed, "instructions": len(program.instructions),
        "retired": regs["retired"], "timed_out": regs["timed_out"],
        "error": rtl_err, "error_index": regs["error_index"] if rtl_err else None,
        "functional_error": (None if func_err is None else
                             {"error": func_err.code.name, "error_index": func_err.index}),
        "dram_equal": None, "first_difference": None,
        "cycles": regs["cycles"], "model_cycles": model_cycles,
        "cycles_equal": (regs["cycles"] == model_cycles) if fixed and model_cycles else None,
        "busy": {k: regs[k] for k in ("load_busy", "compute_busy", "store_busy")},
        "run_s": run_s, "wall_s": wall, "accuracy": None,
    }
    rate = regs["cycles"] / max(run_s, 1e-9)
    print(f"RTL ({args.simulator}, DIM={program.config.dim}): {regs['cycles']:,} cycles, "
          f"{regs['retired']:,} instructions; busy cycles load {regs['load_busy']:,}, compute "
          f"{regs['compute_busy']:,}, store {regs['store_busy']:,}; simulation "
          f"{run_s:.1f} s ({rate:,.0f} cycles/s), {wall:.1f} s with the build")
    if model_cycles is not None:
        same = "equal" if model_cycles == regs["cycles"] else "DIFFERENT"
        print(f"timing model: {model_cycles:,} cycles ({same}"
              f"{'' if fixed else ', not comparable at a random DRAM latency'})")
    if regs["timed_out"]:
        expect = func_err.one_line() if func_err else "finishes without error"
        return report, RtlMismatch(f"the RTL did not finish within {args.max_cycles} cycles "
                                   f"(--max-cycles); the functional simulator: {expect}")
    if rtl_err:
        print(f"RTL stopped with {rtl_err} at instruction {regs['error_index']}")
    for name, t in program.tensors.items():
        if t.role == "output" and args.show > 0:
            value = program.read_tensor(res.dram, name)
            print(f"{name} [{t.rows}x{t.cols}] {t.dtype}:\n{value[: args.show]}")
    if func_err is not None:
        if err == func_err.code and regs["error_index"] == func_err.index:
            func_err.detail += " (the RTL stopped with the same code and index)"
            return report, func_err
        rtl = f"{rtl_err} at instruction {regs['error_index']}" if rtl_err else "no error"
        return report, RtlMismatch(f"the RTL reports {rtl}, the functional simulator "
                                   f"{func_err.one_line()}")
    if rtl_err:
        return report, RtlMismatch(f"the RTL stopped with {rtl_err} at instruction "
                                   f"{regs['error_index']}; the functional simulator ran "
                                   "without error")
    diff = first_difference(program, res.dram, func.dram)
    report["dram_equal"], report["first_difference"] = diff is None, diff
    if diff is not None:
        return report, RtlMismatch(describe_difference(diff))
    print(f"DRAM matches the functional simulator bit for bit ({res.dram.size:,} bytes)")
    if model_io is not None and not args.no_accuracy:
        source = reference_source(program, args.model)
        if source is None:
            print("accuracy: no PyTorch model recorded in the program; pass --model",
                  file=sys.stderr)
        else:
            acc = model_accuracy(program, res.dram, *model_io, source)
            report["accuracy"] = acc
            print(f"accuracy vs PyTorch FP32 ({source}): final hidden states cosine "
                  f"{acc['final_hidden_cosine']:.6f}, sentence embeddings cosine min "
                  f"{acc['embedding_cosine_min']:.6f}")
    if report["cycles_equal"] is False:
        return report, RtlMismatch(f"the RTL took {regs['cycles']:,} cycles, the timing model "
                                   f"{model_cycles:,} at the same fixed DRAM latency "
                                   f"(difference {regs['cycles'] - model_cycles:+,})")
    return report, None

"""``encore rtl``: run a program on the RTL (Verilator or Icarus, through cocotb) and compare
its DRAM outputs with the functional simulator."""

from __future__ import annotations

import argparse
import time

import numpy as np

from isa import ErrorCode, Program


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "rtl", help="run a program on the RTL simulation and check it against the functional sim",
        description="Build (cached under .cache/rtl) and simulate the RTL for the program's "
        "machine configuration, run the program with a DRAM model behind the AXI4 port, print "
        "the outputs and the cycle counters, and compare DRAM with sim.run_program.")
    p.add_argument("program", help="program file (.encore)")
    p.add_argument("--inputs", help="NPZ of input tensors (default: seeded random ints)")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs and DRAM stalls")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--dram", choices=("fast", "python"), default=None,
                   help="DRAM model: fast (Verilog AXI4 memory inside the simulation, the "
                   "default on Verilator) or python (the protocol-checking cocotb model, the "
                   "default on Icarus)")
    p.add_argument("--latency", type=int, nargs=2, metavar=("MIN", "MAX"), default=None,
                   help="DRAM model latency range in cycles (default: the config's dram_latency)")
    p.add_argument("--max-cycles", type=int, default=50_000_000)
    p.add_argument("--show", type=int, default=4, help="rows of each output to print")
    p.set_defaults(func=run)
    p.epilog = ("Exit status: 0 if the RTL agrees with the functional simulator, 1 if not, 3 "
                "if the RTL stopped at an opcode this build does not implement and DRAM equals "
                "the functional simulator's state before that instruction.")


def _inputs(program: Program, path: str | None, seed: int) -> dict[str, np.ndarray]:
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


def run(args: argparse.Namespace) -> int:
    from encore.errors import RtlMismatch
    from hw.rtlsim.runner import RtlJob, run_jobs, simulator_available
    from hw.top import check_config
    from sim.errors import SimError
    from sim.functional import run_program

    program = Program.load(args.program)
    check_config(program.config)
    reason = simulator_available(args.simulator)
    if reason:
        raise ValueError(f"cannot run on {args.simulator}: {reason}")
    inputs = _inputs(program, args.inputs, args.seed)
    dram = program.new_dram()
    for name, value in inputs.items():
        program.write_tensor(dram, name, value)
    lat = program.config.dram_latency
    latency = tuple(args.latency) if args.latency else (lat, lat)
    if latency[0] > latency[1] or latency[0] < 0:
        raise ValueError(f"--latency {latency}: expected 0 <= MIN <= MAX")
    t0 = time.perf_counter()
    res = run_jobs(program.config, [RtlJob(program, dram, seed=args.seed, latency=latency,
                                           ready_prob=1.0, max_cycles=args.max_cycles)],
                   sim=args.simulator, dram=args.dram)[0]
    wall = time.perf_counter() - t0
    regs = res.regs
    try:
        func, _ = run_program(program, inputs)
        func_err = None
    except SimError as e:
        func, func_err = None, e
    if regs["timed_out"]:
        expect = func_err.one_line() if func_err else "finishes without error"
        raise RtlMismatch(f"the RTL did not finish within {args.max_cycles} cycles; the "
                          f"functional simulator: {expect}")
    err = ErrorCode(regs["error"])
    print(f"RTL ({args.simulator}, DIM={program.config.dim}): {regs['cycles']} cycles, "
          f"{regs['retired']} instructions; busy cycles load {regs['load_busy']}, "
          f"compute {regs['compute_busy']}, store {regs['store_busy']}; {wall:.1f} s wall")
    if err != ErrorCode.NONE:
        print(f"RTL stopped with {err.name} at instruction {regs['error_index']}")
    for name, t in program.tensors.items():
        if t.role == "output":
            value = program.read_tensor(res.dram, name)
            print(f"{name} [{t.rows}x{t.cols}] {t.dtype}:\n{value[: args.show]}")
    if func_err is not None:
        if err == func_err.code and regs["error_index"] == func_err.index:
            func_err.detail += " (the RTL stopped with the same code and index)"
            raise func_err
        rtl = (f"{err.name} at instruction {regs['error_index']}" if err != ErrorCode.NONE
               else "no error")
        raise RtlMismatch(f"the RTL reports {rtl}, the functional simulator "
                          f"{func_err.one_line()}")
    if err != ErrorCode.NONE:
        raise RtlMismatch(f"the RTL stopped with {err.name} at instruction "
                          f"{regs['error_index']}; the functional simulator ran without error")
    diff = np.nonzero(res.dram != func.dram)[0]
    if diff.size:
        raise RtlMismatch(f"DRAM differs from the functional simulator in {diff.size} bytes, "
                          f"first at {diff[:8].tolist()}")
    print(f"DRAM matches the functional simulator bit for bit ({res.dram.size} bytes)")
    return 0

"""Cycle counts of the RTL against the timing model, on the fixed-latency DRAM (latency =
cfg.dram_latency for reads and write responses, no back-pressure; ``RtlJob.fixed``).

* Single-instruction programs (LOAD / STORE over a spread of rows, cols, strides, alignments,
  both memories and 4 KiB crossings; GEMM; REQUANT, GELU, RESADD; LAYERNORM after the LOAD
  of its header, over rows, blocks and n_valid; ATTN after the LOAD of its parameters and key
  mask, over seq and head blocks): each unit's busy counter equals the exact
  formula of docs/rtl.md (sim/timing/costs.py), and the whole-program ``cycles`` counter equals
  ``sim.timing.estimate(program).cycles``.
* Whole linear programs and chains: every unit's busy counter and the total cycles exact
  (instruction fetch sharing the read channel with the load DMA included). The figures go to
  results/rtl_cycles.json.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim.timing
from compiler.testprogs import linear_chain_program, linear_program
from hw.rtlsim.runner import RtlJob, run_jobs
from isa import Instruction, Mem, Opcode, Program, attn_param_rows
from isa import cycles as isa_cycles
from sim.timing import costs as C

from .rtl_cases import LINEAR_CASES, record_cycles, skip_unless, small_config

pytestmark = pytest.mark.rtl
DRAM = 3 * 4096 + 1024


def _dma_cases(dim: int, seed: int):
    """Hand-picked corners (4 KiB crossings, stride 0, unaligned, one row) and random ones."""
    rng = np.random.default_rng(seed)
    cases = [
        (Mem.SP, 1, dim, 0, dim), (Mem.SP, 16, dim, 0, dim), (Mem.ACC, 8, dim, 4, 4 * dim + 4),
        (Mem.ACC, 1, dim, 4096 - 8, 0), (Mem.ACC, 5, dim, 4096 - 20, 4 * dim),
        (Mem.SP, 7, 3, 5, 11), (Mem.ACC, 3, 2, 4090, 24), (Mem.SP, 2, 1, 4095, 1),
        (Mem.SP, 6, dim, 8192 - 3, 0), (Mem.ACC, 2, 1, 8192 - 2, 4096),
    ]
    for _ in range(8):
        mem = Mem(int(rng.integers(2)))
        rows = int(rng.integers(1, 20))
        cols = int(rng.integers(1, dim + 1))
        stride = int(rng.choice([0, cols * (4 if mem else 1), int(rng.integers(1, 300))]))
        span = (rows - 1) * stride + cols * 4
        addr = int(rng.integers(0, DRAM - span))
        cases.append((mem, rows, cols, addr, stride))
    return cases


def _single_programs(cfg):
    d = cfg.dim
    out = []
    for op in (Opcode.LOAD, Opcode.STORE):
        for mem, rows, cols, addr, stride in _dma_cases(d, seed=d + int(op)):
            out.append(Instruction(op, mem=mem, sram_addr=3, rows=rows, cols=cols,
                                   dram_addr=addr, dram_stride=stride))
    for rows, kblocks in ((1, 1), (6, 2), (2 * d + 1, 3)):
        out.append(Instruction(Opcode.GEMM, a_addr=0, a_stride=rows, w_addr=8 * d, c_addr=1,
                               rows=rows, kblocks=kblocks))
    for rows, blocks in ((1, 1), (5, 2), (9, 4)):  # accumulator all zero: every shift is 0
        for op in (Opcode.REQUANT, Opcode.GELU, Opcode.RESADD):
            out.append(Instruction(op, src=0, dst=2, rows=rows, blocks=blocks, param=40,
                                   **({"res": 1} if op == Opcode.RESADD else {})))
    progs = [Program(config=cfg, instructions=[ins], dram_init=b"", dram_size=DRAM)
             for ins in out]
    # LAYERNORM needs its header (n_valid, shift) in the accumulator: LOAD it first.
    # One row of 40 blocks: past the 28 where a row without the row buffer exceeded the bound.
    for rows, blocks, n_valid, param in ((1, 1, 3, 30), (4, 2, 2 * d, 30), (6, 3, 2 * d + 1, 30),
                                         (9, 1, d, 30), (1, 40, 40 * d - 1, 40)):
        header = np.zeros(d, dtype="<i4")
        header[:2] = n_valid, 7
        load = Instruction(Opcode.LOAD, mem=Mem.ACC, sram_addr=param, rows=1, cols=d,
                           dram_addr=0, dram_stride=4 * d, push_next=1)
        ln = Instruction(Opcode.LAYERNORM, src=0, dst=2, rows=rows, blocks=blocks, param=param,
                         pop_prev=1)
        progs.append(Program(config=cfg, instructions=[load, ln], dram_init=header.tobytes(),
                             dram_size=DRAM))
    # ATTN after the LOAD of its parameter rows (score scale, output scales, a key mask with
    # masked and valid keys): seq 1, below DIM, not a multiple of DIM; 1 and 2 head blocks.
    for seq, hb in ((1, 1), (3, 1), (3, 2), (2 * d + 1, 2), (d + 2, 1)):
        n = attn_param_rows(seq, hb, d)
        p = np.zeros((n, d), dtype="<i4")
        p[0, :2] = 1 << 20, 16
        p[1:1 + 2 * hb:2], p[2:1 + 2 * hb:2] = 1 << 22, 30
        mask = (np.arange((n - 1 - 2 * hb) * d) % 3 != 1).astype("<i4")
        p[1 + 2 * hb:] = mask.reshape(-1, d)
        load = Instruction(Opcode.LOAD, mem=Mem.ACC, sram_addr=40, rows=n, cols=d, dram_addr=0,
                           dram_stride=4 * d, push_next=1)
        attn = Instruction(Opcode.ATTN, q_addr=0, k_addr=40, v_addr=80, o_addr=120, param=40,
                           seq=seq, hd_blocks=hb, pop_prev=1)
        progs.append(Program(config=cfg, instructions=[load, attn], dram_init=p.tobytes(),
                             dram_size=DRAM))
    return progs


def _busy(regs, op):
    return regs[{Opcode.LOAD: "load_busy", Opcode.STORE: "store_busy"}.get(op, "compute_busy")]


def _formula(ins, cfg):
    """The exact busy formulas of docs/rtl.md, written out here independently of costs.py."""
    lat, bw, d = cfg.dram_latency, cfg.dram_bytes_per_cycle, cfg.dim
    if ins.op in (Opcode.LOAD, Opcode.STORE):
        nbytes = ins.cols * (4 if ins.mem == Mem.ACC else 1)
        beats = sum(((ins.dram_addr + i * ins.dram_stride) % bw + nbytes + bw - 1) // bw
                    for i in range(ins.rows))
        return lat + beats + (0 if ins.op == Opcode.LOAD else 6)
    if ins.op == Opcode.GEMM:
        return (ins.kblocks - 1) * max(ins.rows, d) + ins.rows + 2 * d + 5
    if ins.op == Opcode.REQUANT:
        return ins.blocks * (ins.rows + 4) + 10  # read 2, bias, product 4, round 3
    # GELU, RESADD, LAYERNORM, ATTN: the RTL's formulas (isa/cycles.py, derived in docs/rtl.md)
    return isa_cycles.compute_cycles(ins.op, ins.f, d)


@pytest.mark.parametrize("dim,latency", [(4, 16), (4, 5), (8, 16)])
def test_single_instructions_take_the_exact_formula(dim, latency, tmp_path):
    skip_unless("verilator")
    cfg = small_config(dim).replace(dram_latency=latency)
    progs = _single_programs(cfg)
    results = run_jobs(small_config(dim), [RtlJob.fixed(p, p.new_dram()) for p in progs],
                       workdir=tmp_path)
    for prog, res in zip(progs, results, strict=True):
        ins, regs = prog.instructions[-1], res.regs
        assert regs["error"] == 0 and not regs["timed_out"], (ins, regs)
        assert _busy(regs, ins.op) == _formula(ins, cfg), ins
        assert C.instruction_cost(ins, cfg).cycles == _formula(ins, cfg), ins
        # The whole run: fetch, dispatch, queue, start and the busy cycles, exactly.
        assert regs["cycles"] == sim.timing.estimate(prog).cycles, ins


def _programs(cfg):
    progs = []
    for n, (m, k, nn, bias, acc) in enumerate(LINEAR_CASES):
        progs.append((f"linear{(m, k, nn, bias, acc)}",
                      linear_program(cfg, m, k, nn, bias=bias, accumulate=acc, seed=n)))
    for n, (m, widths) in enumerate([(6, [9, 7, 6, 5]), (5, [7, 12, 5]), (11, [13, 4, 10]),
                                     (3, [20, 17, 9, 12, 6]), (40, [33, 20, 17])]):
        progs.append((f"chain{(m, widths)}", linear_chain_program(cfg, m, widths, seed=20 + n)))
    return progs


def _check_programs(dim: int, tmp_path):
    skip_unless("verilator")
    cfg = small_config(dim)
    progs = _programs(cfg)
    jobs = []
    for _, (prog, inputs, _) in progs:
        dram = prog.new_dram()
        for name, value in inputs.items():
            prog.write_tensor(dram, name, value)
        jobs.append(RtlJob.fixed(prog, dram))
    results = run_jobs(cfg, jobs, workdir=tmp_path)
    record = {}
    for (name, (prog, _, _)), res in zip(progs, results, strict=True):
        regs = res.regs
        assert regs["error"] == 0 and not regs["timed_out"], name
        est = sim.timing.estimate(prog)
        units = est.to_dict()["units"]
        # compute_busy counts GEMM and REQUANT (a NOP starts no engine).
        assert regs["compute_busy"] == units["array"]["busy"] + units["vector"]["busy"], name
        assert regs["store_busy"] == units["store_dma"]["busy"], name
        # Instruction fetch shares the read channel with the load DMA (which has priority):
        # modelled exactly, so the LOADs and the whole run take the model's cycles.
        assert regs["load_busy"] == units["load_dma"]["busy"], name
        assert regs["cycles"] == est.cycles, (name, regs["cycles"], est.cycles)
        record[name] = {"rtl_cycles": regs["cycles"], "model_cycles": est.cycles,
                        "rtl_load_busy": regs["load_busy"],
                        "model_load_busy": units["load_dma"]["busy"]}
    record_cycles(f"rtl-vs-timing-fixed-latency-dim{dim}", record)


@pytest.mark.parametrize("dim", [4, 8])
def test_programs_match_the_timing_model(dim, tmp_path):
    """Linear programs and chains: busy counters and total cycles equal the timing model's."""
    _check_programs(dim, tmp_path)


@pytest.mark.slow
def test_programs_match_the_timing_model_dim16(tmp_path):
    _check_programs(16, tmp_path)

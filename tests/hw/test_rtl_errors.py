"""Error handling on the RTL: every error stops the run cleanly (interrupt, no hang), with the
code and failing index of the functional simulator, and DRAM holding exactly the effect of the
instructions before the failing one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler.testprogs import linear_chain_program
from hw.rtlsim.runner import RtlJob, run_jobs, simulator_available
from isa import ErrorCode, Instruction, Mem, Opcode, encode_program
from sim.errors import SimError
from sim.functional import run_program

from .rtl_attn_cases import attn_program
from .rtl_cases import linear_jobs, small_config
from .rtl_vector_cases import vector_program

pytestmark = pytest.mark.rtl
DIM = 4


def _with(prog, instructions):
    return dataclasses.replace(prog, instructions=list(instructions))


def _cases(cfg):
    prog, inputs, _, _ = linear_jobs(cfg, [(6, 9, 5, True, False)])[0]
    ins = prog.instructions
    big = prog.dram_size
    cases = []  # (name, program, raw words or None, expected code, expected index)
    # Opcode 31 is not defined: only a raw word can carry it.
    words = bytearray(encode_program(ins))
    words[2 * 16: 3 * 16] = (31).to_bytes(16, "little")
    cases.append(("illegal", prog, bytes(words), ErrorCode.ILLEGAL_OPCODE, 2))
    # Non-zero bits above the last field of a NOP.
    words = bytearray(encode_program(ins))
    words[1 * 16: 2 * 16] = (1 << 120).to_bytes(16, "little")
    cases.append(("unused_bits", prog, bytes(words), ErrorCode.BAD_FIELD, 1))
    load = Instruction(Opcode.LOAD, mem=Mem.SP, sram_addr=0, rows=2, cols=DIM,
                       dram_addr=big - DIM, dram_stride=DIM)
    cases.append(("dram_range", _with(prog, ins[:3] + [load] + ins[3:]), None,
                  ErrorCode.DRAM_RANGE, 3))
    gemm = Instruction(Opcode.GEMM, a_addr=0, a_stride=1, w_addr=0, c_addr=cfg.acc_rows - 1,
                       rows=2, kblocks=1)
    cases.append(("sram_range", _with(prog, ins[:1] + [gemm] + ins[1:]), None,
                  ErrorCode.SRAM_RANGE, 1))
    zero_rows = Instruction(Opcode.STORE, mem=Mem.ACC, sram_addr=0, rows=0, cols=1,
                            dram_addr=0, dram_stride=4)
    cases.append(("bad_field", _with(prog, ins[:2] + [zero_rows]), None, ErrorCode.BAD_FIELD, 2))
    dep = load.with_deps(pop_prev=1)  # the load queue has no previous queue
    cases.append(("dependency", _with(prog, ins[:1] + [dep] + ins[1:]), None,
                  ErrorCode.DEPENDENCY, 1))
    underflow = Instruction(Opcode.NOP, pop_next=1)  # no STORE pushed a token before it
    cases.append(("underflow", _with(prog, [underflow] + ins), None, ErrorCode.DEPENDENCY, 0))
    return [(c, inputs) for c in cases] + _requant_cases(cfg)


def _requant_cases(cfg):
    """REQUANT's checks (static at dispatch, shift and destination when it runs)."""
    chain, chain_inputs = linear_chain_program(cfg, 5, [7, 6, 9, 5], seed=3)[:2]
    ins = chain.instructions
    vec = [i for i, x in enumerate(ins) if x.op == Opcode.REQUANT]
    first, second = vec[0], vec[1]

    def patched(at, op=None, **fields):
        new = Instruction(op or ins[at].op, **{**ins[at].f, **fields})
        return _with(chain, ins[:at] + [new] + ins[at + 1:])

    out = []
    params = chain.read_tensor(chain.new_dram(), "p1")  # bias, m, s rows of layer 1
    for name, lane_value in (("requant_shift_63", 63), ("requant_shift_negative", -1)):
        bad = params.copy()
        bad[2, -1] = lane_value  # the last column: the last block's shift row
        out.append(((name, chain, None, ErrorCode.BAD_FIELD, second),
                    {**chain_inputs, "p1": bad}))
    sp_rows = cfg.sp_rows
    out.append((("requant_dst_range", patched(first, dst=sp_rows - 3), None,
                 ErrorCode.SRAM_RANGE, first), chain_inputs))
    bad = params.copy()
    bad[2, 0] = 99  # shift check first: BAD_FIELD although dst is out of range too
    out.append((("requant_shift_before_dst", patched(second, dst=sp_rows - 3), None,
                 ErrorCode.BAD_FIELD, second), {**chain_inputs, "p1": bad}))
    out.append((("requant_src_range", patched(first, src=cfg.acc_rows - 2), None,
                 ErrorCode.SRAM_RANGE, first), chain_inputs))
    out.append((("requant_zero_blocks", patched(second, blocks=0), None,
                 ErrorCode.BAD_FIELD, second), chain_inputs))
    return out + _vector_cases(cfg)


def _vector_cases(cfg):
    """GELU, RESADD and LAYERNORM: every check, static and on data, in a compiler-made chain
    linear -> GELU -> linear -> RESADD -> LAYERNORM."""
    prog, inputs = vector_program(cfg, "chain", 6, 7, 9, seed=5)
    ins = prog.instructions
    at = {op: next(i for i, x in enumerate(ins) if x.op == op)
          for op in (Opcode.GELU, Opcode.RESADD, Opcode.LAYERNORM)}
    dram = prog.new_dram()

    def patched(op, **fields):
        new = Instruction(op, **{**ins[at[op]].f, **fields})
        return _with(prog, ins[:at[op]] + [new] + ins[at[op] + 1:])

    def data(name, where, value):
        t = prog.read_tensor(dram, name).copy()
        t[where] = value
        return {**inputs, name: t}

    G, R, L = Opcode.GELU, Opcode.RESADD, Opcode.LAYERNORM
    BF, SR = ErrorCode.BAD_FIELD, ErrorCode.SRAM_RANGE
    nb = ins[at[L]].blocks
    cases = [  # (name, program, inputs, code, failing opcode)
        ("gelu_s_out_63", prog, data("ffn1.p", (4, -1), 63), BF, G),
        ("gelu_s_in_negative", prog, data("ffn1.p", (2, 0), -1), BF, G),
        ("gelu_zero_rows", patched(G, rows=0), inputs, BF, G),
        ("gelu_dst_range", patched(G, dst=cfg.sp_rows - 1), inputs, SR, G),
        ("gelu_shift_before_dst", patched(G, dst=cfg.sp_rows - 1),
         data("ffn1.p", (2, 1), 99), BF, G),
        ("resadd_s2_negative", prog, data("ffn2.p", (4, 2), -5), BF, R),
        ("resadd_param_range", patched(R, param=cfg.acc_rows - 2), inputs, SR, R),
        ("resadd_res_range", patched(R, res=cfg.sp_rows - 1), inputs, SR, R),
        ("resadd_dst_range", patched(R, dst=cfg.acc_rows - 1), inputs, SR, R),
        ("ln_n_valid_zero", prog, data("ffn2.ln.hdr", (0, 0), 0), BF, L),
        ("ln_n_valid_too_big", prog, data("ffn2.ln.hdr", (0, 0), nb * cfg.dim + 1), BF, L),
        ("ln_shift_63", prog, data("ffn2.ln.hdr", (0, 1), 63), BF, L),
        ("ln_param_range", patched(L, param=cfg.acc_rows - 2), inputs, SR, L),
        ("ln_src_range", patched(L, src=cfg.acc_rows - 1), inputs, SR, L),
        ("ln_dst_range", patched(L, dst=cfg.sp_rows - 1), inputs, SR, L),
        ("ln_n_valid_before_dst", patched(L, dst=cfg.sp_rows - 1),
         data("ffn2.ln.hdr", (0, 0), -3), BF, L),
    ]
    return [((name, p, None, code, at[op]), inp) for name, p, inp, code, op in cases] + \
        _attn_cases(cfg)


def _attn_cases(cfg):
    """ATTN: its static checks at dispatch, the shift check on data and then the Q/K/V/O
    ranges when it runs, in a compiler-lowered batch of two sequences of two head blocks."""
    prog, inputs = attn_program(cfg, 2, 6, 1, 2, seed=4)
    ins = prog.instructions
    at = next(i for i, x in enumerate(ins) if x.op == Opcode.ATTN)
    dram = prog.new_dram()

    def patched(**fields):
        new = Instruction(Opcode.ATTN, **{**ins[at].f, **fields})
        return _with(prog, ins[:at] + [new] + ins[at + 1:])

    def data(where, value):
        t = prog.read_tensor(dram, "attn.p").copy()
        t[where] = value
        return {**inputs, "attn.p": t}

    BF, SR = ErrorCode.BAD_FIELD, ErrorCode.SRAM_RANGE
    sp = cfg.sp_rows
    cases = [
        ("attn_seq_zero", patched(seq=0), inputs, BF),
        ("attn_zero_blocks", patched(hd_blocks=0), inputs, BF),
        ("attn_seq_over_max_seq", patched(seq=cfg.max_seq + 1), inputs, BF),
        ("attn_param_range", patched(param=cfg.acc_rows - 4), inputs, SR),
        ("attn_s_s_63", prog, data((0, 1), 63), BF),
        ("attn_s_o_negative", prog, data((4, 3), -1), BF),  # the last block's last lane
        ("attn_q_range", patched(q_addr=sp - 5), inputs, SR),
        ("attn_o_range", patched(o_addr=sp - 11), inputs, SR),
        ("attn_shift_before_k_range", patched(k_addr=sp - 1), data((2, 0), 70), BF),
    ]
    return [((name, p, None, code, at), inp) for name, p, inp, code in cases]


def test_errors_stop_cleanly(tmp_path):
    if simulator_available("verilator"):
        pytest.skip(simulator_available("verilator"))
    cfg = small_config(DIM)
    cases = _cases(cfg)
    jobs, words = [], []
    for (_, prog, raw, _, _), inputs in cases:
        dram = prog.new_dram()
        for k, v in inputs.items():
            prog.write_tensor(dram, k, v)
        jobs.append(RtlJob(prog, dram, seed=7, latency=(2, 30), max_cycles=50_000))
        words.append(raw)
    results = run_jobs(cfg, jobs, words=words, workdir=tmp_path)
    for ((name, prog, raw, code, index), inputs), res in zip(cases, results, strict=True):
        regs = res.regs
        assert not regs["timed_out"], f"{name}: the run did not finish (hang)"
        assert regs["irq"] == 1 and regs["status"] == 2, name
        assert (ErrorCode(regs["error"]), regs["error_index"]) == (code, index), name
        # Every instruction before the failing one completed; the failing one did not (a
        # REQUANT that fails its shift or destination check when it runs is not retired).
        assert regs["retired"] == index, name
        if raw is None and code != ErrorCode.UNIMPLEMENTED:
            with pytest.raises(SimError) as err:  # the golden model agrees
                run_program(prog, inputs)
            assert (err.value.code, err.value.index) == (code, index), name
        before, _ = run_program(_with(prog, prog.instructions[:index]), inputs)
        diff = np.nonzero(res.dram != before.dram)[0]
        assert diff.size == 0, f"{name}: DRAM differs from the state before the error at {diff[:8]}"

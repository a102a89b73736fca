"""The ATTN engine in the Amaranth simulator against the functional simulator's arithmetic
(sim/functional.py ``_attn``, isa.numerics.softmax_rows): random data and extremes (all keys
masked, one valid key, saturating scores), seq 1, below DIM and not a multiple of DIM, one to
four head blocks (the query fill shorter and longer than the read latency); the cycle count
of isa.cycles.attn_cycles (four query rows in flight); and the data check (BAD_FIELD for a
shift outside [0, 62], before the Q/K/V/O range checks) with nothing written on failure."""

from __future__ import annotations

import numpy as np
import pytest

from hw.attention import AttentionEngine
from isa import ErrorCode, Instruction, Opcode, attn_param_rows, numerics
from isa.cycles import attn_cycles, check_cycles

from .vector_bench import run_engine

SP_ROWS, ACC_ROWS, PARAM, MAX_SEQ = 160, 32, 8, 16


def reference(q, k, v, m_s, s_s, m_o, s_o, valid):
    """ATTN of one head as sim/functional.py computes it (q, k, v: [seq, hb*dim])."""
    scores = q @ k.T
    fixed = numerics.sat32(numerics.requant(scores, m_s, s_s))
    prob = numerics.softmax_rows(fixed, valid[None, :])
    return numerics.sat8(numerics.requant(prob @ v, m_o, s_o))


def _case(rng, dim, seq, hb, kind):
    """(acc0, sp0, ins, expected sp) for one case."""
    n = seq * hb
    sp0 = rng.integers(-128, 128, (SP_ROWS, dim))
    acc0 = rng.integers(-1000, 1000, (ACC_ROWS, dim))
    qa, ka, va, oa = 0, n, 2 * n, 3 * n
    if kind == "saturate":  # every product at its extreme: scores and sums saturate
        sp0[qa:qa + n] = -128
        sp0[ka:ka + n] = rng.choice([-128, 127], (n, dim))
    valid = rng.random(seq) < 0.7
    valid[rng.integers(seq)] = True
    if kind == "none":
        valid[:] = False
    elif kind == "one":
        valid[:] = False
        valid[seq - 1] = True
    m_s = int(rng.integers(1 << 20, 1 << 24)) * (1 if kind != "neg" else -1)
    s_s = int(rng.integers(14, 20)) if kind != "saturate" else 0
    m_o = rng.integers(1 << 20, 1 << 22, hb * dim) * rng.choice([-1, 1], hb * dim)
    s_o = rng.integers(28, 31, hb * dim)
    s_o[0], m_o[-1] = numerics.MAX_SHIFT, numerics.INT32_MIN
    kb = -(-seq // dim)
    p = np.zeros((attn_param_rows(seq, hb, dim), dim), dtype=np.int64)
    p[0, :2] = m_s, s_s
    p[1:1 + 2 * hb] = np.stack([m_o.reshape(hb, dim), s_o.reshape(hb, dim)], 1).reshape(-1, dim)
    mask = np.zeros(kb * dim, dtype=np.int64)
    mask[:seq] = np.where(valid, rng.integers(1, 1 << 31, seq) * rng.choice([-1, 1], seq), 0)
    p[1 + 2 * hb:] = mask.reshape(kb, dim)
    acc0[PARAM:PARAM + len(p)] = p

    def tile(base):
        return sp0[base:base + n].reshape(hb, seq, dim).transpose(1, 0, 2).reshape(seq, hb * dim)

    out = reference(tile(qa), tile(ka), tile(va), m_s, s_s, m_o, s_o, valid)
    want = sp0.copy()
    want[oa:oa + n] = out.reshape(seq, hb, dim).transpose(1, 0, 2).reshape(-1, dim)
    ins = Instruction(Opcode.ATTN, q_addr=qa, k_addr=ka, v_addr=va, o_addr=oa, param=PARAM,
                      seq=seq, hd_blocks=hb)
    return acc0, sp0, ins, want


CASES = [(4, 1, 1, "random"), (4, 3, 1, "random"), (4, 6, 2, "random"), (4, 7, 1, "one"),
         (4, 5, 2, "none"), (4, 6, 1, "saturate"), (4, 9, 1, "neg"), (8, 5, 2, "random"),
         (8, 11, 1, "random"), (4, 5, 4, "random"), (4, 3, 3, "one")]


@pytest.mark.parametrize("dim,seq,hb,kind", CASES)
def test_engine_matches_functional(dim, seq, hb, kind):
    rng = np.random.default_rng(dim * 1000 + seq * 10 + hb)
    acc0, sp0, ins, want = _case(rng, dim, seq, hb, kind)
    out = run_engine(AttentionEngine, dim, acc0.tolist(), sp0.tolist(), ins, max_seq=MAX_SEQ,
                     shared_mul=True)  # products from a bank shared with an idle engine
    assert out["error"] == ErrorCode.NONE
    assert out["checked"] == [check_cycles(Opcode.ATTN, hb)]
    assert out["cycles"] == attn_cycles(seq, hb, dim)
    assert out["sp"] == want.tolist()
    assert out["acc"] == acc0.tolist()
    if kind == "random" and seq > 1:  # softmax in its interesting range, not only limits
        got = want[ins.o_addr:ins.o_addr + seq * hb]
        assert np.unique(got).size > 3


@pytest.mark.parametrize("where,code", [
    ("s_s", ErrorCode.BAD_FIELD), ("s_o", ErrorCode.BAD_FIELD), ("neg", ErrorCode.BAD_FIELD),
    ("o_range", ErrorCode.SRAM_RANGE), ("q_range", ErrorCode.SRAM_RANGE),
    ("both", ErrorCode.BAD_FIELD),  # the shift check comes before the ranges
])
def test_engine_checks_data_before_writing(where, code):
    dim, seq, hb = 4, 5, 2
    rng = np.random.default_rng(3)
    acc0, sp0, ins, _ = _case(rng, dim, seq, hb, "random")
    f = dict(ins.f)
    if where in ("s_s", "both"):
        acc0[PARAM, 1] = numerics.MAX_SHIFT + 1
    if where == "s_o":
        acc0[PARAM + 2 * hb, 3] = 63  # last block's shifts, last lane
    if where == "neg":
        acc0[PARAM + 2, 0] = -1
    if where in ("o_range", "both"):
        f["o_addr"] = SP_ROWS - seq * hb + 1
    if where == "q_range":
        f["q_addr"] = SP_ROWS - 1
    ins = Instruction(Opcode.ATTN, **f)
    out = run_engine(AttentionEngine, dim, acc0.tolist(), sp0.tolist(), ins, max_seq=MAX_SEQ)
    assert out["error"] == code
    assert out["checked"] == [check_cycles(Opcode.ATTN, hb)] == [out["cycles"]]
    assert out["sp"] == sp0.tolist() and out["acc"] == acc0.tolist()


@pytest.mark.parametrize("seed", range(8))
def test_engine_matches_functional_random_shapes(seed):
    rng = np.random.default_rng(500 + seed)
    dim = int(rng.choice([4, 8]))
    hb = int(rng.integers(1, 3))
    seq = int(rng.integers(1, min(MAX_SEQ, SP_ROWS // (4 * hb)) + 1))  # 4 tiles fit the SP
    kind = str(rng.choice(["random", "one", "none", "saturate", "neg"]))
    acc0, sp0, ins, want = _case(rng, dim, seq, hb, kind)
    out = run_engine(AttentionEngine, dim, acc0.tolist(), sp0.tolist(), ins, max_seq=MAX_SEQ,
                     limit=100_000)
    assert out["error"] == ErrorCode.NONE and out["cycles"] == attn_cycles(seq, hb, dim)
    assert out["sp"] == want.tolist(), (dim, seq, hb, kind)

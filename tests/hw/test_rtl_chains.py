"""Chains of linear layers (x -> [linear + bias + REQUANT]* -> linear + bias, int32) on the RTL
under cocotb, with random DRAM latency and back-pressure: DRAM bit-exact against the functional
simulator, the dequantized output within a stated bound of a float64 torch chain, cycle counts
recorded in results/rtl_cycles.json."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.testprogs import linear_chain_program
from isa import Opcode

from .rtl_cases import make_job, run_and_check

pytestmark = pytest.mark.rtl

#: (m, widths): 1 to 4 layers, widths below, at and above DIM and non-multiples of it.
CHAIN_CASES = [
    (6, [9, 7, 6, 5]),
    (5, [7, 12, 5]),
    (11, [13, 4, 10]),
    (3, [20, 17, 9, 12, 6]),
    (1, [3, 2]),
]


def chain_jobs(cfg, cases=CHAIN_CASES):
    out = []
    for n, (m, widths) in enumerate(cases):
        prog, inputs, ref = linear_chain_program(cfg, m, widths, seed=20 + n)
        out.append((prog, inputs, ref, make_job(prog, inputs, 300 + n, 400_000)))
    return out


def _runs_its_requants(case, prog) -> None:
    nreq = sum(ins.op == Opcode.REQUANT for ins in prog.instructions)
    assert nreq == len(case[1]) - 2, case  # the chain really runs its REQUANTs


def _run_and_check(dim: int, sim: str, tmp_path, cases=CHAIN_CASES, tag: str = "chain",
                   dram: str | None = None):
    return run_and_check(dim, sim, tmp_path, cases, chain_jobs, tag, _runs_its_requants,
                         dram=dram)


@pytest.mark.parametrize("dim", [4, 8])
def test_chains_verilator(dim, tmp_path):
    _run_and_check(dim, "verilator", tmp_path)


@pytest.mark.slow
def test_chains_verilator_dim16(tmp_path):
    _run_and_check(16, "verilator", tmp_path, CHAIN_CASES[:4])


@pytest.mark.slow
def test_chains_python_dram(tmp_path):
    _run_and_check(4, "verilator", tmp_path, dram="python")


def test_chain_icarus(tmp_path):
    _run_and_check(4, "icarus", tmp_path, CHAIN_CASES[:1])


def float_chain_bound(prog, dram, widths, sx0: float, sw: float):
    """Layer parameters read back from the program's DRAM, and the float64 chain they define.

    Real-valued model: input ``x * sx0``, weights ``w * sw``, layer i's accumulator scale
    ``sa_i = sx_i * sw`` (biases at that scale), requantized activations at
    ``sx_{i+1} = sa_i / M_i`` with ``M_i = m_i * 2^-s_i`` (the REQUANT multiplier), clamped to the
    int8 range ``[-128, 127] * sx_{i+1}`` as the int8 activation is. Returns (layers, scales)
    with layers = [(w [k, n], bias [n], M [n] or None)].
    """
    layers, sx = [], sx0
    scales = [sx0]
    for i, k in enumerate(widths[:-1]):
        w = prog.read_tensor(dram, f"w{i}")[:k].astype(np.int64)
        if i == len(widths) - 2:
            b = prog.read_tensor(dram, f"b{i}")[0].astype(np.int64)
            layers.append((w, b, None))
        else:
            b, mult, shift = prog.read_tensor(dram, f"p{i}").astype(np.int64)
            mreal = mult.astype(np.float64) * np.exp2(-shift.astype(np.float64))
            layers.append((w, b, mreal))
            assert np.all(mreal == mreal[0]), "one multiplier per layer (per-tensor scales)"
            sx = sx * sw / float(mreal[0])
            scales.append(sx)
    return layers, scales


def test_chain_matches_float_torch_chain(tmp_path):
    """The dequantized RTL output of a 3-layer chain against torch float64 Linear layers.

    Tolerance, per output column n: each REQUANT rounds to nearest, so it adds at most half an
    output step ``0.5 * sx_{i+1}`` (ties round up: still exactly half), and clamping to the int8
    range is applied in the float chain too (1-Lipschitz, adds nothing). An input error e[k]
    reaches column n of the next layer as at most ``sum_k |W_real[k, n]| * e[k]``. So the bound
    is e_0 = 0, e_{i+1} = |W_i| e_i + 0.5 sx_{i+1}, and the int32 output's error is |W_L| e_L
    (its bias and product are exact in the integer path). Plus 1e-9 relative for float64
    rounding. The bound is a worst case (all roundings aligned with the weights' signs); the test
    also checks it is not vacuous: below a quarter of the output's standard deviation.
    """
    torch = pytest.importorskip("torch")
    case = (7, [11, 9, 6, 5])
    jobs, results = _run_and_check(4, "verilator", tmp_path, [case], tag="chain-float-check")
    prog, inputs, ref, _ = jobs[0]
    sx0, sw = 0.02, 0.005
    layers, scales = float_chain_bound(prog, prog.new_dram(), case[1], sx0, sw)
    h = torch.tensor(inputs["x"] * sx0, dtype=torch.float64)
    err = np.zeros(case[1][0])
    with torch.no_grad():
        for i, (w, b, mreal) in enumerate(layers):
            sa = scales[i] * sw  # accumulator scale of this layer (per input column: scalar here)
            lin = torch.nn.Linear(w.shape[0], w.shape[1], dtype=torch.float64)
            lin.weight.copy_(torch.tensor(w.T * sw))
            lin.bias.copy_(torch.tensor(b * sa))
            h = lin(h)
            err = np.abs(w * sw).T @ err
            if mreal is not None:
                sx = scales[i + 1]
                h = torch.maximum(torch.minimum(h, torch.tensor(127 * sx)), torch.tensor(-128 * sx))
                err = err + 0.5 * sx
    expect = h.numpy()
    got = prog.read_tensor(results[0].dram, "y").astype(np.float64) * (scales[-1] * sw)
    bound = err[None, :] + 1e-9 * np.abs(expect)
    assert np.all(np.abs(got - expect) <= bound), (np.abs(got - expect) - bound).max()
    assert err.max() < 0.25 * expect.std(), (err.max(), expect.std())

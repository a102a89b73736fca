"""A compiled encoder on the RTL: ``encore compile`` a 1-layer BERT (hidden 10, 2 heads of 5
columns: 2 head blocks at DIM 4, hidden and head size not multiples of DIM) at seq 8, then
``encore rtl`` runs every instruction (embedding LayerNorm, QKV, ATTN, projection + RESADD +
LAYERNORM, FFN) on Verilator: exit 0 and DRAM equal to the functional simulator's."""

from __future__ import annotations

import pytest

from encore.cli import main
from tests.helpers import save_bert

from .rtl_cases import skip_unless

pytestmark = pytest.mark.rtl


def _compile_and_run(tmp_path, capsys, *, seq: int, layers: int) -> str:
    skip_unless("verilator")
    folder = save_bert(tmp_path / "m", hidden=10, heads=2, ffn=13, layers=layers, max_pos=64,
                       seed=1)
    prog = tmp_path / "t.encore"
    # the sizes of tests/hw/rtl_cases.small_config(4): the same (cached) Verilator build
    assert main(["compile", "--model", str(folder), "--seq", str(seq), "--dim", "4",
                 "--sp-kib", "4", "--acc-kib", "4", "-o", str(prog)]) == 0
    capsys.readouterr()
    rc = main(["rtl", str(prog)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "DRAM matches the functional simulator bit for bit" in out
    return out


def test_compiled_bert_layer_runs_on_the_rtl(tmp_path, capsys):
    _compile_and_run(tmp_path, capsys, seq=8, layers=1)


@pytest.mark.slow
def test_compiled_two_layer_bert_runs_on_the_rtl_seq_21(tmp_path, capsys):
    _compile_and_run(tmp_path, capsys, seq=21, layers=2)

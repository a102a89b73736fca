"""What the Fmax pipelining of the fetch / dispatch path costs in cycles: the timing model's cycles
of the programs the docs quote, with ``isa.cycles.FETCH_BUFFER_CYCLES`` as built (the word
checks in ``FETCH_CHECK_STAGES`` register stages before the fetch buffer) and as it was before
(2: the checks in the dispatch cycle). The RTL's cycles equal the model's on every program
(tests/hw/test_rtl_cycles.py, test_rtl_models.py), so the first column is also the RTL's.

    .venv/bin/python benchmarks/fpga_fetch_cost.py [--cases small minilm16 bert-base] [--json P]

Cases: ``small``: the docs' seeded models (docs/rtl.md "Whole compiled models on the RTL":
benchmarks/rtl_models.py's families at DIM 4 padded and unpadded, BERT / RoBERTa at DIM 16
unpadded) and README's 1-layer BERT at seq 8, DIM 4; ``minilm16``: all-MiniLM-L6-v2, seq 16,
batch 2, DIM 16, 16 KiB SRAMs (README, docs/rtl.md); ``bert-base``: seq 128, DIM 16,
16 B/cycle (README "Measured"). Prints one line per program: instructions, cycles now, cycles
with the old fetch latency, the difference.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

OLD_FETCH_BUFFER_CYCLES = 2  # before the word checks were pipelined (commit ffb1512)


def cycles_both(prog) -> tuple[int, int]:
    """(cycles as built, cycles with the old fetch latency) of ``prog``'s timing model."""
    import importlib

    import sim.timing

    schedule = importlib.import_module("sim.timing.schedule")  # the module, not the function

    now = sim.timing.estimate(prog).cycles
    built = schedule.FETCH_BUFFER_CYCLES
    try:
        schedule.FETCH_BUFFER_CYCLES = OLD_FETCH_BUFFER_CYCLES
        old = sim.timing.estimate(prog).cycles
    finally:
        schedule.FETCH_BUFFER_CYCLES = built
    return now, old


def _compile(*argv) -> None:
    from encore.cli import main

    rc = main(["compile", *argv])
    if rc:
        raise RuntimeError(f"encore compile {' '.join(argv)} exited {rc}")


def small_cases(work: Path):
    from rtl_models import MODES, families

    from hw.rtlsim.runner import small_machine
    from tests.helpers import save_bert

    fams = families()
    wanted = [(f, 4, m) for f in ("bert", "distilbert", "roberta", "minilm-shape", "bert-cls")
              for m in ("padded", "unpadded")] + [("bert", 16, "unpadded"),
                                                  ("roberta", 16, "unpadded")]
    for fam, dim, mode in wanted:
        folder = work / fam
        if not folder.exists():
            fams[fam](folder)
        m = small_machine(dim)
        out = work / f"{fam}-{dim}-{mode}.encore"
        _compile("--model", str(folder), *MODES[mode], "--dim", str(dim), "--sp-kib",
                 str(m.sp_kib), "--acc-kib", str(m.acc_kib), "-o", str(out))
        yield f"{fam} DIM {dim} {mode}", out
    folder = work / "bert1"
    save_bert(folder, hidden=10, heads=2, ffn=13, layers=1, max_pos=16, seed=1)
    out = work / "bert1.encore"
    _compile("--model", str(folder), "--seq", "8", "--dim", "4", "--sp-kib", "4", "--acc-kib",
             "4", "-o", str(out))
    yield "1-layer BERT seq 8 DIM 4 (README)", out


def _model(name: str, cfg, **kw):
    from compiler import compile_model

    # GPTQ changes weight codes, not instructions (tests/test_compiler.py): not needed here.
    return compile_model(name, cfg, quant={"use_gptq": False}, **kw).program


def minilm16_cases(work: Path):
    from isa import MachineConfig

    cfg = MachineConfig(dim=16, sp_kib=16, acc_kib=16)
    yield ("all-MiniLM-L6-v2 seq 16 batch 2 DIM 16, 16 KiB",
           _model("minilm-l6", cfg, seq_len=16, batch=2))


def bert_base_cases(work: Path):
    from isa import MachineConfig

    cfg = MachineConfig(dim=16, dram_bytes_per_cycle=16)
    yield "bert-base seq 128 DIM 16, 16 B/cycle", _model("bert-base", cfg, seq_len=128)


CASES = {"small": small_cases, "minilm16": minilm16_cases, "bert-base": bert_base_cases}


def main() -> int:
    from isa import Program
    from isa.cycles import FETCH_BUFFER_CYCLES

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=["small"])
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    rows = []
    print(f"FETCH_BUFFER_CYCLES {FETCH_BUFFER_CYCLES} (now) vs {OLD_FETCH_BUFFER_CYCLES} (before)")
    with tempfile.TemporaryDirectory(prefix="encore-fetch-cost-") as tmp:
        for case in args.cases:
            for name, prog in CASES[case](Path(tmp)):
                if not isinstance(prog, Program):
                    prog = Program.load(prog)
                now, old = cycles_both(prog)
                rows.append({"program": name, "instructions": len(prog.instructions),
                             "cycles": now, "cycles_old_fetch": old})
                print(f"{name:<48} {len(prog.instructions):>9,} instructions  {now:>12,} cycles"
                      f"  (before {old:>12,}: +{now - old:,}, +{100 * (now - old) / old:.3f} %)",
                      flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

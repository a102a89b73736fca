"""`encore compile` + `encore rtl` on small models of every supported family, at given DIMs:
the issue-11 acceptance sweep (docs/rtl.md, "Verification").

    .venv/bin/python benchmarks/rtl_models.py --dims 4 16 [--families bert roberta ...]
        [--modes padded unpadded] [--json PATH]

Each case compiles a seeded model folder (tests/helpers.py: BERT, DistilBERT, RoBERTa, a
MiniLM-shaped BERT with 12 heads of 4 columns; tests/test_heads.py: the three
*ForSequenceClassification heads) for the RTL tests' machine (hw.rtlsim.runner.small_machine),
padded (`--seq 11 --batch 2`) or unpadded (`--lengths 11 5`), runs `encore rtl` on it with
seeded random inputs at the program's fixed DRAM latency, and prints one line: exit status,
DRAM equal, RTL cycles, timing-model cycles, final hidden states' cosine vs PyTorch FP32 and
the wall time (compile + build + run; one Verilator build per DIM, cached in .cache/rtl).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODES = {"padded": ["--seq", "11", "--batch", "2"], "unpadded": ["--lengths", "11", "5"]}


def families():
    from tests.helpers import save_bert
    from tests.test_heads import save_classifier

    return {
        "bert": lambda p: save_bert(p, hidden=10, heads=2, ffn=13, layers=2, max_pos=64,
                                    seed=1),
        "distilbert": lambda p: save_bert(p, hidden=9, heads=3, ffn=11, layers=2, max_pos=64,
                                          seed=2, kind="distilbert"),
        "roberta": lambda p: save_bert(p, hidden=12, heads=3, ffn=14, layers=2, max_pos=64,
                                       seed=3, kind="roberta"),
        "minilm-shape": lambda p: save_bert(p, hidden=48, heads=12, ffn=192, layers=2,
                                            max_pos=64, seed=4),
        "bert-cls": lambda p: save_classifier(p, "bert", hidden=20, layers=1),
        "roberta-cls": lambda p: save_classifier(p, "roberta", hidden=20, layers=1),
        "distilbert-cls": lambda p: save_classifier(p, "distilbert", hidden=20, layers=1),
    }


def _cli(*argv) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "encore.cli", *argv], capture_output=True,
                          text=True, cwd=ROOT, env=env)


def run_case(work: Path, make, fam: str, dim: int, mode: str) -> dict:
    from hw.rtlsim.runner import small_machine

    folder = work / fam
    if not folder.exists():
        make(folder)
    m = small_machine(dim)
    prog, js = work / f"{fam}-{dim}-{mode}.encore", work / f"{fam}-{dim}-{mode}.json"
    t = time.perf_counter()
    out = {"family": fam, "dim": dim, "mode": mode}
    c = _cli("compile", "--model", str(folder), *MODES[mode], "--dim", str(dim), "--sp-kib",
             str(m.sp_kib), "--acc-kib", str(m.acc_kib), "-o", str(prog))
    if c.returncode:
        return {**out, "rc": c.returncode, "error": c.stderr.strip().splitlines()[-1]}
    r = _cli("rtl", str(prog), "--json", str(js), "--no-progress", "--show", "0")
    out.update(rc=r.returncode, wall_s=round(time.perf_counter() - t, 1))
    if js.exists():
        rep = json.loads(js.read_text())
        acc = rep.get("accuracy") or {}
        out.update(dram_equal=rep["dram_equal"], cycles=rep["cycles"],
                   model_cycles=rep["model_cycles"], instructions=rep["instructions"],
                   cosine=acc.get("final_hidden_cosine"))
    if r.returncode:
        out["error"] = (r.stderr.strip().splitlines() or ["?"])[-1]
    return out


def main() -> int:
    fams = families()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dims", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--families", nargs="+", choices=list(fams), default=list(fams))
    p.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="encore-rtl-models-") as tmp:
        for dim in args.dims:
            for fam in args.families:
                for mode in args.modes:
                    r = run_case(Path(tmp), fams[fam], fam, dim, mode)
                    rows.append(r)
                    cos = r.get("cosine")
                    print(f"{fam:<15} DIM {dim:<2} {mode:<8} exit {r['rc']}  DRAM equal "
                          f"{r.get('dram_equal')}  cycles RTL {r.get('cycles')} model "
                          f"{r.get('model_cycles')}  cosine "
                          f"{'-' if cos is None else f'{cos:.6f}'}  {r.get('wall_s')} s"
                          + (f"  {r['error']}" if r.get("error") else ""), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

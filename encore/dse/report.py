"""Outputs of ``encore dse``: points.csv, dse.json, pareto.png and the printed summary."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from . import space
from .explore import objective_value, pareto

COLUMNS = ("status", "dim", "sp_kib", "acc_kib", "dram_bw", "max_seq", "queue_depth",
           "clock_mhz", "latency_ms", "cycles", "utilization", "dram_bytes", "lut", "ff", "dsp",
           "bram", "fmax_mhz", "area", "area_source", "objective", "reason")


def write_csv(path: Path, rows: list[dict]) -> None:
    extra = sorted({k for r in rows for k in r if k.startswith("latency_ms[")})
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, *extra], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def best_commands(row: dict, models: list[str], mix, target: str) -> list[str]:
    """The ``encore run`` commands (one per model, longest length) and the ``encore fpga``
    command that reproduce a point."""
    best = {n: row[n.replace("-", "_")] for n in space.PARAMS}
    seq = max(s for s, _ in mix)
    cmds = [space.run_command(best, m, seq) for m in models]
    if best["queue-depth"] != space.defaults()["queue-depth"]:
        cmds.append(f"# queue depth {best['queue-depth']}: MachineConfig(queue_depth=...), "
                    "not an option of encore run")
    cmds.append(f"encore fpga --target {target} --dim {best['dim']} --sp-kib {best['sp-kib']} "
                f"--acc-kib {best['acc-kib']} --dram-bytes {best['dram-bw']} "
                f"--freq-mhz {best['clock-mhz']:g}")
    if best["max-seq"] != space.defaults()["max-seq"]:
        cmds.append(f"# max-seq {best['max-seq']}: the RTL's score buffer is built for "
                    f"{space.defaults()['max-seq']} (not an option of encore fpga)")
    return cmds


def plot(path: Path, rows: list[dict], front: list[dict], best: dict | None, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    timed = [r for r in rows if r.get("latency_ms") is not None and r["status"] != "failed"]
    dims = sorted({r["dim"] for r in timed})
    for i, d in enumerate(dims):
        for status, marker, alpha in (("ok", "o", 0.8), ("over budget", "x", 0.4)):
            pts = [r for r in timed if r["dim"] == d and r["status"] == status]
            if pts:
                ax.scatter([r["area"] for r in pts], [r["latency_ms"] for r in pts],
                           marker=marker, color=f"C{i}", alpha=alpha, s=22,
                           label=f"DIM {d}" + (" (over budget)" if status != "ok" else ""))
    if front:
        ax.step([r["area"] for r in front], [r["latency_ms"] for r in front], "k-", where="post",
                lw=1, label="Pareto front")
    if best:
        ax.scatter([best["area"]], [best["latency_ms"]], marker="*", s=250, color="gold",
                   edgecolor="k", zorder=5, label="best under budget")
    ax.axvline(1.0, color="grey", ls=":", lw=0.8)
    ax.set(xscale="log", yscale="log",
           xlabel="area (largest fraction of the part's LUT/FF/DSP/BRAM)",
           ylabel="latency (ms)", title=title)
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def finish(out: Path, rows: list[dict], meta: dict, objective: str, json_path: str | None):
    """Rank, write every output, and return (best row or None, Pareto front, files written)."""
    for r in rows:
        r["objective"] = objective_value(r, objective) if r["status"] == "ok" else None
    ok = [r for r in rows if r["status"] == "ok"]
    # ties (e.g. more DRAM bandwidth than the point uses) go to the smaller, narrower, slower
    best = min(ok, key=lambda r: (r["objective"], r["area"], r["dram_bw"], r["clock_mhz"]),
               default=None)
    front = pareto(rows)
    write_csv(out / "points.csv", rows)
    data = {**meta, "objective": objective, "points": rows,
            "pareto": [r["point"] for r in front], "best": best}
    (out / "dse.json").write_text(json.dumps(data, indent=1))
    files = ["points.csv", "dse.json", "results.jsonl"]
    if any(r["status"] in ("ok", "over budget") for r in rows):
        plot(out / "pareto.png", rows, front, best,
             f"{', '.join(meta['models'])}, {meta['workload']}, {meta['target']}")
        files.append("pareto.png")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(data, indent=1))
    return best, front, files


def table(rows: list[dict], limit: int = 15) -> str:
    head = (f"{'DIM':>4} {'SP KiB':>6} {'ACC KiB':>7} {'B/cyc':>5} {'MHz':>5} {'ms':>9} "
            f"{'util':>5} {'LUT':>7} {'DSP':>5} {'BRAM':>5} {'area':>6} {'src':<8} status")
    lines = [head, "-" * len(head)]
    for r in rows[:limit]:
        ms = f"{r['latency_ms']:.2f}" if r.get("latency_ms") is not None else "-"
        ut = f"{r['utilization']:.2f}" if r.get("utilization") is not None else "-"
        res = {k: "-" if r.get(k) is None else r[k] for k in ("lut", "dsp", "bram",
                                                                "area_source")}
        ar = "-" if r.get("area") is None else f"{r['area']:.3f}"
        lines.append(f"{r['dim']:>4} {r['sp_kib']:>6} {r['acc_kib']:>7} {r['dram_bw']:>5} "
                     f"{r['clock_mhz']:>5g} {ms:>9} {ut:>5} {res['lut']:>7} {res['dsp']:>5} "
                     f"{res['bram']:>5} {ar:>6} {res['area_source']:<8} {r['status']}"
                     + (f": {r['reason']}" if r.get("reason") else ""))
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more in points.csv")
    return "\n".join(lines)

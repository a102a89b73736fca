"""One exploration: points x models x sequence lengths, timed on the engine, resumable.

Cycles do not depend on the clock (the timing model counts core cycles; the clock only turns them
into milliseconds), so points that differ only in clock-mhz share one timing.

Every finished (point, model, length) is appended to ``<out>/results.jsonl`` at once, tagged with
the hash of the compiler, timing model and cycle constants
(``programs.results_digest``); a later run with the same ``--out`` reuses those lines and times only
what is missing, so an interrupted exploration resumes where it stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import space
from .area import AreaModel
from .engine import Engine, Job
from .programs import model_tag, results_digest

OBJECTIVES = ("latency", "latency-x-area", "area")


@dataclass
class Exploration:
    points: list[dict]  # one per configuration, see ``assemble``
    computed: int = 0  # (point, model, length) timings done in this run
    reused: int = 0  # ... taken from an earlier run's results.jsonl
    workers: int = 1
    compile_s: dict = field(default_factory=dict)  # program -> compile seconds
    timing_s: float = 0.0


class Store:
    """``results.jsonl``: one JSON line per finished timing."""

    def __init__(self, path: Path, digest: str):
        self.path, self.digest = path, digest
        self.done: dict[str, dict] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill
                    continue
                if item.get("compiler") == digest:
                    self.done[_without_clock(item["key"])] = item["record"]

    def add(self, key: str, record: dict) -> None:
        self.done[key] = record
        with self.path.open("a") as f:
            f.write(json.dumps({"key": key, "compiler": self.digest, "record": record}) + "\n")


def _without_clock(key: str) -> str:
    return " ".join(w for w in key.split(" ") if not w.startswith("clock-mhz="))


def job_key(point: dict, model: str, seq: int) -> str:
    return _without_clock(f"{model_tag(model)}|{seq}|{space.point_id(point)}")


def latency_ms(cycles: float, clock_mhz: float) -> float:
    """As sim/timing/report.py defines TimingReport.latency_ms."""
    return cycles / (clock_mhz * 1e3)


def _program_config(point: dict, seq: int) -> dict:
    """What the program is compiled for: max-seq only matters when it is too short (then the
    compiler rejects it), so every long-enough max-seq shares one program."""
    cfg = space.machine(point).to_dict()
    keep = {f: cfg[f] for f in ("dim", "sp_kib", "acc_kib")}
    if point["max-seq"] < seq:
        keep["max_seq"] = point["max-seq"]
    return keep


def explore(models: list[str], mix: list[tuple[int, int]], points: list[dict],
            area: AreaModel, budget: dict, engine: Engine | None, out: Path, source: tuple,
            on_progress=None) -> Exploration:
    """Time what ``out``'s results.jsonl lacks on ``engine`` (None: nothing, report only)."""
    out.mkdir(parents=True, exist_ok=True)
    store = Store(out / "results.jsonl", results_digest())
    jobs, invalid = {}, {}
    for p in points:
        try:
            cfg = space.machine(p).to_dict()
        except ValueError as e:
            invalid[space.point_id(p)] = str(e)
            continue
        for m in models:
            for seq, _ in mix:
                key = job_key(p, m, seq)
                if key not in store.done and key not in jobs:
                    jobs[key] = Job(key, m, seq, _program_config(p, seq), cfg,
                                    float(p["clock-mhz"]))
    reused = len({job_key(p, m, s) for p in points if space.point_id(p) not in invalid
                  for m in models for s, _ in mix} & set(store.done))
    ex = Exploration([], reused=reused, workers=engine.n_workers() if engine else 0)
    if on_progress:
        on_progress(None, len(jobs), ex.workers)
    for job, rec in engine.run(jobs.values(), source) if engine else ():
        store.add(job.key, rec)
        ex.computed += 1
        ex.compile_s[repr(job.program_key)] = rec.get("compile_s", 0.0)
        ex.timing_s += rec.get("timing_s", 0.0)
        if on_progress:
            on_progress(job, len(jobs), engine.n_workers())
    ex.points = [assemble(p, models, mix, store.done, invalid, area, budget) for p in points]
    return ex


def assemble(p: dict, models, mix, done: dict, invalid: dict, area: AreaModel,
             budget: dict) -> dict:
    """A point's row: parameters, resources, per-model and total figures, status and reason."""
    pid = space.point_id(p)
    row = {"point": pid, **{k.replace("-", "_"): v for k, v in p.items()},
           "target": area.part.name}
    if pid in invalid:
        return {**row, **dict.fromkeys(("lut", "ff", "dsp", "bram", "fmax_mhz", "area",
                                        "area_source")), "status": "invalid",
                "reason": invalid[pid]}
    row.update(area.resources(p))
    total = {"cycles": 0.0, "latency_ms": 0.0, "dram_bytes": 0.0, "macs": 0.0, "busy": 0.0}
    errors = []
    weight = sum(c for _, c in mix)
    for m in models:
        lat = 0.0
        for seq, count in mix:
            r = done.get(job_key(p, m, seq))
            if r is None:
                return {**row, "status": "pending", "reason": "not timed yet (rerun without "
                        "--report-only to time it)"}
            if "error" in r:
                errors.append(f"{m} seq {seq}: {r['error']}")
                continue
            w = count / weight
            lat += w * latency_ms(r["cycles"], p["clock-mhz"])
            total["cycles"] += w * r["cycles"]
            total["dram_bytes"] += w * (r["dram_read"] + r["dram_written"])
            total["macs"] += w * r["useful_macs"]
            total["busy"] += w * r["cycles"] * p["dim"] ** 2
        row[f"latency_ms[{m}]"] = lat if not errors else None
        total["latency_ms"] += lat
    if errors:
        return {**row, "status": "failed", "reason": "; ".join(errors)}
    row.update(cycles=round(total["cycles"]), latency_ms=total["latency_ms"],
               utilization=total["macs"] / total["busy"] if total["busy"] else 0.0,
               dram_bytes=round(total["dram_bytes"]))
    over = area.budget_violations(p, row, budget)
    row["status"] = "over budget" if over else "ok"
    row["reason"] = "; ".join(over)
    return row


def objective_value(row: dict, objective: str) -> float:
    if objective == "latency":
        return row["latency_ms"]
    if objective == "latency-x-area":
        return row["latency_ms"] * row["area"]
    return row["area"] + 1e-12 * row["latency_ms"]  # area, ties broken by latency


def pareto(rows: list[dict]) -> list[dict]:
    """Points of ``rows`` (status ok) that no other point beats in both latency and area."""
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: (r["area"],
                                                                          r["latency_ms"]))
    front, best = [], float("inf")
    for r in ok:
        if r["latency_ms"] < best:
            front.append(r)
            best = r["latency_ms"]
    return front


def check_budget_possible(points: list[dict], area: AreaModel, budget: dict) -> None:
    """ValueError if no point of the space fits the budget on resources alone."""
    valid = []
    for p in points:
        try:
            space.machine(p)
        except ValueError:
            continue  # listed as invalid with its reason
        valid.append(p)
        if not area.budget_violations(p, area.resources(p), budget):
            return
    if not valid:
        return
    smallest = min(valid, key=lambda p: area.resources(p)["area"])
    res = area.resources(smallest)
    why = area.budget_violations(smallest, res, budget)
    raise ValueError(
        f"impossible budget: no configuration of the space fits it on {area.part.name} "
        f"(the smallest, {space.point_id(smallest)}, needs lut {res['lut']}, ff {res['ff']}, "
        f"dsp {res['dsp']}, bram {res['bram']} ({res['area_source']}): {'; '.join(why)})")

"""``encore bench``: latency estimates of the timing model over models, sequence lengths, array
sizes and DRAM bandwidths, beside PyTorch on this CPU (FP32 and dynamic int8).

Each (model, seq, dim) is compiled once; every bandwidth re-times the same program with
``config.replace(dram_bytes_per_cycle=...)``. Compiled instruction streams (without their DRAM
image, which timing does not need) are cached under ``<out>/programs``, keyed by the compiler's
source, so a second run only re-times. The timing points run on the Dask engine of ``encore dse``
(encore/dse/engine.py: a local cluster with one worker per core, ``--workers 0`` for serial,
``--address`` to join a cluster); PyTorch is timed afterwards in this process. Writes
``estimates.csv``, ``torch.csv``, ``bench.json`` and PNG plots to ``<out>`` (default results/bench).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import time
from pathlib import Path

from encore.clock import add_clock_args, clock_from_args
from encore.dse.programs import UNITS, ProgramSource

MODELS = ("minilm-l6", "distilbert-base", "bert-base", "bert-large")
SEQS = (128, 512)
DIMS = (8, 16, 32, 64)
BANDWIDTHS = (8, 16, 32, 64)


def _int_list(what: str, allowed=None, lo: int = 1, hi: int | None = None):
    def parse(text: str) -> list[int]:
        out = []
        for item in text.split(","):
            try:
                v = int(item)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{what} {item!r} is not an integer: expected a comma-separated list"
                ) from None
            if allowed is not None and v not in allowed:
                raise argparse.ArgumentTypeError(
                    f"{what} {v} is not supported: expected some of {', '.join(map(str, allowed))}")
            if v < lo or (hi is not None and v > hi):
                raise argparse.ArgumentTypeError(f"{what} {v} is out of range: expected {lo}..{hi}")
            out.append(v)
        return out
    return parse


def _model_list(text: str) -> list[str]:
    from compiler import NAMED

    names = [t.strip() for t in text.split(",") if t.strip()]
    for n in names:
        if n not in NAMED:
            raise argparse.ArgumentTypeError(
                f"model {n!r} is not known: expected some of {', '.join(NAMED)}")
    return names


def add_parser(subparsers) -> None:
    from encore.dse.engine import add_engine_args
    from isa import SUPPORTED_DIMS

    p = subparsers.add_parser(
        "bench", help="sweep latency estimates (timing model) and compare with PyTorch on CPU",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=_model_list, default=list(MODELS),
                   help=f"comma-separated models (default {','.join(MODELS)})")
    p.add_argument("--seq", type=_int_list("sequence length", hi=4095), default=list(SEQS),
                   help=f"sequence lengths (default {','.join(map(str, SEQS))})")
    p.add_argument("--dims", type=_int_list("array size", allowed=SUPPORTED_DIMS),
                   default=list(DIMS), help=f"array sizes DIM (default {','.join(map(str, DIMS))})")
    p.add_argument("--bandwidths", type=_int_list("DRAM bandwidth", hi=1024),
                   default=list(BANDWIDTHS),
                   help="DRAM bytes per cycle, powers of two (default "
                   f"{','.join(map(str, BANDWIDTHS))})")
    add_clock_args(p, fpga_report=False)
    p.add_argument("--out", type=Path, default=Path("results/bench"),
                   help="results folder (default results/bench)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch CPU measurements")
    p.add_argument("--torch-repeats", type=int, default=5,
                   help="timed PyTorch forward passes per point, median reported (default 5)")
    p.add_argument("--no-plots", action="store_true", help="write CSV and JSON only")
    p.add_argument("--recompile", action="store_true", help="ignore cached compiled programs")
    p.add_argument("--length-mix", action="store_true",
                   help="also time a realistic mix of request lengths (the built-in texts) "
                   "padded vs unpadded per model and DIM (encore/workloads.py)")
    p.add_argument("--reuse-stale", action="store_true",
                   help="reuse cached programs compiled by an older compiler source (faster; the "
                   "cache is otherwise keyed by a hash of compiler/*.py and isa/*.py)")
    p.add_argument("--act-bits", type=int, choices=(8, 16), default=None,
                   help="activation width of the compiled programs: 16 (default: 16-bit LayerNorm "
                   "and GELU outputs, their GEMMs in two passes) or 8 (every activation int8); "
                   "8 keeps its programs in <out>/programs-act8")
    add_engine_args(p)
    p.set_defaults(func=run)


# ---- the sweep ----------------------------------------------------------------------------------
def estimate_rows(source: ProgramSource, models, seqs, dims, bws, clock_mhz, progress=None,
                  engine=None):
    """One row per (model, seq, dim, bw), plus per-layer data for the roofline, plus the
    configurations the compiler rejected (e.g. SRAMs too small), as (model, seq, dim, message).
    Each (model, seq, dim) is compiled once; the points run on ``engine`` (default: serially)."""
    from encore.dse.engine import Engine, Job
    from isa import MachineConfig

    jobs = []
    for model in models:
        for seq in seqs:
            for dim in dims:
                prog_cfg = {"dim": dim}
                cfg = MachineConfig(dim=dim).to_dict()
                for bw in bws:
                    jobs.append(Job(f"{model}|{seq}|{dim}|{bw}", model, seq, prog_cfg,
                                    {**cfg, "dram_bytes_per_cycle": bw}, clock_mhz, layers=True))
    engine = engine or Engine(workers=0)
    done = {}
    for job, rec in engine.run(jobs, source):
        done[job.key] = rec
        if progress is not None:
            progress.update(1)
    rows, layers, failed = [], [], []
    for j in jobs:  # in sweep order, whatever order the points finished in
        rec = dict(done[j.key])
        model, seq, dim, bw = j.model, j.seq, j.config["dim"], j.config["dram_bytes_per_cycle"]
        if "error" in rec:
            if bw == bws[0]:
                failed.append((model, seq, dim, rec["error"]))
            continue
        key = {"model": model, "seq": seq, "dim": dim, "dram_bytes_per_cycle": bw}
        layers += [{**key, **layer} for layer in rec.pop("layers")]
        rec.pop("compile_s", None)
        rec.pop("load_s", None)
        rows.append({**key, **rec})
    return rows, layers, failed


def torch_latency_ms(model, seq: int, repeats: int) -> float:
    """Median wall time of a batch-1 forward pass of ``seq`` tokens, in ms."""
    import torch

    vocab = int(getattr(model.config, "vocab_size", 30522))
    ids = torch.randint(5, min(vocab, 1000), (1, seq))
    mask = torch.ones(1, seq, dtype=torch.long)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 2):  # two warm-up runs
            t = time.perf_counter()
            model(input_ids=ids, attention_mask=mask)
            if i >= 2:
                times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def torch_rows(source: ProgramSource, models, seqs, repeats: int, progress=None):
    import warnings

    import torch

    rows = []
    for model in models:
        fp32 = source.torch_model(model).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantize_dynamic's deprecation notice
            int8 = torch.ao.quantization.quantize_dynamic(fp32, {torch.nn.Linear},
                                                          dtype=torch.qint8)
        for seq in seqs:
            rows.append({"model": model, "seq": seq, "threads": torch.get_num_threads(),
                         "fp32_ms": torch_latency_ms(fp32, seq, repeats),
                         "int8_dynamic_ms": torch_latency_ms(int8, seq, repeats)})
            if progress is not None:
                progress.update(1)
    return rows


# ---- output -----------------------------------------------------------------------------------
def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def summary_table(rows: list[dict], torch_rows_: list[dict]) -> str:
    tmap = {(r["model"], r["seq"]): r for r in torch_rows_}
    head = (f"{'model':<16} {'seq':>4} {'DIM':>4} {'B/cyc':>5} {'est ms':>9} {'ideal ms':>9} "
            f"{'bound ms':>9} {'binds':>7} {'est/bnd':>7} {'util':>5} {'torch fp32':>10} "
            f"{'torch int8':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        t = tmap.get((r["model"], r["seq"]))
        fp = f"{t['fp32_ms']:.1f}" if t else "-"
        i8 = f"{t['int8_dynamic_ms']:.1f}" if t else "-"
        lines.append(f"{r['model']:<16} {r['seq']:>4} {r['dim']:>4} {r['dram_bytes_per_cycle']:>5} "
                     f"{r['latency_ms']:>9.2f} {r['ideal_ms']:>9.2f} {r['bound_ms']:>9.2f} "
                     f"{r['bound']:>7} {r['bound_ratio']:>7.3f} {r['utilization']:>5.2f} "
                     f"{fp:>10} {i8:>10}")
    return "\n".join(lines)


# ---- plots ------------------------------------------------------------------------------------
def _reference(values: list[int], preferred: int) -> int:
    return preferred if preferred in values else values[0]


def write_plots(out: Path, rows: list[dict], layers: list[dict], trows: list[dict]) -> list[str]:
    """latency_vs_dim.png (estimates and their roofline bounds), bound_ratio.png (estimate /
    bound per point), roofline.png (per layer), breakdown.png; returns the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    models = list(dict.fromkeys(r["model"] for r in rows))
    seqs = sorted({r["seq"] for r in rows})
    dims = sorted({r["dim"] for r in rows})
    bws = sorted({r["dram_bytes_per_cycle"] for r in rows})
    bw, dim, seq = _reference(bws, 16), _reference(dims, 16), seqs[0]
    colors = {m: f"C{i}" for i, m in enumerate(models)}
    tmap = {(t["model"], t["seq"]): t for t in trows}

    fig, axes = plt.subplots(1, len(seqs), figsize=(6 * len(seqs), 4.5), squeeze=False)
    for ax, s in zip(axes[0], seqs, strict=True):
        for m in models:
            pts = sorted((r["dim"], r["latency_ms"], r["bound_ms"]) for r in rows
                         if r["model"] == m and r["seq"] == s and r["dram_bytes_per_cycle"] == bw)
            if not pts:
                continue
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=colors[m], label=m)
            ax.plot([p[0] for p in pts], [p[2] for p in pts], ":", color=colors[m])
            if (m, s) in tmap:
                ax.axhline(tmap[(m, s)]["fp32_ms"], color=colors[m], ls="--", lw=0.8)
        ax.set(xscale="log", yscale="log", xlabel="array size DIM", ylabel="latency (ms)",
               title=f"seq {s}, {bw} B/cycle\n(dotted: roofline bound, dashed: PyTorch FP32)")
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.title.set_fontsize(10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "latency_vs_dim.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    sel = [la for la in layers if la["seq"] == seq and la["dim"] == dim
           and la["dram_bytes_per_cycle"] == bw and la["macs"] > 0 and la["cycles"] > 0]
    if sel:
        intensity = [la["macs"] / max(1, la["dram_bytes"]["read"] + la["dram_bytes"]["written"])
                     for la in sel]
        lo, hi = min(intensity) / 2, max(intensity) * 2
        xs = [lo * (hi / lo) ** (i / 100) for i in range(101)]
        ax.plot(xs, [min(dim * dim, bw * x) for x in xs], "k-", lw=1.5, label="roof")
        for m in models:
            pts = [(x, la["macs"] / la["cycles"]) for x, la in zip(intensity, sel, strict=True)
                   if la["model"] == m]
            if pts:
                ax.scatter(*zip(*pts, strict=True), s=14, color=colors[m], label=m, alpha=0.7)
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (MACs per DRAM byte)",
           ylabel="MACs per cycle", title=f"roofline per layer: seq {seq}, DIM {dim}, {bw} B/cycle")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "roofline.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(seqs), figsize=(6 * len(seqs), 4.5), squeeze=False)
    for ax, s in zip(axes[0], seqs, strict=True):
        for m in models:
            for k, b in enumerate(bws):
                pts = sorted((r["dim"], r["bound_ratio"]) for r in rows if r["model"] == m
                             and r["seq"] == s and r["dram_bytes_per_cycle"] == b)
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], "os^vDx"[k % 6] + "-",
                            color=colors[m], lw=0.8, ms=4,
                            label=f"{m}, {b} B/cycle" if len(bws) > 1 else m)
        ax.axhline(1.0, color="k", lw=1)
        ax.axhline(1.25, color="k", lw=0.8, ls="--")
        ax.set(xscale="log", xlabel="array size DIM", ylabel="estimate / roofline bound",
               title=f"seq {s}: distance to the roofline (1 = at the bound, dashed 1.25)")
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.title.set_fontsize(10)
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "bound_ratio.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(models) * len(dims)), 4.5))
    sel = [r for r in rows if r["seq"] == seq and r["dram_bytes_per_cycle"] == bw]
    labels = [f"{r['model']}\nDIM {r['dim']}" for r in sel]
    bottom = [0.0] * len(sel)
    for i, u in enumerate(UNITS):
        ms = [r[f"{u}_busy"] / r["cycles"] * r["latency_ms"] if r["cycles"] else 0 for r in sel]
        ax.bar(range(len(sel)), ms, bottom=bottom, color=f"C{i}", label=f"{u} busy")
        bottom = [b + v for b, v in zip(bottom, ms, strict=True)]
    ax.scatter(range(len(sel)), [r["latency_ms"] for r in sel], marker="_", s=400, color="k",
               label="end-to-end latency", zorder=3)
    ax.set_xticks(range(len(sel)), labels, fontsize=7)
    ax.set(ylabel="ms", yscale="log" if len({r["model"] for r in sel}) > 1 else "linear",
           title=f"per-unit busy time (units overlap): seq {seq}, {bw} B/cycle")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "breakdown.png", dpi=120)
    plt.close(fig)
    return ["latency_vs_dim.png", "bound_ratio.png", "roofline.png", "breakdown.png"]


def run(args) -> int:
    from tqdm import tqdm

    from encore.dse.engine import Engine

    clock = clock_from_args(args)
    args.clock_mhz = clock.mhz
    if args.torch_repeats < 1:
        raise ValueError(f"--torch-repeats {args.torch_repeats} is invalid: expected >= 1")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    programs = out / "programs"
    if args.act_bits is not None:  # reaches the worker processes too (compiler/pipeline.py)
        from compiler.pipeline import ACT_BITS_ENV

        os.environ[ACT_BITS_ENV] = str(args.act_bits)
        programs = out / ("programs-act8" if args.act_bits == 8 else "programs")
    source = ProgramSource(programs, recompile=args.recompile,
                           reuse_stale=args.reuse_stale)
    total = len(args.models) * len(args.seq) * len(args.dims) * len(args.bandwidths)
    t = time.perf_counter()
    with Engine(args.workers, args.address) as engine, \
            tqdm(total=total, desc=f"timing model ({engine.n_workers()} workers)",
                 unit="point") as bar:
        rows, layers, failed = estimate_rows(source, args.models, args.seq, args.dims,
                                             args.bandwidths, args.clock_mhz, progress=bar,
                                             engine=engine)
        workers = engine.n_workers()
    sweep_s = time.perf_counter() - t
    trows: list[dict] = []
    if not args.no_torch:
        with tqdm(total=len(args.models) * len(args.seq), desc="pytorch cpu", unit="point") as bar:
            trows = torch_rows(source, args.models, args.seq, args.torch_repeats, progress=bar)
    _write_csv(out / "estimates.csv", rows)
    _write_csv(out / "torch.csv", trows)
    _write_csv(out / "layers.csv", [{k: (json.dumps(v) if isinstance(v, dict) else v)
                                     for k, v in layer.items()} for layer in layers])
    (out / "bench.json").write_text(json.dumps(
        {"clock_mhz": args.clock_mhz, "clock_source": clock.source,
         "cpu_threads": os.cpu_count(), "workers": workers,
         "sweep_wall_s": sweep_s, "estimates": rows,
         "torch": trows, "layers": layers}, indent=1))
    written = ["estimates.csv", "torch.csv" if trows else None, "layers.csv", "bench.json"]
    if not args.no_plots:
        written += write_plots(out, rows, layers, trows)
    if failed:
        (out / "failed.json").write_text(json.dumps(
            [{"model": m, "seq": s, "dim": d, "error": e} for m, s, d, e in failed], indent=1))
        written.append("failed.json")
    if not rows:
        raise ValueError("no configuration compiled: " + "; ".join(
            f"{m} seq {s} DIM {d}: {e}" for m, s, d, e in failed))
    print(summary_table(rows, trows))
    print(f"clock {clock.mhz:g} MHz: {clock.source}")
    if args.length_mix:
        from encore.workloads import format_length_mix, length_mix
        from isa import MachineConfig

        mix = [length_mix(m, MachineConfig(dim=d), clock_mhz=args.clock_mhz,
                          loaded=source._loaded.get(m)) for m in args.models for d in args.dims]
        (out / "length_mix.json").write_text(json.dumps(mix, indent=1))
        print("\n\n".join(format_length_mix(r) for r in mix))
        print(f"wrote length_mix.json to {out}")
    for m, s, d, e in failed:
        print(f"skipped {m} seq {s} DIM {d}: {e}")
    print(f"timing sweep: {len(rows)} points on {workers} workers in {sweep_s:.1f} s")
    print(f"wrote {', '.join(w for w in written if w)} to {out}")
    return 0

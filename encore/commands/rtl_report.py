"""What ``encore rtl`` reports besides the run itself: where the RTL's DRAM first differs from
the functional simulator's, the accuracy of a model program's outputs against PyTorch FP32, and
the progress line printed while a long simulation runs."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import numpy as np

from isa import Program


def first_difference(program: Program, rtl: np.ndarray, func: np.ndarray) -> dict | None:
    """The first DRAM byte where ``rtl`` and ``func`` differ, as the tensor and element holding
    it: ``{byte, bytes_differing, tensor, row, col, rtl, functional}`` (tensor None when the
    byte lies outside every tensor); None when the images are equal."""
    diff = np.flatnonzero(rtl != func)
    if diff.size == 0:
        return None
    byte = int(diff[0])
    out = {"byte": byte, "bytes_differing": int(diff.size), "tensor": None, "row": None,
           "col": None, "rtl": int(rtl[byte]), "functional": int(func[byte])}
    d = program.config.dim
    for t in sorted(program.tensors.values(), key=lambda t: t.addr):
        if t.addr <= byte < t.addr + t.nbytes(d):
            a, b = program.read_tensor(rtl, t.name), program.read_tensor(func, t.name)
            where = np.argwhere(a != b)
            if where.size:  # the byte may be layout padding of the tensor (no element)
                r, c = (int(v) for v in where[0])
                out.update(tensor=t.name, row=r, col=c, rtl=int(a[r, c]),
                           functional=int(b[r, c]))
            else:
                out["tensor"] = t.name
            break
    return out


def describe_difference(diff: dict) -> str:
    where = (f"tensor {diff['tensor']} element [{diff['row']}, {diff['col']}]"
             if diff["row"] is not None else
             f"tensor {diff['tensor']} (padding byte {diff['byte']})" if diff["tensor"] else
             f"byte {diff['byte']} (outside every tensor)")
    n = diff["bytes_differing"]
    return (f"DRAM differs from the functional simulator in {n} byte{'s' * (n != 1)}; "
            f"the first difference is {where}: RTL {diff['rtl']}, functional simulator "
            f"{diff['functional']}")


def reference_source(program: Program, override: str | None) -> str | None:
    """Where to load the PyTorch model a program was compiled from: ``--model``, else the
    source ``encore compile`` recorded, else a named model."""
    from compiler.models import NAMED

    meta = program.meta
    if override:
        return override
    for key in ("model_source", "tokenizer_source"):
        if meta.get(key):
            return str(meta[key])
    return meta.get("model") if meta.get("model") in NAMED else None


def model_accuracy(program: Program, dram: np.ndarray, ids: np.ndarray, mask: np.ndarray,
                   source: str) -> dict:
    """Cosine of every layer output in ``dram`` (dequantized) against the PyTorch FP32 model,
    as ``encore run`` reports it (encore/accuracy.py)."""
    from compiler.models import load_model
    from encore.accuracy import accuracy_section, reference_run
    from encore.host import dequantize

    loaded = load_model(source, seed=int(program.meta.get("seed", 0)))
    refs, _ = reference_run(loaded.model, ids, mask)
    layers = [dequantize(program, dram, n, mask) for n in program.meta["layer_outputs"]]
    if len(layers) != len(refs):
        raise ValueError(f"model {source!r} has {len(refs) - 1} layers, the program "
                         f"{len(layers) - 1}: pass the model it was compiled from with --model")
    return {"model": source, **accuracy_section(layers, refs, mask)}


class Progress:
    """Print ``RTL: N instructions retired, C cycles, R cycles/s`` to stderr whenever the bench
    rewrites its progress file (every ``RtlJob.progress_cycles`` simulated cycles)."""

    def __init__(self, path: Path, total: int, every_s: float = 2.0):
        self.path, self.total, self.every_s = path, total, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.lines = 0

    def __enter__(self) -> Progress:
        self.path.unlink(missing_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        seen = None
        while not self._stop.wait(self.every_s):
            try:
                live = json.loads(self.path.read_text())
            except (OSError, ValueError):
                continue
            if live == seen:
                continue
            seen = live
            rate = live["cycles"] / max(live["wall_s"], 1e-9)
            print(f"RTL: {live['retired']:,} of {self.total:,} instructions retired, "
                  f"{live['cycles']:,} cycles, {rate:,.0f} cycles/s", file=sys.stderr,
                  flush=True)
            self.lines += 1

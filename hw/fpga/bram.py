"""ECP5 block RAM read path (docs/rtl.md "FPGA", "The block RAM's output register").

Every SRAM read in the design is a block RAM's synchronous read followed by one register stage
(``hw.sram._staged``; ``isa.cycles.SRAM_READ_LATENCY`` = 2). Two netlist steps of the ECP5
flow turn that into what the DP16KD can do alone, with no change to the design's behaviour:

1. :data:`COLLISION_X` (a yosys command between ``synth_ecp5``'s ``coarse`` and ``map_ram``
   steps): every memory with one read and one write port gets ``RD_COLLISION_X_MASK`` = 1, so
   a read of the row being written in the same cycle may return either value. Without it
   yosys emulates the read-first semantics of Amaranth's non-transparent read port (writes
   delayed by a cycle, a bypass multiplexer behind the block RAM's output: one LUT and two
   flip-flops per data bit on the block RAM's read path). The design never depends on that
   value: the multi-writer banks forward every row written in the last two cycles over the
   bank's data (``hw.sram._xor_banks``), and no engine or single-writer SRAM reads a row in the
   cycle it is written. The Verilator and Icarus builds check it: ``hw.sram.poison_collisions``
   makes every such read return the row inverted, and the bit-exact RTL tests run that build.
2. :func:`fold_output_registers` (on synth_ecp5's JSON netlist): a DP16KD whose every used data
   output drives one flip-flop alone (the read stage: same clock, no reset, one clock enable)
   gets its output register (``REGMODE`` ``OUTREG``, the enable on ``OCE``) in place of those
   flip-flops. nextpnr's timing data: 0.96 ns from the clock to the data with the output
   register, 5.83 ns without, before any routing (speed 6).
"""

from __future__ import annotations

from collections import defaultdict

from ..sram import COLLISION_X_ATTR

#: yosys: reads of a row written in the same cycle are don't-care (point 1 above).
#: Only memories marked by hw/sram.py (``COLLISION_X_ATTR``: their reads are poisoned in
#: simulation), with one synchronous, non-transparent read port and one write port; not, e.g.,
#: the FIFOs' memories of ``amaranth.lib.fifo``.
COLLISION_X = (f"setparam -set RD_COLLISION_X_MASK 1'b1 t:$mem_v2 a:{COLLISION_X_ATTR} %i "
               "r:RD_PORTS=1 %i r:WR_PORTS=1 %i r:RD_CLK_ENABLE=1'1 %i "
               "r:RD_TRANSPARENCY_MASK=1'0 %i")

_DATA_BITS = 18  # data outputs per DP16KD port (DOA0..17, DOB0..17)


def synth_ecp5_commands(top: str, json_path: str) -> str:
    """yosys commands: ``synth_ecp5`` of ``top`` with :data:`COLLISION_X` between its coarse
    and map_ram steps, the netlist written to ``json_path``."""
    return (f"synth_ecp5 -top {top} -run :map_ram\n{COLLISION_X}\n"
            f"synth_ecp5 -top {top} -run map_ram: -json {json_path}\n")


def fold_file(path) -> dict:
    """:func:`fold_output_registers` on the JSON netlist at ``path`` (rewritten)."""
    import json
    from pathlib import Path

    path = Path(path)
    netlist = json.loads(path.read_text())
    stats = fold_output_registers(netlist)
    path.write_text(json.dumps(netlist))
    return stats


def _port_bits(cell: dict, port: str) -> list:
    return [f"DO{port}{i}" for i in range(_DATA_BITS) if f"DO{port}{i}" in cell["connections"]]


def _width(cell: dict, port: str) -> int:
    v = str(cell["parameters"].get(f"DATA_WIDTH_{port}", "18")).strip()
    return int(v, 2) if set(v) <= {"0", "1"} and len(v) > 8 else int(v)


def _params(cell: dict) -> dict:
    """The cell's string parameters, stripped (yosys writes some padded: ``"1 "``)."""
    return {k: v.strip() if isinstance(v, str) else v for k, v in cell["parameters"].items()}


def _is_plain_ff(ff: dict, clk) -> str | None:
    """Why the flip-flop ``ff`` cannot be a block RAM's output register clocked by ``clk``, or
    None if it can: clocked by ``clk`` on the rising edge, no set/reset."""
    p, c = _params(ff), ff["connections"]
    if p.get("CLKMUX", "CLK") != "CLK" or c.get("CLK") != clk:
        return "another clock"
    lsr = c.get("LSR", ["0"])
    if p.get("LSRMUX", "LSR") == "LSR" and lsr != ["0"]:
        return "a reset"
    if p.get("CEMUX", "CE") not in ("CE", "1"):
        return "an inverted enable"
    return None


def _enable(ff: dict) -> list:
    if _params(ff).get("CEMUX", "CE") == "1" or "CE" not in ff["connections"]:
        return ["1"]
    return ff["connections"]["CE"]


def fold_output_registers(netlist: dict) -> dict:
    """Fold each DP16KD's read-stage flip-flops into its output register, in place.

    Returns ``{"brams": folded, "ffs": flip-flops removed, "skipped": {reason: count}}``."""
    stats = {"brams": 0, "ffs": 0, "skipped": defaultdict(int)}
    for module in netlist["modules"].values():
        cells = module.get("cells", {})
        loads = defaultdict(list)
        for name, cell in cells.items():
            for pin, bits in cell["connections"].items():
                if cell["port_directions"].get(pin) != "output":
                    for b in bits:
                        if not isinstance(b, str):
                            loads[b].append((name, pin))
        removed = set()
        for cell in list(cells.values()):
            if cell["type"] != "DP16KD":
                continue
            pdp = _width(cell, "A") == 36  # both halves are port B's read data
            groups = [("B", _port_bits(cell, "A") + _port_bits(cell, "B"))] if pdp else \
                [(p, _port_bits(cell, p)) for p in ("A", "B")]
            for port, pins in groups:
                reason, ffs = _stage_of(cell, port, pins, cells, loads, removed)
                if reason == "unused":
                    continue
                if reason:
                    stats["skipped"][reason] += 1
                    continue
                enables = {tuple(_enable(cells[ff])) for _, ff in ffs}
                if len(enables) != 1:
                    stats["skipped"]["several enables"] += 1
                    continue
                for mode in (("A", "B") if pdp else (port,)):
                    cell["parameters"][f"REGMODE_{mode}"] = "OUTREG"
                cell["connections"][f"OCE{port}"] = list(enables.pop())
                for pin, ff in ffs:
                    cell["connections"][pin] = cells[ff]["connections"]["Q"]
                    removed.add(ff)
                stats["brams"] += 1
                stats["ffs"] += len(ffs)
        for ff in removed:
            del cells[ff]
    stats["skipped"] = dict(stats["skipped"])
    return stats


def _stage_of(cell: dict, port: str, pins: list, cells: dict, loads: dict, removed: set):
    """(None, [(pin, flip-flop)]) if every used data output ``pins`` of ``cell``'s read port
    ``port`` drives exactly one flip-flop's data input and those can be its output register;
    else (the reason, [])."""
    params = _params(cell)
    if params.get(f"REGMODE_{port}", "NOREG") != "NOREG":
        return "already registered", []
    if params.get(f"CLK{port}MUX", f"CLK{port}") != f"CLK{port}":
        return "an inverted clock", []
    if cell["connections"].get(f"OCE{port}", ["1"]) != ["1"]:
        return "an output enable in use", []
    clk = cell["connections"].get(f"CLK{port}")
    out = []
    for pin in pins:
        bit = cell["connections"][pin][0]
        if isinstance(bit, str):
            continue
        users = loads.get(bit, [])
        if not users:
            continue
        if len(users) != 1 or users[0][1] != "DI" or cells[users[0][0]]["type"] != "TRELLIS_FF":
            return "logic behind the output", []
        ff = users[0][0]
        if ff in removed:
            return "logic behind the output", []
        why = _is_plain_ff(cells[ff], clk)
        if why:
            return f"a stage flip-flop with {why}", []
        out.append((pin, ff))
    return (None, out) if out else ("unused", [])

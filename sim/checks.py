"""The checks of docs/isa.md that depend only on the instruction, the machine and the DRAM size.

The timing model makes these (it reads no data), in the functional simulator's order: first
dependency flags towards a missing queue (``missing_neighbour``), then token underflow (the
caller keeps the counts), then the opcode's own checks (``static_error``). Checks on *data* --
the shift parameters of REQUANT / GELU / RESADD / ATTN and LAYERNORM's ``n_valid`` -- are made
only by the functional simulator and the RTL; ``static_error`` assumes they pass and goes on
with the checks after them. So on every program both simulators report the same code at the
same index, except that the functional simulator may stop earlier on a data check
(tests/test_fuzz_programs.py checks exactly this).
"""

from __future__ import annotations

from isa import ErrorCode, Instruction, MachineConfig, Mem, Opcode, attn_param_rows
from isa.opcodes import NEIGHBOURS

#: (flag, which neighbour) in the order the functional simulator checks them.
_FLAGS = (("pop_prev", 0), ("pop_next", 1), ("push_prev", 0), ("push_next", 1))


def missing_neighbour(ins: Instruction) -> str | None:
    """The DEPENDENCY message for a flag towards a queue that does not exist, else None."""
    q = ins.queue
    for flag, side in _FLAGS:
        if ins.f[flag] and NEIGHBOURS[q][side] is None:
            return (f"{ins.op.name} in the {q.name} queue has {flag} set "
                    "but that queue has no such neighbour")
    return None


def static_error(ins: Instruction, cfg: MachineConfig,
                 dram_size: int | None) -> tuple[ErrorCode, str] | None:
    """(code, message) of the first failing static check of ``ins``'s opcode, else None.

    ``dram_size`` None skips the DRAM range check (a program timed without its DRAM size).
    The checks of each opcode are made in docs/isa.md's order (the functional simulator's).
    """
    op, f, d = ins.op, ins.f, cfg.dim
    if op in _DMA:
        rows, cols = f["rows"], f["cols"]
        err = _positive(op, f, "rows", "cols")
        if err is None and cols > d:
            err = ErrorCode.BAD_FIELD, f"{op.name}.cols={cols} exceeds DIM={d}"
        if err is None:
            err = _sram(cfg, Mem(f["mem"]), f["sram_addr"], rows, op.name)
        if err is None and dram_size is not None:
            err = dram_range_error(ins, dram_size)
        return err
    if op == Opcode.GEMM:
        rows, kb = f["rows"], f["kblocks"]
        return (_positive(op, f, "rows", "kblocks")
                or _sram(cfg, Mem.SP, f["a_addr"], (kb - 1) * f["a_stride"] + rows, "GEMM A")
                or _sram(cfg, Mem.SP, f["w_addr"], kb * d, "GEMM weights")
                or _sram(cfg, Mem.ACC, f["c_addr"], rows, "GEMM C"))
    if op in _EPILOGUE:
        n = f["rows"] * f["blocks"]
        per = 3 if op == Opcode.REQUANT else 5
        err = (_positive(op, f, "rows", "blocks")
               or _sram(cfg, Mem.ACC, f["src"], n, f"{op.name} src")
               or _sram(cfg, Mem.ACC, f["param"], per * f["blocks"], f"{op.name} parameters"))
        # (data check: shift parameters)
        if err is not None:
            return err
        if op == Opcode.RESADD:
            return (_sram(cfg, Mem.SP, f["res"], n, "RESADD res")
                    or _sram(cfg, Mem.ACC, f["dst"], n, "RESADD dst"))
        return _sram(cfg, Mem.SP, f["dst"], n, f"{op.name} dst")
    if op == Opcode.LAYERNORM:
        n = f["rows"] * f["blocks"]
        return (_positive(op, f, "rows", "blocks")
                or _sram(cfg, Mem.ACC, f["param"], 1 + 2 * f["blocks"], "LAYERNORM parameters")
                # (data checks: n_valid, shift)
                or _sram(cfg, Mem.ACC, f["src"], n, "LAYERNORM src")
                or _sram(cfg, Mem.SP, f["dst"], n, "LAYERNORM dst"))
    if op == Opcode.ATTN:
        seq, hb = f["seq"], f["hd_blocks"]
        err = _positive(op, f, "seq", "hd_blocks")
        if err is None and seq > cfg.max_seq:
            err = ErrorCode.BAD_FIELD, f"ATTN seq={seq} exceeds max_seq={cfg.max_seq}"
        if err is None:
            err = _sram(cfg, Mem.ACC, f["param"], attn_param_rows(seq, hb, d),
                        "ATTN parameters and mask")
        # (data check: shift parameters)
        for a, w in _ATTN_TILES:
            if err is not None:
                break
            err = _sram(cfg, Mem.SP, f[a], seq * hb, f"ATTN {w}")
        return err
    return None


def dram_range_error(ins: Instruction, dram_size: int) -> tuple[ErrorCode, str] | None:
    """The DRAM_RANGE error of a LOAD or STORE whose bytes run past ``dram_size``, else None."""
    f = ins.f
    esize = 1 if f["mem"] == Mem.SP else 4
    last = f["dram_addr"] + (f["rows"] - 1) * f["dram_stride"] + f["cols"] * esize
    if last > dram_size:
        return (ErrorCode.DRAM_RANGE, f"{ins.op.name} touches DRAM bytes up to {last}, "
                f"past the end of DRAM ({dram_size} bytes)")
    return None


_DMA = (Opcode.LOAD, Opcode.STORE)
_EPILOGUE = (Opcode.REQUANT, Opcode.GELU, Opcode.RESADD)
_ATTN_TILES = (("q_addr", "Q"), ("k_addr", "K"), ("v_addr", "V"), ("o_addr", "output"))


def _positive(op: Opcode, f: dict, *names: str) -> tuple[ErrorCode, str] | None:
    for n in names:
        if f[n] < 1:
            return ErrorCode.BAD_FIELD, f"{op.name}.{n} must be >= 1"
    return None


def _sram(cfg: MachineConfig, mem: Mem, addr: int, rows: int,
          what: str) -> tuple[ErrorCode, str] | None:
    limit = cfg.sp_rows if mem == Mem.SP else cfg.acc_rows
    if addr + rows > limit:
        name = "scratchpad" if mem == Mem.SP else "accumulator"
        return (ErrorCode.SRAM_RANGE,
                f"{what} rows [{addr}, {addr + rows}) exceed the {name} ({limit} rows)")
    return None

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
    """
    op, f, d = ins.op, ins.f, cfg.dim

    def positive(*names: str):
        for n in names:
            if f[n] < 1:
                return ErrorCode.BAD_FIELD, f"{op.name}.{n} must be >= 1"
        return None

    def sram(mem: Mem, addr: int, rows: int, what: str):
        limit = cfg.sp_rows if mem == Mem.SP else cfg.acc_rows
        if addr + rows > limit:
            name = "scratchpad" if mem == Mem.SP else "accumulator"
            return (ErrorCode.SRAM_RANGE,
                    f"{what} rows [{addr}, {addr + rows}) exceed the {name} ({limit} rows)")
        return None

    def first(*checks):
        for c in checks:
            r = c()
            if r is not None:
                return r
        return None

    if op in (Opcode.LOAD, Opcode.STORE):
        def dram():
            esize = 1 if f["mem"] == Mem.SP else 4
            last = f["dram_addr"] + (f["rows"] - 1) * f["dram_stride"] + f["cols"] * esize
            if dram_size is not None and last > dram_size:
                return (ErrorCode.DRAM_RANGE, f"{op.name} touches DRAM bytes up to {last}, "
                        f"past the end of DRAM ({dram_size} bytes)")
            return None

        def cols():
            if f["cols"] > d:
                return ErrorCode.BAD_FIELD, f"{op.name}.cols={f['cols']} exceeds DIM={d}"
            return None

        return first(lambda: positive("rows", "cols"), cols,
                     lambda: sram(Mem(f["mem"]), f["sram_addr"], f["rows"], op.name), dram)
    if op == Opcode.GEMM:
        rows, kb = f["rows"], f["kblocks"]
        return first(lambda: positive("rows", "kblocks"),
                     lambda: sram(Mem.SP, f["a_addr"], (kb - 1) * f["a_stride"] + rows, "GEMM A"),
                     lambda: sram(Mem.SP, f["w_addr"], kb * d, "GEMM weights"),
                     lambda: sram(Mem.ACC, f["c_addr"], rows, "GEMM C"))
    if op in (Opcode.REQUANT, Opcode.GELU, Opcode.RESADD):
        n = f["rows"] * f["blocks"]
        per = 3 if op == Opcode.REQUANT else 5
        checks = [lambda: positive("rows", "blocks"),
                  lambda: sram(Mem.ACC, f["src"], n, f"{op.name} src"),
                  lambda: sram(Mem.ACC, f["param"], per * f["blocks"], f"{op.name} parameters")]
        # (data check: shift parameters)
        if op == Opcode.RESADD:
            checks += [lambda: sram(Mem.SP, f["res"], n, "RESADD res"),
                       lambda: sram(Mem.ACC, f["dst"], n, "RESADD dst")]
        else:
            checks.append(lambda: sram(Mem.SP, f["dst"], n, f"{op.name} dst"))
        return first(*checks)
    if op == Opcode.LAYERNORM:
        n = f["rows"] * f["blocks"]
        return first(lambda: positive("rows", "blocks"),
                     lambda: sram(Mem.ACC, f["param"], 1 + 2 * f["blocks"],
                                  "LAYERNORM parameters"),
                     # (data checks: n_valid, shift)
                     lambda: sram(Mem.ACC, f["src"], n, "LAYERNORM src"),
                     lambda: sram(Mem.SP, f["dst"], n, "LAYERNORM dst"))
    if op == Opcode.ATTN:
        seq, hb = f["seq"], f["hd_blocks"]

        def max_seq():
            if seq > cfg.max_seq:
                return ErrorCode.BAD_FIELD, f"ATTN seq={seq} exceeds max_seq={cfg.max_seq}"
            return None

        return first(lambda: positive("seq", "hd_blocks"), max_seq,
                     lambda: sram(Mem.ACC, f["param"], attn_param_rows(seq, hb, d),
                                  "ATTN parameters and mask"),
                     # (data check: shift parameters)
                     *(lambda a=a, w=w: sram(Mem.SP, f[a], seq * hb, f"ATTN {w}")
                       for a, w in (("q_addr", "Q"), ("k_addr", "K"), ("v_addr", "V"),
                                    ("o_addr", "output"))))
    return None

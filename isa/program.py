"""The program container: instructions + DRAM image + tensor map, and its file format.

File format (``.encore``)::

    magic   8 bytes  b"ENCOREPG"
    version u32      FORMAT_VERSION
    hlen    u64      length of the JSON header
    header  hlen     UTF-8 JSON: config, tensors, meta, sizes, sha256 of the payload
    payload          instruction words (16 bytes each) then the initialised DRAM prefix

Everything past the initialised prefix of DRAM (inputs, activations) starts as zeros.

Tensor dtypes: ``int8`` and ``int32`` (blocked, little-endian) and ``int16``, a 16-bit activation
stored *planar* (docs/isa.md "16-bit tiles"): its high plane (an int8 blocked tensor at ``addr``)
then its low plane (the same at ``addr + plane_bytes``), ``v = 256 * hi + lo``. ``esize`` is the
bytes per element over the whole tensor (2 for int16, so ``nbytes`` is the DRAM footprint); a
DMA moves one plane at a time, one byte per element.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import program_checks
from .fields import INSTR_BYTES
from .instructions import DecodeError, Instruction, decode_program, encode_program
from .layout import from_blocked, nblocks, to_blocked
from .params import DRAM_ADDR_BITS, MachineConfig

MAGIC = b"ENCOREPG"
FORMAT_VERSION = 1
DTYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32}
#: dtypes stored as two int8 planes (high plane, then low plane)
PLANAR = ("int16",)
ROLES = ("const", "input", "output", "activation", "host")


class ProgramFileError(ValueError):
    """A program file that cannot be read: wrong magic, version, truncated, corrupt, or a header
    that contradicts itself (isa/program_checks.py names the field)."""


class ProgramInstructionError(ProgramFileError):
    """An instruction word that does not decode: ``code`` (ILLEGAL_OPCODE or BAD_FIELD), ``index``
    and ``word`` as the hardware would report them when it fetched it."""

    def __init__(self, err: DecodeError, source: str):
        super().__init__(f"{source}: {err}")
        self.code, self.index, self.word, self.detail = err.code, err.index, err.word, err.detail

    def one_line(self) -> str:
        word = f"word {self.word:#034x}"
        return f"{self.code.name} at instruction {self.index} ({word}): {self.detail}"


@dataclass
class TensorInfo:
    """One tensor in DRAM, blocked layout (see isa/layout.py).

    ``scale``: real value = integer * scale; a float (per tensor), a list of floats (per
    column), or None for tensors without one (e.g. masks).
    """

    name: str
    addr: int
    rows: int
    cols: int
    dtype: str
    role: str
    scale: float | list[float] | None = None

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"tensor {self.name}: dtype {self.dtype!r} not in {list(DTYPES)}")
        if self.role not in ROLES:
            raise ValueError(f"tensor {self.name}: role {self.role!r} not in {list(ROLES)}")
        if self.scale is not None and not isinstance(self.scale, float):
            sc = np.asarray(self.scale, dtype=np.float64)
            if sc.ndim == 0:
                self.scale = float(sc)
            elif sc.shape == (self.cols,):
                self.scale = [float(v) for v in sc]
            else:
                raise ValueError(f"tensor {self.name}: scale must be a float or {self.cols} "
                                 f"per-column floats, got shape {sc.shape}")

    @property
    def esize(self) -> int:
        return np.dtype(DTYPES[self.dtype]).itemsize

    def nbytes(self, dim: int) -> int:
        return nblocks(self.cols, dim) * self.rows * dim * self.esize

    @property
    def planes(self) -> int:
        """int8 planes the tensor is stored as: 2 for a planar 16-bit tensor, else 1."""
        return 2 if self.dtype in PLANAR else 1

    def plane_bytes(self, dim: int) -> int:
        """Bytes of one plane of a planar tensor (its whole size otherwise)."""
        return self.nbytes(dim) // self.planes


@dataclass
class Program:
    config: MachineConfig
    instructions: list[Instruction]
    dram_init: bytes
    dram_size: int
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dram_size < len(self.dram_init):
            raise ValueError("dram_size is smaller than the initialised DRAM image")
        if self.dram_size > 1 << DRAM_ADDR_BITS:
            raise ValueError(
                f"program needs {self.dram_size} bytes of DRAM, more than the "
                f"{DRAM_ADDR_BITS}-bit address space"
            )

    # -- DRAM image helpers -----------------------------------------------------------------
    def new_dram(self) -> np.ndarray:
        """A fresh DRAM image (uint8) with constants in place and zeros elsewhere."""
        dram = np.zeros(self.dram_size, dtype=np.uint8)
        dram[: len(self.dram_init)] = np.frombuffer(self.dram_init, dtype=np.uint8)
        return dram

    def tensor(self, name: str) -> TensorInfo:
        try:
            return self.tensors[name]
        except KeyError:
            raise KeyError(
                f"program has no tensor {name!r}; it has {sorted(self.tensors)[:20]}..."
            ) from None

    def write_tensor(self, dram: np.ndarray, name: str, array: np.ndarray) -> None:
        """Store a [rows, cols] integer array into ``dram`` in blocked layout."""
        t = self.tensor(name)
        array = np.asarray(array)
        if array.shape != (t.rows, t.cols):
            raise ValueError(f"tensor {name}: expected shape {(t.rows, t.cols)}, got {array.shape}")
        if t.planes == 2:
            from .numerics import WIDE_MAX, WIDE_MIN, split_planes

            if array.size and (array.min() < WIDE_MIN or array.max() > WIDE_MAX):
                raise ValueError(f"tensor {name}: values outside the 16-bit activation range "
                                 f"[{WIDE_MIN}, {WIDE_MAX}]")
            raw = b"".join(to_blocked(p.astype(np.int8), self.config.dim).tobytes()
                           for p in split_planes(array))
        else:
            blocked = to_blocked(array.astype(DTYPES[t.dtype]), self.config.dim)
            raw = blocked.astype(np.dtype(DTYPES[t.dtype]).newbyteorder("<")).tobytes()
        dram[t.addr : t.addr + len(raw)] = np.frombuffer(raw, dtype=np.uint8)

    def read_tensor(self, dram: np.ndarray, name: str) -> np.ndarray:
        """Read a tensor back as a [rows, cols] int array."""
        t = self.tensor(name)
        dim = self.config.dim
        nb = nblocks(t.cols, dim)
        raw = dram[t.addr : t.addr + t.nbytes(dim)].tobytes()
        if t.planes == 2:
            from .numerics import join_planes

            hi, lo = np.frombuffer(raw, dtype=np.int8).reshape(2, nb, t.rows, dim)
            return from_blocked(join_planes(hi, lo).astype(np.int16), t.cols)
        arr = np.frombuffer(raw, dtype=np.dtype(DTYPES[t.dtype]).newbyteorder("<"))
        return from_blocked(arr.reshape(nb, t.rows, dim).astype(DTYPES[t.dtype]), t.cols)

    def read_tensor_rows(self, dram: np.ndarray, name: str, rows: np.ndarray) -> np.ndarray:
        """``read_tensor(dram, name)[rows]`` without reading the whole tensor (for gathers
        from large tables, such as the embeddings)."""
        t = self.tensor(name)
        dim = self.config.dim
        nb = nblocks(t.cols, dim)
        raw = np.asarray(dram[t.addr : t.addr + t.nbytes(dim)], dtype=np.uint8)
        if t.planes == 2:
            from .numerics import join_planes

            planes = raw.view(np.int8).reshape(2, nb, t.rows, dim)
            hi, lo = planes[:, :, np.asarray(rows).reshape(-1)]
            picked = join_planes(hi, lo).astype(np.int16)
            return from_blocked(picked, t.cols).reshape(*np.shape(rows), t.cols)
        blocked = raw.view(np.dtype(DTYPES[t.dtype]).newbyteorder("<")).reshape(nb, t.rows, dim)
        picked = blocked[:, np.asarray(rows).reshape(-1), :].astype(DTYPES[t.dtype])
        return from_blocked(picked, t.cols).reshape(*np.shape(rows), t.cols)

    # -- statistics -------------------------------------------------------------------------
    def opcode_histogram(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ins in self.instructions:
            counts[ins.op.name] = counts.get(ins.op.name, 0) + 1
        return dict(sorted(counts.items()))

    # -- file I/O -----------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        code = encode_program(self.instructions)
        payload = code + self.dram_init
        header = {
            "config": self.config.to_dict(),
            "tensors": [asdict(t) for t in self.tensors.values()],
            "meta": self.meta,
            "n_instructions": len(self.instructions),
            "dram_size": self.dram_size,
            "dram_init_bytes": len(self.dram_init),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
        hbytes = json.dumps(header).encode()
        return MAGIC + struct.pack("<IQ", FORMAT_VERSION, len(hbytes)) + hbytes + payload

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def _header(cls, data: bytes, total: int, source: str) -> tuple[dict, int, int, int]:
        """Parse the fixed part and the JSON header at the start of ``data`` (a file of
        ``total`` bytes); return (header, payload offset, instruction count, DRAM prefix
        length) once the payload length matches the header."""
        fixed = len(MAGIC) + 12
        if len(data) < fixed or data[: len(MAGIC)] != MAGIC:
            raise ProgramFileError(
                f"{source} is not an Encore program file (expected magic {MAGIC!r} at the start)"
            )
        version, hlen = struct.unpack("<IQ", data[len(MAGIC) : fixed])
        if version != FORMAT_VERSION:
            raise ProgramFileError(
                f"{source}: program format version {version} is not supported "
                f"(this Encore reads version {FORMAT_VERSION}); recompile it"
            )
        if total < fixed + hlen or len(data) < fixed + hlen:
            raise ProgramFileError(f"{source} is truncated: its header is incomplete")
        try:
            header = json.loads(data[fixed : fixed + hlen].decode())
        except (ValueError, UnicodeDecodeError) as e:
            raise ProgramFileError(f"{source}: the header is corrupt ({e})") from None
        if not isinstance(header, dict):
            raise ProgramFileError(f"{source}: the header is corrupt (not a JSON object)")
        try:
            n_instr = program_checks.int_field(header.get("n_instructions"), "n_instructions")
            init_len = program_checks.int_field(header.get("dram_init_bytes"), "dram_init_bytes")
        except program_checks.HeaderError as e:
            raise ProgramFileError(f"{source}: {e}") from None
        payload = total - fixed - hlen
        expected = n_instr * INSTR_BYTES + init_len
        if payload != expected:
            what = "truncated" if payload < expected else "longer than its header says"
            raise ProgramFileError(
                f"{source} is {what}: payload has {payload} bytes, header promises {expected}"
            )
        return header, fixed + hlen, n_instr, init_len

    @classmethod
    def _from_parts(cls, header: dict, code: bytes, dram_init: bytes, source: str) -> Program:
        """The program of a parsed ``header``, its instruction words ``code`` and its DRAM
        prefix ``dram_init`` (checksum, header fields and instructions checked)."""
        # The checksum (hashlib releases the GIL) runs in a thread while the header is checked
        # and the instructions decoded; its error still comes first.
        digest = hashlib.sha256(code)
        hasher = threading.Thread(target=digest.update, args=(dram_init,))
        hasher.start()
        try:
            program = cls._checked(header, code, dram_init, source)
        except Exception as e:  # raised once the checksum is known to be right
            program = e
        hasher.join()
        if digest.hexdigest() != header.get("sha256"):
            raise ProgramFileError(f"{source} is corrupt: payload checksum does not match")
        if isinstance(program, Exception):
            raise program
        return program

    @classmethod
    def _checked(cls, header: dict, code: bytes, dram_init: bytes, source: str) -> Program:
        n_instr = len(code) // INSTR_BYTES
        try:
            config = program_checks.check_config(header.get("config"))
            dram_size, _ = program_checks.check_sizes(header, n_instr)
            tensors = program_checks.check_tensors(header.get("tensors"), config, dram_size,
                                                   TensorInfo)
            meta = program_checks.check_meta(header.get("meta", {}), tensors, config, n_instr)
        except program_checks.HeaderError as e:
            raise ProgramFileError(f"{source}: {e}") from None
        try:
            instructions = decode_program(code)
        except DecodeError as e:
            raise ProgramInstructionError(e, source) from None
        return cls(config=config, instructions=instructions, dram_init=dram_init,
                   dram_size=dram_size, tensors=tensors, meta=meta)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "program") -> Program:
        header, off, n_instr, _ = cls._header(data, len(data), source)
        code_end = off + n_instr * INSTR_BYTES
        view = memoryview(data)  # slices of a view: the image is copied once, below
        return cls._from_parts(header, bytes(view[off:code_end]), bytes(view[code_end:]), source)

    @classmethod
    def load(cls, path: str | Path) -> Program:
        """Read a program file. The DRAM prefix (most of a model's file) is read straight into
        its own bytes object: no copy of the whole file is made."""
        path = Path(path)
        if not path.is_file():
            raise ProgramFileError(f"program file {str(path)!r} does not exist")
        source = f"program file {str(path)!r}"
        with path.open("rb") as f:
            total = os.fstat(f.fileno()).st_size
            fixed = len(MAGIC) + 12
            head = f.read(fixed)
            if len(head) == fixed and head[: len(MAGIC)] == MAGIC:
                hlen = struct.unpack("<Q", head[-8:])[0]
                if fixed + hlen <= total:  # else _header reports the truncation
                    head += f.read(hlen)
            header, off, n_instr, init_len = cls._header(head, total, source)
            code = f.read(n_instr * INSTR_BYTES)
            dram_init = f.read(init_len)
        if len(code) + len(dram_init) != n_instr * INSTR_BYTES + init_len:
            raise ProgramFileError(f"{source} is truncated: it shrank while being read")
        return cls._from_parts(header, code, dram_init, source)

"""A small AXI4 slave DRAM model for cocotb, with random latency and back-pressure.

One coroutine per clock cycle serves all five channels. It drives its outputs just after the
falling edge and samples the handshakes in the ReadOnly phase that follows, when every signal
has settled to the value the rising edge will see; this works the same on every simulator.
Reads are answered in order (any ID), writes apply byte strobes; bursts are INCR only.
With ``latency=(L, L)``, ``ready_prob=valid_prob=1`` and ``write_latency=L`` it is the fixed-
latency DRAM of the exact cycle formulas in docs/rtl.md: an AR accepted in cycle c has its
first R beat in cycle c + L, beats follow one per cycle in request order, and the B response of
a burst whose last W beat is accepted in cycle c comes in cycle c + L.

``resp_errors``: error responses to inject, a list of ``(channel, lo, hi, resp)`` with channel
"r" (every beat of a read burst whose AR address lies in [lo, hi) carries RRESP ``resp``) or
"b" (the B response of a write burst whose AW address lies in [lo, hi) is BRESP ``resp``);
``resp`` is SLVERR (2) or DECERR (3). The data of a failing read is still returned.
"""

from __future__ import annotations

import random
from collections import deque

import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

OKAY, SLVERR, DECERR = 0, 2, 3


class AxiDram:
    def __init__(self, dut, prefix: str, mem: np.ndarray, bus_bytes: int, *, seed: int = 0,
                 latency: tuple[int, int] = (8, 24), ready_prob: float = 0.8,
                 valid_prob: float = 0.9, write_latency: int | None = None,
                 resp_errors: list | tuple = ()):
        if mem.dtype != np.uint8 or mem.ndim != 1:
            raise TypeError("DRAM image must be a 1-D uint8 array")
        self.dut, self.p = dut, prefix
        self.mem = mem
        self.bus = bus_bytes
        self.rng = random.Random(seed)
        self.latency, self.ready_prob, self.valid_prob = latency, ready_prob, valid_prob
        #: Cycles from the last W beat of a burst to its B response; None: 1, plus a random
        #: 0..3 when stalls are enabled (ready_prob < 1).
        self.write_latency = write_latency
        self.cycle = 0
        self.resp_errors = [(str(c), int(lo), int(hi), int(r)) for c, lo, hi, r in resp_errors]
        if any(c not in ("r", "b") or r not in (SLVERR, DECERR) for c, _, _, r in self.resp_errors):
            raise ValueError(f"resp_errors {resp_errors!r}: expected (\"r\" or \"b\", lo, hi, "
                             f"{SLVERR} or {DECERR}) entries")
        #: Error responses given: (channel, burst address, resp).
        self.injected: list[tuple[str, int, int]] = []
        self.reads: deque = deque()    # [due_cycle, id, addr, beats_left, rresp]
        self.writes: deque = deque()   # [id, addr, beats_left, bresp] awaiting W beats
        self.w_early: deque = deque()  # W beats that came before their AW
        self.bresp: deque = deque()    # [due_cycle, id, bresp]
        self.r_shown = False
        self.b_shown = False
        self.errors: list[str] = []
        self.sig = {name: getattr(dut, f"{prefix}__{name}") for name in (
            "arvalid", "arready", "araddr", "arlen", "arid", "rvalid", "rready", "rdata", "rid",
            "rlast", "rresp", "awvalid", "awready", "awaddr", "awlen", "awid", "wvalid",
            "wready", "wdata", "wstrb", "wlast", "bvalid", "bready", "bid", "bresp")}
        for name in ("arready", "rvalid", "rdata", "rid", "rlast", "rresp", "awready",
                     "wready", "bvalid", "bid", "bresp"):
            self.sig[name].value = 0

    def outstanding(self) -> int:
        """AXI transactions not yet completed: read bursts with beats to send, write bursts
        without all W beats or without their B response."""
        return len(self.reads) + len(self.writes) + len(self.bresp) + int(self.r_shown)

    def _resp(self, channel: str, addr: int) -> int:
        for c, lo, hi, resp in self.resp_errors:
            if c == channel and lo <= addr < hi:
                self.injected.append((channel, addr, resp))
                return resp
        return OKAY

    def _read_beat(self, addr: int) -> int:
        if addr + self.bus > self.mem.size:
            self.errors.append(f"read beat at {addr:#x} past the end of DRAM")
            return 0
        return int.from_bytes(self.mem[addr: addr + self.bus].tobytes(), "little")

    def _write_beat(self, addr: int, data: int, strb: int) -> None:
        raw = data.to_bytes(self.bus, "little")
        for b in range(self.bus):
            if strb >> b & 1:
                if addr + b >= self.mem.size:
                    self.errors.append(f"write at {addr + b:#x} past the end of DRAM")
                    return
                self.mem[addr + b] = raw[b]

    def _apply_writes(self) -> None:
        while self.writes and self.w_early:
            data, strb, last = self.w_early.popleft()
            wr = self.writes[0]
            self._write_beat(wr[1], data, strb)
            wr[1] += self.bus
            wr[2] -= 1
            if (wr[2] == 0) != bool(last):
                self.errors.append(f"WLAST mismatch in the burst to {wr[1]:#x}")
            if wr[2] == 0:
                self.writes.popleft()
                # B follows the last W beat after write_latency cycles (default 1, plus
                # jitter when stalls are enabled).
                if self.write_latency is not None:
                    delay = self.write_latency
                else:
                    delay = 1 + (self.rng.randint(0, 3) if self.ready_prob < 1 else 0)
                self.bresp.append([self.cycle + delay, wr[0], wr[3]])

    async def run(self, clk) -> None:
        s, rng = self.sig, self.rng
        while True:
            await FallingEdge(clk)
            self.cycle += 1
            s["arready"].value = int(rng.random() < self.ready_prob)
            s["awready"].value = int(rng.random() < self.ready_prob)
            s["wready"].value = int(rng.random() < self.ready_prob)
            if not self.r_shown:  # the previous beat was taken (or none was shown)
                s["rvalid"].value = 0
            if not self.b_shown:
                s["bvalid"].value = 0
            if not self.r_shown and self.reads and self.reads[0][0] <= self.cycle \
                    and rng.random() < self.valid_prob:
                due, rid, addr, left, resp = self.reads[0]
                s["rdata"].value = self._read_beat(addr)
                s["rresp"].value = resp
                s["rid"].value = rid
                s["rlast"].value = int(left == 1)
                s["rvalid"].value = 1
                self.r_shown = True
            if not self.b_shown and self.bresp and self.bresp[0][0] <= self.cycle:
                s["bid"].value = self.bresp[0][1]
                s["bresp"].value = self.bresp[0][2]
                s["bvalid"].value = 1
                self.b_shown = True
            await ReadOnly()
            if s["arvalid"].value and s["arready"].value:
                due = self.cycle + rng.randint(*self.latency)
                addr = int(s["araddr"].value)
                self.reads.append([due, int(s["arid"].value), addr, int(s["arlen"].value) + 1,
                                   self._resp("r", addr)])
            if self.r_shown and s["rready"].value:
                self.r_shown = False
                rd = self.reads[0]
                rd[2] += self.bus
                rd[3] -= 1
                if rd[3] == 0:
                    self.reads.popleft()
            if s["awvalid"].value and s["awready"].value:
                addr = int(s["awaddr"].value)
                self.writes.append([int(s["awid"].value), addr, int(s["awlen"].value) + 1,
                                    self._resp("b", addr)])
            if s["wvalid"].value and s["wready"].value:
                self.w_early.append((int(s["wdata"].value), int(s["wstrb"].value),
                                     int(s["wlast"].value)))
            if self.b_shown and s["bready"].value:
                self.b_shown = False
                self.bresp.popleft()
            self._apply_writes()

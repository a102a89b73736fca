"""The distributed engine of ``encore dse`` and ``encore bench``: Dask distributed.

``Engine(workers=N)`` starts a local cluster of N single-threaded worker processes on this machine
(default: one per core); ``Engine(address="tcp://host:8786")`` joins a running cluster (started
with ``dask scheduler`` and ``dask worker tcp://host:8786`` on each machine; every machine needs
this repository and its Python environment). ``Engine(workers=0)`` runs in this process, serially.

Work is two kinds of task. One ``compile_task`` per distinct program (model, sequence length and
the options that shape the program): its result stays in the cluster's memory and every
``time_task`` of a point using that program takes it as input, so a program is compiled once per
run and re-timed per point (and also cached on disk, so later runs do not compile at all). Tasks
that raise are retried (``RETRIES``); the scheduler re-runs the task of a worker that died on
another one (a restarted one), so a killed worker loses only its current point.

Every worker (local or joined) gets ``WorkerSetup`` (a Dask worker plugin, run once per worker
process as it starts or joins): it limits PyTorch to the worker's Dask threads (one each:
``torch.set_num_threads``; by default every PyTorch process would start a pool of one thread
per core, so N workers on N cores ran N x N compute threads) and imports the compiler, PyTorch
and the timing model once, before the first task, so tasks do not pay for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .programs import ProgramSource, compile_task, time_task

#: Times a task that raised is retried before its exception reaches the caller.
RETRIES = 3


def add_engine_args(p) -> None:
    """``--workers`` and ``--address`` (encore dse and encore bench)."""
    g = p.add_argument_group("engine (Dask distributed)")
    g.add_argument("--workers", type=int, help="local cluster worker processes (default: one "
                   "per core; 0: serially in this process)")
    g.add_argument("--address", help="join the Dask scheduler at this address instead "
                   "(e.g. tcp://10.0.0.1:8786)")


@dataclass(frozen=True)
class Job:
    """One point to time: ``key`` identifies it to the caller."""

    key: str
    model: str
    seq: int
    program_config: dict  # MachineConfig fields the program is compiled for
    config: dict  # MachineConfig fields the point is timed on
    clock_mhz: float
    layers: bool = False

    @property
    def program_key(self) -> tuple:
        return (self.model, self.seq, tuple(sorted(self.program_config.items())))


class Engine:
    def __init__(self, workers: int | None = None, address: str | None = None):
        if workers is not None and workers < 0:
            raise ValueError(f"--workers {workers} is invalid: expected >= 0 (0: serial, in "
                             "this process)")
        if workers is not None and address is not None:
            raise ValueError("--workers and --address exclude each other: the cluster at "
                             "--address has its own workers")
        self.client = None
        self.cluster = None
        if address is None and workers == 0:
            return
        from distributed import Client, LocalCluster

        if address is not None:
            try:
                self.client = Client(address, timeout=10)
            except OSError as e:
                raise ValueError(f"--address {address!r}: cannot reach a Dask scheduler there "
                                 f"({e})") from None
        else:
            n = workers or os.cpu_count() or 1
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        dashboard_address=":0", silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        from .worker import WorkerSetup

        self.client.register_plugin(WorkerSetup())

    @property
    def serial(self) -> bool:
        return self.client is None

    def n_workers(self) -> int:
        if self.client is None:
            return 1
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def describe(self) -> str:
        if self.client is None:
            return "serial (this process)"
        where = "local cluster" if self.cluster is not None else self.client.scheduler.address
        return f"Dask {where}, {self.n_workers()} workers"

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, jobs: Iterable[Job], source: tuple | ProgramSource,
            time_fn=time_task) -> Iterator[tuple]:
        """Yield ``(job, record)`` as points finish (any order). ``source``: a ProgramSource or
        its ``args()`` (cache folder, recompile, reuse_stale)."""
        jobs = list(jobs)
        groups: dict[tuple, list[Job]] = {}
        for j in jobs:
            groups.setdefault(j.program_key, []).append(j)
        if self.client is None:
            for group in groups.values():
                j0 = group[0]
                compiled = compile_task(source, j0.model, j0.seq, j0.program_config)
                for j in group:
                    yield j, time_fn(compiled, j.config, j.clock_mhz, j.layers)
            return
        if isinstance(source, ProgramSource):
            source = source.args()  # each worker process makes its own
        yield from self._run_distributed(groups, source, time_fn)

    def _run_distributed(self, groups, source, time_fn):
        from distributed import as_completed

        c = self.client
        futures = {}
        programs = {}
        pending = {}
        for pkey, group in groups.items():
            j0 = group[0]
            programs[pkey] = c.submit(compile_task, source, j0.model, j0.seq, j0.program_config,
                                      pure=False, retries=RETRIES)
            pending[pkey] = len(group)
            for j in group:
                # timing before further compiles: results stream in (and are saved) early
                f = c.submit(time_fn, programs[pkey], j.config, j.clock_mhz, j.layers,
                             pure=False, retries=RETRIES, priority=1)
                futures[f] = j
        try:
            for f in as_completed(list(futures)):
                j = futures.pop(f)
                rec = f.result()
                pkey = j.program_key
                pending[pkey] -= 1
                if pending[pkey] == 0:
                    programs.pop(pkey).release()  # frees the program in the workers' memory
                yield j, rec
        finally:
            for f in list(futures) + list(programs.values()):
                f.cancel()



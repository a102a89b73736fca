"""The Dask worker plugin of the engine (encore/dse/engine.py): one PyTorch thread per Dask
thread, and the heavy imports done once per worker process, before its first task."""

from __future__ import annotations

from distributed import WorkerPlugin


class WorkerSetup(WorkerPlugin):
    """Registered with ``Client.register_plugin``: runs in every worker process as it starts or
    joins the cluster. PyTorch would otherwise start one compute thread per core in every worker
    (N workers on N cores: N x N threads)."""

    idempotent = True
    name = "encore-worker-setup"

    def setup(self, worker) -> None:
        import torch

        import compiler  # noqa: F401  (imported once, before the first task)
        import sim.timing  # noqa: F401

        torch.set_num_threads(max(1, worker.state.nthreads))

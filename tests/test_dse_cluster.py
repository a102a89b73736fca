"""``encore dse`` / ``encore bench`` on a local 2-worker Dask cluster: the same numbers as serial
runs, and a worker killed in the middle of a point loses only that point, which is retried."""

from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path

import pytest

from encore.dse import area, space
from encore.dse.engine import Engine, Job
from encore.dse.explore import explore
from encore.dse.programs import ProgramSource, time_task
from encore.errors import BAD_INPUT
from tests.helpers import save_bert

SPACE = "dim=4,8 sp-kib=16,64 dram-bw=8,32 clock-mhz=100"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(save_bert(tmp_path_factory.mktemp("dse") / "tiny", hidden=32, heads=2, ffn=64,
                         layers=1, max_pos=64))


@pytest.fixture(scope="module")
def cluster():
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need crash_once
    with Engine(workers=2) as engine:
        yield engine


def crash_once(marker: str, compiled, config, clock_mhz, layers):
    """time_task, but the first point at 32 B/cycle kills the worker process running it."""
    if config["dram_bytes_per_cycle"] == 32 and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return time_task(compiled, config, clock_mhz, layers)


def _explore(tiny, engine, out):
    points, _ = space.points(space.parse_space(SPACE), 100)
    return explore([tiny], [(16, 1)], points, area.AreaModel("xilinx-xcup"), {}, engine, out,
                   (str(out / "programs"), False, False))


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def test_a_tiny_space_on_two_workers_gives_the_serial_numbers(tiny, cluster, tmp_path):
    # every worker runs one PyTorch thread per Dask thread (encore/dse/worker.py)
    assert list(cluster.client.run(_torch_threads).values()) == [1, 1]
    dist = _explore(tiny, cluster, tmp_path / "dist")
    assert dist.workers == 2 and dist.computed == 8
    serial = _explore(tiny, Engine(workers=0), tmp_path / "serial")
    assert [r["point"] for r in dist.points] == [r["point"] for r in serial.points]
    for d, s in zip(dist.points, serial.points, strict=True):
        assert d["status"] == s["status"] == "ok"
        assert (d["cycles"], d["dram_bytes"]) == (s["cycles"], s["dram_bytes"])
        assert d["latency_ms"] == s["latency_ms"]
    # one compiled program per (dim, sp-kib), shared by the DRAM bandwidths
    assert len(list((tmp_path / "dist" / "programs").glob("*.encore"))) == 4


def test_bench_sweep_on_the_cluster_equals_the_serial_sweep(tiny, cluster, tmp_path):
    from encore.commands.bench import estimate_rows

    source = ProgramSource(tmp_path / "programs")
    runs = [estimate_rows(source, [tiny], [16], [4, 8], [8, 32], 100.0, engine=e)
            for e in (cluster, Engine(workers=0))]
    for rows in (runs[0][0], runs[1][0]):
        for r in rows:
            r.pop("timing_s")
    assert runs[0] == runs[1] and len(runs[0][0]) == 4


def test_a_killed_worker_loses_only_its_point_which_is_retried(tiny, cluster, tmp_path):
    marker = tmp_path / "killed.pid"
    cfg = space.machine({**space.defaults(), "dim": 8, "sp-kib": 64}).to_dict()
    jobs = [Job(f"bw{bw}", tiny, 16, {"dim": 8, "sp_kib": 64, "acc_kib": cfg["acc_kib"]},
                {**cfg, "dram_bytes_per_cycle": bw}, 100.0) for bw in (8, 16, 32, 64)]
    source = (str(tmp_path / "programs"), False, False)
    got = dict((j.key, r) for j, r in cluster.run(jobs, source,
                                                  functools.partial(crash_once, str(marker))))
    assert marker.is_file()  # a worker died in the middle of the 32 B/cycle point
    killed = int(marker.read_text())
    cluster.client.wait_for_workers(2, timeout=120)
    live = set(cluster.client.run(os.getpid).values())
    assert len(live) == 2 and killed not in live  # the nanny restarted it
    want = dict((j.key, r) for j, r in Engine(workers=0).run(jobs, source))
    assert sorted(got) == sorted(want)
    assert all(got[k]["cycles"] == want[k]["cycles"] for k in want)


def test_address_joins_a_running_cluster(tiny, cluster, tmp_path, capsys):
    from encore.cli import main

    with Engine(address=cluster.cluster.scheduler_address) as joined:
        assert joined.n_workers() == 2 and "2 workers" in joined.describe()
        assert joined.cluster is None  # nothing started: the cluster stays up afterwards
    assert cluster.n_workers() == 2
    argv = ["dse", "--model", tiny, "--seq", "16", "--space", "dim=8 sp-kib=64 clock-mhz=100",
            "--no-progress", "--out", str(tmp_path)]
    assert main([*argv, "--address", "tcp://127.0.0.1:9"]) == BAD_INPUT
    assert "--address 'tcp://127.0.0.1:9': cannot reach a Dask scheduler there" in \
        capsys.readouterr().err
    rc = main([*argv, "--address", cluster.cluster.scheduler_address, "--workers", "2"])
    assert rc == BAD_INPUT
    assert "--workers and --address exclude each other" in capsys.readouterr().err

"""Test helpers that start real things: a Dask cluster with a GPU-labelled worker, an app under
uvicorn on a free port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def cluster_with_gpu_worker() -> Iterator[tuple[Any, str]]:
    """A LocalCluster's CPU worker plus a real `dask worker --resources GPU=1` process; yields
    ``(client, gpu worker address)``. This machine has no GPU, so a model there runs on the CPU,
    as on a GPU worker without CUDA: the label is what Dask schedules on."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        gpu = subprocess.Popen(
            [str(Path(sys.executable).parent / "dask"), "worker", cluster.scheduler_address,
             "--nthreads", "1", "--resources", "GPU=1", "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with Client(cluster) as client:
                client.wait_for_workers(2, timeout=120)
                addr = next(a for a, w in client.scheduler_info()["workers"].items()
                            if w.get("resources", {}).get("GPU"))
                yield client, addr
        finally:
            gpu.terminate()
            gpu.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def uvicorn_server(app: Any, port: int) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1:``port`` in a thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        t.join(timeout=30)

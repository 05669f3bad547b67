"""A Dask client: a real ``LocalCluster`` by default, or an existing scheduler by address."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from media_ml.errors import UsageError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None, workers: int | None = None, threads_per_worker: int = 1,
    processes: bool = True,
) -> Iterator[object]:
    """Yield a ``distributed.Client``.

    With ``scheduler`` (``tcp://host:8786``) connect to that cluster; otherwise start a
    ``LocalCluster`` of ``workers`` processes (default: one per core) with
    ``threads_per_worker`` threads each, and shut it down afterwards.
    """
    # Quiet the scheduler's and workers' INFO chatter unless the user configured logging.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    from distributed import Client, LocalCluster

    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be >= 1, got {workers}")
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as e:
            raise UsageError(f"cannot reach Dask scheduler {scheduler}: {e}") from e
        log.info("connected to %s (%d workers)", scheduler,
                 len(client.scheduler_info().get("workers", {})))
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or max(1, os.cpu_count() or 1)
    cluster = LocalCluster(
        n_workers=n, threads_per_worker=threads_per_worker, processes=processes,
        dashboard_address=":0", silence_logs=logging.WARNING,
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def decoder_threads(client: object) -> int:
    """Decoder threads per task so that all worker threads together use the cores once."""
    info = client.scheduler_info()  # type: ignore[attr-defined]
    workers = info.get("workers", {})
    total_threads = sum(w.get("nthreads", 1) for w in workers.values()) or 1
    host_threads: dict[str, int] = {}
    for w in workers.values():
        host = w.get("host", "")
        host_threads[host] = host_threads.get(host, 0) + w.get("nthreads", 1)
    per_host = max(host_threads.values()) if host_threads else total_threads
    return max(1, (os.cpu_count() or 1) // per_host)

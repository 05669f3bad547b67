"""A Dask client: a real ``LocalCluster`` by default, or an existing scheduler by address.

Ctrl-C: a terminal sends SIGINT to its whole process group, which holds the ``LocalCluster``'s
worker processes too. They start with SIGINT blocked and then survive it (``dask_setup``, run in
each as a Dask preload), so only the driver acts on it: it cancels its work and closes client
and cluster in order, with time limits, and a further Ctrl-C waits until that is done
(``interrupts_held``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from media_ml.errors import UsageError

log = logging.getLogger(__name__)

# Seconds each of client and cluster may take to close before we stop waiting for them. A
# worker busy in a task gets 4 s (Dask's nanny default) before it is killed, which fits.
CLOSE_TIMEOUT_S = 8.0


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None, workers: int | None = None, threads_per_worker: int = 1,
    processes: bool = True,
) -> Iterator[object]:
    """Yield a ``distributed.Client``.

    With ``scheduler`` (``tcp://host:8786``) connect to that cluster; otherwise start a
    ``LocalCluster`` of ``workers`` processes (default: one per core) with
    ``threads_per_worker`` threads each, and shut it down afterwards. Closing waits at most
    ``CLOSE_TIMEOUT_S`` for each of client and cluster, so an interrupted run ends in seconds.
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
            with interrupts_held():
                _close("client", client)
        return
    n = workers or max(1, os.cpu_count() or 1)
    cluster: Any = None
    local: Any = None
    try:
        # Held: a Ctrl-C while the cluster starts is delivered once there is a cluster to close.
        with interrupts_held(), _sigint_blocked_in_new_threads():
            cluster = LocalCluster(
                n_workers=n, threads_per_worker=threads_per_worker, processes=processes,
                dashboard_address=":0", silence_logs=logging.WARNING,
                preload=[__name__] if processes else [],
            )
            local = Client(cluster)
        yield local
    finally:
        with interrupts_held():
            if local is not None:
                _close("client", local)
            if cluster is not None:
                _close("cluster", cluster)


def dask_setup(worker: object) -> None:
    """Dask preload hook, run as each worker process of ``dask_client``'s cluster starts
    (restarted ones too): survive Ctrl-C, which is the driver's to handle.

    The worker takes it as notice that the driver is about to shut it down, and stops logging:
    what Dask logs about tasks and heartbeats cut short by that shutdown is noise.
    """
    if threading.current_thread() is threading.main_thread():  # a process of its own
        signal.signal(signal.SIGINT, _quiet_on_interrupt)
        if hasattr(signal, "pthread_sigmask"):  # blocked since the process started
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _quiet_on_interrupt(signum: int, frame: object) -> None:
    logging.disable(logging.CRITICAL)  # for good: this worker process is about to be closed


@contextlib.contextmanager
def _sigint_blocked_in_new_threads() -> Iterator[None]:
    """Block SIGINT in this thread while the block runs, and for good in the threads it starts
    and in the processes those start (a thread inherits its parent's signal mask, a process
    keeps it across fork and exec). The ``LocalCluster`` starts its event-loop thread here, and
    that thread the worker processes, so none can die of a Ctrl-C before ``dask_setup``.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    from multiprocessing import resource_tracker

    # CPython's ``ensure_running`` leaves SIGINT unblocked in the thread that starts
    # multiprocessing's resource tracker: start it here, before blocking, not in the loop thread.
    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _close(what: str, closable: Any) -> None:
    """Close a Dask client or cluster, giving up after ``CLOSE_TIMEOUT_S`` (Dask's finalizers
    then terminate any worker process left when the driver exits)."""
    try:
        closable.close(timeout=CLOSE_TIMEOUT_S)
    except Exception as e:  # noqa: BLE001 - shutting down; the run's own outcome matters more
        log.warning("closing the Dask %s: %s: %s", what, type(e).__name__, e)


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back while the block runs, then deliver it to the handler there was.

    For steps that must not be cut in half and end soon by themselves: starting or closing a
    cluster, cancelling queued work. Python runs signal handlers only in the main thread, so in
    other threads this does nothing.

    >>> with interrupts_held():  # doctest: +SKIP
    ...     client.close()
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        # None: a handler not set from Python, which cannot be put back; use Python's own.
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
        if held:
            signal.raise_signal(signal.SIGINT)


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

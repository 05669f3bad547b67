"""One writer at a time: an advisory lock file in the library folder.

Long writers (``ingest``, ``reembed``, ``reindex``, ``repair``, migrations) hold
``DIR/writer.lock`` (``flock``) for their whole run and write who they are into it, so a second
writer is told which process holds the library instead of corrupting it. Readers never take it:
SQLite's WAL gives them the last committed state while a writer works. Short writes (an editor's
verdict, candidate ids) do not take it either; SQLite serialises those transactions.

The lock is released by the kernel when the holder dies (``kill -9`` included), so a stale file
never blocks anyone.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from media_ml.errors import LibraryError

log = logging.getLogger(__name__)

LOCK_NAME = "writer.lock"


class WriterLock:
    """``with WriterLock(root, wait=60): ...`` — exclusive write access to a library.

    ``wait`` is how many seconds to wait for another writer (0: fail at once, naming it;
    ``None``: wait as long as it takes).
    """

    def __init__(self, root: str | Path, wait: float | None = 0.0, what: str = "") -> None:
        self.root = Path(root)
        self.wait = wait
        self.what = what or " ".join(Path(a).name if i == 0 else a
                                     for i, a in enumerate(sys.argv[:3]))
        self._fd: int | None = None

    def acquire(self) -> None:
        path = self.root / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise LibraryError(f"{self.root}: cannot open {LOCK_NAME} for writing ({e.strerror}); "
                               f"is the library read-only?") from e
        deadline = None if self.wait is None else time.monotonic() + max(0.0, self.wait)
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    hint = ("wait for it to finish, or pass --wait" if not self.wait
                            else f"waited {self.wait:g}s")
                    raise LibraryError(f"{self.root}: the library is being written by {holder}; "
                                       f"{hint}") from None
                if not announced:
                    log.warning("%s: waiting for %s to finish writing", self.root, holder)
                    announced = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "command": self.what, "since": time.time()}).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _holder(path: Path) -> str:
    """Who holds the lock, as written into the file by the holder."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another process"
    since = info.get("since")
    when = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(since)))
            if isinstance(since, int | float) else "?")
    return (f"PID {info['pid']} on {info.get('host', '?')} "
            f"({info.get('command') or 'media-ml'}, since {when})")


def current_writer(root: str | Path) -> str | None:
    """Who holds the library's writer lock right now (None if nobody), without taking it for
    longer than the check and without needing write access."""
    path = Path(root) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(path)
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)

"""Exceptions raised by media-ml.

Every error names the input it is about and the reason, so a batch can report it and go on::

    MediaMLError
    ├── VideoOpenError      the file cannot be opened as a video (missing, not media, no video)
    ├── DecodeError         the file opened but decoding failed part-way (truncated, corrupt)
    ├── ModelLoadError      embedding model weights cannot be had; says how to provide them
    ├── LibraryError        the on-disk library is unusable (wrong schema, locked, corrupt)
    │   ├── IndexCorruptError   the vector index does not match its manifest
    │   ├── SourceChangedError  a video's file changed or vanished since it was ingested
    │   └── PolicyStateError    a policy snapshot belongs to another library or feature set
    └── UsageError          invalid argument from a caller (bad size, k <= 0, unknown id…)
        ├── NotFoundError       an id names nothing (unknown decision, video, candidate…)
        └── DecisionExpiredError a reward came after its decision's reward wait time
"""

from __future__ import annotations


class MediaMLError(Exception):
    """Base class of every error media-ml raises on purpose."""


class VideoOpenError(MediaMLError):
    """A path cannot be opened as a video."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # picklable across Dask workers
        return (type(self), (self.path, self.reason))


class DecodeError(MediaMLError):
    """Decoding failed part-way through a video."""

    def __init__(self, path: object, reason: str, at_s: float | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.at_s = at_s
        where = f" at {at_s:.2f}s" if at_s is not None else ""
        super().__init__(f"{self.path}: decode failed{where}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, str, float | None]]:
        return (type(self), (self.path, self.reason, self.at_s))


class ModelLoadError(MediaMLError):
    """Embedding model weights cannot be loaded."""


class LibraryError(MediaMLError):
    """The library directory cannot be used."""


class IndexCorruptError(LibraryError):
    """The vector index on disk does not match its manifest."""


class SourceChangedError(LibraryError):
    """A video's source file is not the one the library analysed; says what to run."""


class UsageError(MediaMLError):
    """An argument is invalid."""


class NotFoundError(UsageError):
    """An id names nothing the library holds."""


class DecisionExpiredError(UsageError):
    """A reward arrived after its decision's reward wait time (the default reward applied)."""


class PolicyStateError(LibraryError):
    """A policy snapshot cannot be used here (another library, feature set or engine version)."""

"""The on-disk library: catalog (``catalog.py``), thumbnails and vector index, behind one
Python API. The driver is its only writer.

Layout: ``DIR/catalog.sqlite``, ``DIR/thumbs/<content-hash>/<frame>.jpg``, ``DIR/index/``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media_ml.catalog import Catalog, VideoRow, model_mismatch
from media_ml.errors import UsageError

log = logging.getLogger(__name__)

__all__ = ["Catalog", "IngestReport", "Library", "VideoRow", "expand_paths"]



def expand_paths(paths: Iterable[str | Path], suffixes: frozenset[str] | None = None) -> list[str]:
    """Files named, and files inside folders named (recursively), as absolute paths, sorted.

    Folders contribute files with a video-like suffix; files named explicitly are always taken.
    """
    suffixes = suffixes or VIDEO_SUFFIXES
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(str(f.resolve()) for f in sorted(path.rglob("*"))
                       if f.is_file() and f.suffix.lower() in suffixes)
        elif path.exists() or path.is_symlink():
            out.append(str(path.resolve()))
        else:
            raise UsageError(f"{path}: no such file or directory")
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts",
    ".wmv", ".flv", ".ogv", ".3gp", ".mxf", ".y4m", ".h264", ".264", ".hevc", ".vob",
})

ProgressFn = Callable[[int], None]


@dataclass
class IngestReport:
    """What an ingest run did, file by file (``media-ml ingest --json``)."""

    ingested: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    failed: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"ingested": self.ingested, "skipped": self.skipped, "failed": self.failed}


class Library:
    """A media-ml library directory: ingest videos into it and read what it holds.

    >>> lib = Library("lib")                                  # doctest: +SKIP
    >>> report = lib.ingest(["sample_media/generated"])      # doctest: +SKIP
    >>> [v.shots for v in lib.videos()]                       # doctest: +SKIP
    """

    def __init__(self, root: str | Path, create: bool = True) -> None:
        self.root = Path(root)
        self.catalog = Catalog(self.root, create=create)
        self._model_identity: tuple[str, str] | None = None
        self._index: tuple[int, Any] | None = None

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def videos(self) -> list[VideoRow]:
        return self.catalog.videos()

    def shots(self, video_id: int) -> list[dict[str, Any]]:
        return self.catalog.shots(video_id)

    def keyframes(self, video_id: int | None = None) -> list[dict[str, Any]]:
        return self.catalog.keyframes(video_id)

    def ingest(
        self, paths: Iterable[str | Path], *, model: str | None = None,
        scheduler: str | None = None, workers: int | None = None, settings: Any = None,
        client: Any = None, progress: bool = True, model_config: str | None = None,
    ) -> IngestReport:
        """Ingest videos (files or folders) on a Dask cluster; commit each video whole.

        ``model`` is an embedding model spec (see ``extractors.clip``); by default the library's
        own model, or ``DEFAULT_MODEL`` for a new library; ``"none"`` skips embeddings.
        Unchanged files (same content hash and settings) are skipped; a file that fails is
        reported with the reason and nothing of it is written; the others are committed; the
        vector index is brought up to date at the end.
        """
        import contextlib
        import dataclasses

        from media_ml.pipeline import IngestSettings, run_ingest
        from media_ml.workers.cluster import dask_client

        files = expand_paths(paths)
        settings = settings or IngestSettings()
        spec = self.resolve_model(model, model_config)
        if spec is not None:
            settings = dataclasses.replace(settings, model=spec)
        report = IngestReport([], [], [])
        if not files:
            return report
        known = {p: self.catalog.lookup(p) for p in files}
        ctx = contextlib.nullcontext(client) if client is not None else dask_client(
            scheduler, workers)
        with ctx as c:
            run_ingest(self.catalog, files, known, c, settings, report, progress,
                       self._model_identity)
        if spec is not None and report.ingested:
            from media_ml.search import sync_index

            sync_index(self.catalog)
        return report

    def resolve_model(self, model: str | None, config: str | None = None) -> Any:
        """The ``ModelSpec`` to embed with, checked against the library's; loads it once here
        so missing weights fail before any video is decoded."""
        from media_ml.extractors.clip import DEFAULT_MODEL, ModelSpec, load_embedder
        from media_ml.extractors.clip import weights_identity as identity

        have = self.catalog.model()
        if model is not None and model.strip().lower() == "none":
            self._model_identity = None
            return None
        text = model or (have[0] if have else DEFAULT_MODEL)
        spec = ModelSpec.parse(text, config=config)
        want = (spec.name, identity(spec))
        if have is not None and have != want:
            raise UsageError(model_mismatch(self.root, have, want))
        load_embedder(spec)
        self._model_identity = want
        if config:
            self.catalog.set_meta("model_config", str(Path(config).resolve()))
        return spec

    def embedder(self) -> Any:
        """The embedder that made this library's vectors (for queries), loaded once."""
        from media_ml.extractors.clip import ModelSpec, load_embedder

        have = self.catalog.model()
        if have is None:
            raise UsageError(f"{self.root}: library has no index (no embeddings)")
        return load_embedder(ModelSpec.parse(have[0], config=self.catalog.meta("model_config")))

    def search(self, *, text: str | None = None, image: str | Path | None = None,
               keyframe: int | None = None, k: int = 10, video: int | None = None) -> list[Any]:
        """Keyframes most similar to a text, an image file or a keyframe (``list[Hit]``).

        >>> Library("lib").search(text="two people arguing at night", k=5)  # doctest: +SKIP
        """
        from media_ml.search import search

        return search(self.catalog, self.embedder, text=text, image=image, keyframe=keyframe,
                      k=k, video=video, index=self.index)

    def index(self) -> Any:
        """The vector index, loaded once and kept while the catalog's generation holds."""
        from media_ml.search import open_index

        gen = self.catalog.generation()
        if self._index is None or self._index[0] != gen:
            self._index = (gen, open_index(self.catalog))
        return self._index[1]

    def duplicates(self, threshold: float = 0.95) -> list[dict[str, Any]]:
        """Groups of near-duplicate shots across the library."""
        from media_ml.search import duplicate_groups

        return duplicate_groups(self.catalog, threshold, index=self.index)

    def reembed(self, model: str, *, config: str | None = None, scheduler: str | None = None,
                workers: int | None = None, client: Any = None, progress: bool = True) -> int:
        """Replace every vector with ``model``'s embedding of the same keyframe; rebuild the
        index. All or nothing. Returns the number of vectors written."""
        import contextlib

        from media_ml.extractors.clip import ModelSpec, load_embedder, weights_identity
        from media_ml.pipeline import compute_embeddings
        from media_ml.search import rebuild_index
        from media_ml.workers.cluster import dask_client

        spec = ModelSpec.parse(model, config=config)
        load_embedder(spec)
        ctx = contextlib.nullcontext(client) if client is not None else dask_client(
            scheduler, workers)
        with ctx as c:
            vectors = compute_embeddings(self.catalog, c, spec, progress)
        self.catalog.replace_vectors(vectors, (spec.name, weights_identity(spec)), config)
        self._index = None
        if vectors:
            rebuild_index(self.catalog)
        return len(vectors)

    def suggest(self, video: int | str, context: Any, k: int = 10,
                contexts_file: str | Path | None = None) -> list[Any]:
        """Ranked artwork candidates of a video (id or path) for a context (name or Context)."""
        return self.suggestions(video, context, k, contexts_file).candidates

    def suggestions(self, video: int | str, context: Any, k: int = 10,
                    contexts_file: str | Path | None = None) -> Any:
        """Like ``suggest`` with what was filtered and what editors rejected."""
        from media_ml.ranking.contexts import Context, get_context
        from media_ml.ranking.suggest import suggest

        ctx = context if isinstance(context, Context) else get_context(str(context),
                                                                        contexts_file)
        vid = self.video_id(video)
        embed = None
        if self.catalog.model() is not None and (ctx.prompts or ctx.negative_prompts):
            embed = self.embedder().embed_texts
        return suggest(self.catalog, vid, ctx, k, embed)

    def video_id(self, video: int | str) -> int:
        """A video's id from its id or its path."""
        if isinstance(video, int) or str(video).isdigit():
            vid = int(video)
            if not any(v.id == vid for v in self.videos()):
                raise UsageError(f"unknown video id {vid}")
            return vid
        found = self.catalog.lookup(str(Path(video).resolve()))
        if found is None:
            raise UsageError(f"{video}: not in the library")
        return found[0]

    def feedback(self, candidate: int, verdict: str, note: str | None = None) -> dict[str, Any]:
        """Record an editor's accept/reject of a candidate (context and rank are recorded)."""
        return self.catalog.add_feedback(candidate, verdict, note)

    def reindex(self, memory_budget_bytes: int | None = None) -> Any:
        """Rebuild ``DIR/index`` from the stored vectors."""
        from media_ml.search import rebuild_index

        self._index = None
        return rebuild_index(self.catalog, memory_budget_bytes)

"""The on-disk library: catalog (``catalog.py``), thumbnails and vector index, behind one
Python API.

Layout: ``DIR/catalog.sqlite``, ``DIR/thumbs/<token>/<frame>.jpg`` (one folder per committed
version of a video), ``DIR/index/`` (derived from the catalog's vectors), ``DIR/writer.lock``.

Any number of processes may read a library while one writes it: long writers (ingest, reembed,
reindex, repair) hold the writer lock; readers (``Library(dir, readonly=True)``) never need write
access and see the last committed state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from media_ml.catalog import Catalog, model_mismatch
from media_ml.errors import LibraryError, ModelLoadError, SourceChangedError, UsageError
from media_ml.lockfile import WriterLock
from media_ml.types import Keyframe, Shot, Video

if TYPE_CHECKING:
    import numpy as np

    from media_ml.catalog import Verdict
    from media_ml.extractors.clip import ClipEmbedder, ModelSpec
    from media_ml.personalize.log import DecisionRecord
    from media_ml.personalize.personalizer import Decision, LearnReport, Personalizer
    from media_ml.pipeline import Executor, IngestSettings
    from media_ml.ranking.contexts import Context
    from media_ml.ranking.suggest import Suggestions
    from media_ml.search import Hit, IndexView

log = logging.getLogger(__name__)

__all__ = ["IngestReport", "Library", "expand_paths"]

VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts",
    ".wmv", ".flv", ".ogv", ".3gp", ".mxf", ".y4m", ".h264", ".264", ".hevc", ".vob",
})
MAX_FILES = 1_000_000
# Loaded indexes per (library folder, library id): (generation id, view). See Library.index.
_INDEXES: dict[tuple[str, str], tuple[str, IndexView]] = {}
_INDEX_LOCK = threading.Lock()
# Suggestions per (library folder, question, committed state): see Library.suggest. Shared by
# every ``Library`` of a folder in the process, as the service's threads each have their own.
_SUGGESTED: dict[tuple[Any, ...], Suggestions] = {}
_SUGGESTED_LOCK = threading.Lock()
MAX_SUGGESTED = 1024


def expand_paths(paths: str | Path | Iterable[str | Path],
                 suffixes: frozenset[str] | None = None) -> list[str]:
    """Files named, and files inside folders named (recursively), as absolute paths, sorted.

    Folders contribute files with a video-like suffix; files named explicitly are always taken.
    A single path may be given as a string.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    suffixes = suffixes or VIDEO_SUFFIXES
    out: list[str] = []
    for p in paths:
        if not isinstance(p, str | Path) or not str(p).strip():
            raise UsageError(f"not a path: {p!r}")
        path = Path(p)
        if path.is_dir():
            out.extend(str(f.resolve()) for f in sorted(path.rglob("*"))
                       if f.is_file() and f.suffix.lower() in suffixes)
        elif path.exists() or path.is_symlink():
            out.append(str(path.resolve()))
        else:
            raise UsageError(f"{path}: no such file or directory")
        if len(out) > MAX_FILES:
            raise UsageError(f"more than {MAX_FILES} files to ingest; split the batch")
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


@dataclass
class IngestReport:
    """What an ingest run did, file by file (``media-ml ingest --json``)."""

    ingested: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"ingested": self.ingested, "skipped": self.skipped, "failed": self.failed}


class Library:
    """A media-ml library directory: ingest videos into it and read what it holds.

    >>> with Library("lib") as lib:                               # doctest: +SKIP
    ...     report = lib.ingest("sample_media/generated")
    ...     hits = lib.search(text="a cat", k=5)

    ``readonly=True`` opens it for reading only (no write access needed, no lock taken).
    ``wait`` is how long a long write (ingest, reembed, reindex, repair) waits for another
    process writing the library: 0 fails at once naming that process, ``None`` waits.
    """

    def __init__(self, root: str | Path, *, readonly: bool = False, create: bool | None = None,
                 wait: float | None = 0.0) -> None:
        self.root = Path(root)
        self._root_key = str(self.root.resolve())
        self.readonly = readonly
        self.catalog = Catalog(self.root, create=(not readonly) if create is None else create,
                               readonly=readonly)
        self._wait = wait
        self._lock: WriterLock | None = None
        self._lock_depth = 0
        self._model_identity: tuple[str, str] | None = None
        self._personalizer: Personalizer | None = None

    def close(self) -> None:
        if self._personalizer is not None:
            self._personalizer.close()
            self._personalizer = None
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the library's writer lock (re-entrant within this object)."""
        if self.readonly:
            raise UsageError(f"{self.root}: opened read-only")
        if self._lock_depth == 0:
            self._lock = WriterLock(self.root, wait=self._wait)
            self._lock.acquire()
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0 and self._lock is not None:
                self._lock.release()
                self._lock = None

    # -- reads -----------------------------------------------------------------------------

    def videos(self) -> list[Video]:
        return self.catalog.videos()

    def video(self, video: int | str) -> Video:
        found = self.catalog.video(self.video_id(video))
        assert found is not None
        return found

    def shots(self, video: int | str) -> list[Shot]:
        return self.catalog.shots(self.video_id(video))

    def keyframes(self, video: int | str | None = None) -> list[Keyframe]:
        return self.catalog.keyframes(None if video is None else self.video_id(video))

    def verdicts(self, video: int | str | None = None) -> list[Verdict]:
        """Editors' verdicts (of one video), oldest first."""
        return self.catalog.feedback(None if video is None else self.video_id(video))

    def video_id(self, video: int | str) -> int:
        """A video's id from its id or its path."""
        if isinstance(video, bool):
            raise UsageError(f"not a video id: {video!r}")
        if isinstance(video, int) or str(video).isdigit():
            vid = int(video)
            if not 0 < vid < 2**63 or self.catalog.video(vid) is None:
                raise UsageError(f"unknown video id {video}")
            return vid
        found = self.catalog.lookup(str(Path(video).resolve()))
        if found is None:
            raise UsageError(f"{video}: not in the library")
        return found[0]

    # -- ingest ----------------------------------------------------------------------------

    def ingest(
        self, paths: str | Path | Iterable[str | Path], *, model: str | None = None,
        model_config: str | None = None, scheduler: str | None = None,
        workers: int | None = None, settings: IngestSettings | None = None,
        client: Executor | None = None, progress: bool = True,
    ) -> IngestReport:
        """Ingest videos (files or folders) on a Dask cluster; commit each video whole.

        ``model`` is an embedding model spec (see ``extractors.clip``); by default the library's
        own model (and its model config), or ``DEFAULT_MODEL`` for a new library; ``"none"``
        skips embeddings (refused on a library that has them). Unchanged files (same content
        hash and settings) are skipped; a file that fails is reported with the reason and
        nothing of it is written; the others are committed; the index is brought up to date.
        ``workers=0`` runs everything in this process.
        """
        import dataclasses

        from media_ml.pipeline import IngestSettings, InlineExecutor, run_ingest
        from media_ml.workers.cluster import dask_client

        files = expand_paths(paths)
        settings = settings or IngestSettings()
        report = IngestReport()
        with self.writing():
            spec = self.resolve_model(model, model_config)
            settings = dataclasses.replace(settings, model=spec)
            if not files:
                return report
            known = {p: self.catalog.lookup(p) for p in files}
            if client is not None:
                ctx: Any = contextlib.nullcontext(client)
            elif workers == 0 and not scheduler:
                ctx = contextlib.nullcontext(InlineExecutor())
                settings = dataclasses.replace(settings, decoder_threads=0)
            else:
                ctx = dask_client(scheduler, workers)
            with ctx as c:
                run_ingest(self.catalog, files, known, c, settings, report, progress,
                           self._model_identity)
            if spec is not None and self.catalog.vector_count():
                from media_ml.search import sync_index

                self._forget_index()
                try:
                    sync_index(self.catalog)
                except LibraryError as e:  # the catalog is committed; the index can follow
                    log.error("index not updated (%s); run `media-ml reindex --library %s`",
                              e, self.root)
        return report

    def resolve_model(self, model: str | None, config: str | None = None) -> ModelSpec | None:
        """The ``ModelSpec`` to embed with, checked against the library's; loads it once here
        so missing weights fail before any video is decoded."""
        from media_ml.extractors.clip import DEFAULT_MODEL, ModelSpec, load_embedder
        from media_ml.extractors.clip import weights_identity as identity

        have = self.catalog.model()
        if model is not None and model.strip().lower() == "none":
            if have is not None and self.catalog.vector_count():
                raise UsageError(
                    f"{self.root}: the library holds {have[0]} embeddings, and videos ingested "
                    f"with --model none could never be found by search. Ingest with the "
                    f"library's model (leave out --model), or switch models for the whole "
                    f"library with `media-ml reembed --library {self.root} --model SPEC`")
            self._model_identity = None
            return None
        if model is None and have is not None:
            config = config or self.catalog.model_config()
        spec = ModelSpec.parse(model or (have[0] if have else DEFAULT_MODEL), config=config)
        want = (spec.name, identity(spec))
        if have is not None and have != want and self.catalog.vector_count():
            raise UsageError(model_mismatch(self.root, have, want))
        load_embedder(spec)
        self._model_identity = want
        if config and self.catalog.model_config() != str(Path(config).resolve()):
            self.catalog.set_meta("model_config", str(Path(config).resolve()))
        return spec

    def embedder(self) -> ClipEmbedder:
        """The model that made this library's vectors (for queries), loaded once and checked:
        its weights must be the ones the vectors were made with."""
        from media_ml.extractors.clip import ModelSpec, load_embedder, weights_identity

        have = self.catalog.model()
        if have is None:
            raise UsageError(f"{self.root}: library has no embeddings; ingest with a model or "
                             f"run `media-ml reembed --library {self.root} --model SPEC`")
        spec = ModelSpec.parse(have[0], config=self.catalog.model_config())
        try:
            now = weights_identity(spec)
        except OSError as e:
            raise ModelLoadError(
                f"{spec.checkpoint}: the checkpoint that made this library's vectors cannot be "
                f"read ({e.strerror}); restore it, or re-embed the library with the weights "
                f"you have: `media-ml reembed --library {self.root} --model SPEC`") from e
        if now != have[1]:
            raise ModelLoadError(model_mismatch(self.root, have, (have[0], now)))
        return load_embedder(spec)

    # -- search ----------------------------------------------------------------------------

    def search(self, *, text: str | None = None, image: str | Path | np.ndarray | None = None,
               keyframe: int | None = None, k: int = 10, video: int | None = None) -> list[Hit]:
        """Keyframes most similar to a text, an image file or a keyframe.

        >>> Library("lib").search(text="two people arguing at night", k=5)  # doctest: +SKIP
        """
        from media_ml.search import search

        return search(self.catalog, self.embedder, text=text, image=image, keyframe=keyframe,
                      k=k, video=video, index=self.index)

    def index(self) -> IndexView:
        """The vector index at the catalog's last committed state, kept while it holds.

        Shared by every ``Library`` of this directory in the process (a service's threads),
        per library id and generation: one copy in memory, never a stale one.
        """
        from media_ml.search import current_index

        state = self.catalog.state()
        key = (str(self.root.resolve()), state["library_id"])
        with _INDEX_LOCK:
            held = _INDEXES.get(key)
            if held is None or held[0] != state["generation_id"]:
                base = held[1].index if held is not None else None
                held = (state["generation_id"], current_index(self.catalog, base))
                _INDEXES[key] = held
        return held[1]

    def _forget_index(self) -> None:
        """Drop the loaded index of this library (after rewriting it on disk)."""
        with _INDEX_LOCK:
            for key in [k for k in _INDEXES if k[0] == str(self.root.resolve())]:
                del _INDEXES[key]

    def duplicates(self, threshold: float = 0.95) -> list[dict[str, Any]]:
        """Groups of near-duplicate shots across the library."""
        from media_ml.search import duplicate_groups

        return duplicate_groups(self.catalog, threshold, index=self.index)

    # -- rewriting -------------------------------------------------------------------------

    def reembed(self, model: str, *, config: str | None = None, scheduler: str | None = None,
                workers: int | None = None, client: Executor | None = None,
                progress: bool = True) -> int:
        """Replace every vector with ``model``'s embedding of the same keyframe; rebuild the
        index. All or nothing. Returns the number of vectors written."""
        from media_ml.extractors.clip import ModelSpec, load_embedder, weights_identity
        from media_ml.pipeline import InlineExecutor, compute_embeddings
        from media_ml.search import rebuild_index
        from media_ml.workers.cluster import dask_client

        if model.strip().lower() == "none":
            raise UsageError("reembed needs a model, not 'none'")
        spec = ModelSpec.parse(model, config=config)
        with self.writing():
            load_embedder(spec)
            for v in self.videos():
                self.check_source(v.id)
            if client is not None:
                ctx: Any = contextlib.nullcontext(client)
            elif workers == 0 and not scheduler:
                ctx = contextlib.nullcontext(InlineExecutor())
            else:
                ctx = dask_client(scheduler, workers)
            with ctx as c:
                vectors = compute_embeddings(self.catalog, c, spec, progress)
            self.catalog.replace_vectors(vectors, (spec.name, weights_identity(spec)), config)
            self._forget_index()
            if vectors:
                rebuild_index(self.catalog)
        return len(vectors)

    def reindex(self, memory_budget_bytes: int | None = None) -> Any:
        """Rebuild ``DIR/index`` from the stored vectors."""
        from media_ml.search import rebuild_index

        with self.writing():
            self._forget_index()
            return rebuild_index(self.catalog, memory_budget_bytes)

    def repair(self, progress: bool = True) -> dict[str, Any]:
        """Make derived files whole again: thumbnails that are missing are decoded anew from
        their (unchanged) source, folders no video refers to are removed, and the index is
        brought up to date. Returns what was done."""
        from media_ml.repair import repair

        with self.writing():
            self._forget_index()
            return repair(self, progress)

    def check_source(self, video: int | str) -> None:
        """Raise ``SourceChangedError`` if the video's file changed since it was ingested
        (size or modification time differ and the content hash no longer matches)."""
        from media_ml.workers.tasks import content_hash

        src = self.catalog.source(self.video_id(video))
        assert src is not None
        again = f"re-ingest it first: `media-ml ingest {src.path} --library {self.root}`"
        try:
            st = os.stat(src.path)
        except OSError as e:
            raise SourceChangedError(f"{src.path}: the source of video {src.video_id} is gone "
                                     f"({e.strerror}); restore it, or {again}") from e
        if st.st_size == src.size_bytes and st.st_mtime_ns == src.mtime_ns:
            return
        if st.st_size != src.size_bytes:
            why = f"{src.size_bytes} bytes when ingested, {st.st_size} now"
        else:
            if content_hash(src.path) == src.content_hash:
                self.catalog.note_source(src.video_id, st.st_size, st.st_mtime_ns)
                return
            why = "its content hash differs"
        raise SourceChangedError(f"{src.path}: changed since it was ingested ({why}); {again}")

    # -- artwork ---------------------------------------------------------------------------

    def suggest(self, video: int | str, context: str | Context, k: int = 10,
                contexts_file: str | Path | None = None) -> Suggestions:
        """Ranked artwork candidates of a video (id or path) for a context (name or Context).

        The result is a sequence of ``Candidate`` (best first) that also says what was left
        out and why (``filtered``) and which candidates editors rejected (``rejected``).
        """
        from media_ml.ranking.suggest import suggest

        vid, ctx, key = self._suggest_key(video, context, k, contexts_file)
        held = _SUGGESTED.get(key)
        if held is not None:
            return held
        embed = None
        if self.catalog.model() is not None and (ctx.prompts or ctx.negative_prompts):
            embed = self.embedder().embed_texts
        out = suggest(self.catalog, vid, ctx, k, embed)
        with _SUGGESTED_LOCK:
            if len(_SUGGESTED) >= MAX_SUGGESTED:
                _SUGGESTED.pop(next(iter(_SUGGESTED)), None)
            _SUGGESTED[key] = out
        return out

    def suggested(self, video: int | str, context: str | Context, k: int = 10,
                  contexts_file: str | Path | None = None) -> Suggestions | None:
        """What ``suggest`` would answer if it is remembered (a catalog read), else None: the
        service answers these at once and sends the rest, which may embed prompts and write
        candidates, to a thread."""
        return _SUGGESTED.get(self._suggest_key(video, context, k, contexts_file)[2])

    def _suggest_key(self, video: int | str, context: str | Context, k: int,
                     contexts_file: str | Path | None) -> tuple[int, Context, tuple[object, ...]]:
        from media_ml.ranking.contexts import Context, get_context

        ctx = context if isinstance(context, Context) else get_context(str(context),
                                                                        contexts_file)
        vid = self.video_id(video)
        # The same question about the same committed state has the same answer: remembered
        # until the video is re-ingested or re-embedded or gets a verdict in this context.
        return vid, ctx, (self._root_key, vid, repr(ctx), k,
                          self.catalog.candidates_token(vid, ctx.name))

    def feedback(self, candidate: int, verdict: str, note: str | None = None) -> Verdict:
        """Record an editor's accept/reject of a candidate (context and rank are recorded)."""
        return self.catalog.add_feedback(candidate, verdict, note)

    # -- personalization -------------------------------------------------------------------

    @property
    def personalizer(self) -> Personalizer:
        """The library's personalization loop (settings from ``DIR/personalize``)."""
        if self._personalizer is None:
            from media_ml.personalize.personalizer import Personalizer

            self._personalizer = Personalizer(self)
        return self._personalizer

    def choose(self, video: int | str, context: str, member: object = None,
               contexts_file: str | Path | None = None) -> Decision:
        """Pick the artwork for one member context, with a logged propensity.

        >>> d = lib.choose(7, "web-row", member={"device": "tv", "hour": 21})  # doctest: +SKIP
        >>> lib.reward(d.decision_id, 1.0)                                     # doctest: +SKIP
        """
        return self.personalizer.choose(video, context, member, contexts_file)

    def reward(self, decision_id: object, value: object) -> DecisionRecord:
        """Join a reward to a logged decision (late or repeated rewards aggregate)."""
        return self.personalizer.reward(decision_id, value)

    def decisions(self, after: int = 0) -> Iterator[DecisionRecord]:
        """Every logged decision in id order, with its reward (None until known)."""
        return self.personalizer.decisions(after)

    def learn(self, *, restart: bool = False, wait: float | None = 60.0) -> LearnReport:
        """Fold decisions with final rewards into the policy; write the next snapshot."""
        return self.personalizer.learn(restart=restart, wait=wait)

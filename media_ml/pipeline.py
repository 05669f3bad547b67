"""Ingest: probe → plan segments → map on workers → stitch seams → pick keyframes → commit.

The driver runs this file; workers run ``workers.tasks``. Tasks receive paths, time ranges and
frame lists, never frames. A video's results are committed by the caller in one transaction.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from media_ml.detectors import Evidence, detect, detector_set
from media_ml.detectors.learned import LearnedConfig
from media_ml.errors import DecodeError, MediaMLError, UsageError, VideoOpenError
from media_ml.extractors import video
from media_ml.extractors.clip import ModelSpec
from media_ml.extractors.grid import HIST_SIZE
from media_ml.extractors.keyframes import KeyframeConfig, plan_candidates
from media_ml.extractors.motion import STILL, global_motion
from media_ml.extractors.shots import ShotDetectorConfig, shots_from_transitions
from media_ml.types import Shot, VideoInfo, VideoResult
from media_ml.workers import tasks

if TYPE_CHECKING:
    from media_ml.catalog import Catalog
    from media_ml.library import IngestReport

log = logging.getLogger(__name__)


class Executor(Protocol):
    """What the pipeline needs of a Dask client (or of ``InlineExecutor``)."""

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...


def task_key(name: str) -> str:
    """A unique Dask key that says what the task does (dashboards, plugins, logs)."""
    import uuid

    return f"{name}-{uuid.uuid4().hex}"


def model_resources(executor: Any) -> dict[str, Any]:
    """``resources={"GPU": 1}`` when some worker of the cluster declares a GPU resource
    (``dask worker --resources GPU=1``), so embedding tasks run there; else nothing.

    Tasks are submitted as futures with the annotation, which graph optimisation cannot drop.
    """
    info = getattr(executor, "scheduler_info", None)
    if info is None:
        return {}
    workers = info().get("workers", {})
    if any(w.get("resources", {}).get("GPU", 0) >= 1 for w in workers.values()):
        return {"resources": {"GPU": 1}}
    return {}


class InlineExecutor:
    """Runs each task at once in this process: for small jobs and the ``shots`` command."""

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> cf.Future[Any]:
        for name in ("pure", "key", "resources"):
            kwargs.pop(name, None)
        fut: cf.Future[Any] = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - delivered through the future like Dask does
            fut.set_exception(e)
        return fut


@dataclass(frozen=True)
class IngestSettings:
    """Everything that changes what ingest computes; its ``fingerprint`` decides re-ingest."""

    segment_s: float = 60.0
    detector: ShotDetectorConfig = field(default_factory=ShotDetectorConfig)
    keyframes: KeyframeConfig = field(default_factory=KeyframeConfig)
    # Decoder threads per task: 1 suits Dask workers with one thread per core (the default
    # cluster); use 0 (= all cores) when running in-process with ``InlineExecutor``.
    decoder_threads: int = 1
    candidates_per_task: int = 48
    model: ModelSpec | None = None  # None: no embeddings
    # The detector set (``media_ml.detectors``): "fast", "learned" or "ensemble".
    detectors: str = "fast"
    learned: LearnedConfig = field(default_factory=LearnedConfig)

    def __post_init__(self) -> None:
        from media_ml.detectors import DETECTOR_SETS

        if self.detectors not in DETECTOR_SETS:
            raise UsageError(f"unknown detector set {self.detectors!r}; choose one of "
                             f"{', '.join(sorted(DETECTOR_SETS))}")

    def fingerprint(self, version: int | None = None) -> str:
        """What decides whether a committed video must be analysed again.

        Explicit and versioned: the settings that change results (detector, keyframes, model)
        as JSON, leaving out every field still at its default, plus ``SETTINGS_VERSION``
        (bumped when a default or an algorithm changes results). A new field added with its
        default changes nothing; segmenting and threads never count.
        """
        import hashlib
        import json

        version = SETTINGS_VERSION if version is None else version
        doc: dict[str, Any] = {
            "version": version, "detector": _changed_fields(self.detector),
            "keyframes": _changed_fields(self.keyframes),
            "model": self.model.name if self.model else None}
        if self.detectors != "fast":
            doc["detectors"] = self.detectors
            doc["learned"] = _changed_fields(self.learned)
        if self.detectors in ("fast", "ensemble"):  # a retrained scorer changes results
            from media_ml.detectors.scored import model_digest

            doc["gradual_model"] = model_digest()
        text = json.dumps(doc, sort_keys=True, default=list)
        digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
        return f"v{version}-{digest}"


# 1: the first explicit fingerprints. 2: the default detector set reads colour histograms too
# (motion-robust cuts, dissolves and wipes) and fades' ramps need a step of 2 grey levels.
# 3: scene cuts next to strobes and whip pans, and the trained gradual scorer (fast, ensemble).
# 4: the gradual scorer joins a long dissolve's two halves and drops excursions that come back;
# dips to white are fades; a change of light on the same picture is not a cut.
# 5: workers measure global motion per frame; the gradual scorer reads it (and was retrained
# with the other two generators' tuning sets).
# 6: a few frames before the first boundary (a black leader frame) are not a shot of their own.
# 7: motion rows say what a change of light leaves (``structure``); the gradual scorer reads it
# (retrained).
# 8: a cut only light explains is no learned cut; pieces of one gradual transition are joined.
# 9: frames of files whose timestamps are out of order are placed in decoding order
# (``VideoInfo.decode_order``); a glitch next to a cut no longer hides it from the motion test.
SETTINGS_VERSION = 9
# How fingerprints were made before they were versioned: the ``repr`` of the default configs of
# that release. Migration recognises videos ingested with those defaults (catalog.migrate).
LEGACY_DEFAULT_REPR = (
    "(ShotDetectorConfig(cut_ratio=3.0, cut_min=5.0, cut_fraction=0.3, block_change=8.0, "
    "baseline_window=10, flash_frames=5, flash_similarity=0.45, gradual_scales=(5, 8, 12, 17, "
    "24, 33, 45, 60), gradual_min=10.0, gradual_tolerance=5.0, betweenness=0.9, "
    "gradual_max_step=0.45, gradual_isolation=2.0, gradual_steady=0.25, black_luma=26.0, "
    "black_spread=6.0, min_shot_frames=6, chunk_frames=20000), KeyframeConfig(per_shot=3, "
    "candidates_per_slot=3, seconds_per_slot=2.0, margin_frames=2, thumbnail_side=320, "
    "analysis_side=640), {model})")


def _changed_fields(config: Any) -> dict[str, Any]:
    """A config dataclass's fields that differ from their declared defaults."""
    import dataclasses

    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        value = getattr(config, f.name)
        if value != default:
            out[f.name] = value
    return out


def analyse_shots(
    info: VideoInfo, executor: Executor, settings: IngestSettings,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[Shot], np.ndarray, list[str]]:
    """Shots of a probed video: segment features on workers, detection on the stitched grids.

    Frames no segment could decode are damage (the third value names their time spans); the
    same video gives the same shots and grids however it is cut into segments.
    """
    segments = video.plan_segments(info, settings.segment_s)
    chosen = detector_set(settings.detectors, settings.detector, settings.learned)
    futures = [executor.submit(tasks.guarded, tasks.segment_features, s,
                               settings.decoder_threads, key=task_key("segment_features"))
               for s in segments]
    learned_futures = []
    if "learned" in chosen.requires:
        from media_ml.extractors.learned import learned_segment

        extra = model_resources(executor)  # a GPU worker when the cluster has one
        learned_futures = [
            executor.submit(tasks.guarded, tasks.learned_probabilities,
                            learned_segment(info, s), info.frames, settings.decoder_threads,
                            key=task_key("learned_probabilities"), **extra)
            for s in segments]
    grids = np.zeros((info.frames, video.GRID_SIZE), np.uint8)
    hists = np.zeros((info.frames, HIST_SIZE), np.uint8)
    motion = np.tile(STILL, (info.frames, 1)).reshape(info.frames, STILL.size)
    last_thumb: np.ndarray | None = None  # of the last frame decoded so far, in frame order
    missing: list[int] = []
    damage: list[str] = []
    for fut in futures:  # in frame order
        feat = tasks.unwrap(fut.result())
        grids[feat.own_start:feat.own_end] = feat.grids
        if feat.hists is not None:
            hists[feat.own_start:feat.own_end] = feat.hists
        if feat.motion is not None:
            motion[feat.own_start:feat.own_end] = feat.motion
        if feat.edges is not None:
            first, first_thumb, last = feat.edges
            if last_thumb is not None:  # the row joining this segment to the frames before
                motion[first] = global_motion(last_thumb, first_thumb)
            last_thumb = last
        missing.extend(feat.missing)
        damage.extend(feat.damage)
        if on_progress:
            on_progress(feat.own_end - feat.own_start)
    if missing:
        if len(missing) == info.frames:
            raise DecodeError(info.path, "no frame could be decoded")
        damage.insert(0, _describe_missing(info, missing))
        # A gap holds the last frame seen before it (the first one seen, at the start): what
        # it hid is unknown, so it must read neither as black frames nor as a cut.
        seen = np.ones(info.frames, bool)
        seen[missing] = False
        source = np.maximum.accumulate(np.where(seen, np.arange(info.frames), -1))
        source[source < 0] = int(np.argmax(seen))
        grids, hists = grids[source], hists[source]
    single = many = None
    if learned_futures:
        single = np.zeros(info.frames, np.float32)
        many = np.zeros(info.frames, np.float32)
        for fut in learned_futures:
            part = tasks.unwrap(fut.result())
            single[part.own_start:part.own_end] = part.single
            many[part.own_start:part.own_end] = part.many
    evidence = Evidence(grids, learned=single, hists=hists, learned_many=many, motion=motion)
    transitions = detect(evidence, chosen)
    return shots_from_transitions(info, transitions), grids, damage


def _describe_missing(info: VideoInfo, missing: list[int]) -> str:
    spans: list[tuple[int, int]] = []
    for f in sorted(missing):
        if spans and f == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], f)
        else:
            spans.append((f, f))
    text = ", ".join(f"{info.time_of(a):.2f}-{info.time_of(b + 1):.2f}s" for a, b in spans[:5])
    more = f" and {len(spans) - 5} more spans" if len(spans) > 5 else ""
    return f"{len(missing)} of {info.frames} frames could not be decoded ({text}{more})"


def analyse_video(
    path: str, executor: Executor, settings: IngestSettings,
    on_progress: Callable[[int], None] | None = None,
    probed: tuple[VideoInfo, str] | None = None,
) -> VideoResult:
    """Everything ingest computes for one video (nothing is written)."""
    info, digest = probed or tasks.unwrap(
        executor.submit(tasks.guarded, tasks.probe_task, path, key=task_key("probe")).result())
    shots, grids, damage = analyse_shots(info, executor, settings, on_progress)
    candidates = plan_candidates(shots, grids, info.fps, settings.keyframes)
    requests = tasks.frame_requests(info, candidates)
    ref = tasks.VideoRef(info.path, info.rotation, info.width, info.height, info.decode_order)
    # Chunk by whole shots so each (shot, slot) competition happens inside one task.
    chunks: list[list[tasks.FrameRequest]] = []
    for r in requests:
        if (not chunks or len(chunks[-1]) >= settings.candidates_per_task
                and chunks[-1][-1].shot_index != r.shot_index):
            chunks.append([])
        chunks[-1].append(r)
    extra = model_resources(executor) if settings.model is not None else {}
    futures = [executor.submit(tasks.guarded, tasks.keyframe_task, ref, c, settings.keyframes,
                               settings.decoder_threads, settings.model, key=task_key("keyframes"),
                               **extra)
               for c in chunks]
    keyframes = [k for fut in futures for k in tasks.unwrap(fut.result())]
    if not keyframes and shots:
        raise DecodeError(path, "no keyframe could be decoded")
    damage.extend(info.notes)
    return VideoResult(path=info.path, content_hash=digest, info=info, shots=tuple(shots),
                       keyframes=tuple(keyframes), damage=tuple(damage))


def error_message(path: str, exc: BaseException) -> str:
    """One line naming the file and the reason, for the failure report."""
    if isinstance(exc, VideoOpenError | DecodeError):
        return str(exc)
    if isinstance(exc, MediaMLError):
        return f"{path}: {exc}"
    return f"{path}: {type(exc).__name__}: {exc}"


# How often a thread waiting for a task looks whether the ingest was stopped (seconds).
_POLL_S = 0.25


class _Stopped(Exception):
    """Raised in ``run_ingest``'s threads once it stops (Ctrl-C, or the catalog failing)."""


class _StoppableFuture:
    """A task's future whose ``result()`` gives up as soon as the ingest stops."""

    def __init__(self, future: Any, stopped: threading.Event) -> None:
        self._future = future
        self._stopped = stopped
        self._done = threading.Event()
        future.add_done_callback(lambda _: self._done.set())

    def result(self) -> Any:
        while not self._done.wait(_POLL_S):
            if self._stopped.is_set():
                raise _Stopped()
        # Done (finished, failed or cancelled): no timeout here, since fetching a finished
        # task's result from its worker may take a while.
        return self._future.result()


class _StoppableClient:
    """The client as ``run_ingest``'s threads see it: ``stop()`` cancels every task still
    wanted, refuses new ones and releases every thread waiting on one.

    Waiting in short steps rather than on cancellation alone: a thread must not hang on a future
    whatever became of its worker or of the scheduler.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._futures: weakref.WeakSet[Any] = weakref.WeakSet()  # held only while wanted
        self.stopped = threading.Event()

    def __getattr__(self, name: str) -> Any:  # scheduler_info, for model_resources
        return getattr(self._client, name)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _StoppableFuture:
        with self._lock:
            if self.stopped.is_set():
                raise _Stopped()
            future = self._client.submit(fn, *args, **kwargs)
            self._futures.add(future)
        return _StoppableFuture(future, self.stopped)

    def stop(self) -> None:
        with self._lock:
            self.stopped.set()
            pending = [f for f in self._futures if not f.done()]
        try:
            cancel = getattr(self._client, "cancel", None)
            if cancel is not None:
                cancel(pending)  # Dask: one message to the scheduler for all of them
            else:
                for f in pending:
                    f.cancel()
        except Exception as e:  # noqa: BLE001 - closing the client releases them anyway
            log.warning("could not cancel %d queued tasks: %s: %s", len(pending),
                        type(e).__name__, e)


def run_ingest(catalog: Catalog, files: list[str],
               known: dict[str, tuple[int, str, str] | None], client: Executor,
               settings: IngestSettings, report: IngestReport, progress: bool,
               model: tuple[str, str] | None) -> None:
    """Analyse ``files`` on ``client`` several at a time; commit each as it completes.

    The calling thread is the only one touching the catalog. On Ctrl-C (or any error that
    escapes) the queued tasks are cancelled and the threads released before the exception goes
    on: what was committed stays, whole, and a re-run skips it and does the rest.
    """
    from tqdm import tqdm

    from media_ml.workers.cluster import interrupts_held

    fingerprint = settings.fingerprint()
    bar = tqdm(total=0, unit="frame", unit_scale=True, disable=not progress, desc="ingest",
               dynamic_ncols=True)
    files_bar = tqdm(total=len(files), unit="video", disable=not progress, desc="videos",
                     dynamic_ncols=True)
    work = _StoppableClient(client)

    def one(path: str, probe_future: _StoppableFuture) -> tuple[str, Any]:
        info, digest = tasks.unwrap(probe_future.result())
        old = known.get(path)
        if old is not None and old[1] == digest and old[2] == fingerprint:
            return "skipped", {"path": path, "id": old[0], "content_hash": digest,
                               "reason": "unchanged"}
        bar.total += info.frames
        bar.refresh()
        return "done", analyse_video(path, work, settings, bar.update, (info, digest))

    # Not a ``with`` block: leaving one waits for every thread, which on Ctrl-C may be waiting
    # on tasks that will never finish.
    pool = cf.ThreadPoolExecutor(max_workers=min(len(files), 8), thread_name_prefix="ingest")
    interrupted = False
    try:
        probes = {p: work.submit(tasks.guarded, tasks.probe_task, p, key=task_key("probe"))
                  for p in files}
        pending = {pool.submit(one, p, f): p for p, f in probes.items()}
        for fut in cf.as_completed(pending):
            path = pending[fut]
            files_bar.update(1)
            try:
                status, value = fut.result()
                if status == "skipped":
                    report.skipped.append(value)
                    continue
                vid = catalog.commit_video(value, fingerprint, model).video_id
            except Exception as e:  # noqa: BLE001 - every failure is reported per file
                msg = error_message(path, e)
                log.error("failed: %s", msg)
                report.failed.append({"path": path, "error": msg})
                try:
                    catalog.record_failure(path, msg)
                except MediaMLError as e2:  # the report still says it; the table is a log
                    log.warning("could not record the failure in the catalog: %s", e2)
                continue
            entry = {"path": path, "id": vid, "content_hash": value.content_hash,
                     "shots": len(value.shots), "keyframes": len(value.keyframes),
                     "duration_s": round(value.info.duration_s, 3)}
            if value.damage:
                entry["damage"] = list(value.damage)
                log.warning("%s: ingested with damage: %s", path, "; ".join(value.damage))
            report.ingested.append(entry)
    except BaseException as e:
        interrupted = isinstance(e, KeyboardInterrupt)
        with interrupts_held():
            work.stop()
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        bar.close()
        files_bar.close()
        if interrupted:
            log.warning("interrupted with %d of %d videos committed; run again to resume",
                        len(report.ingested), len(files))
    pool.shutdown()
    for lst in (report.ingested, report.skipped, report.failed):
        lst.sort(key=lambda d: d["path"])


def compute_embeddings(catalog: Catalog, client: Executor, spec: ModelSpec,
                       progress: bool = True) -> dict[int, np.ndarray]:
    """Embed every keyframe of the library again with ``spec`` (decoding them from the videos).

    All or nothing: a video that is missing or changed since it was ingested makes the whole run
    fail, because an index never mixes models.
    """
    from tqdm import tqdm

    videos = catalog.videos()
    probes = {v.id: client.submit(tasks.guarded, tasks.probe_task, v.path, key=task_key("probe"))
              for v in videos}
    jobs: list[tuple[Any, dict[int, int]]] = []
    problems: list[str] = []
    for v in videos:
        try:
            info, digest = tasks.unwrap(probes[v.id].result())
        except MediaMLError as e:
            problems.append(str(e))
            continue
        if digest != v.content_hash:
            problems.append(f"{v.path}: changed since it was ingested; re-ingest it first")
            continue
        kfs = catalog.keyframes(v.id)
        by_frame = {k.frame: k.id for k in kfs}
        targets = video.frame_targets(info, sorted(by_frame))
        ref = tasks.VideoRef(info.path, info.rotation, info.width, info.height, info.decode_order)
        for i in range(0, len(targets), 64):
            fut = client.submit(tasks.guarded, tasks.embed_frames_task, ref, targets[i:i + 64],
                                spec, key=task_key("embed"), **model_resources(client))
            jobs.append((fut, by_frame))
    if problems:
        raise MediaMLError("cannot re-embed: " + "; ".join(problems))
    out: dict[int, np.ndarray] = {}
    for fut, by_frame in tqdm(jobs, desc="reembed", unit="task", disable=not progress):
        for frame, vec in tasks.unwrap(fut.result()):
            out[by_frame[frame]] = vec
    missing = catalog.keyframe_count() - len(out)
    if missing:
        raise MediaMLError(f"cannot re-embed: {missing} keyframes could not be decoded")
    return out

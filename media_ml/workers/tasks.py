"""Task functions the Dask workers run. They take paths, time ranges and frame lists and return
small picklable results; decoded frames never leave the worker."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from media_ml.errors import MediaMLError
from media_ml.extractors import video
from media_ml.extractors.clip import ModelSpec, load_embedder
from media_ml.extractors.keyframes import FrameCandidate, KeyframeConfig, candidate_score
from media_ml.extractors.learned import SegmentProbabilities, segment_probabilities
from media_ml.extractors.signals import compute_signals, detect_faces, encode_jpeg, sharpness
from media_ml.types import ExtractedKeyframe, Face, Segment, SegmentFeatures, VideoInfo

log = logging.getLogger(__name__)

_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class TaskFailure:
    """An expected failure (bad input) returned as a value, so workers do not log it as a crash."""

    error: BaseException


def guarded(fn: Any, *args: Any) -> Any:
    """Run ``fn``; return media-ml errors as ``TaskFailure`` (the driver re-raises them)."""
    try:
        return fn(*args)
    except MediaMLError as e:
        return TaskFailure(e)


def unwrap(value: Any) -> Any:
    if isinstance(value, TaskFailure):
        raise value.error
    return value


def content_hash(path: str | Path) -> str:
    """BLAKE2b of the file's bytes (hex, 32 chars): the identity of a video's content."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def probe_task(path: str) -> tuple[VideoInfo, str]:
    """Probe a video and hash its content."""
    info = video.probe(path)
    return info, content_hash(path)


def segment_features(segment: Segment, threads: int = 1) -> SegmentFeatures:
    """Decode a segment and return the analysis grid, histogram and motion row of each frame
    it owns.

    Frames the decoder could not produce are listed in ``missing`` and their rows left zero
    (motion rows ``STILL``): the driver fills every gap from the frames before it, across
    segments, so a gap reads the same however the video was cut into segments (and never as
    black frames). A frame's motion row compares it with the last frame decoded before it;
    the row of the segment's first decoded frame is left to the driver, which has the thumbnail
    of the frame before it (``edges``).
    """
    from media_ml.extractors.grid import HIST_SIZE, analysis_features
    from media_ml.extractors.motion import MOTION_FIELDS, STILL, global_motion

    n = segment.own_end - segment.own_start
    grids = np.zeros((n, video.GRID_SIZE), np.uint8)
    hists = np.zeros((n, HIST_SIZE), np.uint8)
    motion = np.tile(STILL, (n, 1)).reshape(n, len(MOTION_FIELDS))
    seen = np.zeros(n, bool)
    corrupt = 0
    first: tuple[int, np.ndarray] | None = None
    prev: np.ndarray | None = None
    for idx, frame in video.iter_segment_frames(segment, threads=threads):
        if idx < segment.own_start:
            continue  # warm-up frame
        k = idx - segment.own_start
        grids[k], hists[k], thumb = analysis_features(frame)
        if prev is None:
            first = (idx, thumb)
        else:
            motion[k] = global_motion(prev, thumb)
        prev = thumb
        seen[k] = True
        corrupt += bool(getattr(frame, "is_corrupt", False))
    missing = np.flatnonzero(~seen)
    damage: list[str] = []
    if corrupt:
        damage.append(f"{corrupt} frames decoded with errors")
    return SegmentFeatures(
        index=segment.index, own_start=segment.own_start, own_end=segment.own_end, grids=grids,
        missing=tuple(int(segment.own_start + m) for m in missing), damage=tuple(damage),
        hists=hists, motion=motion,
        edges=None if first is None or prev is None else (first[0], first[1], prev),
    )


def learned_probabilities(
    segment: Segment, video_frames: int, threads: int = 1
) -> SegmentProbabilities:
    """TransNetV2's per-frame transition probabilities of a segment's own frames.

    ``segment`` is widened on the driver with ``learned.learned_segment(info, segment)`` (the
    model's windows read up to 74 frames either side of the own frames);
    ``video_frames`` is ``info.frames``. The model is loaded once per worker process, on CUDA
    when there is one (submit with ``model_resources(client)`` to reach GPU workers), else on
    ``threads`` CPU threads. Results stitched over segments equal one pass over the video.
    """
    return segment_probabilities(segment, video_frames, threads=threads)


@dataclass(frozen=True)
class FrameRequest:
    """A candidate frame and where to decode it from (see ``video.frame_targets``)."""

    frame: int
    pts: int
    seek_pts: int | None
    time_s: float
    shot_index: int
    slot: int


@dataclass(frozen=True)
class VideoRef:
    """What a worker needs to know of a video to decode frames of it: no timeline arrays."""

    path: str
    rotation: int
    width: int
    height: int
    decode_order: bool | None = None  # VideoInfo.decode_order (None: look at the file)


def frame_requests(info: VideoInfo, candidates: list[FrameCandidate]) -> list[FrameRequest]:
    by_frame = {c.frame: c for c in candidates}
    return [FrameRequest(f, pts, seek, info.time_of(f), by_frame[f].shot_index, by_frame[f].slot)
            for f, pts, seek in video.frame_targets(info, list(by_frame))]


def keyframe_task(
    ref: VideoRef, requests: list[FrameRequest], cfg: KeyframeConfig, threads: int = 1,
    model: ModelSpec | None = None,
) -> list[ExtractedKeyframe]:
    """Decode candidate frames, keep the best of each (shot, slot), compute its signals and,
    with ``model``, its CLIP embedding (the model is loaded once per worker process)."""
    by_frame = {r.frame: r for r in requests}
    targets = [(r.frame, r.pts, r.seek_pts) for r in requests]
    best: dict[tuple[int, int], tuple[float, int, np.ndarray]] = {}
    for idx, frame in video.iter_frames_at(ref.path, targets, threads=threads,
                                           decode_order=ref.decode_order):
        r = by_frame[idx]
        rgb = video.frame_to_rgb(frame, ref.rotation, max_side=cfg.analysis_side)
        mean = float(rgb.mean()) / 255.0
        score = candidate_score(sharpness(rgb), mean, mean < 0.03)
        key = (r.shot_index, r.slot)
        if key not in best or score > best[key][0]:
            best[key] = (score, idx, rgb)
    out: list[ExtractedKeyframe] = []
    for (shot_index, _slot), (_score, idx, rgb) in sorted(best.items(), key=lambda kv: kv[1][1]):
        faces = detect_faces(rgb)
        sig = compute_signals(rgb, faces)
        scale = ref.width / rgb.shape[1]
        boxes = tuple(Face(int(f.x * scale), int(f.y * scale), int(f.w * scale),
                           int(f.h * scale)) for f in faces)
        out.append(ExtractedKeyframe(
            shot_index=shot_index, frame=idx, time_s=by_frame[idx].time_s, width=ref.width,
            height=ref.height, signals=sig, face_boxes=boxes,
            thumbnail=encode_jpeg(rgb, cfg.thumbnail_side), pts=by_frame[idx].pts,
            seek_pts=by_frame[idx].seek_pts,
        ))
    if model is not None and out:
        embedder = load_embedder(model, threads=threads)
        chosen = {idx: rgb for _s, idx, rgb in best.values()}
        vectors = embedder.embed_images([chosen[k.frame] for k in out])
        out = [replace(k, embedding=v) for k, v in zip(out, vectors, strict=True)]
    return out


def embed_query_task(model: ModelSpec, texts: list[str] | None,
                     images: list[np.ndarray] | None) -> np.ndarray:
    """Embed a search query (texts, or small images) with the worker's cached model."""
    embedder = load_embedder(model)
    if texts is not None:
        return np.asarray(embedder.embed_texts(texts), np.float32)
    return np.asarray(embedder.embed_images(images or []), np.float32)


def embed_frames_task(
    ref: VideoRef, frames: list[tuple[int, int, int | None]], model: ModelSpec,
    analysis_side: int = 640, threads: int = 1, batch_size: int = 32,
) -> list[tuple[int, np.ndarray]]:
    """Decode the given frames and embed them (``media-ml reembed``).

    A producer thread decodes and preprocesses the next batch while the model runs on this one
    (PyAV and torch both release the GIL), so decoding hides behind inference. Whichever way the
    consumer leaves (a failing model, an interrupt), it tells the producer to stop and waits for
    it: the producer never blocks on a queue nobody reads, and its file is closed on return.
    """
    import queue
    import threading

    embedder = load_embedder(model, threads=threads)
    batches: queue.Queue[tuple[list[int], np.ndarray] | BaseException | None] = queue.Queue(2)
    stop = threading.Event()

    def hand(item: tuple[list[int], np.ndarray] | BaseException | None) -> None:
        # Checked before every put: once the consumer has stopped and drained the queue, at most
        # one put is still on its way (the queue holds two), so none can block.
        if not stop.is_set():
            batches.put(item)

    def produce() -> None:
        decoded = video.iter_frames_at(ref.path, frames, threads=1, decode_order=ref.decode_order)
        try:
            idx: list[int] = []
            pix: list[np.ndarray] = []
            for i, frame in decoded:
                if stop.is_set():
                    return
                rgb = video.frame_to_rgb(frame, ref.rotation, max_side=analysis_side)
                idx.append(i)
                pix.append(embedder.preprocess(rgb))
                if len(idx) == batch_size:
                    hand((idx, np.stack(pix)))
                    idx, pix = [], []
            if idx:
                hand((idx, np.stack(pix)))
            hand(None)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, re-raised there
            hand(e)
        finally:
            decoded.close()  # the generator's own ``finally`` closes the container, here

    worker = threading.Thread(target=produce, name="embed-decode", daemon=True)
    worker.start()
    out: list[tuple[int, np.ndarray]] = []
    try:
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            idx, pix = item
            out += list(zip(idx, embedder.embed_pixels(pix), strict=True))
    finally:
        stop.set()
        while True:
            try:
                batches.get_nowait()
            except queue.Empty:
                break
        worker.join()
    return out

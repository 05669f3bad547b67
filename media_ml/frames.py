"""Frame export for researchers who need frames, not shots.

``export_frames(video, out, fps=…|every_shot=True|at=[…], size=(w, h))`` writes JPEG files named
``<stem>_<frame>_<time>.jpg`` and returns them; decoding is split into tasks over the timeline so a
long file is spread over the workers.

Arguments come from users (the CLI, notebooks), so each is bounded before any work: a rate, a
size or a list of times that would allocate without bound or end in an OpenCV assertion is a
``UsageError`` naming the argument and the limit instead.
"""

from __future__ import annotations

import itertools
import logging
import math
import numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media_ml.errors import UsageError
from media_ml.extractors import video
from media_ml.pipeline import Executor, IngestSettings, InlineExecutor, analyse_shots, task_key
from media_ml.validate import bounded_float, bounded_int, show

log = logging.getLogger(__name__)

MAX_FPS = 1000.0  # export rate; more than any video's frame rate
MAX_SIDE = 16384  # output side in pixels (JPEG itself allows up to 65535)
MAX_PIXELS = 100_000_000  # per output frame: 300 MB of RGB before encoding
MAX_TIMES = 100_000  # ``at`` times in one call
_SIZE_TEXT = re.compile(r"\s*(-?[0-9]{1,9})\s*[xX]\s*(-?[0-9]{1,9})\s*")


@dataclass(frozen=True)
class ExportJob:
    """One task's share: frames of one video to write into ``out``."""

    path: str
    rotation: int
    out: str
    stem: str
    targets: tuple[tuple[int, int, int | None], ...]
    times: tuple[float, ...]
    size: tuple[int, int] | None
    quality: int = 92
    decode_order: bool | None = None  # VideoInfo.decode_order (None: look at the file)


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` → (W, H); one side may be -1 to keep the aspect ratio. Bounded by ``check_size``.

    >>> parse_size("640x-1")
    (640, -1)
    """
    m = _SIZE_TEXT.fullmatch(text) if isinstance(text, str) and len(text) <= 40 else None
    if m is None:
        raise UsageError(f"size must look like 640x360 (or 640x-1), got {show(text)}")
    return check_size((int(m.group(1)), int(m.group(2))))


def check_size(size: object) -> tuple[int, int]:
    """An output size ``(w, h)``: integers, each in 1..MAX_SIDE or -1 (keep the aspect ratio, one
    side only), at most MAX_PIXELS pixels when both are given."""
    if not isinstance(size, tuple | list) or len(size) != 2:
        raise UsageError(f"size must be two integers (w, h), got {show(size)}")
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in size):
        raise UsageError(f"size sides must be integers, got {show(size)}")
    w, h = int(size[0]), int(size[1])
    if (w <= 0 and w != -1) or (h <= 0 and h != -1) or (w == -1 and h == -1):
        raise UsageError(f"size sides must be positive (one may be -1), got {show(size)}")
    _check_output_size(w, h, size)
    return w, h


def _check_output_size(w: int, h: int, given: object) -> None:
    if w > MAX_SIDE or h > MAX_SIDE:
        raise UsageError(f"size sides must be at most {MAX_SIDE} pixels, got {show(given)}"
                         + (f" ({w}x{h})" if given != (w, h) else ""))
    if w * h > MAX_PIXELS:
        raise UsageError(f"size must be at most {MAX_PIXELS} pixels, got {show(given)} "
                         f"({w}x{h} = {w * h})")


def output_size(size: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """``size`` with a -1 side worked out from a ``width``×``height`` picture, and bounded: a
    tall video at a given height can ask for a width beyond the limit."""
    w, h = size
    if w == -1:
        w = max(1, round(width * h / height))
    if h == -1:
        h = max(1, round(height * w / width))
    _check_output_size(w, h, size)
    return w, h


def _resize(rgb: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    import cv2

    if size is None:
        return rgb
    h, w = rgb.shape[:2]
    tw, th = size
    if tw == -1:
        tw = max(1, round(w * th / h))
    if th == -1:
        th = max(1, round(h * tw / w))
    interp = cv2.INTER_AREA if tw * th < w * h else cv2.INTER_CUBIC
    return cv2.resize(rgb, (tw, th), interpolation=interp)


def export_task(job: ExportJob) -> list[str]:
    """Decode the job's frames and write them; returns the written paths."""
    import cv2

    out = Path(job.out)
    written: list[str] = []
    time_of = {t[0]: s for t, s in zip(job.targets, job.times, strict=True)}
    for idx, frame in video.iter_frames_at(job.path, list(job.targets), threads=1,
                                           decode_order=job.decode_order):
        rgb = _resize(video.frame_to_rgb(frame, job.rotation), job.size)
        name = out / f"{job.stem}_{idx:08d}_{time_of[idx]:010.3f}s.jpg"
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, job.quality])
        if not ok:
            raise RuntimeError(f"cannot encode frame {idx}")
        tmp = name.with_suffix(".tmp")
        tmp.write_bytes(buf.tobytes())
        tmp.replace(name)
        written.append(str(name))
    return written


def select_frames(
    info: video.VideoInfo, *, fps: float | None = None, at: Iterable[float] | None = None,
    every_shot: bool = False, executor: Executor | None = None,
) -> list[int]:
    """Frame indices for one of the three selection modes.

    ``fps``: the frames on screen at 0, 1/fps, 2/fps, … seconds; ``at``: the frames on screen at
    those times (seconds from the first frame); ``every_shot``: the middle frame of each shot.
    """
    modes = sum([fps is not None, at is not None, bool(every_shot)])
    if modes != 1:
        raise UsageError("choose exactly one of fps, at, every_shot")
    times = (info.pts - info.pts[0]).astype(np.float64) * float(info.time_base)
    if fps is not None:
        rate = bounded_float(fps, "fps", low=0, high=MAX_FPS, low_open=True)
        return _frames_at_rate(times, info.duration_s, rate).tolist()
    if at is not None:
        wanted = np.asarray(sorted(check_times(at, info.duration_s)), dtype=np.float64)
        # The frame on screen at time t: the last one presented at or before t.
        idx = np.searchsorted(times, wanted + 1e-9, side="right") - 1
        return np.unique(np.clip(idx, 0, info.frames - 1)).tolist()
    shots, _, _ = analyse_shots(info, executor or InlineExecutor(), IngestSettings())
    return sorted({(s.start_frame + s.transition_frames + s.end_frame) // 2 for s in shots})


def _frames_at_rate(times: np.ndarray, duration_s: float, fps: float) -> np.ndarray:
    """The frames on screen at 0, 1/fps, 2/fps, … before ``duration_s``.

    Worked out per frame (is there a sample time while it is on screen?), not per sample time:
    memory follows the video's frame count whatever the rate, where listing the times of a
    10-hour film at 1000 fps would take 36 million of them.
    """
    n = math.ceil(duration_s * fps - 1e-6)  # samples k = 0 … n-1; k/fps < duration_s
    # Sample k shows the last frame presented at or before k/fps (1e-9 s of rounding allowed):
    # frame i shows samples first[i] … first[i+1] - 1.
    first = np.clip(np.ceil((times - 1e-9) * fps), 0, n)
    until = np.append(first[1:], n)
    return np.flatnonzero(first < until)


def check_times(at: Iterable[object], duration_s: float) -> list[float]:
    """``at`` as seconds: 1 to MAX_TIMES finite numbers, each within the video."""
    if isinstance(at, str | bytes) or not isinstance(at, Iterable):
        raise UsageError(f"at must be a list of times in seconds, got {show(at)}")
    items = list(itertools.islice(at, MAX_TIMES + 1))
    if not items:
        raise UsageError("at must list at least one time")
    if len(items) > MAX_TIMES:
        raise UsageError(f"at must list at most {MAX_TIMES} times")
    out: list[float] = []
    for t in items:
        try:
            x = float(t) if isinstance(t, numbers.Real) and not isinstance(t, bool) else math.nan
        except (OverflowError, ValueError):
            x = math.nan
        if not math.isfinite(x):
            raise UsageError(f"at times must be finite numbers of seconds, got {show(t)}")
        out.append(x)
    bad = [t for t in out if not 0 <= t <= duration_s]
    if bad:
        raise UsageError(f"at times must be within 0..{duration_s:.3f}s (the video's length); "
                         f"outside it: {show(bad)}")
    return out


def export_frames(
    path: str | Path, out: str | Path, *, fps: float | None = None,
    at: Iterable[float] | None = None, every_shot: bool = False,
    size: tuple[int, int] | None = None, executor: Executor | None = None,
    frames_per_task: int = 64,
) -> list[Path]:
    """Write the selected frames of ``path`` as JPEGs into ``out``; return their paths.

    Every argument is checked before the output folder is created or a frame decoded.
    """
    if size is not None:
        size = check_size(size)
    per_task = bounded_int(frames_per_task, "frames_per_task", low=1, high=1_000_000)
    out_dir = Path(out)
    _check_out_dir(out_dir)
    executor = executor or InlineExecutor()
    info = video.probe(path)
    if size is not None:
        size = output_size(size, info.width, info.height)
    frames = select_frames(info, fps=fps, at=at, every_shot=every_shot, executor=executor)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"out {out_dir}: cannot create the folder ({e.strerror or e})") from e
    targets = video.frame_targets(info, frames)
    times = [info.time_of(f) for f, _, _ in targets]
    jobs = [
        ExportJob(str(path), info.rotation, str(out_dir), Path(path).stem,
                  tuple(targets[i:i + per_task]), tuple(times[i:i + per_task]), size,
                  decode_order=info.decode_order)
        for i in range(0, len(targets), per_task)
    ]
    futures = [executor.submit(export_task, j, key=task_key("export_frames")) for j in jobs]
    return [Path(p) for f in futures for p in f.result()]


def _check_out_dir(out: Path) -> None:
    """Refuse, before any work, an output folder that a file stands in the way of."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"out {out}: exists and is not a folder")
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UsageError(f"out {out}: cannot create the folder ({parent} is not a folder)")

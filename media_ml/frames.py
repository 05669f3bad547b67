"""Frame export for researchers who need frames, not shots.

``export_frames(video, out, fps=…|every_shot=True|at=[…], size=(w, h))`` writes JPEG files named
``<stem>_<frame>_<time>.jpg`` and returns them; decoding is split into tasks over the timeline so a
long file is spread over the workers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media_ml.errors import UsageError
from media_ml.extractors import video
from media_ml.pipeline import Executor, IngestSettings, InlineExecutor, analyse_shots, task_key

log = logging.getLogger(__name__)


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


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` → (W, H); one side may be -1 to keep the aspect ratio."""
    try:
        w_s, h_s = text.lower().split("x")
        w, h = int(w_s), int(h_s)
    except ValueError as e:
        raise UsageError(f"--size must look like 640x360 (or 640x-1), got {text!r}") from e
    if (w <= 0 and w != -1) or (h <= 0 and h != -1) or (w == -1 and h == -1):
        raise UsageError(f"--size sides must be positive (one may be -1), got {text!r}")
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
    for idx, frame in video.iter_frames_at(job.path, list(job.targets), threads=1):
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
    info: video.VideoInfo, *, fps: float | None = None, at: list[float] | None = None,
    every_shot: bool = False, executor: Executor | None = None,
) -> list[int]:
    """Frame indices for one of the three selection modes."""
    modes = sum([fps is not None, at is not None, every_shot])
    if modes != 1:
        raise UsageError("choose exactly one of fps, at, every_shot")
    times = (info.pts - info.pts[0]).astype(np.float64) * float(info.time_base)
    if fps is not None:
        if fps <= 0:
            raise UsageError(f"fps must be > 0, got {fps}")
        wanted = np.arange(0.0, info.duration_s, 1.0 / fps)
    elif at is not None:
        bad = [t for t in at if not 0 <= t <= info.duration_s]
        if bad:
            raise UsageError(f"times outside 0..{info.duration_s:.3f}s: {bad}")
        wanted = np.asarray(sorted(at), dtype=np.float64)
    else:
        shots, _, _ = analyse_shots(info, executor or InlineExecutor(), IngestSettings())
        return sorted({(s.start_frame + s.transition_frames + s.end_frame) // 2 for s in shots})
    # The frame on screen at time t: the last one presented at or before t.
    idx = np.clip(np.searchsorted(times, wanted + 1e-9, side="right") - 1, 0, info.frames - 1)
    return sorted(set(int(i) for i in idx))


def export_frames(
    path: str | Path, out: str | Path, *, fps: float | None = None, at: list[float] | None = None,
    every_shot: bool = False, size: tuple[int, int] | None = None,
    executor: Executor | None = None, frames_per_task: int = 64,
) -> list[Path]:
    """Write the selected frames of ``path`` as JPEGs into ``out``; return their paths."""
    executor = executor or InlineExecutor()
    info = video.probe(path)
    frames = select_frames(info, fps=fps, at=at, every_shot=every_shot, executor=executor)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = video.frame_targets(info, frames)
    times = [info.time_of(f) for f, _, _ in targets]
    jobs = [
        ExportJob(str(path), info.rotation, str(out_dir), Path(path).stem,
                  tuple(targets[i:i + frames_per_task]), tuple(times[i:i + frames_per_task]), size)
        for i in range(0, len(targets), frames_per_task)
    ]
    futures = [executor.submit(export_task, j, key=task_key("export_frames")) for j in jobs]
    return [Path(p) for f in futures for p in f.result()]

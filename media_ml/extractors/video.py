"""PyAV probing and decoding of frame ranges.

``probe`` demuxes the video stream once (no decoding) to learn every frame's presentation
timestamp and where decoding can start; ``plan_segments`` cuts the timeline at keyframes;
``decode_segment`` decodes one segment on a worker, mapping each decoded frame to its global index
through its timestamp, so segments decoded independently agree with a single pass.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Generator, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from media_ml.errors import DecodeError, VideoOpenError
from media_ml.types import Segment, VideoInfo

log = logging.getLogger(__name__)

# Analysis grid: block means of luma (16×9) and of each chroma plane (8×4). Enough to see cuts,
# dissolves, fades and wipes; small enough (208 bytes a frame) to keep a film's worth in memory.
Y_GRID = (9, 16)
C_GRID = (4, 8)
GRID_SIZE = Y_GRID[0] * Y_GRID[1] + 2 * C_GRID[0] * C_GRID[1]

_PLANAR_8BIT = {
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuvj440p",
    "yuv411p", "yuv410p",
}
_PLANAR_16BIT = {"yuv420p10le": 2, "yuv422p10le": 2, "yuv444p10le": 2, "yuv420p12le": 4,
                 "yuv422p12le": 4, "yuv444p12le": 4}


def _open(path: str | Path):
    import av

    p = Path(path)
    if not p.exists():
        raise VideoOpenError(p, "no such file")
    if p.is_dir():
        raise VideoOpenError(p, "is a directory")
    if p.stat().st_size == 0:
        raise VideoOpenError(p, "empty file (0 bytes)")
    try:
        container = av.open(str(p), metadata_errors="ignore")
    except av.error.FFmpegError as e:
        raise VideoOpenError(p, f"not a readable media file ({_reason(e)})") from e
    if not container.streams.video:
        kinds: list[str] = sorted({str(s.type) for s in container.streams}) or ["none"]
        container.close()
        raise VideoOpenError(p, f"no video stream (streams: {', '.join(kinds)})")
    return container


def _reason(e: BaseException) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return str(msg).strip() or type(e).__name__


def _stream_rotation(stream) -> int:
    """Display rotation (counter-clockwise degrees, multiple of 90) from side data or tags."""
    rot = 0
    tag = (stream.metadata or {}).get("rotate")
    if tag is not None:
        try:
            rot = -int(float(tag))  # the legacy tag is clockwise
        except ValueError:
            rot = 0
    return int(round(rot / 90.0)) * 90 % 360


def probe(path: str | Path) -> VideoInfo:
    """Read a video's geometry and frame timeline without decoding pixels.

    Raises ``VideoOpenError`` for files that are not videos, ``DecodeError`` for a container that
    breaks while demuxing before any frame is found.
    """
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 90000)
        pts_list: list[int] = []
        key_pts: list[int] = []
        n_none = 0
        notes: list[str] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # flush packet
                if packet.pts is None:
                    n_none += 1
                    continue
                pts_list.append(int(packet.pts))
                if packet.is_keyframe:
                    key_pts.append(int(packet.pts))
        except av.error.FFmpegError as e:
            if not pts_list and not n_none:
                raise DecodeError(path, f"container is unreadable ({_reason(e)})") from e
            log.warning("%s: demuxing stopped early: %s", path, _reason(e))
            notes.append(f"container damaged after {len(pts_list)} frames: {_reason(e)}")
        rotation = _probe_rotation(container, stream)
        coded_w = stream.codec_context.width
        coded_h = stream.codec_context.height
        codec = stream.codec_context.name
        pix_fmt = stream.codec_context.pix_fmt or "unknown"
        start = stream.start_time
        avg_rate = stream.average_rate or stream.guessed_rate
        declared = None
        if stream.duration is not None:
            declared = float(stream.duration * tb)
        elif container.duration is not None:
            declared = container.duration / 1_000_000
    finally:
        container.close()

    if n_none and not pts_list:
        # Streams without timestamps (raw elementary streams): count frames by decoding.
        return _probe_by_decoding(path, rotation)
    if not pts_list:
        raise VideoOpenError(path, "video stream has no frames")
    pts = np.unique(np.asarray(pts_list, dtype=np.int64))  # sorted, duplicates dropped
    keys = np.unique(np.asarray(key_pts, dtype=np.int64))
    if keys.size == 0 or keys[0] != pts[0]:
        keys = np.concatenate([[pts[0]], keys])
    key_idx = np.unique(np.searchsorted(pts, keys))
    key_idx = key_idx[key_idx < pts.size]
    deltas = np.diff(pts)
    step = float(np.median(deltas)) if deltas.size else float(1 / (float(tb) * 25))
    vfr = bool(deltas.size > 1 and (np.abs(deltas - step) > max(1.0, 0.02 * step)).mean() > 0.01)
    duration_s = float((int(pts[-1]) - int(pts[0]) + step) * tb)
    fps = float(avg_rate) if avg_rate else (pts.size / duration_s if duration_s > 0 else 0.0)
    if vfr and duration_s > 0:
        fps = pts.size / duration_s
    if declared and declared > 1.0 and duration_s < 0.9 * declared:
        notes.append(f"file ends early: frames found up to {duration_s:.2f}s of the "
                     f"{declared:.2f}s the container declares (truncated?)")
    w, h = (coded_h, coded_w) if rotation % 180 else (coded_w, coded_h)
    del start  # the first frame's own pts is the reference; stream.start_time can precede it
    return VideoInfo(
        path=str(path), width=int(w), height=int(h), rotation=rotation, fps=fps,
        frames=int(pts.size), duration_s=duration_s, start_time_s=float(int(pts[0]) * tb),
        time_base=Fraction(tb), codec=codec, pix_fmt=pix_fmt, vfr=vfr, pts=pts, keyframes=key_idx,
        notes=tuple(notes),
    )


def _probe_rotation(container, stream) -> int:
    """Rotation from the first decoded frame's display matrix (what players apply)."""
    import av

    try:
        container.seek(0)
        for frame in container.decode(stream):
            return int(round(getattr(frame, "rotation", 0) / 90.0)) * 90 % 360
    except av.error.FFmpegError:
        pass
    return _stream_rotation(stream)


def _probe_by_decoding(path: str | Path, rotation: int) -> VideoInfo:
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        n = 0
        w = h = 0
        pix = "unknown"
        for frame in container.decode(stream):
            n += 1
            w, h, pix = frame.width, frame.height, frame.format.name
    finally:
        container.close()
    if n == 0:
        raise VideoOpenError(path, "video stream has no decodable frames")
    tb = Fraction(1, 1) / Fraction(rate)
    pts = np.arange(n, dtype=np.int64)
    if rotation % 180:
        w, h = h, w
    return VideoInfo(
        path=str(path), width=w, height=h, rotation=rotation, fps=float(rate), frames=n,
        duration_s=float(n * tb), start_time_s=0.0, time_base=tb, codec="unknown", pix_fmt=pix,
        vfr=False, pts=pts, keyframes=np.array([0]),
    )


def plan_segments(
    info: VideoInfo, segment_s: float = 60.0, warmup_frames: int = 0, min_frames: int = 1
) -> list[Segment]:
    """Cut the timeline into keyframe-aligned segments of about ``segment_s`` seconds.

    Segment ``i`` owns frames ``[k_i, k_{i+1})`` where ``k`` are chosen keyframes; it starts
    decoding ``warmup_frames`` earlier (at the keyframe before that point) so features that look
    back in time are computed exactly as in a single pass.
    """
    n = info.frames
    if segment_s <= 0:
        raise ValueError("segment_s must be > 0")
    if info.fps <= 0 or n <= 1 or not info.keyframes.size:
        bounds = [0, n]
    else:
        # Equal shares of the timeline, each cut moved to the nearest keyframe: segments of
        # even length keep every worker busy until the end.
        target = max(min_frames, int(segment_s * info.fps))
        count = max(1, round(n / target))
        keys = info.keyframes
        bounds = [0]
        for i in range(1, count):
            ideal = i * n / count
            j = int(np.searchsorted(keys, ideal))
            near = min((keys[max(0, j - 1)], keys[min(j, keys.size - 1)]),
                       key=lambda k: abs(int(k) - ideal))
            if bounds[-1] < int(near) < n:
                bounds.append(int(near))
        bounds.append(n)
    segments: list[Segment] = []
    keys = info.keyframes
    for i in range(len(bounds) - 1):
        own_start, own_end = bounds[i], bounds[i + 1]
        want = max(0, own_start - warmup_frames)
        # Decode from the last keyframe at or before the first frame we need.
        j = int(np.searchsorted(keys, want, side="right")) - 1
        first = int(keys[j]) if j >= 0 else 0
        seek = None if first == 0 else int(info.pts[first])
        segments.append(
            Segment(
                path=info.path, index=i, seek_pts=seek, first_frame=first, own_start=own_start,
                own_end=own_end, stop_frame=own_end,
                pts=tuple(int(p) for p in info.pts[first:own_end]),
            )
        )
    return segments


def iter_segment_frames(segment: Segment, threads: int = 0) -> Iterator[tuple[int, object]]:
    """Decode a segment, yielding ``(frame_index, av.VideoFrame)`` in presentation order.

    Packets the decoder rejects are skipped (their frames are simply not yielded), so a file
    damaged mid-stream still yields what can be decoded; callers detect the gaps. Raises
    ``VideoOpenError`` when the file cannot be opened at all.
    """
    import av

    container = _open(segment.path)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        ctx.thread_type = "AUTO"
        ctx.thread_count = threads if threads > 0 else (os.cpu_count() or 1)
        pts = np.asarray(segment.pts, dtype=np.int64)
        if segment.seek_pts is not None:
            container.seek(segment.seek_pts, stream=stream, backward=True, any_frame=False)
        last_pts = int(pts[-1]) if pts.size else -1
        counter = segment.first_frame
        done = False
        errors = 0
        for packet in _safe_demux(container, stream):
            try:
                frames = stream.decode(packet)
            except av.error.FFmpegError as e:
                errors += 1
                log.debug("%s: packet rejected: %s", segment.path, _reason(e))
                if errors > 1000:
                    raise DecodeError(segment.path, "too many undecodable packets") from e
                continue
            for frame in frames:
                if frame.pts is None:
                    idx = counter
                else:
                    if frame.pts > last_pts:
                        done = True
                        break
                    k = int(np.searchsorted(pts, frame.pts))
                    if k >= pts.size or pts[k] != frame.pts:
                        continue  # a frame we do not index (e.g. before the seek point)
                    idx = segment.first_frame + k
                counter = idx + 1
                if idx >= segment.stop_frame:
                    done = True
                    break
                yield idx, frame
            if done:
                break
    finally:
        container.close()


def _safe_demux(container, stream) -> Iterator[Any]:
    """Demux, stopping (not raising) when the container breaks: truncated files end early."""
    import av

    it = container.demux(stream)
    while True:
        try:
            packet = next(it)
        except StopIteration:
            return
        except av.error.FFmpegError as e:
            log.warning("demuxing stopped: %s", _reason(e))
            return
        yield packet


def _plane_array(plane, dtype=np.uint8) -> np.ndarray:
    itemsize = np.dtype(dtype).itemsize
    buf = np.frombuffer(plane, dtype=dtype)
    stride = plane.line_size // itemsize
    return buf[: plane.height * stride].reshape(plane.height, stride)[:, : plane.width]


def _block_means(a: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Block-average a plane to ``grid`` after striding it down to ~8 samples per block side.

    Striding first, then OpenCV's area resize: ~0.08 ms for the three planes of a 720p frame
    (0.13 ms with numpy block means; resizing the whole plane would cost ~1.7 ms).
    """
    import cv2

    gh, gw = grid
    h, w = a.shape
    sy = max(1, h // (gh * 8))
    sx = max(1, w // (gw * 8))
    s = a[::sy, ::sx]
    if s.dtype != np.uint8:
        s = s.astype(np.float32)
    return np.asarray(cv2.resize(s, (gw, gh), interpolation=cv2.INTER_AREA), np.float32)


def analysis_grid(frame) -> np.ndarray:
    """The frame's analysis features: block means of Y, U and V as ``GRID_SIZE`` uint8 values.

    Reads the decoded planes directly (no colour conversion, no scaling call) for planar YUV; other
    pixel formats go through one small ``reformat``. Values are in the stream's own range.
    """
    name = frame.format.name
    if name in _PLANAR_8BIT:
        y, u, v = (_plane_array(p) for p in frame.planes[:3])
    elif name in _PLANAR_16BIT:
        shift = _PLANAR_16BIT[name]
        y, u, v = ((_plane_array(p, np.uint16) >> shift) for p in frame.planes[:3])
    elif name in ("gray", "gray8"):
        y = _plane_array(frame.planes[0])
        u = v = np.full((2, 2), 128, np.uint8)
    else:
        small = frame.reformat(width=128, height=72, format="yuv444p")
        y, u, v = (_plane_array(p) for p in small.planes[:3])
    out = np.empty(GRID_SIZE, np.float32)
    ny = Y_GRID[0] * Y_GRID[1]
    nc = C_GRID[0] * C_GRID[1]
    out[:ny] = _block_means(y, Y_GRID).ravel()
    out[ny : ny + nc] = _block_means(u, C_GRID).ravel()
    out[ny + nc :] = _block_means(v, C_GRID).ravel()
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def frame_to_rgb(frame, rotation: int = 0, max_side: int | None = None) -> np.ndarray:
    """Convert a decoded frame to an RGB array in display orientation, optionally downscaled."""
    w, h = frame.width, frame.height
    if max_side and max(w, h) > max_side:
        scale = max_side / max(w, h)
        w, h = max(2, int(round(w * scale))), max(2, int(round(h * scale)))
        rgb = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
    else:
        rgb = frame.to_ndarray(format="rgb24")
    k = (rotation // 90) % 4
    if k:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=k))
    return rgb


def frame_targets(info: VideoInfo, frames: list[int]) -> list[tuple[int, int, int | None]]:
    """``(frame, pts, seek_pts)`` for each wanted frame: where to seek to decode it."""
    out: list[tuple[int, int, int | None]] = []
    for f in sorted(set(frames)):
        if not 0 <= f < info.frames:
            raise ValueError(f"frame {f} outside 0..{info.frames - 1}")
        j = int(np.searchsorted(info.keyframes, f, side="right")) - 1
        k = int(info.keyframes[j]) if j >= 0 else 0
        out.append((f, int(info.pts[f]), None if k == 0 else int(info.pts[k])))
    return out


def iter_frames_at(
    path: str, targets: list[tuple[int, int, int | None]], threads: int = 0
) -> Generator[tuple[int, object], None, None]:
    """Decode just the frames in ``targets`` (from ``frame_targets``), in order.

    Seeks to a target's keyframe only when that keyframe lies ahead of the decoder's position, so
    close targets share one decoding run and far ones skip what lies between. Targets that cannot
    be decoded (damaged or cut-off data, or a file changed since it was probed) are skipped with a
    warning; callers detect the missing frames. A caller that stops early calls ``close()`` to
    close the file at once rather than when the generator is collected.
    """
    if not targets:
        return
    container = _open(path)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        ctx.thread_type = "AUTO"
        ctx.thread_count = threads if threads > 0 else (os.cpu_count() or 1)
        yield from _SparseReader(container, stream, path).frames_at(targets)
    finally:
        container.close()


class _SparseReader:
    """Decodes chosen frames of one open container, seeking only where that gains something.

    The plan (keyframe and pts of each target) comes from a probe that may no longer match the
    file: it can have been replaced, or its demuxer may seek by estimate. So every seek goes
    through ``_seek_for``, which looks at where decoding actually starts and backs off to an
    earlier position when it landed past the target; and a seek is only made to a place not yet
    tried for that target, and forward only while forward seeks make progress. A file that does
    not match the plan therefore costs a few extra seeks and at most one pass, never a loop.
    """

    def __init__(self, container: Any, stream: Any, path: str) -> None:
        self.container = container
        self.stream = stream
        self.path = path
        tb = stream.time_base or Fraction(1, 90000)
        self.second = max(1, int(1 / tb))  # one second of pts: beyond any B-frame reordering
        self.goal = 0  # pts of the next wanted frame; frames far before it need not be shown
        self.skipping = False
        self.tried: dict[int, int] = {}  # seek position -> the target it was made for
        self.seek_ahead = True  # cleared when a forward seek lands no later than the last one

    def frames_at(self, targets: list[tuple[int, int, int | None]]) -> Iterator[tuple[int, Any]]:
        """``(frame, av.VideoFrame)`` for each target found, in order; warns of the others."""
        n = len(targets)
        i = 0
        run: Iterator[Any] | None = None  # decoded frames from the last seek on
        run_key: int | None = None  # the keyframe that seek was for (None: the start)
        landed: int | None = None  # pts of the first frame that seek gave
        while i < n:
            self.goal = targets[i][1]
            if run is None:
                _, pts, key = targets[i]
                run, first = self._seek_for(i, pts, key)
                if first is not None:
                    if landed is not None and first <= landed:
                        # The file's keyframes are not where the plan says: decode straight on.
                        log.debug("%s: seeking made no progress; decoding on", self.path)
                        self.seek_ahead = False
                    landed = first
                run_key = key
            for frame in run:
                pos = int(frame.pts)
                while i < n and targets[i][1] < pos:
                    self._missing(targets[i][0])
                    i += 1
                if i < n and targets[i][1] == pos:
                    yield targets[i][0], frame
                    i += 1
                if i >= n:
                    return
                self.goal = targets[i][1]
                key = targets[i][2]
                if self.seek_ahead and _after(key, run_key) and key is not None and key > pos:
                    break  # the next target's keyframe lies ahead: seek there
            else:
                # The run ended before target i: it and the targets this run covered are lost.
                self._missing(targets[i][0])
                i += 1
                while i < n and not (self.seek_ahead and _after(targets[i][2], run_key)):
                    self._missing(targets[i][0])
                    i += 1
            run = None

    def _seek_for(
        self, i: int, pts: int, key: int | None
    ) -> tuple[Iterator[Any], int | None]:
        """Seek so that target ``i`` (at ``pts``, keyframe ``key``) lies ahead of the decoder.

        Returns the decoded frames from there on and the pts of the first one (None: nothing
        decodable from there). A seek that lands past ``pts`` or fails is retried from earlier
        positions, one second back and doubling, down to the start of the file: MPEG-TS and -PS
        land on the keyframe after a time that is not a keyframe in the file.
        """
        import av

        point = key  # None: the start of the file
        back = self.second
        while True:
            where = 0 if point is None else point
            if self.tried.get(where) == i:
                # Never twice to the same place for the same target: that is how loops start.
                log.debug("%s: already sought to %d for target %d", self.path, where, i)
                return iter(()), None
            self.tried[where] = i
            try:
                self.container.seek(where, stream=self.stream, backward=True, any_frame=False)
            except av.error.FFmpegError as e:
                log.debug("%s: seek to %d failed: %s", self.path, where, _reason(e))
                if point is None:
                    return iter(()), None
            else:
                frames = self._decode()
                first = next(frames, None)
                if first is None:
                    return frames, None
                if int(first.pts) <= pts or point is None:
                    return itertools.chain([first], frames), int(first.pts)
                log.debug("%s: seek to %d landed at %d, past %d; backing off", self.path, where,
                          first.pts, pts)
            point = point - back if point - back > 0 else None
            back *= 2

    def _decode(self) -> Iterator[Any]:
        """Decoded frames with a timestamp from the demuxer's position, in presentation order.

        Far before the goal only reference frames matter, so the others are not decoded.
        Packets the decoder rejects are skipped (their frames are missing, not fatal).
        """
        import av

        ctx = self.stream.codec_context
        for packet in _safe_demux(self.container, self.stream):
            far = packet.pts is not None and packet.pts < self.goal - self.second
            if far != self.skipping:
                ctx.skip_frame = "NONREF" if far else "DEFAULT"
                self.skipping = far
            try:
                frames = self.stream.decode(packet)
            except av.error.FFmpegError as e:
                log.debug("%s: packet rejected: %s", self.path, _reason(e))
                continue
            for frame in frames:
                if frame.pts is not None:
                    yield frame

    def _missing(self, frame: int) -> None:
        log.warning("%s: frame %d could not be decoded", self.path, frame)


def _after(key: int | None, run_key: int | None) -> bool:
    """Whether keyframe ``key`` lies after ``run_key`` (None is the start of the file)."""
    return key is not None and (run_key is None or key > run_key)

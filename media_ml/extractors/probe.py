"""Probing: a video's geometry and frame timeline, from one demux pass without decoding.

``probe`` learns every frame's presentation timestamp and the frames decoding can start at
(keyframes); the rest of the package plans and decodes from that ``VideoInfo``. ``open_video``
is the one place files are opened, so every reader fails with the same ``VideoOpenError``.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from media_ml.errors import DecodeError, VideoOpenError
from media_ml.types import VideoInfo

log = logging.getLogger(__name__)


def open_video(path: str | Path) -> Any:
    """Open ``path`` with PyAV; ``VideoOpenError`` names the file and why it is no video."""
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
        raise VideoOpenError(p, f"not a readable media file ({reason(e)})") from e
    if not container.streams.video:
        kinds: list[str] = sorted({str(s.type) for s in container.streams}) or ["none"]
        container.close()
        raise VideoOpenError(p, f"no video stream (streams: {', '.join(kinds)})")
    return container


def reason(e: BaseException) -> str:
    """FFmpeg's own words for an error, for messages and logs."""
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

    container = open_video(path)
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
                raise DecodeError(path, f"container is unreadable ({reason(e)})") from e
            log.warning("%s: demuxing stopped early: %s", path, reason(e))
            notes.append(f"container damaged after {len(pts_list)} frames: {reason(e)}")
        rotation, decode_order, anchored = _probe_first_frames(container, stream)
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
    if decode_order and not anchored:
        # Keyframes shown later than their timestamps say (open GOPs): a seek to one cannot be
        # placed, so every read starts at the first frame (one segment, no seeking).
        log.info("%s: timestamps out of order and keyframes not where they are shown: "
                 "read from the start", path)
        key_idx = key_idx[:1]
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
        notes=tuple(notes), decode_order=decode_order,
    )


# Frames decoded at probing to see whether the decoder's timestamps follow its output order, and
# (when they do not) how far to look for keyframes to check.
ORDER_CHECK_FRAMES = 48
ANCHOR_CHECK_FRAMES = 1000
ANCHOR_CHECK_KEYS = 2


def _probe_first_frames(container, stream, anchors: bool = True) -> tuple[int, bool, bool]:
    """``(rotation, decode_order, anchored)`` from the first decoded frames.

    Rotation comes from the first frame's display matrix (what players apply). A stream that
    can reorder frames (B-frames) is decoded for ``ORDER_CHECK_FRAMES`` frames: the decoder gives
    them in presentation order, so timestamps that go back mean they were muxed wrongly (decode
    times stored as presentation times, or packed B-frames in AVI), and frames must be placed by
    their decoding order, as players and FFmpeg's best-effort timestamps do. Such a stream is
    decoded on until ``ANCHOR_CHECK_KEYS`` more keyframes have shown whether a keyframe's own
    timestamp is when it is shown (``anchored``): with open GOPs it is not, and decoding can only
    start at the first frame (``anchors=False``: not checked, reported True).
    """
    import av

    from media_ml.extractors.retime import Retimer

    rotation: int | None = None
    backwards = False
    anchored = True
    keys = 0
    retimer = Retimer()  # one pass from the start: each frame's presentation time, in order
    try:
        container.seek(0)
        last: int | None = None
        limit = ORDER_CHECK_FRAMES if stream.codec_context.has_b_frames else 1
        i = 0
        for packet in container.demux(stream):
            retimer.packet(packet)
            for frame in stream.decode(packet):
                if rotation is None:
                    rotation = int(round(getattr(frame, "rotation", 0) / 90.0)) * 90 % 360
                shown = retimer.next()
                if frame.pts is not None:
                    backwards |= last is not None and int(frame.pts) <= last
                    last = int(frame.pts)
                    if frame.key_frame and i > 0:
                        keys += 1
                        anchored &= int(frame.pts) == shown
                i += 1
                if i >= limit and not backwards:
                    return rotation, False, True
                if backwards and not anchors:
                    return rotation, True, True
                if backwards and (keys >= ANCHOR_CHECK_KEYS or not anchored
                                  or i >= ANCHOR_CHECK_FRAMES):
                    return rotation, True, anchored and keys > 0
    except av.error.FFmpegError:
        pass
    # The end of the stream (or of what decodes) before any answer.
    return (_stream_rotation(stream) if rotation is None else rotation), backwards, anchored


def decode_order_of(path: str | Path) -> bool:
    """``VideoInfo.decode_order`` of a file without probing it all (decodes a few frames)."""
    container = open_video(path)
    try:
        return _probe_first_frames(container, container.streams.video[0], anchors=False)[1]
    finally:
        container.close()


def _probe_by_decoding(path: str | Path, rotation: int) -> VideoInfo:
    container = open_video(path)
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

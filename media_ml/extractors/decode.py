"""Decoding: the frames of a segment, or just chosen frames, mapped to frame indices.

Both readers position the decoder through the one ``Seeker`` (which checks where a seek landed)
and map each decoded frame to its index in the probed timeline through its timestamp, so
segments decoded independently, chosen frames and one pass all agree frame for frame. Where the
decoder's timestamps are out of presentation order (``VideoInfo.decode_order``), ``Retimer``
gives frames the timestamps they should have carried first.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np

from media_ml.errors import DecodeError
from media_ml.extractors.probe import decode_order_of, open_video, reason
from media_ml.extractors.retime import Retimer
from media_ml.extractors.seek import Seeker, safe_demux
from media_ml.types import Segment

log = logging.getLogger(__name__)

# A segment gives up after this many packets the decoder rejects: the file is garbage, not damaged.
MAX_REJECTED_PACKETS = 1000


def _open_stream(path: str, threads: int) -> tuple[Any, Any]:
    """The open container and its video stream, decoding on ``threads`` threads (0: all cores)."""
    container = open_video(path)
    stream = container.streams.video[0]
    ctx = stream.codec_context
    ctx.thread_type = "AUTO"
    ctx.thread_count = threads if threads > 0 else (os.cpu_count() or 1)
    return container, stream


def iter_segment_frames(segment: Segment, threads: int = 0) -> Iterator[tuple[int, Any]]:
    """Decode a segment, yielding ``(frame_index, av.VideoFrame)`` in presentation order.

    Decoding starts at the segment's keyframe, or before it when the seek lands late. Packets the
    decoder rejects are skipped (their frames are simply not yielded), so a file damaged
    mid-stream still yields what can be decoded; callers detect the gaps. Raises
    ``VideoOpenError`` when the file cannot be opened at all.
    """
    container, stream = _open_stream(segment.path, threads)
    try:
        pts = np.asarray(segment.pts, dtype=np.int64)
        if not pts.size:
            return
        seeker = Seeker(container, stream, segment.path,
                        lambda: _decoded(container, stream, segment.path,
                                         segment.decode_order))
        frames, _ = seeker.seek(int(pts[0]), segment.seek_pts)
        last_pts = int(pts[-1])
        counter = segment.first_frame
        for frame in frames:
            if frame.pts is None:
                idx = counter
            else:
                if frame.pts > last_pts:
                    break
                k = int(np.searchsorted(pts, frame.pts))
                if k >= pts.size or pts[k] != frame.pts:
                    continue  # a frame we do not index (e.g. before the segment's keyframe)
                idx = segment.first_frame + k
            counter = idx + 1
            if idx >= segment.stop_frame:
                break
            yield idx, frame
    finally:
        container.close()


def _decoded(container: Any, stream: Any, path: str, decode_order: bool = False
             ) -> Iterator[Any]:
    """Every frame decoded from the demuxer's position on, in presentation order (with
    presentation timestamps: ``decode_order`` retimes them with a ``Retimer``)."""
    import av

    rejected = 0
    retimer = Retimer() if decode_order else None
    for packet in safe_demux(container, stream):
        if retimer is not None:
            retimer.packet(packet)
        try:
            frames = stream.decode(packet)
        except av.error.FFmpegError as e:
            rejected += 1
            log.debug("%s: packet rejected: %s", path, reason(e))
            if rejected > MAX_REJECTED_PACKETS:
                raise DecodeError(path, "too many undecodable packets") from e
            continue
        if retimer is not None:
            frames = [retimer.frame(f) for f in frames]
        yield from frames


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


def iter_frames_at(
    path: str, targets: list[tuple[int, int, int | None]], threads: int = 0,
    decode_order: bool | None = None,
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
    container, stream = _open_stream(path, threads)
    try:
        if decode_order is None:
            decode_order = decode_order_of(path)
        yield from _SparseReader(container, stream, path, decode_order).frames_at(targets)
    finally:
        container.close()


class _SparseReader:
    """Decodes chosen frames of one open container, seeking only where that gains something.

    The plan (keyframe and pts of each target) comes from a probe that may no longer match the
    file: it can have been replaced, or its demuxer may seek by estimate. Every seek goes through
    the ``Seeker``, which checks where decoding starts and backs off when it landed past the
    target, never twice to one place for one target; and seeks go forward only while forward
    seeks make progress. A file that does not match the plan therefore costs a few extra seeks
    and at most one pass, never a loop.
    """

    def __init__(self, container: Any, stream: Any, path: str, decode_order: bool = False
                 ) -> None:
        self.container = container
        self.stream = stream
        self.path = path
        self.decode_order = decode_order  # VideoInfo.decode_order: retime every frame
        self.seeker = Seeker(container, stream, path, self._decode)
        self.second = self.seeker.second  # far before the goal: beyond any B-frame reordering
        self.goal = 0  # pts of the next wanted frame; frames far before it need not be shown
        self.skipping = False
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
                run, first = self.seeker.seek(pts, key, i)
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

    def _decode(self) -> Iterator[Any]:
        """Decoded frames with a timestamp from the demuxer's position, in presentation order.

        Far before the goal only reference frames matter, so the others are not decoded.
        Packets the decoder rejects are skipped (their frames are missing, not fatal).
        """
        import av

        ctx = self.stream.codec_context
        retimer = Retimer() if self.decode_order else None
        for packet in safe_demux(self.container, self.stream):
            # Retiming needs every frame: a skipped one would leave its timestamp behind.
            far = (retimer is None and packet.pts is not None
                   and packet.pts < self.goal - self.second)
            if far != self.skipping:
                ctx.skip_frame = "NONREF" if far else "DEFAULT"
                self.skipping = far
            if retimer is not None:
                retimer.packet(packet)
            try:
                frames = self.stream.decode(packet)
            except av.error.FFmpegError as e:
                log.debug("%s: packet rejected: %s", self.path, reason(e))
                continue
            for frame in frames:
                if retimer is not None:
                    retimer.frame(frame)
                if frame.pts is not None:
                    yield frame

    def _missing(self, frame: int) -> None:
        log.warning("%s: frame %d could not be decoded", self.path, frame)


def _after(key: int | None, run_key: int | None) -> bool:
    """Whether keyframe ``key`` lies after ``run_key`` (None is the start of the file)."""
    return key is not None and (run_key is None or key > run_key)

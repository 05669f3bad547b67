"""The one seek routine: put a decoder before a wanted frame, and make sure it is there.

A demuxer's seek is a request, not a promise. Formats without an index (MPEG-TS, M2TS, MPEG-PS)
bisect the file on timestamps, and indexes such as AVI's hold decode times: with B-frames a
keyframe is decoded before it is shown, so a seek to its presentation time lands on the keyframe
after it, a GOP late. A file replaced since it was probed has its keyframes elsewhere. So every
seek, for segments and for single frames alike, decodes the first frame and looks at it; when it
lies past the wanted one (or nothing is left to decode), the seek is made again from earlier: a
quarter second back first, which clears B-frame reordering so that decoding starts at the
keyframe itself, then doubling, down to the start of the file. No position is tried twice for
the same target, so a file that does not match its plan costs a few extra seeks, never a loop.
Where seeks land right (MP4, MKV, MOV) the check costs nothing.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Hashable, Iterator
from fractions import Fraction
from typing import Any

from media_ml.extractors.probe import reason

log = logging.getLogger(__name__)


class Seeker:
    """Seeks one open container's video ``stream``; ``decode`` yields frames from its position.

    ``decode`` is called anew after each seek and must yield decoded frames in presentation
    order (each reader brings its own: segments decode everything, sparse reading skips
    non-reference frames far from the goal).
    """

    def __init__(self, container: Any, stream: Any, path: str,
                 decode: Callable[[], Iterator[Any]]) -> None:
        self.container = container
        self.stream = stream
        self.path = path
        self.decode = decode
        tb = stream.time_base or Fraction(1, 90000)
        self.second = max(1, int(1 / tb))  # one second in pts units
        self.tried: dict[int, Hashable] = {}  # seek position -> the target it was made for
        self.fresh = True  # nothing read yet: the decoder is at the start of the file

    def seek(
        self, pts: int, key: int | None, target: Hashable = 0
    ) -> tuple[Iterator[Any], int | None]:
        """Seek so that the frame at ``pts`` (keyframe at ``key``; None: the start) lies ahead.

        Returns the decoded frames from there on and the pts of the first one (None: nothing
        decodable from there). ``target`` names what the seek is for: a position already tried
        for the same target is not tried again.
        """
        import av

        point = key  # None: the start of the file
        back = max(1, self.second // 4)
        while True:
            if point is None and self.fresh:
                # The start of a file just opened: no seek (some streams cannot seek at all).
                self.fresh = False
                self.tried[0] = target
                return self._from_here()
            self.fresh = False
            where = 0 if point is None else point
            if self.tried.get(where) == target:
                log.debug("%s: already sought to %d for %r", self.path, where, target)
                return iter(()), None
            self.tried[where] = target
            try:
                self.container.seek(where, stream=self.stream, backward=True, any_frame=False)
            except av.error.FFmpegError as e:
                log.debug("%s: seek to %d failed: %s", self.path, where, reason(e))
                if point is None:
                    return iter(()), None
            else:
                frames, first = self._from_here()
                if point is None or first is not None and first <= pts:
                    return frames, first
                # Past the frame, or at the end of the file (a seek to the last keyframe of an
                # MPEG-TS can land there): try from earlier.
                log.debug("%s: seek to %d landed at %s, past %d; backing off", self.path, where,
                          "the end" if first is None else first, pts)
            point = point - back if point - back > 0 else None
            back *= 2

    def _from_here(self) -> tuple[Iterator[Any], int | None]:
        """The frames from the decoder's position and the first one's pts (None: no frame)."""
        frames = self.decode()
        first = next(frames, None)
        if first is None:
            return frames, None
        # A frame without a timestamp cannot be placed: take it as the one wanted.
        at = int(first.pts) if first.pts is not None else -(1 << 62)
        return itertools.chain([first], frames), at


def safe_demux(container: Any, stream: Any) -> Iterator[Any]:
    """Demux, stopping (not raising) when the container breaks: truncated files end early."""
    import av

    it = container.demux(stream)
    while True:
        try:
            packet = next(it)
        except StopIteration:
            return
        except av.error.FFmpegError as e:
            log.warning("demuxing stopped: %s", reason(e))
            return
        yield packet

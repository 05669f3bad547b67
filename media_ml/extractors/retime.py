"""Presentation timestamps for files whose decoder gives them out of order (``Retimer``)."""

from __future__ import annotations

import heapq
from typing import Any


class Retimer:
    """Presentation timestamps for a decoder whose own are out of order.

    Files muxed with decode times as presentation times (packed MPEG-4 B-frames in AVI, MP4s
    without composition offsets) decode in presentation order, but each frame carries a
    timestamp of another. Each frame gets the smallest timestamp of the packets fed so far that
    no frame has taken, as FFmpeg's best-effort timestamps and players order them; a keyframe
    whose own timestamp no frame has taken yet keeps it and drops the smaller ones left (a
    packet that gave no frame), so an error does not outlive its GOP. Decoding from a keyframe
    agrees with one pass where a keyframe's own timestamp is when it is shown (closed GOPs);
    ``probe`` checks that and otherwise leaves only the first frame to start decoding from.
    """

    def __init__(self) -> None:
        self.waiting: list[int] = []  # a heap of fed timestamps no frame has taken

    def packet(self, packet: Any) -> None:
        if packet.pts is not None:
            heapq.heappush(self.waiting, int(packet.pts))

    def next(self) -> int | None:
        """The timestamp the next frame of one pass from the start takes (None: none fed)."""
        return heapq.heappop(self.waiting) if self.waiting else None

    def frame(self, frame: Any) -> Any:
        w = self.waiting
        if frame.key_frame and frame.pts is not None and int(frame.pts) in w:
            while w and w[0] < frame.pts:
                heapq.heappop(w)
            w.remove(int(frame.pts))
            heapq.heapify(w)
        elif w:
            frame.pts = heapq.heappop(w)
        return frame

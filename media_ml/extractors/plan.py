"""Plans: which frames to decode from where, worked out from a probe before any decoding.

``plan_segments`` cuts the timeline at keyframes into pieces workers decode independently;
``frame_targets`` says, for each frame wanted alone, the keyframe to start decoding it from.
Both are pure functions of a ``VideoInfo``; ``decode`` carries them out.
"""

from __future__ import annotations

import numpy as np

from media_ml.types import Segment, VideoInfo


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
                decode_order=info.decode_order,
            )
        )
    return segments


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

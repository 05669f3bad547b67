"""Video access with PyAV: the names the rest of media-ml uses, from the modules that hold them.

- ``probe``: a video's geometry and frame timeline, without decoding (``probe.py``);
- ``plan_segments``, ``frame_targets``: what to decode from where (``plan.py``);
- ``iter_segment_frames``, ``iter_frames_at``, ``frame_to_rgb``: decoding (``decode.py``), which
  positions the decoder through the one seek routine (``seek.py``);
- ``analysis_grid``, ``GRID_SIZE``: what shot detection reads of a frame (``grid.py``).
"""

from __future__ import annotations

from media_ml.extractors.decode import frame_to_rgb, iter_frames_at, iter_segment_frames
from media_ml.extractors.grid import C_GRID, GRID_SIZE, Y_GRID, analysis_grid
from media_ml.extractors.plan import frame_targets, plan_segments
from media_ml.extractors.probe import open_video, probe
from media_ml.types import Segment, VideoInfo

__all__ = [
    "C_GRID", "GRID_SIZE", "Y_GRID", "analysis_grid", "frame_targets", "frame_to_rgb",
    "iter_frames_at", "iter_segment_frames", "open_video", "plan_segments", "probe", "Segment",
    "VideoInfo",
]

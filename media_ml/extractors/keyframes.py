"""Representative frames per shot.

The driver plans *candidates* from the analysis grids (inside each shot, away from its
transitions, not black); a worker decodes them, scores sharpness and exposure and keeps the best
candidate of each *slot* (a shot is split into up to ``per_shot`` temporal slots so its
keyframes spread over it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from media_ml.extractors.shots import ShotDetectorConfig, _black
from media_ml.types import Shot


@dataclass(frozen=True)
class KeyframeConfig:
    """How many keyframes a shot gets and how many candidates compete for each."""

    per_shot: int = 3
    candidates_per_slot: int = 3
    seconds_per_slot: float = 2.0
    margin_frames: int = 2
    thumbnail_side: int = 320
    analysis_side: int = 640

    def __post_init__(self) -> None:
        if self.per_shot < 1 or self.candidates_per_slot < 1:
            raise ValueError("per_shot and candidates_per_slot must be >= 1")
        if self.seconds_per_slot <= 0:
            raise ValueError("seconds_per_slot must be > 0")


@dataclass(frozen=True)
class FrameCandidate:
    """A frame competing for slot ``slot`` of shot ``shot_index``."""

    frame: int
    shot_index: int
    slot: int


def plan_candidates(
    shots: list[Shot], grids: np.ndarray, fps: float, cfg: KeyframeConfig | None = None
) -> list[FrameCandidate]:
    """Candidate frames for every shot, sorted by frame."""
    cfg = cfg or KeyframeConfig()
    black = _black(grids, ShotDetectorConfig()) if len(grids) else np.zeros(0, bool)
    black = black | flash_frames(grids)
    out: list[FrameCandidate] = []
    for shot in shots:
        lo = shot.start_frame + shot.transition_frames + (cfg.margin_frames
                                                          if shot.transition_in else 0)
        hi = shot.end_frame - cfg.margin_frames
        if hi <= lo:  # very short shot: take its middle
            lo, hi = shot.start_frame, shot.end_frame
        usable = [f for f in range(lo, hi) if f < len(black) and not black[f]]
        if not usable:
            usable = list(range(lo, hi))
        if not usable:
            continue
        span_s = len(usable) / fps if fps > 0 else 0.0
        slots = int(min(cfg.per_shot, max(1, round(span_s / cfg.seconds_per_slot))))
        for slot, part in enumerate(np.array_split(np.asarray(usable), slots)):
            if part.size == 0:
                continue
            picks = np.unique(np.linspace(0, part.size - 1, cfg.candidates_per_slot + 2)[1:-1]
                              .round().astype(int)) if part.size > 2 else np.arange(part.size)
            for p in picks.tolist():
                out.append(FrameCandidate(int(part[p]), shot.index, slot))
    out.sort(key=lambda c: c.frame)
    return out


def flash_frames(grids: np.ndarray, jump: float = 18.0, window: int = 6) -> np.ndarray:
    """Frames much brighter than the frames around them (camera flashes, strobes)."""
    if not len(grids):
        return np.zeros(0, bool)
    from media_ml.extractors.video import Y_GRID

    luma = grids[:, : Y_GRID[0] * Y_GRID[1]].astype(np.float32).mean(axis=1)
    pad = np.pad(luma, window, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(pad, 2 * window + 1)
    return np.asarray(luma - np.median(windows, axis=1) > jump)


def candidate_score(sharpness: float, brightness: float, black: bool) -> float:
    """How good a candidate looks before the detailed signals: sharp, not black, well exposed."""
    if black:
        return -1.0
    exposure_penalty = max(0.0, abs(brightness - 0.45) - 0.25) * 4
    return float(np.log1p(sharpness)) - exposure_penalty

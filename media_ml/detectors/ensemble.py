"""Detectors that weigh both kinds of evidence (the ``ensemble`` set).

Grid evidence places a cut on the exact frame and tells cuts, fades, dissolves and wipes apart,
but inside a moving shot every frame changes and a whip pan looks like a cut. TransNetV2 was
trained on moving footage and rarely fires inside a shot, but misses wipes. So a grid cut is
kept when the learned evidence supports it (and no flash explains it), and the learned detector
then adds what the grids missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from media_ml.detectors.base import Evidence, Transition
from media_ml.detectors.histograms import (
    flash_like,
    hist_dist,
    normalised,
    relit,
    scene_distance,
)
from media_ml.extractors import shots as algo
from media_ml.extractors.shots import ShotDetectorConfig


@dataclass(frozen=True)
class ConfirmedCutDetector:
    """Grid cuts (``CutDetector``'s candidates, flashes vetoed) that TransNetV2 supports: its
    single-frame probability reaches ``support`` within two frames of the cut. With histograms
    in the evidence the change must also happen at once (``HistogramCutDetector``'s ``abrupt``
    test), which a whip pan to another part of the scene does not."""

    config: ShotDetectorConfig = field(default_factory=ShotDetectorConfig)
    support: float = 0.5
    abrupt: float = 0.6
    scene_window: int = 6
    name: str = "confirmed-cut"
    requires: frozenset[str] = frozenset({"grids", "learned"})

    def __post_init__(self) -> None:
        if not 0.0 <= self.support < 1.0:
            raise ValueError("support must be in [0, 1)")
        if not 0.0 <= self.abrupt <= 1.0 or not 2 <= self.scene_window <= 50:
            raise ValueError("abrupt must be in [0, 1] and scene_window 2..50 frames")

    @property
    def context(self) -> int:
        return self.config.context

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        assert evidence.learned is not None
        g, p = evidence.grids, evidence.learned
        h = None if evidence.hists is None else normalised(evidence.hists)
        out = []
        for c in algo._cut_candidates(g, self.config):
            t = c.frame
            if blocked[max(0, t - 2) : t + 3].any():
                continue
            if float(p[max(0, t - 3) : t + 2].max()) < self.support:
                continue
            if flash_like(evidence, t, c.strength, self.config) or relit(g, t):
                continue
            if h is not None and (float(hist_dist(h[t], h[t - 1]))
                                  < self.abrupt * scene_distance(h, t, self.scene_window)):
                continue
            out.append(c)
        return out

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        blocked[transition.frame] = True

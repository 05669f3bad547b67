"""Cuts that stand out once camera motion is taken away (``MotionCutDetector``).

Inside a moving shot every frame differs from the one before, so a cut's frame change does not
stand out; between two framings of one scene the colours hardly change, so the histograms do
not see it either. The global-motion rows (``extractors.motion``) do: a shift explains a pan's
change from frame to frame, and nothing explains a cut's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from media_ml.detectors.base import Evidence, Transition
from media_ml.detectors.histograms import _check, _check_frames, flash_like, relit
from media_ml.extractors import shots as algo
from media_ml.extractors.motion import RESIDUAL, RESPONSE
from media_ml.extractors.shots import ShotDetectorConfig


@dataclass(frozen=True)
class MotionCutDetector:
    """A cut where the change no global shift explains (``residual``, grey levels) is at least
    ``residual_min`` and ``ratio`` × that of every frame within ``window`` either side, the
    phase correlation found no shift (peak under ``response_max``), and neither a flash nor a
    change of light explains it. A whip pan or a strobe leaves residual change on several
    frames in a row; a cut on one. Runs last and keeps ``guard`` frames away from what other
    detectors claimed.
    """

    config: ShotDetectorConfig = field(default_factory=ShotDetectorConfig)
    residual_min: float = 8.0
    ratio: float = 3.0
    response_max: float = 0.5
    window: int = 6
    guard: int = 6
    name: str = "motion-cut"
    requires: frozenset[str] = frozenset({"grids", "hists", "motion"})

    def __post_init__(self) -> None:
        _check(self, residual_min=(0.0, 255.0), ratio=(1.0, 100.0), response_max=(0.0, 1.0))
        _check_frames(self, window=(1, 50), guard=(0, 50))

    @property
    def context(self) -> int:
        return self.window + self.guard + self.config.flash_frames + 2  # + the flash test

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        m = evidence.motion
        if m is None or evidence.frames < 3:
            return []
        r = m[:, RESIDUAL]
        w = self.window
        out: list[Transition] = []
        for t in np.flatnonzero(r >= self.residual_min).tolist():
            if t < 1 or m[t, RESPONSE] > self.response_max:
                continue
            if blocked[max(0, t - self.guard) : t + self.guard + 1].any():
                continue
            around = np.concatenate([r[max(1, t - w) : t], r[t + 1 : t + 1 + w]])
            if around.size and r[t] < self.ratio * float(around.max()):
                continue
            change = float(algo._dist(evidence.grids[t], evidence.grids[t - 1]))
            if relit(evidence.grids, t) or flash_like(evidence, t, change, self.config):
                continue
            out.append(Transition(t, "cut", 0, change))
        return out

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        blocked[transition.frame] = True

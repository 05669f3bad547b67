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
    frames in a row; a cut on one. A glitch or a flash near the cut (a picture that comes back
    within ``despike``'s three frames, see ``glitch_changes``) is left out of the comparison.
    Runs last and keeps ``guard`` frames away from what other detectors claimed.
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
            near = [u for u in range(max(1, t - w), min(r.size, t + 1 + w)) if u != t]
            if near and r[t] < self.ratio * float(r[near].max()):
                glitches = glitch_changes(evidence.grids, near[0], near[-1] + 1)
                near = [u for u in near if u not in glitches]
                if not near or r[t] < self.ratio * float(r[near].max()):
                    continue
            change = float(algo._dist(evidence.grids[t], evidence.grids[t - 1]))
            if relit(evidence.grids, t) or flash_like(evidence, t, change, self.config):
                continue
            out.append(Transition(t, "cut", 0, change))
        return out

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        blocked[transition.frame] = True


def glitch_changes(grids: np.ndarray, lo: int, hi: int, max_frames: int = 3,
                   ratio: float = 0.5) -> set[int]:
    """The frame changes in ``lo … hi-1`` that go away from a picture or come back to it: a run
    of up to ``max_frames`` frames after which the picture before it returns (within ``ratio``
    × both changes, on the grids), as a glitch, a flash or a strobe does and a cut never does.
    """
    n = grids.shape[0]
    out: set[int] = set()
    for s in range(max(1, lo - max_frames), min(hi, n)):
        away = float(algo._dist(grids[s], grids[s - 1]))
        for e in range(s + 1, min(n, s + max_frames + 1)):
            back = float(algo._dist(grids[e], grids[e - 1]))
            if float(algo._dist(grids[s - 1], grids[e])) < ratio * min(away, back):
                out.update((s, e))
                break
    return out

"""The fast detectors: fades, hard cuts, dissolves and wipes from the analysis grids, and the
flash/glitch suppressor. Each reads one ``ShotDetectorConfig`` (validated on construction); the
algorithms live in ``media_ml.extractors.shots``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from media_ml.detectors.base import Evidence, Transition
from media_ml.extractors import shots as algo
from media_ml.extractors.shots import ShotDetectorConfig


@dataclass(frozen=True)
class FadeDetector:
    """Fades through black: a run of black frames reached and/or left by a luminance ramp.

    Claims every fade span it recognises, also those it does not report (a fade-out that ends
    the video), so no cut or dissolve is read inside one.
    """

    config: ShotDetectorConfig = field(default_factory=ShotDetectorConfig)
    name: str = "fade"
    requires: frozenset[str] = frozenset({"grids"})

    @property
    def context(self) -> int:
        return self.config.context

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        g = evidence.grids
        n = g.shape[0]
        out: list[Transition] = []
        for s, e, at_start, at_end in algo._fades(g, self.config):
            blocked[max(0, s - 1) : min(n, e + 1)] = True
            if not at_start and not at_end and s > 0:
                out.append(Transition(s, "fade", e - s, 255.0))
            elif at_start and not at_end:
                out.append(Transition(0, "fade", e, 255.0))  # fade-in from black at the start
        return out

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        pass  # claimed in detect


@dataclass(frozen=True)
class CutDetector:
    """Hard cuts: a change between consecutive frames that stands out from its neighbourhood
    (``cut_ratio`` × the median change before and after) over most of the picture."""

    config: ShotDetectorConfig = field(default_factory=ShotDetectorConfig)
    name: str = "cut"
    requires: frozenset[str] = frozenset({"grids"})

    @property
    def context(self) -> int:
        return self.config.context

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        return [c for c in algo._cut_candidates(evidence.grids, self.config)
                if not blocked[max(0, c.frame - 2) : c.frame + 3].any()]

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        blocked[transition.frame] = True  # no gradual window spans a cut


@dataclass(frozen=True)
class GradualDetector:
    """Dissolves and wipes: isolated windows whose inside lies between its ends, block by
    block, with progress spread over several frames."""

    config: ShotDetectorConfig = field(default_factory=ShotDetectorConfig)
    name: str = "gradual"
    requires: frozenset[str] = frozenset({"grids"})

    @property
    def context(self) -> int:
        return self.config.context

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        return algo._graduals(evidence.grids, self.config, blocked)

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        blocked[transition.frame : transition.frame + transition.length] = True


@dataclass(frozen=True)
class FlashSuppressor:
    """Vetoes a cut when frames straddling it a few frames apart look alike: a camera flash, a
    strobe or a one-frame glitch returns to the picture before it; a cut never does."""

    config: ShotDetectorConfig = field(default_factory=ShotDetectorConfig)
    name: str = "flash"

    @property
    def context(self) -> int:
        return self.config.flash_frames + 2

    def keep(self, evidence: Evidence, transition: Transition) -> bool:
        if transition.kind != "cut" or transition.frame < 1:
            return True
        g = evidence.grids
        change = float(algo._dist(g[transition.frame], g[transition.frame - 1]))
        return not algo._flash_like(g, transition.frame, change, self.config)


@dataclass(frozen=True)
class HistogramCutDetector:
    """Hard cuts that hold under camera motion: a grid cut candidate whose colour histogram
    also jumps — by at least ``hist_min`` and ``hist_ratio`` × the median jump of the frames
    around it — and that no flash explains (on the grids or on the histograms).

    Inside a moving shot every frame's grid changes, so a whip pan passes the grid test; the
    histogram of a moving shot changes little, and a cut changes it at once.
    """

    config: ShotDetectorConfig = field(default_factory=ShotDetectorConfig)
    hist_min: float = 0.1
    hist_ratio: float = 5.0
    window: int = 10
    name: str = "histogram-cut"
    requires: frozenset[str] = frozenset({"grids", "hists"})

    @property
    def context(self) -> int:
        return self.config.context

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        from media_ml.detectors.ensemble import _flash_in_hists, _hist_dist

        if evidence.hists is None:
            return CutDetector(self.config).detect(evidence, blocked)
        g = evidence.grids
        h = evidence.hists.astype(np.float32) / 255.0
        n = g.shape[0]
        jumps = np.zeros(n, np.float32)
        if n > 1:
            jumps[1:] = _hist_dist(h[1:], h[:-1])
        out: list[Transition] = []
        for c in algo._cut_candidates(g, self.config):
            t = c.frame
            if blocked[max(0, t - 2) : t + 3].any():
                continue
            around = np.concatenate([jumps[max(1, t - self.window) : max(1, t - 1)],
                                     jumps[t + 2 : t + 1 + self.window]])
            base = float(np.median(around)) if around.size else 0.0
            if jumps[t] < max(self.hist_min, self.hist_ratio * base):
                continue
            if algo._flash_like(g, t, c.strength, self.config) or _flash_in_hists(
                    evidence.hists, t, self.config):
                continue
            out.append(c)
        return out

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        blocked[transition.frame] = True

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
    block, with progress spread over several frames. With ``despike`` (and histograms in the
    evidence) flash frames are taken out first (``histograms.despike``), so a strobe or a flash
    during the transition does not break its progress."""

    config: ShotDetectorConfig = field(default_factory=ShotDetectorConfig)
    despike: bool = False
    name: str = "gradual"
    requires: frozenset[str] = frozenset({"grids"})

    @property
    def context(self) -> int:
        return self.config.context

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        if self.despike:
            from media_ml.detectors.histograms import despike

            evidence = despike(evidence)
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

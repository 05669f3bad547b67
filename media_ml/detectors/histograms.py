"""Evidence from colour histograms, which camera motion hardly changes: cuts that hold while
the camera moves, wipes and dissolves between moving shots, and the flash test on histograms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from media_ml.detectors.base import Evidence, Transition
from media_ml.detectors.classic import CutDetector
from media_ml.extractors import shots as algo
from media_ml.extractors.shots import ShotDetectorConfig
from media_ml.types import TransitionKind


def flash_in_hists(hists: np.ndarray, t: int, cfg: ShotDetectorConfig) -> bool:
    """The flash test on histograms, which camera motion hardly changes: some pair of frames
    straddling ``t`` up to ``flash_frames + 1`` apart has nearly the histogram before the jump."""
    n = hists.shape[0]
    h = hists.astype(np.float32) / 255.0
    jump = float(hist_dist(h[t], h[t - 1]))
    if jump <= 0:
        return False
    f = cfg.flash_frames
    for i in range(1, f + 2):
        for j in range(0, f + 2 - i):
            if (i, j) == (1, 0) or t - i < 0 or t + j >= n:
                continue
            if float(hist_dist(h[t - i], h[t + j])) < cfg.flash_similarity * jump:
                return True
    return False


def hist_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean over Y, U, V of the total-variation distance between histograms (0..1)."""
    d = np.abs(a - b)
    return 0.5 * d.sum(axis=-1) / 3.0


def flash_like(evidence: Evidence, t: int, change: float, cfg: ShotDetectorConfig) -> bool:
    """A flash, strobe or glitch explains the change at ``t``: on the grids, or (camera motion
    hardly changing them) on the histograms when the evidence has them."""
    if algo._flash_like(evidence.grids, t, change, cfg):
        return True
    return evidence.hists is not None and flash_in_hists(evidence.hists, t, cfg)



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
        if evidence.hists is None:
            return CutDetector(self.config).detect(evidence, blocked)
        g = evidence.grids
        h = evidence.hists.astype(np.float32) / 255.0
        n = g.shape[0]
        jumps = np.zeros(n, np.float32)
        if n > 1:
            jumps[1:] = hist_dist(h[1:], h[:-1])
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
            if flash_like(evidence, t, c.strength, self.config):
                continue
            out.append(c)
        return out

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        blocked[transition.frame] = True


@dataclass(frozen=True)
class HistogramGradualDetector:
    """Dissolves and wipes between moving shots, from the colour histograms.

    Camera motion moves pixels but hardly changes a shot's histogram, while a wipe or a
    dissolve carries it from one shot's to the other's. A window ``[a, b]`` is a transition when
    the histograms at its ends differ much more than over the windows before and after it, and
    every histogram inside lies near the straight path between them, progressing over several
    frames (a cut jumps in one).
    """

    config: ShotDetectorConfig = field(default_factory=ShotDetectorConfig)
    scales: tuple[int, ...] = (6, 9, 13, 18, 25, 35)
    chord_min: float = 0.3
    isolation: float = 3.5
    residual_max: float = 0.3
    max_step: float = 0.5
    returns: int = 1
    name: str = "histogram-gradual"
    requires: frozenset[str] = frozenset({"grids", "hists"})

    @property
    def context(self) -> int:
        return (self.returns + 2) * max(self.scales) + 8

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        if evidence.hists is None:
            return []
        per = evidence.hists.astype(np.float32).reshape(evidence.frames, 3, -1)
        per /= np.maximum(1.0, per.sum(axis=2, keepdims=True))
        h = per.reshape(evidence.frames, -1)
        n = h.shape[0]
        cands: list[tuple[float, int, int]] = []
        for L in self.scales:
            if 2 * L >= n:
                continue
            chord = hist_dist(h[:-L], h[L:])  # chord[a]: from a to a + L
            m = chord.size
            before = np.full(m, np.inf, np.float32)
            after = np.full(m, np.inf, np.float32)
            before[L:] = chord[: m - L]
            after[: m - L] = chord[L:]
            near = np.maximum(np.where(np.isfinite(before), before, 0),
                              np.where(np.isfinite(after), after, 0))
            ok = np.flatnonzero((chord >= self.chord_min) & (chord >= self.isolation * near)
                                & (np.isfinite(before) | np.isfinite(after)))
            for a in ok.tolist():
                b = a + L
                if blocked[a + 1 : b + 1].any():
                    continue
                # Something passing through the picture (an occlusion, a whip pan away and
                # back) returns to where it was; a transition does not.
                later = h[min(n - 1, b + self.returns * L)]
                if float(hist_dist(h[a], later)) < 0.5 * float(chord[a]):
                    continue
                found = self._window(h, a, b)
                if found is not None:
                    s, e = found
                    cands.append((float(chord[a]), s, e))
        cands.sort(key=lambda c: -c[0])
        taken = np.zeros(n + 1, bool)
        out: list[Transition] = []
        for score, s, e in cands:
            if taken[max(0, s - 2) : e + 3].any():
                continue
            taken[s:e] = True
            out.append(Transition(s, self._kind(evidence.grids, s, e), e - s, score))
        return out

    def _window(self, h: np.ndarray, a: int, b: int) -> tuple[int, int] | None:
        A, B = h[a], h[b]
        diff = B - A
        norm = float(diff @ diff)
        if norm <= 0:
            return None
        inside = h[a + 1 : b]
        alpha = ((inside - A) @ diff) / norm
        path = A + np.clip(alpha, 0, 1)[:, None] * diff
        residual = np.abs(inside - path).sum(axis=1) / max(1e-6, float(np.abs(diff).sum()))
        if float(residual.mean()) > self.residual_max:
            return None
        steps = np.diff(np.concatenate([[0.0], alpha, [1.0]]))
        if steps.max() > self.max_step or (steps < -0.15).any():
            return None
        s = a + 1 + int(np.argmax(alpha > 0.1)) if (alpha > 0.1).any() else b
        e = a + 1 + int(np.argmax(alpha >= 0.9)) if (alpha >= 0.9).any() else b
        return (s, e) if e - s >= 2 else None

    @staticmethod
    def _kind(grids: np.ndarray, s: int, e: int) -> TransitionKind:
        """A wipe switches each block from old to new; a dissolve moves all together."""
        lo, hi = max(0, s - 1), min(grids.shape[0] - 1, e)
        A = grids[lo].astype(np.float32)
        B = grids[hi].astype(np.float32)
        diff = B - A
        big = np.abs(diff) > 15
        if big.sum() < 4 or hi - lo < 3:
            return "dissolve"
        beta = (grids[lo + 1 : hi, big].astype(np.float32) - A[big]) / diff[big]
        switched = float(np.mean((np.abs(beta) < 0.25) | (np.abs(beta - 1) < 0.25)))
        return "wipe" if switched >= 0.6 else "dissolve"

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        blocked[transition.frame : transition.frame + transition.length] = True

"""Evidence from colour histograms, which camera motion hardly changes: cuts that hold while
the camera moves or the light strobes, wipes and dissolves between moving shots, the flash test
on histograms, and flash frames taken out before gradual transitions are looked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from media_ml.detectors.base import Evidence, Transition
from media_ml.detectors.classic import CutDetector
from media_ml.extractors import shots as algo
from media_ml.extractors.shots import _NY, ShotDetectorConfig
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


def normalised(hists: np.ndarray) -> np.ndarray:
    """Histograms as shares (0..1), float32."""
    return hists.astype(np.float32) / 255.0


def scene_distance(h: np.ndarray, t: int, window: int) -> float:
    """Distance between the median histograms of the ``window`` frames before ``t`` and of the
    ``window`` frames from ``t`` on: how much the scene changes at ``t``, robust to a few
    flash or strobe frames on either side."""
    before, after = h[max(0, t - window) : t], h[t : t + window]
    if not len(before) or not len(after):
        return 0.0
    return float(hist_dist(np.median(before, axis=0), np.median(after, axis=0)))


def despike(evidence: Evidence, max_frames: int = 3, jump_min: float = 0.15,
            ratio: float = 0.5) -> Evidence:
    """The evidence with flash frames taken out: a run of up to ``max_frames`` frames whose
    histogram jumps away (by at least ``jump_min``) and comes back (the frame after the run is
    within ``ratio`` × the jump of the frame before it) is replaced, grids and histograms, by
    the straight blend of the frames around it.

    A strobe or a camera flash during a dissolve or a wipe breaks the smooth progress the
    gradual detectors look for; a cut never comes back, so it is left alone. Local (each
    decision reads ``max_frames + 1`` frames ahead), so chunked runs agree with one pass.
    """
    if evidence.hists is None or evidence.frames < 3:
        return evidence
    h = normalised(evidence.hists)
    n = h.shape[0]
    jumps = np.zeros(n, np.float32)
    jumps[1:] = hist_dist(h[1:], h[:-1])
    spikes: list[tuple[int, int]] = []
    starts = np.flatnonzero(jumps >= jump_min)
    for t in starts.tolist():
        if t < 1 or (spikes and t <= spikes[-1][1]):  # inside or the return of the last
            continue
        for k in range(1, max_frames + 1):
            e = t + k  # the first frame after the run
            if e >= n:
                break
            back = float(hist_dist(h[t - 1], h[e]))
            if back < ratio * jumps[t] and jumps[e] >= 0.5 * ratio * jumps[t]:
                spikes.append((t, e))
                break
    if not spikes:
        return evidence
    hh = h.copy()
    gg = evidence.grids.astype(np.float32)
    for s, e in spikes:
        w = (np.arange(1, e - s + 1, dtype=np.float32) / (e - s + 1))[:, None]
        hh[s:e] = hh[s - 1] * (1 - w) + hh[e] * w
        gg[s:e] = gg[s - 1] * (1 - w) + gg[e] * w
    return Evidence(np.clip(np.rint(gg), 0, 255).astype(np.uint8), evidence.learned,
                    np.clip(np.rint(hh * 255.0), 0, 255).astype(np.uint8),
                    evidence.learned_many, evidence.motion)


def relit(grids: np.ndarray, t: int, min_corr: float = 0.95, min_spread: float = 5.0) -> bool:
    """The picture at ``t`` is the one at ``t - 1`` with other light: the luma blocks' pattern
    (mean removed) correlates by ``min_corr`` or more, only brightness or colour changed. A
    lamp switched off, a cloud, a grade change; a cut to another shot, even of the same scene
    from elsewhere, moves the pattern. Flat pictures (block spread under ``min_spread`` grey
    levels) have no pattern to compare."""
    a = grids[t - 1, :_NY].astype(np.float32)
    b = grids[t, :_NY].astype(np.float32)
    a, b = a - a.mean(), b - b.mean()
    na, nb = float(np.sqrt((a * a).mean())), float(np.sqrt((b * b).mean()))
    if min(na, nb) < min_spread:
        return False
    return float((a * b).mean()) / (na * nb) >= min_corr


def only_light(grids: np.ndarray, t: int, reach: int = 2) -> bool:
    """Every large change within ``reach`` frames of ``t`` (half the largest or more) is a change
    of light (``relit``): what a model placed at ``t`` is a lamp or a cloud, not a cut. A cut
    beside a strobe still counts: the cut frame is large and not relit."""
    lo, hi = max(1, t - reach), min(len(grids) - 1, t + reach)
    if hi < lo:
        return False
    change = {i: float(algo._dist(grids[i], grids[i - 1])) for i in range(lo, hi + 1)}
    top = max(change.values())
    return top > 0 and all(relit(grids, i) for i, c in change.items() if c >= 0.5 * top)


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
    histogram of a moving shot changes little, and a cut changes it at once: the jump must be at
    least ``abrupt`` × the change of scene over ``scene_window`` frames either side (a whip pan
    to another part of the scene changes it over several frames).
    """

    config: ShotDetectorConfig = field(default_factory=ShotDetectorConfig)
    hist_min: float = 0.1
    hist_ratio: float = 5.0
    window: int = 10
    abrupt: float = 0.6
    scene_window: int = 6
    name: str = "histogram-cut"
    requires: frozenset[str] = frozenset({"grids", "hists"})

    def __post_init__(self) -> None:
        _check(self, hist_min=(0.0, 1.0), hist_ratio=(1.0, 100.0), abrupt=(0.0, 1.0))
        _check_frames(self, window=(2, 100), scene_window=(2, 50))

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
            if jumps[t] < self.abrupt * scene_distance(h, t, self.scene_window):
                continue
            if flash_like(evidence, t, c.strength, self.config) or relit(g, t):
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
    min_frames: int = 6
    despike: bool = True
    name: str = "histogram-gradual"
    requires: frozenset[str] = frozenset({"grids", "hists"})

    def __post_init__(self) -> None:
        if not self.scales or min(self.scales) < 3 or max(self.scales) > 200:
            raise ValueError("histogram-gradual scales must be 3..200 frames")
        _check(self, chord_min=(0.0, 1.0), isolation=(1.0, 100.0), residual_max=(0.0, 1.0),
               max_step=(0.0, 1.0))
        _check_frames(self, returns=(0, 10), min_frames=(2, 200))

    @property
    def context(self) -> int:
        return (self.returns + 2) * max(self.scales) + 8

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        if self.despike:
            evidence = despike(evidence)
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
        return (s, e) if e - s >= self.min_frames else None

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


@dataclass(frozen=True)
class SceneCutDetector:
    """Cuts into and out of shots that strobe, flash or move fast, where a frame's change does
    not stand out from its neighbours' and the flash test would veto it.

    At a local peak of the histogram jump (at least ``jump_min``), the ``window`` frames before
    and the ``window`` frames after are compared pair by pair: a flash, a strobe or a whip pan
    returns to its scene, so some pair looks alike; a cut never does (the closest pair still
    differs by ``cross_min`` and by ``cross_share`` × the jump). The change must also happen
    at once (the jump is ``abrupt`` × the change of scene), not over several frames. Of frames
    passing within ``peak`` of each other the larger change is the cut (a flash on the last
    frame of the old shot jumps twice). Runs after the other detectors and keeps ``guard``
    frames away from what they claimed.
    """

    config: ShotDetectorConfig = field(default_factory=ShotDetectorConfig)
    window: int = 6
    jump_min: float = 0.2
    cross_min: float = 0.2
    cross_share: float = 0.5
    abrupt: float = 0.6
    peak: int = 2
    guard: int = 6
    name: str = "scene-cut"
    requires: frozenset[str] = frozenset({"grids", "hists"})

    def __post_init__(self) -> None:
        _check(self, jump_min=(0.0, 1.0), cross_min=(0.0, 1.0), cross_share=(0.0, 1.0),
               abrupt=(0.0, 1.0))
        _check_frames(self, window=(2, 50), peak=(0, 20), guard=(0, 50))

    @property
    def context(self) -> int:
        return self.window + self.peak + self.guard + 2

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        if evidence.hists is None or evidence.frames < 3:
            return []
        h = normalised(evidence.hists)
        jumps = np.zeros(h.shape[0], np.float32)
        jumps[1:] = hist_dist(h[1:], h[:-1])
        w = self.window
        out: list[Transition] = []
        for t in np.flatnonzero(jumps >= self.jump_min).tolist():
            if t < 1:
                continue
            if blocked[max(0, t - self.guard) : t + self.guard + 1].any():
                continue
            before, after = h[max(0, t - w) : t], h[t : t + w]
            closest = float(hist_dist(before[:, None, :], after[None, :, :]).min())
            if closest < max(self.cross_min, self.cross_share * float(jumps[t])):
                continue
            if jumps[t] < self.abrupt * scene_distance(h, t, w) or relit(evidence.grids, t):
                continue
            change = float(algo._dist(evidence.grids[t], evidence.grids[t - 1]))
            if out and t - out[-1].frame <= self.peak:  # one cut: the larger change
                if change > out[-1].strength:
                    out[-1] = Transition(t, "cut", 0, change)
                continue
            out.append(Transition(t, "cut", 0, change))
        return out

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        blocked[transition.frame] = True


def _check(obj: object, **bounds: tuple[float, float]) -> None:
    """Each named field is a finite number in its ``[lo, hi]`` (ValueError naming it)."""
    for name, (lo, hi) in bounds.items():
        v = getattr(obj, name)
        if not (isinstance(v, int | float) and np.isfinite(v) and lo <= v <= hi):
            raise ValueError(f"{type(obj).__name__}.{name} must be in [{lo}, {hi}], got {v!r}")


def _check_frames(obj: object, **bounds: tuple[int, int]) -> None:
    """Each named field is a whole number of frames in its ``[lo, hi]``."""
    for name, (lo, hi) in bounds.items():
        v = getattr(obj, name)
        if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
            raise ValueError(f"{type(obj).__name__}.{name} must be {lo}..{hi} frames, got {v!r}")

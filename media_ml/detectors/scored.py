"""Dissolves and wipes between moving shots, scored by a small trained model.

Camera motion breaks the hand-set tests for gradual transitions: a panning shot's histogram drifts
as much over 25 frames as a dissolve moves it, and its grid never lies "between" the ends. Several
weak cues still tell them apart, none alone: blending two pictures lowers the luma variance in the
middle of the blend (``(1-a)^2 vA + a^2 vB``, while a pan keeps it), a blend progresses smoothly
(no single-frame jump), the pictures at the ends differ more than the windows around them, and
what passes (a whip pan, an occlusion) comes back. ``ScoredGradualDetector`` proposes windows
whose end histograms differ (``gradual_candidates``), describes each by those cues
(``gradual_features``) and keeps the windows a gradient-boosted tree model scores above
``threshold``.

The model is trained by ``benchmarks/train_gradual.py`` on the motion *tune* sets only (tune
photographs, several seeds) and shipped as arrays in ``models/gradual_gbm.npz`` (a few kB): the
evaluator below is plain numpy, so no pickled estimator is loaded and nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from media_ml.detectors.base import Evidence, Transition
from media_ml.detectors.histograms import HistogramGradualDetector, despike, hist_dist
from media_ml.extractors import shots as algo
from media_ml.extractors.grid import Y_GRID
from media_ml.extractors.motion import CHANGE, DX, DY, RESIDUAL, RESPONSE, STRUCTURE

MODEL_PATH = Path(__file__).with_name("models") / "gradual_gbm.npz"
SCALES = (6, 9, 13, 18, 25, 35, 48, 64)
FEATURES = (
    "chord", "isolation", "residual", "max_step", "min_step", "variance_dip", "variance_fit",
    "mean_path", "grid_chord", "grid_between", "grid_isolation", "abrupt", "returns",
    "anisotropy", "frames", "isolation_before", "isolation_after", "grid_variance_dip",
    "chroma_variance_dip", "motion_explained", "motion_excess", "motion_peak", "motion_shift",
    "motion_response", "light_explained", "light_excess",
)


@dataclass(frozen=True)
class Prepared:
    """What the features read, computed once per slice (flash frames taken out)."""

    hists: np.ndarray  # (n, 48) shares per plane
    mean: np.ndarray  # (n,) luma mean, grey levels
    var: np.ndarray  # (n,) luma variance
    chroma_var: np.ndarray  # (n,) U + V variance
    grid_var: np.ndarray  # (n,) spatial variance of the luma block means
    grids: np.ndarray  # (n, GRID_SIZE) float32
    aniso: np.ndarray  # (n,) log of horizontal over vertical grid contrast
    jumps: np.ndarray  # (n,) histogram change from the frame before
    motion: np.ndarray  # (n, len(MOTION_FIELDS)) global motion from the frame before

    @property
    def frames(self) -> int:
        return int(self.hists.shape[0])


def prepare(evidence: Evidence) -> Prepared:
    """The slice's per-frame cues, flash frames taken out first."""
    if evidence.hists is None or evidence.motion is None:
        raise ValueError("scored gradual detection needs histogram and motion evidence")
    ev = despike(evidence)
    assert ev.hists is not None
    n = ev.frames
    per = ev.hists.astype(np.float32).reshape(n, 3, -1)
    per /= np.maximum(1.0, per.sum(axis=2, keepdims=True))
    centres = (np.arange(per.shape[2], dtype=np.float32) + 0.5) * (256.0 / per.shape[2])
    means = per @ centres  # (n, 3)
    var_all = per @ (centres * centres) - means * means
    mean, var = means[:, 0], var_all[:, 0]
    g = ev.grids.astype(np.float32)
    ny, nx = Y_GRID
    y = g[:, : ny * nx].reshape(n, ny, nx)
    gx = np.abs(np.diff(y, axis=2)).mean(axis=(1, 2)) + 1.0
    gy = np.abs(np.diff(y, axis=1)).mean(axis=(1, 2)) + 1.0
    h = per.reshape(n, -1)
    jumps = np.zeros(n, np.float32)
    if n > 1:
        jumps[1:] = hist_dist(h[1:], h[:-1])
    return Prepared(h, mean, var, var_all[:, 1] + var_all[:, 2], y.reshape(n, -1).var(axis=1),
                    g, np.log(gx / gy), jumps, np.asarray(ev.motion, np.float32))


def gradual_candidates(p: Prepared, blocked: np.ndarray, chord_min: float = 0.08,
                       isolation_min: float = 1.2, guard: int = 2
                       ) -> list[tuple[int, int, float, float, float]]:
    """Windows ``(a, b, chord, chord before, chord after)`` worth scoring: at each scale, the
    end histograms differ by ``chord_min`` and ``isolation_min`` × the windows either side, the
    chord is the largest within two frames, and no claimed frame is within ``guard``."""
    h, n = p.hists, p.frames
    out: list[tuple[int, int, float, float, float]] = []
    for L in SCALES:
        if 2 * L >= n:
            continue
        chord = hist_dist(h[:-L], h[L:])
        m = chord.size
        before = np.zeros(m, np.float32)
        after = np.zeros(m, np.float32)
        before[L:] = chord[: m - L]
        after[: m - L] = chord[L:]
        ok = np.flatnonzero((chord >= chord_min)
                            & (chord >= isolation_min * np.maximum(before, after)))
        for a in ok.tolist():
            b = a + L
            if a < 1 or b >= n - 1 or chord[a] < chord[max(0, a - 2) : a + 3].max():
                continue
            if blocked[max(0, a + 1 - guard) : b + 1 + guard].any():
                continue
            out.append((a, b, float(chord[a]), float(before[a]), float(after[a])))
    return out


def gradual_features(p: Prepared, a: int, b: int, chord: float, before: float,
                     after: float) -> list[float]:
    """The cues of window ``[a, b]`` (``a`` the last frame before, ``b`` the first after), in
    ``FEATURES`` order."""
    h, n = p.hists, p.frames
    L = b - a
    A, B = h[a], h[b]
    diff = B - A
    norm = float(diff @ diff) + 1e-9
    inside = h[a + 1 : b]
    alpha = ((inside - A) @ diff) / norm
    path = A + np.clip(alpha, 0, 1)[:, None] * diff
    residual = float((np.abs(inside - path).sum(axis=1)
                      / max(1e-6, float(np.abs(diff).sum()))).mean())
    steps = np.diff(np.concatenate([[0.0], alpha, [1.0]]))
    vA, vB = float(p.var[a]), float(p.var[b])
    mid = a + L // 2
    v_mid = float(np.median(p.var[mid - 1 : mid + 2]))
    share = np.arange(L + 1, dtype=np.float32) / L
    model = (1 - share) ** 2 * vA + share**2 * vB
    fit = float(np.abs(p.var[a : b + 1] - model).mean() / max(1.0, vA, vB))
    line = (1 - share) * p.mean[a] + share * p.mean[b]
    mean_path = float(np.abs(p.mean[a : b + 1] - line).max()
                      / (abs(float(p.mean[b] - p.mean[a])) + 5.0))
    g = p.grids
    g_chord = float(algo._dist(g[a], g[b]))
    g_before = float(algo._dist(g[a - L], g[a])) if a - L >= 0 else 0.0
    g_after = float(algo._dist(g[b], g[min(n - 1, b + L)]))
    lo, hi = np.minimum(g[a], g[b]), np.maximum(g[a], g[b])
    tol = 5.0 + 0.15 * (hi - lo)
    between = float(((g[a + 1 : b] >= lo - tol) & (g[a + 1 : b] <= hi + tol)).mean())
    abrupt = float(p.jumps[a + 1 : b + 1].max()) / max(1e-6, chord)
    returns = float(hist_dist(A, h[min(n - 1, b + L)])) / max(1e-6, chord)
    r = p.aniso
    rin = r[a + 1 : b]
    aniso = float(np.max(np.maximum(rin - max(r[a], r[b]), min(r[a], r[b]) - rin)))
    return [chord, chord / max(1e-3, before, after), residual, float(steps.max()),
            float(steps.min()), v_mid / max(1.0, min(vA, vB)), fit, mean_path, g_chord, between,
            g_chord / max(1.0, g_before, g_after), abrupt, returns, aniso, float(L),
            chord / max(1e-3, before), chord / max(1e-3, after),
            _dip(p.grid_var, a, b), _dip(p.chroma_var, a, b), *_motion(p.motion, a, b)]


def _motion(m: np.ndarray, a: int, b: int, around: int = 10) -> list[float]:
    """Camera-motion cues of window ``[a, b]``: the share of its frame-to-frame change that a
    global shift explains away, its residual change over the residual of the ``around`` frames
    either side (a pan goes on as before; a blend or a wipe edge adds change no shift
    removes), the peak of that ratio, the median shift and phase-correlation peak."""
    inside = m[a + 1 : b + 1]
    base, st_base = (_level_around(m[:, col], a, b, around) for col in (RESIDUAL, STRUCTURE))
    return [float(inside[:, RESIDUAL].sum()) / max(1e-3, float(inside[:, CHANGE].sum())),
            float(inside[:, RESIDUAL].mean()) / base, float(inside[:, RESIDUAL].max()) / base,
            float(np.median(np.hypot(inside[:, DX], inside[:, DY]))),
            float(np.median(inside[:, RESPONSE])),
            float(inside[:, STRUCTURE].sum()) / max(1e-3, float(inside[:, CHANGE].sum())),
            float(inside[:, STRUCTURE].mean()) / st_base]


def _level_around(v: np.ndarray, a: int, b: int, around: int) -> float:
    """The usual level of ``v`` in the ``around`` frames either side of window ``[a, b]``
    (median, at least 0.3 grey levels)."""
    outside = np.concatenate([v[max(1, a - around) : a + 1], v[b + 1 : b + 1 + around]])
    return max(0.3, float(np.median(outside))) if outside.size else 0.3


def _dip(v: np.ndarray, a: int, b: int) -> float:
    """The middle of ``[a, b]`` over the smaller end (a blend of two pictures dips)."""
    mid = (a + b) // 2
    return float(np.median(v[mid - 1 : mid + 2])) / max(1.0, float(min(v[a], v[b])))


@dataclass(frozen=True)
class TreeModel:
    """A gradient-boosted tree ensemble as flat arrays (scikit-learn's
    ``HistGradientBoostingClassifier``, exported by ``benchmarks/train_gradual.py``)."""

    feature: np.ndarray  # per node; -1 at leaves
    threshold: np.ndarray  # go left when x <= threshold
    left: np.ndarray  # node index (global)
    right: np.ndarray
    value: np.ndarray  # leaf value (raw score)
    roots: np.ndarray  # first node of each tree
    baseline: float
    features: tuple[str, ...]
    depth: int

    @classmethod
    def load(cls, path: Path) -> TreeModel:
        with np.load(path, allow_pickle=False) as z:
            names = tuple(str(s) for s in z["features"])
            return cls(z["feature"].astype(np.int64), z["threshold"].astype(np.float64),
                       z["left"].astype(np.int64), z["right"].astype(np.int64),
                       z["value"].astype(np.float64), z["roots"].astype(np.int64),
                       float(z["baseline"]), names, int(z["depth"]))

    def probability(self, X: np.ndarray) -> np.ndarray:
        """P(transition) for each row of ``X`` (all trees at once, one level at a time)."""
        X = np.nan_to_num(np.asarray(X, np.float64), nan=0.0, posinf=1e6, neginf=-1e6)
        node = np.broadcast_to(self.roots, (X.shape[0], self.roots.size)).copy()
        rows = np.arange(X.shape[0])[:, None]
        for _ in range(self.depth):
            f = self.feature[node]
            leaf = f < 0
            x = X[rows, np.where(leaf, 0, f)]
            nxt = np.where(x <= self.threshold[node], self.left[node], self.right[node])
            node = np.where(leaf, node, nxt)
        raw = self.baseline + self.value[node].sum(axis=1)
        return np.asarray(1.0 / (1.0 + np.exp(-raw)), np.float64)


@lru_cache(maxsize=1)
def model_digest(path: str = str(MODEL_PATH)) -> str:
    """A short hash of the shipped model's bytes: part of the ingest fingerprint, so videos
    analysed with another model are analysed again."""
    import hashlib

    return hashlib.blake2b(Path(path).read_bytes(), digest_size=6).hexdigest()


@lru_cache(maxsize=4)
def load_model(path: str) -> TreeModel:
    """The tree model at ``path`` (``ModelLoadError`` naming it when missing, damaged or trained
    on other features)."""
    from media_ml.errors import ModelLoadError

    try:
        model = TreeModel.load(Path(path))
    except (OSError, KeyError, ValueError) as exc:
        raise ModelLoadError(f"gradual-transition model {path}: cannot be read ({exc}); "
                             "reinstall media-ml or retrain it with "
                             "benchmarks/train_gradual.py") from exc
    if model.features != FEATURES:
        raise ModelLoadError(f"gradual-transition model {path} was trained on other features "
                             f"{model.features}; retrain it with benchmarks/train_gradual.py")
    return model


@dataclass(frozen=True)
class ScoredGradualDetector:
    """Dissolves and wipes where the trained model's probability reaches ``threshold``; of
    windows that overlap or lie within ``gap`` frames (less than a shot) the most probable
    wins, and two taken windows that one scored window spans are joined (``join``; a long
    dissolve is otherwise reported in halves). A window whose scene comes back within
    ``returns`` frames (``comes_back``) is dropped: a transition does not return. The span
    reported is where the histograms go from 10 % to 90 % of the way; the kind comes from the
    grids (a wipe switches block by block).
    """

    threshold: float = 0.7  # chosen by benchmarks/train_gradual.py's cross-validation
    model_path: str = str(MODEL_PATH)
    guard: int = 2
    gap: int = 6
    join: int = 8
    returns: int = 40
    return_ratio: float = 0.3
    name: str = "scored-gradual"
    requires: frozenset[str] = field(default=frozenset({"grids", "hists", "motion"}))

    def __post_init__(self) -> None:
        if not (isinstance(self.threshold, int | float) and 0.0 < self.threshold < 1.0):
            raise ValueError(f"ScoredGradualDetector.threshold must be in (0, 1), "
                             f"got {self.threshold!r}")
        if not (isinstance(self.returns, int) and 0 <= self.returns <= 250):
            raise ValueError(f"ScoredGradualDetector.returns must be 0..250 frames, "
                             f"got {self.returns!r}")
        if not (isinstance(self.return_ratio, int | float) and 0 <= self.return_ratio <= 1):
            raise ValueError(f"ScoredGradualDetector.return_ratio must be in [0, 1], "
                             f"got {self.return_ratio!r}")
        for name in ("guard", "gap", "join"):
            v = getattr(self, name)
            if not (isinstance(v, int) and 0 <= v <= 20):
                raise ValueError(f"ScoredGradualDetector.{name} must be 0..20 frames, got {v!r}")

    @property
    def context(self) -> int:
        return 3 * max(SCALES) + self.guard + self.gap + self.join + self.returns + 8

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        if evidence.hists is None or evidence.frames < 2 * min(SCALES) + 2:
            return []
        p = prepare(evidence)
        cands = gradual_candidates(p, blocked, guard=self.guard)
        if not cands:
            return []
        X = np.array([gradual_features(p, *c) for c in cands])
        prob = load_model(self.model_path).probability(X)
        taken = np.zeros(p.frames + 1, bool)
        chosen: list[tuple[int, int, float]] = []
        for i in np.argsort(-prob, kind="stable").tolist():
            if prob[i] < self.threshold:
                break
            a, b = cands[i][0], cands[i][1]
            if taken[max(0, a + 1 - self.gap) : b + 1 + self.gap].any():
                continue  # the same transition, seen by another window
            taken[a + 1 : b + 1] = True
            chosen.append((a, b, float(prob[i])))
        out: list[Transition] = []
        for a, b, pr in self._joined(sorted(chosen), cands, prob):
            s, e = _span(p.hists, a, b)
            if self.returns and comes_back(p.hists, s - 1, e, self.returns, self.return_ratio):
                continue  # an excursion: something passed in front, or the camera swung back
            kind = HistogramGradualDetector._kind(evidence.grids, s, e)
            out.append(Transition(s, kind, e - s, pr))
        return out

    def _joined(self, chosen: list[tuple[int, int, float]],
                cands: list[tuple[int, int, float, float, float]], prob: np.ndarray
                ) -> list[tuple[int, int, float]]:
        """Neighbouring windows that one window spanning both (to within ``join`` frames, and
        no longer) also scores as a transition are one long dissolve seen in halves: each
        half's ends differ enough to score, so both were taken."""
        if self.join == 0 or len(chosen) < 2:
            return chosen
        A = np.array([c[0] for c in cands])
        B = np.array([c[1] for c in cands])
        k = 0
        while k < len(chosen) - 1:
            (a1, _, _), (_, b2, _) = chosen[k], chosen[k + 1]
            fit = ((A <= a1 + self.join) & (B >= b2 - self.join)
                   & (B - A <= b2 - a1 + 2 * self.join) & (prob >= self.threshold))
            if not fit.any():
                k += 1
                continue
            i = int(np.flatnonzero(fit)[np.argmax(prob[fit])])
            chosen[k : k + 2] = [(int(A[i]), int(B[i]), float(prob[i]))]
        return chosen

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        blocked[transition.frame : transition.frame + max(1, transition.length)] = True


def comes_back(h: np.ndarray, a: int, b: int, reach: int, ratio: float, width: int = 4) -> bool:
    """Whether the change from frame ``a`` to ``b`` is undone within ``reach`` frames: the scene
    before ``a`` (median of ``width`` frames) is seen again after ``b``, or the scene after ``b``
    was already there before ``a``, to within ``ratio`` × the change. An object passing in front
    of the camera, a caption board or a camera that swings away and back makes a change that
    looks like a wipe or a dissolve and is then undone; a shot transition is not."""
    n = h.shape[0]
    a, b = max(0, a), min(n - 1, b)
    chord = float(hist_dist(h[a], h[b]))
    if chord <= 0.0:
        return False
    pre = np.median(h[max(0, a - width + 1) : a + 1], axis=0)
    post = np.median(h[b : b + width], axis=0)
    near = ratio * chord
    lo = max(0, a - reach)  # only the frames within reach, not the whole slice
    local = h[lo : min(n, b + reach + width - 1)]
    windows = np.lib.stride_tricks.sliding_window_view(local, width, axis=0).mean(axis=-1)
    later = windows[b + 1 - lo : min(n - width + 1, b + reach) - lo]
    earlier = windows[: max(0, a - width + 1 - lo)]
    return bool((later.size and float(hist_dist(later, pre).min()) < near)
                or (earlier.size and float(hist_dist(earlier, post).min()) < near))


def _span(h: np.ndarray, a: int, b: int) -> tuple[int, int]:
    """Frames where the histograms are 10 %..90 % of the way from ``a`` to ``b``."""
    A, B = h[a], h[b]
    diff = B - A
    alpha = ((h[a + 1 : b] - A) @ diff) / (float(diff @ diff) + 1e-9)
    s = a + 1 + int(np.argmax(alpha > 0.1)) if (alpha > 0.1).any() else a + 1
    e = a + 1 + int(np.argmax(alpha >= 0.9)) if (alpha >= 0.9).any() else b
    return s, max(e, s + 1)

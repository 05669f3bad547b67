"""Shot-boundary detection on per-frame analysis grids.

Input is a ``(frames, GRID_SIZE)`` array of block means (see ``video.analysis_grid``); output is
the list of transitions. Everything here is a pure function of that array, so segments decoded on
different workers and concatenated give exactly the answer of one pass.

How each kind is found:

* **cut** — the change between consecutive frames stands out from its neighbourhood (``cut_ratio``
  × the median change before and after) and touches most of the picture (``cut_fraction`` of the
  luma blocks), and no pair of frames straddling it a few frames apart looks alike (that would be a
  camera flash or a one-frame glitch returning to the same picture).
* **dissolve / wipe** — a window whose end frames differ like a cut while every frame inside lies
  *between* them, block by block, with progress that grows over several frames (a pan or shake
  leaves the interval; a cut jumps in one frame). A wipe is a dissolve whose progress differs
  strongly across blocks.
* **fade** — a run of black frames reached and/or left by a luminance ramp; one transition from the
  start of the fade-out to the end of the fade-in.

Captions appearing change a small share of blocks and are rejected by the share test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from media_ml.extractors.video import C_GRID, Y_GRID
from media_ml.types import Shot, TransitionKind, VideoInfo

_NY = Y_GRID[0] * Y_GRID[1]
_NC = C_GRID[0] * C_GRID[1]


@dataclass(frozen=True)
class ShotDetectorConfig:
    """Thresholds of the detector, in 8-bit grey levels of block means unless stated."""

    cut_ratio: float = 3.0
    cut_min: float = 5.0
    cut_fraction: float = 0.3
    block_change: float = 8.0
    baseline_window: int = 10
    flash_frames: int = 5
    flash_similarity: float = 0.45
    gradual_scales: tuple[int, ...] = (5, 8, 12, 17, 24, 33, 45, 60)
    gradual_min: float = 10.0
    gradual_tolerance: float = 5.0
    betweenness: float = 0.9
    gradual_max_step: float = 0.45
    gradual_isolation: float = 2.0
    gradual_steady: float = 0.25
    # A fade's darkest frame: mean luma at most this (limited-range black is 16; a dip with no
    # black frame held bottoms out a little above it) and the blocks this even.
    black_luma: float = 30.0
    black_spread: float = 6.0
    # A dip to white: every luma block this bright (limited-range white is 235; a dip that
    # holds no white frame peaks at 210-220) and as even.
    white_luma: float = 210.0
    # A fade's ramp: each frame darker (brighter) than the next by more than this, in grey
    # levels of the mean luma; motion within a shot drifts the mean by less.
    fade_step: float = 2.0
    # The trained gradual scorer's probability a window needs to be a dissolve or a wipe
    # (``ScoredGradualDetector``; chosen by ``benchmarks/train_gradual.py``'s leave-one-set-out
    # cross-validation: 0.7, level with 0.8 to the fourth decimal).
    gradual_score: float = 0.7
    # Gradual transitions at most this many frames apart are one: a long fade or dissolve
    # found in pieces by two detectors or windows (chosen on the tuning pool: 12 removes the
    # most false positives, 16 starts to join real neighbours).
    gradual_gap: int = 12
    min_shot_frames: int = 6
    chunk_frames: int = 20000

    def __post_init__(self) -> None:
        for name, v in vars(self).items():
            values = v if isinstance(v, tuple) else (v,)
            if not all(isinstance(x, int | float) and not isinstance(x, bool)
                       and np.isfinite(x) and 0 <= x <= 1e6 for x in values):
                raise ValueError(f"{name} must be a finite number from 0 to 1e6, got {v!r}")
        windows = {"gradual_scales": max(self.gradual_scales, default=0),
                   "baseline_window": self.baseline_window, "flash_frames": self.flash_frames,
                   "min_shot_frames": self.min_shot_frames, "gradual_gap": self.gradual_gap}
        for name, frames in windows.items():
            if frames > 1000:
                raise ValueError(f"{name} must be at most 1000 frames, got {frames}")
        if not 0 < self.gradual_score < 1:
            raise ValueError(f"gradual_score must be in (0, 1), got {self.gradual_score!r}")
        if self.cut_ratio <= 1 or self.cut_min < 0 or not 0 < self.cut_fraction <= 1:
            raise ValueError("invalid cut thresholds")
        if not self.gradual_scales or min(self.gradual_scales) < 3:
            raise ValueError("gradual_scales must be >= 3 frames")
        if self.min_shot_frames < 1 or self.chunk_frames < 1000:
            raise ValueError("min_shot_frames >= 1 and chunk_frames >= 1000 required")

    @property
    def context(self) -> int:
        """Frames of context either side that a decision can depend on."""
        return max(self.gradual_scales) + self.baseline_window + self.flash_frames + 64


@dataclass(frozen=True)
class Transition:
    """A boundary: the new shot starts at ``frame``; ``length`` frames are the transition."""

    frame: int
    kind: TransitionKind
    length: int
    strength: float


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Weighted mean absolute difference of grids along the last axis (luma 3/4, chroma 1/4)."""
    d = np.abs(a.astype(np.float32) - b.astype(np.float32))
    return 0.75 * d[..., :_NY].mean(axis=-1) + 0.25 * d[..., _NY:].mean(axis=-1)


def _changed(a: np.ndarray, b: np.ndarray, thr: float) -> np.ndarray:
    """Share of luma blocks that changed by more than ``thr``."""
    d = np.abs(a[..., :_NY].astype(np.float32) - b[..., :_NY].astype(np.float32))
    return (d > thr).mean(axis=-1)


def _rolling_median(x: np.ndarray, w: int, before: bool) -> np.ndarray:
    """Median of the ``w`` values before (or after) each position; edges use what exists."""
    n = x.size
    pad = np.full(w, np.nan, np.float32)
    xp = np.concatenate([pad, x, pad])
    offsets = np.arange(w)[None, :] + (0 if before else w + 1)
    idx = np.arange(n)[:, None] + offsets
    win = xp[idx]
    if not n:
        return np.zeros(0, np.float32)
    filled = np.isfinite(win).any(axis=1)
    out = np.zeros(n, np.float32)
    if filled.any():
        out[filled] = np.nanmedian(win[filled], axis=1)
    return out


def _cut_candidates(g: np.ndarray, cfg: ShotDetectorConfig) -> list[Transition]:
    """Frames whose change from the previous one stands out from its neighbourhood and touches
    most of the picture (before any flash test)."""
    n = g.shape[0]
    if n < 2:
        return []
    d1 = np.zeros(n, np.float32)
    d1[1:] = _dist(g[1:], g[:-1])
    # Dark pictures change by fewer grey levels: scale the absolute thresholds with brightness
    # (down to 40 %), the way the eye sees relative change.
    luma = g[:, :_NY].astype(np.float32).mean(axis=1)
    pair = np.zeros(n, np.float32)
    pair[1:] = np.maximum(luma[1:], luma[:-1])
    scale = np.clip(pair / 100.0, 0.4, 1.0)
    share = np.zeros(n, np.float32)
    diff = np.abs(g[1:, :_NY].astype(np.float32) - g[:-1, :_NY].astype(np.float32))
    share[1:] = (diff > cfg.block_change * scale[1:, None]).mean(axis=1)
    w = cfg.baseline_window
    base = np.maximum(_rolling_median(d1, w, before=True), _rolling_median(d1, w, before=False))
    cand = np.flatnonzero((d1 > np.maximum(cfg.cut_min * scale, cfg.cut_ratio * base))
                          & (share > cfg.cut_fraction))
    return [Transition(t, "cut", 0, float(d1[t])) for t in cand.tolist() if t >= 1]


def _flash_like(g: np.ndarray, t: int, change: float, cfg: ShotDetectorConfig) -> bool:
    """Whether a pair of frames straddling ``t`` up to ``flash_frames + 1`` apart looks alike:
    a flash or glitch returns to the picture before it, a cut never does."""
    n = g.shape[0]
    f = cfg.flash_frames
    for i in range(1, f + 2):
        for j in range(0, f + 2 - i):
            if (i, j) == (1, 0) or t - i < 0 or t + j >= n:
                continue
            if float(_dist(g[t - i], g[t + j])) < cfg.flash_similarity * change:
                return True
    return False


def _black(g: np.ndarray, cfg: ShotDetectorConfig) -> np.ndarray:
    y = g[:, :_NY].astype(np.float32)
    return (y.mean(axis=1) <= cfg.black_luma) & (y.std(axis=1) <= cfg.black_spread)


def _white(g: np.ndarray, cfg: ShotDetectorConfig) -> np.ndarray:
    y = g[:, :_NY].astype(np.float32)
    return (y.mean(axis=1) >= cfg.white_luma) & (y.std(axis=1) <= cfg.black_spread)


def _fades(g: np.ndarray, cfg: ShotDetectorConfig) -> list[tuple[int, int, bool, bool]]:
    """Fade spans ``(start, end, reaches_start, reaches_end)`` around runs of black frames
    reached and/or left by a luminance ramp, and likewise dips to white."""
    luma = g[:, :_NY].astype(np.float32).mean(axis=1)
    return sorted(_fade_spans(_black(g, cfg), luma, cfg)
                  + _fade_spans(_white(g, cfg), 255.0 - luma, cfg, both_ramps=True))


def _fade_spans(flat: np.ndarray, level: np.ndarray, cfg: ShotDetectorConfig,
                both_ramps: bool = False) -> list[tuple[int, int, bool, bool]]:
    """Spans around runs of ``flat`` frames that ``level`` (distance from the flat colour's
    luma) ramps down to and/or up from by more than ``fade_step`` a frame (``both_ramps``:
    down to *and* up from, over two frames or more each: a camera flash jumps to white)."""
    n = flat.shape[0]
    spans: list[tuple[int, int, bool, bool]] = []
    t = 0
    eps = cfg.fade_step
    while t < n:
        if not flat[t]:
            t += 1
            continue
        r0 = t
        while t < n and flat[t]:
            t += 1
        r1 = t
        s = r0
        while s > 0 and level[s - 1] > level[s] + eps:
            s -= 1
        e = r1
        while e < n and e > 0 and level[e] > level[e - 1] + eps:
            e += 1
        if (r0 - s) < 2 and (e - r1) < 2 and r0 > 0 and r1 < n:
            continue  # abrupt to and from black: a black shot between two cuts
        if both_ramps and ((r0 - s) < 2 or (e - r1) < 2):
            continue
        spans.append((s, e, s == 0, e >= n))
    return spans


def _gradual_window(
    gf: np.ndarray, a: int, b: int, cfg: ShotDetectorConfig
) -> tuple[int, int, str, float] | None:
    """Test frames ``a`` (last of the old shot) … ``b`` (first of the new) as one transition.

    Every block must move from its value at ``a`` towards its value at ``b`` and stay between
    the two (``betweenness``), without going back (``backtrack``), with the overall progress
    spread over several frames. Returns ``(start, end, kind, between)`` or None.
    """
    A, B = gf[a], gf[b]
    inside = gf[a + 1 : b]
    diff = B - A
    lo = np.minimum(A, B)
    hi = np.maximum(A, B)
    tol = cfg.gradual_tolerance + 0.15 * (hi - lo)
    between = float(((inside >= lo - tol) & (inside <= hi + tol)).mean())
    if between < cfg.betweenness:
        return None
    norm = float((diff * diff).sum())
    if norm <= 0:
        return None
    alpha = ((inside - A) @ diff) / norm
    steps = np.diff(np.concatenate([[0.0], alpha, [1.0]]))
    if steps.max() > cfg.gradual_max_step or (steps < -0.1).any():
        return None  # a jump (cut) or going back and forth (motion)
    big = np.abs(diff) > 3 * cfg.gradual_tolerance
    if big.sum() < 4:
        return None
    beta = (inside[:, big] - A[big]) / diff[big]  # per-block progress
    back = np.maximum(0.0, -np.diff(beta, axis=0)).sum(axis=0)
    if float(np.median(back)) > 0.25:
        return None  # blocks wander: motion, not a blend
    s = a + 1 + int(np.argmax(alpha > 0.1)) if (alpha > 0.1).any() else b
    e = a + 1 + int(np.argmax(alpha >= 0.9)) if (alpha >= 0.9).any() else b
    if e - s < 2:
        return None
    # A dissolve moves every block together; a wipe switches each block from its old value to
    # its new one (values near 0 or 1). Motion (a pan) does neither.
    span = np.clip(beta[max(0, s - a - 1) : max(1, e - a - 1)], -0.5, 1.5)
    together = float(np.mean(np.std(span, axis=1)))
    switched = float(np.mean((np.abs(span) < 0.25) | (np.abs(span - 1) < 0.25)))
    if together <= 0.2:
        kind = "dissolve"
    elif switched >= 0.75:
        kind = "wipe"
    else:
        return None
    return s, e, kind, between


def _run_representatives(ok: np.ndarray, chord: np.ndarray, every: int = 4) -> list[int]:
    """Window starts worth testing: in each run of consecutive passing starts (the same
    transition seen from neighbouring windows), the strongest one and every ``every``-th."""
    if not ok.size:
        return []
    out: list[int] = []
    breaks = np.flatnonzero(np.diff(ok) > 1) + 1
    for run in np.split(ok, breaks):
        picks = set(run[::every].tolist())
        picks.add(int(run[np.argmax(chord[run])]))
        picks.add(int(run[-1]))
        out.extend(sorted(picks))
    return out


def _graduals(g: np.ndarray, cfg: ShotDetectorConfig, blocked: np.ndarray) -> list[Transition]:
    """Dissolves and wipes: isolated windows whose inside lies between its ends, block by block."""
    n = g.shape[0]
    gf = g.astype(np.float32)
    d1 = np.zeros(n + 1, np.float32)
    if n > 1:
        d1[1:n] = _dist(gf[1:], gf[:-1])
    cands: list[tuple[float, int, int, str]] = []  # (score, start, end, kind)
    for L in cfg.gradual_scales:
        if L >= n:
            continue
        chord = _dist(gf[:-L], gf[L:])  # chord[a] = change from frame a to a+L
        share = _changed(gf[:-L], gf[L:], cfg.block_change)
        # Isolation: the change across the window must stand out from the change over windows
        # of the same length just before and after it (steady motion changes as much).
        m = chord.size
        before = np.zeros(m, np.float32)
        after = np.zeros(m, np.float32)
        if m > L:
            before[L:] = chord[: m - L]
            after[: m - L] = chord[L:]
        known = np.zeros(m, bool)  # a neighbouring window exists on at least one side
        if m > L:
            known[L:] = True
            known[: m - L] = True
        ok = np.flatnonzero((chord >= cfg.gradual_min) & (share > cfg.cut_fraction) & known
                            & (chord >= cfg.gradual_isolation * np.maximum(before, after)))
        for a in _run_representatives(ok, chord):
            b = a + L
            if blocked[a + 1 : b + 1].any():
                continue
            # Both ends must be steady pictures, not a flash or the middle of motion.
            steady = cfg.gradual_steady * float(chord[a])
            if (a > 0 and d1[a] > steady) or (b + 1 < n and d1[b + 1] > steady):
                continue
            found = _gradual_window(gf, a, b, cfg)
            if found is not None:
                s, e, kind, between = found
                cands.append((float(chord[a]) * between, s, e, kind))
    cands.sort(key=lambda c: -c[0])
    taken = np.zeros(n + 1, bool)
    out: list[Transition] = []
    for score, s, e, kind in cands:
        if taken[max(0, s - 2) : e + 3].any():
            continue
        taken[s:e] = True
        out.append(Transition(s, kind, e - s, score))  # type: ignore[arg-type]
    return out


def detect_transitions(
    grids: np.ndarray, cfg: ShotDetectorConfig | None = None
) -> list[Transition]:
    """All transitions of a video from its analysis grids alone (the ``grids`` detector set:
    fades, cuts with flashes vetoed, dissolves and wipes), in overlapping chunks."""
    from media_ml.detectors import Evidence, detect, detector_set

    return detect(Evidence(grids), detector_set("grids", cfg))


def shots_from_transitions(info: VideoInfo, transitions: list[Transition]) -> list[Shot]:
    """Partition the video's frames into shots; a shot starts at each transition's first frame."""
    n = info.frames
    starts: list[tuple[int, TransitionKind | None, int]] = [(0, None, 0)]
    for t in transitions:
        if t.frame == 0:
            starts[0] = (0, t.kind, t.length)
        elif 0 < t.frame < n:
            starts.append((t.frame, t.kind, t.length))
    shots: list[Shot] = []
    for i, (s, kind, length) in enumerate(starts):
        e = starts[i + 1][0] if i + 1 < len(starts) else n
        shots.append(Shot(index=i, start_frame=s, end_frame=e, start_s=info.time_of(s),
                          end_s=info.time_of(e), transition_in=kind,
                          transition_frames=min(length, e - s)))
    return shots

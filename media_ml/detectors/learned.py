"""The learned detector: transitions from TransNetV2's per-frame probabilities.

The probabilities are computed on the workers (``workers.tasks.learned_probabilities``: 48×27
RGB frames made from the decoded planes, 100-frame windows scored on the one-pass window grid,
on a GPU worker when there is one) and stitched on the driver like the grids; this turns them
into transitions. TransNetV2 has two heads: *single* marks the frame of a transition (for a cut,
the last frame of the old shot), *many* marks every frame of one. A short run of *single* above
``threshold`` is a cut at the first frame after the run; a longer run of *many* above
``many_threshold`` is a gradual transition spanning the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from media_ml.detectors.base import Evidence, Transition
from media_ml.detectors.histograms import only_light
from media_ml.errors import UsageError
from media_ml.extractors import shots as algo
from media_ml.extractors.shots import ShotDetectorConfig


@dataclass(frozen=True)
class LearnedConfig:
    """How probabilities become transitions."""

    threshold: float = 0.5
    many_threshold: float = 0.5
    cut_frames: int = 2
    context_frames: int = 8
    # Runs of the *many* head this close are one transition (a fade dips at its black frames).
    merge_gap: int = 6
    # A learned cut below this probability is vetoed when the grids show a flash or strobe
    # around it (TransNetV2 fires on strobes); above it, the model is trusted.
    flash_veto_below: float = 0.9
    # In ``ensemble`` every detector of ``fast`` runs first; TransNetV2 then adds only the
    # transitions both its heads give at least this probability (it fires on strobes, whips
    # and captions at 0.5 more often than it finds what ``fast`` missed).
    confident: float = 0.9
    # A gradual run is part of a transition an earlier detector found (long fades and
    # dissolves are found in pieces) when its faint tails (*many* at ``tail`` or more) reach
    # within ``near_frames`` of it.
    near_frames: int = 8
    tail: float = 0.1

    def __post_init__(self) -> None:
        for name in ("threshold", "many_threshold", "confident", "tail"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0.0 < v < 1.0):
                raise UsageError(f"learned {name} must be in (0, 1), got {v!r}")
        if not (isinstance(self.cut_frames, int) and 1 <= self.cut_frames <= 10):
            raise UsageError(f"learned cut_frames must be 1..10, got {self.cut_frames!r}")
        if not (isinstance(self.merge_gap, int) and 0 <= self.merge_gap <= 50):
            raise UsageError(f"learned merge_gap must be 0..50, got {self.merge_gap!r}")
        if not (isinstance(self.near_frames, int) and 0 <= self.near_frames <= 50):
            raise UsageError(f"learned near_frames must be 0..50, got {self.near_frames!r}")
        if not (isinstance(self.context_frames, int) and 0 <= self.context_frames <= 100):
            raise UsageError(f"learned context_frames must be 0..100, got "
                             f"{self.context_frames!r}")
        v = self.flash_veto_below
        if not (isinstance(v, int | float) and 0.0 <= v <= 1.0):
            raise UsageError(f"learned flash_veto_below must be in [0, 1], got {v!r}")


def _runs(mask: np.ndarray, merge_gap: int = 0) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of True, runs at most ``merge_gap`` apart joined."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], mask, [False]]).astype(np.int8)))
    out: list[tuple[int, int]] = []
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        if out and a - out[-1][1] <= merge_gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


@dataclass(frozen=True)
class LearnedDetector:
    """Cuts and gradual transitions where TransNetV2's probabilities stay high; frames other
    detectors claimed, and gradual runs whose tails reach them, are left to them."""

    config: LearnedConfig = LearnedConfig()
    # Grid tests (None: off): a weak cut a flash explains, and any cut only light explains.
    flash: ShotDetectorConfig | None = None
    name: str = "learned"
    requires: frozenset[str] = frozenset({"learned"})

    @property
    def context(self) -> int:
        return self.config.context_frames + 64  # runs are local; margin for long dissolves

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        assert evidence.learned is not None
        p = evidence.learned
        n = evidence.frames
        many = evidence.learned_many
        out: list[Transition] = []
        gradual: list[tuple[int, int]] = []
        if many is not None:
            gradual = [(a, b) for a, b in _runs(many > self.config.many_threshold,
                                                 self.config.merge_gap)
                       if b - a > self.config.cut_frames + 1]
        for r0, r1 in _runs(p > self.config.threshold):
            if r1 - r0 > self.config.cut_frames:
                if many is None:
                    gradual.append((r0, r1))
                continue
            if any(a <= r0 and r1 <= b for a, b in gradual):
                continue  # the peak of a gradual transition, not a cut
            frame = r1 if r1 < n else r0
            strength = float(p[r0:r1].max())
            if frame <= 0 or blocked[max(0, frame - 2) : frame + 3].any():
                continue
            if self.flash is not None:
                g = evidence.grids
                if strength < self.config.flash_veto_below and algo._flash_like(
                        g, frame, float(algo._dist(g[frame], g[frame - 1])), self.flash):
                    continue
                if only_light(g, frame):  # TransNetV2 fires on a lamp switched off
                    continue
            out.append(Transition(frame, "cut", 0, strength))
        near = self.config.near_frames
        for a, b in gradual:
            lo, hi = a, b
            if many is not None:
                while lo > 0 and many[lo - 1] >= self.config.tail:
                    lo -= 1
                while hi < n and many[hi] >= self.config.tail:
                    hi += 1
            if a > 0 and not blocked[max(0, lo - near) : hi + near].any():
                strength = float((many if many is not None else p)[a:b].max())
                out.append(Transition(a, "dissolve", b - a, strength))
        return out

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        blocked[transition.frame : transition.frame + max(1, transition.length)] = True

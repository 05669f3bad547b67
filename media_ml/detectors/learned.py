"""The learned detector: transitions from TransNetV2's per-frame probabilities.

The probabilities are computed on the workers (``workers.tasks.learned_probabilities``: 48×27
RGB frames made from the decoded planes, 100-frame windows with 25 frames of context each side,
on a GPU worker when there is one) and stitched on the driver like the grids; this turns them
into transitions. A run of frames above ``threshold`` is one transition: up to
``cut_frames`` frames long it is a cut at the first frame after the run (TransNetV2 marks the
last frame of the old shot), longer it is a gradual transition spanning the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from media_ml.detectors.base import Evidence, Transition
from media_ml.errors import UsageError


@dataclass(frozen=True)
class LearnedConfig:
    """How probabilities become transitions."""

    threshold: float = 0.5
    cut_frames: int = 2
    context_frames: int = 8

    def __post_init__(self) -> None:
        if not (isinstance(self.threshold, int | float) and 0.0 < self.threshold < 1.0):
            raise UsageError(f"learned threshold must be in (0, 1), got {self.threshold!r}")
        if not (isinstance(self.cut_frames, int) and 1 <= self.cut_frames <= 10):
            raise UsageError(f"learned cut_frames must be 1..10, got {self.cut_frames!r}")


@dataclass(frozen=True)
class LearnedDetector:
    """Transitions where TransNetV2's probability stays above ``threshold``; frames other
    detectors claimed are left to them."""

    config: LearnedConfig = LearnedConfig()
    name: str = "learned"
    requires: frozenset[str] = frozenset({"learned"})

    @property
    def context(self) -> int:
        return self.config.context_frames + 64  # runs are local; margin for long dissolves

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]:
        assert evidence.learned is not None
        p = evidence.learned
        above = np.concatenate([[False], p > self.config.threshold, [False]])
        edges = np.flatnonzero(np.diff(above.astype(np.int8)))
        out: list[Transition] = []
        for r0, r1 in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            strength = float(p[r0:r1].max())
            if r1 - r0 <= self.config.cut_frames:
                frame = min(r1, evidence.frames - 1) if r1 < evidence.frames else r0
                t = Transition(frame, "cut", 0, strength)
                span = blocked[max(0, frame - 2) : frame + 3]
            else:
                t = Transition(r0, "dissolve", r1 - r0, strength)
                span = blocked[r0:r1]
            if t.frame > 0 and not span.any():
                out.append(t)
        return out

    def claim(self, blocked: np.ndarray, transition: Transition) -> None:
        blocked[transition.frame : transition.frame + max(1, transition.length)] = True

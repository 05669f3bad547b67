"""The detector seam: evidence in, transitions out.

>>> from media_ml.detectors import Evidence, detect, detector_set
>>> transitions = detect(Evidence(grids), detector_set("fast"))       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from media_ml.extractors.motion import MOTION_FIELDS
from media_ml.extractors.shots import Transition

__all__ = ["DetectorSet", "Evidence", "ShotDetector", "Suppressor", "Transition", "detect"]


@dataclass(frozen=True, eq=False)
class Evidence:
    """Per-frame evidence of a video (or a slice of it), as the driver stitched it.

    ``grids``: ``(n, GRID_SIZE)`` uint8 block means (always). ``hists``: ``(n, HIST_SIZE)``
    uint8 Y/U/V histograms (shift-invariant evidence). ``learned``: ``(n,)`` float32
    probability that frame ``i`` is a transition (TransNetV2's single-frame head), and
    ``learned_many`` its all-frames-of-a-transition head, when the set needs them. ``motion``:
    ``(n, len(MOTION_FIELDS))`` float32 global motion from the frame before
    (``extractors.motion``).
    """

    grids: np.ndarray
    learned: np.ndarray | None = field(default=None)
    hists: np.ndarray | None = field(default=None)
    learned_many: np.ndarray | None = field(default=None)
    motion: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        if self.grids.ndim != 2:
            raise ValueError("grids must be (frames, features)")
        if self.hists is not None and self.hists.shape[0] != self.grids.shape[0]:
            raise ValueError("hists must hold one row per frame")
        if self.learned_many is not None and self.learned_many.shape != (self.grids.shape[0],):
            raise ValueError("learned_many must hold one value per frame")
        if self.learned is not None and self.learned.shape != (self.grids.shape[0],):
            raise ValueError(f"learned must hold one value per frame ({self.grids.shape[0]}), "
                             f"got {self.learned.shape}")
        if self.motion is not None and self.motion.shape != (self.grids.shape[0],
                                                            len(MOTION_FIELDS)):
            raise ValueError(f"motion must hold one row of {len(MOTION_FIELDS)} per frame, "
                             f"got {self.motion.shape}")

    @property
    def frames(self) -> int:
        return int(self.grids.shape[0])

    def slice(self, lo: int, hi: int) -> Evidence:
        return Evidence(self.grids[lo:hi],
                        None if self.learned is None else self.learned[lo:hi],
                        None if self.hists is None else self.hists[lo:hi],
                        None if self.learned_many is None else self.learned_many[lo:hi],
                        None if self.motion is None else self.motion[lo:hi])


@runtime_checkable
class ShotDetector(Protocol):
    """Finds transitions of one or more kinds in a slice of evidence.

    ``requires`` names the evidence it reads (``"grids"``, ``"learned"``); ``context`` is how
    many frames either side a decision may depend on (chunks overlap by the set's maximum).
    ``detect`` must not report transitions touching ``blocked`` frames (claimed by detectors
    that ran before it); ``claim`` marks what a transition it found takes.
    """

    @property
    def name(self) -> str: ...

    @property
    def requires(self) -> frozenset[str]: ...

    @property
    def context(self) -> int: ...

    def detect(self, evidence: Evidence, blocked: np.ndarray) -> list[Transition]: ...

    def claim(self, blocked: np.ndarray, transition: Transition) -> None: ...


@runtime_checkable
class Suppressor(Protocol):
    """Vetoes transitions that are not: ``keep`` is False for a flash, a glitch, …"""

    @property
    def name(self) -> str: ...

    @property
    def context(self) -> int: ...

    def keep(self, evidence: Evidence, transition: Transition) -> bool: ...


@dataclass(frozen=True)
class DetectorSet:
    """Detectors run in order, suppressors applied to what they find, then merged: two
    boundaries closer than ``min_shot_frames`` keep the stronger (the first frame always).
    ``detect`` then makes gradual transitions at most ``gradual_gap`` frames apart one
    (``join_gradual``, on the whole video's list)."""

    name: str
    detectors: tuple[ShotDetector, ...]
    suppressors: tuple[Suppressor, ...] = ()
    min_shot_frames: int = 6
    chunk_frames: int = 20000
    gradual_gap: int = 0

    def __post_init__(self) -> None:
        if not self.detectors:
            raise ValueError(f"detector set {self.name!r} has no detectors")
        if self.min_shot_frames < 1 or self.chunk_frames < 1000:
            raise ValueError("min_shot_frames >= 1 and chunk_frames >= 1000 required")
        if not 0 <= self.gradual_gap <= 1000:
            raise ValueError(f"gradual_gap must be 0..1000 frames, got {self.gradual_gap!r}")

    @property
    def requires(self) -> frozenset[str]:
        return frozenset().union(*(d.requires for d in self.detectors))

    @property
    def context(self) -> int:
        return max([d.context for d in self.detectors] + [s.context for s in self.suppressors])

    def detect_range(self, evidence: Evidence) -> list[Transition]:
        """Transitions of one slice (no chunking)."""
        blocked = np.zeros(evidence.frames + 1, bool)
        found: list[Transition] = []
        for det in self.detectors:
            for t in det.detect(evidence, blocked):
                if all(s.keep(evidence, t) for s in self.suppressors):
                    found.append(t)
                    det.claim(blocked, t)
        return merge(found, self.min_shot_frames)


def merge(found: Sequence[Transition], min_shot_frames: int) -> list[Transition]:
    """Sorted transitions with none closer than ``min_shot_frames`` to the previous one (the
    stronger of two wins; a transition at frame 0 always stays)."""
    ordered = sorted(found, key=lambda t: (t.frame, t.kind != "cut"))
    out: list[Transition] = []
    for t in ordered:
        if out and t.frame - out[-1].frame < min_shot_frames and t.frame != 0:
            if t.strength > out[-1].strength and out[-1].frame != 0:
                out[-1] = t
            continue
        out.append(t)
    return out


def detect(evidence: Evidence, detectors: DetectorSet) -> list[Transition]:
    """All transitions of a video, processed in overlapping chunks (flat memory; each chunk's
    core sees ``detectors.context`` frames either side, so chunks agree with one pass)."""
    have = {"grids"} | {name for name, value in (("learned", evidence.learned),
                                                  ("hists", evidence.hists),
                                                  ("motion", evidence.motion))
                        if value is not None}
    missing = detectors.requires - have
    if missing:
        raise ValueError(f"detector set {detectors.name!r} needs {sorted(missing)} evidence")
    n = evidence.frames
    ctx = detectors.context
    out: list[Transition] = []
    start = 0
    while start < n:
        stop = min(n, start + detectors.chunk_frames)
        lo, hi = max(0, start - ctx), min(n, stop + ctx)
        for t in detectors.detect_range(evidence.slice(lo, hi)):
            f = t.frame + lo
            if start <= f < stop and not (f == lo and lo > 0):
                out.append(Transition(f, t.kind, t.length, t.strength))
        start = stop
    # Chunk borders can leave two boundaries closer than a shot: keep the earlier. The video's
    # start is a boundary too: a leader of a few frames (a black frame before the picture) is
    # not a shot of its own.
    dedup: list[Transition] = []
    for t in out:
        last = dedup[-1].frame if dedup else 0
        if t.frame != 0 and t.frame - last < detectors.min_shot_frames:
            continue
        dedup.append(t)
    return join_gradual(dedup, detectors.gradual_gap)


def join_gradual(found: Sequence[Transition], gap: int) -> list[Transition]:
    """Sorted transitions with gradual ones (not cuts) at most ``gap`` frames apart made one: a
    long fade or dissolve found in pieces by two detectors or windows. The first piece's frame
    is kept and the span covers every piece; a fade among them names the whole (its dark or
    white middle is the surest sign), else the longest piece. Run once on the whole video's
    list, so segmented and one-pass results stay the same."""
    out: list[Transition] = []
    for t in found:
        prev = out[-1] if out else None
        if (prev is not None and gap > 0 and t.kind != "cut" and prev.kind != "cut"
                and t.length > 0 and prev.length > 0
                and t.frame - (prev.frame + prev.length) <= gap):
            kind = ("fade" if "fade" in (prev.kind, t.kind)
                    else prev.kind if prev.length >= t.length else t.kind)
            end = max(prev.frame + prev.length, t.frame + t.length)
            out[-1] = Transition(prev.frame, kind, end - prev.frame,
                                 max(prev.strength, t.strength))
            continue
        out.append(t)
    return out

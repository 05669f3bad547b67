"""Shot detectors behind one interface, and detector sets chosen by name.

A *detector* turns per-frame evidence (``Evidence``: the analysis grids, colour histograms and
global-motion rows workers return, and the learned detector's per-frame probabilities when a
set needs them) into transitions; a
*suppressor* vetoes transitions that are not (a camera flash, a one-frame glitch). A *detector
set* runs its detectors in order — each sees the frames earlier ones claimed as ``blocked`` — then
merges what they found. Everything is a pure function of the evidence, run in overlapping chunks
on the driver, so segmented and one-pass results are identical for every set.

Sets (``--detector``)::

    fast       fades and hard cuts from the analysis grids, colour histograms and global
               motion (flashes, strobes and whip pans told apart; cuts between two framings
               of one scene), dissolves and wipes scored by a small tree model
               (``scored.py``), also between moving shots
    grids      the grid-only detector of earlier releases (a baseline)
    learned    TransNetV2's per-frame probabilities (computed on the workers; GPU when present)
    ensemble   fast, then what TransNetV2 is confident of where fast found nothing (not a
               change of light, not a piece of a transition fast found)

Configure one with ``--detector-option KEY=VALUE`` (``configure``: a ``ShotDetectorConfig`` field
such as ``gradual_score=0.8``, or ``learned.FIELD``). Add one by registering a factory in
``DETECTOR_SETS``.
"""

from __future__ import annotations

from media_ml.detectors.base import (
    DetectorSet,
    Evidence,
    ShotDetector,
    Suppressor,
    Transition,
    detect,
)
from media_ml.detectors.classic import (
    CutDetector,
    FadeDetector,
    FlashSuppressor,
    GradualDetector,
)
from media_ml.detectors.registry import DEFAULT_SET, DETECTOR_SETS, configure, detector_set

__all__ = [
    "DEFAULT_SET", "DETECTOR_SETS", "CutDetector", "DetectorSet", "Evidence", "FadeDetector",
    "FlashSuppressor", "GradualDetector", "ShotDetector", "Suppressor", "Transition", "configure",
    "detect", "detector_set",
]

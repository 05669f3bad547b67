"""Detector sets by name: ``--detector fast|learned|ensemble``."""

from __future__ import annotations

from collections.abc import Callable

from media_ml.detectors.base import DetectorSet
from media_ml.detectors.classic import (
    CutDetector,
    FadeDetector,
    FlashSuppressor,
    GradualDetector,
)
from media_ml.detectors.ensemble import ConfirmedCutDetector
from media_ml.detectors.histograms import HistogramCutDetector, SceneCutDetector
from media_ml.detectors.learned import LearnedConfig, LearnedDetector
from media_ml.detectors.scored import ScoredGradualDetector
from media_ml.errors import UsageError
from media_ml.extractors.shots import ShotDetectorConfig

DEFAULT_SET = "fast"


def _fast(cfg: ShotDetectorConfig, learned: LearnedConfig) -> DetectorSet:
    # Grid evidence for where and what; histograms (which camera motion hardly changes) to
    # tell a cut from a whip pan; dissolves and wipes, also between moving shots, scored by a
    # small trained model (flash frames taken out first); last, cuts into and out of strobing
    # or fast-moving shots. The cut detectors run the flash test themselves.
    return DetectorSet("fast", (FadeDetector(cfg), HistogramCutDetector(cfg),
                                ScoredGradualDetector(), SceneCutDetector(cfg)),
                       (), cfg.min_shot_frames, cfg.chunk_frames)


def _grids(cfg: ShotDetectorConfig, learned: LearnedConfig) -> DetectorSet:
    # The grid-only detector of earlier releases (no histograms): a baseline for benchmarks.
    return DetectorSet("grids", (FadeDetector(cfg), CutDetector(cfg), GradualDetector(cfg)),
                       (FlashSuppressor(cfg),), cfg.min_shot_frames, cfg.chunk_frames)


def _learned(cfg: ShotDetectorConfig, learned: LearnedConfig) -> DetectorSet:
    return DetectorSet("learned", (LearnedDetector(learned, flash=cfg),), (),
                       cfg.min_shot_frames, cfg.chunk_frames)


def _ensemble(cfg: ShotDetectorConfig, learned: LearnedConfig) -> DetectorSet:
    # Grid evidence first where it is exact (fades, cuts the learned evidence confirms), then
    # TransNetV2's own cuts and dissolves (it sees transitions into and out of moving shots),
    # then the scored gradual windows (wipes, which TransNetV2 misses), then cuts next to
    # strobes the histograms show.
    return DetectorSet("ensemble", (FadeDetector(cfg), ConfirmedCutDetector(cfg),
                                    LearnedDetector(learned, flash=cfg), ScoredGradualDetector(),
                                    SceneCutDetector(cfg)),
                       (), cfg.min_shot_frames, cfg.chunk_frames)


DETECTOR_SETS: dict[str, Callable[[ShotDetectorConfig, LearnedConfig], DetectorSet]] = {
    "fast": _fast,
    "grids": _grids,
    "learned": _learned,
    "ensemble": _ensemble,
}


def detector_set(name: str, config: ShotDetectorConfig | None = None,
                 learned: LearnedConfig | None = None) -> DetectorSet:
    """The detector set called ``name``, built with these configs (defaults otherwise)."""
    factory = DETECTOR_SETS.get(name)
    if factory is None:
        raise UsageError(f"unknown detector set {name!r}; choose one of "
                         f"{', '.join(sorted(DETECTOR_SETS))}")
    return factory(config or ShotDetectorConfig(), learned or LearnedConfig())

"""Detector sets by name: ``--detector fast|learned|ensemble``."""

from __future__ import annotations

from collections.abc import Callable

from media_ml.detectors.base import DetectorSet
from media_ml.detectors.classic import CutDetector, FadeDetector, FlashSuppressor, GradualDetector
from media_ml.detectors.learned import LearnedConfig, LearnedDetector
from media_ml.errors import UsageError
from media_ml.extractors.shots import ShotDetectorConfig

DEFAULT_SET = "fast"


def _fast(cfg: ShotDetectorConfig, learned: LearnedConfig) -> DetectorSet:
    return DetectorSet("fast", (FadeDetector(cfg), CutDetector(cfg), GradualDetector(cfg)),
                       (FlashSuppressor(cfg),), cfg.min_shot_frames, cfg.chunk_frames)


def _learned(cfg: ShotDetectorConfig, learned: LearnedConfig) -> DetectorSet:
    return DetectorSet("learned", (LearnedDetector(learned),), (), cfg.min_shot_frames,
                       cfg.chunk_frames)


def _ensemble(cfg: ShotDetectorConfig, learned: LearnedConfig) -> DetectorSet:
    # Grid evidence first (exact frames, kinds, fades), then what only the learned evidence
    # sees (transitions into and out of moving shots); flashes vetoed for both.
    return DetectorSet("ensemble", (FadeDetector(cfg), CutDetector(cfg), GradualDetector(cfg),
                                    LearnedDetector(learned)),
                       (FlashSuppressor(cfg),), cfg.min_shot_frames, cfg.chunk_frames)


DETECTOR_SETS: dict[str, Callable[[ShotDetectorConfig, LearnedConfig], DetectorSet]] = {
    "fast": _fast,
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

"""Detector sets by name: ``--detector fast|learned|ensemble``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from media_ml.detectors.base import DetectorSet
from media_ml.detectors.classic import (
    CutDetector,
    FadeDetector,
    FlashSuppressor,
    GradualDetector,
)
from media_ml.detectors.histograms import HistogramCutDetector, SceneCutDetector
from media_ml.detectors.learned import LearnedConfig, LearnedDetector
from media_ml.detectors.motion import MotionCutDetector
from media_ml.detectors.scored import ScoredGradualDetector
from media_ml.errors import UsageError
from media_ml.extractors.shots import ShotDetectorConfig

DEFAULT_SET = "fast"


def _fast(cfg: ShotDetectorConfig, learned: LearnedConfig) -> DetectorSet:
    # Grid evidence for where and what; histograms (which camera motion hardly changes) to
    # tell a cut from a whip pan; dissolves and wipes, also between moving shots, scored by a
    # small trained model (flash frames taken out first); then cuts into and out of strobing
    # or fast-moving shots; last, cuts that only stand out once camera motion is taken away
    # (two framings of one scene). The cut detectors run the flash test themselves.
    return DetectorSet("fast", (FadeDetector(cfg), HistogramCutDetector(cfg),
                                ScoredGradualDetector(cfg.gradual_score),
                                SceneCutDetector(cfg), MotionCutDetector(cfg)),
                       (), cfg.min_shot_frames, cfg.chunk_frames, cfg.gradual_gap)


def _grids(cfg: ShotDetectorConfig, learned: LearnedConfig) -> DetectorSet:
    # The grid-only detector of earlier releases (no histograms): a baseline for benchmarks.
    return DetectorSet("grids", (FadeDetector(cfg), CutDetector(cfg), GradualDetector(cfg)),
                       (FlashSuppressor(cfg),), cfg.min_shot_frames, cfg.chunk_frames,
                       cfg.gradual_gap)


def _learned(cfg: ShotDetectorConfig, learned: LearnedConfig) -> DetectorSet:
    return DetectorSet("learned", (LearnedDetector(learned, flash=cfg),), (),
                       cfg.min_shot_frames, cfg.chunk_frames, cfg.gradual_gap)


def _ensemble(cfg: ShotDetectorConfig, learned: LearnedConfig) -> DetectorSet:
    # Everything ``fast`` finds first (it is the more precise on every set we have), then the
    # transitions TransNetV2 is confident of (``learned.confident``) where nothing was found:
    # dissolves between moving shots and cuts the grid, histogram and motion evidence missed.
    sure = dataclasses.replace(learned, threshold=max(learned.threshold, learned.confident),
                               many_threshold=max(learned.many_threshold, learned.confident))
    return DetectorSet("ensemble", (*_fast(cfg, learned).detectors,
                                    LearnedDetector(sure, flash=cfg)),
                       (), cfg.min_shot_frames, cfg.chunk_frames, cfg.gradual_gap)


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


MAX_OPTIONS = 64


def configure(options: Sequence[str]) -> tuple[ShotDetectorConfig, LearnedConfig]:
    """The detector configs ``KEY=VALUE`` options ask for (``--detector-option``).

    ``KEY`` is a field of ``ShotDetectorConfig`` (``gradual_score=0.8``) or ``learned.`` and a
    field of ``LearnedConfig`` (``learned.threshold=0.6``); a tuple field takes comma-separated
    numbers. Anything else, a value that is not a finite number of the field's type, or one the
    config refuses is a ``UsageError`` naming the option and the valid keys.
    """
    if len(options) > MAX_OPTIONS:
        raise UsageError(f"at most {MAX_OPTIONS} --detector-option values, got {len(options)}")
    values: dict[str, dict[str, object]] = {"": {}, "learned.": {}}
    targets = {"": ShotDetectorConfig, "learned.": LearnedConfig}
    keys = [f"{prefix}{f.name}" for prefix, cls in targets.items()
            for f in dataclasses.fields(cls)]
    for option in options:
        key, sep, text = option.partition("=")
        key = key.strip()
        prefix = "learned." if key.startswith("learned.") else ""
        fields = {f.name: f for f in dataclasses.fields(targets[prefix])}
        name = key[len(prefix):]
        if not sep or name not in fields:
            raise UsageError(f"--detector-option {option[:80]!r}: expected KEY=VALUE with KEY "
                             f"one of {', '.join(keys)}")
        default = getattr(targets[prefix](), name)
        try:
            values[prefix][name] = _value(text, default)
        except ValueError:
            kind = ("comma-separated whole numbers" if isinstance(default, tuple)
                    else "a whole number" if isinstance(default, int) else "a finite number")
            raise UsageError(f"--detector-option {key}: {text[:40]!r} is not {kind}") from None
    try:
        shot = ShotDetectorConfig(**values[""])  # type: ignore[arg-type]
        learned = LearnedConfig(**values["learned."])  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--detector-option: {exc}") from None
    return shot, learned


def _value(text: str, default: object) -> object:
    """``text`` as a finite value of ``default``'s type (ValueError otherwise)."""
    text = text.strip()
    if len(text) > 200:
        raise ValueError("too long")
    if isinstance(default, tuple):
        parts = tuple(_value(t, default[0]) for t in text.split(","))
        if not 1 <= len(parts) <= 32:
            raise ValueError("1 to 32 values")
        return parts
    if isinstance(default, int):
        return int(text)
    v = float(text)
    if not math.isfinite(v):
        raise ValueError("not finite")
    return v

"""Contexts: where an image will be shown, and what makes a good one there.

A context names a device and a surface, the aspect ratio and minimum output size of the image,
the weights of each signal in the score, and optional CLIP text prompts (positive and negative).
Built-ins cover the common surfaces; more come from a TOML file::

    [contexts.kids-row]
    device = "tv"
    surface = "row"
    aspect = "16:9"
    min_size = "480x270"
    prompts = ["a smiling face"]
    negative_prompts = ["text", "a dark scene"]
    [contexts.kids-row.weights]
    faces = 2.0
    prompt = 1.5
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from media_ml.errors import UsageError

DEVICES = ("tv", "mobile", "web", "any")
SURFACES = ("billboard", "row", "boxart", "preview", "square", "any")
SIGNALS = ("exposure", "contrast", "colourfulness", "sharpness", "faces", "composition", "prompt")

DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType({
    "exposure": 1.0, "contrast": 0.6, "colourfulness": 0.5, "sharpness": 1.0, "faces": 1.0,
    "composition": 0.6, "prompt": 1.0,
})


@dataclass(frozen=True)
class Context:
    """Where a still is shown. Validated on construction."""

    name: str
    device: str = "any"
    surface: str = "any"
    aspect: tuple[int, int] = (16, 9)
    min_size: tuple[int, int] = (320, 180)
    weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_WEIGHTS)
    prompts: tuple[str, ...] = ()
    negative_prompts: tuple[str, ...] = ()
    per_shot: int = 1
    diversity: float = 0.3  # MMR: share of the score traded for being unlike what is picked
    # Title-relative similarity (0 typical pair, 1 identical) above which two candidates are
    # the same picture; see ranking.suggest.relative_similarity.
    duplicate_threshold: float = 0.9

    def __post_init__(self) -> None:
        where = f"context {self.name!r}"
        if not self.name or not isinstance(self.name, str):
            raise UsageError("a context needs a non-empty name")
        if self.device not in DEVICES:
            raise UsageError(f"{where}: device must be one of {DEVICES}, got {self.device!r}")
        if self.surface not in SURFACES:
            raise UsageError(f"{where}: surface must be one of {SURFACES}, got {self.surface!r}")
        for label, pair in (("aspect", self.aspect), ("min_size", self.min_size)):
            if (len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                          and v > 0 for v in pair)):
                raise UsageError(f"{where}: {label} must be two positive integers, got {pair!r}")
        unknown = set(self.weights) - set(SIGNALS)
        if unknown:
            raise UsageError(f"{where}: unknown signal weights {sorted(unknown)}; "
                             f"known: {', '.join(SIGNALS)}")
        for k, v in self.weights.items():
            if not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
                raise UsageError(f"{where}: weight {k!r} must be a number >= 0, got {v!r}")
        for label, prompts in (("prompts", self.prompts),
                               ("negative_prompts", self.negative_prompts)):
            if not all(isinstance(p, str) and p.strip() for p in prompts):
                raise UsageError(f"{where}: {label} must be non-empty strings")
        if not isinstance(self.per_shot, int) or self.per_shot < 1:
            raise UsageError(f"{where}: per_shot must be an integer >= 1")
        if not isinstance(self.diversity, int | float) or not 0 <= self.diversity < 1:
            raise UsageError(f"{where}: diversity must be in [0, 1)")
        if (not isinstance(self.duplicate_threshold, int | float)
                or not 0 < self.duplicate_threshold <= 1):
            raise UsageError(f"{where}: duplicate_threshold must be in (0, 1]")
        object.__setattr__(self, "weights", MappingProxyType({**DEFAULT_WEIGHTS,
                                                              **dict(self.weights)}))

    @property
    def ratio(self) -> float:
        return self.aspect[0] / self.aspect[1]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device, "surface": self.surface,
                "aspect": f"{self.aspect[0]}:{self.aspect[1]}",
                "min_size": f"{self.min_size[0]}x{self.min_size[1]}",
                "weights": dict(self.weights), "prompts": list(self.prompts),
                "negative_prompts": list(self.negative_prompts), "per_shot": self.per_shot}


BUILTIN: dict[str, Context] = {c.name: c for c in (
    Context("tv-billboard", "tv", "billboard", (16, 9), (1280, 720),
            {"sharpness": 1.2, "composition": 0.8}, negative_prompts=("text", "a blurry photo")),
    Context("web-row", "web", "row", (16, 9), (480, 270)),
    Context("mobile-boxart", "mobile", "boxart", (2, 3), (240, 360),
            {"faces": 1.5, "composition": 0.8}, prompts=("a close-up portrait of a person",)),
    Context("square", "any", "square", (1, 1), (300, 300)),
    Context("tv-preview", "tv", "preview", (16, 9), (640, 360), {"colourfulness": 0.8}),
)}


def _pair(value: Any, sep: str, label: str, where: str) -> tuple[int, int]:
    if isinstance(value, list | tuple) and len(value) == 2:
        a, b = value
    elif isinstance(value, str) and sep in value:
        a, _, b = value.partition(sep)
    else:
        raise UsageError(f"{where}: {label} must look like 'A{sep}B', got {value!r}")
    try:
        pair = (int(a), int(b))
    except (TypeError, ValueError) as e:
        raise UsageError(f"{where}: {label} must hold integers, got {value!r}") from e
    return pair


def load_contexts(path: str | Path) -> dict[str, Context]:
    """Contexts defined in a TOML file (``[contexts.NAME]`` tables)."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"{p}: cannot read context file: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{p}: not valid TOML: {e}") from e
    tables = doc.get("contexts")
    if not isinstance(tables, dict) or not tables:
        raise UsageError(f"{p}: expected [contexts.NAME] tables")
    out: dict[str, Context] = {}
    allowed = {"device", "surface", "aspect", "min_size", "weights", "prompts",
               "negative_prompts", "per_shot", "diversity", "duplicate_threshold", "extends"}
    for name, t in tables.items():
        where = f"{p}: context {name!r}"
        if not isinstance(t, dict):
            raise UsageError(f"{where}: must be a table")
        unknown = set(t) - allowed
        if unknown:
            raise UsageError(f"{where}: unknown keys {sorted(unknown)}")
        base = BUILTIN.get(t["extends"]) if "extends" in t else None
        if "extends" in t and base is None:
            raise UsageError(f"{where}: extends unknown context {t['extends']!r}")
        kw: dict[str, Any] = {}
        for key in ("device", "surface"):
            if key in t:
                if not isinstance(t[key], str):
                    raise UsageError(f"{where}: {key} must be a string, got {t[key]!r}")
                kw[key] = t[key]
        if "aspect" in t:
            kw["aspect"] = _pair(t["aspect"], ":", "aspect", where)
        if "min_size" in t:
            kw["min_size"] = _pair(t["min_size"], "x", "min_size", where)
        if "weights" in t:
            if not isinstance(t["weights"], dict):
                raise UsageError(f"{where}: weights must be a table")
            kw["weights"] = {**(base.weights if base else {}), **t["weights"]}
        for key in ("prompts", "negative_prompts"):
            if key in t:
                if not isinstance(t[key], list):
                    raise UsageError(f"{where}: {key} must be a list of strings")
                kw[key] = tuple(t[key])
        for key in ("per_shot", "diversity", "duplicate_threshold"):
            if key in t:
                kw[key] = t[key]
        try:
            out[name] = replace(base, name=name, **kw) if base else Context(name, **kw)
        except UsageError as e:
            raise UsageError(f"{p}: {e}") from e
        except TypeError as e:
            raise UsageError(f"{where}: {e}") from e
    return out


def get_context(name: str, file: str | Path | None = None) -> Context:
    """A built-in context, or one from ``file``; unknown names list what exists."""
    known = dict(BUILTIN)
    if file is not None:
        known.update(load_contexts(file))
    if name not in known:
        raise UsageError(f"unknown context {name!r}; known: {', '.join(sorted(known))}")
    return known[name]

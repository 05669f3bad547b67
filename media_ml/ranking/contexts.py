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

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from media_ml.errors import UsageError
from media_ml.validate import regular_file, safe_name, show

DEVICES = ("tv", "mobile", "web", "any")
SURFACES = ("billboard", "row", "boxart", "preview", "square", "any")
SIGNALS = ("exposure", "contrast", "colourfulness", "sharpness", "faces", "composition", "prompt")

# Bounds of a context's values: they come from a user's file and size crops and scores.
MAX_WEIGHT = 1000.0
MAX_SIDE = 16384  # aspect and min_size sides (pixels for min_size)
MAX_PROMPTS = 32
MAX_PROMPT_CHARS = 1000
MAX_PER_SHOT = 100
MAX_FILE_BYTES = 2**20
MAX_CONTEXTS = 256


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    """A finite int or float (not a bool): NaN and infinities would poison scores and JSON."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


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
        safe_name(self.name, "context name")  # it becomes part of file names (suggest --out)
        where = f"context {self.name!r}"
        if self.device not in DEVICES:
            raise UsageError(f"{where}: device must be one of {DEVICES}, got {show(self.device)}")
        if self.surface not in SURFACES:
            raise UsageError(f"{where}: surface must be one of {SURFACES}, "
                             f"got {show(self.surface)}")
        for label, pair in (("aspect", self.aspect), ("min_size", self.min_size)):
            if (not isinstance(pair, tuple | list) or len(pair) != 2
                    or not all(_is_int(v) and 0 < v <= MAX_SIDE for v in pair)):
                raise UsageError(f"{where}: {label} must be two integers from 1 to {MAX_SIDE}, "
                                 f"got {show(pair)}")
        if not isinstance(self.weights, Mapping):
            raise UsageError(f"{where}: weights must be a table of numbers, "
                             f"got {show(self.weights)}")
        unknown = set(self.weights) - set(SIGNALS)
        if unknown:
            raise UsageError(f"{where}: unknown signal weights {show(sorted(map(str, unknown)))}; "
                             f"known: {', '.join(SIGNALS)}")
        for k, v in self.weights.items():
            if not _is_number(v) or not 0 <= v <= MAX_WEIGHT:
                raise UsageError(f"{where}: weight {k!r} must be a finite number from 0 to "
                                 f"{MAX_WEIGHT}, got {show(v)}")
        for label, prompts in (("prompts", self.prompts),
                               ("negative_prompts", self.negative_prompts)):
            if not isinstance(prompts, tuple | list) or len(prompts) > MAX_PROMPTS:
                raise UsageError(f"{where}: {label} must be at most {MAX_PROMPTS} strings")
            if not all(isinstance(p, str) and p.strip() and len(p) <= MAX_PROMPT_CHARS
                       for p in prompts):
                raise UsageError(f"{where}: {label} must be non-empty strings of at most "
                                 f"{MAX_PROMPT_CHARS} characters")
        if not _is_int(self.per_shot) or not 1 <= self.per_shot <= MAX_PER_SHOT:
            raise UsageError(f"{where}: per_shot must be an integer from 1 to {MAX_PER_SHOT}, "
                             f"got {show(self.per_shot)}")
        if not _is_number(self.diversity) or not 0 <= self.diversity < 1:
            raise UsageError(f"{where}: diversity must be a finite number in [0, 1), "
                             f"got {show(self.diversity)}")
        if not _is_number(self.duplicate_threshold) or not 0 < self.duplicate_threshold <= 1:
            raise UsageError(f"{where}: duplicate_threshold must be a finite number in (0, 1], "
                             f"got {show(self.duplicate_threshold)}")
        object.__setattr__(self, "weights", MappingProxyType({**DEFAULT_WEIGHTS,
                                                              **dict(self.weights)}))
        for label in ("aspect", "min_size", "prompts", "negative_prompts"):  # lists welcome
            object.__setattr__(self, label, tuple(getattr(self, label)))

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
    elif isinstance(value, str) and sep in value and len(value) <= 40:
        a, _, b = value.partition(sep)
    else:
        raise UsageError(f"{where}: {label} must look like 'A{sep}B', got {show(value)}")
    sides: list[int] = []
    for v in (a, b):
        if _is_int(v):
            sides.append(v)
        elif isinstance(v, str) and v.strip().isascii() and v.strip().isdigit():
            sides.append(int(v))
        else:  # floats (16.5, inf, nan) are refused rather than truncated
            raise UsageError(f"{where}: {label} must hold integers, got {show(value)}")
    return sides[0], sides[1]


def load_contexts(path: str | Path) -> dict[str, Context]:
    """Contexts defined in a TOML file (``[contexts.NAME]`` tables).

    The file is a user's input: it must be a regular UTF-8 file of at most ``MAX_FILE_BYTES``
    with at most ``MAX_CONTEXTS`` contexts, each validated like any ``Context``.
    """
    p = Path(path)
    try:
        regular_file(str(p), "context file", max_bytes=MAX_FILE_BYTES)
        text = p.read_bytes().decode("utf-8")
    except UsageError as e:
        raise UsageError(f"cannot read {e}") from e
    except OSError as e:
        raise UsageError(f"{p}: cannot read context file: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise UsageError(f"{p}: context file is not UTF-8 text (byte {e.start})") from e
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{p}: not valid TOML: {e}") from e
    except RecursionError as e:  # tomllib recurses into nested arrays and inline tables
        raise UsageError(f"{p}: not valid TOML: nested too deeply") from e
    tables = doc.get("contexts")
    if not isinstance(tables, dict) or not tables:
        raise UsageError(f"{p}: expected [contexts.NAME] tables")
    if len(tables) > MAX_CONTEXTS:
        raise UsageError(f"{p}: {len(tables)} contexts, more than the limit of {MAX_CONTEXTS}")
    out: dict[str, Context] = {}
    allowed = {"device", "surface", "aspect", "min_size", "weights", "prompts",
               "negative_prompts", "per_shot", "diversity", "duplicate_threshold", "extends"}
    for name, t in tables.items():
        where = f"{p}: context {show(name)}"
        if not isinstance(t, dict):
            raise UsageError(f"{where}: must be a table")
        unknown = set(t) - allowed
        if unknown:
            raise UsageError(f"{where}: unknown keys {show(sorted(unknown))}")
        extends = t.get("extends")
        base = BUILTIN.get(extends) if isinstance(extends, str) else None
        if "extends" in t and base is None:
            raise UsageError(f"{where}: extends unknown context {show(extends)}; "
                             f"built-in: {', '.join(BUILTIN)}")
        kw: dict[str, Any] = {}
        for key in ("device", "surface"):
            if key in t:
                if not isinstance(t[key], str):
                    raise UsageError(f"{where}: {key} must be a string, got {show(t[key])}")
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

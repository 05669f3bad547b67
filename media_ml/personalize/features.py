"""Features of a decision: the member's context and each arm (candidate).

* **Member** (VW namespace ``m``): whatever the caller passes, as ``{"name": value}``: strings
  and booleans are categorical (``device=tv``), ints and floats numeric (``hour:21``). Names are
  identifiers; each name keeps the kind it was first seen with (a member schema stored with the
  decision log), so ``{"hour": "nine"}`` after ``{"hour": 21}`` is an error naming the field.
* **Arm** (namespace ``a``): the candidate's id (a per-arm bias, as a multi-armed bandit has),
  its signal values, its crop (aspect, area, centre) and its CLIP vector reduced to a few
  dimensions by a projection fitted on the library (``Projection``).
* **Context** (namespace ``c``): the artwork context's name (``web-row``…).

``FEATURE_VERSION`` names this encoding; a policy snapshot records it with the projection's
identity, and a snapshot made with other features is refused, never used by coincidence.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from media_ml.errors import UsageError
from media_ml.validate import show

FEATURE_VERSION = 1
MAX_MEMBER_KEYS = 64
MAX_VALUE_CHARS = 128
MAX_ABS_NUMBER = 1e12
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
SIGNAL_NAMES = ("exposure", "contrast", "colourfulness", "sharpness", "faces", "composition")

Member = dict[str, str | float | bool]


def _escape(text: str) -> str:
    """A VW-safe token: no spaces, ``|`` or ``:`` (percent-escaped, so distinct stays distinct)."""
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


def validate_member(member: object, name: str = "member") -> Member:
    """A member context checked field by field: identifier keys, finite bounded numbers, short
    printable strings, booleans. Returns a plain dict (ints become floats)."""
    if member is None:
        return {}
    if not isinstance(member, Mapping):
        raise UsageError(f"{name} must be an object of name: value, got {show(member)}")
    if len(member) > MAX_MEMBER_KEYS:
        raise UsageError(f"{name} has {len(member)} fields; at most {MAX_MEMBER_KEYS}")
    out: Member = {}
    for key, value in member.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise UsageError(f"{name} field name {show(key)} must be an identifier "
                             "(letters, digits, _; at most 64 characters)")
        where = f"{name}.{key}"
        if isinstance(value, bool):
            out[key] = value
        elif isinstance(value, int | float):
            v = float(value)
            if not math.isfinite(v) or abs(v) > MAX_ABS_NUMBER:
                raise UsageError(f"{where} must be a finite number of magnitude at most 1e12, "
                                 f"got {show(value)}")
            out[key] = v
        elif isinstance(value, str):
            if len(value) > MAX_VALUE_CHARS or not value.isprintable():
                raise UsageError(f"{where} must be printable text of at most {MAX_VALUE_CHARS} "
                                 f"characters, got {show(value)}")
            out[key] = value
        else:
            raise UsageError(f"{where} must be a string, number or boolean, got "
                             f"{type(value).__name__} {show(value)}")
    return out


def member_kinds(member: Member) -> dict[str, str]:
    """``{"name": "numeric" | "categorical"}`` of a validated member context."""
    return {k: "categorical" if isinstance(v, str | bool) else "numeric"
            for k, v in member.items()}


def check_kinds(member: Member, schema: Mapping[str, str], name: str = "member") -> None:
    """Refuse a field whose kind differs from the one the log first saw for that name."""
    for key, kind in member_kinds(member).items():
        known = schema.get(key)
        if known is not None and known != kind:
            raise UsageError(f"{name}.{key} = {show(member[key])} is {kind}, but {key} has "
                             f"always been {known}; send it as a "
                             f"{'number' if known == 'numeric' else 'string'}")


def member_line(member: Member) -> str:
    """The shared (member) line of a VW ADF example."""
    parts = []
    for k, v in sorted(member.items()):
        if isinstance(v, bool):
            parts.append(f"{k}={'true' if v else 'false'}")
        elif isinstance(v, str):
            parts.append(f"{k}={_escape(v)}")
        else:
            parts.append(f"{k}:{v!r}")
    return "shared |m " + " ".join(parts)


@dataclass(frozen=True)
class Arm:
    """One candidate as the policy sees it: id, editorial rank and feature values."""

    candidate_id: int
    rank: int
    score: float
    features: tuple[tuple[str, float], ...]  # numeric arm features (signals, crop, clip dims)
    context: str

    @functools.cached_property
    def line(self) -> str:
        """The arm's line of a VW ADF example (made once per arm: arms repeat every round)."""
        values = " ".join(f"{k}:{v:.6g}" for k, v in self.features)
        return f"|a cand={self.candidate_id} {values} |c ctx={_escape(self.context)}"

    def as_json(self) -> dict[str, Any]:
        return {"candidate_id": self.candidate_id, "rank": self.rank, "score": self.score,
                "features": dict(self.features), "context": self.context}

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Arm:
        return Arm(int(doc["candidate_id"]), int(doc["rank"]), float(doc["score"]),
                   tuple((str(k), float(v)) for k, v in doc["features"].items()),
                   str(doc["context"]))


def arm_features(values: Mapping[str, float], crop: Mapping[str, int], width: int, height: int,
                 clip: Sequence[float] = ()) -> tuple[tuple[str, float], ...]:
    """Numeric features of a candidate: signal values in [0, 1], crop shape and place, and the
    reduced CLIP vector."""
    out = [(f"s_{k}", round(float(values.get(k, 0.0)), 6)) for k in SIGNAL_NAMES]
    w, h = max(1, int(crop["w"])), max(1, int(crop["h"]))
    out += [("aspect", round(math.log(w / h), 6)),
            ("area", round(w * h / max(1, width * height), 6)),
            ("cx", round((crop["x"] + w / 2) / max(1, width), 6)),
            ("cy", round((crop["y"] + h / 2) / max(1, height), 6))]
    out += [(f"v{i}", round(float(x), 6)) for i, x in enumerate(clip)]
    return tuple(out)


def example(member: Member, arms: Sequence[Arm]) -> list[str]:
    """A VW ``--cb_explore_adf`` example (shared line + one line per arm)."""
    return [member_line(member)] + [a.line for a in arms]


def labelled(member: Member, arms: Sequence[Arm], action: int, cost: float,
             probability: float) -> list[str]:
    lines = example(member, arms)
    lines[action + 1] = f"0:{cost!r}:{probability!r} {lines[action + 1]}"
    return lines


@dataclass(frozen=True)
class Projection:
    """CLIP vectors → ``dims`` numbers: PCA fitted on (a sample of) the library's vectors.

    Stored as JSON beside the policy (``DIR/personalize/projection.json``) with the library and
    model it was fitted on; ``identity`` is what snapshots record.
    """

    mean: tuple[float, ...]
    components: tuple[tuple[float, ...], ...]   # dims × d
    scale: tuple[float, ...]                    # per-dim std, so outputs are ~unit
    library_id: str
    model: str

    @property
    def dims(self) -> int:
        return len(self.components)

    @property
    def identity(self) -> str:
        doc = json.dumps([self.mean, self.components, self.scale, self.library_id, self.model])
        return hashlib.sha256(doc.encode()).hexdigest()[:16]

    def apply(self, vec: np.ndarray) -> list[float]:
        if not self.components:
            return []
        m = np.asarray(self.mean, np.float64)
        c = np.asarray(self.components, np.float64)
        z = (c @ (np.asarray(vec, np.float64) - m)) / np.asarray(self.scale, np.float64)
        return [float(x) for x in np.clip(z, -10, 10)]

    @staticmethod
    def fit(vectors: np.ndarray, dims: int, library_id: str, model: str,
            seed: int = 0, max_rows: int = 50_000) -> Projection:
        """PCA on at most ``max_rows`` vectors (sampled with ``seed``)."""
        x = np.asarray(vectors, np.float64)
        if len(x) > max_rows:
            x = x[np.random.default_rng(seed).choice(len(x), max_rows, replace=False)]
        dims = min(dims, x.shape[1] if x.ndim == 2 else 0, max(0, len(x) - 1))
        if dims <= 0:
            return Projection((), (), (), library_id, model)
        mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        comps = vt[:dims]
        # A component's sign is arbitrary; fix it so refits of the same data agree.
        comps = comps * np.sign(comps[np.arange(dims), np.abs(comps).argmax(axis=1)])[:, None]
        scale = np.maximum(s[:dims] / math.sqrt(max(1, len(x) - 1)), 1e-6)
        return Projection(tuple(float(v) for v in mean),
                          tuple(tuple(float(v) for v in row) for row in comps),
                          tuple(float(v) for v in scale), library_id, model)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"mean": self.mean, "components": self.components,
                                   "scale": self.scale, "library_id": self.library_id,
                                   "model": self.model}))
        os.replace(tmp, path)

    @staticmethod
    def load(path: Path) -> Projection | None:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise UsageError(f"{path}: unreadable projection ({e}); delete it to refit") from e
        return Projection(tuple(doc["mean"]), tuple(tuple(r) for r in doc["components"]),
                          tuple(doc["scale"]), str(doc["library_id"]), str(doc["model"]))

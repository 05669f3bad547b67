"""Scoring shot detection against ground truth (used by tests and ``benchmarks/shots.py``).

Matching rule: a predicted boundary (the first frame of a new shot) matches a cut within
``tolerance`` frames, or a gradual transition anywhere inside its span ``[start, end)`` widened by
``tolerance``; each truth matches at most one prediction and vice versa.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: Score) -> Score:
        return Score(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def load_truth(path: str | Path) -> dict[str, Any]:
    """The ground-truth JSON written beside a sample clip."""
    return dict(json.loads(Path(path).read_text()))


def match(predicted: list[int], transitions: list[dict[str, Any]], tolerance: int = 2) -> Score:
    """One-to-one match of predicted boundary frames against truth transitions."""
    pairs: list[tuple[float, int, int]] = []
    for ti, t in enumerate(transitions):
        s, e = int(t["start"]), int(t["end"])
        if t["type"] == "cut" or e <= s:
            lo, hi, centre = s - tolerance, s + tolerance, float(s)
        else:
            lo, hi, centre = s - tolerance, e - 1 + tolerance, (s + e - 1) / 2
        for pi, p in enumerate(predicted):
            if lo <= p <= hi:
                pairs.append((abs(p - centre), ti, pi))
    pairs.sort()
    used_t: set[int] = set()
    used_p: set[int] = set()
    for _, ti, pi in pairs:
        if ti not in used_t and pi not in used_p:
            used_t.add(ti)
            used_p.add(pi)
    tp = len(used_t)
    return Score(tp=tp, fp=len(predicted) - tp, fn=len(transitions) - tp)

"""Scoring shot detection against ground truth (used by tests and ``benchmarks/shots.py``).

Matching rule: a predicted boundary (the first frame of a new shot) matches a cut within
``tolerance`` frames, or a gradual transition anywhere inside its span ``[start, end)`` widened by
``tolerance``; each truth matches at most one prediction and vice versa.

``score_kinds`` splits the same match by transition kind (cut, dissolve, fade, wipe), by the camera
motion of the shots on either side (when the truth's shots carry ``motion``, as the motion test
sets' do) and says where each false positive fell (on which distractor, or in which kind of shot).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
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


def match_pairs(
    predicted: list[int], transitions: list[dict[str, Any]], tolerance: int = 2
) -> list[tuple[int, int]]:
    """The one-to-one match as ``(truth index, prediction index)`` pairs, closest pairs first."""
    pairs: list[tuple[float, int, int]] = []
    for ti, t in enumerate(transitions):
        lo, hi, centre = _window(t, tolerance)
        for pi, p in enumerate(predicted):
            if lo <= p <= hi:
                pairs.append((abs(p - centre), ti, pi))
    pairs.sort()
    used_t: set[int] = set()
    used_p: set[int] = set()
    out: list[tuple[int, int]] = []
    for _, ti, pi in pairs:
        if ti not in used_t and pi not in used_p:
            used_t.add(ti)
            used_p.add(pi)
            out.append((ti, pi))
    return out


def _window(t: dict[str, Any], tolerance: int) -> tuple[int, int, float]:
    """Frames a prediction may fall on to match truth ``t``, and the best frame."""
    s, e = int(t["start"]), int(t["end"])
    if t["type"] == "cut" or e <= s:
        return s - tolerance, s + tolerance, float(s)
    return s - tolerance, e - 1 + tolerance, (s + e - 1) / 2


def match(predicted: list[int], transitions: list[dict[str, Any]], tolerance: int = 2) -> Score:
    """One-to-one match of predicted boundary frames against truth transitions."""
    tp = len(match_pairs(predicted, transitions, tolerance))
    return Score(tp=tp, fp=len(predicted) - tp, fn=len(transitions) - tp)


def _sum(a: dict[str, Score], b: dict[str, Score]) -> dict[str, Score]:
    return {k: a.get(k, Score(0, 0, 0)) + b.get(k, Score(0, 0, 0)) for k in {**a, **b}}


@dataclass(frozen=True)
class KindScores:
    """One detector's match split by kind; add them up over clips with ``+``.

    - ``overall``: the plain ``match`` score (also ``by_transition["all"]``).
    - ``by_transition[K]``: truths of kind K found (tp) and missed (fn), and false positives
      the detector called K (fp) when it names the kind of what it predicts (``score_kinds``'s
      ``kinds``): per-kind precision and F1 are then real. Without kinds a false positive
      counts against "all" only (per-kind fp 0, precision 1: per-kind F1 is recall alone).
    - ``by_motion[M]``: transitions into or out of a shot filmed with motion M (one transition
      counts for both its sides), and false positives on such a shot's frames (a false
      positive inside a transition counts for both its shots).
    - ``false_positives``: where each false positive fell: the distractor type it is on or within
      ``tolerance`` of (the one with the nearest edge), ``"transition"`` (an extra boundary on
      a transition's frames), else ``"shot:M"`` (or ``"shot"`` without motion data).
    """

    overall: Score
    by_transition: dict[str, Score] = field(default_factory=dict)
    by_motion: dict[str, Score] = field(default_factory=dict)
    false_positives: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: KindScores) -> KindScores:
        return KindScores(
            self.overall + other.overall,
            _sum(self.by_transition, other.by_transition),
            _sum(self.by_motion, other.by_motion),
            dict(Counter(self.false_positives) + Counter(other.false_positives)),
        )


def _neighbours(t: dict[str, Any], shots: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """Motions of the shots before and after transition ``t`` (None when unknown)."""
    before = t.get("from")
    after = t.get("to")
    for shot in shots:
        if before is None and int(shot["end"]) == int(t["start"]):
            before = shot.get("motion")
        if after is None and int(shot["start"]) == int(t["end"]):
            after = shot.get("motion")
    return before, after


def _place_false_positive(
    p: int, truth: dict[str, Any], tolerance: int
) -> tuple[str, list[str]]:
    """(label, motions of the shots it lies on) for a false positive at frame ``p``."""
    shots = truth.get("shots", [])
    motions = [str(s["motion"]) for s in shots
               if "motion" in s and int(s["start"]) <= p < int(s["end"])]
    for t in truth["transitions"]:
        s, e = int(t["start"]), int(t["end"])
        if s <= p < e:  # on a transition's own frames: both its shots
            motions = [m for m in _neighbours(t, shots) if m is not None]
    best: tuple[int, str] | None = None
    for d in truth.get("distractors", []):
        s, e = int(d["start"]), int(d["end"])
        if s - tolerance <= p <= e + tolerance:
            change = d.get("change")  # a caption's text change (other generators: other keys)
            edges = [s, e] + ([int(change)] if isinstance(change, int | float) else [])
            gap = min(abs(p - x) for x in edges)
            if best is None or gap < best[0]:
                best = (gap, str(d["type"]))
    if best is not None:
        return best[1], motions
    for t in truth["transitions"]:
        lo, hi, _ = _window(t, tolerance)
        if lo <= p <= hi:
            return "transition", motions
    return ("shot:" + "/".join(motions)) if motions else "shot", motions


def score_kinds(predicted: list[int], truth: dict[str, Any], tolerance: int = 2,
                kinds: Sequence[str] | None = None) -> KindScores:
    """``match`` on one clip's truth (as ``load_truth`` reads it), split by kind.

    ``kinds``, one per predicted frame, is what the detector says each boundary is (cut,
    dissolve, fade, wipe): an unmatched prediction then counts as a false positive of its kind.

    >>> truth = {"transitions": [{"type": "cut", "start": 10, "end": 10}],
    ...          "distractors": [{"type": "flash", "start": 30, "end": 31}]}
    >>> score_kinds([10, 30], truth).false_positives
    {'flash': 1}
    """
    if kinds is not None and len(kinds) != len(predicted):
        raise ValueError(f"{len(kinds)} kinds for {len(predicted)} predicted boundaries")
    transitions: list[dict[str, Any]] = truth["transitions"]
    shots: list[dict[str, Any]] = truth.get("shots", [])
    pairs = match_pairs(predicted, transitions, tolerance)
    found = {ti for ti, _ in pairs}
    used = {pi for _, pi in pairs}
    overall = Score(tp=len(pairs), fp=len(predicted) - len(pairs),
                    fn=len(transitions) - len(pairs))
    by_transition: dict[str, Score] = {"all": overall}
    by_motion: dict[str, Score] = {}
    for ti, t in enumerate(transitions):
        hit = Score(1, 0, 0) if ti in found else Score(0, 0, 1)
        kind = str(t["type"])
        by_transition[kind] = by_transition.get(kind, Score(0, 0, 0)) + hit
        for motion in {m for m in _neighbours(t, shots) if m is not None}:
            by_motion[motion] = by_motion.get(motion, Score(0, 0, 0)) + hit
    where: Counter[str] = Counter()
    for pi, p in enumerate(predicted):
        if pi in used:
            continue
        label, motions = _place_false_positive(int(p), truth, tolerance)
        where[label] += 1
        if kinds is not None:
            k = str(kinds[pi])
            by_transition[k] = by_transition.get(k, Score(0, 0, 0)) + Score(0, 1, 0)
        for motion in set(motions):
            by_motion[motion] = by_motion.get(motion, Score(0, 0, 0)) + Score(0, 1, 0)
    return KindScores(overall, by_transition, by_motion, dict(where))

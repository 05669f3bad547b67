"""Artwork suggestions: keyframes × crops, filtered, scored transparently, diversified.

Score of a candidate = Σ weight·signal / Σ weight over the signals the context uses, each signal
in [0, 1]; ``contributions`` holds each weighted term, so they add up to the score. Prompt
similarity (CLIP, positive minus negative prompts) is scaled to [0, 1] within the title.
Diversity is maximal marginal relevance over the CLIP embeddings, with at most ``per_shot``
candidates per shot and no pair above the context's duplicate threshold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from media_ml.errors import UsageError
from media_ml.ranking.contexts import Context
from media_ml.ranking.crops import Crop, best_crop
from media_ml.types import Keyframe, Shot

if TYPE_CHECKING:
    from media_ml.catalog import Catalog

log = logging.getLogger(__name__)

SHARPNESS_FULL = 1000.0  # Laplacian variance (at 480 px wide) that scores 1
BLUR_FLOOR = 25.0
MAX_K = 1000


@dataclass(frozen=True)
class Candidate:
    """One suggested still (``media-ml suggest --json`` candidate)."""

    candidate_id: int
    keyframe_id: int
    video_id: int
    shot_index: int
    frame: int
    time_s: float
    crop: dict[str, int]
    score: float
    contributions: dict[str, float]
    reasons: tuple[str, ...]
    rank: int
    thumbnail: str
    feedback: str | None = None
    image: str | None = None
    source: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("source")
        d["reasons"] = list(self.reasons)
        return d


@dataclass(frozen=True)
class Suggestions(Sequence[Candidate]):
    """The ranked candidates of a video for a context (a sequence of ``Candidate``, best first),
    with what was left out and why and what editors rejected."""

    video_id: int
    context: Context
    candidates: list[Candidate]
    filtered: dict[str, int]  # why keyframes were left out, by reason
    rejected: list[int]  # candidate ids editors rejected for this context (never proposed)

    @overload
    def __getitem__(self, i: int) -> Candidate: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Candidate]: ...
    def __getitem__(self, i: int | slice) -> Candidate | Sequence[Candidate]:
        return self.candidates[i]

    def __len__(self) -> int:
        return len(self.candidates)

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self.candidates)

    def as_json(self) -> dict[str, Any]:
        return {"video_id": self.video_id, "context": self.context.name,
                "candidates": [c.as_json() for c in self.candidates],
                "filtered": self.filtered, "rejected": self.rejected}


def _filter_reason(kf: Keyframe, shot: Shot, median_sharp: float) -> str | None:
    s = kf.signals
    if s.black or s.brightness < 0.08:
        return "black or very dark"
    if s.sharpness < max(BLUR_FLOOR, 0.2 * median_sharp):
        return "blurred"
    if s.contrast < 0.12:
        return "low contrast"
    if s.exposure < 0.4 or s.brightness > 0.85:
        return "badly exposed (flash or dark)"
    if shot.transition_in and kf.frame < shot.start_frame + shot.transition_frames:
        return "mid-transition"
    return None


def _prompt_scores(vecs: np.ndarray | None, context: Context,
                   embed_texts: Callable[[list[str]], np.ndarray] | None) -> np.ndarray | None:
    if vecs is None or embed_texts is None or not (context.prompts or context.negative_prompts):
        return None
    raw = np.zeros(len(vecs), np.float32)
    if context.prompts:
        raw += (vecs @ embed_texts(list(context.prompts)).T).mean(axis=1)
    if context.negative_prompts:
        raw -= (vecs @ embed_texts(list(context.negative_prompts)).T).mean(axis=1)
    lo, hi = float(raw.min()), float(raw.max())
    return (raw - lo) / (hi - lo) if hi > lo else np.full(len(vecs), 0.5, np.float32)


def _reasons(contrib: dict[str, float], crop: Crop, faces: int) -> tuple[str, ...]:
    top = sorted(contrib.items(), key=lambda kv: -kv[1])[:3]
    out = [f"{k} +{v:.3f}" for k, v in top]
    if faces:
        out.append(f"{faces} face(s) kept whole ({crop.face_area:.1%} of the crop)")
    out.append(f"subject {crop.subject_kept:.0%} inside the crop, thirds {crop.composition:.2f}")
    return tuple(out)


def relative_similarity(vecs: np.ndarray) -> np.ndarray:
    """Cosine similarity rescaled to the title: 0 for a typical pair, 1 for identical.

    Raw CLIP cosines sit in a model-specific band (trained models ~0.5–0.9 between shots of one
    film; random weights ~0.9–0.99), so thresholds on them do not transfer; relative to the
    title's mean pair they do.
    """
    sims = vecs @ vecs.T
    n = len(vecs)
    mean = float((sims.sum() - np.trace(sims)) / (n * (n - 1))) if n > 1 else 0.0
    mean = min(mean, 0.999)
    return np.asarray((sims - mean) / (1.0 - mean), np.float32)


def mmr(scores: np.ndarray, vecs: np.ndarray | None, shots: list[int], k: int,
        diversity: float, duplicate: float, per_shot: int) -> list[int]:
    """Greedy maximal marginal relevance over title-relative similarity; returns picked indices
    in order. A candidate closer than ``duplicate`` to a picked one is never taken."""
    sims = relative_similarity(vecs) if vecs is not None else None
    picked: list[int] = []
    per: dict[int, int] = {}
    alive = np.ones(len(scores), bool)
    max_sim = np.zeros(len(scores), np.float32)
    while len(picked) < k and alive.any():
        value = (1 - diversity) * scores - diversity * np.maximum(max_sim, 0)
        value = np.where(alive, value, -np.inf)
        i = int(np.argmax(value))
        alive[i] = False
        if per.get(shots[i], 0) >= per_shot:
            continue
        if sims is not None and picked and float(max_sim[i]) > duplicate:
            continue
        picked.append(i)
        per[shots[i]] = per.get(shots[i], 0) + 1
        if sims is not None:
            max_sim = np.maximum(max_sim, sims[i])
    return picked


def suggest(catalog: Catalog, video_id: int, context: Context, k: int = 10,
            embed_texts: Callable[[list[str]], np.ndarray] | None = None) -> Suggestions:
    """Ranked, cropped, diverse and explained candidates of one video for ``context``.

    A keyframe an editor rejected for this context (whatever its crop was) is never proposed.
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise UsageError(f"k must be an integer in 1..{MAX_K}, got {k!r}")
    if catalog.video(video_id) is None:
        raise UsageError(f"unknown video id {video_id}")
    shots = {s.index: s for s in catalog.shots(video_id)}
    kfs = catalog.keyframes(video_id)
    sharp = [kf.signals.sharpness for kf in kfs]
    median_sharp = float(np.median(sharp)) if sharp else 0.0
    filtered: dict[str, int] = {}
    kept: list[tuple[Keyframe, Crop]] = []
    judged = catalog.keyframe_verdicts(video_id, context.name)
    for kf in kfs:
        reason = _filter_reason(kf, shots[kf.shot_index], median_sharp)
        crop = None
        if reason is None:
            faces = [(float(f.x), float(f.y), float(f.w), float(f.h)) for f in kf.faces]
            sx, sy, sw, sh = kf.signals.salient
            W, H = kf.width, kf.height
            crop = best_crop(W, H, context.aspect, context.min_size, faces,
                             (sx * W, sy * H, sw * W, sh * H))
            if crop is None:
                reason = (f"no {context.aspect[0]}:{context.aspect[1]} crop of at least "
                          f"{context.min_size[0]}x{context.min_size[1]} keeps the faces whole"
                          f" (source {W}x{H})")
        if reason is not None:
            filtered[reason] = filtered.get(reason, 0) + 1
            continue
        assert crop is not None
        kept.append((kf, crop))
    verdicts = catalog.verdicts(video_id, context.name)
    rejected = sorted(cid for cid, v in verdicts.items() if v == "reject")
    kept = [(kf, c) for kf, c in kept if judged.get(kf.id) != "reject"]
    ids = catalog.register_candidates(
        [(kf.id, context.name, c.x, c.y, c.w, c.h) for kf, c in kept])
    if not kept:
        return Suggestions(video_id, context, [], filtered, rejected)
    vec_ids, vecs_all = catalog.vectors(video_id)
    vec_of = {int(i): v for i, v in zip(vec_ids.tolist(), vecs_all, strict=False)}
    vecs = (np.stack([vec_of[kf.id] for kf, _ in kept])
            if vec_of and all(kf.id in vec_of for kf, _ in kept) else None)
    prompt = _prompt_scores(vecs, context, embed_texts)
    w = dict(context.weights)
    if prompt is None:
        w.pop("prompt", None)
    total_w = sum(w.values()) or 1.0
    scores = np.zeros(len(kept), np.float32)
    contribs: list[dict[str, float]] = []
    raw: list[dict[str, float]] = []
    for i, (kf, crop) in enumerate(kept):
        s = kf.signals
        values = {
            "exposure": s.exposure, "contrast": s.contrast, "colourfulness": s.colourfulness,
            "sharpness": min(1.0, float(np.log1p(s.sharpness) / np.log1p(SHARPNESS_FULL))),
            "faces": min(1.0, crop.face_area / 0.04) if s.faces else 0.0,
            "composition": crop.composition,
        }
        if prompt is not None:
            values["prompt"] = float(prompt[i])
        c = {name: round(w[name] * values[name] / total_w, 5) for name in w}
        contribs.append(c)
        raw.append(values)
        scores[i] = sum(c.values())
    accepted = {kid for kid, v in judged.items() if v == "accept"}
    order = mmr(scores, vecs, [kf.shot_index for kf, _ in kept], k, context.diversity,
                context.duplicate_threshold, context.per_shot)
    out: list[Candidate] = []
    for rank, i in enumerate(order, start=1):
        kf, crop = kept[i]
        out.append(Candidate(
            candidate_id=ids[i], keyframe_id=kf.id, video_id=int(video_id),
            shot_index=kf.shot_index, frame=kf.frame, time_s=round(kf.time_s, 6),
            crop=crop.as_json(), score=round(float(scores[i]), 5), contributions=contribs[i],
            reasons=_reasons(contribs[i], crop, kf.signals.faces), rank=rank,
            thumbnail=kf.thumbnail, feedback="accept" if kf.id in accepted else None,
            source={"pts": kf.pts, "seek_pts": kf.seek_pts, "width": kf.width,
                    "height": kf.height, "values": raw[i]},
        ))
    catalog.record_ranks([(c.candidate_id, c.rank, c.score) for c in out], time.time())
    return Suggestions(video_id, context, out, filtered, rejected)

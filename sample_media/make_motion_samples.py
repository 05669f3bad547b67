"""Build the motion test sets: shot transitions next to moving cameras, with exact ground truth.

Why: our detector scores F1 1.00 on ``make_samples.py``'s clips, whose cameras barely move, and
0.73 on footage with handheld shake, whip pans, zooms, fast action, strobes and captions; almost
every miss is a cut or gradual transition into or out of a moving shot (issue 9). These clips put
every camera-motion kind next to every transition kind (cut, dissolve, fade, wipe), including
transitions between two moving shots, plus look-alike distractors inside shots (flash, strobe
burst, whip pan, caption change, a large object crossing the frame) that are not transitions.

Every shot films a real picture with a virtual camera: a scikit-image photograph (resized once
to a canvas large enough for the camera's whole path) or a moving crop of the real clip
``bikes.mp4``. The camera has a per-frame centre, zoom and roll; fast frames are motion-blurred
by averaging sub-frame renders over a half-frame shutter. Two disjoint sets are made from
different photographs, different bikes shots and different seeds: ``tune`` (to develop and tune
against) and ``eval`` (to score on, never to tune on). See ``README.md`` for the JSON format.

Usage::

    python sample_media/make_motion_samples.py                 # -> benchmarks/media/motion/
    python sample_media/make_motion_samples.py --force --out DIR

Importable: ``build_motion_sets``, ``plan_set``, ``MotionPlan`` (hand-written plans, used by
the tests), ``write_motion_clip``, ``Renderer``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # make_samples sits beside this file
    sys.path.insert(0, str(HERE))

import make_samples  # noqa: E402

LOG = logging.getLogger("make_motion_samples")

DEFAULT_OUT = HERE.parent / "benchmarks" / "media" / "motion"
# Bump when rendering changes what a plan looks like: clips whose JSON says otherwise are rebuilt.
GENERATOR_VERSION = 2
SIZE = (640, 360)
REF_WIDTH = 640  # pixel amounts (speeds, shake) are given at this width
SHUTTER = 0.5  # fraction of a frame interval the virtual shutter is open (180 degrees)
MAX_SUBSAMPLES = 16

# Real photographs bundled in the scikit-image wheel (licences in README.md): name -> loader.
# OpenCV's wheel ships no sample images (only Haar cascades), so none come from there.
PHOTO_LOADERS: dict[str, str] = {
    "astronaut": "astronaut",
    "camera": "camera",
    "chelsea": "chelsea",
    "coffee": "coffee",
    "coins": "coins",
    "hubble_deep_field": "hubble_deep_field",
    "immunohistochemistry": "immunohistochemistry",
    "motorcycle": "stereo_motorcycle",  # left view only; the right view is the same scene
    "rocket": "rocket",
    "retina": "retina",
    "clock": "clock",
    "brick": "brick",
    "moon": "moon",
    "grass": "grass",
    "gravel": "gravel",
    "cell": "cell",
}
FACE_PHOTOS = frozenset({"astronaut", "camera"})
BIKES = "bikes"
# Shots of bikes.mp4 ([start, end) frames between its hard cuts 30, 76, 137, 187, 242).
BIKES_SHOTS = ((0, 30), (30, 76), (76, 137), (137, 187), (187, 242))

TRANSITIONS = ("cut", "dissolve", "fade", "wipe")
MOTIONS = ("steady", "handheld", "pan", "whip", "zoom", "action", "bikes", "strobe", "caption")
MOVING = tuple(m for m in MOTIONS if m != "steady")
DISTRACTORS = ("flash", "strobe", "whip", "caption", "occlusion")
WIPE_DIRECTIONS = ("right", "left", "down", "up")
EVENT_MARGIN = 10  # a distractor keeps this many frames away from its shot's clean ends


@dataclass(frozen=True)
class SetSpec:
    """One test set: the pictures it may film and the seed of its plans.

    The two sets share no photograph and no bikes shot, so nothing seen while tuning on
    ``tune`` reappears in ``eval``.
    """

    name: str
    photos: tuple[str, ...]
    bikes: tuple[tuple[int, int], ...]
    seed: int
    clips: int = 8
    seconds: tuple[float, float] = (22.0, 34.0)
    fps: tuple[int, ...] = (24, 25, 30)
    cover: bool = True  # insist on every (motion, transition) pair (False: tiny test sets)


SETS: dict[str, SetSpec] = {
    "tune": SetSpec(
        "tune",
        ("astronaut", "coffee", "hubble_deep_field", "retina", "camera", "coins", "grass", "moon"),
        (BIKES_SHOTS[0], BIKES_SHOTS[1], BIKES_SHOTS[3]),
        seed=9101,
    ),
    "eval": SetSpec(
        "eval",
        ("chelsea", "rocket", "immunohistochemistry", "motorcycle", "clock", "brick", "gravel",
         "cell"),
        (BIKES_SHOTS[2], BIKES_SHOTS[4]),
        seed=9202,
    ),
}


# --------------------------------------------------------------------------------------------
# Plans: what a clip contains, before any pixel is made
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """A distractor inside a shot; ``offset`` counts from the shot's first clean frame.

    ``strength``: whip peak speed (px/frame at 640 wide, sign = direction), flash/strobe level.
    A caption is on for ``[offset, offset + length)`` and its text changes at ``change``
    (an offset too; 0 = no change); with ``hold`` it stays on to the end of the shot, also
    under the outgoing transition, like ``make_samples.py``'s captions.
    """

    type: str
    offset: int
    length: int
    strength: float = 0.0
    text: str = ""
    change: int = 0
    hold: bool = False


@dataclass(frozen=True)
class ShotSpec:
    """One shot: ``source`` (a photo, or ``bikes``) filmed with camera ``motion``.

    ``frames`` counts the clean frames; the camera also runs under neighbouring transitions.
    ``zoom`` is the base magnification (1 = the picture just covers the frame; 2 = a close-up
    showing half its width), raised when the camera's path needs more room;
    ``bikes`` is the ``[start, end)`` shot of bikes.mp4 a bikes shot crops; ``seed`` makes the
    shot's randomness independent of its neighbours.
    """

    source: str
    frames: int
    motion: str
    seed: int
    zoom: float = 1.0
    events: tuple[Event, ...] = ()
    bikes: tuple[int, int] | None = None
    same_scene: bool = False
    grade: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class JoinSpec:
    """The join between two shots; ``frames`` is 0 for a cut."""

    type: str
    frames: int = 0
    fade_out: int = 0
    fade_in: int = 0
    direction: str = ""
    edge: int = 0  # wipe edge softness in px at 640 wide (0 = hard)


@dataclass
class MotionPlan:
    """Shot, join, shot, ... built with chained calls, like ``make_samples.Plan``.

    >>> MotionPlan(seed=1).shot("coffee", 30, "pan").dissolve(12).shot("coins", 30, "zoom")
    """

    seed: int = 0
    fps: int = 25
    overlay: str = ""  # a station logo shown on every frame of the clip ("" = none)
    shots: list[ShotSpec] = field(default_factory=list)
    joins: list[JoinSpec] = field(default_factory=list)

    def shot(
        self, source: str, frames: int, motion: str = "steady", *events: Event, zoom: float = 1.0,
        bikes: tuple[int, int] | None = None, same_scene: bool = False,
        grade: tuple[float, float, float] = (1.0, 1.0, 1.0),
    ) -> MotionPlan:
        if len(self.shots) != len(self.joins):
            raise ValueError("two shots in a row: add a transition between them")
        if motion not in MOTIONS:
            raise ValueError(f"unknown motion {motion!r}; known: {', '.join(MOTIONS)}")
        if (source == BIKES) != (motion == "bikes"):
            raise ValueError("bikes.mp4 is filmed by the 'bikes' motion and only by it")
        if source != BIKES and source not in PHOTO_LOADERS:
            raise ValueError(f"unknown photo {source!r}")
        if motion == "bikes" and bikes is None:
            bikes = BIKES_SHOTS[2]
        spec = ShotSpec(source, frames, motion, self.seed * 1000 + len(self.shots), zoom,
                        tuple(events), bikes, same_scene, grade)
        for event in events:
            end = event.offset + event.length
            if event.type not in DISTRACTORS:
                raise ValueError(f"unknown distractor {event.type!r}")
            if event.offset < 1 or end > frames - (0 if event.hold else 1) or event.length < 1:
                raise ValueError(f"{event.type} at {event.offset} overruns a {frames}-frame shot")
        self.shots.append(spec)
        return self

    def _join(self, spec: JoinSpec) -> MotionPlan:
        if len(self.shots) != len(self.joins) + 1:
            raise ValueError("a transition must follow a shot")
        self.joins.append(spec)
        return self

    def cut(self) -> MotionPlan:
        return self._join(JoinSpec("cut"))

    def dissolve(self, frames: int) -> MotionPlan:
        if not 8 <= frames <= 30:
            raise ValueError("a dissolve lasts 8-30 frames")
        return self._join(JoinSpec("dissolve", frames))

    def fade(self, fade_out: int, black: int, fade_in: int) -> MotionPlan:
        if min(fade_out, fade_in) < 2 or black < 1:
            raise ValueError("a fade needs >= 2 frames each way and >= 1 black frame")
        return self._join(JoinSpec("fade", fade_out + black + fade_in, fade_out, fade_in))

    def wipe(self, frames: int, direction: str = "right", edge: int = 0) -> MotionPlan:
        if not 8 <= frames <= 20 or direction not in WIPE_DIRECTIONS:
            raise ValueError("a wipe lasts 8-20 frames in one of " + ", ".join(WIPE_DIRECTIONS))
        return self._join(JoinSpec("wipe", frames, direction=direction, edge=edge))


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class Layout:
    """Clean frames of every shot and frames of every transition; they tile ``[0, frames)``."""

    plan: MotionPlan
    shots: tuple[Span, ...]
    joins: tuple[Span, ...]
    frames: int

    def content(self, i: int) -> Span:
        """Frames shot ``i``'s camera films: its clean frames plus the adjoining transitions."""
        start = self.joins[i - 1].start if i > 0 else self.shots[i].start
        end = self.joins[i].end if i < len(self.joins) else self.shots[i].end
        return Span(start, end)


def layout(plan: MotionPlan) -> Layout:
    if not plan.shots or len(plan.shots) != len(plan.joins) + 1:
        raise ValueError("a plan must start and end with a shot")
    shots, joins = [], []
    t = 0
    for i, spec in enumerate(plan.shots):
        shots.append(Span(t, t + spec.frames))
        t += spec.frames
        if i < len(plan.joins):
            joins.append(Span(t, t + plan.joins[i].frames))
            t += plan.joins[i].frames
    return Layout(plan, tuple(shots), tuple(joins), t)


def ground_truth(lay: Layout, *, name: str, size: tuple[int, int], set_name: str) -> dict:
    """``NAME.json``: the keys ``make_samples.py`` writes, plus each shot's ``motion``."""
    plan = lay.plan
    transitions = []
    for i, (span, join) in enumerate(zip(lay.joins, plan.joins, strict=True)):
        entry: dict[str, Any] = {"type": join.type, "start": span.start, "end": span.end}
        if join.type == "fade":
            entry["black_start"] = span.start + join.fade_out
            entry["black_end"] = span.end - join.fade_in
        if join.type == "wipe":
            entry["direction"] = join.direction
            entry["edge"] = join.edge
        a, b = plan.shots[i], plan.shots[i + 1]
        entry["from"], entry["to"] = a.motion, b.motion
        if b.same_scene:
            entry["same_scene"] = True
        transitions.append(entry)
    distractors, shots = [], []
    for i, (span, spec) in enumerate(zip(lay.shots, plan.shots, strict=True)):
        for event in spec.events:
            start = span.start + event.offset
            end = span.end if event.hold else start + event.length
            entry = {"type": event.type, "start": start, "end": end, "shot": i}
            if event.change:
                entry["change"] = span.start + event.change
            distractors.append(entry)
        if spec.motion == "strobe":  # the whole shot strobes
            distractors.append({"type": "strobe", "start": span.start, "end": span.end, "shot": i})
        shot: dict[str, Any] = {
            "start": span.start, "end": span.end, "photo": spec.source, "quality": "good",
            "face": spec.source in FACE_PHOTOS, "motion": spec.motion,
        }
        if spec.bikes is not None:
            shot["bikes_frames"] = list(spec.bikes)
        shots.append(shot)
    distractors.sort(key=lambda d: (d["start"], d["type"]))
    return {
        "name": name, "set": set_name, "generator": GENERATOR_VERSION, "fps": plan.fps,
        "frames": lay.frames,
        "width": size[0], "height": size[1], "seed": plan.seed, "overlay": plan.overlay,
        "transitions": transitions, "distractors": distractors, "shots": shots,
    }


# --------------------------------------------------------------------------------------------
# Set plans: every motion kind next to every transition kind, distractors inside shots
# --------------------------------------------------------------------------------------------


class Bag:
    """Draws items so every kind turns up regularly: shuffles a full bag, refills when empty."""

    def __init__(self, items: list[str], rng: np.random.Generator) -> None:
        self.items, self.rng = items, rng
        self.left: list[str] = []

    def draw(self) -> str:
        if not self.left:
            self.left = [self.items[i] for i in self.rng.permutation(len(self.items))]
        return self.left.pop()


CAPTIONS = (
    "BREAKING: storm reaches the coast", "LIVE - City marathon, km 31", "Interview: the curator",
    "Round 3 - 02:41", "Tomorrow 21:00 on Channel 4", "Goal! 2 - 1 (78')",
    "Archive footage, 1998", "Weather: 14 C, light rain", "Final lap", "Press conference",
)
OVERLAYS = ("LIVE", "NEWS 24", "HD", "SPORT+")


def _event(kind: str, frames: int, rng: np.random.Generator) -> Event | None:
    """A distractor of ``kind`` inside a shot of ``frames`` clean frames, or None if no room."""
    room = frames - 2 * EVENT_MARGIN
    length = {
        "flash": int(rng.integers(1, 4)), "strobe": int(rng.integers(4, 13)),
        "whip": int(rng.integers(6, 15)), "occlusion": int(rng.integers(6, 15)),
        "caption": int(rng.integers(14, 60)),
    }[kind]
    length = min(length, room) if kind == "caption" else length
    if length < 1 or length > room or (kind == "caption" and length < 12):
        return None
    offset = EVENT_MARGIN + int(rng.integers(0, room - length + 1))
    if kind == "flash":
        return Event("flash", offset, length, strength=float(rng.uniform(0.6, 0.85)))
    if kind == "strobe":
        return Event("strobe", offset, length, strength=float(rng.uniform(0.45, 0.8)))
    if kind == "whip":
        return Event("whip", offset, length, strength=float(rng.uniform(60, 160) * rng.choice(
            [-1, 1])))
    if kind == "occlusion":
        return Event("occlusion", offset, length, strength=float(rng.choice([-1, 1])))
    change = offset + length // 2 if rng.random() < 0.5 and length >= 24 else 0
    return Event("caption", offset, length, text=str(rng.choice(CAPTIONS)), change=change)


def _captions(frames: int, rng: np.random.Generator) -> tuple[Event, ...]:
    """A caption shot's captions: one on and off in the first half, one held from the second."""
    half = frames // 2
    length = int(rng.integers(12, max(13, half - EVENT_MARGIN - 2)))
    offset = EVENT_MARGIN + int(rng.integers(0, max(1, half - EVENT_MARGIN - length)))
    change = offset + length // 2 if length >= 24 and rng.random() < 0.5 else 0
    first = Event("caption", offset, length, text=str(rng.choice(CAPTIONS)), change=change)
    appear = int(rng.integers(half + 4, max(half + 5, frames - EVENT_MARGIN)))
    held = Event("caption", appear, frames - appear, text=str(rng.choice(CAPTIONS)), hold=True)
    return first, held


def _join(kind: str, plan: MotionPlan, rng: np.random.Generator) -> None:
    if kind == "dissolve":
        plan.dissolve(int(rng.integers(8, 31)))
    elif kind == "fade":
        plan.fade(int(rng.integers(5, 16)), int(rng.integers(1, 9)), int(rng.integers(5, 16)))
    elif kind == "wipe":
        plan.wipe(int(rng.integers(8, 21)), str(rng.choice(WIPE_DIRECTIONS)),
                  int(rng.choice([0, 0, 12, 40])))
    else:
        plan.cut()


class Coverage:
    """Which (side, motion, transition) pairs the set still lacks; picks joins that fill them.

    Sides: ``out`` (a shot of that motion before the transition), ``in`` (after it) and
    ``both`` (that motion on both sides, e.g. a dissolve between two panning shots).
    """

    WEIGHTS = {"cut": 0.45, "dissolve": 0.2, "fade": 0.15, "wipe": 0.2}
    BOTH = ("pan", "handheld", "zoom", "whip")

    def __init__(self) -> None:
        self.need = {(side, m, t) for side in ("out", "in") for m in MOTIONS for t in TRANSITIONS}
        self.need |= {("both", m, t) for m in self.BOTH for t in TRANSITIONS}

    def pick(self, before: str, rng: np.random.Generator) -> tuple[str, str]:
        """(transition, motion of the next shot) covering the most missing pairs."""
        best: list[tuple[str, str]] = []
        score = -1.0
        for t in TRANSITIONS:
            for m in MOTIONS:
                s = (("out", before, t) in self.need) + (("in", m, t) in self.need)
                s += 2 * (m == before and ("both", m, t) in self.need)
                # look one join ahead: a next shot that still lacks an outgoing pair is worth more
                s += 0.5 * any(("out", m, u) in self.need for u in TRANSITIONS)
                if s > score:
                    best, score = [], s
                if s == score:
                    best.append((t, m))
        if score > 0:
            t, m = best[int(rng.integers(len(best)))]
        else:
            t = str(rng.choice(TRANSITIONS, p=[self.WEIGHTS[k] for k in TRANSITIONS]))
            m = str(rng.choice(MOTIONS, p=[0.1] + [0.9 / len(MOVING)] * len(MOVING)))
        self.need -= {("out", before, t), ("in", m, t)}
        if m == before:
            self.need.discard(("both", m, t))
        return t, m


def _shot_seconds(motion: str) -> tuple[float, float]:
    return {"pan": (1.2, 2.6), "whip": (1.2, 3.0), "bikes": (1.2, 2.4),
            "caption": (2.0, 4.0)}.get(motion, (1.5, 4.0))


def plan_set(spec: SetSpec) -> list[tuple[str, MotionPlan]]:
    """The clips of one set as (name, plan); deterministic for the set's seed.

    Joins are chosen first to cover every (motion before, transition) and (transition, motion
    after) pair at least once, then drawn at random (about half cuts). A few cuts and
    dissolves go to another framing of the same photo (``same_scene``). About half the shots
    carry one distractor.
    """
    rng = np.random.default_rng([spec.seed, 0x9])
    cover = Coverage()
    events = Bag(list(DISTRACTORS) * 2 + ["whip", "whip", "flash"] + ["none"] * 5, rng)
    clips = []
    recent: list[str] = []
    for c in range(spec.clips):
        motion = str(rng.choice(MOVING))
        fps = spec.fps[c % len(spec.fps)]
        total = int(round(rng.uniform(*spec.seconds) * fps))
        plan = MotionPlan(seed=spec.seed * 100 + c, fps=fps,
                          overlay=str(rng.choice(OVERLAYS)) if rng.random() < 0.35 else "")
        remaining = total
        same_scene = False
        while True:
            lo, hi = _shot_seconds(motion)
            frames = int(rng.integers(int(lo * fps), int(hi * fps) + 1))
            last = remaining - frames < int(1.5 * fps) + 45
            if last:
                frames = remaining
            if motion == "bikes":
                source = BIKES
                previous = plan.shots[-1].bikes if plan.shots else None
                choices = [b for b in spec.bikes if b != previous] or list(spec.bikes)
                bikes: tuple[int, int] | None = choices[int(rng.integers(len(choices)))]
                same_scene = False
            elif same_scene:
                source, bikes = recent[-1], None
            else:
                source = str(rng.choice([p for p in spec.photos if p not in recent[-3:]]))
                bikes = None
            zoom = float(rng.uniform(1.0, 1.6))
            if same_scene and plan.shots:  # another framing of the same picture
                zoom = plan.shots[-1].zoom * float(rng.choice([0.45, 2.2]))
                zoom = float(np.clip(zoom, 1.0, 3.5)) if zoom > 1 else 1.0
                if abs(zoom - plan.shots[-1].zoom) < 0.8:
                    zoom = plan.shots[-1].zoom + 1.2
            kind = events.draw()
            chosen: tuple[Event, ...] = ()
            if motion == "caption":
                chosen = _captions(frames, rng)
            elif kind != "none" and not (kind == "whip" and motion in ("bikes", "whip")):
                event = _event(kind, frames, rng)
                chosen = (event,) if event else ()
            gains = rng.uniform(0.88, 1.12, 3)
            grade = (float(gains[0]), float(gains[1]), float(gains[2]))
            if same_scene and plan.shots:
                grade = plan.shots[-1].grade
            plan.shot(source, frames, motion, *chosen, zoom=zoom, bikes=bikes,
                      same_scene=same_scene and bool(plan.shots), grade=grade)
            if source != BIKES:
                recent.append(source)
            remaining -= frames
            if last:
                break
            trans, motion = cover.pick(plan.shots[-1].motion, rng)
            _join(trans, plan, rng)
            remaining -= plan.joins[-1].frames
            same_scene = (trans in ("cut", "dissolve") and motion not in ("bikes",)
                          and plan.shots[-1].source != BIKES and rng.random() < 0.12)
        clips.append((f"{spec.name}_{c:02d}_{fps}fps", plan))
    if cover.need and spec.cover:
        raise RuntimeError(f"set {spec.name}: pairs never placed: {sorted(cover.need)}")
    return clips


# --------------------------------------------------------------------------------------------
# Pixels: pictures, camera paths, sprites, overlays
# --------------------------------------------------------------------------------------------


@cache
def load_photo(name: str) -> np.ndarray:
    """A bundled scikit-image photo as RGB uint8 (grey photos are made 3-channel)."""
    import skimage.data

    image = getattr(skimage.data, PHOTO_LOADERS[name])()
    if isinstance(image, tuple):  # stereo_motorcycle -> (left, right, disparity)
        image = image[0]
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)


@cache
def bikes_frames() -> tuple[np.ndarray, ...]:
    """Every frame of sample_media/bikes.mp4 as RGB (640x272, 250 frames, ~130 MB)."""
    import av

    path = HERE / "bikes.mp4"
    if not path.exists():
        make_samples.fetch_bikes(path)
    with av.open(str(path)) as container:
        return tuple(f.to_ndarray(format="rgb24") for f in container.decode(video=0))


def _smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Low-pass Gaussian noise of unit standard deviation (a wandering hand)."""
    radius = int(3 * sigma) + 1
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    raw = rng.normal(size=n + 2 * radius)
    out = np.convolve(raw, kernel / kernel.sum(), mode="valid")[:n]
    return out / max(float(out.std()), 1e-6)


@dataclass
class Path2D:
    """Per-frame camera: view centre (x, y) in output px at zoom 1, zoom, roll in radians."""

    x: np.ndarray
    y: np.ndarray
    zoom: np.ndarray
    roll: np.ndarray

    def at(self, k: float) -> tuple[float, float, float, float]:
        """Linear interpolation between frames (for motion-blur sub-samples); extrapolated
        half a frame past either end, so the first and last frames blur like the others."""
        return (_lerp(self.x, k), _lerp(self.y, k), _lerp(self.zoom, k), _lerp(self.roll, k))

    def extended(self, reach: float) -> Path2D:
        """The path with a point ``reach`` frames before its start and after its end."""
        n = len(self.x)
        ks = [-reach, *range(n), n - 1 + reach]
        return Path2D(*(np.array([_lerp(a, k) for k in ks])
                        for a in (self.x, self.y, self.zoom, self.roll)))


def _lerp(a: np.ndarray, k: float) -> float:
    """``a`` at fractional index ``k``; linear, and extrapolated beyond the ends."""
    if len(a) == 1:
        return float(a[0])
    i = int(np.clip(np.floor(k), 0, len(a) - 2))
    f = k - i
    return float(a[i] * (1 - f) + a[i + 1] * f)


def _handheld(rng: np.random.Generator, n: int, scale: float, strength: float) -> Path2D:
    """A hand-held camera: slow wander + frame-to-frame jitter + roll + a little breathing."""
    wander = rng.uniform(8, 40) * strength * scale
    jitter = rng.uniform(1.0, 6.0) * strength * scale
    x = _smooth_noise(rng, n, 6) * wander + rng.normal(0, jitter, n)
    y = _smooth_noise(rng, n, 6) * wander * 0.6 + rng.normal(0, jitter * 0.8, n)
    roll = np.radians(_smooth_noise(rng, n, 8) * rng.uniform(0.3, 2.0) * strength)
    zoom = 1 + 0.015 * strength * _smooth_noise(rng, n, 10)
    return Path2D(x, y, zoom, roll)


def camera_path(spec: ShotSpec, n: int, lead: int, tail: int, scale: float,
                whip_in: float, whip_out: float) -> Path2D:
    """The camera of one shot over its ``n`` content frames (``lead`` frames of incoming and
    ``tail`` of outgoing transition included), before events; in output px at 640 wide x scale.

    ``whip_in`` / ``whip_out``: peak speed of a whip pan into / out of the shot (whip motion).
    """
    rng = np.random.default_rng([spec.seed, 0x7A7])
    k = np.arange(n, dtype=np.float64)
    zero = np.zeros(n)
    steady = Path2D(rng.uniform(-0.4, 0.4) * scale * k, rng.uniform(-0.2, 0.2) * scale * k,
                    1 + np.linspace(0, rng.uniform(-0.06, 0.06), n), zero.copy())
    motion = spec.motion
    if motion == "steady":
        path = steady
    elif motion == "handheld":
        path = _handheld(rng, n, scale, strength=float(rng.uniform(0.7, 1.6)))
    elif motion in ("action", "strobe", "caption", "bikes"):
        path = _handheld(rng, n, scale, strength=float(rng.uniform(0.3, 0.9)))
        if motion == "action":  # following the action
            path.x += rng.uniform(2, 7) * rng.choice([-1, 1]) * scale * k
    elif motion == "pan":
        speed = rng.uniform(6, 22) * scale
        angle = rng.uniform(-0.35, 0.35) + (np.pi / 2 if rng.random() < 0.2 else 0.0)
        sign = rng.choice([-1, 1])
        shake = _handheld(rng, n, scale, strength=float(rng.uniform(0.0, 0.5)))
        travel = speed * k
        budget = 1000 * scale  # a longer pan swings back, so small photos are not blown up
        if speed * n > budget:
            period = np.pi * budget / speed  # frames; the swing's peak speed is ``speed``
            travel = budget / 2 * (1 - np.cos(2 * np.pi * k / period))
        path = Path2D(sign * np.cos(angle) * travel + shake.x,
                      sign * np.sin(angle) * travel + shake.y, shake.zoom, shake.roll)
    elif motion == "whip":
        # Whip pans peaking in the middle of the transitions (at the cut itself for a cut):
        # the new shot arrives at speed and settles, the old one takes off.
        path = _handheld(rng, n, scale, strength=0.3)
        sigma = rng.uniform(2.5, 4.5)
        velocity = zero.copy()
        if whip_in:
            velocity += whip_in * scale * np.exp(-0.5 * ((k - (lead - 1) / 2) / sigma) ** 2)
        if whip_out:
            centre = n - 1 - (tail - 1) / 2
            velocity += whip_out * scale * np.exp(-0.5 * ((k - centre) / sigma) ** 2)
        path.x += np.cumsum(velocity)
    elif motion == "zoom":
        factor = rng.uniform(1.5, 3.0) ** rng.choice([-1, 1])
        if rng.random() < 0.35:  # crash zoom: most of the change over ~10 frames
            centre = rng.uniform(0.2, 0.8) * n
            u = 1 / (1 + np.exp(-(k - centre) / 2.5))
        else:
            u = k / max(n - 1, 1)
        shake = _handheld(rng, n, scale, strength=float(rng.uniform(0.0, 0.6)))
        path = Path2D(shake.x + rng.uniform(-1, 1) * scale * k, shake.y,
                      shake.zoom * factor ** u, shake.roll)
    else:
        raise ValueError(f"unknown motion {motion!r}")
    if motion == "bikes":  # a fast crop sliding over the real footage
        speed = min(rng.uniform(2, 8), 300 / max(n, 1)) * scale
        path.x += speed * rng.choice([-1, 1]) * k
    for event in spec.events:
        if event.type == "whip":
            k0 = lead + event.offset
            bump = np.zeros(n)
            j = np.arange(event.length)
            bump[k0 : k0 + event.length] = np.sin(np.pi * (j + 0.5) / event.length) ** 2
            path.x = path.x + np.cumsum(bump) * event.strength * scale
    return path


@dataclass(frozen=True)
class Sprite:
    """A soft-edged cut-out (RGBA) moving in screen space: centre path and rotation per frame."""

    rgba: np.ndarray
    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray  # degrees

    def at(self, k: float) -> tuple[float, float, float]:
        return _lerp(self.x, k), _lerp(self.y, k), _lerp(self.angle, k)

    def visible(self, k: float, size: tuple[int, int]) -> bool:
        x, y, _ = self.at(k)
        r = 0.5 * float(np.hypot(*self.rgba.shape[:2]))
        return -r < x < size[0] + r and -r < y < size[1] + r


def _bounce(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold a straight path into ``[lo, hi]`` as a ball bouncing off the walls would move."""
    span = hi - lo
    m = (v - lo) % (2 * span)
    return lo + np.where(m > span, 2 * span - m, m)


def make_sprite_image(photo: str, height: int, rng: np.random.Generator) -> np.ndarray:
    """An elliptical, feathered cut-out of ``photo`` (RGBA), ``height`` px tall."""
    image = load_photo(photo)
    h, w = image.shape[:2]
    side = int(min(h, w) * rng.uniform(0.3, 0.6))
    x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    aspect = rng.uniform(0.6, 1.6)
    out_w, out_h = max(8, int(height * aspect)), max(8, height)
    crop = cv2.resize(image[y0 : y0 + side, x0 : x0 + side], (out_w, out_h),
                      interpolation=cv2.INTER_AREA if side > out_h else cv2.INTER_LINEAR)
    mask = np.zeros((out_h, out_w), np.uint8)
    cv2.ellipse(mask, (out_w // 2, out_h // 2), (out_w // 2 - 2, out_h // 2 - 2), 0, 0, 360, 255,
                -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, out_h / 40))
    return np.dstack([crop, mask])


def composite(frame: np.ndarray, rgba: np.ndarray, cx: float, cy: float, angle: float) -> None:
    """Paste ``rgba`` centred at (cx, cy), rotated by ``angle`` degrees, into ``frame``."""
    height, width = frame.shape[:2]
    h, w = rgba.shape[:2]
    r = 0.5 * float(np.hypot(w, h)) + 2
    x0, y0 = max(0, int(cx - r)), max(0, int(cy - r))
    x1, y1 = min(width, int(cx + r) + 1), min(height, int(cy + r) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[:, 2] += (cx - w / 2 - x0, cy - h / 2 - y0)
    patch = cv2.warpAffine(rgba, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    alpha = patch[:, :, 3:4].astype(np.float32) / 255
    roi = frame[y0:y1, x0:x1]
    roi[:] = (roi * (1 - alpha) + patch[:, :, :3] * alpha).astype(np.uint8)


Overlay = tuple[int, int, np.ndarray, np.ndarray]  # x0, y0, RGB patch, alpha (0..1, float32)


@cache
def caption_overlay(text: str, style: str, size: tuple[int, int]) -> Overlay:
    """A caption drawn with cv2.putText: ``lower`` third box, ``top`` corner text, ``bug`` logo."""
    width, height = size
    font = cv2.FONT_HERSHEY_SIMPLEX
    if style == "bug":
        fs, th = height / 720, max(1, round(height / 360))
        (tw, tht), _ = cv2.getTextSize(text, font, fs, th)
        box = np.full((tht + 12, tw + 14, 3), (200, 30, 30), np.uint8)
        cv2.putText(box, text, (7, tht + 6), font, fs, (255, 255, 255), th, cv2.LINE_AA)
        alpha = np.full(box.shape[:2] + (1,), 0.75, np.float32)
        return width - box.shape[1] - int(0.04 * width), int(0.05 * height), box, alpha
    if style == "top":
        fs, th = height / 500, max(1, round(height / 200))
        (tw, tht), base = cv2.getTextSize(text, font, fs, th)
        box = np.zeros((tht + base + 10, tw + 10, 3), np.uint8)
        mask = np.zeros(box.shape[:2], np.uint8)
        org = (5, tht + 5)
        cv2.putText(mask, text, org, font, fs, 255, th + 3, cv2.LINE_AA)  # black outline
        cv2.putText(box, text, org, font, fs, (255, 255, 255), th, cv2.LINE_AA)
        alpha = (mask.astype(np.float32) / 255)[:, :, None]
        return int(0.05 * width), int(0.06 * height), box, alpha
    box_w, box_h = int(width * 0.86), int(height * 0.13)
    box = np.full((box_h, box_w, 3), (18, 20, 30), np.uint8)
    fs, th = height / 540, max(1, round(height / 270))
    (tw, tht), _ = cv2.getTextSize(text, font, fs, th)
    cv2.putText(box, text, (max(4, (box_w - tw) // 2), (box_h + tht) // 2), font, fs,
                (255, 255, 255), th, cv2.LINE_AA)
    alpha = np.where(box.max(axis=2, keepdims=True) > 128, 1.0, 0.8).astype(np.float32)
    return (width - box_w) // 2, int(height * 0.74), box, alpha


def apply_overlay(frame: np.ndarray, overlay: Overlay) -> None:
    x0, y0, box, alpha = overlay
    h, w = box.shape[:2]
    roi = frame[y0 : y0 + h, x0 : x0 + w]
    h, w = roi.shape[:2]
    roi[:] = (roi * (1 - alpha[:h, :w]) + box[:h, :w] * alpha[:h, :w]).astype(np.uint8)


def _to_white(frame: np.ndarray, level: float, colour: tuple[int, int, int]) -> np.ndarray:
    """Wash ``frame`` towards ``colour`` by ``level`` (a flash or a strobe light)."""
    tint = np.empty_like(frame)
    tint[:] = colour
    return cv2.addWeighted(frame, 1 - level, tint, level, 0)


class ShotCamera:
    """Films one shot: its camera path over its picture, sprites, captions, flashes and strobes.

    ``matrix(t)`` is the 3x3 map from output pixels to picture pixels at clip frame ``t`` (the
    picture is the canvas, or the bikes frame), so a test can undo the camera between frames.
    """

    def __init__(self, lay: Layout, index: int, size: tuple[int, int], photos: tuple[str, ...]):
        plan = lay.plan
        self.spec = spec = plan.shots[index]
        self.size = size
        width, height = size
        scale = width / REF_WIDTH
        content, clean = lay.content(index), lay.shots[index]
        self.start = content.start
        n = content.end - content.start
        lead, tail = clean.start - content.start, content.end - clean.end
        rng = np.random.default_rng([spec.seed, 0xCA4])
        whip_in = whip_out = 0.0
        if spec.motion == "whip":
            sign = float(rng.choice([-1, 1]))
            whip_in = sign * rng.uniform(80, 200) if index > 0 else 0.0
            whip_out = sign * rng.uniform(80, 200) if index < len(plan.joins) else 0.0
        self.path = camera_path(spec, n, lead, tail, scale, whip_in, whip_out)
        self._place(rng)
        self.flash: dict[int, tuple[float, tuple[int, int, int]]] = {}
        self.captions: list[tuple[int, int, Overlay]] = []  # [start, end) in clip frames
        self.sprites: list[Sprite] = []
        others = [p for p in photos if p != spec.source] or list(photos)
        self._events(lay, index, rng, others)

    def _place(self, rng: np.random.Generator) -> None:
        """Choose the picture's scale so the camera's whole path stays inside it."""
        width, height = self.size
        p = self.path.extended(SHUTTER)
        c, s = np.abs(np.cos(p.roll)), np.abs(np.sin(p.roll))
        hx = (width / 2 * c + height / 2 * s) / p.zoom
        hy = (width / 2 * s + height / 2 * c) / p.zoom
        lo_x, hi_x = float((p.x - hx).min()), float((p.x + hx).max())
        lo_y, hi_y = float((p.y - hy).min()), float((p.y + hy).max())
        need_w, need_h = (hi_x - lo_x) * 1.01 + 2, (hi_y - lo_y) * 1.01 + 2
        if self.spec.motion == "bikes":
            src_h, src_w = bikes_frames()[0].shape[:2]
        else:
            src_h, src_w = load_photo(self.spec.source).shape[:2]
        # picture px per source px: the base framing, or more if the path needs the room
        cover = max(width / src_w, height / src_h) * 1.02
        k = max(cover * self.spec.zoom, need_w / src_w, need_h / src_h)
        canvas_w, canvas_h = src_w * k, src_h * k
        # where the path sits in the picture
        off_x = lo_x - rng.uniform(0, max(canvas_w - need_w, 0.0))
        off_y = lo_y - rng.uniform(0, max(canvas_h - need_h, 0.0))
        if self.spec.motion == "bikes":
            self.canvas: np.ndarray | None = None
            self.pre = np.diag([1 / k, 1 / k, 1.0])  # picture px -> bikes px
        else:
            size = (int(np.ceil(canvas_w)), int(np.ceil(canvas_h)))
            photo = load_photo(self.spec.source)
            interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
            canvas = cv2.resize(photo, size, interpolation=interp)
            self.canvas = cv2.transform(canvas, np.diag(self.spec.grade))  # saturating
            self.pre = np.eye(3)
        self.offset = (off_x, off_y)

    def _events(self, lay: Layout, index: int, rng: np.random.Generator,
                others: list[str]) -> None:
        width, height = self.size
        spec = self.spec
        clean = lay.shots[index]
        n = len(self.path.x)
        for event in spec.events:
            t0 = clean.start + event.offset
            if event.type == "flash":
                levels = {1: (1.0,), 2: (1.0, 0.55), 3: (1.0, 0.7, 0.35)}[event.length]
                for j, lv in enumerate(levels):
                    self.flash[t0 + j] = (event.strength * lv, (255, 255, 255))
            elif event.type == "strobe":
                period = int(rng.integers(2, 4))
                colour = (255, 255, 255) if rng.random() < 0.6 else tuple(
                    int(c) for c in rng.integers(120, 256, 3))
                for j in range(0, event.length, period):
                    self.flash[t0 + j] = (event.strength, colour)  # type: ignore[assignment]
            elif event.type == "caption":
                style = "lower" if event.hold else str(rng.choice(["lower", "top"]))
                end = self.start + n if event.hold else t0 + event.length
                if event.change:
                    mid = clean.start + event.change
                    other = CAPTIONS[(CAPTIONS.index(event.text) + 3) % len(CAPTIONS)]
                    self.captions.append((t0, mid, caption_overlay(event.text, style, self.size)))
                    self.captions.append((mid, end, caption_overlay(other, style, self.size)))
                else:
                    self.captions.append((t0, end, caption_overlay(event.text, style, self.size)))
            elif event.type == "occlusion":
                k0 = t0 - self.start
                h = int(height * rng.uniform(0.6, 0.95))
                rgba = make_sprite_image(str(rng.choice(others)), h, rng)
                w = rgba.shape[1]
                span = width + w + 20
                k = np.arange(n, dtype=np.float64)
                u = (k - k0 + 0.5) / event.length
                x = -w / 2 - 10 + span * u  # off screen before and after the event
                if event.strength < 0:
                    x = width - x
                y = np.full(n, height * rng.uniform(0.4, 0.6))
                self.sprites.append(Sprite(rgba, x, y, np.zeros(n)))
        if spec.motion == "strobe":
            level = rng.uniform(0.35, 0.8)
            t = self.start + int(rng.integers(0, 4))
            while t < self.start + n:
                self.flash[t] = (float(level * rng.uniform(0.6, 1.0)), (255, 255, 255))
                t += int(rng.integers(3, 9))
        if spec.motion == "action":
            for _ in range(int(rng.integers(1, 4))):
                rgba = make_sprite_image(str(rng.choice(others)),
                                         int(height * rng.uniform(0.2, 0.45)), rng)
                speed = rng.uniform(12, 40) * width / REF_WIDTH
                heading = rng.uniform(0, 2 * np.pi)
                x = _bounce(rng.uniform(0, width) + speed * np.cos(heading) * np.arange(n),
                            -0.1 * width, 1.1 * width)
                y = _bounce(rng.uniform(0, height) + speed * np.sin(heading) * np.arange(n),
                            0.1 * height, 0.9 * height)
                spin = rng.uniform(-12, 12) * np.arange(n)
                self.sprites.append(Sprite(rgba, x, y, spin))

    def matrix(self, t: float) -> np.ndarray:
        """3x3 map from output pixels to picture pixels at (fractional) clip frame ``t``."""
        width, height = self.size
        x, y, z, roll = self.path.at(t - self.start)
        c, s = np.cos(roll) / z, np.sin(roll) / z
        cx, cy = x - self.offset[0], y - self.offset[1]
        u0, v0 = (width - 1) / 2, (height - 1) / 2
        m = np.array([[c, -s, cx - c * u0 + s * v0], [s, c, cy - s * u0 - c * v0], [0, 0, 1]])
        return self.pre @ m

    def picture(self, t: float) -> np.ndarray:
        if self.canvas is not None:
            return self.canvas
        frames = bikes_frames()
        start, end = self.spec.bikes or BIKES_SHOTS[2]
        length = end - start
        n = len(self.path.x)
        rate = max(0.5, min(1.0, (length - 1) / max(n - 1, 1)))
        i = int((t - self.start) * rate) % (2 * length - 2)
        i = i if i < length else 2 * length - 2 - i  # ping-pong when the shot is long
        return frames[start + i]

    def subsamples(self, t: int) -> int:
        """How many sub-frame renders the shutter needs: ~1 per 3 px of movement."""
        width, height = self.size
        corners = np.array([[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1],
                            [width - 1, height - 1, 1]], float).T
        a = np.linalg.inv(self.matrix(t - SHUTTER / 2))
        b = np.linalg.inv(self.matrix(t + SHUTTER / 2))
        m = self.matrix(t)
        move = float(np.abs((a @ m @ corners) - (b @ m @ corners))[:2].max())
        for sprite in self.sprites:
            if not sprite.visible(t - self.start, self.size):
                continue
            x0, y0, r0 = sprite.at(t - self.start - SHUTTER / 2)
            x1, y1, r1 = sprite.at(t - self.start + SHUTTER / 2)
            move = max(move, float(np.hypot(x1 - x0, y1 - y0)) + abs(r1 - r0) * 2)
        return int(np.clip(np.ceil(move / 3), 1, MAX_SUBSAMPLES))

    def render(self, t: float) -> np.ndarray:
        """One instant: the picture through the camera with the sprites pasted on."""
        width, height = self.size
        m = self.matrix(t)[:2]
        out = cv2.warpAffine(self.picture(t), m, (width, height),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT_101)
        for sprite in self.sprites:
            composite(out, sprite.rgba, *sprite.at(t - self.start))
        return out

    def frame(self, t: int) -> np.ndarray:
        """The shot's picture at clip frame ``t``, motion-blurred over the shutter."""
        count = self.subsamples(t)
        if count == 1:
            out = self.render(t)
        else:
            acc = np.zeros((self.size[1], self.size[0], 3), np.float32)
            for j in range(count):
                cv2.accumulate(self.render(t + SHUTTER * ((j + 0.5) / count - 0.5)), acc)
            out = cv2.convertScaleAbs(acc, alpha=1 / count)
        for start, end, overlay in self.captions:
            if start <= t < end:
                apply_overlay(out, overlay)
        if t in self.flash:
            level, colour = self.flash[t]
            out = _to_white(out, level, colour)
        return out


def blend(join: JoinSpec, k: int, a: np.ndarray | None, b: np.ndarray | None,
          size: tuple[int, int]) -> np.ndarray:
    """Frame ``k`` of a gradual transition from picture ``a`` to ``b`` (None: not filmed)."""
    width, height = size
    p = (k + 1) / (join.frames + 1)
    if join.type == "dissolve":
        assert a is not None and b is not None
        return cv2.addWeighted(a, 1 - p, b, p, 0)
    if join.type == "fade":
        if k < join.fade_out:
            assert a is not None
            return cv2.convertScaleAbs(a, alpha=1 - (k + 1) / (join.fade_out + 1))
        j = k - (join.frames - join.fade_in)
        if j < 0:
            return np.zeros((height, width, 3), np.uint8)
        assert b is not None
        return cv2.convertScaleAbs(b, alpha=(j + 1) / (join.fade_in + 1))
    if join.type == "wipe":
        assert a is not None and b is not None
        horizontal = join.direction in ("right", "left")
        along = width if horizontal else height
        coord = np.arange(along, dtype=np.float32)
        if join.direction in ("left", "up"):
            coord = along - 1 - coord
        edge = join.edge * width / REF_WIDTH
        if edge <= 0:
            pos = max(1, min(along - 1, round(p * along)))
            w = (coord < pos).astype(np.float32)
        else:  # soft edge: the ramp travels from off one side to off the other
            pos = p * (along + edge) - edge / 2
            w = np.clip((pos - coord) / edge + 0.5, 0, 1)
        w = w[None, :, None] if horizontal else w[:, None, None]
        return (a * (1 - w) + b * w).astype(np.uint8)
    raise ValueError(f"not a gradual transition: {join.type}")


class Renderer:
    """Makes a plan's frames in order (``frames()``) or shot by shot (``camera(i).frame(t)``)."""

    def __init__(self, plan: MotionPlan, size: tuple[int, int] = SIZE,
                 photos: tuple[str, ...] | None = None, noise_sigma: float = 2.0):
        self.plan, self.size = plan, size
        self.lay = layout(plan)
        used = tuple(dict.fromkeys(s.source for s in plan.shots if s.source != BIKES))
        self.photos = photos or used or ("coffee",)
        self.noise = make_samples.NoiseBank(size, plan.seed, sigma=noise_sigma)
        self.bug = caption_overlay(plan.overlay, "bug", size) if plan.overlay else None
        self._cameras: dict[int, ShotCamera] = {}

    def camera(self, i: int) -> ShotCamera:
        if i not in self._cameras:
            self._cameras[i] = ShotCamera(self.lay, i, self.size, self.photos)
        return self._cameras[i]

    def clean_frame(self, t: int) -> np.ndarray:
        """Frame ``t`` without sensor noise."""
        lay = self.lay
        for i, span in enumerate(lay.shots):
            if span.start <= t < span.end:
                out = self.camera(i).frame(t)
                break
        else:
            i = next(i for i, s in enumerate(lay.joins) if s.start <= t < s.end)
            join = self.plan.joins[i]
            k = t - lay.joins[i].start
            black = join.type == "fade"
            a = None if black and k >= join.fade_out else self.camera(i).frame(t)
            b = (None if black and k < join.frames - join.fade_in
                 else self.camera(i + 1).frame(t))
            out = blend(join, k, a, b, self.size)
        if self.bug is not None:
            apply_overlay(out, self.bug)
        return out

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in order, holding at most two shot cameras."""
        for t in range(self.lay.frames):
            yield self.noise.apply(self.clean_frame(t), t)
            for i in [i for i, s in enumerate(self.lay.shots) if i in self._cameras
                      and self.lay.content(i).end <= t + 1]:
                del self._cameras[i]  # the shot is over: free its canvas


def write_motion_clip(plan: MotionPlan, path: Path, *, name: str, set_name: str = "",
                      size: tuple[int, int] = SIZE, photos: tuple[str, ...] | None = None,
                      preset: str = make_samples.PRESET) -> Path:
    """Render and encode ``plan`` to ``path`` (libx264 crf 23 via make_samples.encode) + JSON."""
    if size[0] % 2 or size[1] % 2:
        raise ValueError("width and height must be even for yuv420p")
    renderer = Renderer(plan, size, photos)
    truth = ground_truth(renderer.lay, name=name, size=size, set_name=set_name)
    truth["codec"] = make_samples.pick_codec()
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    count = make_samples.encode(renderer.frames(), path, plan.fps, size, preset)
    if count != renderer.lay.frames:
        raise RuntimeError(f"{path}: wrote {count} frames, planned {renderer.lay.frames}")
    path.with_suffix(".json").write_text(json.dumps(truth, indent=1) + "\n")
    LOG.info("%s: %d frames at %d fps in %.1f s (%s)", path.name, count, plan.fps,
             time.perf_counter() - started, summary(truth))
    return path


def summary(truth: dict) -> str:
    """'cut 5, dissolve 2 | flash 1' style counts."""

    def counts(items: list[dict]) -> str:
        kinds: dict[str, int] = {}
        for item in items:
            kinds[item["type"]] = kinds.get(item["type"], 0) + 1
        return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "-"

    return f"transitions: {counts(truth['transitions'])} | distractors: " + counts(
        truth["distractors"])


def build_motion_sets(out_dir: Path = DEFAULT_OUT, force: bool = False,
                      sets: tuple[str, ...] = tuple(SETS),
                      specs: dict[str, SetSpec] | None = None) -> dict[str, list[Path]]:
    """Build (or reuse) every clip of each set into ``out_dir/SET/``; returns the paths.

    A clip is rebuilt when missing, when ``force`` is set, or when its JSON no longer matches
    its plan (the plan or ``GENERATOR_VERSION`` changed). ``out_dir/SET/set.json`` records the
    set's photos, bikes shots and seed. ``specs`` overrides ``SETS`` (tests use shorter sets).
    """
    specs = specs or SETS
    out: dict[str, list[Path]] = {}
    for set_name in sets:
        spec = specs[set_name]
        folder = Path(out_dir) / set_name
        paths = []
        for name, plan in plan_set(spec):
            path = folder / f"{name}.mp4"
            truth = ground_truth(layout(plan), name=name, size=SIZE, set_name=set_name)
            truth["codec"] = make_samples.pick_codec()
            existing = path.with_suffix(".json")
            if (not force and path.exists() and existing.exists()
                    and json.loads(existing.read_text()) == truth):
                LOG.info("%s: exists, skipped (use --force to rebuild)", path.name)
            else:
                write_motion_clip(plan, path, name=name, set_name=set_name, photos=spec.photos)
            paths.append(path)
        manifest = {"set": set_name, "photos": list(spec.photos),
                    "bikes_shots": [list(b) for b in spec.bikes], "seed": spec.seed,
                    "clips": [p.name for p in paths]}
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "set.json").write_text(json.dumps(manifest, indent=1) + "\n")
        out[set_name] = paths
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the motion test sets (tune, eval).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--force", action="store_true", help="rebuild clips that exist")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated: tune,eval")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s make_motion_samples: %(message)s", datefmt="%H:%M:%S")
    started = time.perf_counter()
    names = tuple(s.strip() for s in args.sets.split(",") if s.strip())
    unknown = [s for s in names if s not in SETS]
    if unknown:
        parser.error(f"unknown set(s) {unknown}; known: {', '.join(SETS)}")
    built = build_motion_sets(args.out, args.force, names)
    LOG.info("done in %.1f s", time.perf_counter() - started)
    for paths in built.values():
        for path in paths:
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

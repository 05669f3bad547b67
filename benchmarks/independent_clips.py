"""Independent generator of test clips with exact shot-boundary ground truth.

This module renders synthetic video clips built from real images (the offline
``skimage.data`` photographs and crops of ``sample_media/bikes.mp4``) and writes,
next to every clip, a JSON file with frame-exact ground truth in the format
described in ``sample_media/README.md`` ("Ground truth: NAME.json beside NAME.mp4").

It was written independently of ``sample_media/make_motion_samples.py`` and of the
detector code: the author did not read that generator, ``media_ml/detectors/`` or
the shot benchmarks, only the README's description of the JSON format.  All camera
motion, object motion, distractors, transitions and encoding are implemented here
from scratch, so the clips test whether a detector tuned on the project's own
sample sets generalises to material produced by different code.

What a clip contains (everything varies with the seed):

* resolution 480x270 / 640x360 / 960x540 / 1280x720, fps 24 / 25 / 30 / 30000/1001 / 50,
  length about 15-35 s, shots of 1.5-6 s of clean frames;
* shot sources: skimage photographs (never the same photograph twice in a row) and
  crops of one of the five hard-cut shots of ``bikes.mp4`` (looped / ping-ponged
  inside that shot only); some shots are deliberately chosen to be close in colour
  to the previous shot (``similar_colour_to_prev``);
* per-shot camera: ``steady``, ``handheld`` (band-limited random walk of position and
  rotation), ``pan`` / ``tilt`` (slow), ``fast_pan`` (fast back-and-forth sweep),
  ``zoom_in`` / ``zoom_out`` (1.15-1.6x), ``whip`` (a 4-10 frame whip pan inside the
  shot that settles at a new framing), ``action`` (1-3 sprites cut out of another
  photograph crossing the frame fast); fast motion is rendered with motion blur by
  averaging sub-frame renders across a per-clip shutter interval;
* distractors inside shots (never boundaries): ``flash``, ``strobe``, ``caption``
  (appearing / disappearing / changing text), ``occlusion`` (a large dark or
  coloured defocused object crossing the frame) and ``whip``;
* transitions: ``cut``, ``dissolve`` (linear or a half-linear ease-in-out), ``fade`` (out, optional
  black or white hold, in), ``wipe`` (straight, diagonal or iris, hard or feathered
  edge); both shots keep their camera motion through a transition;
* mild Gaussian sensor noise; H.264 (libx264, crf 18-30) or MPEG-4 Part 2 encoding.

Ground-truth conventions: frames are 0-based, ranges are ``[start, end)``; a cut has
``start == end ==`` first frame of the new shot; for dissolve / fade / wipe,
``[start, end)`` are the mixed frames (blend weight / wipe progress ``(k+1)/(n+1)``, so
no frame inside is a clean frame of either shot) and ``end`` is the first clean frame
of the new shot; ``shots`` hold only clean frames, so shots and transitions tile
``[0, frames)`` exactly.  Distractor ranges are measured while rendering (the frames
actually affected) and always lie inside the clean frames of shot ``shot``.

Usage::

    python benchmarks/independent_clips.py --seed 7001 --clips 10
    python benchmarks/independent_clips.py --seed 7002 --clips 10 --out /tmp/ind
    python benchmarks/independent_clips.py --verify-only benchmarks/media/independent/seed7001

The default output folder is ``benchmarks/media/independent/seed<N>/`` (git-ignored).
Everything runs in one process and one thread (encoder threads are set to 1).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from fractions import Fraction  # noqa: E402
from pathlib import Path  # noqa: E402

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)

REPO = Path(__file__).resolve().parents[1]
BIKES_PATH = REPO / "sample_media" / "bikes.mp4"
BIKES_FPS = 25.0
# Hard cuts of bikes.mp4 are at 30, 76, 137, 187, 242: crops come from inside one of these.
BIKES_SHOTS = [(0, 30), (30, 76), (76, 137), (137, 187), (187, 242)]

# skimage.data images to try; any that needs a download (pooch) is skipped.
# ``cat`` is the same array as ``chelsea`` and is therefore treated as an alias.
PHOTO_CANDIDATES = [
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "hubble_deep_field",
    "immunohistochemistry",
    "stereo_motorcycle",
    "rocket",
    "retina",
    "clock",
    "brick",
    "moon",
    "grass",
    "gravel",
    "cell",
    "horse",
    "text",
    "page",
    "colorwheel",
    "cat",
    "logo",
    "eagle",
    "lily",
    "kidney",
    "skin",
]

RESOLUTIONS = [(480, 270), (640, 360), (960, 540), (1280, 720)]
FPS_CHOICES = [Fraction(24), Fraction(25), Fraction(30), Fraction(30000, 1001), Fraction(50)]

MOTION_WEIGHTS = {
    "steady": 0.13,
    "handheld": 0.19,
    "pan": 0.10,
    "tilt": 0.05,
    "fast_pan": 0.10,
    "zoom_in": 0.08,
    "zoom_out": 0.05,
    "whip": 0.13,
    "action": 0.17,
}
DISTRACTOR_WEIGHTS = {"flash": 0.25, "strobe": 0.2, "caption": 0.3, "occlusion": 0.25}

CAPTION_TEXTS = [
    "BREAKING NEWS",
    "LIVE",
    "Interview: Dr. A. Smith",
    "Match highlights",
    "Weather: 24 C, sunny",
    "Chapter 3",
    "Scene 12 / Take 4",
    "(c) 2024 North Studio",
    "Score 2 - 1",
    "Next: evening report",
    "Subscribe for more",
    "Day 14 - base camp",
    "Location: harbour",
    "Slow motion replay",
    "Part II",
    "Tuesday 08:45",
    "Speaker: Maria Lopez",
    "Road closed ahead",
    "EXCLUSIVE",
    "Final lap",
]
FONTS = [
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
]


# --------------------------------------------------------------------------- helpers


def _u(rng, a, b):
    return float(rng.uniform(a, b))


def _pick(rng, weights: dict):
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _ease(u):
    u = min(max(u, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * u)


def _soft_ease(u):
    """Ease-in-out for transitions, mixed half-and-half with linear so the first and last
    transition frames still carry at least half of the linear blend weight."""
    return 0.5 * min(max(u, 0.0), 1.0) + 0.5 * _ease(u)


def _gauss_kernel(sigma):
    r = int(3 * sigma) + 1
    x = np.arange(-r, r + 1, dtype=float)
    k = np.exp(-x * x / (2 * sigma * sigma))
    return k / k.sum()


def _smooth(x, sigma):
    k = _gauss_kernel(sigma)
    r = len(k) // 2
    return np.convolve(np.pad(x, r, mode="edge"), k, mode="valid")


def _band_walk(rng, n, sigma):
    """Smoothed random walk with its slow drift removed, scaled to peak |1|."""
    x = np.cumsum(rng.standard_normal(n))
    x = x - _smooth(x, max(5 * sigma, 12.0))
    x = _smooth(x, sigma)
    x = x - x.mean()
    m = float(np.abs(x).max()) or 1.0
    return x / m


def _fps_float(fps: Fraction) -> float:
    return float(fps)


# --------------------------------------------------------------------------- sources


class Sources:
    """Offline photographs plus the decoded frames of bikes.mp4."""

    def __init__(self):
        import skimage.data as skd

        self.photos: dict[str, np.ndarray] = {}
        self.failed: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        for name in PHOTO_CANDIDATES:
            fn = getattr(skd, name, None)
            if fn is None:
                self.failed[name] = "not in skimage.data"
                continue
            try:
                img = fn()
            except Exception as exc:  # needs a download (pooch) or similar
                self.failed[name] = type(exc).__name__
                continue
            if isinstance(img, tuple):  # stereo_motorcycle -> (left, right, disparity)
                img = img[0]
            img = self._to_rgb(name, img)
            dup = next(
                (
                    k
                    for k, v in self.photos.items()
                    if v.shape == img.shape and np.array_equal(v, img)
                ),
                None,
            )
            if dup is not None:
                self.aliases[name] = dup
                continue
            self.photos[name] = img
        self.photo_names = sorted(self.photos)
        horse = skd.horse() if "horse" in self.photos else None
        self.horse_mask = None if horse is None else (~horse).astype(np.float32)
        self.bikes = self._decode_bikes()
        self.signatures = {}
        for name in self.photo_names:
            self.signatures[name] = self._signature(self.photos[name])
        for k, (a, b) in enumerate(BIKES_SHOTS):
            self.signatures[("bikes", k)] = self._signature(self.bikes[(a + b) // 2])

    @staticmethod
    def _to_rgb(name, img):
        img = np.asarray(img)
        if img.dtype == bool:
            img = img.astype(np.uint8) * 255
        elif img.dtype != np.uint8:
            img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        if img.shape[2] == 4:  # logo: composite on white
            a = img[:, :, 3:4].astype(np.float32) / 255.0
            img = (img[:, :, :3].astype(np.float32) * a + 255.0 * (1 - a)).astype(np.uint8)
        return np.ascontiguousarray(img[:, :, :3])

    @staticmethod
    def _decode_bikes():
        with av.open(str(BIKES_PATH)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        return np.stack(frames)

    @staticmethod
    def _signature(img):
        small = cv2.resize(img, (64, 64), interpolation=cv2.INTER_AREA)
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
        return np.concatenate([lab.mean(0), [0.5 * lab[:, 0].std()]])

    def source_key_name(self, key):
        return "bikes" if isinstance(key, tuple) else key


# --------------------------------------------------------------------------- camera


class Camera:
    """Virtual camera over a source image, in output-pixel units.

    The source is ``SW x SH`` output pixels large (``s`` source px per output px at
    zoom 1).  ``state(t)`` gives the view centre, zoom and roll at local time ``t``
    (frames, fractional allowed); ``matrix(t)`` the output->source affine map.
    """

    def __init__(self, kind, rng, W, H, T, fps, src_w, src_h):
        self.kind, self.W, self.H, self.T = kind, W, H, float(T)
        self.fps = fps
        sc = W / 640.0
        self.info = {}
        base = kind
        if kind == "action":
            base = ["steady", "handheld", "pan"][int(rng.choice(3, p=[0.4, 0.4, 0.2]))]
            self.info["base"] = base
        self.base = base
        A, rot = 0.0, 0.0
        if base == "handheld":
            A, rot = _u(rng, 3, 15) * sc, math.radians(_u(rng, 0.2, 1.5))
            if kind == "action":
                A *= 0.5
        elif base in ("pan", "tilt") and rng.random() < 0.4:
            A, rot = _u(rng, 1, 3) * sc, math.radians(_u(rng, 0, 0.3))
        elif base in ("fast_pan", "whip") and rng.random() < 0.5:
            A, rot = _u(rng, 1, 4) * sc, math.radians(_u(rng, 0, 0.4))
        elif base in ("zoom_in", "zoom_out") and rng.random() < 0.3:
            A, rot = _u(rng, 1, 4) * sc, math.radians(_u(rng, 0, 0.4))
        self.A, self.rot = A, rot
        mx = (H / 2) * rot + 1.0  # half-extent growth of a rolled view
        my = (W / 2) * rot + 1.0
        fit_w = src_w / min(src_w / W, src_h / H)  # source size in output px at m = 1
        fit_h = src_h / min(src_w / W, src_h / H)

        def m_for(need_x, need_y):  # margin making the free room >= need
            return max((W + 2 * (A + mx) + need_x) / fit_w, (H + 2 * (A + my) + need_y) / fit_h)

        if base == "steady":
            m = max(_u(rng, 1.0, 1.3), m_for(0, 0))
        elif base == "handheld":
            m = max(_u(rng, 1.04, 1.2), m_for(0, 0))
        elif base in ("pan", "tilt"):
            if base == "tilt":
                ang = math.pi / 2 * (1 if rng.random() < 0.5 else -1) + _u(rng, -0.15, 0.15)
            elif rng.random() < 0.25:
                ang = _u(rng, 0, 2 * math.pi)
            else:
                ang = (0 if rng.random() < 0.5 else math.pi) + _u(rng, -0.12, 0.12)
            self.dir = np.array([math.cos(ang), math.sin(ang)])
            v = _u(rng, 0.5, 3.0) * sc
            travel = v * self.T
            m = max(_u(rng, 1.05, 1.2), m_for(abs(self.dir[0]) * travel, abs(self.dir[1]) * travel))
            m = min(m, 1.9)
            self._v_wanted = v
        elif base == "fast_pan":
            m = max(_u(rng, 1.7, 2.3), m_for(0, 0))
        elif base in ("zoom_in", "zoom_out"):
            m = max(_u(rng, 1.02, 1.12), m_for(0, 0))
        elif base == "whip":
            self.axis = 0 if rng.random() < 0.8 else 1
            D = _u(rng, 0.5, 1.0) * W if self.axis == 0 else _u(rng, 0.4, 0.8) * H
            self.overshoot = _u(rng, 0.02, 0.07)
            need = D * (1 + self.overshoot) / 0.97
            m = max(
                _u(rng, 1.05, 1.2),
                m_for(need if self.axis == 0 else 0, need if self.axis == 1 else 0),
            )
            m = min(m, 2.6)
            self._D_wanted = D
        else:
            raise ValueError(base)
        self.m = m
        self.s = min(src_w / W, src_h / H) / m
        self.SW, self.SH = src_w / self.s, src_h / self.s
        # box of admissible view centres (zoom 1) after shake / roll margins
        lo = np.array([W / 2 + A + mx, H / 2 + A + my])
        hi = np.array([self.SW - W / 2 - A - mx, self.SH - H / 2 - A - my])
        hi = np.maximum(hi, lo)
        free = hi - lo
        self.c0 = lo + free * rng.uniform(0, 1, 2)
        self.z0, self.z1 = 1.0, 1.0
        if base in ("pan", "tilt"):
            d = self.dir
            lim = min(free[0] / max(abs(d[0]), 1e-6), free[1] / max(abs(d[1]), 1e-6))
            travel = min(self._v_wanted * self.T, lim * 0.98)
            start = np.where(d >= 0, lo, hi) + (free - np.abs(d) * travel) * rng.uniform(
                0, 1, 2
            ) * np.sign(d + 1e-9)
            start = np.clip(start, lo, hi)
            self.c0 = start
            self.travel = travel
            self.pan_ease = bool(rng.random() < 0.5)
            self.info.update(
                direction_deg=round(math.degrees(math.atan2(d[1], d[0])), 1),
                speed_px_per_frame=round(travel / max(self.T, 1), 2),
                eased=self.pan_ease,
            )
        elif base == "fast_pan":
            self.Ra = free[0] / 2 * 0.98
            v = _u(rng, 8, 25) * sc
            omega = min(v / max(self.Ra, 1.0), 2 * math.pi / (1.0 * fps))
            self.omega, self.phase = omega, _u(rng, 0, 2 * math.pi)
            self.c0 = np.array([(lo[0] + hi[0]) / 2, self.c0[1]])
            self.info.update(peak_speed_px_per_frame=round(self.Ra * omega, 1))
        elif base in ("zoom_in", "zoom_out"):
            Z = _u(rng, 1.15, 1.6)
            self.z0, self.z1 = (1.0, Z) if base == "zoom_in" else (Z, 1.0)
            self.c1 = lo + free * rng.uniform(0, 1, 2)
            self.zoom_ease = bool(rng.random() < 0.5)
            self.info.update(
                zoom_from=round(self.z0, 3), zoom_to=round(self.z1, 3), eased=self.zoom_ease
            )
        elif base == "whip":
            ax = self.axis
            D = min(self._D_wanted, free[ax] / (1 + self.overshoot) * 0.98)
            self.D = D
            self.sign = 1.0 if rng.random() < 0.5 else -1.0
            slack = free[ax] - D * (1 + self.overshoot)
            if self.sign > 0:
                self.c0[ax] = lo[ax] + slack * _u(rng, 0, 1)
            else:
                self.c0[ax] = hi[ax] - slack * _u(rng, 0, 1)
            self.whip_t = None  # set by the planner
            self.info.update(whip_px=round(D, 1), axis="x" if ax == 0 else "y")
        if A > 0:
            n = int(self.T) + 40
            sig = _u(rng, 3, 8)
            self.grid = np.arange(n) - 20.0
            self.sx = _band_walk(rng, n, sig) * A
            self.sy = _band_walk(rng, n, sig) * A
            self.sr = _band_walk(rng, n, sig * 1.5) * rot
            self.info.update(shake_px=round(A, 1), roll_deg=round(math.degrees(rot), 2))
        self.info["margin"] = round(m, 3)

    def set_whip(self, t0, n, settle):
        self.whip_t, self.whip_n, self.whip_settle = float(t0), int(n), int(settle)
        self.info.update(whip_frames=int(n), settle_frames=int(settle))

    def whip_offset(self, t):
        if self.whip_t is None:
            return 0.0
        u = (t - self.whip_t) / self.whip_n
        if u <= 0:
            return 0.0
        if u < 1:
            return self.D * _ease(u)
        v = (t - self.whip_t - self.whip_n) / self.whip_settle
        if v >= 1:
            return self.D
        return self.D * (1 + self.overshoot * math.sin(2 * math.pi * v) * (1 - v) ** 2 * 1.6)

    def whip_active(self, t):
        return (
            self.whip_t is not None
            and self.whip_t < t < self.whip_t + self.whip_n + self.whip_settle
        )

    def state(self, t):
        c = self.c0.astype(float).copy()
        z, th = 1.0, 0.0
        b = self.base
        if b in ("pan", "tilt"):
            u = min(max(t / max(self.T, 1.0), 0.0), 1.0)
            c = c + self.dir * self.travel * (_ease(u) if self.pan_ease else u)
        elif b == "fast_pan":
            c[0] += self.Ra * math.sin(self.omega * t + self.phase)
        elif b in ("zoom_in", "zoom_out"):
            u = min(max(t / max(self.T, 1.0), 0.0), 1.0)
            e = _ease(u) if self.zoom_ease else u
            z = self.z0 + (self.z1 - self.z0) * e
            c = self.c0 + (self.c1 - self.c0) * e
        elif b == "whip":
            c[self.axis] += self.sign * self.whip_offset(t)
        if self.A > 0:
            c[0] += np.interp(t, self.grid, self.sx)
            c[1] += np.interp(t, self.grid, self.sy)
            th = float(np.interp(t, self.grid, self.sr))
        return c, z, th

    def matrix(self, t):
        c, z, th = self.state(t)
        k = self.s / z
        ca, sa = math.cos(th) * k, math.sin(th) * k
        A = np.array([[ca, -sa], [sa, ca]])
        b = self.s * c - A @ np.array([self.W / 2, self.H / 2])
        return np.hstack([A, b[:, None]]), k

    def corner_motion(self, t0, t1):
        """Largest corner displacement between times t0 and t1, in output px."""
        M0, k0 = self.matrix(t0)
        M1, _ = self.matrix(t1)
        pts = np.array([[0, 0, 1], [self.W, 0, 1], [0, self.H, 1], [self.W, self.H, 1]], float).T
        d = (M1 @ pts) - (M0 @ pts)
        return float(np.sqrt((d * d).sum(0)).max() / k0)


# --------------------------------------------------------------------------- moving patches


class MovingPatch:
    """An RGBA patch in screen space that moves along straight passes."""

    def __init__(self, rgb, alpha, passes, label):
        ys, xs = np.nonzero(alpha > 1.0 / 255)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        self.rgb = np.ascontiguousarray(rgb[y0:y1, x0:x1].astype(np.float32))
        self.alpha = np.ascontiguousarray(alpha[y0:y1, x0:x1, None].astype(np.float32))
        self.off = np.array([x0, y0], float)
        self.passes = passes  # (t0, t1, p0, p1): top-left of the untrimmed patch
        self.label = label
        self.speed = max(
            (np.hypot(*(p1 - p0)) / max(t1 - t0, 1e-6) for t0, t1, p0, p1 in passes), default=0.0
        )
        self.t_lo = min((p[0] for p in passes), default=0.0)
        self.t_hi = max((p[1] for p in passes), default=0.0)

    def pos(self, t):
        for t0, t1, p0, p1 in self.passes:
            if t0 <= t <= t1:
                return p0 + (p1 - p0) * ((t - t0) / max(t1 - t0, 1e-6)) + self.off
        return None

    def maybe(self, t, sh):
        return self.t_lo - sh <= t <= self.t_hi + sh

    def composite(self, img, t):
        p = self.pos(t)
        if p is None:
            return False
        H, W = img.shape[:2]
        x, y = int(round(p[0])), int(round(p[1]))
        h, w = self.alpha.shape[:2]
        xa, ya, xb, yb = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
        if xa >= xb or ya >= yb:
            return False
        a = self.alpha[ya - y : yb - y, xa - x : xb - x]
        src = self.rgb[ya - y : yb - y, xa - x : xb - x]
        reg = img[ya:yb, xa:xb]
        reg += (src - reg) * a
        return True


def _shape_mask(rng, w, h, shape, horse_mask=None):
    m = np.zeros((h, w), np.float32)
    if shape == "ellipse":
        cv2.ellipse(
            m,
            (w // 2, h // 2),
            (max(w // 2 - 2, 1), max(h // 2 - 2, 1)),
            0,
            0,
            360,
            1.0,
            -1,
            cv2.LINE_AA,
        )
    elif shape == "roundrect":
        r = int(min(w, h) * _u(rng, 0.1, 0.35))
        cv2.rectangle(m, (r, 2), (w - r - 1, h - 3), 1.0, -1)
        cv2.rectangle(m, (2, r), (w - 3, h - r - 1), 1.0, -1)
        for cx, cy in ((r, r), (w - r - 1, r), (r, h - r - 1), (w - r - 1, h - r - 1)):
            cv2.circle(m, (cx, cy), max(r - 2, 1), 1.0, -1, cv2.LINE_AA)
    elif shape == "horse":
        m = cv2.resize(horse_mask, (w, h), interpolation=cv2.INTER_AREA)
    return m


def make_sprite(rng, photo, w, h, horse_mask):
    ph, pw = photo.shape[:2]
    cw = _u(rng, 0.35, 0.8) * min(pw, ph * w / h)
    ch = cw * h / w
    x0, y0 = _u(rng, 0, pw - cw), _u(rng, 0, ph - ch)
    crop = photo[int(y0) : int(y0 + ch) + 1, int(x0) : int(x0 + cw) + 1]
    rgb = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if cw > w else cv2.INTER_LINEAR)
    shapes = ["ellipse", "roundrect"] + (["horse"] if horse_mask is not None else [])
    shape = shapes[int(rng.integers(len(shapes)))]
    mask = _shape_mask(rng, w, h, shape, horse_mask)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.2)
    return rgb.astype(np.float32), mask, shape


def sprite_passes(rng, W, H, pw, ph, T, fps):
    passes = []
    t = -_u(rng, 0, 0.8) * fps
    while t < T + 2:
        dur = _u(rng, 0.35, 1.2) * fps
        if rng.random() < 0.7:  # horizontal
            ya = _u(rng, -0.15 * ph, H - 0.85 * ph)
            yb = np.clip(ya + _u(rng, -0.25, 0.25) * H, -0.15 * ph, H - 0.85 * ph)
            a, b = np.array([-pw - 2.0, ya]), np.array([W + 2.0, yb])
        else:  # vertical-ish / diagonal
            xa = _u(rng, -0.1 * pw, W - 0.9 * pw)
            xb = np.clip(xa + _u(rng, -0.5, 0.5) * W, -0.1 * pw, W - 0.9 * pw)
            a, b = np.array([xa, -ph - 2.0]), np.array([xb, H + 2.0])
        if rng.random() < 0.5:
            a, b = b, a
        passes.append((t, t + dur, a, b))
        t += dur + _u(rng, 0.0, 0.6) * fps
    return passes


def make_occluder(rng, W, H, fps):
    horizontal = rng.random() < 0.75
    if horizontal:
        w, h = int(_u(rng, 0.5, 1.05) * W), int(_u(rng, 1.05, 1.5) * H)
    else:
        w, h = int(_u(rng, 1.05, 1.4) * W), int(_u(rng, 0.55, 1.0) * H)
    sigma = _u(rng, 0.008, 0.035) * W
    pad = int(3 * sigma) + 2
    shape = "ellipse" if rng.random() < 0.5 else "roundrect"
    mask = np.zeros((h + 2 * pad, w + 2 * pad), np.float32)
    mask[pad : pad + h, pad : pad + w] = _shape_mask(rng, w, h, shape)
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    gy, gx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]].astype(np.float32)
    grad = (gy / mask.shape[0] - 0.5)[..., None] * _u(rng, -0.6, 0.6) + (gx / mask.shape[1] - 0.5)[
        ..., None
    ] * _u(rng, -0.4, 0.4)
    tex = cv2.resize(
        rng.standard_normal((8, 8)).astype(np.float32),
        (mask.shape[1], mask.shape[0]),
        interpolation=cv2.INTER_CUBIC,
    )[..., None]
    dark = rng.random() < 0.6
    if dark:
        base = np.array([_u(rng, 6, 35)] * 3) + rng.uniform(-5, 5, 3)
        rgb = base + 25 * grad + 6 * tex
        colour = "dark"
    else:
        hsv = np.uint8(
            [
                [
                    [
                        int(rng.integers(0, 180)),
                        int(rng.integers(150, 256)),
                        int(rng.integers(110, 230)),
                    ]
                ]
            ]
        )
        base = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
        rgb = base * (1 + 0.6 * grad) + 10 * tex
        colour = "coloured"
    rgb = np.clip(rgb, 0, 255).astype(np.float32)
    dur = _u(rng, 0.5, 1.6) * fps
    ph, pw = mask.shape
    if horizontal:
        y = H / 2 - ph / 2 + _u(rng, -0.08, 0.08) * H
        a, b = np.array([-pw + 0.0, y]), np.array([W + 0.0, y + _u(rng, -0.05, 0.05) * H])
    else:
        x = W / 2 - pw / 2 + _u(rng, -0.05, 0.05) * W
        a, b = np.array([x, -ph + 0.0]), np.array([x, H + 0.0])
    if rng.random() < 0.5:
        a, b = b, a
    info = {
        "colour": colour,
        "shape": shape,
        "direction": "horizontal" if horizontal else "vertical",
    }
    return rgb, mask, (a, b, dur), info


# --------------------------------------------------------------------------- overlays


class Caption:
    def __init__(self, rng, W, H, start, end, mode, change_at):
        self.start, self.end, self.mode, self.change_at = start, end, mode, change_at
        i, j = rng.choice(len(CAPTION_TEXTS), 2, replace=False)
        self.texts = [CAPTION_TEXTS[int(i)], CAPTION_TEXTS[int(j)]]
        self.font = FONTS[int(rng.integers(len(FONTS)))]
        self.scale = (
            H / 360.0 * _u(rng, 0.6, 1.2) * (1.6 if self.font == cv2.FONT_HERSHEY_PLAIN else 1.0)
        )
        self.thick = max(1, int(round(H / 360.0 * _u(rng, 1.0, 2.5))))
        self.box = rng.random() < 0.65
        self.box_alpha = _u(rng, 0.45, 0.85)
        self.colour = (255.0, 255.0, 255.0) if rng.random() < 0.7 else (255.0, 230.0, 60.0)
        self.place = ["lower", "lower", "lower", "top_left", "top_right"][int(rng.integers(5))]
        self.W, self.H = W, H

    def text_at(self, g):
        if self.start <= g < self.end:
            return (
                self.texts[1] if (self.mode == "change" and g >= self.change_at) else self.texts[0]
            )
        return None

    def draw(self, img, g):
        text = self.text_at(g)
        if text is None:
            return False
        (tw, th), base = cv2.getTextSize(text, self.font, self.scale, self.thick)
        W, H = self.W, self.H
        pad = int(0.3 * th) + 4
        if self.place == "lower":
            x, y = int(0.07 * W), int(0.86 * H)
        elif self.place == "top_left":
            x, y = int(0.05 * W), int(0.06 * H) + th
        else:
            x, y = max(int(0.95 * W) - tw, 0), int(0.06 * H) + th
        if self.box:
            x0, y0 = max(x - pad, 0), max(y - th - pad, 0)
            x1, y1 = min(x + tw + pad, W), min(y + base + pad, H)
            reg = img[y0:y1, x0:x1]
            reg *= 1 - self.box_alpha
            reg += self.box_alpha * 12.0
        else:
            cv2.putText(
                img,
                text,
                (x + 2, y + 2),
                self.font,
                self.scale,
                (0.0, 0.0, 0.0),
                self.thick + 1,
                cv2.LINE_AA,
            )
        cv2.putText(img, text, (x, y), self.font, self.scale, self.colour, self.thick, cv2.LINE_AA)
        return True


# --------------------------------------------------------------------------- shot renderer


class ShotRenderer:
    def __init__(self, shot, clip, sources):
        self.shot = shot
        self.W, self.H = clip["W"], clip["H"]
        self.sh = clip["shutter"]
        self.a0 = shot["active_start"]
        self.cam = shot["_camera"]
        key = shot["_source"]
        if isinstance(key, tuple):
            a, b = BIKES_SHOTS[key[1]]
            self.video = sources.bikes[a:b]
            self.rate = BIKES_FPS / clip["fps_f"]
            self.vid_off = shot["_vid_off"]
            self.image = None
        else:
            self.video = None
            self.image = shot["_image"]
        self.patches = shot["_patches"]
        self.events = shot["_events"]  # list of distractor dicts with render hooks
        self.hits = shot["_hits"]

    def _src(self, t):
        if self.video is None:
            return self.image
        n = len(self.video)
        u = int(math.floor(self.vid_off + t * self.rate)) % (2 * n - 2)
        return self.video[u if u < n else 2 * n - 2 - u]

    def _warp(self, src, tau):
        M, _ = self.cam.matrix(tau)
        return cv2.warpAffine(
            src,
            M,
            (self.W, self.H),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT101,
        )

    def render(self, g):
        t = float(g - self.a0)
        sh = self.sh
        src = self._src(t)
        d = self.cam.corner_motion(t - sh / 2, t + sh / 2)
        n_cam = int(min(max(math.ceil(d / 2.0), 1), 32))
        pats = [p for p in self.patches if p.maybe(t, sh)]
        n_obj = 1
        for p in pats:
            n_obj = max(n_obj, int(min(max(math.ceil(p.speed * sh / 2.0), 1), 24)))
        n = max(n_cam, n_obj)
        taus = [t] if n == 1 else list(np.linspace(t - sh / 2, t + sh / 2, n))
        drawn = set()
        if n == 1:
            img = self._warp(src, t).astype(np.float32)
            for p in pats:
                if p.composite(img, t):
                    drawn.add(id(p))
        else:
            acc = np.zeros((self.H, self.W, 3), np.float32)
            base = self._warp(src, t).astype(np.float32) if n_cam == 1 else None
            for tau in taus:
                im = base.copy() if base is not None else self._warp(src, tau).astype(np.float32)
                for p in pats:
                    if p.composite(im, tau):
                        drawn.add(id(p))
                acc += im
            img = acc * (1.0 / n)
        for ev in self.events:
            kind = ev["type"]
            hit = False
            if kind == "whip":
                hit = any(self.cam.whip_active(tau) for tau in taus)
            elif kind == "occlusion":
                hit = id(ev["_patch"]) in drawn
            elif kind == "flash":
                a = ev["_alpha"].get(g)
                if a is not None:
                    img += (255.0 - img) * a
                    hit = True
            elif kind == "strobe":
                if g in ev["_bright"]:
                    img *= ev["_gain"]
                    img += ev["_offset"]
                    hit = True
            elif kind == "caption":
                hit = ev["_caption"].draw(img, g)
            if hit:
                self.hits.setdefault(ev["_id"], []).append(g)
        return img


# --------------------------------------------------------------------------- planning


def random_transition(rng):
    r = rng.random()
    if r < 0.40:
        return {"type": "cut", "n": 0}
    if r < 0.60:
        return {
            "type": "dissolve",
            "n": int(rng.integers(6, 49)),
            "curve": "ease" if rng.random() < 0.3 else "linear",
        }
    if r < 0.76:
        n_out, n_black, n_in = (
            int(rng.integers(4, 25)),
            int(rng.integers(0, 13)),
            int(rng.integers(4, 25)),
        )
        return {
            "type": "fade",
            "n": n_out + n_black + n_in,
            "n_out": n_out,
            "n_black": n_black,
            "n_in": n_in,
            "colour": "white" if rng.random() < 0.15 else "black",
        }
    return random_wipe(rng, int(rng.integers(8, 41)), iris_ok=True)


def random_wipe(rng, n, iris_ok=True, shape=None):
    if shape is None:
        r = rng.random()
        shape = "straight" if r < 0.58 else ("diagonal" if (r < 0.88 or not iris_ok) else "iris")
    w = {
        "type": "wipe",
        "n": int(n),
        "shape": shape,
        "softness": int(rng.integers(10, 31)) if rng.random() < 0.4 else 0,
        "curve": "ease" if rng.random() < 0.25 else "linear",
    }
    if shape == "straight":
        w["direction"] = ["right", "left", "down", "up"][int(rng.integers(4))]
    elif shape == "diagonal":
        w["angle_deg"] = int(
            rng.choice([1, -1]) * rng.integers(25, 66) + (180 if rng.random() < 0.5 else 0)
        )
    else:
        w["direction"] = "open" if rng.random() < 0.6 else "close"
        w["centre"] = [round(_u(rng, 0.35, 0.65), 3), round(_u(rng, 0.35, 0.65), 3)]
    return w


def plan_skeleton(seed, idx):
    rng = np.random.default_rng([seed, idx])
    W, H = RESOLUTIONS[int(rng.integers(len(RESOLUTIONS)))]
    fps = FPS_CHOICES[int(rng.integers(len(FPS_CHOICES)))]
    f = _fps_float(fps)
    target = _u(rng, 15.0, 26.0) * f
    lens, trans, total = [], [], 0
    while True:
        L = int(round(_u(rng, 1.5, 6.0) * f))
        lens.append(L)
        total += L
        if total >= target:
            break
        tr = random_transition(rng)
        trans.append(tr)
        total += tr["n"]
    return {
        "rng": rng,
        "seed": seed,
        "index": idx,
        "name": f"ind{seed}_{idx:02d}",
        "W": W,
        "H": H,
        "fps": fps,
        "fps_f": f,
        "lens": lens,
        "trans": trans,
    }


def set_level_fixes(skels, seed):
    """Make a set contain every transition type, 1-2 iris wipes, a white fade, soft and
    diagonal wipes, and a couple of MPEG-4 clips (one in .avi)."""
    rng = np.random.default_rng([seed, 99991])
    allt = [(k, j) for k, s in enumerate(skels) for j in range(len(s["trans"]))]
    if not allt:
        return

    def of(pred):
        return [(k, j) for k, j in allt if pred(skels[k]["trans"][j])]

    def replace(k, j, tr):
        skels[k]["trans"][j] = tr

    for typ in ("dissolve", "fade", "wipe", "cut"):
        if not of(lambda t, typ=typ: t["type"] == typ):
            cands = (
                of(lambda t: t["type"] == "cut")
                if typ != "cut"
                else of(lambda t: t["type"] == "dissolve")
            )
            cands = cands or allt
            k, j = cands[int(rng.integers(len(cands)))]
            if typ == "dissolve":
                replace(
                    k, j, {"type": "dissolve", "n": int(rng.integers(6, 49)), "curve": "linear"}
                )
            elif typ == "fade":
                replace(
                    k,
                    j,
                    {
                        "type": "fade",
                        "n": 30,
                        "n_out": 12,
                        "n_black": 6,
                        "n_in": 12,
                        "colour": "black",
                    },
                )
            elif typ == "wipe":
                replace(k, j, random_wipe(rng, int(rng.integers(8, 41)), iris_ok=False))
            else:
                replace(k, j, {"type": "cut", "n": 0})
    # enough wipes to cover the shapes: convert dissolves (else cuts), keeping one of each
    n_wipes_min = min(len(allt) // 3, max(4, int(round(0.15 * len(allt)))))
    while len(of(lambda t: t["type"] == "wipe")) < n_wipes_min:
        donors = of(lambda t: t["type"] == "dissolve")
        if len(donors) <= 1:
            donors = of(lambda t: t["type"] == "cut")
        if len(donors) <= 1:
            break
        k, j = donors[int(rng.integers(len(donors)))]
        n = skels[k]["trans"][j]["n"]
        n = int(rng.integers(8, 41)) if n == 0 else int(min(max(n, 8), 40))
        replace(k, j, random_wipe(rng, n, iris_ok=False))
    target_iris = 1 if len(skels) < 2 else int(rng.integers(1, 3))
    iris = of(lambda t: t["type"] == "wipe" and t["shape"] == "iris")
    while len(iris) > target_iris:
        k, j = iris.pop(int(rng.integers(len(iris))))
        replace(k, j, random_wipe(rng, skels[k]["trans"][j]["n"], iris_ok=False))
    others = of(lambda t: t["type"] == "wipe" and t["shape"] != "iris")
    while len(iris) < target_iris and others:
        k, j = others.pop(int(rng.integers(len(others))))
        replace(k, j, random_wipe(rng, skels[k]["trans"][j]["n"], shape="iris"))
        iris.append((k, j))
    fades = of(lambda t: t["type"] == "fade")
    if len(fades) >= 2:  # a few fades through white, most through black
        want = max(1, int(round(0.22 * len(fades))))
        whites = [x for x in fades if skels[x[0]]["trans"][x[1]]["colour"] == "white"]
        blacks = [x for x in fades if skels[x[0]]["trans"][x[1]]["colour"] == "black"]
        while len(whites) < want and blacks:
            k, j = blacks.pop(int(rng.integers(len(blacks))))
            skels[k]["trans"][j]["colour"] = "white"
            whites.append((k, j))
    sd = of(lambda t: t["type"] == "wipe" and t["shape"] != "iris")
    if len(sd) >= 3:
        for shape in ("diagonal", "straight"):
            mine = [x for x in sd if skels[x[0]]["trans"][x[1]]["shape"] == shape]
            rest = [x for x in sd if skels[x[0]]["trans"][x[1]]["shape"] != shape]
            if not mine and len(rest) >= 2:
                k, j = rest[int(rng.integers(len(rest)))]
                replace(k, j, random_wipe(rng, skels[k]["trans"][j]["n"], shape=shape))
        soft = [x for x in sd if skels[x[0]]["trans"][x[1]]["softness"] > 0]
        hard = [x for x in sd if skels[x[0]]["trans"][x[1]]["softness"] == 0]
        if not soft:
            k, j = hard[int(rng.integers(len(hard)))]
            skels[k]["trans"][j]["softness"] = int(rng.integers(10, 31))
        elif not hard:
            k, j = soft[int(rng.integers(len(soft)))]
            skels[k]["trans"][j]["softness"] = 0
    # codecs
    for s in skels:
        s["codec"], s["ext"] = "libx264", ".mp4"
    if len(skels) >= 3:
        ks = rng.choice(len(skels), 2, replace=False)
        skels[int(ks[0])]["codec"], skels[int(ks[0])]["ext"] = "mpeg4", ".mp4"
        skels[int(ks[1])]["codec"], skels[int(ks[1])]["ext"] = "mpeg4", ".avi"


def choose_sources(rng, n, sources):
    keys = list(sources.photo_names) + [("bikes", k) for k in range(len(BIKES_SHOTS))]
    out, similar = [], []
    for _ in range(n):
        prev = out[-1] if out else None
        cands = [k for k in keys if k != prev]  # bikes: another of its five shots is fine
        if prev is not None and rng.random() < 0.3:
            sp = sources.signatures[prev]
            d = np.array([np.linalg.norm(sources.signatures[k] - sp) for k in cands])
            order = np.argsort(d)[:3]
            out.append(cands[int(order[int(rng.integers(len(order)))])])
            similar.append(True)
            continue
        if rng.random() < 0.25:
            pool = [k for k in cands if isinstance(k, tuple)]
        else:
            pool = [k for k in cands if isinstance(k, str)]
        out.append(pool[int(rng.integers(len(pool)))])
        similar.append(False)
    return out, similar


def finalise_plan(skel, sources):
    rng = skel["rng"]
    W, H, f = skel["W"], skel["H"], skel["fps_f"]
    clip = {k: skel[k] for k in ("name", "seed", "index", "W", "H", "fps", "fps_f", "codec", "ext")}
    clip["shutter"] = _u(rng, 0.3, 0.7)
    clip["noise_sigma"] = _u(rng, 0.8, 3.0)
    if clip["codec"] == "libx264":
        clip["crf"] = int(rng.integers(18, 31))
        clip["preset"] = ["veryfast", "faster", "fast"][int(rng.integers(3))]
    else:
        clip["bpp"] = _u(rng, 0.08, 0.25)
    lens, trans = skel["lens"], skel["trans"]
    # absolute layout
    pos, shots, transitions = 0, [], []
    for i, L in enumerate(lens):
        shots.append({"start": pos, "end": pos + L})
        pos += L
        if i < len(trans):
            tr = dict(trans[i])
            tr["start"], tr["end"] = pos, pos + tr["n"]
            transitions.append(tr)
            pos += tr["n"]
    clip["frames"] = pos
    for i, s in enumerate(shots):
        s["active_start"] = transitions[i - 1]["start"] if i > 0 else 0
        s["active_end"] = transitions[i]["end"] if i < len(transitions) else pos
    keys, similar = choose_sources(rng, len(shots), sources)
    sh = clip["shutter"]
    dist_id = 0
    for i, s in enumerate(shots):
        key = keys[i]
        s["_source"] = key
        s["similar_colour_to_prev"] = similar[i]
        T = s["active_end"] - s["active_start"]
        kind = _pick(rng, MOTION_WEIGHTS)
        s["motion"] = kind
        if isinstance(key, tuple):
            a, b = BIKES_SHOTS[key[1]]
            src_h, src_w = sources.bikes.shape[1:3]
            s["_vid_off"] = _u(rng, 0, b - a)
        else:
            img = sources.photos[key]
            src_h, src_w = img.shape[:2]
        cam = Camera(kind, rng, W, H, T, f, src_w, src_h)
        if not isinstance(key, tuple):
            if cam.s > 1.2:  # pre-shrink big photos to avoid aliasing in the warp
                k = 1.05 / cam.s
                img = cv2.resize(
                    img,
                    (max(int(round(src_w * k)), 2), max(int(round(src_h * k)), 2)),
                    interpolation=cv2.INTER_AREA,
                )
                cam.s = min(img.shape[1] / cam.SW, img.shape[0] / cam.SH)
            s["_image"] = img
        s["_camera"] = cam
        s["_patches"], s["_events"], s["_hits"] = [], [], {}
        neighbours = {
            sources.source_key_name(keys[j]) for j in (i - 1, i, i + 1) if 0 <= j < len(keys)
        }
        if kind == "action":
            names = []
            for _ in range(int(rng.integers(1, 4))):
                # sprites come from a photograph that contrasts with the shot's source
                pool = [p for p in sources.photo_names if p not in neighbours]
                sig = sources.signatures[key]
                pool.sort(key=lambda p: -float(np.linalg.norm(sources.signatures[p] - sig)))
                pool = pool[: max(len(pool) // 2, 1)]
                pn = pool[int(rng.integers(len(pool)))]
                ph = int(_u(rng, 0.25, 0.5) * H)
                pw = int(ph * _u(rng, 0.7, 1.6))
                rgb, mask, shape = make_sprite(rng, sources.photos[pn], pw, ph, sources.horse_mask)
                passes = sprite_passes(rng, W, H, pw, ph, T, f)
                s["_patches"].append(MovingPatch(rgb, mask, passes, "sprite"))
                names.append({"photo": pn, "shape": shape})
            s["sprites"] = names
        # distractors (all inside clean frames, local time = g - active_start)
        c0, c1 = s["start"] - s["active_start"], s["end"] - s["active_start"]  # clean, local
        occupied = []

        def place(length, margin=2, c0=c0, c1=c1, occupied=occupied):
            lo, hi = c0 + margin, c1 - margin - length
            if hi < lo:
                return None
            for _ in range(30):
                st = int(rng.integers(lo, hi + 1))
                if all(st + length + 2 <= a or st >= b + 2 for a, b in occupied):
                    occupied.append((st, st + length))
                    return st
            return None

        wanted = []
        if kind == "whip":
            wanted.append("whip")
        r = rng.random()
        nd = 0 if r < 0.5 else (1 if r < 0.88 else 2)
        for _ in range(nd):
            wanted.append(_pick(rng, DISTRACTOR_WEIGHTS))
        for typ in wanted:
            ev = {"type": typ, "_id": dist_id}
            if typ == "whip":
                n, settle = int(rng.integers(4, 11)), int(rng.integers(4, 11))
                st = place(n + settle + 3, margin=3)
                if st is None:
                    continue
                cam.set_whip(st + 1 + _u(rng, 0, 0.9), n, settle)
                ev.update(
                    axis=cam.info["axis"],
                    whip_px=cam.info["whip_px"],
                    whip_frames=n,
                    settle_frames=settle,
                )
            elif typ == "flash":
                n = 1 if rng.random() < 0.85 else 2
                st = place(n)
                if st is None:
                    continue
                a = _u(rng, 0.55, 0.9)
                g0 = st + s["active_start"]
                ev["_alpha"] = {g0: a} if n == 1 else {g0: a, g0 + 1: a * 0.45}
            elif typ == "strobe":
                nb = int(rng.integers(3, 7))
                offs, o = [], 0
                for _ in range(nb):
                    offs.append(o)
                    o += int(rng.integers(2, 4))
                span = offs[-1] + 1
                st = place(span)
                if st is None:
                    continue
                g0 = st + s["active_start"]
                ev["_bright"] = {g0 + x for x in offs}
                ev["_gain"], ev["_offset"] = _u(rng, 1.6, 2.4), _u(rng, 30, 90)
                ev["flashes"] = nb
            elif typ == "caption":
                dur = int(round(_u(rng, 0.6, 3.5) * f))
                dur = min(dur, c1 - c0 - 8)
                if dur < int(0.5 * f):
                    continue
                st = place(dur)
                if st is None:
                    continue
                mode = "change" if rng.random() < 0.35 else "appear_disappear"
                g0 = st + s["active_start"]
                ch = g0 + int(rng.integers(max(dur // 4, 1), max(3 * dur // 4, 2)))
                ev["_caption"] = Caption(rng, W, H, g0, g0 + dur, mode, ch)
                ev["mode"] = mode
                ev["text"] = ev["_caption"].texts[: 2 if mode == "change" else 1]
                if mode == "change":
                    ev["change_frame"] = ch
            elif typ == "occlusion":
                rgb, mask, (pa, pb, dur), info = make_occluder(rng, W, H, f)
                span = int(dur + sh / 2) + 2  # conservative visible span
                st = place(span)
                if st is None:
                    continue
                patch = MovingPatch(rgb, mask, [(st + 0.0, st + dur, pa, pb)], "occluder")
                s["_patches"].append(patch)
                ev["_patch"] = patch
                ev.update(info)
            s["_events"].append(ev)
            dist_id += 1
        s["camera"] = cam.info
        s["photo"] = sources.source_key_name(key)
        if isinstance(key, tuple):
            s["bikes_frames"] = list(BIKES_SHOTS[key[1]])
    for j, tr in enumerate(transitions):
        tr["from"], tr["to"] = shots[j]["motion"], shots[j + 1]["motion"]
    clip["shots"], clip["transitions"] = shots, transitions
    return clip


# --------------------------------------------------------------------------- transitions


def wipe_mask(tr, p, W, H, cache):
    key = ("d", tr["shape"], tr.get("direction"), tr.get("angle_deg"), tuple(tr.get("centre", ())))
    if key not in cache:
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        xx += 0.5
        yy += 0.5
        if tr["shape"] == "straight":
            d = {"right": xx, "left": W - xx, "down": yy, "up": H - yy}[tr["direction"]]
        elif tr["shape"] == "diagonal":
            a = math.radians(tr["angle_deg"])
            d = xx * math.cos(a) + yy * math.sin(a)
            d = d - d.min()
        else:
            cx, cy = tr["centre"][0] * W, tr["centre"][1] * H
            d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        cache.clear()
        cache[key] = (d, float(d.max()))
    d, D = cache[key]
    f = float(max(tr["softness"], 1))
    if tr["shape"] == "iris" and tr["direction"] == "close":
        m = 1.0 - np.clip(((1 - p) * (D + f) - d) / f, 0, 1)
    else:
        m = np.clip((p * (D + f) - d) / f, 0, 1)
    return m[..., None]


# --------------------------------------------------------------------------- rendering


def render_clip(clip, out_dir: Path, sources: Sources):
    W, H, F = clip["W"], clip["H"], clip["frames"]
    rng = np.random.default_rng([clip["seed"], clip["index"], 7])
    sigma = clip["noise_sigma"]
    bank = [
        np.clip(np.rint(rng.standard_normal((H, W, 3)) * sigma), -127, 127).astype(np.int8)
        for _ in range(6)
    ]
    renderers = [ShotRenderer(s, clip, sources) for s in clip["shots"]]
    seg = np.zeros(F, np.int32)  # >=0: shot index, <0: -(transition index)-1
    for i, s in enumerate(clip["shots"]):
        seg[s["start"] : s["end"]] = i
    for j, tr in enumerate(clip["transitions"]):
        if tr["end"] > tr["start"]:
            seg[tr["start"] : tr["end"]] = -j - 1
    path = out_dir / (clip["name"] + clip["ext"])
    container = av.open(str(path), "w")
    stream = container.add_stream(clip["codec"], rate=clip["fps"])
    stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
    stream.codec_context.thread_count = 1
    if clip["codec"] == "libx264":
        stream.options = {"crf": str(clip["crf"]), "preset": clip["preset"], "threads": "1"}
    else:
        stream.bit_rate = int(clip["bpp"] * W * H * clip["fps_f"])
    wcache = {}
    out = np.empty((H, W, 3), np.float32)
    for g in range(F):
        hold = False
        if seg[g] >= 0:
            img = renderers[seg[g]].render(g)
        else:
            j = -seg[g] - 1
            tr = clip["transitions"][j]
            k, n = g - tr["start"], tr["end"] - tr["start"]
            A, B = renderers[j], renderers[j + 1]
            if tr["type"] == "dissolve":
                w = (k + 1) / (n + 1)
                if tr["curve"] == "ease":
                    w = _soft_ease(w)
                img = A.render(g) * (1 - w) + B.render(g) * w
            elif tr["type"] == "fade":
                col = 255.0 if tr["colour"] == "white" else 0.0
                if k < tr["n_out"]:
                    w = (k + 1) / (tr["n_out"] + 1)
                    img = A.render(g) * (1 - w) + col * w
                elif k < tr["n_out"] + tr["n_black"]:
                    img = np.full((H, W, 3), col, np.float32)
                    hold = True
                else:
                    k2 = k - tr["n_out"] - tr["n_black"]
                    w = (k2 + 1) / (tr["n_in"] + 1)
                    img = col * (1 - w) + B.render(g) * w
            else:  # wipe
                p = (k + 1) / (n + 1)
                if tr["curve"] == "ease":
                    p = _soft_ease(p)
                m = wipe_mask(tr, p, W, H, wcache)
                a = A.render(g)
                img = a + (B.render(g) - a) * m
        if hold:  # black / white hold: light noise, values 0-4 (or 251-255)
            nz = rng.integers(0, 5, (H, W, 3)).astype(np.float32)
            arr = (255.0 - nz if tr["colour"] == "white" else nz).astype(np.uint8)
        else:
            np.add(img, bank[int(rng.integers(len(bank)))], out=out)
            out += 0.5
            np.clip(out, 0, 255, out=out)
            arr = out.astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
        frame.pts = g
        for pkt in stream.encode(frame):
            container.mux(pkt)
    for pkt in stream.encode(None):
        container.mux(pkt)
    container.close()
    return path


def clip_json(clip):
    shots_out = []
    distractors = []
    for i, s in enumerate(clip["shots"]):
        d = {"start": s["start"], "end": s["end"], "photo": s["photo"], "motion": s["motion"]}
        if "bikes_frames" in s:
            d["bikes_frames"] = s["bikes_frames"]
        d["similar_colour_to_prev"] = bool(s["similar_colour_to_prev"])
        d["camera"] = s["camera"]
        if "sprites" in s:
            d["sprites"] = s["sprites"]
        shots_out.append(d)
        for ev in s["_events"]:
            hits = sorted(s["_hits"].get(ev["_id"], []))
            if not hits:
                continue
            de = {"type": ev["type"], "start": hits[0], "end": hits[-1] + 1, "shot": i}
            de.update({k: v for k, v in ev.items() if not k.startswith("_") and k != "type"})
            distractors.append(de)
    distractors.sort(key=lambda d: (d["start"], d["type"]))
    trans_out = []
    for tr in clip["transitions"]:
        d = {
            "type": tr["type"],
            "start": tr["start"],
            "end": tr["end"],
            "from": tr["from"],
            "to": tr["to"],
        }
        if tr["type"] == "dissolve":
            d["curve"] = tr["curve"]
        elif tr["type"] == "fade":
            d["black_start"] = tr["start"] + tr["n_out"]
            d["black_end"] = d["black_start"] + tr["n_black"]
            d["colour"] = tr["colour"]
        elif tr["type"] == "wipe":
            for k in ("shape", "direction", "angle_deg", "centre", "softness", "curve"):
                if k in tr:
                    d[k] = tr[k]
        trans_out.append(d)
    fps = clip["fps"]
    out = {
        "name": clip["name"],
        "fps": int(fps) if fps.denominator == 1 else float(fps),
        "fps_num": fps.numerator,
        "fps_den": fps.denominator,
        "frames": clip["frames"],
        "width": clip["W"],
        "height": clip["H"],
        "duration_s": round(clip["frames"] / float(fps), 3),
        "file": clip["name"] + clip["ext"],
        "codec": clip["codec"],
        "transitions": trans_out,
        "distractors": distractors,
        "shots": shots_out,
        "seed": clip["seed"],
        "clip_index": clip["index"],
        "generator": "benchmarks/independent_clips.py",
        "noise_sigma": round(clip["noise_sigma"], 2),
        "shutter": round(clip["shutter"], 3),
    }
    if clip["codec"] == "libx264":
        out["crf"], out["preset"] = clip["crf"], clip["preset"]
    else:
        out["bit_rate"] = int(clip["bpp"] * clip["W"] * clip["H"] * clip["fps_f"])
    return out


# --------------------------------------------------------------------------- verification


def verify(directory, decode=True):
    """Check every NAME.json in ``directory``: exact tiling of [0, frames), field sanity,
    distractors inside their shot's clean frames, and that the video decodes (PyAV) to
    exactly ``frames`` frames of the stated size.  Prints per-set counts; returns a
    summary dict and raises SystemExit on any problem."""
    directory = Path(directory)
    errors = []
    tcount, dcount, wshape, fcol = Counter(), Counter(), Counter(), Counter()
    motions = Counter()
    total_frames, durations, n_clips = 0, [], 0
    for jp in sorted(directory.glob("*.json")):
        gt = json.loads(jp.read_text())
        name, F = gt["name"], gt["frames"]
        n_clips += 1
        shots, trans = gt["shots"], gt["transitions"]

        def err(msg, name=name):
            errors.append(f"{name}: {msg}")

        if len(trans) != len(shots) - 1:
            err(f"{len(shots)} shots but {len(trans)} transitions")
        pos = 0
        for i, s in enumerate(shots):
            if s["start"] != pos:
                err(f"shot {i} starts at {s['start']}, expected {pos}")
            if s["end"] <= s["start"]:
                err(f"shot {i} empty")
            pos = s["end"]
            motions[s["motion"]] += 1
            if i < len(trans):
                tr = trans[i]
                if tr["start"] != pos:
                    err(f"transition {i} starts at {tr['start']}, expected {pos}")
                if tr["type"] == "cut":
                    if tr["end"] != tr["start"]:
                        err(f"cut {i} has end != start")
                elif tr["end"] <= tr["start"]:
                    err(f"{tr['type']} {i} is empty")
                if tr["type"] == "fade":
                    if not (tr["start"] < tr["black_start"] <= tr["black_end"] < tr["end"]):
                        err(f"fade {i} black range {tr['black_start']}-{tr['black_end']} invalid")
                    fcol[tr.get("colour", "black")] += 1
                if tr["type"] == "wipe":
                    wshape[tr.get("shape", "?")] += 1
                if tr["type"] not in ("cut", "dissolve", "fade", "wipe"):
                    err(f"unknown transition type {tr['type']}")
                if tr["from"] != s["motion"] or tr["to"] != shots[i + 1]["motion"]:
                    err(f"transition {i} from/to mismatch")
                tcount[tr["type"]] += 1
                pos = tr["end"]
            if i + 1 < len(shots):
                a, b = shots[i], shots[i + 1]
                if a["photo"] == b["photo"] and a.get("bikes_frames") == b.get("bikes_frames"):
                    err(f"shots {i} and {i + 1} share a source")
        if pos != F:
            err(f"tiling ends at {pos}, frames = {F}")
        for d in gt["distractors"]:
            s = shots[d["shot"]]
            if not (s["start"] <= d["start"] < d["end"] <= s["end"]):
                err(f"distractor {d} outside shot {d['shot']} clean frames {s['start']}-{s['end']}")
            dcount[d["type"]] += 1
        total_frames += F
        durations.append(gt["duration_s"])
        if decode:
            vp = directory / gt.get("file", name + ".mp4")
            try:
                with av.open(str(vp)) as c:
                    vs = c.streams.video[0]
                    n, shape = 0, None
                    for fr in c.decode(vs):
                        n += 1
                        shape = (fr.width, fr.height)
                if n != F:
                    err(f"decoded {n} frames, json says {F}")
                if shape != (gt["width"], gt["height"]):
                    err(f"decoded size {shape} != {(gt['width'], gt['height'])}")
            except Exception as exc:  # pragma: no cover - report, don't crash
                err(f"cannot decode {vp.name}: {exc}")
    summary = {
        "dir": str(directory),
        "clips": n_clips,
        "frames": total_frames,
        "duration_s": round(sum(durations), 1),
        "duration_range_s": [min(durations), max(durations)] if durations else None,
        "transitions": dict(tcount),
        "wipe_shapes": dict(wshape),
        "fade_colours": dict(fcol),
        "distractors": dict(dcount),
        "motions": dict(motions),
        "errors": errors,
    }
    print(json.dumps(summary, indent=1))
    if errors:
        raise SystemExit(f"verify({directory}) found {len(errors)} problem(s)")
    return summary


# --------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7001)
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--only", type=int, nargs="*", default=None, help="render only these clip indices"
    )
    ap.add_argument("--verify-only", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.verify_only:
        verify(args.verify_only)
        return
    out = args.out or (REPO / "benchmarks" / "media" / "independent" / f"seed{args.seed}")
    out.mkdir(parents=True, exist_ok=True)
    sources = Sources()
    print(f"photos loaded: {', '.join(sources.photo_names)}")
    if sources.aliases:
        print(f"aliases (identical arrays, not used separately): {sources.aliases}")
    if sources.failed:
        print(f"skipped (need download / missing): {', '.join(sorted(sources.failed))}")
    skels = [plan_skeleton(args.seed, i) for i in range(args.clips)]
    set_level_fixes(skels, args.seed)
    t_all = time.process_time()
    for sk in skels:
        clip = finalise_plan(sk, sources)  # planning always runs so --only keeps determinism
        if args.only is not None and sk["index"] not in args.only:
            continue
        t0 = time.process_time()
        for ext in (".mp4", ".avi"):  # drop a stale file of this clip in another container
            stale = out / (clip["name"] + ext)
            if ext != clip["ext"] and stale.exists():
                stale.unlink()
        path = render_clip(clip, out, sources)
        gt = clip_json(clip)
        (out / f"{clip['name']}.json").write_text(json.dumps(gt, indent=1))
        print(
            f"{path.name}: {clip['W']}x{clip['H']} @ {float(clip['fps']):.3f} fps, "
            f"{clip['frames']} frames, "
            f"{len(clip['shots'])} shots, {clip['codec']}, cpu {time.process_time() - t0:.1f}s",
            flush=True,
        )
    print(f"total cpu {time.process_time() - t_all:.1f}s")
    verify(out)


if __name__ == "__main__":
    main()

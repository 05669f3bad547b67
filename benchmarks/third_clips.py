"""Third, independent generator of edited test clips with exact shot-boundary ground truth.

Written from scratch, without reference to the project's other clip generators, so that it can be
used once, at the end, to check that a shot detector generalises to footage made by code it was
never tuned on.

Each clip is a sequence of shots joined by cuts, dissolves, fades (to black or to white) and wipes
(straight, diagonal, clock, iris and push). A shot shows one of three kinds of source:

* ``photo``  - a photograph from ``skimage.data`` (only the ones that load offline);
* ``scene``  - a 2.5D composition: a photo background far away plus 2-5 photo cut-outs at
  different depths, seen through a pinhole camera, so camera translation gives parallax and
  reveals / hides content;
* ``bikes``  - crops of ``sample_media/bikes.mp4`` taken from inside one of its shots.

The virtual camera can be locked-off, handheld, dolly (parallax), pan, tilt, zoom in / out (an
optical zoom or, for scenes, a physical push with parallax), rack focus, or "action" (objects
crossing close to the lens). Inside shots there are distractors that are not shot boundaries:
flashes, strobe bursts, whip pans, captions, a dark person walking past the lens and lighting
changes. Every clip gets its own colour grade, grain and codec (H.264 / VP9 / MPEG-2).

Usage::

    python benchmarks/third_clips.py --seed 8101 --clips 10 [--out DIR]
    python benchmarks/third_clips.py --verify-only --out DIR

Ground truth is written as ``NAME.json`` beside each ``NAME.<ext>``; see ``clip_json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from fractions import Fraction  # noqa: E402
from pathlib import Path  # noqa: E402

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)

REPO = Path(__file__).resolve().parent.parent
BIKES_PATH = REPO / "sample_media" / "bikes.mp4"
# Hard cuts of bikes.mp4 are at 30, 76, 137, 187, 242: only frames inside one shot are used.
BIKES_SHOTS = ((0, 30), (30, 76), (76, 137), (137, 187), (187, 242))
BIKES_FPS = 25.0

RESOLUTIONS = ((426, 240), (640, 360), (854, 480), (1280, 720), (720, 576))
FPS_CHOICES = (
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(60),
)

# Photographs (name -> multiplicative tint for grey-level textures, or None).
PHOTO_SPECS: dict[str, tuple[float, float, float] | None] = {
    "astronaut": None,
    "chelsea": None,
    "coffee": None,
    "rocket": None,
    "hubble_deep_field": None,
    "immunohistochemistry": None,
    "retina": None,
    "camera": None,
    "moon": None,
    "coins": None,
    "page": None,
    "stereo_motorcycle": None,
    "brick": (1.0, 0.7, 0.56),
    "grass": (0.6, 0.88, 0.45),
    "gravel": (0.95, 0.88, 0.78),
}
# Low-contrast photos: a reframe (same-source cut) of these is too hard to see to count as a
# boundary a detector must find, so they never get one.
NO_REFRAME = frozenset({"moon", "retina"})
SCENE_BACKGROUNDS = (
    "coffee",
    "rocket",
    "chelsea",
    "stereo_motorcycle",
    "brick",
    "grass",
    "gravel",
    "hubble_deep_field",
    "astronaut",
    "immunohistochemistry",
)

TRANSITION_TYPES = ("cut", "dissolve", "fade", "wipe")
DISTRACTOR_TYPES = ("flash", "strobe", "whip", "caption", "occlusion", "lighting")
MOTIONS = {
    "photo": (
        ("locked", 0.12), ("handheld", 0.2), ("pan", 0.16), ("tilt", 0.1), ("zoom_in", 0.1),
        ("zoom_out", 0.08), ("rack_focus", 0.09), ("action", 0.15),
    ),
    "scene": (
        ("locked", 0.07), ("handheld", 0.14), ("dolly", 0.2), ("pan", 0.11), ("tilt", 0.06),
        ("zoom_in", 0.1), ("zoom_out", 0.08), ("rack_focus", 0.11), ("action", 0.13),
    ),
    "bikes": (
        ("locked", 0.25), ("handheld", 0.25), ("pan", 0.14), ("zoom_in", 0.12),
        ("zoom_out", 0.1), ("rack_focus", 0.14),
    ),
}
# Depth-of-field normaliser: blur (px) = A * |1/D - 1/D_focus| / DOF_NORM.
DOF_NORM = 1.0 / 1.8 - 1.0 / 12.0

SUBTITLES = (
    "I told you we should have left earlier.",
    "Where did you put the keys?",
    "It's not about the money.",
    "Look at that, over there!",
    "We have about ten minutes.",
    "Nobody saw anything, right?",
    "Keep going, don't stop now.",
    "That's the last one, I promise.",
    "Did you hear that?",
    "They changed the plan again.",
    "Turn left after the bridge.",
    "You're not serious.",
    "Hold on. Wait for me.",
    "This is where it all started.",
    "Can we talk about this later?",
    "[distant thunder]",
    "[music playing]",
    "Okay. Let's do it.",
)
LOWER_THIRDS = (
    ("DR. ANNA BERG", "Planetary scientist"),
    ("MARCUS OYELARAN", "Race mechanic"),
    ("LENA KOWALSKI", "Field reporter, Gdansk"),
    ("TOM HARADA", "Curator, Museum of Coins"),
    ("SOFIA REYES", "Photographer"),
    ("JAMES O'NEILL", "Eyewitness"),
)
TITLES = (
    "CHAPTER TWO",
    "THE NEXT MORNING",
    "LIVE",
    "BREAKING NEWS",
    "THREE WEEKS LATER",
    "PART I: ARRIVAL",
    "REPLAY",
)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def smoothstep(x: np.ndarray | float) -> np.ndarray | float:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def to_rgb8(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        img = (np.clip(img.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if img.ndim == 2:
        img = np.dstack([img, img, img])
    if img.shape[2] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img)


def tint(img: np.ndarray, rgb: tuple[float, float, float]) -> np.ndarray:
    return cv2.transform(img, np.diag(np.asarray(rgb, dtype=np.float64)))


def crop_to_alpha(rgb: np.ndarray, alpha: np.ndarray, pad: int = 3):
    ys, xs = np.nonzero(alpha > 0.01)
    y0, y1 = max(0, ys.min() - pad), min(alpha.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(alpha.shape[1], xs.max() + pad + 1)
    return (
        np.ascontiguousarray(rgb[y0:y1, x0:x1]),
        np.ascontiguousarray(alpha[y0:y1, x0:x1]),
    )


def limit_size(rgb: np.ndarray, alpha: np.ndarray | None, max_side: int):
    h, w = rgb.shape[:2]
    s = max_side / max(h, w)
    if s >= 1.0:
        return rgb, alpha
    size = (max(2, round(w * s)), max(2, round(h * s)))
    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    if alpha is not None:
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    return rgb, alpha


def weighted_choice(rng: np.random.Generator, items):
    names = [n for n, _ in items]
    w = np.asarray([p for _, p in items], dtype=np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


class Tex:
    """A texture (RGB uint8 + optional float alpha) with a mip pyramid and a blur cache."""

    def __init__(self, rgb: np.ndarray, alpha: np.ndarray | None = None):
        self.rgb = [np.ascontiguousarray(rgb)]
        self.alpha = [None if alpha is None else np.ascontiguousarray(alpha, dtype=np.float32)]
        self.h, self.w = rgb.shape[:2]
        self._cache: dict = {}

    def _ensure(self, level: int) -> None:
        while len(self.rgb) <= level:
            self.rgb.append(cv2.pyrDown(self.rgb[-1]))
            a = self.alpha[-1]
            self.alpha.append(None if a is None else cv2.pyrDown(a))

    def get(self, m: float, sigma: float):
        """Texture for a screen scale of ``m`` px per level-0 texel and a screen blur ``sigma``.

        Returns (rgb, alpha, sx, sy): level texels per level-0 texel along x and y.
        """
        # A level-L texel spans m * 2**L screen px: minify by at most ~2x with bilinear sampling.
        level = 0
        while m * 2.0**level < 0.55 and min(self.h, self.w) * 2.0 ** (-level - 1) > 12:
            level += 1
        self._ensure(level)
        rgb, alpha = self.rgb[level], self.alpha[level]
        sx = rgb.shape[1] / self.w
        sy = rgb.shape[0] / self.h
        sig_t = sigma * sx / max(m, 1e-6)
        if sig_t < 0.35:
            return rgb, alpha, sx, sy
        q = round(sig_t * 4.0) / 4.0 if sig_t < 4 else round(sig_t * 2.0) / 2.0
        key = (level, q)
        hit = self._cache.get(key)
        if hit is None:
            b_rgb = cv2.GaussianBlur(rgb, (0, 0), q, borderType=cv2.BORDER_REFLECT101)
            b_a = None
            if alpha is not None:
                b_a = cv2.GaussianBlur(alpha, (0, 0), q, borderType=cv2.BORDER_CONSTANT)
            if len(self._cache) > 48:
                self._cache.pop(next(iter(self._cache)))
            hit = self._cache[key] = (b_rgb, b_a)
        return hit[0], hit[1], sx, sy


def solid_halfwidth(tex: Tex) -> float:
    """Half-width (texels) of the opaque core of a cut-out, measured from its centre column."""
    assert tex.alpha[0] is not None
    cols = np.nonzero(tex.alpha[0].max(axis=0) > 0.5)[0]
    if cols.size == 0:
        return tex.w / 2
    return float(min(tex.w / 2 - cols[0], cols[-1] + 1 - tex.w / 2))


def scaled_affine(M: np.ndarray, sx: float, sy: float) -> np.ndarray:
    out = M.copy()
    out[:, 0] /= sx
    out[:, 1] /= sy
    return out


def composite(frame: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, M: np.ndarray,
              blur: tuple[int, int] = (0, 0)) -> None:
    """Alpha-composite a warped texture into ``frame`` in place, touching only its bounding box."""
    H, W = frame.shape[:2]
    h, w = rgb.shape[:2]
    pts = M[:, :2] @ np.array([[0.0, w, 0.0, w], [0.0, 0.0, h, h]]) + M[:, 2:3]
    pad = 2 + max(blur)
    x0 = max(0, int(math.floor(pts[0].min())) - pad)
    x1 = min(W, int(math.ceil(pts[0].max())) + pad)
    y0 = max(0, int(math.floor(pts[1].min())) - pad)
    y1 = min(H, int(math.ceil(pts[1].max())) + pad)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return
    M2 = M.copy()
    M2[0, 2] -= x0
    M2[1, 2] -= y0
    size = (x1 - x0, y1 - y0)
    src = cv2.warpAffine(rgb, M2, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(alpha, M2, size, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if blur[0] > 1 or blur[1] > 1:
        ks = (max(1, blur[0]), max(1, blur[1]))
        src = cv2.blur(src, ks)
        a = cv2.blur(a, ks)
    roi = frame[y0:y1, x0:x1]
    frame[y0:y1, x0:x1] = cv2.blendLinear(src, roi, a, 1.0 - a)


# --------------------------------------------------------------------------------------------
# Assets: photographs, cut-outs, bikes frames, walking-person silhouettes
# --------------------------------------------------------------------------------------------


class Assets:
    def __init__(self) -> None:
        import skimage.data as skd

        self.skd = skd
        self.photos: dict[str, np.ndarray] = {}
        self.skipped: list[str] = []
        for name, tnt in PHOTO_SPECS.items():
            try:
                img = getattr(skd, name)()
            except Exception:  # needs a download, or missing in this skimage version
                self.skipped.append(name)
                continue
            if isinstance(img, tuple):
                img = img[0]
            img = to_rgb8(img)
            if tnt is not None:
                img = tint(img, tnt)
            self.photos[name] = img
        self._tex: dict[str, Tex] = {}
        self.cutouts: dict[str, Tex] = {}
        self._build_cutouts()
        self._bikes: list[np.ndarray] | None = None

    # -- photographs -------------------------------------------------------------------------
    def photo_tex(self, name: str) -> Tex:
        if name not in self._tex:
            self._tex[name] = Tex(self.photos[name])
        return self._tex[name]

    # -- cut-outs ----------------------------------------------------------------------------
    def _add_cutout(self, name: str, rgb: np.ndarray, mask: np.ndarray, soft: float = 1.0,
                    max_side: int = 420) -> None:
        alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), soft)
        rgb, alpha = crop_to_alpha(rgb, alpha)
        rgb, alpha = limit_size(rgb, alpha, max_side)
        self.cutouts[name] = Tex(rgb, alpha)

    def _build_cutouts(self) -> None:
        from scipy import ndimage as ndi

        skd = self.skd
        builders = []

        def motorcycle():
            left, _right, disp = skd.stereo_motorcycle()
            d = np.nan_to_num(disp, nan=0.0, posinf=0.0, neginf=0.0)
            rows = np.arange(300, d.shape[0])
            side = np.concatenate([d[300:, :60], d[300:, -100:]], axis=1)
            med = np.array([np.median(r[r > 0]) if (r > 0).any() else np.nan for r in side])
            ok = ~np.isnan(med)
            floor = np.polyval(np.polyfit(rows[ok], med[ok], 1), np.arange(d.shape[0]))
            m = (d > np.maximum(floor + 2.5, 35.0)[:, None]) & (d < 70)
            m[:, 690:] = False
            m[:20] = False
            m = ndi.binary_opening(m, iterations=2)
            lab, n = ndi.label(m)
            sizes = ndi.sum(m, lab, range(1, n + 1))
            m = lab == int(np.argmax(sizes)) + 1
            m = ndi.binary_fill_holes(ndi.binary_closing(m, iterations=5))
            self._add_cutout("motorcycle", to_rgb8(left), m)

        def cameraman():
            c = skd.camera()
            m = c < 50
            lab, n = ndi.label(ndi.binary_opening(m, iterations=1))
            sizes = ndi.sum(m, lab, range(1, n + 1))
            m = lab == int(np.argmax(sizes)) + 1
            m = ndi.binary_fill_holes(ndi.binary_closing(m, iterations=3))
            self._add_cutout("cameraman", to_rgb8(c), m)

        def coins():
            from skimage.filters import threshold_otsu

            c = skd.coins()
            m = ndi.binary_fill_holes(ndi.binary_opening(c > threshold_otsu(c), iterations=2))
            lab, n = ndi.label(m)
            sizes = ndi.sum(m, lab, range(1, n + 1))
            good = [k + 1 for k in np.argsort(-sizes) if 1500 <= sizes[k] <= 3200][:3]
            tints = ((1.0, 0.72, 0.5), (0.92, 0.94, 1.0), (1.0, 0.86, 0.45))
            for j, k in enumerate(good):
                self._add_cutout(f"coin{j}", tint(to_rgb8(c), tints[j]), lab == k, soft=0.8)

        def logo():
            lg = to_rgb8(skd.logo())
            m = (lg < 235).any(axis=2)
            ys, xs = np.nonzero(m)
            cy, cx = ys.mean(), xs.mean()
            r = math.sqrt(m.sum() / math.pi) * 1.04
            yy, xx = np.mgrid[: lg.shape[0], : lg.shape[1]]
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            self._add_cutout("logo_disc", lg, disc)

        def horse():
            h = skd.horse()
            m = ~h
            fur = cv2.resize(self.photos["chelsea"], (m.shape[1], m.shape[0]))
            fur = tint(fur, (0.55, 0.4, 0.3))
            self._add_cutout("horse", fur, m, soft=1.2)

        def framed():
            for nm, border, ang in (("astronaut", (240, 236, 228), 2.0),
                                    ("rocket", (25, 22, 20), -3.0),
                                    ("moon", (120, 84, 50), 0.0),
                                    ("chelsea", (250, 250, 250), -1.5)):
                if nm not in self.photos:
                    continue
                ph, _ = limit_size(self.photos[nm], None, 300)
                b = max(6, ph.shape[1] // 14)
                card = cv2.copyMakeBorder(ph, b, b, b, b, cv2.BORDER_CONSTANT, value=border)
                mask = np.ones(card.shape[:2], dtype=np.float32)
                hh, ww = card.shape[:2]
                R = cv2.getRotationMatrix2D((ww / 2, hh / 2), ang, 1.0)
                pad = int(0.08 * max(hh, ww))
                R[:, 2] += pad
                size = (ww + 2 * pad, hh + 2 * pad)
                card = cv2.warpAffine(card, R, size, flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REPLICATE)
                mask = cv2.warpAffine(mask, R, size, flags=cv2.INTER_LINEAR) > 0.5
                self._add_cutout(f"framed_{nm}", card, mask, soft=0.7)

        def blobs():
            rs = np.random.default_rng(12345)
            for nm, src, tnt in (("bush", "grass", (0.75, 1.0, 0.7)),
                                 ("rock", "gravel", (0.9, 0.9, 0.95)),
                                 ("shrub", "grass", (0.9, 1.0, 0.6))):
                if src not in self.photos:
                    continue
                tex = tint(self.photos[src], tnt)
                size = 320
                th = np.linspace(0, 2 * np.pi, 200, endpoint=False)
                r = np.ones_like(th)
                for k in range(2, 8):
                    r += rs.uniform(0.03, 0.12) / k**0.5 * np.sin(k * th + rs.uniform(0, 6.28))
                r = r / r.max() * size * 0.47
                squash = 0.6 if nm == "rock" else 0.85
                pts = np.stack([size / 2 + r * np.cos(th), size / 2 + squash * r * np.sin(th)], 1)
                mask = np.zeros((size, size), np.uint8)
                cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
                y0 = rs.integers(0, tex.shape[0] - size)
                x0 = rs.integers(0, tex.shape[1] - size)
                crop = tex[y0 : y0 + size, x0 : x0 + size]
                shade = np.linspace(1.15, 0.7, size)[:, None, None]
                crop = np.clip(crop * shade, 0, 255).astype(np.uint8)
                self._add_cutout(nm, crop, mask > 0, soft=1.5)

        builders = [motorcycle, cameraman, coins, logo, horse, framed, blobs]
        for b in builders:
            try:
                b()
            except Exception as exc:  # pragma: no cover - depends on skimage data
                print(f"  cut-out builder {b.__name__} skipped: {exc}", file=sys.stderr)

    # -- bikes ---------------------------------------------------------------------------------
    @property
    def bikes(self) -> list[np.ndarray]:
        if self._bikes is None:
            frames = []
            with av.open(str(BIKES_PATH)) as c:
                for fr in c.decode(video=0):
                    frames.append(fr.to_ndarray(format="rgb24"))
            self._bikes = frames
        return self._bikes


def person_masks(rng: np.random.Generator, n_phases: int = 8) -> list[Tex]:
    """A person walking past, seen from the side, as a dark silhouette in ``n_phases`` poses."""
    Hc, Wc = 500, 300
    base = np.array(rng.uniform(8, 30, 3), dtype=np.float64)
    grad = np.linspace(1.25, 0.75, Hc)[:, None, None]
    noise = rng.normal(0, 3, (Hc, Wc, 1))
    rgb = np.clip(base[None, None, :] * grad + noise, 0, 255).astype(np.uint8)
    bulk = rng.uniform(0.9, 1.15)
    coat = rng.random() < 0.5  # a long coat hides the upper legs
    out = []
    cx = Wc // 2
    for k in range(n_phases):
        ph = 2 * math.pi * k / n_phases
        sw = math.sin(ph)
        m = np.zeros((Hc, Wc), np.uint8)
        cv2.ellipse(m, (cx + 4, 40), (25, 31), 0, 0, 360, 255, -1)  # head
        cv2.ellipse(m, (cx, 64), (13, 16), 0, 0, 360, 255, -1)  # neck
        sh_w, hip_w = int(50 * bulk), int(40 * bulk)
        cv2.ellipse(m, (cx, 104), (sh_w, 26), 0, 180, 360, 255, -1)  # shoulders
        bottom = 300 if coat else 250
        torso = np.array([[cx - sh_w, 104], [cx + sh_w, 104], [cx + hip_w + 4, bottom],
                          [cx - hip_w - 4, bottom]], np.int32)
        cv2.fillPoly(m, [torso], 255)
        cv2.ellipse(m, (cx, 248), (hip_w + 2, 24), 0, 0, 360, 255, -1)  # hips
        for sgn in (-1, 1):
            a = sgn * 0.45 * sw
            hip = np.array([cx + sgn * 14, 250.0])
            knee = hip + 110 * np.array([math.sin(a), math.cos(a)])
            bend = 0.35 * max(0.0, -sgn * sw)  # the trailing leg bends at the knee
            foot = knee + 115 * np.array([math.sin(a - bend), math.cos(a - bend)])
            toe = foot + np.array([22.0, 4.0])
            pts = np.array([hip, knee, foot], np.int32)
            cv2.polylines(m, [pts], False, 255, 40, cv2.LINE_AA)
            cv2.line(m, tuple(int(v) for v in foot), tuple(int(v) for v in toe), 255, 22)
            b = -sgn * 0.38 * sw  # arms swing against the legs
            sh = np.array([cx + sgn * int(36 * bulk), 112.0])
            elbow = sh + 78 * np.array([math.sin(b), math.cos(b)])
            hand = elbow + 70 * np.array([math.sin(b + 0.25), math.cos(b + 0.25)])
            cv2.polylines(m, [np.array([sh, elbow, hand], np.int32)], False, 255, 28,
                          cv2.LINE_AA)
            cv2.circle(m, tuple(int(v) for v in hand), 15, 255, -1)
        alpha = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 2.0)
        out.append(Tex(rgb, alpha))
    return out


# --------------------------------------------------------------------------------------------
# Clip plan
# --------------------------------------------------------------------------------------------


@dataclass
class Layer:
    name: str
    tex: Tex
    depth: float
    x: float
    y: float
    width: float  # world units


@dataclass
class Scene:
    kind: str  # photo | scene | bikes
    name: str
    bg: Tex | None
    bg_depth: float
    layers: list[Layer] = field(default_factory=list)
    bikes_seg: tuple[int, int] | None = None
    bg_x: float = 0.0
    bg_y: float = 0.0
    bg_w: float = 1.0
    tex_w: int = 640
    tex_h: int = 272


@dataclass
class Mover:
    """A screen-space object (crossing object or walking occluder) visible in [start, end)."""

    texs: list[Tex]
    start: int
    end: int
    u0: float
    u1: float
    v: float
    m: float  # screen px per texel
    sigma: float
    shutter: float
    bob: float = 0.0
    cadence: float = 0.0  # phases per frame

    def draw(self, frame: np.ndarray, i: int) -> None:
        n = self.end - self.start
        f = (i - self.start + 0.5) / n
        u = self.u0 + (self.u1 - self.u0) * f
        du = abs(self.u1 - self.u0) / n
        k = int(self.cadence * (i - self.start)) % len(self.texs) if self.cadence else 0
        tex = self.texs[k]
        v = self.v - self.bob * abs(math.sin(math.pi * self.cadence * (i - self.start) / 4.0))
        rgb, a, sx, sy = tex.get(self.m, self.sigma)
        M = np.array([[self.m, 0.0, u - self.m * tex.w / 2], [0.0, self.m, v - self.m * tex.h / 2]])
        kb = min(int(du * self.shutter), frame.shape[1] // 4)
        composite(frame, rgb, a, scaled_affine(M, sx, sy), (kb, 0))


@dataclass
class Shot:
    idx: int
    cs: int
    ce: int
    rs: int = 0
    re: int = 0
    scene: Scene | None = None
    motion: str = "locked"
    parallax: bool = False
    zf: float = 1.0
    X0: float = 0.0
    Y0: float = 0.0
    cam: dict = field(default_factory=dict)
    gain: np.ndarray | None = None
    flash: np.ndarray | None = None
    movers: list[Mover] = field(default_factory=list)
    crossings: list[list[int]] = field(default_factory=list)
    distractors: list[dict] = field(default_factory=list)
    src_idx: np.ndarray | None = None
    bikes_speed: float = 1.0
    same_scene: bool = False
    rack: list[int] | None = None


@dataclass
class Clip:
    name: str
    seed: int
    index: int
    W: int
    H: int
    fps: Fraction
    frames: int
    codec: str
    crf: int | None
    bpp: float | None
    preset: str
    shots: list[Shot]
    transitions: list[dict]
    captions: list[dict]
    grade: dict
    noise_sigma: float

    @property
    def ext(self) -> str:
        return {"h264": "mp4", "vp9": "webm", "mpeg2": "mkv"}[self.codec]


def sample_shot_length(rng: np.random.Generator, fps: float) -> int:
    r = rng.random()
    if r < 0.25:
        s = rng.uniform(1.0, 1.5)
    elif r < 0.78:
        s = rng.uniform(1.5, 4.0)
    else:
        s = rng.uniform(4.0, 8.0)
    return max(int(math.ceil(fps)), int(round(s * fps)))


def sample_transition(rng: np.random.Generator) -> dict:
    r = rng.random()
    if r < 0.45:
        return {"type": "cut", "n": 0, "same_scene": bool(rng.random() < 0.32)}
    if r < 0.64:
        n = int(rng.integers(8, 61)) if rng.random() < 0.4 else int(rng.integers(8, 31))
        return {"type": "dissolve", "n": n}
    if r < 0.78:
        white = rng.random() < 0.3
        o = int(rng.integers(6, 31))
        i = int(rng.integers(6, 31))
        if white:
            hold = int(rng.integers(0, 5))
        else:
            hold = 0 if rng.random() < 0.3 else int(rng.integers(1, 16))
        return {"type": "fade", "n": o + hold + i, "out": o, "hold": hold, "in": i,
                "color": "white" if white else "black"}
    style = weighted_choice(rng, (("straight", 0.24), ("diagonal", 0.18), ("clock", 0.18),
                                  ("iris", 0.16), ("push", 0.24)))
    if style in ("straight", "push"):
        direction = str(rng.choice(["left", "right", "up", "down"], p=[0.35, 0.35, 0.15, 0.15]))
    elif style == "diagonal":
        direction = str(rng.choice(["down_right", "down_left", "up_right", "up_left"]))
    elif style == "clock":
        direction = str(rng.choice(["clockwise", "counterclockwise"]))
    else:
        direction = str(rng.choice(["open", "close"]))
    soft = 0.0 if rng.random() < 0.4 else float(rng.uniform(0.015, 0.07))
    return {"type": "wipe", "n": int(rng.integers(10, 41)), "style": style,
            "direction": direction, "soft": soft}


def sample_structure(rng: np.random.Generator, fps: float, target: int):
    lengths: list[int] = []
    trans: list[dict] = []
    remaining = target
    one = int(math.ceil(fps))
    while True:
        if remaining <= 8 * fps:
            lengths.append(max(remaining, one))
            break
        L = sample_shot_length(rng, fps)
        t = sample_transition(rng)
        if remaining - L - t["n"] < 1.2 * fps:
            L = remaining - t["n"] - int(fps * rng.uniform(1.2, 3.0))
            if L < one:
                t = {"type": "cut", "n": 0, "same_scene": False}
                L = remaining - int(fps * 1.5)
        lengths.append(L)
        trans.append(t)
        remaining -= L + t["n"]
    return lengths, trans


def bikes_fit(render_len: int, fps: float, seg: tuple[int, int]):
    """(speed, avail) to play ``render_len`` output frames from inside ``seg``, or None."""
    avail = seg[1] - seg[0] - 2  # keep one frame away from each of bikes.mp4's own cuts
    need = (render_len - 1) * BIKES_FPS / fps
    speed = min(1.0, (avail - 1) / max(need, 1e-6))
    if speed < 0.4:
        return None
    return speed, avail


def make_scene(rng: np.random.Generator, assets: Assets, kind: str, recent: list[str],
               W: int, H: int, zref: float) -> Scene:
    """A photo, or a 2.5D scene whose layers spread over the view of a camera at the origin
    with focal length ``zref * W``."""
    if kind == "photo":
        # Plain textures (brick, grass, gravel) only serve as scene backgrounds.
        names = [n for n in assets.photos if n not in recent and PHOTO_SPECS[n] is None]
        name = names[int(rng.integers(len(names)))]
        tex = assets.photo_tex(name)
        return Scene("photo", name, tex, 10.0, tex_w=tex.w, tex_h=tex.h)
    # 2.5D scene
    names = [n for n in SCENE_BACKGROUNDS if n in assets.photos and n not in recent]
    names = names or [n for n in SCENE_BACKGROUNDS if n in assets.photos]
    bg_name = names[int(rng.integers(len(names)))]
    tex = assets.photo_tex(bg_name)
    D_bg = float(rng.uniform(10.0, 16.0))
    n_layers = int(rng.integers(2, 6))
    pool = list(assets.cutouts)
    picks = [pool[int(k)] for k in rng.choice(len(pool), size=min(n_layers, len(pool)),
                                              replace=False)]
    depths = np.sort(rng.uniform(1.8, 0.7 * D_bg, len(picks)))[::-1]
    layers = []
    for nm, d in zip(picks, depths, strict=True):
        lt = assets.cutouts[nm]
        aspect = lt.h / lt.w
        q = rng.uniform(0.12, 0.32) * (1.35 if d < 3.0 else 1.0)
        q = min(q, 0.8 * (H / W) / aspect)  # keep it shorter than the frame
        width = q * d / zref
        u = rng.uniform(0.1, 0.9)
        v = rng.uniform(0.48, 0.78)
        x = (u - 0.5) * d / zref
        y = (v - 0.5) * d * (H / W) / zref
        layers.append(Layer(nm, lt, float(d), float(x), float(y), float(width)))
    sc = Scene("scene", bg_name, tex, D_bg, layers, tex_w=tex.w, tex_h=tex.h)
    return sc


def smooth_noise(rng: np.random.Generator, L: int, fps: float, fmin: float, fmax: float,
                 n: int = 4) -> np.ndarray:
    t = np.arange(L) / fps
    out = np.zeros(L)
    norm = 0.0
    for _ in range(n):
        f = rng.uniform(fmin, fmax)
        a = rng.uniform(0.5, 1.0) / math.sqrt(f)
        out += a * np.sin(2 * math.pi * f * t + rng.uniform(0, 2 * math.pi))
        norm += a * a / 2
    return out / math.sqrt(norm)


def build_camera(rng: np.random.Generator, shot: Shot, fps: float, W: int, H: int) -> None:
    sc = shot.scene
    assert sc is not None
    L = shot.re - shot.rs
    t = np.arange(L, dtype=np.float64)
    u = t / (L - 1) if L > 1 else np.zeros(L)
    D = sc.bg_depth
    s_res = H / 720.0
    X = np.full(L, shot.X0)
    Y = np.full(L, shot.Y0)
    Z = np.zeros(L)
    F = np.full(L, shot.zf * W)
    pu = np.zeros(L)
    pv = np.zeros(L)
    roll = np.zeros(L)
    if sc.kind == "scene":
        depths = [ly.depth for ly in sc.layers]
        A = np.full(L, rng.uniform(0.6, 2.2) * s_res)
        Df = np.full(L, float(rng.choice(depths)) if depths else D)
    else:
        depths = []
        A = np.zeros(L)
        Df = np.full(L, D)
    secs = L / fps
    kind = shot.motion
    ease = 0.8 * u + 0.2 * smoothstep(u)

    def handheld(scale: float) -> None:
        pu[:] += scale * 0.012 * W * smooth_noise(rng, L, fps, 0.15, 1.6)
        pu[:] += scale * 0.0022 * W * smooth_noise(rng, L, fps, 4.0, 9.0, 3)
        pv[:] += scale * 0.010 * H * smooth_noise(rng, L, fps, 0.15, 1.6)
        pv[:] += scale * 0.0022 * H * smooth_noise(rng, L, fps, 4.0, 9.0, 3)
        roll[:] += scale * math.radians(0.35) * smooth_noise(rng, L, fps, 0.1, 1.0)

    if kind == "handheld":
        handheld(1.0)
        X[:] += rng.uniform(-1, 1) * 0.04 * D / shot.zf * u
        Y[:] += rng.uniform(-1, 1) * 0.02 * D / shot.zf * u
    elif kind == "action":
        handheld(0.6)
    elif kind == "pan":
        span = min(rng.uniform(0.25, 0.75) * W, 0.3 * W * secs) * rng.choice([-1, 1])
        pu[:] += span * (u - 0.5)
        pv[:] += rng.uniform(-0.04, 0.04) * H * (u - 0.5)
    elif kind == "tilt":
        span = min(rng.uniform(0.2, 0.5) * H, 0.25 * H * secs) * rng.choice([-1, 1])
        pv[:] += span * (u - 0.5)
    elif kind == "dolly":
        dx = rng.uniform(0.5, 1.3) * rng.choice([-1, 1]) * min(1.0, secs / 2.5)
        X[:] += dx * (u - 0.5)
        Y[:] += rng.uniform(-0.1, 0.1) * dx * (u - 0.5)
        if depths and rng.random() < 0.5:  # track a subject: counter-pan on a mid layer
            dmid = float(np.median(depths))
            pu[:] += shot.zf * W / dmid * dx * (u - 0.5) * 0.6
    elif kind in ("zoom_in", "zoom_out"):
        r = min(rng.uniform(1.3, 1.9), 1.0 + 0.4 * secs)
        e = ease if kind == "zoom_in" else 1.0 - ease
        if shot.parallax:
            zmax = rng.uniform(0.25, 0.45) * min(depths)
            Z[:] = zmax * e
        else:
            F[:] = shot.zf * W * r**e
    elif kind == "rack_focus":
        n = max(6, int(round(fps * rng.uniform(0.8, 1.3))))
        cs, ce = shot.cs - shot.rs, shot.ce - shot.rs
        if ce - cs > n + 4:
            s0 = int(rng.integers(cs + 2, ce - n - 1))
        else:
            s0 = (cs + ce - n) // 2
        w = smoothstep((t - s0 + 1) / (n + 1))
        if sc.kind == "scene" and depths:
            A[:] = rng.uniform(5.0, 11.0) * s_res
            near, far = min(depths), max(D * 0.9, max(depths))
            a_inv, b_inv = (1 / near, 1 / far) if rng.random() < 0.5 else (1 / far, 1 / near)
        else:
            A[:] = rng.uniform(7.0, 13.0) * s_res
            a_inv, b_inv = (1 / D, 1 / 2.5) if rng.random() < 0.5 else (1 / 2.5, 1 / D)
        Df[:] = 1.0 / (a_inv + (b_inv - a_inv) * w)
        shot.rack = [shot.rs + s0, shot.rs + s0 + n]
        if rng.random() < 0.5:
            handheld(0.35)
    if kind in ("pan", "tilt", "dolly", "zoom_in", "zoom_out") and rng.random() < 0.3:
        handheld(0.4)
    # whip pans planned as distractors (shot with a longer shutter: heavy motion blur)
    shutter = np.full(L, 0.5)
    for d in shot.distractors:
        if d["type"] != "whip":
            continue
        s0 = d["start"] - shot.rs
        n = d["end"] - d["start"]
        w = np.zeros(L)
        w[s0 : s0 + n] = smoothstep((np.arange(n) + 1.0) / (n + 1.0))
        w[s0 + n :] = 1.0
        shutter[s0 : s0 + n + 1] = 0.9
        if d["direction"] in ("left", "right"):
            pu += d["_delta"] * W * w
        else:
            pv += d["_delta"] * H * w
    mbx = np.round(np.abs(np.diff(pu, prepend=pu[0])) * shutter).astype(int)
    mby = np.round(np.abs(np.diff(pv, prepend=pv[0])) * shutter).astype(int)
    shot.cam = {
        "X": X, "Y": Y, "Z": Z, "F": F, "pu": pu, "pv": pv, "roll": roll, "A": A, "Df": Df,
        "mbx": np.minimum(mbx, W // 4), "mby": np.minimum(mby, H // 4),
    }


def view_box(shot: Shot, W: int, H: int, D: float):
    c = shot.cam
    k = c["F"] / (D - c["Z"])
    cr, sr = np.cos(-c["roll"]), np.sin(-c["roll"])
    xs, ys = [], []
    for sx, sy in ((-W / 2, -H / 2), (W / 2, -H / 2), (-W / 2, H / 2), (W / 2, H / 2)):
        qx = cr * sx - sr * sy
        qy = sr * sx + cr * sy
        xs.append(c["X"] + (qx - c["pu"]) / k)
        ys.append(c["Y"] + (qy - c["pv"]) / k)
    xs_a, ys_a = np.concatenate(xs), np.concatenate(ys)
    return xs_a.min(), ys_a.min(), xs_a.max(), ys_a.max()


def cover_fit(rng: np.random.Generator, scene: Scene, shots: list[Shot], W: int, H: int):
    boxes = np.array([view_box(s, W, H, scene.bg_depth) for s in shots])
    x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
    x1, y1 = boxes[:, 2].max(), boxes[:, 3].max()
    bw, bh = (x1 - x0) * 1.03, (y1 - y0) * 1.03
    aspect = scene.tex_w / scene.tex_h
    width = max(bw, bh * aspect)
    height = width / aspect
    scene.bg_w = float(width)
    scene.bg_x = float((x0 + x1) / 2 + rng.uniform(-0.5, 0.5) * (width - bw))
    scene.bg_y = float((y0 + y1) / 2 + rng.uniform(-0.5, 0.5) * (height - bh))


def find_slot(rng: np.random.Generator, busy: list[tuple[int, int]], lo: int, hi: int,
              length: int, gap: int = 3) -> int | None:
    cands = []
    for s in range(lo, hi - length + 1):
        if all(s + length + gap <= b0 or s >= b1 + gap for b0, b1 in busy):
            cands.append(s)
    if not cands:
        return None
    return int(cands[int(rng.integers(len(cands)))])


def plan_distractors(rng: np.random.Generator, shot: Shot, fps: float, W: int, H: int,
                     person: list[Tex], captions: list[dict]) -> None:
    lo, hi = shot.cs + 3, shot.ce - 3
    sc = shot.scene
    assert sc is not None
    nd = int(rng.choice([0, 1, 2, 3], p=[0.35, 0.38, 0.2, 0.07]))
    busy: list[tuple[int, int]] = []
    cap_busy: list[tuple[int, int]] = []
    weights = [("flash", 0.16), ("strobe", 0.12), ("whip", 0.2), ("caption", 0.2),
               ("occlusion", 0.16), ("lighting", 0.16)]
    whip_ok = sc.kind in ("photo", "scene") and shot.motion not in (
        "zoom_in", "zoom_out", "rack_focus")
    for _ in range(nd):
        typ = weighted_choice(rng, weights)
        if typ == "whip" and not whip_ok:
            typ = weighted_choice(rng, [w for w in weights if w[0] != "whip"])
        d: dict = {"type": typ, "shot": shot.idx}
        if typ == "flash":
            n = int(rng.integers(1, 3))
            d["_level"] = float(rng.uniform(0.55, 0.85))
        elif typ == "strobe":
            period = int(rng.integers(2, 4))
            count = int(rng.integers(3, 7))
            n = period * (count - 1) + 1
            d["_period"] = period
            d["_level"] = float(rng.uniform(0.5, 0.8))
        elif typ == "whip":
            n = max(5, int(round(rng.uniform(0.2, 0.4) * fps)))
            if rng.random() < 0.8:
                d["direction"] = str(rng.choice(["left", "right"]))
                mag = rng.uniform(0.45, 0.9)
            else:
                d["direction"] = str(rng.choice(["up", "down"]))
                mag = rng.uniform(0.3, 0.6)
            # content moves opposite to the camera
            d["_delta"] = float(mag * (-1 if d["direction"] in ("right", "down") else 1))
        elif typ == "occlusion":
            n = int(round(rng.uniform(1.0, 2.6) * fps))
        elif typ == "lighting":
            n = int(round(rng.uniform(1.0, 3.0) * fps))
        else:  # caption
            style = weighted_choice(rng, (("subtitle", 0.5), ("lower_third", 0.3),
                                          ("title", 0.2)))
            if style == "subtitle":
                k = int(rng.integers(1, 4))
                lens = [int(round(rng.uniform(0.9, 2.4) * fps)) for _ in range(k)]
                gaps = [int(rng.integers(0, 6)) for _ in range(k - 1)] + [0]
            elif style == "lower_third":
                lens, gaps = [int(round(rng.uniform(1.5, 3.5) * fps))], [0]
            else:
                lens, gaps = [int(round(rng.uniform(1.0, 2.5) * fps))], [0]
            total = sum(lens) + sum(gaps)
            while total > hi - lo and len(lens) > 1:
                lens.pop()
                gaps.pop()
                gaps[-1] = 0
                total = sum(lens) + sum(gaps)
            if total > hi - lo:
                lens = [hi - lo]
                total = hi - lo
            if lens[0] < 10:
                continue
            s = find_slot(rng, cap_busy, lo, hi, total)
            if s is None:
                continue
            cap_busy.append((s, s + total))
            pos = s
            for ln, gp in zip(lens, gaps, strict=True):
                if style == "subtitle":
                    text = str(SUBTITLES[int(rng.integers(len(SUBTITLES)))])
                    extra = {}
                elif style == "lower_third":
                    name, role = LOWER_THIRDS[int(rng.integers(len(LOWER_THIRDS)))]
                    text = f"{name} / {role}"
                    extra = {"_line1": name, "_line2": role,
                             "_color": tuple(int(c) for c in rng.integers(20, 200, 3))}
                else:
                    text = str(TITLES[int(rng.integers(len(TITLES)))])
                    extra = {}
                cap = {"type": "caption", "start": pos, "end": pos + ln, "shot": shot.idx,
                       "style": style, "text": text}
                shot.distractors.append(cap)
                captions.append({**cap, **extra, "_font": int(rng.choice([0, 2, 3, 4])),
                                 "_size": float(rng.uniform(0.85, 1.2))})
                pos += ln + gp
            continue
        s = find_slot(rng, busy, lo, hi, n)
        if s is None:
            continue
        busy.append((s, s + n))
        d["start"], d["end"] = s, s + n
        if typ == "lighting":
            d["mode"] = "darker" if rng.random() < 0.55 else "warmer"
            d["change"] = "sudden" if rng.random() < 0.4 else "gradual"
            d["_depth"] = float(rng.uniform(0.3, 0.5))
        if typ == "occlusion":
            left_to_right = rng.random() < 0.5
            d["direction"] = "left_to_right" if left_to_right else "right_to_left"
            height = rng.uniform(1.15, 2.3) * H
            m = height / person[0].h
            # On the first and last frame of the range the opaque body is already / still
            # at least 2.5 % of the width inside the frame.
            hs = m * min(solid_halfwidth(p) for p in person)
            u0, u1 = -hs + 0.025 * W, W + hs - 0.025 * W
            if not left_to_right:
                u0, u1 = u1, u0
            cadence = rng.uniform(1.6, 2.4) * 8 / fps  # ~2 strides per second, 8 poses each
            v = H * rng.uniform(0.55, 0.8)
            shot.movers.append(Mover(person, s, s + n, u0, u1, v, m,
                                     sigma=rng.uniform(2.0, 7.0) * H / 720, shutter=0.4,
                                     bob=0.01 * H, cadence=cadence))
        shot.distractors.append(d)
    shot.distractors.sort(key=lambda x: (x["start"], x["type"]))


def plan_crossings(rng: np.random.Generator, shot: Shot, fps: float, W: int, H: int,
                   assets: Assets) -> None:
    lo, hi = shot.cs + 2, shot.ce - 2
    busy: list[tuple[int, int]] = []
    names = list(assets.cutouts)
    for _ in range(int(rng.integers(1, 4))):
        n = max(4, int(round(rng.uniform(0.35, 1.1) * fps)))
        s = find_slot(rng, busy, lo, hi, n, gap=2)
        if s is None:
            continue
        busy.append((s, s + n))
        tex = assets.cutouts[names[int(rng.integers(len(names)))]]
        hgt = rng.uniform(0.35, 0.8) * H
        m = hgt / tex.h
        if m * tex.w > 0.5 * W:
            m = 0.5 * W / tex.w
        hs = m * solid_halfwidth(tex)
        u0, u1 = -hs + 0.02 * W, W + hs - 0.02 * W
        if rng.random() < 0.5:
            u0, u1 = u1, u0
        v = rng.uniform(0.4, 0.8) * H
        shot.movers.append(Mover([tex], s, s + n, u0, u1, v, m,
                                 sigma=rng.uniform(0.5, 3.5) * H / 720, shutter=0.5))
        shot.crossings.append([s, s + n])
    shot.crossings.sort()


def plan_clip(seed: int, index: int, assets: Assets) -> Clip:
    rng = np.random.default_rng([seed, index, 31337])
    # Resolution and frame rate are stratified over the clips of a seed (consecutive shuffled
    # rounds of every choice), so a set of 10 clips covers each of them.
    def stratified(n: int, stream: int) -> int:
        srng = np.random.default_rng([seed, 4242, stream])
        return int(np.concatenate([srng.permutation(n) for _ in range(index // n + 1)])[index])

    W, H = RESOLUTIONS[stratified(len(RESOLUTIONS), 0)]
    fps = FPS_CHOICES[stratified(len(FPS_CHOICES), 1)]
    fpsf = float(fps)
    r = rng.random()
    codec = "h264" if r < 0.6 else ("vp9" if r < 0.8 else "mpeg2")
    crf: int | None = None
    bpp: float | None = None
    if codec == "h264":
        crf = int(rng.integers(20, 33))
        preset = str(rng.choice(["veryfast", "faster", "fast", "medium"]))
    elif codec == "vp9":
        crf = int(rng.integers(28, 41))
        preset = str(rng.choice(["5", "6", "7", "8"]))  # libvpx cpu-used
    else:
        preset = "gop15"
        bpp = float(rng.uniform(0.08, 0.2))
    target = int(rng.uniform(20.5, 39.5) * fpsf)
    lengths, trans = sample_structure(rng, fpsf, target)

    # Absolute timeline.
    shots: list[Shot] = []
    pos = 0
    for j, L in enumerate(lengths):
        shots.append(Shot(j, pos, pos + L))
        pos += L
        if j < len(trans):
            trans[j]["start"] = pos
            pos += trans[j]["n"]
            trans[j]["end"] = pos
    frames = pos
    for j, s in enumerate(shots):
        s.rs = trans[j - 1]["start"] if j > 0 else s.cs
        s.re = trans[j]["end"] if j < len(trans) else s.ce

    # Sources.
    recent: list[str] = []
    for j, s in enumerate(shots):
        prev = shots[j - 1] if j > 0 else None
        tb = trans[j - 1] if j > 0 else None
        if tb is not None and tb["type"] == "cut" and tb.get("same_scene") and prev is not None:
            psc = prev.scene
            assert psc is not None
            ok = not (psc.kind == "photo" and psc.name in NO_REFRAME)
            if ok and psc.kind == "bikes":
                assert psc.bikes_seg is not None
                ok = bikes_fit(s.re - s.rs, fpsf, psc.bikes_seg) is not None
            if ok:
                s.scene = psc
                s.same_scene = True
                # A clearly different framing of the same source.
                ratio = rng.uniform(1.6, 1.9) if psc.kind == "bikes" else rng.uniform(1.6, 2.4)
                tighter = prev.zf * ratio <= 3.6 and (prev.zf < 1.3 or rng.random() < 0.5)
                s.zf = prev.zf * ratio if tighter else max(0.9, prev.zf / ratio)
                if abs(math.log(s.zf / prev.zf)) < math.log(1.55):
                    s.zf = prev.zf * 1.7
                wide = min(s.zf, prev.zf)
                # Shift the view by up to a quarter of the wide view's width, measured at the
                # depth that matters: the background for photos / bikes, the layers for scenes.
                depth = psc.bg_depth
                if psc.kind == "scene" and psc.layers:
                    depth = float(np.median([ly.depth for ly in psc.layers]))
                s.X0 = prev.X0 + rng.uniform(-0.25, 0.25) * depth / wide
                s.Y0 = prev.Y0 + rng.uniform(-0.12, 0.12) * depth / wide * H / W
                continue
            tb["same_scene"] = False
        render_len = s.re - s.rs
        segs = [g for g in BIKES_SHOTS if bikes_fit(render_len, fpsf, g) is not None]
        if prev is not None and prev.scene is not None and prev.scene.kind == "bikes":
            segs = [g for g in segs if g != prev.scene.bikes_seg]
        kinds = [("photo", 0.32), ("scene", 0.43)] + ([("bikes", 0.25)] if segs else [])
        kind = weighted_choice(rng, kinds)
        s.zf = float(rng.uniform(0.95, 1.5))
        if kind == "bikes":
            seg = segs[int(rng.integers(len(segs)))]
            s.scene = Scene("bikes", "bikes.mp4", None, 10.0, bikes_seg=seg)
        else:
            s.scene = make_scene(rng, assets, kind, recent, W, H, s.zf)
        recent = ([s.scene.name] + recent)[:3]
        if kind == "scene":
            s.X0 = float(rng.uniform(-0.12, 0.12))
            s.Y0 = float(rng.uniform(-0.06, 0.06))
        else:
            s.X0 = float(rng.uniform(-0.04, 0.04) * s.scene.bg_depth)
            s.Y0 = float(rng.uniform(-0.02, 0.02) * s.scene.bg_depth)

    # Motion, bikes timing, distractors, cameras.
    person = person_masks(rng)
    captions: list[dict] = []
    for s in shots:
        sc = s.scene
        assert sc is not None
        s.motion = weighted_choice(rng, MOTIONS[sc.kind])
        if sc.kind == "scene" and s.motion in ("zoom_in", "zoom_out"):
            s.parallax = bool(rng.random() < 0.55)
        elif sc.kind == "scene" and s.motion == "dolly":
            s.parallax = True
        if sc.kind == "bikes":
            assert sc.bikes_seg is not None
            L = s.re - s.rs
            fit = bikes_fit(L, fpsf, sc.bikes_seg)
            assert fit is not None
            speed, avail = fit
            steps = np.floor(np.arange(L) * BIKES_FPS / fpsf * speed + 1e-9).astype(int)
            off = int(rng.integers(0, max(0, avail - 1 - int(steps[-1])) + 1))
            idx = sc.bikes_seg[0] + 1 + off + steps
            assert idx[-1] <= sc.bikes_seg[1] - 2 and idx[0] >= sc.bikes_seg[0] + 1
            s.src_idx = idx
            s.bikes_speed = float(speed)
        plan_distractors(rng, s, fpsf, W, H, person, captions)
        if s.motion == "action":
            plan_crossings(rng, s, fpsf, W, H, assets)
        build_camera(rng, s, fpsf, W, H)
        L = s.re - s.rs
        s.gain = np.ones((L, 3))
        s.flash = np.zeros(L)
        for d in s.distractors:
            a, b = d["start"] - s.rs, d["end"] - s.rs
            n = b - a
            if d["type"] == "flash":
                s.flash[a] = d["_level"]
                if n == 2:
                    s.flash[a + 1] = d["_level"] * 0.45
            elif d["type"] == "strobe":
                s.flash[a:b:d["_period"]] = d["_level"]
            elif d["type"] == "lighting":
                dep = d["_depth"]
                if d["mode"] == "darker":
                    target_gain = np.array([1 - dep, 1 - dep, 1 - dep])
                else:
                    target_gain = np.array([1.0 + 0.15 * dep, 1 - 0.4 * dep, 1 - dep])
                if d["change"] == "sudden":
                    w = np.ones(n)
                else:
                    ramp = max(2, min(int(round(rng.uniform(0.25, 0.8) * fpsf)), (n - 2) // 2))
                    tt = np.arange(n)
                    w = np.minimum(1.0, np.minimum((tt + 1) / (ramp + 1), (n - tt) / (ramp + 1)))
                s.gain[a:b] = 1.0 + (target_gain - 1.0)[None, :] * w[:, None]

    # Backgrounds cover every view of every shot that uses them.
    by_scene: dict[int, list[Shot]] = {}
    for s in shots:
        by_scene.setdefault(id(s.scene), []).append(s)
    for group in by_scene.values():
        sc = group[0].scene
        assert sc is not None
        cover_fit(rng, sc, group, W, H)

    # Transitions: from/to labels.
    for j, t in enumerate(trans):
        t["from"] = shots[j].motion
        t["to"] = shots[j + 1].motion

    grade = {
        "gamma": rng.uniform(0.88, 1.12, 3) * rng.uniform(0.95, 1.05),
        "lift": rng.uniform(0, 14, 3),
        "gain": rng.uniform(0.9, 1.04, 3),
        "saturation": float(rng.uniform(0.75, 1.2)),
        "vignette": float(rng.uniform(0.0, 0.28)) if rng.random() < 0.6 else 0.0,
    }
    return Clip(
        name=f"third_s{seed}_c{index:02d}", seed=seed, index=index, W=W, H=H, fps=fps,
        frames=frames, codec=codec, crf=crf, bpp=bpp, preset=preset, shots=shots, transitions=trans,
        captions=sorted(captions, key=lambda c: c["start"]), grade=grade,
        noise_sigma=float(rng.uniform(1.2, 3.8)),
    )


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


class Renderer:
    def __init__(self, clip: Clip, assets: Assets, rng: np.random.Generator):
        self.clip = clip
        self.assets = assets
        self.W, self.H = clip.W, clip.H
        self.rng = rng
        g = clip.grade
        x = np.arange(256) / 255.0
        lut = np.zeros((1, 256, 3), np.uint8)
        for c in range(3):
            y = g["lift"][c] / 255.0 + (g["gain"][c] - g["lift"][c] / 255.0) * x ** (
                1.0 / g["gamma"][c])
            lut[0, :, c] = np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)
        self.lut = lut
        s = g["saturation"]
        luma = np.array([0.299, 0.587, 0.114])
        self.sat = s * np.eye(3) + (1 - s) * np.tile(luma, (3, 1))
        W, H = self.W, self.H
        self.vignette = None
        if g["vignette"] > 0:
            yy, xx = np.mgrid[0:H, 0:W]
            r2 = ((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
            v = 1.0 - g["vignette"] * np.clip(r2 / 2.0, 0, 1) ** 1.3
            self.vignette = np.repeat((v * 255).astype(np.uint8)[:, :, None], 3, axis=2)
        self.grain = []
        sig = clip.noise_sigma
        for _ in range(3):
            luma_n = rng.normal(0, sig, (H + 32, W + 32, 1))
            chroma_n = rng.normal(0, sig * 0.35, (H + 32, W + 32, 3))
            nz = np.round(luma_n + chroma_n).astype(np.int16)
            pos = np.clip(nz, 0, 255).astype(np.uint8)
            neg = np.clip(-nz, 0, 255).astype(np.uint8)
            self.grain.append((pos, neg))
        self._wipe_cache: dict[int, np.ndarray] = {}

    # -- one shot ----------------------------------------------------------------------------
    def render_shot(self, shot: Shot, i: int) -> np.ndarray:
        W, H = self.W, self.H
        sc = shot.scene
        assert sc is not None
        t = i - shot.rs
        c = shot.cam
        X, Y, Z, F = c["X"][t], c["Y"][t], c["Z"][t], c["F"][t]
        pu, pv, roll = c["pu"][t], c["pv"][t], c["roll"][t]
        A, Df = c["A"][t], c["Df"][t]
        cr, sr = math.cos(roll), math.sin(roll)
        R = np.array([[cr, -sr], [sr, cr]])

        def place(depth: float, x: float, y: float, ww: float, tw: int, th: int):
            k = F / (depth - Z)
            m = k * ww / tw
            tx = k * (x - X) + pu - m * tw / 2
            ty = k * (y - Y) + pv - m * th / 2
            M = R @ np.array([[m, 0.0, tx], [0.0, m, ty]])
            M[0, 2] += W / 2
            M[1, 2] += H / 2
            return M, m

        def sigma_at(depth: float) -> float:
            return float(A * abs(1.0 / depth - 1.0 / Df) / DOF_NORM)

        if sc.kind == "bikes":
            assert shot.src_idx is not None
            src = self.assets.bikes[int(shot.src_idx[t])]
            M, m = place(sc.bg_depth, sc.bg_x, sc.bg_y, sc.bg_w, src.shape[1], src.shape[0])
            sg = sigma_at(sc.bg_depth) / m
            if sg > 0.35:
                src = cv2.GaussianBlur(src, (0, 0), sg)
            frame = cv2.warpAffine(src, M, (W, H), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT101)
        else:
            assert sc.bg is not None
            M, m = place(sc.bg_depth, sc.bg_x, sc.bg_y, sc.bg_w, sc.bg.w, sc.bg.h)
            rgb, _, sx, sy = sc.bg.get(m, sigma_at(sc.bg_depth))
            frame = cv2.warpAffine(rgb, scaled_affine(M, sx, sy), (W, H), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT101)
            for ly in sc.layers:
                if ly.depth - Z < 0.3:
                    continue
                M, m = place(ly.depth, ly.x, ly.y, ly.width, ly.tex.w, ly.tex.h)
                rgb, a, sx, sy = ly.tex.get(m, sigma_at(ly.depth))
                composite(frame, rgb, a, scaled_affine(M, sx, sy))
        for mv in shot.movers:
            if mv.start <= i < mv.end:
                mv.draw(frame, i)
        kx, ky = int(c["mbx"][t]), int(c["mby"][t])
        if kx >= 3 or ky >= 3:
            frame = cv2.blur(frame, (max(1, kx), max(1, ky)))
        assert shot.gain is not None and shot.flash is not None
        g = shot.gain[t]
        if np.any(g != 1.0):
            frame = cv2.transform(frame, np.diag(g))
        f = float(shot.flash[t])
        if f > 0:
            frame = cv2.convertScaleAbs(frame, alpha=1.0 - f, beta=255.0 * f)
        return frame

    # -- transitions -------------------------------------------------------------------------
    def wipe_field(self, tr: dict) -> np.ndarray:
        key = tr["start"]
        if key in self._wipe_cache:
            return self._wipe_cache[key]
        self._wipe_cache.clear()
        W, H = self.W, self.H
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        xx = (xx + 0.5) / W
        yy = (yy + 0.5) / H
        st, d = tr["style"], tr["direction"]
        if st == "straight":
            f = {"right": xx, "left": 1 - xx, "down": yy, "up": 1 - yy}[d]
        elif st == "diagonal":
            f = {"down_right": xx + yy, "down_left": (1 - xx) + yy, "up_right": xx + (1 - yy),
                 "up_left": 2 - xx - yy}[d]
        elif st == "clock":
            ang = np.arctan2((xx - 0.5) * W, -(yy - 0.5) * H)
            f = np.mod(ang, 2 * np.pi)
            if d == "counterclockwise":
                f = np.mod(-ang, 2 * np.pi)
        else:  # iris
            r = np.hypot((xx - 0.5) * W, (yy - 0.5) * H)
            f = r if d == "open" else -r
        # Area-uniform: the value at a pixel is the fraction of the frame with a smaller value,
        # so progress p reveals exactly a fraction p of the frame.
        flat = f.ravel()
        srt = np.sort(flat)
        uni = (np.searchsorted(srt, flat, side="left") / flat.size).astype(np.float32)
        field_ = uni.reshape(H, W)
        self._wipe_cache[key] = field_
        return field_

    def transition_frame(self, tr: dict, A: Shot, B: Shot, i: int) -> np.ndarray:
        k = i - tr["start"]
        n = tr["end"] - tr["start"]
        typ = tr["type"]
        if typ == "dissolve":
            w = (k + 1) / (n + 1)
            return cv2.addWeighted(self.render_shot(A, i), 1 - w, self.render_shot(B, i), w, 0)
        if typ == "fade":
            o, h, n_in = tr["out"], tr["hold"], tr["in"]
            white = tr["color"] == "white"
            if k < o:
                w = 1 - (k + 1) / (o + 1)
                img = self.render_shot(A, i)
            elif k < o + h:
                return np.full((self.H, self.W, 3), 255 if white else 0, np.uint8)
            else:
                w = (k - o - h + 1) / (n_in + 1)
                img = self.render_shot(B, i)
            return cv2.convertScaleAbs(img, alpha=w, beta=255.0 * (1 - w) if white else 0.0)
        # wipe
        p = (k + 1) / (n + 1)
        a = self.render_shot(A, i)
        b = self.render_shot(B, i)
        if tr["style"] == "push":
            d = tr["direction"]
            e = 0.7 * p + 0.3 * float(smoothstep(p))
            out = np.empty_like(a)
            if d in ("left", "right"):
                s = min(self.W - 1, max(1, int(round(e * self.W))))
                if d == "left":  # new shot enters from the right, everything moves left
                    out[:, : self.W - s] = a[:, s:]
                    out[:, self.W - s :] = b[:, :s]
                else:
                    out[:, s:] = a[:, : self.W - s]
                    out[:, :s] = b[:, self.W - s :]
            else:
                s = min(self.H - 1, max(1, int(round(e * self.H))))
                if d == "up":
                    out[: self.H - s] = a[s:]
                    out[self.H - s :] = b[:s]
                else:
                    out[s:] = a[: self.H - s]
                    out[:s] = b[self.H - s :]
            return out
        f = self.wipe_field(tr)
        soft = tr["soft"]
        if soft <= 0:
            m = (f < p).astype(np.float32)
        else:
            m = np.clip((p * (1 + soft) - f) / soft, 0.0, 1.0).astype(np.float32)
        return cv2.blendLinear(b, a, m, 1.0 - m)

    # -- post ----------------------------------------------------------------------------------
    def grade_frame(self, img: np.ndarray) -> np.ndarray:
        img = cv2.LUT(img, self.lut)
        img = cv2.transform(img, self.sat)
        if self.vignette is not None:
            img = cv2.multiply(img, self.vignette, scale=1.0 / 255.0)
        return img

    def draw_caption(self, img: np.ndarray, cap: dict, i: int) -> None:
        W, H = self.W, self.H
        s = H / 720.0 * cap["_size"]
        font = cap["_font"]
        age = i - cap["start"]
        style = cap["style"]
        if style == "subtitle":
            scale = 1.1 * s
            th = max(1, round(2.2 * s))
            text = cap["text"]
            (tw, _), _ = cv2.getTextSize(text, font, scale, th)
            if tw > 0.92 * W:
                scale *= 0.92 * W / tw
                (tw, _), _ = cv2.getTextSize(text, font, scale, th)
            org = ((W - tw) // 2, int(H * 0.91))
            cv2.putText(img, text, org, font, scale, (0, 0, 0), th + max(2, round(3 * s)),
                        cv2.LINE_AA)
            cv2.putText(img, text, org, font, scale, (250, 250, 235), th, cv2.LINE_AA)
        elif style == "lower_third":
            slide = max(0.0, 1.0 - age / 6.0)
            x0 = int(0.05 * W - slide * 0.6 * W)
            y0, y1 = int(0.72 * H), int(0.87 * H)
            scale1 = 0.95 * s
            scale2 = 0.62 * s
            th = max(1, round(2 * s))
            (tw1, th1), _ = cv2.getTextSize(cap["_line1"], font, scale1, th)
            (tw2, _), _ = cv2.getTextSize(cap["_line2"], font, scale2, max(1, th - 1))
            bw = int(max(tw1, tw2) + 0.05 * W)
            xa, xb = max(0, x0), min(W, x0 + bw)
            if xb > xa:
                roi = img[y0:y1, xa:xb]
                bar = np.empty_like(roi)
                bar[:] = np.array(cap["_color"], np.uint8)
                img[y0:y1, xa:xb] = cv2.addWeighted(roi, 0.3, bar, 0.7, 0)
                cv2.rectangle(img, (xa, y0), (min(W - 1, xa + max(2, W // 200)), y1),
                              (240, 200, 40), -1)
            tx = x0 + int(0.025 * W)
            cv2.putText(img, cap["_line1"], (tx, y0 + int(0.5 * (y1 - y0)) + th1 // 3), font,
                        scale1, (255, 255, 255), th, cv2.LINE_AA)
            cv2.putText(img, cap["_line2"], (tx, y1 - int(0.12 * (y1 - y0))), font, scale2,
                        (225, 225, 225), max(1, th - 1), cv2.LINE_AA)
        else:  # title
            scale = 2.0 * s
            th = max(2, round(4 * s))
            text = cap["text"]
            (tw, tht), _ = cv2.getTextSize(text, font, scale, th)
            if tw > 0.9 * W:
                scale *= 0.9 * W / tw
                (tw, tht), _ = cv2.getTextSize(text, font, scale, th)
            org = ((W - tw) // 2, (H + tht) // 2)
            alpha = min(1.0, (age + 1) / 5.0)
            y0, y1 = max(0, org[1] - tht - 2 * th - 4), min(H, org[1] + 3 * th + 4)
            x0, x1 = max(0, org[0] - 2 * th), min(W, org[0] + tw + 4 * th)
            patch = img[y0:y1, x0:x1].copy()
            sh = max(2, round(3 * s))
            cv2.putText(img, text, (org[0] + sh, org[1] + sh), font, scale, (0, 0, 0), th,
                        cv2.LINE_AA)
            cv2.putText(img, text, org, font, scale, (255, 255, 255), th, cv2.LINE_AA)
            if alpha < 1.0:
                img[y0:y1, x0:x1] = cv2.addWeighted(img[y0:y1, x0:x1], alpha, patch,
                                                    1 - alpha, 0)

    def add_grain(self, img: np.ndarray) -> np.ndarray:
        pos, neg = self.grain[int(self.rng.integers(len(self.grain)))]
        ox, oy = (int(v) for v in self.rng.integers(0, 33, 2))
        img = cv2.add(img, pos[oy : oy + self.H, ox : ox + self.W])
        return cv2.subtract(img, neg[oy : oy + self.H, ox : ox + self.W])

    def frames(self):
        clip = self.clip
        caps = clip.captions
        for j, shot in enumerate(clip.shots):
            segs = [(shot.cs, shot.ce, None)]
            if j < len(clip.transitions):
                tr = clip.transitions[j]
                segs.append((tr["start"], tr["end"], tr))
            for a, b, tr in segs:
                for i in range(a, b):
                    if tr is None:
                        img = self.render_shot(shot, i)
                    else:
                        img = self.transition_frame(tr, shot, clip.shots[j + 1], i)
                    img = self.grade_frame(img)
                    for cap in caps:
                        if cap["start"] <= i < cap["end"]:
                            self.draw_caption(img, cap, i)
                    yield i, self.add_grain(img)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def fps_value(fps: Fraction) -> float:
    return round(float(fps), 3)


def clip_json(clip: Clip) -> dict:
    def public(d: dict) -> dict:
        return {k: v for k, v in d.items() if not k.startswith("_") and k != "n"}

    transitions = []
    for t in clip.transitions:
        pt = public(t)
        if t["type"] == "cut":
            pt = {"type": "cut", "start": t["start"], "end": t["end"], "from": t["from"],
                  "to": t["to"], "same_scene": bool(t.get("same_scene", False))}
        elif t["type"] == "wipe":
            pt = {"type": "wipe", "start": t["start"], "end": t["end"], "from": t["from"],
                  "to": t["to"], "style": t["style"], "direction": t["direction"],
                  "soft_edge": round(float(t["soft"]), 3)}
        elif t["type"] == "fade":
            pt = {"type": "fade", "start": t["start"], "end": t["end"], "from": t["from"],
                  "to": t["to"], "color": t["color"], "out": t["out"], "hold": t["hold"],
                  "in": t["in"]}
        else:
            pt = {k: pt[k] for k in ("type", "start", "end", "from", "to")}
        transitions.append(pt)
    distractors = []
    shots = []
    for s in clip.shots:
        sc = s.scene
        assert sc is not None
        for d in s.distractors:
            distractors.append(public(d))
        sd: dict = {"start": s.cs, "end": s.ce, "photo": sc.name, "motion": s.motion,
                    "source": sc.kind}
        if sc.kind == "scene":
            sd["layers"] = [ly.name for ly in sc.layers]
            sd["parallax"] = s.parallax
        if sc.kind == "bikes":
            assert s.src_idx is not None
            sd["bikes_frames"] = [int(s.src_idx[0]), int(s.src_idx[-1]) + 1]
            sd["bikes_speed"] = round(s.bikes_speed, 3)
        if s.same_scene:
            sd["same_scene_as_previous"] = True
        if s.crossings:
            sd["crossings"] = s.crossings
        if s.rack:
            sd["rack_focus"] = s.rack
        shots.append(sd)
    distractors.sort(key=lambda d: (d["start"], d["type"]))
    return {
        "name": clip.name,
        "file": f"{clip.name}.{clip.ext}",
        "fps": fps_value(clip.fps),
        "fps_exact": f"{clip.fps.numerator}/{clip.fps.denominator}",
        "frames": clip.frames,
        "width": clip.W,
        "height": clip.H,
        "duration_s": round(clip.frames / float(clip.fps), 3),
        "codec": clip.codec,
        "crf": clip.crf,
        "encoder_preset": clip.preset,
        "generator": "benchmarks/third_clips.py",
        "seed": clip.seed,
        "clip_index": clip.index,
        "transitions": transitions,
        "distractors": distractors,
        "shots": shots,
    }


def encode_clip(clip: Clip, assets: Assets, out_dir: Path) -> Path:
    path = out_dir / f"{clip.name}.{clip.ext}"
    rng = np.random.default_rng([clip.seed, clip.index, 777])
    renderer = Renderer(clip, assets, rng)
    # bitexact: no random segment UID / muxing date, so reruns are byte-identical.
    container = av.open(str(path), mode="w", container_options={"fflags": "+bitexact"})
    try:
        if clip.codec == "h264":
            stream = container.add_stream("libx264", rate=clip.fps)
            stream.options = {"crf": str(clip.crf), "preset": clip.preset}
        elif clip.codec == "vp9":
            stream = container.add_stream("libvpx-vp9", rate=clip.fps)
            stream.options = {"crf": str(clip.crf), "b": "0", "deadline": "realtime",
                              "cpu-used": clip.preset, "row-mt": "0"}
        else:
            stream = container.add_stream("mpeg2video", rate=clip.fps)
            assert clip.bpp is not None
            stream.bit_rate = int(clip.W * clip.H * float(clip.fps) * clip.bpp)
            stream.codec_context.gop_size = 15
            stream.codec_context.max_b_frames = 2
        stream.width, stream.height = clip.W, clip.H
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        tb = 1 / clip.fps
        expected = 0
        for i, img in renderer.frames():
            assert i == expected, (i, expected)
            expected += 1
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = tb
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        assert expected == clip.frames, (expected, clip.frames)
    finally:
        container.close()
    return path


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def verify(directory: str | Path) -> list[str]:
    """Check every ``*.json`` in ``directory``; returns a list of problems (empty when fine)."""
    directory = Path(directory)
    problems: list[str] = []
    files = sorted(directory.glob("*.json"))
    if not files:
        return [f"{directory}: no ground-truth files"]
    for jf in files:
        gt = json.loads(jf.read_text())
        name = gt.get("name", jf.stem)

        def bad(msg: str, name: str = name) -> None:
            problems.append(f"{name}: {msg}")

        frames = gt["frames"]
        shots, trans = gt["shots"], gt["transitions"]
        if len(trans) != len(shots) - 1:
            bad(f"{len(shots)} shots but {len(trans)} transitions")
            continue
        pos = 0
        for j, s in enumerate(shots):
            if s["start"] != pos:
                bad(f"shot {j} starts at {s['start']}, expected {pos}")
            if s["end"] <= s["start"]:
                bad(f"shot {j} is empty")
            pos = s["end"]
            if j < len(trans):
                t = trans[j]
                if t["type"] not in TRANSITION_TYPES:
                    bad(f"transition {j} has unknown type {t['type']}")
                if t["start"] != pos:
                    bad(f"transition {j} starts at {t['start']}, expected {pos}")
                if t["type"] == "cut" and t["end"] != t["start"]:
                    bad(f"cut {j} has start != end")
                if t["type"] != "cut" and t["end"] <= t["start"]:
                    bad(f"gradual transition {j} is empty")
                if t["type"] == "fade" and t["out"] + t["hold"] + t["in"] != t["end"] - t["start"]:
                    bad(f"fade {j} parts do not add up")
                if t["from"] != s["motion"] or t["to"] != shots[j + 1]["motion"]:
                    bad(f"transition {j} from/to labels do not match shots")
                pos = t["end"]
        if pos != frames:
            bad(f"shots and transitions end at {pos}, not at frames={frames}")
        for d in gt["distractors"]:
            if d["type"] not in DISTRACTOR_TYPES:
                bad(f"unknown distractor type {d['type']}")
            k = d["shot"]
            if not 0 <= k < len(shots):
                bad(f"distractor refers to shot {k}")
                continue
            if not shots[k]["start"] <= d["start"] < d["end"] <= shots[k]["end"]:
                bad(f"distractor {d} is not inside the clean frames of shot {k}")
        video = directory / gt["file"]
        if not video.exists():
            bad(f"missing video {video.name}")
            continue
        with av.open(str(video)) as c:
            st = c.streams.video[0]
            n = 0
            for fr in c.decode(st):
                if n == 0 and (fr.width, fr.height) != (gt["width"], gt["height"]):
                    bad(f"video is {fr.width}x{fr.height}, json says "
                        f"{gt['width']}x{gt['height']}")
                n += 1
            rate = st.average_rate
        if n != frames:
            bad(f"video decodes to {n} frames, json says {frames}")
        if rate is not None and abs(float(rate) - gt["fps"]) > 0.01:
            bad(f"video rate {rate} != json fps {gt['fps']}")
    return problems


def summarize(directory: str | Path) -> dict:
    directory = Path(directory)
    tcount: dict[str, int] = {}
    dcount: dict[str, int] = {}
    extra = {"same_scene_cuts": 0, "white_fades": 0, "push_wipes": 0}
    frames = 0
    secs = 0.0
    clips = 0
    for jf in sorted(directory.glob("*.json")):
        gt = json.loads(jf.read_text())
        clips += 1
        frames += gt["frames"]
        secs += gt["frames"] / gt["fps"]
        for t in gt["transitions"]:
            tcount[t["type"]] = tcount.get(t["type"], 0) + 1
            extra["same_scene_cuts"] += int(bool(t.get("same_scene")))
            extra["white_fades"] += int(t.get("color") == "white")
            extra["push_wipes"] += int(t.get("style") == "push")
        for d in gt["distractors"]:
            dcount[d["type"]] = dcount.get(d["type"], 0) + 1
    return {"clips": clips, "frames": frames, "seconds": round(secs, 1),
            "transitions": tcount, "distractors": dcount, **extra}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=8101)
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--only", type=int, default=None, help="generate only this clip index")
    ap.add_argument("--verify-only", action="store_true")
    args = ap.parse_args(argv)
    out = args.out or REPO / "benchmarks" / "media" / "third" / f"seed{args.seed}"
    out.mkdir(parents=True, exist_ok=True)
    if not args.verify_only:
        assets = Assets()
        if assets.skipped:
            print(f"skimage photos skipped (not available offline): {assets.skipped}")
        indices = [args.only] if args.only is not None else list(range(args.clips))
        for k in indices:
            t0 = time.process_time()
            clip = plan_clip(args.seed, k, assets)
            path = encode_clip(clip, assets, out)
            gt = clip_json(clip)
            (out / f"{clip.name}.json").write_text(json.dumps(gt, indent=1) + "\n")
            dt = time.process_time() - t0
            print(f"{path.name}: {clip.W}x{clip.H} @ {fps_value(clip.fps)} fps, "
                  f"{clip.frames} frames ({clip.frames / float(clip.fps):.1f} s), "
                  f"{len(clip.shots)} shots, {clip.codec}, cpu {dt:.1f} s", flush=True)
    problems = verify(out)
    print(json.dumps(summarize(out)))
    if problems:
        print("VERIFY FAILED:")
        for p in problems:
            print("  " + p)
        return 1
    print(f"verify OK: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

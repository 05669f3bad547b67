"""Crops to a context's aspect ratio that keep faces whole and place the subject on thirds.

All boxes are in pixels of the source frame in display orientation. A crop is rejected when it
would cut through a face or when it is smaller than the context's minimum output size (using it
would mean upscaling).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

Box = tuple[float, float, float, float]  # x, y, w, h


@dataclass(frozen=True)
class Crop:
    x: int
    y: int
    w: int
    h: int
    composition: float  # 1 when the subject centre sits on a thirds point of the crop
    face_area: float  # largest face area / crop area
    subject_kept: float  # share of the salient box inside the crop

    def as_json(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}


def _inside(face: Box, x: float, y: float, w: float, h: float) -> bool:
    fx, fy, fw, fh = face
    return fx >= x - 0.5 and fy >= y - 0.5 and fx + fw <= x + w + 0.5 and fy + fh <= y + h + 0.5


def _outside(face: Box, x: float, y: float, w: float, h: float) -> bool:
    fx, fy, fw, fh = face
    return fx + fw <= x or fx >= x + w or fy + fh <= y or fy >= y + h


def cuts_a_face(faces: Sequence[Box], x: float, y: float, w: float, h: float) -> bool:
    """True when some face is neither wholly inside nor wholly outside the crop."""
    return any(not _inside(f, x, y, w, h) and not _outside(f, x, y, w, h) for f in faces)


def _place(centre: float, size: float, limit: float, lo: float, hi: float) -> float:
    """Crop origin putting ``centre`` on the nearest third (or the middle), within bounds and
    keeping ``[lo, hi]`` (what must stay inside) when possible."""
    rel = (centre - 0.0) / limit if limit else 0.5
    target = min((1 / 3, 0.5, 2 / 3), key=lambda t: abs(t - rel))
    x = centre - target * size
    x = min(max(x, hi - size), lo)  # keep [lo, hi] inside if it fits
    return float(min(max(x, 0.0), limit - size))


def _thirds_score(cx: float, cy: float) -> float:
    d = min(((cx - a) ** 2 + (cy - b) ** 2) ** 0.5 for a in (1 / 3, 2 / 3) for b in (1 / 3, 2 / 3))
    centre = ((cx - 0.5) ** 2 + (cy - 0.5) ** 2) ** 0.5
    return max(0.0, 1.0 - min(d, centre + 0.05) / 0.35)


def best_crop(
    width: int, height: int, aspect: tuple[int, int], min_size: tuple[int, int],
    faces: list[Box], salient: Box, scales: tuple[float, ...] = (1.0, 0.85, 0.7),
) -> Crop | None:
    """The best crop of a ``width``×``height`` frame to ``aspect``, or None if every option
    cuts a face or would need upscaling.

    A pure function of its arguments, searched over many placements: remembered (a title's
    suggestions are asked for again and again by the editor's page and the service).
    """
    return _best_crop(int(width), int(height), tuple(aspect), tuple(min_size),
                      tuple(tuple(f) for f in faces), tuple(salient), tuple(scales))


@functools.lru_cache(maxsize=262_144)
def _best_crop(
    width: int, height: int, aspect: tuple[int, int], min_size: tuple[int, int],
    given_faces: tuple[Box, ...], salient: Box, scales: tuple[float, ...],
) -> Crop | None:
    from math import gcd

    g = gcd(*aspect)
    aw, ah = aspect[0] // g, aspect[1] // g
    k_full = min(width // aw, height // ah)  # crops are exact multiples of the aspect ratio
    faces = sorted(given_faces, key=lambda f: -f[2] * f[3])
    if faces:
        main = faces[0]
        cx, cy = main[0] + main[2] / 2, main[1] + main[3] / 2
        keep = main
    else:
        sx, sy, sw, sh = salient
        cx, cy = sx + sw / 2, sy + sh / 2
        keep = salient
    best: Crop | None = None
    best_score = -1.0
    for s in scales:
        k = int(k_full * s)
        w, h = float(k * aw), float(k * ah)
        if k < 1 or w < min_size[0] or h < min_size[1]:
            continue  # would need upscaling
        if faces and (keep[2] > w or keep[3] > h):
            continue
        # Faces: keep the main face whole; subject box: keep as much as fits.
        kx0, kx1 = (keep[0], keep[0] + keep[2]) if keep[2] <= w else (cx - w / 2, cx + w / 2)
        ky0, ky1 = (keep[1], keep[1] + keep[3]) if keep[3] <= h else (cy - h / 2, cy + h / 2)
        x = _place(cx, w, width, kx0, kx1)
        # Faces look best with eyes near the upper third: aim the face centre there.
        y = _place(cy, h, height, ky0, ky1) if not faces else float(
            min(max(min(max(cy - h / 3, ky1 - h), ky0), 0.0), height - h))
        if cuts_a_face(faces, x, y, w, h):
            # Try including every face, then excluding the others, by shifting.
            fixed = False
            for dx in (0.0, -w / 6, w / 6, -w / 3, w / 3):
                nx = float(min(max(x + dx, 0.0), width - w))
                if not cuts_a_face(faces, nx, y, w, h) and _inside(keep, nx, y, w, h) \
                        or not faces:
                    x, fixed = nx, True
                    break
            if not fixed:
                continue
        x, y = float(round(x)), float(round(y))
        if faces and cuts_a_face(faces, x, y, w, h):
            continue
        rcx, rcy = (cx - x) / w, (cy - y) / h
        comp = _thirds_score(rcx, rcy)
        face_area = (faces[0][2] * faces[0][3]) / (w * h) if faces else 0.0
        sx, sy, sw, sh = salient
        ix = max(0.0, min(sx + sw, x + w) - max(sx, x))
        iy = max(0.0, min(sy + sh, y + h) - max(sy, y))
        kept = ix * iy / max(sw * sh, 1e-6)
        score = comp + kept + min(1.0, face_area / 0.04) * 0.5 + 0.2 * s
        if score > best_score:
            best_score = score
            best = Crop(int(x), int(y), int(w), int(h),
                        round(comp, 4), round(face_area, 5), round(min(1.0, kept), 4))
    return best

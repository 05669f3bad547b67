"""Global motion between consecutive frames, estimated on a small luma thumbnail.

A camera that pans or shakes changes every pixel, so a frame difference cannot tell it from a
transition. Phase correlation of two 64×36 luma thumbnails finds the shift between them; the
difference left after shifting (``residual``) is what the camera motion does not explain. Over a
pan the residual stays at its usual level; across a dissolve or a wipe it rises, because no
shift turns one blend into the next. What is left once a change of light (a gain and an
offset) is also taken away (``structure``) tells a lamp or a cloud on the same picture from a
blend. Workers compute one row per frame (24 bytes) and send rows,
never thumbnails, to the driver, except each segment's first and last thumbnail, from which the
driver computes the row that joins two segments (so rows stitched over segments equal one pass).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

THUMB = (36, 64)  # rows, columns
#: Columns of a motion row: shift (thumbnail pixels), phase-correlation peak (0..1), mean
#: absolute luma change, the mean absolute change left after the shift, and what is left once
#: a change of light (gain and offset, fitted) is taken away too (grey levels).
MOTION_FIELDS = ("dx", "dy", "response", "change", "residual", "structure")
DX, DY, RESPONSE, CHANGE, RESIDUAL, STRUCTURE = range(len(MOTION_FIELDS))  # their columns
#: The row of a frame with no predecessor, or one the decoder could not produce (the driver
#: holds the frame before it in its place): nothing moved, nothing changed.
STILL = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0], np.float32)


def thumbnail(y: np.ndarray) -> np.ndarray:
    """A ``THUMB``-sized float32 copy of a luma plane (strided to ~4 samples per pixel, then
    area-averaged: ~0.03 ms for a 720p plane)."""
    import cv2

    th, tw = THUMB
    h, w = y.shape
    s = np.ascontiguousarray(y[:: max(1, h // (th * 4)), :: max(1, w // (tw * 4))])
    if s.dtype != np.uint8:
        s = s.astype(np.float32)
    return np.asarray(cv2.resize(s, (tw, th), interpolation=cv2.INTER_AREA), np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    import cv2

    return np.asarray(cv2.createHanningWindow((THUMB[1], THUMB[0]), cv2.CV_32F))


def global_motion(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """The motion row (``MOTION_FIELDS``) from thumbnail ``prev`` to ``cur``."""
    import cv2

    th, tw = THUMB
    # phaseCorrelate multiplies its first input by the window in place (OpenCV 4.14): copies.
    (dx, dy), response = cv2.phaseCorrelate(prev.copy(), cur.copy(), _window())
    # OpenCV's reductions over these small arrays: a few µs a frame less than numpy's.
    change = cv2.norm(cur, prev, cv2.NORM_L1) / cur.size
    ix, iy = int(np.ceil(abs(dx))), int(np.ceil(abs(dy)))
    x0, x1 = (ix, tw) if dx > 0 else (0, tw - ix)
    y0, y1 = (iy, th) if dy > 0 else (0, th - iy)
    if x1 - x0 < tw // 8 or y1 - y0 < th // 6:
        residual = structure = change  # shifted out of view: nothing left to compare
    else:
        shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        moved = cv2.warpAffine(prev, shift, (tw, th), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        c, m = cur[y0:y1, x0:x1], moved[y0:y1, x0:x1]  # views; only read
        n = c.size
        residual = cv2.norm(c, m, cv2.NORM_L1) / n
        # Other light on the same picture: cur ≈ gain × moved + offset (least squares). A blend
        # or a wipe edge is no such change, so it stays in ``structure``.
        mc = cv2.mean(c)[0]
        mean_m, sd_m = cv2.meanStdDev(m)
        mm, var = float(mean_m[0, 0]), float(sd_m[0, 0]) ** 2
        cov = cv2.mean(cv2.multiply(c, m))[0] - mc * mm
        gain = min(4.0, max(0.25, cov / var)) if var > 1e-3 else 1.0
        structure = cv2.norm(cv2.addWeighted(c, 1.0, m, -gain, gain * mm - mc), cv2.NORM_L1) / n
    values = [dx, dy, response, change, residual, structure]
    if not all(map(math.isfinite, values)):  # a flat or broken thumbnail
        values = [v if math.isfinite(v) else 0.0 for v in values]
    return np.array(values, np.float32)

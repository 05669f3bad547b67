"""Frame signals used to pick and rank stills: exposure, contrast, colour, sharpness, faces,
composition. Pure functions of an RGB array (display orientation).

Sharpness is measured at a fixed working width so that it compares across resolutions.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from media_ml.types import Face, Signals

log = logging.getLogger(__name__)

WORK_WIDTH = 480  # sharpness and faces are measured at this width
_THIRDS = np.array([(x, y) for x in (1 / 3, 2 / 3) for y in (1 / 3, 2 / 3)])


@functools.lru_cache(maxsize=1)
def _face_cascade():
    """OpenCV's bundled frontal-face Haar cascade, loaded once per process."""
    import cv2

    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"cannot load Haar cascade {path}")
    return cascade


def _work_gray(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """Grey image at ``WORK_WIDTH`` and the factor back to the input's pixels."""
    import cv2

    h, w = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if w == WORK_WIDTH:
        return gray, 1.0
    scale = WORK_WIDTH / w
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(gray, (WORK_WIDTH, max(1, int(round(h * scale)))), interpolation=interp)
    return small, 1.0 / scale


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian at the working width (higher is sharper)."""
    import cv2

    gray, _ = _work_gray(rgb)
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def detect_faces(rgb: np.ndarray) -> tuple[Face, ...]:
    """Frontal faces in pixels of ``rgb``, largest first."""
    import cv2

    gray, back = _work_gray(rgb)
    gray = cv2.equalizeHist(gray)
    boxes = _face_cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                             minSize=(24, 24))
    faces = [Face(int(x * back), int(y * back), int(w * back), int(h * back))
             for (x, y, w, h) in (boxes if len(boxes) else [])]
    return tuple(sorted(faces, key=lambda f: -f.w * f.h))


def salient_region(gray: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """Where the detail is: ``(cx, cy, x, y, w, h)`` relative to the frame.

    The centre is the centre of mass of gradient energy (blurred); the box holds the central
    80 % of that energy along each axis. Cheap and good enough to keep a crop on the subject.
    """
    import cv2

    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    mag = cv2.GaussianBlur(np.abs(gx) + np.abs(gy), (0, 0), 5)
    total = float(mag.sum())
    h, w = gray.shape
    if total <= 0:
        return 0.5, 0.5, 0.25, 0.25, 0.5, 0.5
    px = mag.sum(axis=0) / total
    py = mag.sum(axis=1) / total
    cx = float((px * np.arange(w)).sum() / w)
    cy = float((py * np.arange(h)).sum() / h)
    cdx, cdy = np.cumsum(px), np.cumsum(py)
    x0, x1 = np.searchsorted(cdx, 0.1) / w, np.searchsorted(cdx, 0.9) / w
    y0, y1 = np.searchsorted(cdy, 0.1) / h, np.searchsorted(cdy, 0.9) / h
    return cx, cy, float(x0), float(y0), float(max(x1 - x0, 1 / w)), float(max(y1 - y0, 1 / h))


def compute_signals(rgb: np.ndarray, faces: tuple[Face, ...] | None = None) -> Signals:
    """All signals of one RGB frame."""
    import cv2

    h, w = rgb.shape[:2]
    gray, _ = _work_gray(rgb)
    g = gray.astype(np.float32) / 255.0
    brightness = float(g.mean())
    clipped = float(((g < 0.02) | (g > 0.98)).mean())
    exposure = float(np.clip(1.0 - clipped - 2.0 * max(0.0, abs(brightness - 0.45) - 0.2), 0, 1))
    contrast = float(min(1.0, g.std() / 0.25))
    small = cv2.resize(rgb, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_AREA)
    r, gg, b = (small[..., i].astype(np.float32) for i in range(3))
    rg = r - gg
    yb = 0.5 * (r + gg) - b
    colourful = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    lap_var = float(cv2.Laplacian(gray, cv2.CV_32F).var())
    if faces is None:
        faces = detect_faces(rgb)
    scx, scy, sx, sy, sw, sh = salient_region(gray)
    if faces:
        f = faces[0]
        face_area = f.w * f.h / float(w * h)
        cx, cy = (f.x + f.w / 2) / w, (f.y + f.h / 2) / h
    else:
        face_area = 0.0
        cx, cy = scx, scy
    dist = float(np.min(np.hypot(_THIRDS[:, 0] - cx, _THIRDS[:, 1] - cy)))
    composition = float(np.clip(1.0 - dist / 0.35, 0.0, 1.0))
    return Signals(
        brightness=round(brightness, 5),
        exposure=round(exposure, 5),
        contrast=round(contrast, 5),
        colourfulness=round(min(1.0, colourful / 100.0), 5),
        sharpness=round(lap_var, 3),
        faces=len(faces),
        face_area=round(face_area, 5),
        face_x=round(cx, 4) if faces else None,
        face_y=round(cy, 4) if faces else None,
        composition=round(composition, 4),
        black=bool(brightness < 0.07 and contrast < 0.1),
        salient=(round(sx, 4), round(sy, 4), round(sw, 4), round(sh, 4)),
    )


def encode_jpeg(rgb: np.ndarray, max_side: int = 320, quality: int = 85) -> bytes:
    """A JPEG thumbnail of ``rgb`` no larger than ``max_side``."""
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                         interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()

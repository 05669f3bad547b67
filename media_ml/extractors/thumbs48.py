"""48×27 RGB frames, the input of the learned shot detector, made cheaply from decoded planes.

Each decoded plane is sampled at SAMPLES×SAMPLES points per output pixel and block-averaged to
48×27 (as ``grid.py`` reads its analysis grid, without a colour conversion of the whole frame);
only the 1,296 pixels left are converted from YUV to RGB, with the frame's matrix (BT.601,
BT.709, BT.2020) and range (limited, or full for ``yuvj*`` and frames tagged so). Measured on
this machine (2 cores), per frame: ~0.1 ms at any resolution, where ``frame.reformat(48, 27,
"rgb24")`` costs 0.3–0.9 ms at 720p and 0.7–1.3 ms at 1080p (its thread count and filter
decide) against 1.1 and 2.5 ms to decode the frame. Other pixel formats go through ``reformat``.
"""

from __future__ import annotations

import functools

import numpy as np

from media_ml.extractors.grid import _PLANAR_8BIT, _PLANAR_16BIT, _plane_array

WIDTH, HEIGHT = 48, 27
# Samples per output pixel side averaged (planes smaller than that are sampled repeatedly). 4 is
# within ~2 levels (mean) of averaging every pixel, at a fifth of the cost; 8 gains 0.5 level.
SAMPLES = 4

# Luma coefficients (Kr, Kb) of the YUV→RGB matrices, by FFmpeg's AVColorSpace value.
_KR_KB = {
    1: (0.2126, 0.0722),  # BT.709
    9: (0.2627, 0.0593),  # BT.2020 non-constant luminance
    10: (0.2627, 0.0593),  # BT.2020 constant luminance (treated as NCL)
}
_BT601 = (0.299, 0.114)  # BT.601 (470BG, SMPTE 170M) and anything unspecified, like swscale
_AVCOL_RANGE_JPEG = 2


@functools.lru_cache(maxsize=64)
def _samples(size: int, count: int) -> np.ndarray:
    """``count`` evenly spread indices into ``size``: the centres of equal cells."""
    return ((np.arange(count) + 0.5) * size / count).astype(np.intp)


def _shrink(plane: np.ndarray) -> np.ndarray:
    """Average a plane down to HEIGHT×WIDTH from SAMPLES×SAMPLES samples per output pixel.

    Picking the sample rows and then columns (small copies) makes the sampled plane an exact
    multiple of the output, where OpenCV's area resize is a plain block mean: ~0.04 ms a plane
    of 720p, where area-resizing the whole plane costs ~0.25 ms.
    """
    import cv2

    h, w = plane.shape
    s = plane[_samples(h, HEIGHT * SAMPLES)][:, _samples(w, WIDTH * SAMPLES)]
    if s.dtype != np.uint8:
        s = s.astype(np.float32)
    return np.asarray(cv2.resize(s, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA), np.float32)


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, colorspace: int = 2,
               full_range: bool = False) -> np.ndarray:
    """RGB uint8 of same-sized 8-bit-scale Y, U, V float arrays.

    ``colorspace`` is FFmpeg's AVColorSpace (1: BT.709, 9/10: BT.2020, else BT.601);
    limited range maps Y 16–235 and chroma 16–240 onto 0–255.
    """
    kr, kb = _KR_KB.get(colorspace, _BT601)
    kg = 1.0 - kr - kb
    if full_range:
        yf, cb, cr = y, u - 128.0, v - 128.0
    else:
        yf = (y - 16.0) * (255.0 / 219.0)
        cb = (u - 128.0) * (255.0 / 224.0)
        cr = (v - 128.0) * (255.0 / 224.0)
    r = yf + 2.0 * (1.0 - kr) * cr
    b = yf + 2.0 * (1.0 - kb) * cb
    g = yf - (2.0 * kb * (1.0 - kb) / kg) * cb - (2.0 * kr * (1.0 - kr) / kg) * cr
    rgb = np.stack([r, g, b], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def thumb48(frame) -> np.ndarray:
    """The frame as a 27×48×3 uint8 RGB array (stored orientation; aspect ratio not kept).

    Example::

        for idx, frame in video.iter_segment_frames(segment):
            small = thumb48(frame)  # (27, 48, 3), what TransNetV2 reads
    """
    name = frame.format.name
    if name in _PLANAR_8BIT:
        y, u, v = (_plane_array(p) for p in frame.planes[:3])
    elif name in _PLANAR_16BIT:
        shift = _PLANAR_16BIT[name]
        y, u, v = ((_plane_array(p, np.uint16) >> shift) for p in frame.planes[:3])
    elif name in ("gray", "gray8"):
        g = _shrink(_plane_array(frame.planes[0]))
        return np.repeat(np.clip(np.rint(g), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    else:
        return np.asarray(frame.reformat(width=WIDTH, height=HEIGHT, format="rgb24").to_ndarray())
    full = name.startswith("yuvj") or getattr(frame, "color_range", 0) == _AVCOL_RANGE_JPEG
    return yuv_to_rgb(_shrink(y), _shrink(u), _shrink(v), int(getattr(frame, "colorspace", 2)),
                      full)

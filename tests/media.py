"""Tiny clips with known content for tests, written with PyAV.

Shots are scikit-image photographs (real pictures) with a drifting crop and light noise, so
frames differ like real footage; ``cuts`` are the frames where a new photograph starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle", "immunohistochemistry")


def photo(name: str, size: tuple[int, int]) -> np.ndarray:
    """A bundled scikit-image photograph as RGB, resized to cover ``size`` (w, h) plus margin."""
    import skimage.data as data

    img = getattr(data, name)()
    if isinstance(img, tuple):
        img = img[0]
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = img[..., :3]
    w, h = size
    return cv2.resize(img, (int(w * 1.2) + 8, int(h * 1.2) + 8), interpolation=cv2.INTER_AREA)


def shot_frames(name: str, n: int, size: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """``n`` frames of a slowly drifting crop of photo ``name``."""
    rng = np.random.default_rng(seed)
    big = photo(name, size)
    w, h = size
    out = []
    for i in range(n):
        x = int(2 + i * 0.5) % (big.shape[1] - w)
        y = int(2 + i * 0.25) % (big.shape[0] - h)
        frame = big[y : y + h, x : x + w].astype(np.int16)
        frame += rng.integers(-3, 4, frame.shape, dtype=np.int16)
        out.append(np.clip(frame, 0, 255).astype(np.uint8))
    return out


def cut_clip_frames(
    lengths: Sequence[int], size: tuple[int, int], seed: int = 0, first_photo: int = 0
) -> tuple[list[np.ndarray], list[int]]:
    """Frames of consecutive shots with hard cuts, and the first frame of each new shot."""
    frames: list[np.ndarray] = []
    cuts: list[int] = []
    for i, n in enumerate(lengths):
        if i:
            cuts.append(len(frames))
        frames += shot_frames(PHOTOS[(first_photo + i) % len(PHOTOS)], n, size, seed + i)
    return frames, cuts


def write_video(
    path: Path, frames: Iterable[np.ndarray], *, fps: int = 25, codec: str = "libx264",
    pix_fmt: str = "yuv420p", pts: Sequence[int] | None = None, time_base: Fraction | None = None,
    rotation: int | None = None, gop: int = 12, options: dict[str, str] | None = None,
    pts_as_dts: bool = False,
) -> Path:
    """Encode RGB frames. ``pts`` (in ``time_base``) gives variable frame timing.

    ``pts_as_dts`` muxes each packet with its decode time as its presentation time, as broken
    muxers do: with B-frames (``options={"bframes": "2"}``, another preset than ultrafast) the
    decoder then gives frames in presentation order with timestamps out of order.
    """
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        opts = {"g": str(gop)}
        if codec == "libx264":
            opts.update({"preset": "ultrafast", "crf": "20"})
        opts.update(options or {})
        s.codec_context.options = opts
        if time_base is not None:
            s.codec_context.time_base = time_base
            s.time_base = time_base
        if rotation is not None:
            s.set_display_rotation(rotation)

        shift: int | None = None  # pts_as_dts: the first decode time, so they start at 0

        def mux(packets: list[av.Packet]) -> None:
            nonlocal shift
            for p in packets:
                if pts_as_dts:
                    shift = p.dts if shift is None else shift
                    p.dts -= shift
                    p.pts = p.dts
                c.mux(p)

        for i, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = pts[i] if pts is not None else i
            if time_base is not None:
                vf.time_base = time_base
            mux(s.encode(vf))
        mux(s.encode())
    return path

"""Frame signals on real photographs."""

from __future__ import annotations

import cv2
import numpy as np
import skimage.data as data

from media_ml.extractors.signals import compute_signals, detect_faces, encode_jpeg


def test_face_found_on_the_astronaut_portrait() -> None:
    img = data.astronaut()
    faces = detect_faces(img)
    assert len(faces) >= 1
    f = faces[0]
    # Eileen Collins' face sits in the upper middle of the photograph.
    assert 150 < f.x + f.w / 2 < 300 and 50 < f.y + f.h / 2 < 200
    sig = compute_signals(img, faces)
    assert sig.faces == len(faces) and sig.face_area > 0.01


def test_blur_lowers_sharpness_and_darkness_lowers_exposure() -> None:
    img = data.coffee()
    sharp = compute_signals(img)
    blurred = compute_signals(cv2.GaussianBlur(img, (0, 0), 4))
    dark = compute_signals((img * 0.08).astype(np.uint8))
    assert blurred.sharpness < 0.3 * sharp.sharpness
    assert dark.exposure < sharp.exposure and dark.brightness < 0.1
    assert not sharp.black
    assert compute_signals(np.zeros((90, 160, 3), np.uint8)).black


def test_colourfulness_and_contrast_order_images() -> None:
    colour = compute_signals(data.coffee())
    grey = compute_signals(np.stack([data.camera()] * 3, axis=-1))
    flat = compute_signals(np.full((120, 160, 3), 128, np.uint8))
    assert colour.colourfulness > grey.colourfulness
    assert grey.contrast > flat.contrast


def test_thumbnail_is_a_small_jpeg() -> None:
    jpg = encode_jpeg(data.astronaut(), max_side=128)
    img = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
    assert max(img.shape[:2]) == 128

"""Global motion rows: a camera shift is found and explained away, a blend is not; rows stitched
over segments equal one pass; the scored gradual detector will not run without them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media_ml.detectors import Evidence, detect, detector_set
from media_ml.extractors import video
from media_ml.extractors.motion import STILL, THUMB, global_motion, thumbnail
from media_ml.pipeline import IngestSettings, InlineExecutor, analyse_shots


def _photo_luma() -> np.ndarray:
    from skimage import data

    rgb = data.astronaut()  # a real photograph, 512x512
    return np.asarray(rgb @ np.array([0.299, 0.587, 0.114]), np.uint8)


def _view(luma: np.ndarray, x: int) -> np.ndarray:
    """A 16:9 camera view of the photograph, ``x`` pixels from its left edge."""
    return np.ascontiguousarray(luma[100:325, x : x + 400])


def test_a_pan_is_found_and_explained_away_and_a_blend_is_not() -> None:
    luma = _photo_luma()
    a, b = thumbnail(_view(luma, 40)), thumbnail(_view(luma, 52))  # the camera moved 12 px
    assert a.shape == THUMB and a.dtype == np.float32
    kept = a.copy(), b.copy()
    dx, dy, response, change, residual, structure = global_motion(a, b)
    # 12 source pixels are 12 * 64 / 400 = 1.9 thumbnail pixels; the view moved right, so
    # the picture moved left.
    assert dx == pytest.approx(-12 * THUMB[1] / 400, abs=0.3) and abs(dy) < 0.3
    assert response > 0.5 and change > 3 and residual < 0.35 * change
    np.testing.assert_array_equal(a, kept[0])  # OpenCV's phaseCorrelate writes its input
    np.testing.assert_array_equal(b, kept[1])

    other = thumbnail(np.ascontiguousarray(luma[300:525, 60:460]))
    blend = 0.6 * a + 0.4 * other  # a dissolve, 40 % of the way
    *_, change, residual, structure = global_motion(0.8 * a + 0.2 * other, blend)
    assert change > 1 and residual > 0.7 * change and structure > 0.5 * change


def test_a_change_of_light_is_taken_away_and_a_blend_is_not() -> None:
    luma = _photo_luma()
    a, b = thumbnail(_view(luma, 40)), thumbnail(_view(luma, 52))
    darker = 0.7 * b + 10.0  # the camera moved and the light went down
    *_, change, residual, structure = global_motion(a, darker)
    assert change > 10 and residual > 0.5 * change  # the shift alone does not explain it
    assert structure < 0.15 * change  # the shift and the light do
    other = thumbnail(np.ascontiguousarray(luma[300:525, 60:460]))
    *_, change, residual, structure = global_motion(0.8 * a + 0.2 * other,
                                                     0.6 * a + 0.4 * other)
    assert structure > 0.5 * change  # a blend is no change of light
    # A still picture dimming: nothing moved, so the frames are compared whole; they stay as
    # they were (the next frame compares with this one).
    dim = 0.8 * a
    kept = a.copy(), dim.copy()
    dx, dy, _, change, _, structure = global_motion(a, dim)
    assert abs(dx) < 1e-3 and abs(dy) < 1e-3 and change > 10 and structure < 0.05 * change
    np.testing.assert_array_equal(a, kept[0])
    np.testing.assert_array_equal(dim, kept[1])


def test_a_view_shifted_out_of_sight_leaves_the_whole_change() -> None:
    luma = _photo_luma()
    a = thumbnail(_view(luma, 0))
    row = global_motion(a, np.zeros_like(a))
    assert np.isfinite(row).all() and row[4] == pytest.approx(row[3], rel=0.5)
    np.testing.assert_allclose(global_motion(a, a)[[0, 1, 3, 4, 5]], 0, atol=1e-4)


def test_segmented_motion_rows_equal_one_pass(samples_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import media_ml.pipeline as pipeline

    seen: list[Evidence] = []
    real = pipeline.detect

    def keep(evidence: Evidence, chosen):  # noqa: ANN001, ANN202 - records, then the real one
        seen.append(evidence)
        return real(evidence, chosen)

    monkeypatch.setattr(pipeline, "detect", keep)
    info = video.probe(samples_dir / "mixed.mp4")
    segments = video.plan_segments(info, 2.0)
    assert len(segments) >= 3
    one, _, _ = analyse_shots(info, InlineExecutor(), IngestSettings(segment_s=10_000))
    many, _, _ = analyse_shots(info, InlineExecutor(), IngestSettings(segment_s=2.0))
    assert one == many
    whole, parts = seen
    assert whole.motion is not None and parts.motion is not None
    np.testing.assert_array_equal(parts.motion, whole.motion)
    np.testing.assert_array_equal(whole.motion[0], STILL)  # nothing before the first frame
    joins = [s.own_start for s in segments[1:]]
    assert all(not np.array_equal(whole.motion[j], STILL) for j in joins)


def test_the_scored_detector_needs_motion_evidence() -> None:
    grids = np.zeros((200, video.GRID_SIZE), np.uint8)
    hists = np.zeros((200, 48), np.uint8)
    with pytest.raises(ValueError, match="motion"):
        detect(Evidence(grids, hists=hists), detector_set("fast"))
    with pytest.raises(ValueError, match="motion"):
        Evidence(grids, hists=hists, motion=np.zeros((199, 6), np.float32))


def _reframed_coins(path: Path, zoom: float) -> None:
    """A slow pan over the coins, then a cut to a closer framing of the same coins (also
    panning): the grey levels, so the histograms, hardly change at the cut."""
    import cv2
    import make_samples as ms
    from skimage import data

    img = np.repeat(data.coins()[..., None], 3, axis=2)  # a real photograph, grey

    def view(cx: float, cy: float, z: float) -> np.ndarray:
        w, h = 400 / z, 225 / z
        m = np.float32([[320 / w, 0, -(cx - w / 2) * 320 / w],
                        [0, 180 / h, -(cy - h / 2) * 180 / h]])
        return cv2.warpAffine(img, m, (320, 180), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)

    frames = ([view(150 + i, 150, 1.0) for i in range(50)]
              + [view(170 + i, 140, zoom) for i in range(50)])
    ms.encode(frames, path, 25, (320, 180))


def test_a_cut_between_two_framings_of_one_scene_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from media_ml.detectors import DETECTOR_SETS
    from media_ml.detectors.motion import MotionCutDetector

    path = tmp_path / "reframed.mp4"
    _reframed_coins(path, zoom=2.0)
    info = video.probe(path)
    shots, _, _ = analyse_shots(info, InlineExecutor(), IngestSettings())
    assert [s.start_frame for s in shots] == [0, 50]  # the cut, and nothing in the pans
    fast = DETECTOR_SETS["fast"]
    monkeypatch.setitem(DETECTOR_SETS, "fast", lambda cfg, learned: replace(
        fast(cfg, learned), detectors=tuple(d for d in fast(cfg, learned).detectors
                                            if not isinstance(d, MotionCutDetector))))
    shots, _, _ = analyse_shots(info, InlineExecutor(), IngestSettings())
    assert [s.start_frame for s in shots] == [0]  # the colour-based detectors miss it


def test_motion_cuts_stand_alone_and_pass_no_flash() -> None:
    from media_ml.detectors.motion import MotionCutDetector

    rng = np.random.default_rng(3)
    a, b = rng.integers(20, 230, (2, video.GRID_SIZE)).astype(np.uint8)
    grids = np.concatenate([np.repeat(a[None], 40, 0), np.repeat(b[None], 40, 0)])
    hists = np.zeros((80, 48), np.uint8)
    motion = np.tile(STILL, (80, 1))
    motion[:, 3:] = 1.0  # a little change everywhere
    motion[40] = [0.3, -0.2, 0.1, 30.0, 28.0, 27.0]  # nothing explains the change at the cut
    found = MotionCutDetector().detect(Evidence(grids, hists=hists, motion=motion),
                                       np.zeros(81, bool))
    assert [(t.frame, t.kind) for t in found] == [(40, "cut")]
    motion[41:43] = motion[40]  # a whip: unexplained change on three frames running
    assert MotionCutDetector().detect(Evidence(grids, hists=hists, motion=motion),
                                      np.zeros(81, bool)) == []
    flashed = grids.copy()
    flashed[40:] = a  # the frame after is the old picture again: a flash, not a cut
    flashed[40] = b
    motion[41:43] = motion[39]
    assert MotionCutDetector().detect(Evidence(flashed, hists=hists, motion=motion),
                                      np.zeros(81, bool)) == []
    with pytest.raises(ValueError, match="ratio"):
        MotionCutDetector(ratio=float("nan"))


def test_a_glitch_next_to_a_cut_does_not_hide_it() -> None:
    from media_ml.detectors.motion import MotionCutDetector, glitch_changes

    rng = np.random.default_rng(4)
    a, b, bar = rng.integers(20, 230, (3, video.GRID_SIZE)).astype(np.uint8)
    grids = np.concatenate([np.repeat(a[None], 40, 0), np.repeat(b[None], 40, 0)])
    grids[42] = bar  # a broken frame two frames after the cut, then the new shot again
    motion = np.tile(STILL, (80, 1))
    motion[:, 3:] = 1.0
    motion[40] = [0.3, -0.2, 0.1, 30.0, 28.0, 27.0]  # the cut
    motion[42] = motion[43] = [0.1, 0.1, 0.1, 40.0, 38.0, 37.0]  # into the glitch and out
    assert glitch_changes(grids, 34, 47) == {42, 43}  # the cut never comes back
    found = MotionCutDetector().detect(Evidence(grids, hists=np.zeros((80, 48), np.uint8),
                                                motion=motion), np.zeros(81, bool))
    assert [(t.frame, t.kind) for t in found] == [(40, "cut")]
    grids[42:] = bar  # no glitch: the new picture stays, and a change that large is no cut
    motion[43] = motion[41]
    assert glitch_changes(grids, 34, 47) == set()
    assert MotionCutDetector().detect(Evidence(grids, hists=np.zeros((80, 48), np.uint8),
                                               motion=motion), np.zeros(81, bool)) == []

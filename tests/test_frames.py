"""Frame export (``media-ml frames``) from Python and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from media_ml.cli import main as cli_main
from media_ml.errors import UsageError
from media_ml.frames import export_frames, parse_size


def test_export_at_fps_writes_one_frame_per_interval(
    cuts_clip: tuple[Path, list[int]], tmp_path: Path
) -> None:
    out = export_frames(cuts_clip[0], tmp_path / "f", fps=2.0)
    assert len(out) == 14  # 6.8 s at 2 fps: 0.0, 0.5, … 6.5
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
    with pytest.raises(UsageError):
        parse_size("big")
    with pytest.raises(UsageError):
        parse_size("-1x-1")
    with pytest.raises(UsageError, match="outside"):
        export_frames(cuts_clip[0], tmp_path, at=[99.0])
    with pytest.raises(UsageError):
        export_frames(cuts_clip[0], tmp_path, fps=0)
    assert cli_main(["frames", str(cuts_clip[0]), "--out", str(tmp_path), "--at", "x"]) == 2

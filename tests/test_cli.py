"""The ``media-ml shots`` JSON contract and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from media_ml.cli import main as cli_main


def test_shots_json_contract(
    cuts_clip: tuple[Path, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, cuts = cuts_clip
    assert cli_main(["shots", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"path", "duration_s", "fps", "frames"} <= set(doc["video"])
    shots = doc["shots"]
    assert [s["start_frame"] for s in shots] == [0, *cuts]
    for i, s in enumerate(shots):
        assert {"index", "start_frame", "end_frame", "start_s", "end_s", "transition_in"} <= set(s)
        assert s["index"] == i
        assert s["start_s"] == pytest.approx(s["start_frame"] / 25)
        if i:
            assert s["start_frame"] == shots[i - 1]["end_frame"]  # end_frame is exclusive
            assert s["transition_in"] == "cut"
    assert shots[0]["transition_in"] is None and shots[-1]["end_frame"] == doc["video"]["frames"]


def test_shots_on_dask_workers_equals_in_process(
    cuts_clip: tuple[Path, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["shots", str(cuts_clip[0]), "--json", "--segment-s", "1"]) == 0
    local = json.loads(capsys.readouterr().out)["shots"]
    assert cli_main(["shots", str(cuts_clip[0]), "--json", "--segment-s", "1",
                     "--workers", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["shots"] == local


def test_shots_on_a_non_video_exits_1_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.mp4"
    bad.write_text("nope")
    out = subprocess.run([sys.executable, "-m", "media_ml.cli", "shots", str(bad), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "x.mp4" in out.stderr and out.stdout == ""


def test_help_is_instant_and_lists_commands() -> None:
    out = subprocess.run([sys.executable, "-c",
                          "import sys, media_ml.cli; media_ml.cli.main(['--help'])"],
                         capture_output=True, text=True, timeout=60)
    assert all(c in out.stdout for c in ("shots", "ingest", "videos", "frames"))
    mods = subprocess.run([sys.executable, "-c",
                           "import sys, media_ml.cli; print(sorted(m for m in ('torch', 'faiss', "
                           "'open_clip', 'distributed') if m in sys.modules))"],
                          capture_output=True, text=True, timeout=60)
    assert mods.stdout.strip() == "[]"  # heavy imports stay out of the CLI's start

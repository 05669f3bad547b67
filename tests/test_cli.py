"""The CLI: JSON contracts, exit codes, help, and the validation of every argument."""

from __future__ import annotations

import argparse
import errno
import io
import json
import logging
import sqlite3
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from media_ml import cli
from media_ml.cli import _parser
from media_ml.cli import main as cli_main
from media_ml.errors import UsageError
from media_ml.validate import (
    bounded_float,
    bounded_int,
    bounded_text,
    image_file,
    record_id,
    safe_name,
)


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
    assert "x.mp4" in out.stderr
    doc = json.loads(out.stdout)  # --json: stdout is always one JSON document
    assert doc["exit_code"] == 1 and "x.mp4" in doc["error"] and "readable" in doc["error"]


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


# -- every argument is validated at the edge -------------------------------------------------

BIG = "1" + "0" * 30  # 10**30: past SQLite's int64
LIB = "LIBRARY"  # stands for a library path that is never opened: validation fails first


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli_main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out, out.err


def _bomb_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A tiny PNG whose header declares ``width``×``height`` pixels."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Inputs that must be refused: a bomb, a huge image, a folder, a plain file, contexts."""
    huge = tmp_path / "huge.png"
    with huge.open("wb") as fh:
        fh.truncate(50 * 2**20 + 1)
    big_ctx = tmp_path / "big.toml"
    with big_ctx.open("wb") as fh:
        fh.truncate(2**20 + 1)
    blob = tmp_path / "blob.toml"
    blob.write_bytes(b"\xff\xfe\x00binary")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    evil = tmp_path / "evil.toml"
    evil.write_text('[contexts."../../x"]\ndevice = "tv"\n')
    nan = tmp_path / "nan.toml"
    nan.write_text("[contexts.n]\nweights = {faces = nan}\n")
    return {"bomb": _bomb_png(tmp_path / "bomb.png"), "huge": huge, "dir": tmp_path,
            "plain": plain, "big_ctx": big_ctx, "blob": blob, "evil": evil, "nan": nan,
            "missing": tmp_path / "missing.png"}


SEARCH = ["search", "--library", LIB]
SUGGEST = ["suggest", "--library", LIB, "--video", "1", "--context", "web-row"]
INVALID: list[tuple[list[str], str]] = [
    ([*SEARCH, "--text", "x", "-k", "0"], "-k"),
    ([*SEARCH, "--text", "x", "-k", "1001"], "-k"),
    ([*SEARCH, "--text", "x", "-k", "1e3"], "-k"),
    ([*SEARCH, "--text", "x", "--video", BIG], "--video"),
    ([*SEARCH, "--text", "x", "--video", "0"], "--video"),
    ([*SEARCH, "--keyframe", BIG], "--keyframe"),
    ([*SEARCH, "--keyframe", "-3"], "--keyframe"),
    ([*SEARCH, "--text", ""], "--text"),
    ([*SEARCH, "--text", "   "], "--text"),
    ([*SEARCH, "--text", "a" * 2001], "--text"),
    ([*SEARCH, "--image", "{missing}"], "--image"),
    ([*SEARCH, "--image", "{bomb}"], "--image"),
    ([*SEARCH, "--image", "{huge}"], "--image"),
    ([*SEARCH, "--image", "{dir}"], "--image"),
    ([*SEARCH, "--image", "{plain}"], "--image"),
    (["duplicates", "--library", LIB, "--threshold", "nan"], "--threshold"),
    (["duplicates", "--library", LIB, "--threshold", "inf"], "--threshold"),
    (["duplicates", "--library", LIB, "--threshold", "0"], "--threshold"),
    (["duplicates", "--library", LIB, "--threshold", "1.01"], "--threshold"),
    (["shots", "v.mp4", "--segment-s", "nan"], "--segment-s"),
    (["shots", "v.mp4", "--segment-s", "0.5"], "--segment-s"),
    (["shots", "v.mp4", "--segment-s", "3601"], "--segment-s"),
    (["shots", "v.mp4", "--threads", "-1"], "--threads"),
    (["shots", "v.mp4", "--threads", "257"], "--threads"),
    (["shots", "v.mp4", "--workers", "-1"], "--workers"),
    (["shots", "v.mp4", "--workers", BIG], "--workers"),
    (["shots", "v.mp4", "--workers", "0", "--scheduler", "tcp://h:8786"], "--workers"),
    (["ingest", "v.mp4", "--library", LIB, "--segment-s", "inf"], "--segment-s"),
    (["ingest", "v.mp4", "--library", LIB, "--workers", "257"], "--workers"),
    (["ingest", "v.mp4", "--library", LIB, "--model", "m" * 1001], "--model"),
    (["reembed", "--library", LIB, "--model", "x", "--workers", "-2"], "--workers"),
    (["reindex", "--library", LIB, "--memory-mb", "nan"], "--memory-mb"),
    (["reindex", "--library", LIB, "--memory-mb", "0"], "--memory-mb"),
    (["reindex", "--library", LIB, "--memory-mb", "1e30"], "--memory-mb"),
    (["feedback", "--library", LIB, "--candidate", BIG, "--accept"], "--candidate"),
    (["feedback", "--library", LIB, "--candidate", "1", "--accept", "--note", "n" * 10_001],
     "--note"),
    (["suggest", "--library", LIB, "--video", BIG, "--context", "web-row"], "--video"),
    (["suggest", "--library", LIB, "--video", "1", "--context", "../../x"], "--context"),
    ([*SUGGEST, "-k", "0"], "-k"),
    ([*SUGGEST, "--out", "{plain}"], "--out"),
    ([*SUGGEST, "--contexts", "{missing}"], "--contexts"),
    ([*SUGGEST, "--contexts", "{dir}"], "--contexts"),
    ([*SUGGEST, "--contexts", "{big_ctx}"], "--contexts"),
    ([*SUGGEST, "--contexts", "{blob}"], "UTF-8"),
    ([*SUGGEST, "--contexts", "{evil}"], "context name"),
    ([*SUGGEST, "--contexts", "{nan}"], "weight 'faces'"),
    (["frames", "v.mp4", "--out", "{plain}", "--fps", "1"], "--out"),
    (["frames", "v.mp4", "--out", "o", "--fps", "nan"], "--fps"),
    (["frames", "v.mp4", "--out", "o", "--fps", "0"], "--fps"),
    (["frames", "v.mp4", "--out", "o", "--at", "1,inf"], "--at"),
    (["frames", "v.mp4", "--out", "o", "--at", "-1"], "--at"),
    (["frames", "v.mp4", "--out", "o", "--at", ",".join(["1"] * 10_001)], "--at"),
    (["frames", "v.mp4", "--out", "o", "--fps", "1", "--size", "100000x100000"], "--size"),
    (["videos", "--library", ""], "--library"),
    (["videos", "--library", "a\0b"], "--library"),
]


@pytest.mark.parametrize("argv,needle", INVALID, ids=[" ".join(a)[:60] for a, _ in INVALID])
def test_invalid_argument_exits_2_naming_it_without_traceback(
    argv: list[str], needle: str, files: dict[str, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # LIB and "o" would be created here if validation came late
    argv = [a.format(**files) if a.startswith("{") else a for a in argv]
    code, out, err = _run(argv, capsys)
    assert code == 2, err
    assert needle in err and out == ""
    assert not (tmp_path / LIB).exists() and not (tmp_path / "o").exists()


def test_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    bomb = _bomb_png(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 100
    with pytest.raises(UsageError, match="30000x30000 = 900000000 pixels|more pixels"):
        image_file(str(bomb), "--image")
    small = _bomb_png(tmp_path / "small.png", 8000, 7000)  # 56 MP: under Pillow's own guard
    with pytest.raises(UsageError, match="56000000 pixels, more than the limit"):
        image_file(str(small), "--image")
    ok = _bomb_png(tmp_path / "ok.png", 64, 48)
    assert image_file(str(ok), "--image") == ok


def test_edge_checks_name_the_argument_the_value_and_the_limit() -> None:
    with pytest.raises(UsageError, match=r"--threshold must be a finite number in \(0, 1\], "
                                         r"got 'nan'"):
        bounded_float("nan", "--threshold", low=0, high=1, low_open=True)
    with pytest.raises(UsageError, match=r"--video must be an integer from 1 to "
                                         rf"{2**63 - 1}, got '{BIG}'"):
        record_id(BIG, "--video")
    with pytest.raises(UsageError, match="got '1111"):  # a long value is shortened
        bounded_int("1" * 5000, "-k", low=1, high=10)
    assert bounded_int(" 7 ", "-k", low=1, high=10) == 7 and record_id(2**63 - 1, "id")
    for bad in ("../x", "..", ".a", "a/b", "", "a" * 65, True):
        with pytest.raises(UsageError, match="name"):
            safe_name(bad, "name")
    assert safe_name("tv-billboard.v2_x", "name") == "tv-billboard.v2_x"
    with pytest.raises(UsageError, match="at most 3 characters, got 4"):
        bounded_text("abcd", "--note", max_chars=3)


def test_every_option_and_positional_has_help() -> None:
    def walk(parser: argparse.ArgumentParser, where: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{where}: {action.dest}")
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    missing += walk(sub, f"{where} {name}")
        return missing

    assert walk(_parser(), "media-ml") == []


def test_verbose_works_after_the_subcommand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    levels: list[int] = []
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: levels.append(kw["level"]))
    code, _, err = _run(["videos", "--library", str(tmp_path / "none"), "-vv"], capsys)
    assert code == 1 and "not a media-ml library" in err  # got past parsing
    code, _, err = _run(["-v", "videos", "--library", str(tmp_path / "none"), "-v"], capsys)
    assert levels == [logging.DEBUG, logging.DEBUG]


def _failing_videos(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def cmd(args: argparse.Namespace) -> int:
        raise exc

    monkeypatch.setattr(cli, "cmd_videos", cmd)


def test_unexpected_exception_is_one_line_and_traceback_only_at_debug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _failing_videos(monkeypatch, RuntimeError("boom"))
    code, out, err = _run(["videos", "--library", "x"], capsys)
    assert code == 1 and out == ""
    assert err.strip() == ("media-ml: internal error: RuntimeError: boom "
                           "(run with -vv for the traceback)")
    with caplog.at_level(logging.DEBUG, logger="media_ml"):
        assert _run(["videos", "--library", "x", "-vv"], capsys)[0] == 1
    assert any(r.exc_info and r.levelno == logging.DEBUG for r in caplog.records)


@pytest.mark.parametrize("exc,code,needles", [
    (sqlite3.OperationalError("database or disk is full"), 1, ["database", "disk is full"]),
    (sqlite3.DatabaseError("file is not a database"), 1, ["not a database", "LIBDIR"]),
    (sqlite3.OperationalError("attempt to write a readonly database"), 2, ["readonly",
                                                                          "LIBDIR"]),
    (OSError(errno.ENOSPC, "No space left on device", "/data/x.jpg"), 1,
     ["No space left on device", "/data/x.jpg"]),
    (PermissionError(errno.EACCES, "Permission denied", "LIBDIR/catalog.sqlite"), 2,
     ["Permission denied", "LIBDIR/catalog.sqlite"]),
    (PermissionError(errno.EACCES, "Permission denied", "/elsewhere/f"), 1, ["/elsewhere/f"]),
    (OSError(errno.EIO, "Input/output error"), 1, ["Input/output error"]),
])
def test_database_and_os_errors_are_one_clear_line(
    exc: Exception, code: int, needles: list[str], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _failing_videos(monkeypatch, exc)
    got, out, err = _run(["videos", "--library", "LIBDIR"], capsys)
    assert got == code and out == ""
    assert err.startswith("media-ml: error: ") and err.count("\n") == 1
    assert all(n in err for n in needles), err


def test_json_output_never_holds_nan(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def cmd(args: argparse.Namespace) -> int:
        cli._emit({"hits": [{"score": 1.0}, {"score": float("nan")}]}, args.json, "")
        return 0

    monkeypatch.setattr(cli, "cmd_videos", cmd)
    code, out, err = _run(["videos", "--library", "x", "--json"], capsys)
    assert code == 1 and "NaN" not in out
    assert json.loads(out)["exit_code"] == 1  # an error document, not the half-NaN result
    assert "hits[1].score" in err


def test_workers_0_runs_in_this_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from media_ml.library import IngestReport, Library
    from media_ml.pipeline import InlineExecutor

    with cli._executor(argparse.Namespace(workers=0, scheduler=None), 10_000.0) as ex:
        assert isinstance(ex, InlineExecutor)  # even for a long video
    seen: dict[str, object] = {}

    def ingest(self: Library, paths: list[str], **kw: object) -> IngestReport:
        seen.update(kw)
        return IngestReport([], [], [])

    monkeypatch.setattr(Library, "ingest", ingest)
    assert _run(["ingest", str(tmp_path), "--library", str(tmp_path / "lib"), "--workers", "0"],
                capsys)[0] == 0
    assert seen["workers"] == 0

"""Ingest into a library on a real Dask cluster: contracts, re-runs, bad input and faults."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from media import cut_clip_frames, write_video

from media_ml.cli import main as cli_main
from media_ml.library import Library
from media_ml.workers.cluster import dask_client

MEDIA_ML = [sys.executable, "-m", "media_ml.cli"]


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    with dask_client(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def good_clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("good")
    out = []
    for i, lengths in enumerate([[30, 25, 35], [40, 30], [20, 30, 25, 30]]):
        frames, _ = cut_clip_frames(lengths, (256, 144), seed=10 * i)
        out.append(write_video(d / f"good{i}.mp4", frames, gop=15))
    return out


def _library_state(root: Path) -> list[tuple]:
    con = sqlite3.connect(root / "catalog.sqlite")
    rows = con.execute(
        """SELECT v.path, v.content_hash,
                  (SELECT group_concat(start_frame) FROM shots s WHERE s.video_id=v.id),
                  (SELECT group_concat(frame) FROM keyframes k WHERE k.video_id=v.id)
           FROM videos v ORDER BY v.path""").fetchall()
    dup = con.execute("SELECT COUNT(*) - COUNT(DISTINCT path) FROM videos").fetchone()[0]
    con.close()
    assert dup == 0
    return rows


def test_ingest_commits_videos_shots_keyframes_and_thumbnails(
    client, good_clips: list[Path], tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    with Library(tmp_path / "lib") as lib:
        report = lib.ingest(good_clips, client=client, progress=False, model="none")
        assert [Path(e["path"]).name for e in report.ingested] == ["good0.mp4", "good1.mp4",
                                                                    "good2.mp4"]
        assert not report.failed
        videos = {Path(v.path).name: v for v in lib.videos()}
        assert [videos[n].shots for n in ("good0.mp4", "good1.mp4", "good2.mp4")] == [3, 2, 4]
        for v in videos.values():
            kfs = lib.keyframes(v.id)
            assert len(kfs) >= v.shots
            assert {k.shot_index for k in kfs} == set(range(v.shots))
            for k in kfs:
                assert Path(k.thumbnail).read_bytes()[:2] == b"\xff\xd8"  # JPEG
                shot = lib.shots(v.id)[k.shot_index]
                assert shot.start_frame <= k.frame < shot.end_frame
                assert 0.0 <= k.signals.brightness <= 1.0


def test_reingesting_unchanged_files_is_a_skip_and_changed_files_replace(
    client, good_clips: list[Path], tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    clip = shutil.copy(good_clips[0], tmp_path / "title.mp4")
    with Library(tmp_path / "lib") as lib:
        lib.ingest([clip], client=client, progress=False, model="none")
        before = _library_state(tmp_path / "lib")
        old_thumbs = {Path(k.thumbnail).parent for k in lib.keyframes()}
        vid = lib.videos()[0].id
        again = lib.ingest([clip], client=client, progress=False, model="none")
        assert not again.ingested and [e["reason"] for e in again.skipped] == ["unchanged"]
        assert _library_state(tmp_path / "lib") == before
        old_hash = before[0][1]
        shutil.copy(good_clips[2], clip)  # new content at the same path
        changed = lib.ingest([clip], client=client, progress=False, model="none")
        assert len(changed.ingested) == 1
        after = _library_state(tmp_path / "lib")
        assert len(after) == 1 and after[0][1] != old_hash
        assert lib.videos()[0].shots == 4
        assert lib.videos()[0].id == vid  # the video keeps its id
        assert old_thumbs and not any(d.exists() for d in old_thumbs)
        assert all(Path(k.thumbnail).is_file() for k in lib.keyframes())


def _bad_files(d: Path, good: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    files = {
        "empty": d / "empty.mp4",
        "random": d / "random.mp4",
        "text": d / "notes.mkv",
        "header_only": d / "header_only.mp4",
        "truncated": d / "truncated.mp4",
        "audio_only": d / "audio_only.m4a",
    }
    files["empty"].write_bytes(b"")
    files["random"].write_bytes(np.random.default_rng(0).bytes(200_000))
    files["text"].write_text("this is a shopping list, not a video\n" * 100)
    files["header_only"].write_bytes(data[:1500])
    files["truncated"].write_bytes(data[: len(data) // 2])  # moov (at the end) is lost
    with av.open(str(files["audio_only"]), "w") as c:
        s = c.add_stream("aac", rate=22050)
        t = np.arange(22050, dtype=np.float32) / 22050
        frame = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t))[None, :],
                                           format="fltp", layout="mono")
        frame.sample_rate = 22050
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    return files


def _damaged_mkv(d: Path) -> tuple[Path, Path]:
    """A clip in Matroska cut off at 60 % and one with garbage written over its middle."""
    frames, _ = cut_clip_frames([40, 40, 40], (256, 144), seed=3)
    good = write_video(d / "whole.mkv", frames, gop=10)
    data = good.read_bytes()
    trunc = d / "cut_off.mkv"
    trunc.write_bytes(data[: int(len(data) * 0.6)])
    corrupt = bytearray(data)
    mid = len(data) // 2
    corrupt[mid : mid + 6000] = np.random.default_rng(1).bytes(6000)
    garbled = d / "garbled.mkv"
    garbled.write_bytes(bytes(corrupt))
    good.unlink()
    return trunc, garbled


def test_bad_files_fail_alone_and_good_files_are_committed(
    good_clips: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _bad_files(tmp_path / "batch", good_clips[0])
    trunc, garbled = _damaged_mkv(tmp_path / "batch")
    for g in good_clips[:2]:
        shutil.copy(g, tmp_path / "batch" / g.name)
    lib_dir = tmp_path / "lib"
    # Folders contribute video-like names; the audio file is named explicitly.
    code = cli_main(["ingest", str(tmp_path / "batch"), str(bad["audio_only"]), "--library",
                     str(lib_dir), "--workers", "2", "--json", "--no-progress", "--model", "none"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    failed = {Path(f["path"]).name: f["error"] for f in doc["failed"]}
    for key in ("empty", "random", "text", "header_only", "truncated", "audio_only"):
        name = bad[key].name
        assert name in failed, (name, failed)
        assert name in failed[name]  # the message names the file
    assert "empty" in failed["empty.mp4"]
    assert "no video stream" in failed["audio_only.m4a"]
    ingested = {Path(e["path"]).name: e for e in doc["ingested"]}
    assert {"good0.mp4", "good1.mp4"} <= set(ingested)
    # Partly decodable files are ingested with the damage reported.
    assert trunc.name in ingested and "ends early" in " ".join(ingested[trunc.name]["damage"])
    assert garbled.name in ingested and "errors" in " ".join(ingested[garbled.name]["damage"])
    with Library(lib_dir) as lib:
        paths = {Path(v.path).name for v in lib.videos()}
        assert paths == set(ingested)
        used = {Path(k.thumbnail).parent.name for k in lib.keyframes()}
    thumb_dirs = {p.name for p in (lib_dir / "thumbs").iterdir()}
    assert thumb_dirs == used and len(used) == len(ingested)  # nothing of failed files


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert cli_main(["ingest", str(tmp_path / "nope.mp4"), "--library", str(tmp_path / "l"),
                     "--model", "none"]) == 2
    assert cli_main(["videos", "--library", str(tmp_path / "no_library")]) == 1
    assert cli_main(["ingest", "--library", str(tmp_path / "l")]) == 2  # argparse: no paths


def test_videos_json_contract(
    client, good_clips: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    with Library(tmp_path / "lib") as lib:
        lib.ingest(good_clips[:1], client=client, progress=False, model="none")
    assert cli_main(["videos", "--library", str(tmp_path / "lib"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (v,) = doc["videos"]
    assert {"id", "path", "content_hash", "duration_s", "shots", "keyframes", "model"} <= set(v)
    assert v["shots"] == 3 and v["duration_s"] == pytest.approx(90 / 25)


def test_a_worker_dying_mid_task_is_retried_and_the_batch_completes(
    good_clips: list[Path], tmp_path: Path
) -> None:
    from distributed.diagnostics.plugin import WorkerPlugin

    marker = tmp_path / "died"

    class DieOnce(WorkerPlugin):
        def transition(self, key, start, finish, **kwargs):  # type: ignore[no-untyped-def]
            if finish == "executing" and "segment_features" in str(key):
                if not os.path.exists(marker):
                    open(marker, "w").close()
                    os._exit(1)  # the worker process dies mid-task

    with dask_client(workers=2) as c:
        c.register_plugin(DieOnce())  # type: ignore[attr-defined]
        with Library(tmp_path / "lib") as lib:
            report = lib.ingest(good_clips, client=c, progress=False, model="none")
    assert marker.exists()
    assert not report.failed and len(report.ingested) == 3


@pytest.mark.slow
def test_sigkill_mid_batch_then_rerun_gives_the_clean_library(
    good_clips: list[Path], tmp_path: Path
) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    for i in range(8):
        shutil.copy(good_clips[i % 3], batch / f"v{i}.mp4")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    args = [*MEDIA_ML, "ingest", str(batch), "--workers", "1", "--no-progress", "--model", "none",
            "--library"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*args, str(killed)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = killed / "catalog.sqlite"
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                con = sqlite3.connect(db)
                committed = con.execute("SELECT COUNT(*) FROM videos").fetchone()[0]
                con.close()
            except sqlite3.Error:
                committed = 0
            if committed >= 2:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "ingest finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= len(_library_state(killed)) < 8
    rerun = subprocess.run([*args, str(killed)], env=env, capture_output=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    clean = tmp_path / "clean"
    done = subprocess.run([*args, str(clean)], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0
    assert _library_state(killed) == _library_state(clean)
    assert len(_library_state(clean)) == 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_ingest_through_real_dask_scheduler_and_worker_processes(
    good_clips: list[Path], tmp_path: Path, tiny_model_dir: Path
) -> None:
    from distributed import Client

    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    sched = subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                              str(port), "--no-dashboard"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([str(bindir / "dask"), "worker", addr, "--nworkers", "2",
                               "--nthreads", "1", "--no-dashboard"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Client(addr, timeout="60s") as c:
            c.wait_for_workers(2, timeout=120)
        out = subprocess.run([*MEDIA_ML, "ingest", *map(str, good_clips), "--library",
                              str(tmp_path / "lib"), "--scheduler", addr, "--json",
                              "--no-progress", "--model", "tiny-test:untrained",
                              "--model-config", str(tiny_model_dir)],
                             env=env, capture_output=True, timeout=300)
        assert out.returncode == 0, out.stderr.decode()[-2000:]
        doc = json.loads(out.stdout)
        assert len(doc["ingested"]) == 3 and not doc["failed"]
        assert [len(s[2].split(",")) for s in _library_state(tmp_path / "lib")] == [3, 2, 4]
        with Library(tmp_path / "lib") as lib:  # embedded on the workers, indexed by the driver
            assert len(lib.catalog.vectors()[0]) == sum(v.keyframes for v in lib.videos())
            assert lib.search(text="a bicycle", k=2)
    finally:
        for p in (worker, sched):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()

"""Ctrl-C: ``media-ml ingest`` stops in seconds, keeps only whole videos, and a re-run resumes.

A terminal sends SIGINT to its whole process group: the driver and the ``LocalCluster``'s worker
processes. The tests do the same with ``os.killpg`` on an ingest started in a session of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from media import cut_clip_frames, write_video

from media_ml.workers.cluster import dask_client, interrupts_held

MEDIA_ML = [sys.executable, "-m", "media_ml.cli"]
ENV = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
VIDEOS = 12
STOP_S = 15.0  # generous: the machine running the tests may be busy


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve 24 s clips (three contents, each copied four times): a batch that takes a few
    seconds per video on two workers, so there is time to interrupt it half-way."""
    d = tmp_path_factory.mktemp("batch")
    sources = []
    for i in range(3):
        frames, _ = cut_clip_frames([120, 90, 150, 100, 140], (256, 144), seed=7 * i)
        sources.append(write_video(d / f"v{i:02d}.mp4", frames, gop=15))
    for i in range(3, VIDEOS):
        shutil.copy(sources[i % 3], d / f"v{i:02d}.mp4")
    return d


def _ingest_args(batch: Path, library: Path, workers: int) -> list[str]:
    return [*MEDIA_ML, "ingest", str(batch), "--library", str(library), "--model", "none",
            "--json", "--workers", str(workers)]


def _library_state(root: Path) -> list[tuple]:
    """Path, content hash, shot starts and keyframe frames of every video; checks the catalog's
    integrity, that no path is there twice, and that every thumbnail is on disk."""
    con = sqlite3.connect(root / "catalog.sqlite")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = con.execute(
            """SELECT v.path, v.content_hash,
                      (SELECT group_concat(start_frame) FROM shots s WHERE s.video_id=v.id),
                      (SELECT group_concat(frame) FROM keyframes k WHERE k.video_id=v.id)
               FROM videos v ORDER BY v.path""").fetchall()
        assert con.execute("SELECT COUNT(*) - COUNT(DISTINCT path) FROM videos").fetchone()[0] == 0
        thumbs = [r[0] for r in con.execute("SELECT thumbnail FROM keyframes")]
    finally:
        con.close()
    assert all((root / t).is_file() for t in thumbs)
    return rows


@pytest.fixture(scope="module")
def serial_state(batch: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    """The library an uninterrupted run on one worker makes."""
    root = tmp_path_factory.mktemp("serial") / "lib"
    done = subprocess.run(_ingest_args(batch, root, 1), env=ENV, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    state = _library_state(root)
    assert len(state) == VIDEOS and all(shots and kfs for _, _, shots, kfs in state)
    return state


def _committed(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(db, timeout=0.1)
        try:
            return int(con.execute("SELECT COUNT(*) FROM videos").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:  # not created yet, or locked by a commit
        return 0


def _live_group(pgid: int) -> set[int]:
    """Processes of the process group that are still running (zombies count as gone)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.add(int(entry.name))
    return out


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("presses", [1, 2], ids=["one-ctrl-c", "two-ctrl-c"])
def test_ctrl_c_mid_ingest_stops_in_seconds_keeps_whole_videos_and_a_rerun_resumes(
    presses: int, batch: Path, serial_state: list[tuple], tmp_path: Path
) -> None:
    root = tmp_path / "lib"
    args = _ingest_args(batch, root, 2)
    with open(tmp_path / "stderr", "wb") as err:
        proc = subprocess.Popen(args, env=ENV, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        # Interrupt once it is really at work: the first video is committed, the rest are not.
        started = _wait_until(
            lambda: proc.poll() is not None or _committed(root / "catalog.sqlite") >= 1, 300)
        assert started and proc.poll() is None, "ingest ended before it could be interrupted"
        group = _live_group(proc.pid)
        assert len(group) >= 3  # the driver and its two worker processes (and helpers)
        os.killpg(proc.pid, signal.SIGINT)
        pressed = time.monotonic()
        if presses == 2:
            try:
                proc.wait(timeout=0.3)  # still stopping after 0.3 s: press again
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ingest still running {STOP_S:.0f} s after Ctrl-C")
        stop_s = time.monotonic() - pressed
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    stderr = (tmp_path / "stderr").read_bytes().decode(errors="replace")
    assert proc.returncode == 130, stderr[-2000:]
    assert "media-ml: interrupted" in stderr
    assert "Traceback" not in stderr, stderr[-4000:]
    print(f"stopped {stop_s:.2f} s after the first Ctrl-C")
    # The cluster's processes end with the driver (zombies waiting for init do not count).
    assert _wait_until(lambda: not (group & _live_group(proc.pid)), 10), group

    kept = _library_state(root)
    assert 1 <= len(kept) < VIDEOS
    assert set(kept) <= set(serial_state)  # every video there is whole, as a clean run has it

    rerun = subprocess.run(args, env=ENV, capture_output=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    doc = json.loads(rerun.stdout)
    assert sorted(e["path"] for e in doc["skipped"]) == [row[0] for row in kept]
    assert len(doc["ingested"]) == VIDEOS - len(kept) and not doc["failed"]
    assert _library_state(root) == serial_state


def test_ctrl_c_inside_interrupts_held_arrives_when_the_block_ends() -> None:
    handler = signal.getsignal(signal.SIGINT)
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            signal.raise_signal(signal.SIGINT)
            steps.append("after the signal")
            signal.raise_signal(signal.SIGINT)  # a second one is held too
            steps.append("end of block")
    assert steps == ["after the signal", "end of block"]
    assert signal.getsignal(signal.SIGINT) is handler


@pytest.mark.slow
def test_local_cluster_workers_survive_ctrl_c_and_keep_working() -> None:
    with dask_client(workers=1) as client:
        (pid,) = client.run(os.getpid).values()  # type: ignore[attr-defined]
        os.kill(pid, signal.SIGINT)
        assert client.submit(sum, [1, 2, 3]).result(timeout=60) == 6  # type: ignore[attr-defined]
        assert list(client.run(os.getpid).values()) == [pid]  # type: ignore[attr-defined]

"""Processes sharing a library: two ingests at once and an ingest beside a search loop end with
an intact library holding the same content as serial runs."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from media import cut_clip_frames, write_video

MEDIA_ML = [sys.executable, "-m", "media_ml.cli"]
TINY = "tiny-test:untrained"

SEARCH_LOOP = """
import json, sys, time
from pathlib import Path
from media_ml import Library
from media_ml.errors import LibraryError
root, stop = Path(sys.argv[1]), Path(sys.argv[2])
seen, errors, searches = [], [], 0
while not stop.exists():
    try:
        with Library(root, readonly=True) as lib:
            kfs = lib.keyframes()
            seen.append(len(kfs))
            if kfs:
                hits = lib.search(keyframe=kfs[-1].id, k=1000)
                # Every hit is a committed keyframe, and every other keyframe is found.
                assert {h.keyframe_id for h in hits} | {kfs[-1].id} == {k.id for k in kfs}
                searches += 1
    except LibraryError as e:
        if "not a media-ml library" not in str(e):  # before the first commit
            errors.append(repr(e))
    except Exception as e:
        errors.append(repr(e))
    time.sleep(0.05)
print(json.dumps({"seen": seen, "errors": errors, "searches": searches}))
"""


def _content(root: Path) -> list[tuple]:
    con = sqlite3.connect(root / "catalog.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = con.execute(
        """SELECT v.path, v.content_hash,
                  (SELECT group_concat(start_frame) FROM shots s WHERE s.video_id=v.id),
                  (SELECT group_concat(frame) FROM keyframes k WHERE k.video_id=v.id),
                  (SELECT COUNT(*) FROM vectors x JOIN keyframes k ON k.id = x.keyframe_id
                   WHERE k.video_id=v.id)
           FROM videos v ORDER BY v.path""").fetchall()
    con.close()
    return rows


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_ingests_and_a_search_loop_share_a_library(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    clips = []
    for i, lengths in enumerate([[30, 25, 35], [40, 30], [20, 30, 25], [35, 35]]):
        frames, _ = cut_clip_frames(lengths, (320, 180), seed=i, first_photo=i)
        clips.append(write_video(tmp_path / f"c{i}.mp4", frames, gop=15))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    args = ["--model", TINY, "--model-config", str(tiny_model_dir), "--workers", "0",
            "--no-progress", "--json", "--wait", "300"]

    serial = tmp_path / "serial"
    for part in (clips[:3], clips[1:]):
        done = subprocess.run([*MEDIA_ML, "ingest", *map(str, part), "--library", str(serial),
                               *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]

    shared = tmp_path / "shared"
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", SEARCH_LOOP, str(shared), str(stop)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writers = [subprocess.Popen([*MEDIA_ML, "ingest", *map(str, part), "--library",
                                 str(shared), *args], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for part in (clips[:3], clips[1:])]
    outs = [w.communicate(timeout=300) for w in writers]
    stop.touch()
    r_out, r_err = reader.communicate(timeout=120)
    for w, (out, err) in zip(writers, outs, strict=True):
        assert w.returncode == 0, err[-2000:]
        assert "Traceback" not in err
        doc = json.loads(out)
        assert not doc["failed"]
    # Together they ingested each clip once; the second skipped what the first had done.
    docs = [json.loads(out) for out, _ in outs]
    ingested = sorted(Path(e["path"]).name for d in docs for e in d["ingested"])
    assert ingested == [f"c{i}.mp4" for i in range(4)]
    assert _content(shared) == _content(serial)
    loop = json.loads(r_out.strip().splitlines()[-1])
    assert loop["errors"] == [], loop["errors"][:3]
    assert loop["searches"] > 0 and loop["seen"] == sorted(loop["seen"])
    assert max(loop["seen"]) == sum(r[4] for r in _content(shared))
    index = json.loads((shared / "index" / "manifest.json").read_text())
    assert index["count"] == sum(r[4] for r in _content(shared))

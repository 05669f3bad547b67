"""Libraries made by earlier releases open in this one with nothing lost: each earlier schema is
built here from its frozen DDL (``legacy_schemas``), filled, opened, and checked row by row."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from legacy_schemas import SCHEMA_V1, SCHEMA_V2
from media import cut_clip_frames, write_video

from media_ml import Library
from media_ml.catalog import SCHEMA_VERSION
from media_ml.pipeline import LEGACY_DEFAULT_REPR, IngestSettings
from media_ml.workers.tasks import content_hash


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames, _ = cut_clip_frames([30, 25], (640, 360), seed=7)
    return write_video(tmp_path_factory.mktemp("mig") / "old.mp4", frames, gop=15)


def _legacy_library(root: Path, version: int, clip: Path) -> dict[str, object]:
    """A library as release ``version`` wrote it: one video, shots, keyframes and (v2) vectors,
    candidates and verdicts. Returns what it holds."""
    root.mkdir(parents=True)
    (root / "thumbs" / "h").mkdir(parents=True)
    con = sqlite3.connect(root / "catalog.sqlite")
    for stmt in SCHEMA_V1 if version == 1 else SCHEMA_V2:
        con.execute(stmt)
    con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(version),))
    legacy_fp = hashlib.blake2b(LEGACY_DEFAULT_REPR.format(model=repr(None)).encode(),
                                digest_size=8).hexdigest()
    digest = content_hash(clip)
    con.execute("""INSERT INTO videos VALUES (7, ?, ?, ?, ?, 2.2, 25, 55, 640, 360, 0, 'h264', 0,
                   0, NULL, '[]', 1.0)""", (str(clip), digest, legacy_fp, clip.stat().st_size))
    con.executemany("INSERT INTO shots VALUES (7, ?, ?, ?, ?, ?, ?, 0)",
                    [(0, 0, 30, 0.0, 1.2, None), (1, 30, 55, 1.2, 2.2, "cut")])
    signals = {"brightness": 0.5, "exposure": 0.9, "contrast": 0.4, "colourfulness": 0.3,
               "sharpness": 300.0, "faces": 0, "face_area": 0.0, "face_x": None,
               "face_y": None, "composition": 0.6, "black": False}
    for kid, shot, frame in ((11, 0, 10), (12, 1, 40), (15, 1, 50)):
        (root / "thumbs" / "h" / f"{frame:08d}.jpg").write_bytes(b"\xff\xd8 jpeg")
        cols = ("id, video_id, shot_index, frame, time_s, width, height, brightness, exposure, "
                "contrast, colourfulness, sharpness, faces, face_area, composition, black, "
                "signals, face_boxes, thumbnail")
        con.execute(f"INSERT INTO keyframes ({cols}) VALUES "
                    f"(?, 7, ?, ?, ?, 640, 360, .5, .9, .4, .3, 300, 0, 0, .6, 0, ?, '[]', ?)",
                    (kid, shot, frame, frame / 25, json.dumps(signals),
                     f"thumbs/h/{frame:08d}.jpg"))
    if version == 2:
        rng = np.random.default_rng(0)
        for kid in (11, 12, 15):
            v = rng.normal(size=32).astype(np.float32)
            con.execute("INSERT INTO vectors VALUES (?, ?)", (kid, (v / np.linalg.norm(v))
                                                             .tobytes()))
        con.executemany("INSERT INTO candidates VALUES (?, ?, 'web-row', 0, 0, 640, 360, ?, ?,"
                        " 1.0)", [(21, 11, 1, 0.8), (22, 12, 2, 0.7)])
        con.executemany("INSERT INTO feedback VALUES (?, ?, 'web-row', ?, ?, ?, ?, ?)",
                        [(31, 21, "reject", "blurry", 1, 0.8, 2.0),
                         (32, 22, "accept", None, 2, 0.7, 3.0)])
    con.commit()
    con.close()
    return {"keyframes": [11, 12, 15]}


@pytest.mark.parametrize("version", [1, 2])
def test_an_earlier_library_opens_with_nothing_lost(clip: Path, tmp_path: Path,
                                                    version: int) -> None:
    root = tmp_path / f"v{version}"
    _legacy_library(root, version, clip)
    with Library(root, readonly=True) as lib:  # a reader upgrades it under the writer lock
        (v,) = lib.videos()
        assert (v.id, v.path, v.shots, v.keyframes) == (7, str(clip), 2, 3)
        kfs = lib.keyframes()
        assert [(k.id, k.frame, k.shot_index) for k in kfs] == [(11, 10, 0), (12, 40, 1),
                                                                 (15, 50, 1)]
        assert kfs[0].signals.sharpness == 300.0 and kfs[0].pts is None
        assert all(Path(k.thumbnail).is_file() for k in kfs)
        assert [s.transition_in for s in lib.shots(7)] == [None, "cut"]
        verdicts = [(x.id, x.candidate_id, x.keyframe_id, x.verdict, x.note)
                    for x in lib.verdicts()]
        assert lib.catalog.meta("schema_version") == str(SCHEMA_VERSION)
        assert len(lib.catalog.library_id) == 32
    if version == 2:
        assert verdicts == [(31, 21, 11, "reject", "blurry"), (32, 22, 12, "accept", None)]
    else:
        assert verdicts == []
    con = sqlite3.connect(root / "catalog.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    # AUTOINCREMENT from here on: a new row never takes an id an old one had.
    con.execute("DELETE FROM keyframes WHERE id=15")
    con.execute("""INSERT INTO keyframes (video_id, shot_index, frame, time_s, width, height,
                   signals, face_boxes, thumbnail) VALUES (7, 1, 51, 2.04, 640, 360, '{}', '[]',
                   'thumbs/h/x.jpg')""")
    assert con.execute("SELECT MAX(id) FROM keyframes").fetchone()[0] == 16
    con.close()


def test_a_video_ingested_with_default_settings_keeps_the_version_it_was_analysed_with(
    clip: Path, tmp_path: Path
) -> None:
    from media_ml.pipeline import SETTINGS_VERSION

    root = tmp_path / "v1"
    _legacy_library(root, 1, clip)
    with Library(root) as lib:
        stored = lib.catalog.lookup(str(clip))[2]  # type: ignore[index]
        assert stored == IngestSettings().fingerprint(version=1)
        report = lib.ingest(clip, model="none", workers=0, progress=False)
    # This release's defaults changed results (SETTINGS_VERSION 2): the video is redone, and
    # keeps its id.
    assert SETTINGS_VERSION >= 2
    assert [Path(e["path"]).name for e in report.ingested] == ["old.mp4"]
    with Library(root) as lib:
        assert lib.catalog.lookup(str(clip))[2] == IngestSettings().fingerprint()  # type: ignore[index]
        assert lib.videos()[0].id == 7


def test_a_newer_library_is_refused(tmp_path: Path) -> None:
    from media_ml.errors import LibraryError

    with Library(tmp_path / "lib"):
        pass
    con = sqlite3.connect(tmp_path / "lib" / "catalog.sqlite")
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(LibraryError, match="newer"):
        Library(tmp_path / "lib", readonly=True)

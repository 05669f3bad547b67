"""The SQLite catalog of a library: schema, migrations, reads and the single-writer commits.

``DIR/catalog.sqlite`` (WAL). One row per video, shot and keyframe (never per frame); keyframe
vectors as BLOBs; artwork candidates and editors' feedback. A video is committed in one
transaction; thumbnails are written first under names derived from the content hash, so a crash
before the commit leaves only unreferenced files that the next run overwrites.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from media_ml.errors import LibraryError, UsageError
from media_ml.types import VideoResult

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS videos (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        content_hash TEXT NOT NULL,
        settings TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        duration_s REAL NOT NULL,
        fps REAL NOT NULL,
        frames INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        rotation INTEGER NOT NULL,
        codec TEXT NOT NULL,
        start_time_s REAL NOT NULL,
        vfr INTEGER NOT NULL,
        model TEXT,
        damage TEXT NOT NULL DEFAULT '[]',
        ingested_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS shots (
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        start_frame INTEGER NOT NULL,
        end_frame INTEGER NOT NULL,
        start_s REAL NOT NULL,
        end_s REAL NOT NULL,
        transition_in TEXT,
        transition_frames INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (video_id, idx)
    )""",
    """CREATE TABLE IF NOT EXISTS keyframes (
        id INTEGER PRIMARY KEY,
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        shot_index INTEGER NOT NULL,
        frame INTEGER NOT NULL,
        time_s REAL NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        brightness REAL, exposure REAL, contrast REAL, colourfulness REAL, sharpness REAL,
        faces INTEGER, face_area REAL, composition REAL, black INTEGER,
        signals TEXT NOT NULL,
        face_boxes TEXT NOT NULL,
        thumbnail TEXT NOT NULL,
        pts INTEGER,
        seek_pts INTEGER,
        UNIQUE (video_id, frame)
    )""",
    "CREATE INDEX IF NOT EXISTS keyframes_video ON keyframes(video_id, shot_index)",
    """CREATE TABLE IF NOT EXISTS vectors (
        keyframe_id INTEGER PRIMARY KEY REFERENCES keyframes(id) ON DELETE CASCADE,
        vector BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS candidates (
        id INTEGER PRIMARY KEY,
        keyframe_id INTEGER NOT NULL REFERENCES keyframes(id) ON DELETE CASCADE,
        context TEXT NOT NULL,
        x INTEGER NOT NULL, y INTEGER NOT NULL, w INTEGER NOT NULL, h INTEGER NOT NULL,
        last_rank INTEGER, last_score REAL, last_suggested_at REAL,
        UNIQUE (keyframe_id, context, x, y, w, h)
    )""",
    """CREATE TABLE IF NOT EXISTS feedback (
        id INTEGER PRIMARY KEY,
        candidate_id INTEGER NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
        context TEXT NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject')),
        note TEXT,
        rank INTEGER,
        score REAL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS feedback_candidate ON feedback(candidate_id)",
    """CREATE TABLE IF NOT EXISTS failures (
        path TEXT PRIMARY KEY, content_hash TEXT, error TEXT NOT NULL, failed_at REAL NOT NULL
    )""",
]


@dataclass(frozen=True)
class VideoRow:
    """A video as the catalog holds it (``media-ml videos``)."""

    id: int
    path: str
    content_hash: str
    duration_s: float
    fps: float
    frames: int
    width: int
    height: int
    shots: int
    keyframes: int
    model: str | None
    damage: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "path": self.path, "content_hash": self.content_hash,
            "duration_s": round(self.duration_s, 6), "fps": round(self.fps, 6),
            "frames": self.frames, "width": self.width, "height": self.height,
            "shots": self.shots, "keyframes": self.keyframes, "model": self.model,
            "damage": list(self.damage),
        }


class Catalog:
    """SQLite catalog. Open one per process; writes happen in ``commit_video``."""

    def __init__(self, root: str | Path, create: bool = True) -> None:
        self.root = Path(root)
        db = self.root / "catalog.sqlite"
        if not create and not db.exists():
            raise LibraryError(f"{self.root}: not a media-ml library (no catalog.sqlite)")
        if self.root.exists() and not self.root.is_dir():
            raise LibraryError(f"{self.root}: exists and is not a directory")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "thumbs").mkdir(exist_ok=True)
        try:
            self.conn = sqlite3.connect(db, timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise LibraryError(f"{db}: cannot open catalog: {e}") from e

    def _migrate(self) -> None:
        with self._transaction() as cur:
            for stmt in _SCHEMA:
                cur.execute(stmt)
            row = cur.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else SCHEMA_VERSION
            if version > SCHEMA_VERSION:
                raise LibraryError(
                    f"{self.root}: library schema {version} is newer than this media-ml "
                    f"({SCHEMA_VERSION}); upgrade media-ml")
            if version < 2:  # v1 → v2: where to decode each keyframe from
                cols = {r[1] for r in cur.execute("PRAGMA table_info(keyframes)")}
                for col in ("pts", "seek_pts"):
                    if col not in cols:
                        cur.execute(f"ALTER TABLE keyframes ADD COLUMN {col} INTEGER")
            if row is None or version < SCHEMA_VERSION:
                cur.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                            (str(SCHEMA_VERSION),))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction (taken at once, so writers queue): commit, or roll back on any
        exception."""
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads -------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        """Bumped by every commit that changes vectors; the index records the one it reflects."""
        return int(self.meta("generation") or 0)

    def model(self) -> tuple[str, str] | None:
        """``(model spec, weights identity)`` that made this library's vectors, if any."""
        name, weights = self.meta("model"), self.meta("weights")
        return (name, weights or "") if name else None

    def vectors(self, video_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` of the stored keyframe embeddings (all, or one video's)."""
        sql = "SELECT v.keyframe_id, v.vector FROM vectors v"
        args: Sequence[Any] = ()
        if video_id is not None:
            sql += " JOIN keyframes k ON k.id = v.keyframe_id WHERE k.video_id=?"
            args = (video_id,)
        rows = self.conn.execute(sql + " ORDER BY v.keyframe_id", args).fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        vecs = np.stack([np.frombuffer(r[1], np.float32) for r in rows])
        return ids, vecs

    def keyframe_ids(self, video_id: int) -> list[int]:
        return [int(r[0]) for r in
                self.conn.execute("SELECT id FROM keyframes WHERE video_id=?", (video_id,))]

    def keyframe_rows(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Catalog rows of keyframes by id (for search hits)."""
        out: dict[int, dict[str, Any]] = {}
        ids = [int(i) for i in ids]
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            cur = self.conn.execute(
                f"""SELECT id, video_id, shot_index, frame, time_s, thumbnail FROM keyframes
                    WHERE id IN ({",".join("?" * len(chunk))})""", chunk)
            for r in cur.fetchall():
                out[int(r[0])] = {"keyframe_id": int(r[0]), "video_id": int(r[1]),
                                  "shot_index": int(r[2]), "frame": int(r[3]),
                                  "time_s": float(r[4]), "thumbnail": str(self.root / r[5])}
        return out

    def lookup(self, path: str) -> tuple[int, str, str] | None:
        """``(id, content_hash, settings)`` of the video at ``path``, if committed."""
        row = self.conn.execute(
            "SELECT id, content_hash, settings FROM videos WHERE path=?", (path,)).fetchone()
        return (int(row[0]), str(row[1]), str(row[2])) if row else None

    def videos(self) -> list[VideoRow]:
        rows = self.conn.execute(
            """SELECT v.id, v.path, v.content_hash, v.duration_s, v.fps, v.frames, v.width,
                      v.height, v.model, v.damage,
                      (SELECT COUNT(*) FROM shots s WHERE s.video_id = v.id),
                      (SELECT COUNT(*) FROM keyframes k WHERE k.video_id = v.id)
               FROM videos v ORDER BY v.id""").fetchall()
        return [VideoRow(id=r[0], path=r[1], content_hash=r[2], duration_s=r[3], fps=r[4],
                         frames=r[5], width=r[6], height=r[7], model=r[8],
                         damage=tuple(json.loads(r[9])), shots=r[10], keyframes=r[11])
                for r in rows]

    def shots(self, video_id: int) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            """SELECT idx, start_frame, end_frame, start_s, end_s, transition_in,
                      transition_frames FROM shots WHERE video_id=? ORDER BY idx""", (video_id,))
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def keyframes(self, video_id: int | None = None) -> list[dict[str, Any]]:
        sql = """SELECT id, video_id, shot_index, frame, time_s, width, height, signals,
                        face_boxes, thumbnail, pts, seek_pts FROM keyframes"""
        args: Sequence[Any] = ()
        if video_id is not None:
            sql += " WHERE video_id=?"
            args = (video_id,)
        cur = self.conn.execute(sql + " ORDER BY video_id, frame", args)
        cols = [c[0] for c in cur.description]
        out = []
        for r in cur.fetchall():
            d = dict(zip(cols, r, strict=True))
            d["signals"] = json.loads(d["signals"])
            d["face_boxes"] = json.loads(d["face_boxes"])
            d["thumbnail"] = str(self.root / d["thumbnail"])
            out.append(d)
        return out

    def failures(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in
                self.conn.execute("SELECT path, error FROM failures ORDER BY path")]

    # -- writes ------------------------------------------------------------------------------

    def commit_video(
        self, result: VideoResult, settings: str, model: tuple[str, str] | None = None
    ) -> tuple[int, list[int], list[int]]:
        """Write a video and everything of it in one transaction, replacing an older version.

        ``model`` is ``(spec, weights identity)`` of the keyframes' embeddings. Returns the video
        id, the keyframe ids removed (older version) and the keyframe ids added.
        """
        info = result.info
        thumb_dir = self.root / "thumbs" / result.content_hash
        thumb_dir.mkdir(parents=True, exist_ok=True)
        rel: dict[int, str] = {}
        for kf in result.keyframes:
            name = f"{kf.frame:08d}.jpg"
            tmp = thumb_dir / f".{name}.tmp"
            tmp.write_bytes(kf.thumbnail)
            os.replace(tmp, thumb_dir / name)
            rel[kf.frame] = f"thumbs/{result.content_hash}/{name}"
        old = self.lookup(result.path)
        embedded = [k for k in result.keyframes if k.embedding is not None]
        removed: list[int] = []
        with self._transaction() as cur:
            if embedded:
                self._claim_model(cur, model, int(embedded[0].embedding.shape[0]))  # type: ignore[union-attr]
            if old is not None:
                removed = [int(r[0]) for r in cur.execute(
                    "SELECT id FROM keyframes WHERE video_id=?", (old[0],))]
                cur.execute("DELETE FROM videos WHERE id=?", (old[0],))
            cur.execute(
                """INSERT INTO videos (path, content_hash, settings, size_bytes, duration_s, fps,
                   frames, width, height, rotation, codec, start_time_s, vfr, model, damage,
                   ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (result.path, result.content_hash, settings, _size(result.path), info.duration_s,
                 info.fps, info.frames, info.width, info.height, info.rotation, info.codec,
                 info.start_time_s, int(info.vfr), model[0] if model and embedded else None,
                 json.dumps(list(result.damage)),
                 time.time()))
            vid = int(cur.lastrowid or 0)
            cur.executemany(
                """INSERT INTO shots VALUES (?,?,?,?,?,?,?,?)""",
                [(vid, s.index, s.start_frame, s.end_frame, s.start_s, s.end_s, s.transition_in,
                  s.transition_frames) for s in result.shots])
            cur.executemany(
                """INSERT INTO keyframes (video_id, shot_index, frame, time_s, width, height,
                   brightness, exposure, contrast, colourfulness, sharpness, faces, face_area,
                   composition, black, signals, face_boxes, thumbnail, pts, seek_pts)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                [(vid, k.shot_index, k.frame, k.time_s, k.width, k.height, k.signals.brightness,
                  k.signals.exposure, k.signals.contrast, k.signals.colourfulness,
                  k.signals.sharpness, k.signals.faces, k.signals.face_area,
                  k.signals.composition, int(k.signals.black), json.dumps(k.signals.as_json()),
                  json.dumps([f.__dict__ for f in k.face_boxes]), rel[k.frame], k.pts,
                  k.seek_pts)
                 for k in result.keyframes])
            ids = {int(r[1]): int(r[0]) for r in cur.execute(
                "SELECT id, frame FROM keyframes WHERE video_id=?", (vid,))}
            added = [ids[k.frame] for k in result.keyframes]
            cur.executemany("INSERT INTO vectors VALUES (?, ?)", [
                (ids[k.frame], np.ascontiguousarray(k.embedding, np.float32).tobytes())
                for k in embedded])
            if embedded or removed:
                cur.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)",
                            (str(self.generation() + 1),))
            cur.execute("DELETE FROM failures WHERE path=?", (result.path,))
        if old is not None and old[1] != result.content_hash:
            shutil.rmtree(self.root / "thumbs" / old[1], ignore_errors=True)
        return vid, removed, added

    def _claim_model(self, cur: sqlite3.Cursor, model: tuple[str, str] | None, dim: int) -> None:
        """Record the library's model on first use; refuse vectors of any other model."""
        if model is None:
            raise LibraryError("embeddings given without naming the model that made them")
        have = self.model()
        if have is None:
            cur.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                            [("model", model[0]), ("weights", model[1]), ("dim", str(dim))])
        elif have != model:
            raise LibraryError(model_mismatch(self.root, have, model))

    def replace_vectors(self, vectors: dict[int, np.ndarray], model: tuple[str, str],
                        config: str | None = None) -> None:
        """Swap every stored vector and the library's model in one transaction."""
        with self._transaction() as cur:
            cur.execute("DELETE FROM vectors")
            cur.executemany("INSERT INTO vectors VALUES (?, ?)", [
                (int(k), np.ascontiguousarray(v, np.float32).tobytes())
                for k, v in vectors.items()])
            dim = next(iter(vectors.values())).shape[0] if vectors else 0
            meta = [("model", model[0]), ("weights", model[1]), ("dim", str(dim)),
                    ("generation", str(self.generation() + 1))]
            if config:
                meta.append(("model_config", str(Path(config).resolve())))
            cur.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            cur.execute("UPDATE videos SET model=?", (model[0],))

    def register_candidates(self, rows: list[tuple[int, str, int, int, int, int]]) -> list[int]:
        """Stable ids for (keyframe, context, crop) candidates, created on first sight."""
        with self._transaction() as cur:
            cur.executemany("""INSERT OR IGNORE INTO candidates (keyframe_id, context, x, y, w, h)
                               VALUES (?,?,?,?,?,?)""", rows)
            ids = [int(cur.execute("""SELECT id FROM candidates WHERE keyframe_id=? AND context=?
                                      AND x=? AND y=? AND w=? AND h=?""", r).fetchone()[0])
                   for r in rows]
        return ids

    def record_ranks(self, rows: list[tuple[int, int, float]], at: float) -> None:
        self.conn.executemany(
            "UPDATE candidates SET last_rank=?, last_score=?, last_suggested_at=? WHERE id=?",
            [(rank, score, at, cid) for cid, rank, score in rows])

    def verdicts(self, video_id: int, context: str) -> dict[int, str]:
        """The latest editor verdict per candidate of a video in a context."""
        rows = self.conn.execute(
            """SELECT f.candidate_id, f.verdict FROM feedback f
               JOIN candidates c ON c.id = f.candidate_id
               JOIN keyframes k ON k.id = c.keyframe_id
               WHERE k.video_id=? AND f.context=? ORDER BY f.id""", (video_id, context))
        return {int(cid): str(v) for cid, v in rows}

    def add_feedback(self, candidate_id: int, verdict: str, note: str | None) -> dict[str, Any]:
        """Record an editor's verdict on a candidate, with its context and last rank."""
        if verdict not in ("accept", "reject"):
            raise UsageError(f"verdict must be accept or reject, got {verdict!r}")
        row = self.conn.execute(
            "SELECT context, last_rank, last_score, keyframe_id FROM candidates WHERE id=?",
            (int(candidate_id),)).fetchone()
        if row is None:
            raise UsageError(f"unknown candidate id {candidate_id}")
        at = time.time()
        self.conn.execute(
            """INSERT INTO feedback (candidate_id, context, verdict, note, rank, score,
               created_at) VALUES (?,?,?,?,?,?,?)""",
            (int(candidate_id), row[0], verdict, note, row[1], row[2], at))
        return {"candidate_id": int(candidate_id), "context": row[0], "verdict": verdict,
                "rank": row[1], "score": row[2], "keyframe_id": row[3], "note": note,
                "created_at": at}

    def record_failure(self, path: str, error: str, content_hash: str | None = None) -> None:
        self.conn.execute("INSERT OR REPLACE INTO failures VALUES (?,?,?,?)",
                          (path, content_hash, error, time.time()))


def model_mismatch(root: Path, have: tuple[str, str], want: tuple[str, str]) -> str:
    return (f"{root}: library vectors were made by {have[0]} ({have[1]}), not {want[0]} "
            f"({want[1]}); an index never mixes models. Re-embed the library with "
            f"`media-ml reembed --library {root} --model {want[0]}` or use --model {have[0]}")


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0

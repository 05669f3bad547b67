"""The SQLite catalog of a library: schema, migrations, typed reads and the writes.

``DIR/catalog.sqlite`` (WAL). One row per video, shot and keyframe (never per frame); keyframe
vectors as BLOBs; artwork candidates and editors' feedback. This module is the only one that
speaks SQL; rows leave it as frozen dataclasses (``Video``, ``Shot``, ``Keyframe``…).

What people put in is never lost:

* A video keeps its id when it is re-ingested (same path): its shots and keyframes are replaced
  in one transaction, candidates and verdicts are not deleted but re-linked to the new keyframe
  shown at the same time (``RELINK_TOLERANCE_S``), so a rejected picture stays rejected.
* Ids are ``AUTOINCREMENT``: an id once given to a video, keyframe, candidate or verdict is never
  given to anything else, so an old id can only miss, never land on another picture.
* Each committed version of a video has its own thumbnail folder (``thumbs/<token>/``), written
  before the transaction and removed only when no video refers to it any more.
* ``library_id`` (a UUID made with the catalog) and ``generation_id`` (a UUID per change of the
  vectors) let the index and other derived files prove which catalog state they reflect.

Readers open the file read-only and never take a write lock; schema migrations run only under
the library's writer lock (``lockfile.WriterLock``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from media_ml.errors import LibraryError, UsageError
from media_ml.lockfile import WriterLock, current_writer
from media_ml.types import Face, Keyframe, Shot, Signals, Video, VideoResult

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
CATALOG = "catalog.sqlite"
# A candidate whose keyframe disappeared in a re-ingest follows the new keyframe of the same
# video shown within this many seconds (the same moment; keyframe choice may move a few frames).
RELINK_TOLERANCE_S = 0.25
MAX_ID = 2**63 - 1


def busy_timeout_s() -> float:
    """How long a write waits for another process's transaction (``MEDIA_ML_LOCK_TIMEOUT_S``)."""
    try:
        value = float(os.environ.get("MEDIA_ML_LOCK_TIMEOUT_S", "30"))
    except ValueError:
        value = 30.0
    return value if 0 < value < 86400 else 30.0


_TABLES = {
    "meta": """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    "videos": """CREATE TABLE IF NOT EXISTS videos (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL UNIQUE,
        content_hash TEXT NOT NULL,
        settings TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        mtime_ns INTEGER,
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
        thumbs TEXT,
        ingested_at REAL NOT NULL
    )""",
    "shots": """CREATE TABLE IF NOT EXISTS shots (
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
    "keyframes": """CREATE TABLE IF NOT EXISTS keyframes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    "vectors": """CREATE TABLE IF NOT EXISTS vectors (
        keyframe_id INTEGER PRIMARY KEY REFERENCES keyframes(id) ON DELETE CASCADE,
        vector BLOB NOT NULL
    )""",
    # Keyframes whose vectors left the catalog, by the generation that removed them: what an
    # index built at an older generation must drop.
    "removed_vectors": """CREATE TABLE IF NOT EXISTS removed_vectors (
        keyframe_id INTEGER PRIMARY KEY, generation INTEGER NOT NULL
    )""",
    # A candidate outlives its keyframe (re-ingest): it keeps its video, time and frame and is
    # re-linked to the new keyframe shown at that time. Never deleted.
    "candidates": """CREATE TABLE IF NOT EXISTS candidates (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        video_id INTEGER NOT NULL REFERENCES videos(id),
        keyframe_id INTEGER REFERENCES keyframes(id) ON DELETE SET NULL,
        context TEXT NOT NULL,
        frame INTEGER NOT NULL,
        time_s REAL NOT NULL,
        x INTEGER NOT NULL, y INTEGER NOT NULL, w INTEGER NOT NULL, h INTEGER NOT NULL,
        last_rank INTEGER, last_score REAL, last_suggested_at REAL,
        UNIQUE (keyframe_id, context, x, y, w, h)
    )""",
    "feedback": """CREATE TABLE IF NOT EXISTS feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        candidate_id INTEGER NOT NULL REFERENCES candidates(id),
        context TEXT NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject')),
        note TEXT,
        rank INTEGER,
        score REAL,
        created_at REAL NOT NULL
    )""",
    "failures": """CREATE TABLE IF NOT EXISTS failures (
        path TEXT PRIMARY KEY, content_hash TEXT, error TEXT NOT NULL, failed_at REAL NOT NULL
    )""",
}
_INDEXES = [
    "CREATE INDEX IF NOT EXISTS keyframes_video ON keyframes(video_id, shot_index)",
    "CREATE INDEX IF NOT EXISTS feedback_candidate ON feedback(candidate_id)",
    "CREATE INDEX IF NOT EXISTS candidates_video ON candidates(video_id, context)",
    "CREATE INDEX IF NOT EXISTS removed_generation ON removed_vectors(generation)",
]
_VIDEO_COLS = ("id, path, content_hash, settings, size_bytes, duration_s, fps, frames, width, "
               "height, rotation, codec, start_time_s, vfr, model, damage, ingested_at")
_KEYFRAME_COLS = ("id, video_id, shot_index, frame, time_s, width, height, brightness, exposure, "
                  "contrast, colourfulness, sharpness, faces, face_area, composition, black, "
                  "signals, face_boxes, thumbnail, pts, seek_pts")


_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: Path) -> threading.Lock:
    """The process-wide lock of one catalog file (threads of a service write one at a time)."""
    key = str(path)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.Lock())


def _prefixed(prefix: str) -> str:
    return ", ".join(prefix + c.strip() for c in _KEYFRAME_COLS.split(","))


@dataclass(frozen=True)
class SourceState:
    """What the catalog knows of a video's source file, to tell whether it changed."""

    video_id: int
    path: str
    content_hash: str
    size_bytes: int
    mtime_ns: int | None


@dataclass(frozen=True)
class CommitResult:
    """What ``commit_video`` did: the (stable) video id, keyframe ids removed and added, and how
    many candidates were re-linked to the new keyframes."""

    video_id: int
    removed: tuple[int, ...]
    added: tuple[int, ...]
    relinked: int


@dataclass(frozen=True)
class KeyframeFilter:
    """Conditions on keyframes for browsing and for filtering search hits (None = any)."""

    video_id: int | None = None
    transition: str | None = None  # the shot's transition in: cut, dissolve, fade, wipe, none
    faces_min: int | None = None
    sharpness_min: float | None = None
    sharpness_max: float | None = None
    exposure_min: float | None = None
    exposure_max: float | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in self.__dict__.values())

    def sql(self) -> tuple[str, list[Any]]:
        terms: list[str] = ["1"]
        args: list[Any] = []
        if self.video_id is not None:
            terms.append("k.video_id = ?")
            args.append(int(self.video_id))
        if self.transition == "none":
            terms.append("s.transition_in IS NULL")
        elif self.transition is not None:
            terms.append("s.transition_in = ?")
            args.append(self.transition)
        for column, low, high in (("faces", self.faces_min, None),
                                  ("sharpness", self.sharpness_min, self.sharpness_max),
                                  ("exposure", self.exposure_min, self.exposure_max)):
            if low is not None:
                terms.append(f"k.{column} >= ?")
                args.append(low)
            if high is not None:
                terms.append(f"k.{column} <= ?")
                args.append(high)
        return " AND ".join(terms), args


@dataclass(frozen=True)
class CandidateRow:
    """A registered candidate (keyframe × context × crop)."""

    id: int
    video_id: int
    keyframe_id: int | None
    context: str
    frame: int
    time_s: float
    crop: tuple[int, int, int, int]
    last_rank: int | None
    last_score: float | None


@dataclass(frozen=True)
class Verdict:
    """An editor's accept/reject of a candidate, with what it looked like when judged."""

    id: int
    candidate_id: int
    video_id: int
    keyframe_id: int | None
    context: str
    verdict: str
    note: str | None
    rank: int | None
    score: float | None
    time_s: float
    created_at: float

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "candidate_id": self.candidate_id, "video_id": self.video_id,
                "keyframe_id": self.keyframe_id, "context": self.context,
                "verdict": self.verdict, "note": self.note, "rank": self.rank,
                "score": self.score, "time_s": round(self.time_s, 6),
                "created_at": self.created_at}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class Catalog:
    """The SQLite catalog of one library directory.

    ``readonly`` opens the file read-only: no lock is taken, nothing is written, and reads see
    the last committed state even while another process writes. ``create`` makes a new library
    when there is none (writers only).
    """

    def __init__(self, root: str | Path, *, create: bool = False, readonly: bool = False) -> None:
        self.root = Path(root)
        self.readonly = readonly
        self._kf_cache: dict[int, tuple[Any, tuple[Keyframe, ...]]] = {}
        db = self.root / CATALOG
        self.path = db
        if self.root.exists() and not self.root.is_dir():
            raise LibraryError(f"{self.root}: exists and is not a directory")
        empty = (f"{db}: the catalog is empty (0 bytes), so this is not a usable library (an "
                 f"interrupted copy?); restore it from a backup, or remove {db} to start afresh")
        unmade = not db.exists() or (db.is_file() and db.stat().st_size == 0)
        if unmade and not db.exists() and (readonly or not create):
            raise LibraryError(f"{self.root}: not a media-ml library (no {CATALOG})")
        if unmade and readonly:
            writer = current_writer(self.root)
            if writer is not None:  # a writer is making it right now
                raise LibraryError(f"{self.root}: not a media-ml library yet: it is being "
                                   f"created by {writer}")
            if _size(db) == 0:  # and not because its writer finished since we looked
                raise LibraryError(empty)
        if unmade and not readonly:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise LibraryError(f"{self.root}: cannot create the library: {e.strerror}") from e
            # Create under the writer lock: a second process creating the same library waits
            # for the schema instead of finding a 0-byte file half made.
            with WriterLock(self.root, wait=busy_timeout_s(), what="media-ml (new library)"):
                if db.is_file() and db.stat().st_size == 0:
                    raise LibraryError(empty)
                try:
                    self.conn = self._connect()
                    if self._schema_version() is None:
                        self._create()
                        # The schema sits in the WAL until a checkpoint; copy it into the main
                        # file before the lock goes, so no reader finds a 0-byte catalog.
                        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.DatabaseError as e:
                    raise LibraryError(f"{db}: cannot create catalog: {e}") from e
        try:
            if not hasattr(self, "conn"):
                self.conn = self._connect()
            version = self._schema_version()
            if version is None or version < SCHEMA_VERSION:
                self._upgrade(version)
            elif version > SCHEMA_VERSION:
                raise LibraryError(
                    f"{self.root}: library schema {version} is newer than this media-ml "
                    f"({SCHEMA_VERSION}); upgrade media-ml")
        except sqlite3.DatabaseError as e:
            raise LibraryError(f"{db}: cannot open catalog: {e}") from e

    # -- opening, migrations ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        timeout = busy_timeout_s()
        if self.readonly:
            uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                if os.access(self.root, os.W_OK):
                    raise  # a writable folder: a real error (or a writer mid-change), not storage
                # A library on read-only storage: WAL's shared-memory file cannot be made, and
                # no one can be writing it, so read it as an immutable file.
                conn.close()
                conn = sqlite3.connect(uri + "&immutable=1", uri=True, timeout=timeout,
                                       isolation_level=None, check_same_thread=False)
            return conn
        conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                               check_same_thread=False)
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _schema_version(self) -> int | None:
        # One statement, one snapshot: another process may commit the schema between two.
        tables = {r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'").fetchall()}
        if "meta" not in tables:
            if tables:
                raise LibraryError(f"{self.path}: an SQLite file, but not a media-ml catalog")
            return None
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 1

    def _upgrade(self, version: int | None) -> None:
        """Create or migrate the schema, under the writer lock, with write access."""
        if self.readonly:
            if not os.access(self.path, os.W_OK) or not os.access(self.root, os.W_OK):
                raise LibraryError(
                    f"{self.root}: library schema {version} needs upgrading to "
                    f"{SCHEMA_VERSION}, and the library is read-only here; open it once where "
                    f"it is writable (e.g. `media-ml repair --library {self.root}`)")
            self.conn.close()
            self.readonly = False
            try:
                self.conn = self._connect()
                self._upgrade(self._schema_version())
            finally:
                self.conn.close()
                self.readonly = True
            self.conn = self._connect()
            return
        with WriterLock(self.root, wait=busy_timeout_s(), what="media-ml (schema upgrade)"):
            version = self._schema_version()  # another process may have done it meanwhile
            if version is not None and version >= SCHEMA_VERSION:
                return
            if version is None:
                self._create()
            else:
                log.warning("%s: upgrading library schema %d -> %d", self.root, version,
                            SCHEMA_VERSION)
                migrate(self.conn, version)

    def _create(self) -> None:
        with self._transaction() as cur:
            for stmt in (*_TABLES.values(), *_INDEXES):
                cur.execute(stmt)
            cur.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
                ("schema_version", str(SCHEMA_VERSION)), ("library_id", uuid.uuid4().hex),
                ("generation", "0"), ("generation_id", uuid.uuid4().hex),
                ("created_at", str(time.time()))])

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction (taken at once, so writers queue): commit, or roll back on any
        exception."""
        if self.readonly:
            raise LibraryError(f"{self.root}: opened read-only")
        # Threads of one process queue here rather than in SQLite's busy handler, which polls
        # with sleeps of up to 100 ms (long tails for a service's concurrent requests).
        with _write_lock(self.path):
            yield from self._locked_transaction()

    def _locked_transaction(self) -> Iterator[sqlite3.Cursor]:
        cur = self.conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise LibraryError(_locked_message(self.path, e)) from e
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException as e:
            if self.conn.in_transaction:
                try:
                    cur.execute("ROLLBACK")
                except sqlite3.Error as e2:  # e.g. the disk is gone; SQLite rolls back itself
                    log.warning("%s: rollback failed: %s", self.path, e2)
            if isinstance(e, sqlite3.OperationalError):
                raise LibraryError(_locked_message(self.path, e)) from e
            if isinstance(e, sqlite3.DatabaseError):
                raise LibraryError(f"{self.path}: cannot write the catalog: {e}") from e
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- identity ------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as cur:
            cur.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def library_id(self) -> str:
        return self.meta("library_id") or ""

    def generation(self) -> int:
        """Bumped by every commit that changes vectors; derived files record the one they
        reflect (with ``generation_id`` and ``library_id``, so equal counters never fool)."""
        return int(self.meta("generation") or 0)

    def state(self) -> dict[str, Any]:
        """``library_id``, ``generation`` and ``generation_id`` in one consistent read."""
        rows = dict(self.conn.execute(
            "SELECT key, value FROM meta WHERE key IN "
            "('library_id', 'generation', 'generation_id')").fetchall())
        return {"library_id": rows.get("library_id", ""),
                "generation": int(rows.get("generation", 0)),
                "generation_id": rows.get("generation_id", "")}

    def model(self) -> tuple[str, str] | None:
        """``(model spec, weights identity)`` that made this library's vectors, if any."""
        name, weights = self.meta("model"), self.meta("weights")
        return (name, weights or "") if name else None

    def model_config(self) -> str | None:
        """The folder of extra open_clip model configs the library's model needs, if any."""
        return self.meta("model_config")

    # -- reads ---------------------------------------------------------------------------------

    def vectors(self, video_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` of the stored keyframe embeddings (all, or one video's)."""
        sql = "SELECT v.keyframe_id, v.vector FROM vectors v"
        args: Sequence[Any] = ()
        if video_id is not None:
            sql += " JOIN keyframes k ON k.id = v.keyframe_id WHERE k.video_id=?"
            args = (video_id,)
        return _stack(self.conn.execute(sql + " ORDER BY v.keyframe_id", args).fetchall())

    def vectors_sample(self, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """About ``max_rows`` stored vectors spread over the library (every k-th id), so fitting
        on a large library never loads all of it."""
        n = int(self.conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
        stride = max(1, -(-n // max(1, max_rows)))
        return _stack(self.conn.execute(
            "SELECT keyframe_id, vector FROM vectors WHERE keyframe_id % ? = 0 "
            "ORDER BY keyframe_id LIMIT ?", (stride, max_rows)).fetchall())

    def vectors_after(self, keyframe_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of keyframes with ids above ``keyframe_id`` (ids only grow: what was added
        since an index that held everything up to that id was made)."""
        return _stack(self.conn.execute(
            "SELECT keyframe_id, vector FROM vectors WHERE keyframe_id > ? ORDER BY keyframe_id",
            (int(keyframe_id),)).fetchall())

    def pending_since(self, keyframe_id: int, generation: int) -> int:
        """How many vectors were added (ids above ``keyframe_id``) or removed (after
        ``generation``): an index's pending delta, counted without reading vectors."""
        added = self.conn.execute("SELECT COUNT(*) FROM vectors WHERE keyframe_id > ?",
                                  (int(keyframe_id),)).fetchone()[0]
        removed = self.conn.execute("SELECT COUNT(*) FROM removed_vectors WHERE generation > ?",
                                    (int(generation),)).fetchone()[0]
        return int(added) + int(removed)

    def removed_since(self, generation: int) -> np.ndarray:
        """Keyframe ids whose vectors were removed after ``generation``."""
        rows = self.conn.execute("SELECT keyframe_id FROM removed_vectors WHERE generation > ?",
                                 (int(generation),)).fetchall()
        return np.fromiter((r[0] for r in rows), np.int64, len(rows))

    def max_keyframe_id(self) -> int:
        row = self.conn.execute("SELECT MAX(keyframe_id) FROM vectors").fetchone()
        return int(row[0] or 0)

    def vector(self, keyframe_id: int) -> np.ndarray | None:
        row = self.conn.execute("SELECT vector FROM vectors WHERE keyframe_id=?",
                                (_id(keyframe_id),)).fetchone()
        return None if row is None else np.frombuffer(row[0], np.float32).copy()

    def vector_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def keyframe_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM keyframes").fetchone()[0])

    def lookup(self, path: str) -> tuple[int, str, str] | None:
        """``(id, content_hash, settings)`` of the video at ``path``, if committed."""
        row = self.conn.execute(
            "SELECT id, content_hash, settings FROM videos WHERE path=?", (path,)).fetchone()
        return (int(row[0]), str(row[1]), str(row[2])) if row else None

    def videos(self, video_id: int | None = None) -> list[Video]:
        sql = """SELECT v.id, v.path, v.content_hash, v.duration_s, v.fps, v.frames, v.width,
                        v.height, v.rotation, v.model, v.damage,
                        (SELECT COUNT(*) FROM shots s WHERE s.video_id = v.id),
                        (SELECT COUNT(*) FROM keyframes k WHERE k.video_id = v.id)
                 FROM videos v"""
        args: Sequence[Any] = ()
        if video_id is not None:
            sql += " WHERE v.id=?"
            args = (_id(video_id),)
        rows = self.conn.execute(sql + " ORDER BY v.id", args).fetchall()
        return [Video(id=r[0], path=r[1], content_hash=r[2], duration_s=r[3], fps=r[4],
                      frames=r[5], width=r[6], height=r[7], rotation=r[8], model=r[9],
                      damage=tuple(json.loads(r[10])), shots=r[11], keyframes=r[12])
                for r in rows]

    def video_paths(self, ids: Sequence[int]) -> dict[int, str]:
        """``{video id: path}`` of the given videos (cheap: no counts)."""
        keys = sorted({int(i) for i in ids})
        out: dict[int, str] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            out.update((int(r[0]), str(r[1])) for r in self.conn.execute(
                f"SELECT id, path FROM videos WHERE id IN ({','.join('?' * len(chunk))})",
                chunk))
        return out

    def video(self, video_id: int) -> Video | None:
        found = self.videos(video_id)
        return found[0] if found else None

    def source(self, video_id: int) -> SourceState | None:
        row = self.conn.execute(
            "SELECT id, path, content_hash, size_bytes, mtime_ns FROM videos WHERE id=?",
            (_id(video_id),)).fetchone()
        return SourceState(int(row[0]), str(row[1]), str(row[2]), int(row[3]),
                           None if row[4] is None else int(row[4])) if row else None

    def shots(self, video_id: int) -> list[Shot]:
        rows = self.conn.execute(
            """SELECT idx, start_frame, end_frame, start_s, end_s, transition_in,
                      transition_frames FROM shots WHERE video_id=? ORDER BY idx""",
            (_id(video_id),)).fetchall()
        return [Shot(index=r[0], start_frame=r[1], end_frame=r[2], start_s=r[3], end_s=r[4],
                     transition_in=r[5], transition_frames=r[6]) for r in rows]

    def keyframes(self, video_id: int | None = None) -> list[Keyframe]:
        """Keyframes (of one video), by video and frame. One video's list is remembered per
        committed version of the video (its thumbnail folder and ingest time name it)."""
        if video_id is None:
            return [self._keyframe(r) for r in self.conn.execute(
                f"SELECT {_KEYFRAME_COLS} FROM keyframes ORDER BY video_id, frame").fetchall()]
        vid = _id(video_id)
        version = self.conn.execute("SELECT thumbs, ingested_at FROM videos WHERE id=?",
                                    (vid,)).fetchone()
        key = (vid, tuple(version) if version else None)
        held = self._kf_cache.get(vid)
        if held is not None and held[0] == key:
            return list(held[1])
        rows = [self._keyframe(r) for r in self.conn.execute(
            f"SELECT {_KEYFRAME_COLS} FROM keyframes WHERE video_id=? ORDER BY frame",
            (vid,)).fetchall()]
        if len(self._kf_cache) >= 256:
            self._kf_cache.pop(next(iter(self._kf_cache)))
        self._kf_cache[vid] = (key, tuple(rows))
        return rows

    def keyframes_by_id(self, ids: Sequence[int]) -> dict[int, Keyframe]:
        out: dict[int, Keyframe] = {}
        keys = [int(i) for i in ids]
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            for r in self.conn.execute(
                    f"SELECT {_KEYFRAME_COLS} FROM keyframes "
                    f"WHERE id IN ({','.join('?' * len(chunk))})", chunk).fetchall():
                out[int(r[0])] = self._keyframe(r)
        return out

    def browse_keyframes(self, where: KeyframeFilter, offset: int, limit: int
                         ) -> list[Keyframe]:
        """A page of keyframes matching ``where`` (by video, then time): browsing without a
        query."""
        sql, args = where.sql()
        rows = self.conn.execute(
            f"SELECT {_prefixed('k.')} FROM keyframes k LEFT JOIN shots s "
            f"ON s.video_id = k.video_id AND s.idx = k.shot_index WHERE {sql} "
            "ORDER BY k.video_id, k.frame LIMIT ? OFFSET ?",
            (*args, int(limit), int(offset))).fetchall()
        return [self._keyframe(r) for r in rows]

    def matching_keyframes(self, ids: Sequence[int], where: KeyframeFilter) -> set[int]:
        """Which of ``ids`` match ``where``."""
        sql, args = where.sql()
        out: set[int] = set()
        keys = [int(i) for i in ids]
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            out.update(int(r[0]) for r in self.conn.execute(
                "SELECT k.id FROM keyframes k LEFT JOIN shots s ON s.video_id = k.video_id "
                f"AND s.idx = k.shot_index WHERE k.id IN ({','.join('?' * len(chunk))}) "
                f"AND {sql}", (*chunk, *args)))
        return out

    def _keyframe(self, r: Sequence[Any]) -> Keyframe:
        faces = tuple(Face(int(f["x"]), int(f["y"]), int(f["w"]), int(f["h"]))
                      for f in json.loads(r[17]))
        return Keyframe(id=int(r[0]), video_id=int(r[1]), shot_index=int(r[2]), frame=int(r[3]),
                        time_s=float(r[4]), width=int(r[5]), height=int(r[6]),
                        signals=Signals.from_json(json.loads(r[16])), faces=faces,
                        thumbnail=f"{self.root}{os.sep}{r[18]}",
                        pts=None if r[19] is None else int(r[19]),
                        seek_pts=None if r[20] is None else int(r[20]))

    def has_keyframe(self, keyframe_id: int) -> bool:
        return self.conn.execute("SELECT 1 FROM keyframes WHERE id=?",
                                 (_id(keyframe_id),)).fetchone() is not None

    def failures(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in
                self.conn.execute("SELECT path, error FROM failures ORDER BY path")]

    def thumbnail_folders(self) -> set[str]:
        """Thumbnail folders (relative to the library) that some video still refers to."""
        folders = {str(Path(r[0]).parent) for r in
                   self.conn.execute("SELECT thumbnail FROM keyframes").fetchall()}
        folders |= {str(r[0]) for r in
                    self.conn.execute("SELECT thumbs FROM videos WHERE thumbs IS NOT NULL")}
        return folders

    # -- candidates and verdicts ---------------------------------------------------------------

    def candidate(self, candidate_id: int) -> CandidateRow | None:
        row = self.conn.execute(
            """SELECT id, video_id, keyframe_id, context, frame, time_s, x, y, w, h, last_rank,
                      last_score FROM candidates WHERE id=?""", (_id(candidate_id),)).fetchone()
        if row is None:
            return None
        return CandidateRow(int(row[0]), int(row[1]), None if row[2] is None else int(row[2]),
                            str(row[3]), int(row[4]), float(row[5]),
                            (int(row[6]), int(row[7]), int(row[8]), int(row[9])), row[10],
                            row[11])

    def verdicts(self, video_id: int, context: str) -> dict[int, str]:
        """The latest editor verdict per candidate of a video in a context."""
        rows = self.conn.execute(
            """SELECT f.candidate_id, f.verdict FROM feedback f
               JOIN candidates c ON c.id = f.candidate_id
               WHERE c.video_id=? AND f.context=? ORDER BY f.id""", (_id(video_id), context))
        return {int(cid): str(v) for cid, v in rows}

    def candidates_token(self, video_id: int, context: str) -> tuple[Any, ...]:
        """Changes whenever a video's candidates for a context may change: a re-ingest or
        re-embed of the video, or a new verdict on it in that context (one cheap read)."""
        row = self.conn.execute(
            """SELECT v.thumbs, v.ingested_at, v.model,
                      (SELECT value FROM meta WHERE key='generation_id'),
                      (SELECT MAX(f.id) FROM feedback f JOIN candidates c
                       ON c.id = f.candidate_id WHERE c.video_id = v.id AND f.context = ?)
               FROM videos v WHERE v.id = ?""", (context, _id(video_id))).fetchone()
        return tuple(row) if row is not None else ()

    def keyframe_verdicts(self, video_id: int, context: str) -> dict[int, str]:
        """The latest verdict per keyframe of a video in a context (whatever the crop was)."""
        rows = self.conn.execute(
            """SELECT c.keyframe_id, f.verdict FROM feedback f
               JOIN candidates c ON c.id = f.candidate_id
               WHERE c.video_id=? AND f.context=? AND c.keyframe_id IS NOT NULL
               ORDER BY f.id""", (_id(video_id), context))
        return {int(kid): str(v) for kid, v in rows}

    def feedback(self, video_id: int | None = None) -> list[Verdict]:
        """Every verdict (of one video), oldest first."""
        sql = """SELECT f.id, f.candidate_id, c.video_id, c.keyframe_id, f.context, f.verdict,
                        f.note, f.rank, f.score, c.time_s, f.created_at
                 FROM feedback f JOIN candidates c ON c.id = f.candidate_id"""
        args: Sequence[Any] = ()
        if video_id is not None:
            sql += " WHERE c.video_id=?"
            args = (_id(video_id),)
        return [Verdict(int(r[0]), int(r[1]), int(r[2]), None if r[3] is None else int(r[3]),
                        str(r[4]), str(r[5]), r[6], r[7], r[8], float(r[9]), float(r[10]))
                for r in self.conn.execute(sql + " ORDER BY f.id", args).fetchall()]

    def _known_candidates(self, rows: list[tuple[int, str, int, int, int, int]]
                          ) -> dict[tuple[Any, ...], int]:
        """Ids of the already registered ones among ``rows``, in one query per context."""
        out: dict[tuple[Any, ...], int] = {}
        kids = sorted({int(r[0]) for r in rows})
        for ctx in {r[1] for r in rows}:
            for i in range(0, len(kids), 500):
                chunk = kids[i : i + 500]
                for cid, kid, x, y, w, h in self.conn.execute(
                        "SELECT id, keyframe_id, x, y, w, h FROM candidates WHERE context=? AND "
                        f"keyframe_id IN ({','.join('?' * len(chunk))})", (ctx, *chunk)):
                    out[(int(kid), ctx, int(x), int(y), int(w), int(h))] = int(cid)
        return out

    def register_candidates(self, rows: list[tuple[int, str, int, int, int, int]]) -> list[int]:
        """Stable ids for (keyframe, context, crop) candidates, created on first sight."""
        if not rows:
            return []
        find = """SELECT id FROM candidates WHERE keyframe_id=? AND context=? AND x=? AND y=?
                  AND w=? AND h=?"""
        known = self._known_candidates(rows)
        if all(tuple(r) in known for r in rows):
            return [known[tuple(r)] for r in rows]
        with self._transaction() as cur:
            cur.executemany(
                """INSERT OR IGNORE INTO candidates (video_id, keyframe_id, context, frame, time_s,
                   x, y, w, h) SELECT video_id, id, ?, frame, time_s, ?, ?, ?, ?
                   FROM keyframes WHERE id=?""",
                [(ctx, x, y, w, h, kid) for kid, ctx, x, y, w, h in rows])
            ids = [cur.execute(find, r).fetchone() for r in rows]
        if any(i is None for i in ids):
            raise LibraryError("a keyframe of these candidates left the catalog meanwhile "
                               "(a concurrent re-ingest); ask again")
        return [int(i[0]) for i in ids if i is not None]

    def record_ranks(self, rows: list[tuple[int, int, float]], at: float) -> None:
        """Remember each candidate's latest rank and score (a verdict records them). Nothing
        is written when they are what the catalog holds already: a page asking for the same
        suggestions again never waits for the write lock."""
        if self.readonly or not rows:
            return
        ids = [cid for cid, _, _ in rows]
        held = {int(r[0]): (r[1], r[2]) for r in self.conn.execute(
            f"SELECT id, last_rank, last_score FROM candidates WHERE id IN "
            f"({','.join('?' * len(ids))})", ids)}
        if all(held.get(cid) == (rank, score) for cid, rank, score in rows):
            return
        with self._transaction() as cur:
            cur.executemany(
                "UPDATE candidates SET last_rank=?, last_score=?, last_suggested_at=? WHERE id=?",
                [(rank, score, at, cid) for cid, rank, score in rows])

    def add_feedback(self, candidate_id: int, verdict: str, note: str | None) -> Verdict:
        """Record an editor's verdict on a candidate, with its context and last rank."""
        if verdict not in ("accept", "reject"):
            raise UsageError(f"verdict must be accept or reject, got {verdict!r}")
        with self._transaction() as cur:
            row = cur.execute(
                """SELECT context, last_rank, last_score, keyframe_id, video_id, time_s
                   FROM candidates WHERE id=?""", (_id(candidate_id),)).fetchone()
            if row is None:
                raise UsageError(f"unknown candidate id {candidate_id}")
            at = time.time()
            cur.execute(
                """INSERT INTO feedback (candidate_id, context, verdict, note, rank, score,
                   created_at) VALUES (?,?,?,?,?,?,?)""",
                (int(candidate_id), row[0], verdict, note, row[1], row[2], at))
            fid = int(cur.lastrowid or 0)
        return Verdict(fid, int(candidate_id), int(row[4]),
                       None if row[3] is None else int(row[3]), str(row[0]), verdict, note,
                       row[1], row[2], float(row[5]), at)

    # -- writes --------------------------------------------------------------------------------

    def commit_video(
        self, result: VideoResult, settings: str, model: tuple[str, str] | None = None
    ) -> CommitResult:
        """Write a video and everything of it in one transaction, replacing an older version.

        ``model`` is ``(spec, weights identity)`` of the keyframes' embeddings. The video keeps
        its id; candidates of the old keyframes are re-linked to the new ones (verdicts kept).
        """
        info = result.info
        folder = f"thumbs/{uuid.uuid4().hex[:16]}"
        thumb_dir = self.root / folder
        rel: dict[int, str] = {}
        try:
            thumb_dir.mkdir(parents=True, exist_ok=True)
            for kf in result.keyframes:
                name = f"{kf.frame:08d}.jpg"
                tmp = thumb_dir / f".{name}.tmp"
                tmp.write_bytes(kf.thumbnail)
                os.replace(tmp, thumb_dir / name)
                rel[kf.frame] = f"{folder}/{name}"
        except OSError as e:
            shutil.rmtree(thumb_dir, ignore_errors=True)
            raise LibraryError(f"{self.root}: cannot write thumbnails: {e.strerror or e}") from e
        embedded = [k for k in result.keyframes if k.embedding is not None]
        size, mtime = _stat(result.path)
        old_folder: str | None = None
        try:
            with self._transaction() as cur:
                if embedded:
                    self._claim_model(cur, model, int(embedded[0].embedding.shape[0]))  # type: ignore[union-attr]
                elif model is None and cur.execute("SELECT 1 FROM vectors LIMIT 1").fetchone():
                    raise LibraryError(
                        f"{self.root}: the library holds embeddings; a video without them "
                        f"would be unsearchable")
                old = cur.execute("SELECT id, thumbs FROM videos WHERE path=?",
                                  (result.path,)).fetchone()
                values = (result.content_hash, settings, size, mtime, info.duration_s, info.fps,
                          info.frames, info.width, info.height, info.rotation, info.codec,
                          info.start_time_s, int(info.vfr),
                          model[0] if model and embedded else None,
                          json.dumps(list(result.damage)), folder, time.time())
                removed: list[int] = []
                if old is not None:
                    vid, old_folder = int(old[0]), old[1]
                    removed = [int(r[0]) for r in cur.execute(
                        """SELECT k.id FROM keyframes k JOIN vectors v ON v.keyframe_id = k.id
                           WHERE k.video_id=?""", (vid,))]
                    cur.execute("DELETE FROM keyframes WHERE video_id=?", (vid,))
                    cur.execute("DELETE FROM shots WHERE video_id=?", (vid,))
                    cur.execute(
                        """UPDATE videos SET content_hash=?, settings=?, size_bytes=?, mtime_ns=?,
                           duration_s=?, fps=?, frames=?, width=?, height=?, rotation=?, codec=?,
                           start_time_s=?, vfr=?, model=?, damage=?, thumbs=?, ingested_at=?
                           WHERE id=?""", (*values, vid))
                else:
                    cur.execute(
                        """INSERT INTO videos (content_hash, settings, size_bytes, mtime_ns,
                           duration_s, fps, frames, width, height, rotation, codec, start_time_s,
                           vfr, model, damage, thumbs, ingested_at, path)
                           VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                        (*values, result.path))
                    vid = int(cur.lastrowid or 0)
                cur.executemany(
                    """INSERT INTO shots VALUES (?,?,?,?,?,?,?,?)""",
                    [(vid, s.index, s.start_frame, s.end_frame, s.start_s, s.end_s,
                      s.transition_in, s.transition_frames) for s in result.shots])
                cur.executemany(
                    """INSERT INTO keyframes (video_id, shot_index, frame, time_s, width, height,
                       brightness, exposure, contrast, colourfulness, sharpness, faces,
                       face_area, composition, black, signals, face_boxes, thumbnail, pts,
                       seek_pts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                    [(vid, k.shot_index, k.frame, k.time_s, k.width, k.height,
                      k.signals.brightness, k.signals.exposure, k.signals.contrast,
                      k.signals.colourfulness, k.signals.sharpness, k.signals.faces,
                      k.signals.face_area, k.signals.composition, int(k.signals.black),
                      json.dumps(k.signals.as_json()),
                      json.dumps([f.__dict__ for f in k.face_boxes]), rel[k.frame], k.pts,
                      k.seek_pts)
                     for k in result.keyframes])
                ids = {int(r[1]): int(r[0]) for r in cur.execute(
                    "SELECT id, frame FROM keyframes WHERE video_id=?", (vid,))}
                added = [ids[k.frame] for k in embedded]
                cur.executemany("INSERT INTO vectors VALUES (?, ?)", [
                    (ids[k.frame], np.ascontiguousarray(k.embedding, np.float32).tobytes())
                    for k in embedded])
                if embedded or removed:
                    gen = int(cur.execute(
                        "SELECT value FROM meta WHERE key='generation'").fetchone()[0]) + 1
                    cur.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
                        ("generation", str(gen)), ("generation_id", uuid.uuid4().hex)])
                    cur.executemany("INSERT OR REPLACE INTO removed_vectors VALUES (?, ?)",
                                    [(k, gen) for k in removed])
                relinked = _relink(cur, vid) if old is not None else 0
                cur.execute("DELETE FROM failures WHERE path=?", (result.path,))
        except BaseException:
            shutil.rmtree(thumb_dir, ignore_errors=True)
            raise
        if old_folder and old_folder != folder:
            self._drop_folder_if_unused(old_folder)
        return CommitResult(vid, tuple(removed), tuple(added), relinked)

    def _drop_folder_if_unused(self, folder: str) -> None:
        """Remove a thumbnail folder no video refers to any more (never a shared one)."""
        like = folder.rstrip("/") + "/%"
        used = self.conn.execute(
            "SELECT 1 FROM keyframes WHERE thumbnail LIKE ? LIMIT 1", (like,)).fetchone()
        used = used or self.conn.execute(
            "SELECT 1 FROM videos WHERE thumbs=? LIMIT 1", (folder,)).fetchone()
        if not used:
            shutil.rmtree(self.root / folder, ignore_errors=True)

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
            gen = int(cur.execute(
                "SELECT value FROM meta WHERE key='generation'").fetchone()[0]) + 1
            cur.execute("""INSERT OR REPLACE INTO removed_vectors
                           SELECT keyframe_id, ? FROM vectors""", (gen,))
            cur.execute("DELETE FROM vectors")
            cur.executemany("INSERT INTO vectors VALUES (?, ?)", [
                (int(k), np.ascontiguousarray(v, np.float32).tobytes())
                for k, v in vectors.items()])
            cur.execute("DELETE FROM removed_vectors WHERE keyframe_id IN "
                        "(SELECT keyframe_id FROM vectors)")
            dim = next(iter(vectors.values())).shape[0] if vectors else 0
            meta = [("model", model[0]), ("weights", model[1]), ("dim", str(dim)),
                    ("generation", str(gen)), ("generation_id", uuid.uuid4().hex)]
            cur.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            if config:
                cur.execute("INSERT OR REPLACE INTO meta VALUES ('model_config', ?)",
                            (str(Path(config).resolve()),))
            else:
                cur.execute("DELETE FROM meta WHERE key='model_config'")
            cur.execute("UPDATE videos SET model=?", (model[0],))

    def note_source(self, video_id: int, size: int, mtime_ns: int) -> None:
        """Remember the stat of a source file whose content was found unchanged."""
        if self.readonly:
            return
        with self._transaction() as cur:
            cur.execute("UPDATE videos SET size_bytes=?, mtime_ns=? WHERE id=?",
                        (size, mtime_ns, video_id))

    def record_failure(self, path: str, error: str, content_hash: str | None = None) -> None:
        with self._transaction() as cur:
            cur.execute("INSERT OR REPLACE INTO failures VALUES (?,?,?,?)",
                        (path, content_hash, error, time.time()))

    def integrity(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])


def _relink(cur: sqlite3.Cursor, video_id: int) -> int:
    """Point each orphaned candidate of a video at the new keyframe shown at the same time."""
    orphans = cur.execute(
        """SELECT id, context, time_s, x, y, w, h FROM candidates
           WHERE video_id=? AND keyframe_id IS NULL""", (video_id,)).fetchall()
    if not orphans:
        return 0
    kfs = cur.execute("SELECT id, time_s, frame FROM keyframes WHERE video_id=?",
                      (video_id,)).fetchall()
    n = 0
    # Candidates with verdicts first, so a judged picture wins a shared keyframe.
    judged = {int(r[0]) for r in cur.execute(
        """SELECT DISTINCT candidate_id FROM feedback f JOIN candidates c
           ON c.id = f.candidate_id WHERE c.video_id=?""", (video_id,))}
    for cid, context, t, x, y, w, h in sorted(orphans, key=lambda o: (o[0] not in judged, o[0])):
        near = [k for k in kfs if abs(float(k[1]) - float(t)) <= RELINK_TOLERANCE_S]
        if not near:
            continue
        kid, kt, kframe = min(near, key=lambda k: abs(float(k[1]) - float(t)))
        clash = cur.execute(
            """SELECT 1 FROM candidates WHERE keyframe_id=? AND context=? AND x=? AND y=?
               AND w=? AND h=?""", (kid, context, x, y, w, h)).fetchone()
        if clash:
            continue
        cur.execute("UPDATE candidates SET keyframe_id=?, frame=?, time_s=? WHERE id=?",
                    (kid, kframe, kt, cid))
        n += 1
    return n


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a catalog of schema ``version`` (1 or 2) to ``SCHEMA_VERSION`` in one transaction.

    v1 → v2 added where to decode each keyframe (``pts``, ``seek_pts``). v2 → v3 makes ids
    never reused (``AUTOINCREMENT``), lets candidates and verdicts outlive a re-ingest, records
    each video's source stat and thumbnail folder, and gives the catalog its identity. Tables
    are rebuilt the way SQLite documents (new table, copy, drop, rename) with foreign keys off.
    """
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _V2_TABLES:  # v1 catalogs may predate vectors, candidates, feedback
                cur.execute(stmt)
            cols = {r[1] for r in cur.execute("PRAGMA table_info(keyframes)")}
            for col in ("pts", "seek_pts"):
                if col not in cols:
                    cur.execute(f"ALTER TABLE keyframes ADD COLUMN {col} INTEGER")
            for name in ("videos", "keyframes", "candidates", "feedback"):
                cur.execute(_TABLES[name].replace(f"IF NOT EXISTS {name}", f"{name}_v3"))
            cur.execute(f"""INSERT INTO videos_v3 ({_VIDEO_COLS}, mtime_ns, thumbs)
                            SELECT {_VIDEO_COLS}, NULL, 'thumbs/' || content_hash FROM videos""")
            cur.execute(f"INSERT INTO keyframes_v3 ({_KEYFRAME_COLS}) "
                        f"SELECT {_KEYFRAME_COLS} FROM keyframes")
            cur.execute("""INSERT INTO candidates_v3 (id, video_id, keyframe_id, context, frame,
                           time_s, x, y, w, h, last_rank, last_score, last_suggested_at)
                           SELECT c.id, k.video_id, c.keyframe_id, c.context, k.frame, k.time_s,
                                  c.x, c.y, c.w, c.h, c.last_rank, c.last_score,
                                  c.last_suggested_at
                           FROM candidates c JOIN keyframes k ON k.id = c.keyframe_id""")
            cur.execute("""INSERT INTO feedback_v3 SELECT f.* FROM feedback f
                           WHERE f.candidate_id IN (SELECT id FROM candidates_v3)""")
            for name in ("feedback", "candidates", "keyframes", "videos"):
                cur.execute(f"DROP TABLE {name}")
            for name in ("videos", "keyframes", "candidates", "feedback"):
                cur.execute(f"ALTER TABLE {name}_v3 RENAME TO {name}")
            for stmt in (*_TABLES.values(), *_INDEXES):
                cur.execute(stmt)
            bad = cur.execute("PRAGMA foreign_key_check").fetchall()
            if bad:
                raise LibraryError(f"migration would break {len(bad)} references: {bad[:3]}")
            existing = dict(cur.execute("SELECT key, value FROM meta").fetchall())
            cur.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
                ("schema_version", str(SCHEMA_VERSION)),
                ("library_id", existing.get("library_id") or uuid.uuid4().hex),
                ("generation", existing.get("generation") or "0"),
                ("generation_id", uuid.uuid4().hex)])
            _refingerprint_legacy(cur)
            cur.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                cur.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA foreign_keys=ON")


_V2_TABLES = (
    _TABLES["vectors"],
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
        note TEXT, rank INTEGER, score REAL, created_at REAL NOT NULL
    )""",
)


def _refingerprint_legacy(cur: sqlite3.Cursor) -> None:
    """Videos ingested with default settings before fingerprints were versioned keep counting
    as unchanged (their old fingerprint was the ``repr`` of the then-default configs)."""
    import hashlib

    from media_ml.extractors.clip import ModelSpec
    from media_ml.pipeline import LEGACY_DEFAULT_REPR, IngestSettings

    rows = cur.execute("SELECT id, settings, model FROM videos").fetchall()
    for vid, settings, model in rows:
        legacy = hashlib.blake2b(LEGACY_DEFAULT_REPR.format(model=repr(model)).encode(),
                                 digest_size=8).hexdigest()
        if settings == legacy:
            spec = ModelSpec.parse(model) if model else None
            fp = IngestSettings(model=spec).fingerprint(version=1)  # what analysed it
            cur.execute("UPDATE videos SET settings=? WHERE id=?", (fp, vid))


def model_mismatch(root: Path, have: tuple[str, str], want: tuple[str, str]) -> str:
    """Why vectors of ``want`` cannot join a library of ``have``, and what to run."""
    if have[0] == want[0]:
        return (f"{root}: the weights of {want[0]} changed since the library's vectors were "
                f"made ({have[1][:23]}… then, {want[1][:23]}… now); an index never mixes "
                f"models. Re-embed the whole library with the weights you mean: "
                f"`media-ml reembed --library {root} --model SPEC`")
    return (f"{root}: library vectors were made by {have[0]} ({have[1]}), not {want[0]} "
            f"({want[1]}); an index never mixes models. To switch the library to {want[0]}, "
            f"re-embed it: `media-ml reembed --library {root} --model {want[0]}`; or ingest "
            f"with the library's model (leave out --model)")


def _locked_message(db: Path, e: sqlite3.OperationalError) -> str:
    text = str(e)
    if "locked" in text or "busy" in text:
        return (f"{db}: another process has held the catalog's write lock for more than "
                f"{busy_timeout_s():g}s ({text}); try again when it is done")
    if "full" in text or "I/O" in text:
        return (f"{db}: cannot write the catalog: {text} (is the disk full?); nothing of this "
                f"write was kept")
    return f"{db}: cannot write the catalog: {text}"


def _stack(rows: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    return ids, np.stack([np.frombuffer(r[1], np.float32) for r in rows])


def _id(value: int) -> int:
    v = int(value)
    if not 0 <= v <= MAX_ID:
        raise UsageError(f"id {value} is out of range")
    return v


def _stat(path: str) -> tuple[int, int | None]:
    try:
        st = os.stat(path)
    except OSError:
        return 0, None
    return int(st.st_size), int(st.st_mtime_ns)

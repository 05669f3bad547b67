"""The decision log: every decision and reward, durable before ``choose`` returns.

``DIR/decisions.sqlite`` (WAL) holds, per decision, the member context, the arms with the features
the policy saw (deduplicated as *arm sets*), the chosen arm, its propensity and the whole
distribution, the policy and version that decided, whether it explored, and whether it was served
by the policy or by the editorial fallback. Rewards are rows of their own, joined by decision id,
so a late or repeated reward never rewrites a decision; the aggregation rule (first or sum) and the
default reward after the wait time are applied when rewards are read.

Why a second SQLite file beside ``catalog.sqlite`` (see docs/decisions.md): decisions are many
tiny appends from serving processes that must never wait behind an ingest's per-video
transaction, and the catalog's writer lock is for ingest-sized work. A commit in WAL mode is durable
against a crash or ``kill -9`` of the process as soon as it returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media_ml.errors import DecisionExpiredError, LibraryError, NotFoundError, UsageError
from media_ml.personalize.features import Arm, Member, check_kinds, member_kinds
from media_ml.validate import INT64_MAX, show

LOG_FILE = "decisions.sqlite"
SCHEMA_VERSION = 1
MAX_ABS_REWARD = 1e6

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS member_schema (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('numeric', 'categorical')))""",
    """CREATE TABLE IF NOT EXISTS arm_sets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        digest TEXT NOT NULL UNIQUE,
        arms TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        expires_at REAL NOT NULL,
        video_id INTEGER NOT NULL,
        context TEXT NOT NULL,
        member TEXT NOT NULL,
        arm_set_id INTEGER NOT NULL REFERENCES arm_sets(id),
        action INTEGER NOT NULL CHECK (action >= 0),
        candidate_id INTEGER NOT NULL,
        propensity REAL NOT NULL CHECK (propensity > 0 AND propensity <= 1),
        probabilities TEXT NOT NULL,
        policy TEXT NOT NULL,
        policy_version INTEGER NOT NULL,
        explored INTEGER NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('policy', 'fallback')),
        reason TEXT,
        learned_in INTEGER)""",
    """CREATE TABLE IF NOT EXISTS rewards (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        decision_id INTEGER NOT NULL REFERENCES decisions(id),
        value REAL NOT NULL,
        at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS rewards_decision ON rewards(decision_id)",
    "CREATE INDEX IF NOT EXISTS decisions_learning ON decisions(learned_in, id)",
)


@dataclass(frozen=True)
class DecisionRecord:
    """A logged decision with its reward as the aggregation rule reads it.

    ``reward`` is None while the decision waits for one; after the wait time without a reward it
    is the default reward (``reward_status`` says which: pending, rewarded, default).
    """

    decision_id: int
    at: float
    video_id: int
    context: str
    member: Member
    candidate_id: int
    action: int
    propensity: float
    probabilities: tuple[float, ...]
    arms: tuple[Arm, ...]
    policy: str
    policy_version: int
    explored: bool
    mode: str
    reason: str | None
    reward: float | None
    reward_count: int
    reward_status: str
    learned_in: int | None

    def as_json(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, "at": self.at, "video_id": self.video_id,
                "context": self.context, "member": self.member,
                "candidate_id": self.candidate_id, "action": self.action,
                "propensity": self.propensity,
                "ranking": [{"candidate_id": a.candidate_id, "probability": p,
                             "editorial_rank": a.rank}
                            for a, p in zip(self.arms, self.probabilities, strict=True)],
                "policy": self.policy, "policy_version": self.policy_version,
                "explored": self.explored, "mode": self.mode, "reason": self.reason,
                "reward": self.reward, "reward_count": self.reward_count,
                "reward_status": self.reward_status, "learned_in": self.learned_in}


def reward_value(value: object, name: str = "reward") -> float:
    """A finite reward of magnitude at most 1e6."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{name} must be a finite number, got {show(value)}")
    v = float(value)
    if not math.isfinite(v) or abs(v) > MAX_ABS_REWARD:
        raise UsageError(f"{name} must be a finite number of magnitude at most 1e6, "
                         f"got {show(value)}")
    return v


def decision_id_value(value: object, name: str = "decision id") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT64_MAX:
        if isinstance(value, str) and value.strip().isdigit():
            return decision_id_value(int(value.strip()), name)
        raise UsageError(f"{name} must be a positive integer, got {show(value)}")
    return value


class DecisionLog:
    """Append decisions and rewards; read them back with rewards aggregated."""

    def __init__(self, root: str | Path, library_id: str, *, aggregation: str = "first",
                 readonly: bool = False, clock: Callable[[], float] = time.time,
                 timeout_s: float = 30.0) -> None:
        self.path = Path(root) / LOG_FILE
        self.aggregation = aggregation
        self.clock = clock
        self.readonly = readonly
        self._arm_sets: dict[str, int] = {}
        self._schema: dict[str, str] | None = None
        # One connection shared by a process's threads (a service): a transaction must not
        # interleave with another thread's statements.
        self._mutex = threading.RLock()
        if readonly and not self.path.exists():
            self.conn = sqlite3.connect(":memory:", isolation_level=None,
                                        check_same_thread=False)
            for stmt in _SCHEMA:
                self.conn.execute(stmt)
            return
        try:
            uri = f"file:{self.path}?mode={'ro' if readonly else 'rwc'}"
            self.conn = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None,
                                        check_same_thread=False)
            if not readonly:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                with self._transaction() as cur:
                    for stmt in _SCHEMA:
                        cur.execute(stmt)
                    cur.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                                (str(SCHEMA_VERSION),))
                    cur.execute("INSERT OR IGNORE INTO meta VALUES ('library_id', ?)",
                                (library_id,))
            row = self.conn.execute("SELECT value FROM meta WHERE key='library_id'").fetchone()
        except sqlite3.Error as e:
            raise LibraryError(f"{self.path}: cannot open the decision log: {e}") from e
        if row is not None and library_id and row[0] != library_id:
            raise LibraryError(f"{self.path}: this decision log belongs to library {row[0]}, "
                               f"not {library_id} (copied from another library?)")

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._mutex:
            cur = self.conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    cur.execute("ROLLBACK")
                raise

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._mutex:
            return self.conn.execute(sql, params).fetchall()

    # -- writes ------------------------------------------------------------------------------

    def member_schema(self) -> dict[str, str]:
        if self._schema is None:
            self._schema = dict(self._fetch("SELECT name, kind FROM member_schema"))
        return self._schema

    def check_member(self, member: Member) -> None:
        """Refuse a member whose field kinds differ from those the log already holds."""
        schema = self.member_schema()
        if any(k not in schema for k in member):  # another process may have added fields
            self._schema = None
            schema = self.member_schema()
        check_kinds(member, schema)

    def record(self, *, video_id: int, context: str, member: Member, arms: Sequence[Arm],
               action: int, probabilities: Sequence[float], policy: str, policy_version: int,
               explored: bool, mode: str, reason: str | None, reward_wait_s: float) -> int:
        """Append one decision; returns its id once it is committed."""
        if self.readonly:
            raise UsageError(f"{self.path}: opened read-only")
        arms_doc = json.dumps([a.as_json() for a in arms], sort_keys=True,
                              separators=(",", ":"))
        digest = hashlib.sha256(arms_doc.encode()).hexdigest()
        now = self.clock()
        try:
            with self._transaction() as cur:
                self.check_member(member)
                kinds = member_kinds(member)
                new = {k: v for k, v in kinds.items() if k not in (self._schema or {})}
                for k, v in new.items():
                    cur.execute("INSERT OR IGNORE INTO member_schema VALUES (?, ?)", (k, v))
                set_id = self._arm_sets.get(digest)
                if set_id is None:
                    cur.execute("INSERT OR IGNORE INTO arm_sets (digest, arms) VALUES (?, ?)",
                                (digest, arms_doc))
                    set_id = int(cur.execute("SELECT id FROM arm_sets WHERE digest=?",
                                             (digest,)).fetchone()[0])
                cur.execute(
                    """INSERT INTO decisions (at, expires_at, video_id, context, member,
                       arm_set_id, action, candidate_id, propensity, probabilities, policy,
                       policy_version, explored, mode, reason)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (now, now + reward_wait_s, video_id, context,
                     json.dumps(member, sort_keys=True), set_id, action,
                     arms[action].candidate_id, float(probabilities[action]),
                     json.dumps([round(float(p), 9) for p in probabilities]), policy,
                     policy_version, int(explored), mode, reason))
                decision_id = int(cur.lastrowid or 0)
        except sqlite3.Error as e:
            self._schema = None
            raise LibraryError(f"{self.path}: the decision was not logged: {e}") from e
        self._arm_sets[digest] = set_id
        if new and self._schema is not None:
            self._schema.update(new)
        return decision_id

    def add_reward(self, decision_id: object, value: object) -> DecisionRecord:
        """Join a reward to a decision (refused for an unknown or expired decision)."""
        did = decision_id_value(decision_id)
        v = reward_value(value)
        now = self.clock()
        try:
            with self._transaction() as cur:
                row = cur.execute("SELECT expires_at FROM decisions WHERE id=?",
                                  (did,)).fetchone()
                if row is None:
                    raise NotFoundError(f"unknown decision id {did}")
                if now > float(row[0]):
                    raise DecisionExpiredError(
                        f"decision {did} expired {now - float(row[0]):.0f}s ago (its reward wait "
                        "time is over): its reward is the default now; this one is not recorded")
                cur.execute("INSERT INTO rewards (decision_id, value, at) VALUES (?, ?, ?)",
                            (did, v, now))
        except sqlite3.Error as e:
            raise LibraryError(f"{self.path}: the reward was not recorded: {e}") from e
        return self.decision(did)

    # -- reads -------------------------------------------------------------------------------

    _SELECT = """SELECT d.id, d.at, d.expires_at, d.video_id, d.context, d.member, d.action,
                 d.candidate_id, d.propensity, d.probabilities, d.policy, d.policy_version,
                 d.explored, d.mode, d.reason, d.learned_in, s.arms,
                 (SELECT COUNT(*) FROM rewards r WHERE r.decision_id = d.id),
                 (SELECT SUM(value) FROM rewards r WHERE r.decision_id = d.id),
                 (SELECT value FROM rewards r WHERE r.decision_id = d.id ORDER BY r.id LIMIT 1)
                 FROM decisions d JOIN arm_sets s ON s.id = d.arm_set_id"""

    def _record(self, row: Sequence[Any], default_reward: float, now: float,
                arms_cache: dict[str, tuple[Arm, ...]]) -> DecisionRecord:
        arms_doc = str(row[16])
        arms = arms_cache.get(arms_doc)
        if arms is None:
            arms = tuple(Arm.from_json(a) for a in json.loads(arms_doc))
            arms_cache[arms_doc] = arms
        count = int(row[17])
        expired = now > float(row[2])
        if count and (self.aggregation == "first" or expired):
            reward: float | None = float(row[19] if self.aggregation == "first" else row[18])
            status = "rewarded"
        elif count:  # "sum" keeps adding until the wait time is over
            reward, status = float(row[18]), "pending"
        elif expired:
            reward, status = default_reward, "default"
        else:
            reward, status = None, "pending"
        return DecisionRecord(
            decision_id=int(row[0]), at=float(row[1]), video_id=int(row[3]), context=str(row[4]),
            member=json.loads(row[5]), action=int(row[6]), candidate_id=int(row[7]),
            propensity=float(row[8]), probabilities=tuple(json.loads(row[9])), arms=arms,
            policy=str(row[10]), policy_version=int(row[11]), explored=bool(row[12]),
            mode=str(row[13]), reason=row[14], learned_in=None if row[15] is None
            else int(row[15]), reward=reward, reward_count=count, reward_status=status)

    def decision(self, decision_id: object, default_reward: float = 0.0) -> DecisionRecord:
        did = decision_id_value(decision_id)
        rows = self._fetch(self._SELECT + " WHERE d.id=?", (did,))
        row = rows[0] if rows else None
        if row is None:
            raise NotFoundError(f"unknown decision id {did}")
        return self._record(row, default_reward, self.clock(), {})

    def decisions(self, *, default_reward: float = 0.0, after: int = 0,
                  where: str = "", params: Sequence[Any] = (), batch: int = 10_000
                  ) -> Iterator[DecisionRecord]:
        """Decisions in id order (streamed in batches: memory stays flat on a long log)."""
        now = self.clock()
        cache: dict[str, tuple[Arm, ...]] = {}
        last = after
        while True:
            rows = self._fetch(self._SELECT + f" WHERE d.id > ? {where} ORDER BY d.id LIMIT ?",
                               (last, *params, batch))
            for row in rows:
                yield self._record(row, default_reward, now, cache)
            if len(rows) < batch:
                return
            last = int(rows[-1][0])
            if len(cache) > 1000:
                cache.clear()

    def count(self) -> int:
        return int(self._fetch("SELECT COUNT(*) FROM decisions")[0][0])

    def stats(self) -> dict[str, int]:
        row = self._fetch(
            """SELECT COUNT(*), COALESCE(SUM(explored), 0),
                      COALESCE(SUM(mode = 'fallback'), 0),
                      COALESCE(SUM(learned_in IS NOT NULL), 0) FROM decisions""")[0]
        rewards = int(self._fetch("SELECT COUNT(*) FROM rewards")[0][0])
        return {"decisions": int(row[0]), "explored": int(row[1]), "fallback": int(row[2]),
                "learned": int(row[3]), "rewards": rewards}

    # -- learning bookkeeping ----------------------------------------------------------------

    def claim_learnable(self, version: int, limit: int = 1_000_000) -> int:
        """Mark the decisions whose reward is final as learned by ``version``; returns how many.

        Final: the first reward arrived (aggregation ``first``) or the wait time is over.
        """
        now = self.clock()
        rewarded = ("OR EXISTS (SELECT 1 FROM rewards r WHERE r.decision_id = decisions.id)"
                    if self.aggregation == "first" else "")
        with self._transaction() as cur:
            cur.execute(
                f"""UPDATE decisions SET learned_in = ? WHERE id IN (
                    SELECT id FROM decisions WHERE learned_in IS NULL
                    AND (expires_at < ? {rewarded}) ORDER BY id LIMIT ?)""",
                (version, now, limit))
            return int(cur.rowcount)

    def release_claims(self, above_version: int) -> int:
        """Undo claims by snapshots that never got written (a learner killed part-way)."""
        with self._transaction() as cur:
            cur.execute("UPDATE decisions SET learned_in = NULL WHERE learned_in > ?",
                        (above_version,))
            return int(cur.rowcount)

    def claimed(self, version: int, default_reward: float, everything: bool = False
                ) -> Iterator[DecisionRecord]:
        """The decisions claimed by ``version`` (with ``everything``, also those learned by
        earlier versions: a restarted policy learns the whole log again)."""
        if everything:
            return self.decisions(default_reward=default_reward,
                                  where="AND d.learned_in IS NOT NULL AND d.learned_in <= ?",
                                  params=(version,))
        return self.decisions(default_reward=default_reward, where="AND d.learned_in = ?",
                              params=(version,))

    def learned_count(self, version: int) -> int:
        return int(self._fetch(
            "SELECT COUNT(*) FROM decisions WHERE learned_in IS NOT NULL AND learned_in <= ?",
            (version,))[0][0])

    # -- export ------------------------------------------------------------------------------

    def export_parquet(self, path: str | Path, default_reward: float = 0.0,
                       batch: int = 50_000) -> int:
        """Write every decision (one row each, rewards aggregated) to a Parquet file; streamed
        in row groups so a long log never sits in memory. Returns the number of rows."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([
            ("decision_id", pa.int64()), ("at", pa.float64()), ("video_id", pa.int64()),
            ("context", pa.string()), ("member", pa.string()), ("candidate_id", pa.int64()),
            ("action", pa.int32()), ("n_arms", pa.int32()), ("propensity", pa.float64()),
            ("arm_ids", pa.list_(pa.int64())), ("probabilities", pa.list_(pa.float64())),
            ("policy", pa.string()), ("policy_version", pa.int64()), ("explored", pa.bool_()),
            ("mode", pa.string()), ("reward", pa.float64()), ("reward_count", pa.int32()),
            ("reward_status", pa.string()),
        ])
        out = Path(path)
        tmp = out.with_name(f".{out.name}.tmp")
        n = 0
        with pq.ParquetWriter(tmp, schema) as writer:
            rows: list[DecisionRecord] = []
            for rec in self.decisions(default_reward=default_reward):
                rows.append(rec)
                if len(rows) >= batch:
                    writer.write_table(_table(rows, schema))
                    n += len(rows)
                    rows = []
            if rows or n == 0:
                writer.write_table(_table(rows, schema))
                n += len(rows)
        tmp.replace(out)
        return n


def _table(rows: Sequence[DecisionRecord], schema: Any) -> Any:
    import pyarrow as pa

    cols: Mapping[str, list[Any]] = {
        "decision_id": [r.decision_id for r in rows], "at": [r.at for r in rows],
        "video_id": [r.video_id for r in rows], "context": [r.context for r in rows],
        "member": [json.dumps(r.member, sort_keys=True) for r in rows],
        "candidate_id": [r.candidate_id for r in rows], "action": [r.action for r in rows],
        "n_arms": [len(r.arms) for r in rows], "propensity": [r.propensity for r in rows],
        "arm_ids": [[a.candidate_id for a in r.arms] for r in rows],
        "probabilities": [list(r.probabilities) for r in rows],
        "policy": [r.policy for r in rows], "policy_version": [r.policy_version for r in rows],
        "explored": [r.explored for r in rows], "mode": [r.mode for r in rows],
        "reward": [r.reward for r in rows], "reward_count": [r.reward_count for r in rows],
        "reward_status": [r.reward_status for r in rows],
    }
    return pa.table(dict(cols), schema=schema)

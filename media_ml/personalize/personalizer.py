"""The personalization loop of a library: choose → log → reward → learn.

``Personalizer(library)`` serves decisions from the newest policy snapshot (noticing a new one
or changed settings with a ``stat`` per decision, so a ``learn`` in another process takes effect
without a restart) and logs each before returning it. ``learn()`` folds final rewards into the
policy and writes the next snapshot; it holds ``DIR/personalize/writer.lock`` so two learners
never interleave, and never blocks serving.

Arms are the title's candidates for the context (``Library.suggest``, at most ``max_arms``):
a candidate editors reject disappears at the next decision, a new one appears as a cold arm. They
are cached per (video, context) until the catalog says they may have changed (re-ingest, re-embed,
a verdict).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from media_ml.errors import MediaMLError, UsageError
from media_ml.lockfile import WriterLock
from media_ml.personalize.config import PersonalizeConfig, load_config, settings_path
from media_ml.personalize.features import (
    FEATURE_VERSION,
    Arm,
    Projection,
    arm_features,
    validate_member,
)
from media_ml.personalize.guardrails import guard
from media_ml.personalize.log import DecisionLog, DecisionRecord
from media_ml.personalize.policies import (
    EditorialPolicy,
    ThompsonPolicy,
    VWPolicy,
    new_policy,
)
from media_ml.personalize.snapshots import FeatureSet, Snapshot, SnapshotStore

if TYPE_CHECKING:
    from media_ml.library import Library

log = logging.getLogger(__name__)

PROJECTION_FILE = "projection.json"


@dataclass(frozen=True)
class RankedArm:
    candidate_id: int
    probability: float
    editorial_rank: int

    def as_json(self) -> dict[str, Any]:
        return {"candidate_id": self.candidate_id, "probability": self.probability,
                "editorial_rank": self.editorial_rank}


@dataclass(frozen=True)
class Decision:
    """What ``choose`` served (``media-ml choose --json``): the chosen candidate, the probability
    it was chosen with, the whole ranking with probabilities, and which policy decided."""

    decision_id: int
    video_id: int
    context: str
    candidate_id: int
    propensity: float
    ranking: tuple[RankedArm, ...]
    policy: str
    policy_version: int
    explored: bool
    mode: str                 # "policy" or "fallback" (editorial ranking, propensity 1)
    reason: str | None        # why it fell back, when it did
    candidate: dict[str, Any]  # the chosen candidate as ``suggest`` gives it (crop, thumbnail…)

    def as_json(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, "video_id": self.video_id,
                "context": self.context, "candidate_id": self.candidate_id,
                "propensity": self.propensity,
                "ranking": [r.as_json() for r in self.ranking], "policy": self.policy,
                "policy_version": self.policy_version, "explored": self.explored,
                "mode": self.mode, "reason": self.reason, "candidate": self.candidate}


@dataclass(frozen=True)
class LearnReport:
    version: int | None       # the snapshot written (None when there was nothing new)
    learned: int              # decisions folded in by this run
    total: int                # decisions the snapshot has learned in all
    warm_start: int           # editor verdicts used as pseudo-rewards (new policies only)
    pending: int              # decisions still waiting for a final reward
    policy: str
    snapshot: str | None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Serving:
    stamp: Any
    settings_stamp: Any
    config: PersonalizeConfig
    policy: VWPolicy | ThompsonPolicy | None
    version: int
    problem: str | None


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns)


class Personalizer:
    """Choose artwork per member context with a logged propensity; learn from rewards."""

    def __init__(self, library: Library, config: PersonalizeConfig | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.library = library
        self.root = Path(library.root)
        self._fixed_config = config
        self.config = config or load_config(self.root)
        self.clock = clock
        self.library_id = library.catalog.library_id
        self.log = DecisionLog(self.root, self.library_id, aggregation=self.config.aggregation,
                               readonly=library.readonly, clock=clock)
        self.store = SnapshotStore(self.root)
        self._arms: dict[tuple[int, str, str],
                         tuple[tuple[Any, ...], list[Arm], dict[int, Any]]] = {}
        self._serving: _Serving | None = None
        self._rng = np.random.default_rng(self.config.seed)
        self._lock = threading.RLock()
        self._projection: Projection | None = None

    def close(self) -> None:
        if self._serving and self._serving.policy is not None:
            self._serving.policy.close()
        self.log.close()

    # -- features ------------------------------------------------------------------------------

    def projection(self) -> Projection | None:
        """The CLIP projection of this library (fitted once, on first use, and kept)."""
        if self._projection is not None or self.config.clip_dims == 0:
            return self._projection
        path = self.root / "personalize" / PROJECTION_FILE
        proj = Projection.load(path)
        model = self.library.catalog.model()
        model_name = f"{model[0]}@{model[1]}" if model is not None else ""
        if proj is not None and (proj.library_id != self.library_id or proj.model != model_name):
            proj = None  # re-embedded (or copied): the old projection no longer applies
        if proj is None and model is not None and not self.library.readonly:
            _, vecs = self.library.catalog.vectors_sample(50_000)
            if len(vecs) >= 2:
                Projection.fit(vecs, self.config.clip_dims, self.library_id, model_name,
                               self.config.seed).save(path)
                proj = Projection.load(path)  # whatever won a race between two processes
        self._projection = proj
        return proj

    def feature_set(self) -> FeatureSet:
        proj = self.projection()
        return FeatureSet(self.library_id, FEATURE_VERSION,
                          proj.identity if proj is not None and proj.dims else "")

    def arms(self, video: int | str, context: str, contexts_file: str | Path | None = None
             ) -> tuple[list[Arm], dict[int, Any]]:
        """The arms of a decision (best editorial rank first) and their candidates by id."""
        vid = self.library.video_id(video)
        token = self.library.catalog.candidates_token(vid, context)
        key = (vid, context, str(contexts_file or ""))
        hit = self._arms.get(key)
        if hit is not None and hit[0] == token:
            return hit[1], hit[2]
        sugg = self.library.suggest(vid, context, k=self.config.max_arms,
                                    contexts_file=contexts_file)
        proj = self.projection()
        vec_of: dict[int, np.ndarray] = {}
        if proj is not None and proj.dims:
            ids, vecs = self.library.catalog.vectors(vid)
            vec_of = {int(i): v for i, v in zip(ids.tolist(), vecs, strict=False)}
        arms: list[Arm] = []
        by_id: dict[int, Any] = {}
        for c in sugg:
            src = c.source
            clip = proj.apply(vec_of[c.keyframe_id]) if c.keyframe_id in vec_of and proj else []
            arms.append(Arm(c.candidate_id, c.rank, float(c.score),
                            arm_features(src.get("values", {}), c.crop,
                                         int(src.get("width", 1)), int(src.get("height", 1)),
                                         clip), context))
            by_id[c.candidate_id] = c.as_json()
        if len(self._arms) > 4096:
            self._arms.clear()
        self._arms[key] = (token, arms, by_id)
        return arms, by_id

    # -- serving -------------------------------------------------------------------------------

    def _refresh(self) -> _Serving:
        """The serving state, reloaded when settings or the newest snapshot changed."""
        stamp = self.store.stamp()
        sstamp = _stat(settings_path(self.root))
        cur = self._serving
        if cur is not None and cur.stamp == stamp and cur.settings_stamp == sstamp:
            return cur
        config = self._fixed_config or load_config(self.root)
        if cur is not None and cur.policy is not None:
            cur.policy.close()
        policy: VWPolicy | ThompsonPolicy | None = None
        version, problem = 0, None
        try:
            snap = self.store.latest(config)
            if snap is not None:
                policy = self.store.load(snap, config, self.feature_set())
                version = snap.version
            else:
                policy = new_policy(config)
        except MediaMLError as e:
            problem = str(e)
            log.warning("serving the editorial ranking: %s", e)
        self.config = config
        self.log.aggregation = config.aggregation
        self._serving = _Serving(stamp, sstamp, config, policy, version, problem)
        return self._serving

    def choose(self, video: int | str, context: str, member: object = None,
               contexts_file: str | Path | None = None) -> Decision:
        """Pick one of the title's candidates for this member; logged before it returns."""
        from media_ml.ranking.contexts import get_context

        ctx = get_context(context, contexts_file).name if isinstance(context, str) else None
        if ctx is None:
            raise UsageError(f"context must be a context name, got {context!r}")
        m = validate_member(member)
        with self._lock:
            serving = self._refresh()
            cfg = serving.config
            arms, by_id = self.arms(video, ctx, contexts_file)
            if not arms:
                raise UsageError(f"video {video} has no candidates for context {ctx} "
                                 "(all filtered out or rejected)")
            self.log.check_member(m)
            reason = ("kill switch is on" if cfg.kill_switch else serving.problem)
            if reason is None and serving.policy is not None:
                try:
                    pmf = serving.policy.pmf(m, arms)
                    greedy = serving.policy.greedy(m, arms, pmf)
                except Exception as e:  # a broken engine must not stop serving artwork
                    log.exception("policy %s failed; serving the editorial ranking", cfg.policy)
                    reason = f"policy error: {e}"
            if reason is not None or serving.policy is None:
                probs = EditorialPolicy().pmf(m, arms)
                action = greedy = int(np.argmax(probs))
                name, version, mode = "editorial", 0, "fallback"
            else:
                probs = guard(pmf, greedy, cfg.min_propensity, cfg.max_explore_share)
                action = int(self._rng.choice(len(arms), p=probs))
                name, version, mode = cfg.policy, serving.version, "policy"
            decision_id = self.log.record(
                video_id=self.library.video_id(video), context=ctx, member=m, arms=arms,
                action=action, probabilities=probs.tolist(), policy=name, policy_version=version,
                explored=action != greedy, mode=mode, reason=reason,
                reward_wait_s=cfg.reward_wait_s)
        ranking = tuple(sorted((RankedArm(a.candidate_id, round(float(p), 9), a.rank)
                                for a, p in zip(arms, probs, strict=True)),
                               key=lambda r: (-r.probability, r.editorial_rank)))
        return Decision(decision_id, self.library.video_id(video), ctx,
                        arms[action].candidate_id, float(probs[action]), ranking, name, version,
                        action != greedy, mode, reason, by_id[arms[action].candidate_id])

    def reward(self, decision_id: object, value: object) -> DecisionRecord:
        return self.log.add_reward(decision_id, value)

    def decisions(self, after: int = 0) -> Iterator[DecisionRecord]:
        return self.log.decisions(default_reward=self.config.default_reward, after=after)

    # -- learning ------------------------------------------------------------------------------

    def _warm_start(self, policy: VWPolicy | ThompsonPolicy, config: PersonalizeConfig) -> int:
        """Editors' accepts as pseudo-rewards (reward 1, no member context)."""
        if config.warm_start_weight <= 0:
            return 0
        used = 0
        seen: set[tuple[int, str, int]] = set()
        for v in self.library.verdicts():
            if v.verdict != "accept" or (v.video_id, v.context, v.candidate_id) in seen:
                continue
            seen.add((v.video_id, v.context, v.candidate_id))
            try:
                arms, _ = self.arms(v.video_id, v.context)
            except MediaMLError:
                continue
            index = next((i for i, a in enumerate(arms) if a.candidate_id == v.candidate_id),
                         None)
            if index is None:
                continue
            for _ in range(max(1, round(config.warm_start_weight))):
                policy.learn({}, arms, index, 1.0, 1.0 / len(arms))
            used += 1
        return used

    def learn(self, *, restart: bool = False, wait: float | None = 60.0) -> LearnReport:
        """Fold decisions with final rewards into the policy; write the next snapshot.

        ``restart`` starts a new policy (warm start from verdicts) and learns every decision
        with a final reward again: after changing features, or a snapshot from elsewhere.
        """
        if self.library.readonly:
            raise UsageError(f"{self.root}: opened read-only; learning writes snapshots")
        config = self._fixed_config or load_config(self.root)
        self.log.aggregation = config.aggregation
        (self.root / "personalize").mkdir(parents=True, exist_ok=True)
        with WriterLock(self.root / "personalize", wait=wait, what="media-ml learn"):
            top = self.store.max_version()
            self.log.release_claims(top)
            snap: Snapshot | None = None if restart else self.store.latest(config)
            features = self.feature_set()
            warm = 0
            if snap is not None:
                policy = self.store.load(snap, config, features)
                total = int(snap.manifest.get("learned_decisions", 0))
            else:
                policy = new_policy(config)
                warm = self._warm_start(policy, config)
                total = 0
            version = top + 1
            try:
                n = self.log.claim_learnable(version)
                if n == 0 and snap is not None:
                    return LearnReport(None, 0, total, 0, self._pending(), config.policy,
                                       str(snap.model))
                if restart:
                    n = self.log.learned_count(version)
                for rec in self.log.claimed(version, config.default_reward, restart):
                    assert rec.reward is not None
                    policy.learn(rec.member, rec.arms, rec.action, rec.reward, rec.propensity)
                written = self.store.write(policy, version, config, features, total + n,
                                           {"warm_start": warm, "restart": restart})
            except BaseException:
                self.log.release_claims(version - 1)
                raise
            finally:
                policy.close()
        log.info("policy %s v%d: learned %d decisions (%d in all)", config.policy, version, n,
                 total + n)
        return LearnReport(version, n, total + n, warm, self._pending(), config.policy,
                           str(written.model))

    def _pending(self) -> int:
        return self.log.count() - self.log.stats()["learned"]

    def policy_state(self) -> dict[str, Any]:
        """What serves now: policy, snapshot version, settings, and any problem."""
        with self._lock:
            s = self._refresh()
        return {"policy": s.config.policy, "version": s.version, "problem": s.problem,
                "settings": s.config.as_json(), "log": self.log.stats()}

"""Offline evaluation of a policy on a library's decision log (``media-ml evaluate``).

The log becomes ``LoggedFeedback`` (the chosen arm's index among the decision's arms, its reward,
its propensity) and the candidate policy an ``action_dist`` over the same arms. Policies, by
spec:

* ``editorial`` — always the editors' top-ranked arm; ``uniform`` — every arm alike;
* ``current`` — the newest snapshot as it stands, on the decisions it has not learned from;
* a policy name with optional settings (``vw-softmax``, ``vw-epsilon:epsilon=0.2``,
  ``thompson``) — a fresh policy that walks the log in time order, giving each decision its
  distribution *before* learning from it (progressive validation), so every round is scored by a
  policy that had not seen it.

Only decisions whose reward is final (rewarded, or past the wait time with the default) count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from media_ml.errors import UsageError
from media_ml.personalize.config import POLICIES, PersonalizeConfig
from media_ml.personalize.log import DecisionRecord
from media_ml.personalize.policies import EditorialPolicy, UniformPolicy, new_policy
from media_ml.validate import show

if TYPE_CHECKING:
    from media_ml.evaluation import Comparison, Estimate, LoggedFeedback
    from media_ml.personalize.personalizer import Personalizer

MAX_CATEGORIES = 32  # one-hot columns per categorical member field in the reward model


@dataclass(frozen=True)
class OfflineReport:
    policy: str
    n: int
    logging_value: float
    estimates: dict[str, Estimate]
    comparison: Comparison
    plot: str | None
    unsupported: float  # share of the candidate's choices the logging policy never made possible

    def as_json(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "policy": self.policy, "n": self.n, "logging_value": self.logging_value,
            "estimates": {k: {"value": e.value, "low": e.low, "high": e.high}
                          for k, e in self.estimates.items()},
            "lift": {"estimator": c.candidate.name, "value": c.lift, "low": c.lift_low,
                     "high": c.lift_high, "summary": c.summary()},
            "plot": self.plot, "unsupported": self.unsupported,
        }


def parse_spec(spec: str, base: PersonalizeConfig) -> tuple[str, PersonalizeConfig | None]:
    """``(kind, config)`` of a policy spec; kind is editorial, uniform, current or learn."""
    if not isinstance(spec, str) or not spec.strip():
        raise UsageError(f"--policy must be a policy spec, got {show(spec)}")
    name, _, rest = spec.strip().partition(":")
    if name in ("editorial", "uniform", "current"):
        if rest:
            raise UsageError(f"policy {name} takes no settings, got {show(spec)}")
        return name, None
    if name not in POLICIES:
        raise UsageError(f"unknown policy {show(name)}; known: editorial, uniform, current, "
                         + ", ".join(POLICIES))
    values: dict[str, Any] = {"policy": name}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"policy settings are key=value pairs, got {show(item)}")
        values[key.strip()] = value.strip()
    return "learn", base.with_values(values)


def final_records(personalizer: Personalizer) -> list[DecisionRecord]:
    return [r for r in personalizer.decisions() if r.reward_status != "pending"]


def logged_feedback(records: Sequence[DecisionRecord]) -> tuple[LoggedFeedback, int]:
    from media_ml.evaluation import LoggedFeedback

    if not records:
        raise UsageError("no decision with a final reward in the log yet: serve decisions "
                         "(choose), send rewards, or wait for the reward wait time")
    k = max(len(r.arms) for r in records)
    return LoggedFeedback(
        action=np.array([r.action for r in records]),
        reward=np.array([float(r.reward or 0.0) for r in records]),
        pscore=np.array([r.propensity for r in records]),
        position=None, context=member_matrix(records), n_actions=k), k


def member_matrix(records: Sequence[DecisionRecord]) -> np.ndarray:
    """Member contexts as numbers for the reward model: numeric fields standardised,
    categorical ones one-hot (their most common values)."""
    names = sorted({k for r in records for k in r.member})
    cols: list[np.ndarray] = []
    for name in names:
        values = [r.member.get(name) for r in records]
        if all(isinstance(v, float) or v is None for v in values):
            x = np.array([np.nan if v is None else float(v) for v in values])
            mean = float(np.nanmean(x)) if np.isfinite(x).any() else 0.0
            x = np.where(np.isfinite(x), x, mean)
            std = float(x.std()) or 1.0
            cols.append((x - mean) / std)
        else:
            counts: dict[str, int] = {}
            for v in values:
                counts[str(v)] = counts.get(str(v), 0) + 1
            for cat, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:MAX_CATEGORIES]:
                cols.append(np.array([float(str(v) == cat) for v in values]))
    return np.column_stack(cols) if cols else np.zeros((len(records), 1))


def action_dist(kind: str, config: PersonalizeConfig | None, records: Sequence[DecisionRecord],
                k: int, personalizer: Personalizer) -> np.ndarray:
    """The candidate policy's distribution over each logged decision's arms, (n, k)."""
    out = np.zeros((len(records), k))
    if kind == "current":
        serving = personalizer._refresh()
        if serving.policy is None:
            raise UsageError(f"no usable policy snapshot: {serving.problem}")
        for i, r in enumerate(records):
            out[i, :len(r.arms)] = serving.policy.pmf(r.member, r.arms)
        return out
    if kind in ("editorial", "uniform"):
        fixed = EditorialPolicy() if kind == "editorial" else UniformPolicy()
        for i, r in enumerate(records):
            out[i, :len(r.arms)] = fixed.pmf(r.member, r.arms)
        return out
    assert config is not None
    policy = new_policy(config)
    try:
        for i, r in enumerate(records):
            out[i, :len(r.arms)] = policy.pmf(r.member, r.arms)
            policy.learn(r.member, r.arms, r.action, float(r.reward or 0.0), r.propensity)
    finally:
        policy.close()
    return out


def evaluate_policy(personalizer: Personalizer, spec: str, *,
                    estimators: Sequence[str] = ("ips", "snips", "dr"), estimator: str = "snips",
                    alpha: float = 0.05, n_bootstrap: int = 1000, random_state: int = 0,
                    plot: str | Path | None = None) -> OfflineReport:
    """Estimate the value of policy ``spec`` on the log and compare it to the logging policy."""
    from media_ml.evaluation import compare, evaluate, plot_estimates

    kind, config = parse_spec(spec, personalizer.config)
    records = final_records(personalizer)
    if kind == "current":  # score the snapshot only on decisions it has not learned from
        version = personalizer._refresh().version
        records = [r for r in records if r.learned_in is None or r.learned_in > version]
        if not records:
            raise UsageError(f"the current snapshot (v{version}) has learned every decision "
                             "with a final reward; evaluate it on new decisions, or evaluate "
                             "a policy by name (each decision scored before it is learned)")
    logged, k = logged_feedback(records)
    dist = action_dist(kind, config, records, k, personalizer)
    names = tuple(dict.fromkeys([*estimators, estimator]))
    est = evaluate(logged, dist, estimators=names, alpha=alpha, n_bootstrap=n_bootstrap,
                   random_state=random_state)
    comp = compare(logged, dist, estimator=estimator, alpha=alpha, n_bootstrap=n_bootstrap,
                   random_state=random_state)
    logged_probs = np.zeros_like(dist)
    for i, r in enumerate(records):
        logged_probs[i, :len(r.probabilities)] = r.probabilities
    unsupported = float(np.mean((dist * (logged_probs <= 0)).sum(axis=1)))
    out = None
    if plot is not None:
        out = str(plot_estimates(est, plot, logging_value=comp.logging.value,
                                 title=f"{spec} vs the logging policy (n = {len(records)})"))
    return OfflineReport(spec, len(records), comp.logging.value, est, comp, out, unsupported)

"""Estimate a policy's value from logs, with bootstrap intervals, and compare it to the logger.

::

    logged = LoggedFeedback(action=a, reward=r, pscore=p, position=pos, n_actions=k)
    est = evaluate(logged, action_dist, estimators=("ips", "snips", "dr"))
    est["snips"].value, est["snips"].low, est["snips"].high
    print(compare(logged, action_dist).summary())   # "+12.3 % (95 % CI 4.1–20.0), n = 10000"
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from media_ml.errors import UsageError
from media_ml.evaluation.estimators import Estimator, Rounds, resolve
from media_ml.evaluation.feedback import LoggedFeedback, check_action_dist
from media_ml.evaluation.intervals import (
    bootstrap_sums,
    check_alpha,
    check_n_bootstrap,
    check_random_state,
    percentile_interval,
)
from media_ml.evaluation.reward_model import cross_fit_rewards

EstimatorSpec = str | Estimator | Iterable[str | Estimator]


@dataclass(frozen=True)
class Estimate:
    """A policy value estimate with its (1 − alpha) percentile-bootstrap interval over n rounds."""

    name: str
    value: float
    low: float
    high: float
    n: int
    alpha: float

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.value:.4g} ({_level(self.alpha)} CI {self.low:.4g}–"
            f"{self.high:.4g}), n = {self.n}"
        )


@dataclass(frozen=True)
class Comparison:
    """A candidate policy's estimated value against the logging policy's (its mean reward).

    ``lift`` is candidate / logging − 1 and its interval comes from a paired bootstrap (both
    values computed on the same resampled rounds). It is None when the logging value is 0.
    """

    candidate: Estimate
    logging: Estimate
    lift: float | None
    lift_low: float | None
    lift_high: float | None

    @property
    def n(self) -> int:
        return self.candidate.n

    @property
    def alpha(self) -> float:
        return self.candidate.alpha

    def summary(self) -> str:
        """One line, e.g. ``+12.3 % (95 % CI 4.1–20.0), n = 10000``."""
        if self.lift is None or self.lift_low is None or self.lift_high is None:
            return (
                f"lift undefined: the logging policy's value is 0 (candidate {self.candidate.name}"
                f" {self.candidate.value:.4g}, {_level(self.alpha)} CI {self.candidate.low:.4g}–"
                f"{self.candidate.high:.4g}), n = {self.n}"
            )
        return (
            f"{100 * self.lift:+.1f} % ({_level(self.alpha)} CI {100 * self.lift_low:.1f}–"
            f"{100 * self.lift_high:.1f}), n = {self.n}"
        )


def evaluate(
    logged: LoggedFeedback,
    action_dist: Any,
    estimators: EstimatorSpec = ("ips", "snips", "dr"),
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    random_state: int | None = 0,
    estimated_rewards: Any = None,
    reward_model: Any = None,
) -> dict[str, Estimate]:
    """Estimate the value of the policy ``action_dist`` (n, n_actions[, n_positions]) from a log.

    ``estimators`` are names from ``ESTIMATORS`` or instances (``IPS(max_weight=20)``); results
    are keyed by their labels. DM, DR and SNDR use ``estimated_rewards`` (q̂, shaped like
    ``action_dist``) when given, else a reward model cross-fitted here (``reward_model``, any
    scikit-learn regressor or 0/1 classifier; logistic or ridge regression by default).
    ``random_state`` seeds the bootstrap and the cross-fitting folds.
    """
    resolved = resolve(estimators)
    estimates, _ = _estimate(
        logged,
        action_dist,
        resolved,
        alpha,
        n_bootstrap,
        random_state,
        estimated_rewards,
        reward_model,
    )
    return estimates


def compare(
    logged: LoggedFeedback,
    action_dist: Any,
    estimator: str | Estimator = "snips",
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    random_state: int | None = 0,
    estimated_rewards: Any = None,
    reward_model: Any = None,
) -> Comparison:
    """The candidate policy's estimated value against the logging policy's mean logged reward."""
    (candidate,) = resolve([estimator])
    on_policy = _OnPolicy()
    estimates, replicates = _estimate(
        logged,
        action_dist,
        [candidate, on_policy],
        alpha,
        n_bootstrap,
        random_state,
        estimated_rewards,
        reward_model,
    )
    cand, base = estimates[candidate.label], estimates[on_policy.label]
    if base.value == 0:
        return Comparison(cand, base, None, None, None)
    base_reps = replicates[on_policy.label]
    lift_reps = np.full_like(base_reps, np.nan)
    np.divide(replicates[candidate.label], base_reps, out=lift_reps, where=base_reps != 0)
    low, high = percentile_interval(lift_reps - 1.0, cand.alpha, "lift")
    return Comparison(cand, base, cand.value / base.value - 1.0, low, high)


@dataclass(frozen=True)
class _OnPolicy(Estimator):
    """The logging policy's own value: the mean logged reward."""

    name: ClassVar[str] = "logging"

    def round_terms(self, rounds: Rounds) -> np.ndarray:
        return np.column_stack([rounds.reward, np.ones_like(rounds.reward)])

    def combine(self, sums: np.ndarray) -> np.ndarray:
        return np.asarray(sums[..., 0] / sums[..., 1])


def _estimate(
    logged: LoggedFeedback,
    action_dist: Any,
    estimators: list[Estimator],
    alpha: Any,
    n_bootstrap: Any,
    random_state: Any,
    estimated_rewards: Any,
    reward_model: Any,
) -> tuple[dict[str, Estimate], dict[str, np.ndarray]]:
    """Point estimates, intervals and the bootstrap replicates, keyed by estimator label."""
    if not isinstance(logged, LoggedFeedback):
        raise UsageError(f"logged = {type(logged).__name__}: expected a LoggedFeedback")
    alpha = check_alpha(alpha)
    n_bootstrap = check_n_bootstrap(n_bootstrap)
    random_state = check_random_state(random_state)
    dist = check_action_dist(logged, action_dist)
    q_hat = None
    if estimated_rewards is not None:
        if reward_model is not None:
            raise UsageError("pass estimated_rewards or reward_model, not both")
        q_hat = _at_logged_position(logged, _check_estimated_rewards(estimated_rewards, dist))
    elif any(e.needs_reward_model for e in estimators):
        q_hat = cross_fit_rewards(
            logged, dist.shape[2], reward_model=reward_model, random_state=random_state
        )
    rounds = Rounds.from_log(logged, dist, q_hat)

    terms = [e.round_terms(rounds) for e in estimators]
    sums = bootstrap_sums(np.hstack(terms), n_bootstrap, random_state)
    estimates: dict[str, Estimate] = {}
    replicates: dict[str, np.ndarray] = {}
    start = 0
    for estimator, own in zip(estimators, terms, strict=True):
        label = estimator.label
        value = float(estimator.combine(own.sum(axis=0)))
        if not np.isfinite(value):
            raise UsageError(
                f"estimator {label!r} is undefined on this log: the evaluation policy gives "
                "probability 0 to every logged action (no round to learn from)"
            )
        reps = estimator.combine(sums[:, start : start + own.shape[1]])
        start += own.shape[1]
        low, high = percentile_interval(reps, alpha, label)
        estimates[label] = Estimate(label, value, low, high, logged.n, alpha)
        replicates[label] = reps
    return estimates, replicates


def _check_estimated_rewards(estimated_rewards: Any, dist: np.ndarray) -> np.ndarray:
    try:
        q = np.asarray(estimated_rewards, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"estimated_rewards cannot be read as a float array: {exc}") from exc
    if q.ndim == 2:
        q = q[:, :, np.newaxis]
    if q.shape != dist.shape:
        raise UsageError(
            f"estimated_rewards has shape {q.shape}: expected {dist.shape}, like action_dist"
        )
    bad = ~np.isfinite(q)
    if bad.any():
        i, a, pos = (int(v) for v in np.argwhere(bad)[0])
        raise UsageError(
            f"estimated_rewards[{i}, {a}, {pos}] = {float(q[i, a, pos])!r}: must be finite"
        )
    return q


def _at_logged_position(logged: LoggedFeedback, q: np.ndarray) -> np.ndarray:
    return q[np.arange(logged.n), :, logged.positions]


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):.3g} %"

"""Off-policy estimators of an evaluation policy's value from logged feedback.

Each estimator turns the log into a few per-round statistics (``round_terms``, shape (n, m)) and
the estimate into a function of their column sums (``combine``). The point estimate combines the
sums over all rounds; the bootstrap combines sums over resampled rounds, so every estimator gets
intervals from one resampling pass, with the reward model's q̂ reused rather than refitted.

With w_i = π(a_i | x_i, pos_i) / pscore_i and q̂ a reward model's prediction:

========  ===========================================================  ==========================
name      estimate                                                     reference
========  ===========================================================  ==========================
replay    Σ π(a_i|x_i) r_i / Σ π(a_i|x_i)                              Li et al. 2011
ips       mean(w_i r_i)                                                Horvitz & Thompson 1952
snips     Σ w_i r_i / Σ w_i                                            Swaminathan & Joachims 2015
dm        mean(Σ_a π(a|x_i) q̂(x_i, a))                                 Beygelzimer & Langford 2009
dr        dm_i + w_i (r_i − q̂(x_i, a_i)), averaged                     Dudík et al. 2011
sndr      mean(dm_i) + Σ w_i (r_i − q̂(x_i, a_i)) / Σ w_i               Kallus & Uehara 2019
========  ===========================================================  ==========================

Positions follow Open Bandit Pipeline: everything is taken at the round's logged position.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from media_ml.errors import UsageError
from media_ml.evaluation.feedback import LoggedFeedback


@dataclass(frozen=True, eq=False)
class Rounds:
    """What the estimators read, one entry per logged round, at the round's logged position."""

    reward: np.ndarray  # r_i
    pi_logged: np.ndarray  # π(a_i | x_i, pos_i)
    pscore: np.ndarray  # the logging policy's probability of a_i
    q_logged: np.ndarray | None = None  # q̂(x_i, a_i, pos_i)
    q_policy: np.ndarray | None = None  # Σ_a π(a | x_i, pos_i) q̂(x_i, a, pos_i)

    @property
    def weight(self) -> np.ndarray:
        """Importance weights π(a_i | x_i, pos_i) / pscore_i."""
        return self.pi_logged / self.pscore

    @classmethod
    def from_log(
        cls,
        logged: LoggedFeedback,
        action_dist: np.ndarray,
        q_hat: np.ndarray | None = None,
    ) -> Rounds:
        """Gather per-round quantities from a checked (n, n_actions, n_positions) action_dist.

        ``q_hat`` is q̂(x_i, a, pos_i) for every action at each round's logged position, shape
        (n, n_actions).
        """
        rows = np.arange(logged.n)
        pi_at_position = action_dist[rows, :, logged.positions]  # (n, n_actions)
        pi_logged = pi_at_position[rows, logged.action]
        if q_hat is None:
            return cls(reward=logged.reward, pi_logged=pi_logged, pscore=logged.pscore)
        return cls(
            reward=logged.reward,
            pi_logged=pi_logged,
            pscore=logged.pscore,
            q_logged=q_hat[rows, logged.action],
            q_policy=np.einsum("ij,ij->i", pi_at_position, q_hat),
        )

    def require_rewards_model(self, label: str) -> tuple[np.ndarray, np.ndarray]:
        if self.q_logged is None or self.q_policy is None:
            raise UsageError(f"estimator {label!r} needs estimated rewards (q̂); none were given")
        return self.q_logged, self.q_policy


class Estimator(ABC):
    """One off-policy estimator: per-round terms and how their sums make the estimate."""

    name: ClassVar[str]
    needs_reward_model: ClassVar[bool] = False

    @property
    def label(self) -> str:
        """Key of this estimator's result (the name, plus any setting that changes it)."""
        return self.name

    @abstractmethod
    def round_terms(self, rounds: Rounds) -> np.ndarray:
        """Per-round statistics, shape (n, m), whose column sums determine the estimate."""

    @abstractmethod
    def combine(self, sums: np.ndarray) -> np.ndarray:
        """The estimate from column sums of ``round_terms``, shape (..., m) → (...)."""

    def estimate_policy_value(self, rounds: Rounds) -> float:
        """Point estimate over all rounds (NaN when undefined, e.g. no weight on any round)."""
        return float(self.combine(self.round_terms(rounds).sum(axis=0)))


@dataclass(frozen=True)
class Replay(Estimator):
    """Replay (rejection sampling): the mean reward of rounds where the policy agrees with the log.

    For a deterministic policy this is the mean reward over rounds whose logged action is the one
    the policy picks. For a stochastic policy it is the Rao-Blackwellised version
    Σ π(a_i|x_i) r_i / Σ π(a_i|x_i), the expected match-weighted mean. It ignores the logging
    propensities, so it is consistent only when the logging policy was uniform over actions
    (then it equals SNIPS); under any other logging policy it is biased towards the actions the
    logger favoured: use IPS or SNIPS there.
    """

    name: ClassVar[str] = "replay"

    def round_terms(self, rounds: Rounds) -> np.ndarray:
        return np.column_stack([rounds.pi_logged * rounds.reward, rounds.pi_logged])

    def combine(self, sums: np.ndarray) -> np.ndarray:
        return _ratio(sums[..., 0], sums[..., 1])


@dataclass(frozen=True)
class IPS(Estimator):
    """Inverse propensity scoring: mean(w_i r_i). Unbiased; high variance when weights are large.

    ``max_weight`` clips the weights (w_i → min(w_i, max_weight)), trading bias for variance.
    """

    max_weight: float | None = None
    name: ClassVar[str] = "ips"

    def __post_init__(self) -> None:
        _check_max_weight(self.max_weight)

    @property
    def label(self) -> str:
        return _clipped_label(self.name, self.max_weight)

    def round_terms(self, rounds: Rounds) -> np.ndarray:
        weight = _clip(rounds.weight, self.max_weight)
        return _mean_terms(weight * rounds.reward)

    def combine(self, sums: np.ndarray) -> np.ndarray:
        return _ratio(sums[..., 0], sums[..., 1])


@dataclass(frozen=True)
class SNIPS(Estimator):
    """Self-normalised IPS: Σ w_i r_i / Σ w_i. Slightly biased, far less variance than IPS."""

    name: ClassVar[str] = "snips"

    def round_terms(self, rounds: Rounds) -> np.ndarray:
        weight = rounds.weight
        return np.column_stack([weight * rounds.reward, weight])

    def combine(self, sums: np.ndarray) -> np.ndarray:
        return _ratio(sums[..., 0], sums[..., 1])


@dataclass(frozen=True)
class DM(Estimator):
    """Direct method: the reward model's value of the policy, mean(Σ_a π(a|x_i) q̂(x_i, a)).

    Low variance, but as biased as the reward model is wrong. Its bootstrap interval reuses q̂,
    so it shows the spread over rounds only, not the reward model's own uncertainty: read it as
    a lower bound on the real uncertainty.
    """

    name: ClassVar[str] = "dm"
    needs_reward_model: ClassVar[bool] = True

    def round_terms(self, rounds: Rounds) -> np.ndarray:
        _, q_policy = rounds.require_rewards_model(self.label)
        return _mean_terms(q_policy)

    def combine(self, sums: np.ndarray) -> np.ndarray:
        return _ratio(sums[..., 0], sums[..., 1])


@dataclass(frozen=True)
class DR(Estimator):
    """Doubly robust: DM plus IPS on the model's residuals; unbiased if either part is right.

    ``max_weight`` clips the weights on the residual term.
    """

    max_weight: float | None = None
    name: ClassVar[str] = "dr"
    needs_reward_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_max_weight(self.max_weight)

    @property
    def label(self) -> str:
        return _clipped_label(self.name, self.max_weight)

    def round_terms(self, rounds: Rounds) -> np.ndarray:
        q_logged, q_policy = rounds.require_rewards_model(self.label)
        weight = _clip(rounds.weight, self.max_weight)
        return _mean_terms(q_policy + weight * (rounds.reward - q_logged))

    def combine(self, sums: np.ndarray) -> np.ndarray:
        return _ratio(sums[..., 0], sums[..., 1])


@dataclass(frozen=True)
class SNDR(Estimator):
    """Self-normalised DR: mean(dm_i) + Σ w_i (r_i − q̂(x_i, a_i)) / Σ w_i."""

    name: ClassVar[str] = "sndr"
    needs_reward_model: ClassVar[bool] = True

    def round_terms(self, rounds: Rounds) -> np.ndarray:
        q_logged, q_policy = rounds.require_rewards_model(self.label)
        weight = rounds.weight
        ones = np.ones_like(weight)
        return np.column_stack([q_policy, ones, weight * (rounds.reward - q_logged), weight])

    def combine(self, sums: np.ndarray) -> np.ndarray:
        return _ratio(sums[..., 0], sums[..., 1]) + _ratio(sums[..., 2], sums[..., 3])


ESTIMATORS: dict[str, type[Estimator]] = {
    cls.name: cls for cls in (Replay, IPS, SNIPS, DM, DR, SNDR)
}


def resolve(estimators: str | Estimator | Iterable[str | Estimator]) -> list[Estimator]:
    """Estimators from names in ``ESTIMATORS`` or instances (e.g. ``IPS(max_weight=10)``)."""
    items = [estimators] if isinstance(estimators, str | Estimator) else list(estimators)
    if not items:
        raise UsageError(f"estimators is empty: pick from {sorted(ESTIMATORS)}")
    resolved: list[Estimator] = []
    for item in items:
        if isinstance(item, Estimator):
            resolved.append(item)
        elif isinstance(item, str) and item.lower() in ESTIMATORS:
            resolved.append(ESTIMATORS[item.lower()]())
        else:
            raise UsageError(
                f"estimators contains {item!r}: unknown estimator; valid names are "
                f"{', '.join(ESTIMATORS)}"
            )
    labels = [e.label for e in resolved]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise UsageError(f"estimators lists {', '.join(map(repr, twice))} more than once")
    return resolved


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (e.g. a resample in which the policy matches no round)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _mean_terms(values: np.ndarray) -> np.ndarray:
    return np.column_stack([values, np.ones_like(values)])


def _clip(weight: np.ndarray, max_weight: float | None) -> np.ndarray:
    return weight if max_weight is None else np.minimum(weight, max_weight)


def _check_max_weight(max_weight: float | None) -> None:
    if max_weight is None:
        return
    if isinstance(max_weight, bool) or not isinstance(max_weight, int | float | np.number):
        raise UsageError(f"max_weight = {max_weight!r}: must be a number > 0 or None")
    if not (np.isfinite(max_weight) and max_weight > 0):
        raise UsageError(f"max_weight = {max_weight!r}: must be a finite number > 0 or None")


def _clipped_label(name: str, max_weight: float | None) -> str:
    return name if max_weight is None else f"{name}(max_weight={max_weight:g})"

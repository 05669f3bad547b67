"""Logged bandit feedback and the evaluation policy's action distribution, checked on arrival.

A log holds one row per round: the action the logging policy took, the reward it got, the
probability (propensity) it had of taking that action, optionally the slot (position) the action
was shown in and the context it saw. Everything downstream trusts these arrays, so they are
validated once here and kept as read-only copies::

    logged = LoggedFeedback(action=[0, 2, 1], reward=[1.0, 0.0, 0.0],
                            pscore=[0.2, 0.2, 0.2], n_actions=5)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from media_ml.errors import UsageError

SUM_TOLERANCE = 1e-6  # how far Σ_a π(a | x, pos) may stray from 1 (float32 policies, MC averages)


@dataclass(frozen=True, eq=False, kw_only=True)
class LoggedFeedback:
    """Rounds logged by a (stochastic) logging policy.

    ``action`` ints in [0, n_actions); ``reward`` finite floats; ``pscore`` the logging policy's
    probability of the logged action, in (0, 1]; ``position`` (optional) the 0-based slot of the
    action; ``context`` (optional) an (n, d) float array of what the policy saw.
    """

    action: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray
    n_actions: int
    position: np.ndarray | None = None
    context: np.ndarray | None = None

    def __post_init__(self) -> None:
        n_actions = _check_n_actions(self.n_actions)
        action = _int_vector("action", self.action)
        n = len(action)
        reward = _float_vector("reward", self.reward, n)
        pscore = _float_vector("pscore", self.pscore, n)
        outside = ~((pscore > 0) & (pscore <= 1))
        _first_bad("pscore", pscore, outside, "propensities must be in (0, 1]")
        _first_bad(
            "action",
            action,
            (action < 0) | (action >= n_actions),
            f"actions must be in [0, {n_actions}) (n_actions = {n_actions})",
        )
        position = None
        if self.position is not None:
            position = _int_vector("position", self.position, n)
            _first_bad("position", position, position < 0, "positions must be ≥ 0")
        context = None if self.context is None else _context(self.context, n)
        object.__setattr__(self, "n_actions", n_actions)
        for name, value in (
            ("action", action),
            ("reward", reward),
            ("pscore", pscore),
            ("position", position),
            ("context", context),
        ):
            if value is not None:
                value.flags.writeable = False
            object.__setattr__(self, name, value)

    @property
    def n(self) -> int:
        """Number of logged rounds."""
        return len(self.action)

    @property
    def n_positions(self) -> int:
        """Slots seen in the log (1 without positions)."""
        return 1 if self.position is None else int(self.position.max()) + 1

    @property
    def positions(self) -> np.ndarray:
        """0-based position of every round (zeros without positions)."""
        if self.position is None:
            return np.zeros(self.n, dtype=np.int64)
        return self.position

    def __repr__(self) -> str:
        extras = "".join(
            f", {name}=yes" for name in ("position", "context") if getattr(self, name) is not None
        )
        return f"LoggedFeedback(n={self.n}, n_actions={self.n_actions}{extras})"


def check_action_dist(logged: LoggedFeedback, action_dist: Any) -> np.ndarray:
    """The evaluation policy's π(a | x_i, pos) as a float array (n, n_actions, n_positions).

    A 2-D (n, n_actions) array is one position. Every (round, position) must be a distribution
    over actions (finite, ≥ 0, summing to 1 within 1e-6); putting all the mass on a few actions,
    as a deterministic policy does, is fine.
    """
    dist = _array("action_dist", action_dist)
    if dist.dtype.kind not in "biuf":
        raise UsageError(f"action_dist has dtype {dist.dtype}: expected probabilities (floats)")
    if dist.ndim == 2:
        dist = dist[:, :, np.newaxis]
    if dist.ndim != 3:
        raise UsageError(
            f"action_dist has shape {dist.shape}: expected (n_rounds, n_actions) or "
            "(n_rounds, n_actions, n_positions)"
        )
    expected = (logged.n, logged.n_actions)
    if dist.shape[:2] != expected or dist.shape[2] < 1:
        raise UsageError(
            f"action_dist has shape {dist.shape}: expected ({logged.n}, {logged.n_actions}, "
            "n_positions) for this log"
        )
    n_positions = dist.shape[2]
    if logged.position is None and n_positions > 1:
        raise UsageError(
            f"action_dist has {n_positions} positions (shape {dist.shape}) but the log has no "
            "position: pass position= to LoggedFeedback or a (n_rounds, n_actions) action_dist"
        )
    if logged.position is not None:
        _first_bad(
            "position",
            logged.position,
            logged.position >= n_positions,
            f"out of range for action_dist with {n_positions} position(s) (shape {dist.shape})",
        )
    dist = np.asarray(dist, dtype=np.float64)
    _first_bad("action_dist", dist, ~np.isfinite(dist), "probabilities must be finite")
    _first_bad("action_dist", dist, dist < 0, "probabilities must be ≥ 0")
    sums = dist.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        i, pos = (int(v) for v in np.argwhere(off)[0])
        raise UsageError(
            f"action_dist[{i}, :, {pos}] sums to {float(sums[i, pos])!r}: the evaluation "
            f"policy's probabilities over actions must sum to 1 (within {SUM_TOLERANCE:g}) for "
            f"every round and position ({int(off.sum())} (round, position) pairs do not)"
        )
    return dist


def _check_n_actions(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise UsageError(f"n_actions = {value!r}: must be an integer ≥ 1")
    return int(value)


def _array(field: str, values: Any) -> np.ndarray:
    try:
        return np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise UsageError(f"{field} cannot be read as an array: {exc}") from exc


def _vector(field: str, values: Any, n: int | None) -> np.ndarray:
    arr = _array(field, values)
    if arr.ndim != 1:
        raise UsageError(f"{field} has shape {arr.shape}: expected one value per round (1-D)")
    if len(arr) == 0:
        raise UsageError(f"{field} is empty: need at least one logged round")
    if n is not None and len(arr) != n:
        raise UsageError(f"{field} has {len(arr)} rounds but action has {n}: lengths must match")
    return arr


def _int_vector(field: str, values: Any, n: int | None = None) -> np.ndarray:
    arr = _vector(field, values, n)
    if arr.dtype.kind in "iu":
        return np.array(arr, dtype=np.int64)
    if arr.dtype.kind == "f":
        fractional = ~np.isfinite(arr) | (arr != np.round(arr))
        _first_bad(field, arr, fractional, f"{field} must be integers")
        return arr.astype(np.int64)
    raise UsageError(f"{field} has dtype {arr.dtype}: expected integers")


def _float_vector(field: str, values: Any, n: int) -> np.ndarray:
    arr = _vector(field, values, n)
    if arr.dtype.kind not in "biuf":
        raise UsageError(f"{field} has dtype {arr.dtype}: expected numbers")
    out = np.array(arr, dtype=np.float64)
    _first_bad(field, out, ~np.isfinite(out), f"{field} must be finite")
    return out


def _context(values: Any, n: int) -> np.ndarray:
    arr = _array("context", values)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise UsageError(
            f"context has shape {arr.shape}: expected ({n}, n_features), one row per round"
        )
    if arr.dtype.kind not in "biuf":
        raise UsageError(f"context has dtype {arr.dtype}: expected numbers")
    out = np.array(arr, dtype=np.float64)
    _first_bad("context", out, ~np.isfinite(out), "context must be finite")
    return out


def _first_bad(field: str, values: np.ndarray, bad: np.ndarray, reason: str) -> None:
    """Raise naming the first offending entry (and how many there are) when ``bad`` has any."""
    if not bad.any():
        return
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    value = values[where].item()
    index = ", ".join(str(i) for i in where)
    count = int(bad.sum())
    more = f" ({count} such entries)" if count > 1 else ""
    raise UsageError(f"{field}[{index}] = {value!r}: {reason}{more}")

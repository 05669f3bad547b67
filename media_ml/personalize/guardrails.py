"""Serving guardrails: bound exploration, floor every arm's probability.

Both act on the distribution *before* the arm is drawn, so the logged propensity is always the
probability the arm was really served with (offline evaluation stays unbiased):

* ``max_explore_share``: the policy's distribution is mixed with its greedy arm,
  ``q = (1 - β)·onehot(greedy) + β·p``, with β chosen so that the probability of exploring
  (serving another arm than the greedy one) is at most the budget left after the floor;
* ``min_propensity`` ``f``: ``q' = (1 - n·f)·q + f`` gives every one of the ``n`` arms at least
  ``f`` and explores at most ``(n - 1)·f`` more.

Together the chance that a decision explores is at most ``max_explore_share`` (the config
refuses a floor that alone would exceed it).
"""

from __future__ import annotations

import numpy as np


def guard(pmf: np.ndarray, greedy: int, min_propensity: float,
          max_explore_share: float) -> np.ndarray:
    """The distribution to serve: ``pmf`` with the exploration cap and the floor applied."""
    p = np.asarray(pmf, np.float64)
    n = len(p)
    floor = min(min_propensity, 1.0 / n)
    budget = max(0.0, max_explore_share - (n - 1) * floor)
    explore = 1.0 - float(p[greedy])
    if explore > budget:
        beta = budget / explore if explore > 0 else 0.0
        p = beta * p
        p[greedy] += 1.0 - beta
    if floor > 0:
        p = (1.0 - n * floor) * p + floor
    p = np.clip(p, 0.0, None)
    return np.asarray(p / p.sum(), np.float64)

"""Offline policy evaluation: what would a new policy have earned on rounds an old one logged?

::

    from media_ml.evaluation import LoggedFeedback, evaluate
    logged = LoggedFeedback(action=a, reward=r, pscore=p, position=pos, n_actions=k)
    est = evaluate(logged, action_dist, estimators=("ips", "snips", "dr"))  # (n, k, n_positions)
    est["ips"].value, est["ips"].low, est["ips"].high

Estimators (``ESTIMATORS``): replay, ips, snips, dm, dr, sndr — the definitions of Open Bandit
Pipeline's ``obp.ope``; intervals are percentile bootstraps over rounds. scikit-learn (reward
model) and matplotlib (plots) load only when used.
"""

from media_ml.evaluation.estimators import ESTIMATORS
from media_ml.evaluation.feedback import LoggedFeedback
from media_ml.evaluation.plot import plot_estimates
from media_ml.evaluation.policy_value import Comparison, Estimate, compare, evaluate

__all__ = [
    "ESTIMATORS",
    "Comparison",
    "Estimate",
    "LoggedFeedback",
    "compare",
    "evaluate",
    "plot_estimates",
]

"""Cross-fitted reward model q̂(x, a, pos) for the direct-method family (DM, DR, SNDR).

The model sees [context, one-hot action, one-hot position] and learns the logged reward. With
K-fold cross-fitting each round's q̂ comes from a model fitted on the other folds, so DR's
correction term is not fooled by a model that memorised the round it corrects.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from media_ml.errors import UsageError
from media_ml.evaluation.feedback import LoggedFeedback

log = logging.getLogger(__name__)

_PREDICT_ROWS = 100_000  # feature rows built per predict call (bounded memory)


def default_reward_model(binary: bool) -> Any:
    """Logistic regression for 0/1 rewards (clicks), ridge regression otherwise."""
    from sklearn.linear_model import LogisticRegression, Ridge

    return LogisticRegression(max_iter=1000) if binary else Ridge(alpha=1.0)


def cross_fit_rewards(
    logged: LoggedFeedback,
    n_positions: int,
    reward_model: Any = None,
    n_folds: int = 2,
    random_state: int | None = 0,
) -> np.ndarray:
    """q̂(x_i, a, pos_i) for every action at each round's logged position, shape (n, n_actions).

    ``reward_model`` is any scikit-learn regressor, or a classifier when rewards are 0/1 (its
    probability of reward 1 is used); it is cloned for each fold. ``random_state`` seeds the
    fold split.
    """
    from sklearn.base import clone, is_classifier
    from sklearn.model_selection import KFold

    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2:
        raise UsageError(f"n_folds = {n_folds!r}: must be an integer ≥ 2")
    if logged.n < n_folds:
        raise UsageError(
            f"the log has {logged.n} round(s): cross-fitting with n_folds = {n_folds} needs at "
            f"least {n_folds}"
        )
    binary = bool(np.isin(logged.reward, (0.0, 1.0)).all())
    model = default_reward_model(binary) if reward_model is None else reward_model
    if not (callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None))):
        raise UsageError(
            f"reward_model = {model!r}: expected a scikit-learn estimator (with fit and predict)"
        )
    classifier = is_classifier(model)
    if classifier and not binary:
        raise UsageError(
            f"reward_model = {model!r} is a classifier but the rewards are not all 0 or 1: "
            "pass a regressor"
        )
    q_hat = np.empty((logged.n, logged.n_actions))
    folds = KFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    for train, test in folds.split(np.empty((logged.n, 1))):
        y = logged.reward[train]
        if classifier and len(np.unique(y)) < 2:
            # A fold with no clicks (or only clicks) cannot fit a classifier; its rate is q̂.
            log.info("reward model: a training fold has only reward %g; using it as q̂", y[0])
            q_hat[test] = y[0]
            continue
        fitted = clone(model).fit(_features(logged, train, logged.action[train], n_positions), y)
        q_hat[test] = _predict_all_actions(fitted, logged, test, n_positions, classifier)
    return q_hat


def _features(
    logged: LoggedFeedback, rows: np.ndarray, action: np.ndarray, n_positions: int
) -> np.ndarray:
    """[context, one-hot action, one-hot position] for (round, action) pairs; rows may repeat."""
    parts = []
    if logged.context is not None:
        parts.append(logged.context[rows])
    parts.append(_one_hot(action, logged.n_actions))
    if n_positions > 1:
        parts.append(_one_hot(logged.positions[rows], n_positions))
    return np.hstack(parts)


def _one_hot(index: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((len(index), size))
    out[np.arange(len(index)), index] = 1.0
    return out


def _predict(model: Any, features: np.ndarray, classifier: bool) -> np.ndarray:
    if not classifier:
        return np.asarray(model.predict(features), dtype=np.float64)
    column = list(model.classes_).index(1.0)
    return np.asarray(model.predict_proba(features)[:, column], dtype=np.float64)


def _predict_all_actions(
    model: Any, logged: LoggedFeedback, rows: np.ndarray, n_positions: int, classifier: bool
) -> np.ndarray:
    """q̂ for every action of the given rounds at their logged positions: (len(rows), n_actions)."""
    n_actions = logged.n_actions
    every_action = np.arange(n_actions)
    out = np.empty((len(rows), n_actions))
    if logged.context is None:
        # Context-free: q̂ depends on (action, position) only, so predict each position once.
        positions = logged.positions[rows]
        for pos in np.unique(positions):
            probe = np.flatnonzero(positions == pos)[:1]
            pairs = np.repeat(rows[probe], n_actions)
            out[positions == pos] = _predict(
                model, _features(logged, pairs, every_action, n_positions), classifier
            )
        return out
    chunk = max(1, _PREDICT_ROWS // n_actions)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        pairs = np.repeat(part, n_actions)
        actions = np.tile(every_action, len(part))
        predicted = _predict(model, _features(logged, pairs, actions, n_positions), classifier)
        out[start : start + len(part)] = predicted.reshape(len(part), n_actions)
    return out

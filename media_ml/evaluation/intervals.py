"""Percentile bootstrap over logged rounds, vectorised.

Every estimator here is a function of column sums of per-round terms, so a bootstrap replicate
needs only those sums over a resample of rounds. A resample is drawn as n indices, turned into
per-round counts (``bincount``), and the sums of *all* terms of *all* estimators come from one
matrix product: counts (B, n) @ terms (n, m). Replicates are drawn in chunks so memory stays
bounded (about ``_CHUNK_ELEMENTS`` counts at a time) whatever n and n_bootstrap are.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from media_ml.errors import UsageError

log = logging.getLogger(__name__)

MIN_BOOTSTRAP = 100
_CHUNK_ELEMENTS = 4_000_000  # resampled indices per chunk: ~32 MB of int64 plus the counts


def check_alpha(alpha: Any) -> float:
    """Significance level in (0, 1): the interval covers 1 − alpha."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.number):
        raise UsageError(f"alpha = {alpha!r}: must be a number in (0, 1), e.g. 0.05")
    if not 0 < alpha < 1:
        raise UsageError(f"alpha = {alpha!r}: must be in (0, 1), e.g. 0.05 for 95 % intervals")
    return float(alpha)


def check_n_bootstrap(n_bootstrap: Any) -> int:
    if (
        isinstance(n_bootstrap, bool)
        or not isinstance(n_bootstrap, int | np.integer)
        or n_bootstrap < MIN_BOOTSTRAP
    ):
        raise UsageError(
            f"n_bootstrap = {n_bootstrap!r}: must be an integer ≥ {MIN_BOOTSTRAP} "
            "(percentile intervals from fewer resamples are noise)"
        )
    return int(n_bootstrap)


def check_random_state(random_state: Any) -> int | None:
    if random_state is None:
        return None
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise UsageError(f"random_state = {random_state!r}: must be an integer ≥ 0 or None")
    if random_state < 0:
        raise UsageError(f"random_state = {random_state!r}: must be an integer ≥ 0 or None")
    return int(random_state)


def bootstrap_sums(terms: np.ndarray, n_bootstrap: int, random_state: int | None) -> np.ndarray:
    """Column sums of ``terms`` (n, m) over ``n_bootstrap`` resamples of its rows: (B, m).

    The same resamples serve every column, so estimates built from different columns are paired.
    """
    n = terms.shape[0]
    rng = np.random.default_rng(random_state)
    chunk = max(1, min(n_bootstrap, _CHUNK_ELEMENTS // n))
    out = np.empty((n_bootstrap, terms.shape[1]))
    offsets = np.arange(chunk, dtype=np.int64)[:, np.newaxis] * n
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        picks = rng.integers(0, n, size=(size, n))
        picks += offsets[:size]
        counts = np.bincount(picks.ravel(), minlength=size * n).reshape(size, n)
        out[start : start + size] = counts.astype(np.float64) @ terms
    return out


def percentile_interval(replicates: np.ndarray, alpha: float, what: str) -> tuple[float, float]:
    """The (alpha/2, 1 − alpha/2) quantiles of the replicates, ignoring undefined (NaN) ones."""
    defined = replicates[np.isfinite(replicates)]
    if len(defined) < len(replicates):
        log.warning(
            "%s: %d of %d bootstrap resamples are undefined (no weight on any resampled round); "
            "the interval uses the rest",
            what,
            len(replicates) - len(defined),
            len(replicates),
        )
    if len(defined) == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(defined, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)

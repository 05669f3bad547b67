"""Offline policy evaluation: validation, estimator formulas, known-truth logs, intervals, plots."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from media_ml.errors import UsageError
from media_ml.evaluation import (
    ESTIMATORS,
    Comparison,
    Estimate,
    LoggedFeedback,
    compare,
    evaluate,
    plot_estimates,
)
from media_ml.evaluation.estimators import DR, IPS, Replay
from media_ml.evaluation.feedback import check_action_dist
from media_ml.evaluation.intervals import bootstrap_sums
from media_ml.evaluation.reward_model import cross_fit_rewards

N_ACTIONS = 5
CLICK_RATE = np.array([0.05, 0.10, 0.20, 0.30, 0.45])  # per action, known in advance
POLICY = np.array([0.05, 0.05, 0.10, 0.30, 0.50])  # the evaluation policy, every round
TRUE_VALUE = float(POLICY @ CLICK_RATE)


@dataclass(frozen=True)
class KnownLog:
    """Uniform-random logging over 5 actions with Bernoulli rewards of known rates."""

    logged: LoggedFeedback
    action_dist: np.ndarray
    truth: float


@pytest.fixture(scope="module")
def uniform_log() -> KnownLog:
    rng = np.random.default_rng(7)
    n = 20_000
    action = rng.integers(0, N_ACTIONS, n)
    reward = (rng.random(n) < CLICK_RATE[action]).astype(float)
    logged = LoggedFeedback(
        action=action, reward=reward, pscore=np.full(n, 1 / N_ACTIONS), n_actions=N_ACTIONS
    )
    return KnownLog(logged, np.tile(POLICY, (n, 1)), TRUE_VALUE)


@pytest.fixture(scope="module")
def positional_log() -> KnownLog:
    """Three slots; the click rate drops with the slot; the policy differs per slot."""
    rng = np.random.default_rng(11)
    n = 30_000
    slot_factor = np.array([1.0, 0.6, 0.3])
    policy = np.stack([POLICY, POLICY[::-1], np.full(N_ACTIONS, 1 / N_ACTIONS)], axis=1)
    action = rng.integers(0, N_ACTIONS, n)
    position = rng.integers(0, 3, n)
    rate = CLICK_RATE[:, None] * slot_factor[None, :]  # (action, slot)
    reward = (rng.random(n) < rate[action, position]).astype(float)
    logged = LoggedFeedback(
        action=action,
        reward=reward,
        pscore=np.full(n, 1 / N_ACTIONS),
        position=position,
        n_actions=N_ACTIONS,
    )
    truth = float(np.mean([policy[:, p] @ rate[:, p] for p in range(3)]))  # slots are uniform
    return KnownLog(logged, np.tile(policy, (n, 1, 1)), truth)


def small_log(n: int = 10, **changes: Any) -> dict[str, Any]:
    """Valid LoggedFeedback arguments; ``changes`` replaces some."""
    rng = np.random.default_rng(0)
    args: dict[str, Any] = {
        "action": rng.integers(0, N_ACTIONS, n),
        "reward": rng.integers(0, 2, n).astype(float),
        "pscore": np.full(n, 1 / N_ACTIONS),
        "position": rng.integers(0, 3, n),
        "context": None,
        "n_actions": N_ACTIONS,
    }
    args.update(changes)
    return args


def uniform_dist(n: int = 10, n_positions: int = 3) -> np.ndarray:
    return np.full((n, N_ACTIONS, n_positions), 1 / N_ACTIONS)


def with_value(values: np.ndarray, index: int, value: Any) -> np.ndarray:
    out = np.array(values, dtype=np.result_type(values, np.asarray(value)))
    out[index] = value
    return out


# --- invalid input ------------------------------------------------------------------------------

BASE = small_log()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pscore": with_value(BASE["pscore"], 3, 0.0)}, r"pscore\[3\] = 0\.0: propensities"),
        ({"pscore": with_value(BASE["pscore"], 2, -0.5)}, r"pscore\[2\] = -0\.5"),
        ({"pscore": with_value(BASE["pscore"], 1, 1.5)}, r"pscore\[1\] = 1\.5: .*\(0, 1\]"),
        ({"pscore": with_value(BASE["pscore"], 0, np.nan)}, r"pscore\[0\] = nan"),
        ({"reward": with_value(BASE["reward"], 4, np.nan)}, r"reward\[4\] = nan: .*finite"),
        ({"reward": with_value(BASE["reward"], 5, np.inf)}, r"reward\[5\] = inf"),
        ({"reward": BASE["reward"][:9]}, r"reward has 9 rounds but action has 10"),
        ({"pscore": BASE["pscore"][:8]}, r"pscore has 8 rounds"),
        ({"position": BASE["position"][:7]}, r"position has 7 rounds"),
        ({"action": with_value(BASE["action"], 6, 5)}, r"action\[6\] = 5: .*\[0, 5\)"),
        ({"action": with_value(BASE["action"], 2, -1)}, r"action\[2\] = -1"),
        ({"action": with_value(BASE["action"], 1, 1.5)}, r"action\[1\] = 1\.5: .*integers"),
        ({"action": BASE["action"].astype(str)}, r"action has dtype <U\d+"),
        ({"reward": BASE["reward"].astype(str)}, r"reward has dtype <U\d+"),
        ({"pscore": ["0.2"] * 10}, r"pscore has dtype <U\d+"),
        ({"position": BASE["position"].astype(str)}, r"position has dtype"),
        ({"position": with_value(BASE["position"], 3, -2)}, r"position\[3\] = -2: .*≥ 0"),
        ({"action": BASE["action"].reshape(2, 5)}, r"action has shape \(2, 5\)"),
        ({"action": [], "reward": [], "pscore": [], "position": None}, r"action is empty"),
        ({"action": [[0, 1], [2]]}, r"action cannot be read as an array"),
        ({"n_actions": 0}, r"n_actions = 0"),
        ({"n_actions": 5.0}, r"n_actions = 5\.0"),
        ({"n_actions": True}, r"n_actions = True"),
        ({"context": np.zeros(10)}, r"context has shape \(10,\): expected \(10, n_features\)"),
        ({"context": np.zeros((9, 2))}, r"context has shape \(9, 2\)"),
        ({"context": with_value(np.zeros((10, 2)), 4, np.inf)}, r"context\[4, 0\] = inf"),
        ({"context": np.full((10, 2), "x")}, r"context has dtype <U1"),
    ],
)
def test_logged_feedback_rejects_invalid_input_naming_the_field(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        LoggedFeedback(**small_log(**changes))


def test_logged_feedback_keeps_read_only_copies() -> None:
    args = small_log()
    logged = LoggedFeedback(**args)
    args["reward"][0] = 99.0
    assert logged.reward[0] != 99.0
    for array in (logged.action, logged.reward, logged.pscore, logged.position):
        assert array is not None and not array.flags.writeable
    assert logged.n == 10 and logged.n_positions == 3
    assert LoggedFeedback(**small_log(action=[0.0, 1.0] * 5)).action.dtype == np.int64


def test_action_dist_validation_names_index_and_value() -> None:
    logged = LoggedFeedback(**small_log(position=np.r_[np.zeros(9, int), 2]))
    dist = uniform_dist()
    cases: list[tuple[Any, str]] = [
        (dist[:9], r"action_dist has shape \(9, 5, 3\): expected \(10, 5, n_positions\)"),
        (dist[:, :4], r"action_dist has shape \(10, 4, 3\)"),
        (dist[:, :, 0, None][..., 0][..., 0], r"action_dist has shape \(10,\)"),
        (dist[..., None], r"action_dist has shape \(10, 5, 3, 1\)"),
        (dist[:, :, :2], r"position\[9\] = 2: out of range for action_dist with 2 position"),
        (dist.astype(str), r"action_dist has dtype <U"),
    ]
    off = dist.copy()
    off[4, :, 1] *= 0.9
    cases.append((off, r"action_dist\[4, :, 1\] sums to 0\.9\d*: .*sum to 1"))
    negative = dist.copy()
    negative[2, 0, 0], negative[2, 1, 0] = -0.1, 0.5
    cases.append((negative, r"action_dist\[2, 0, 0\] = -0\.1: probabilities must be ≥ 0"))
    nan = dist.copy()
    nan[3, 1, 2] = np.nan
    cases.append((nan, r"action_dist\[3, 1, 2\] = nan: .*finite"))
    for bad, message in cases:
        with pytest.raises(UsageError, match=message):
            evaluate(logged, bad, estimators=("ips",))


def test_action_dist_with_positions_needs_positions_in_the_log() -> None:
    logged = LoggedFeedback(**small_log(position=None))
    with pytest.raises(UsageError, match=r"action_dist has 3 positions .* no position"):
        check_action_dist(logged, uniform_dist())
    # Without positions a 2-D action_dist and a (n, k, 1) one mean the same policy.
    two_d = np.full((10, N_ACTIONS), 1 / N_ACTIONS)
    assert check_action_dist(logged, two_d).shape == (10, N_ACTIONS, 1)
    a = evaluate(logged, two_d, estimators=("ips", "snips"))
    b = evaluate(logged, two_d[:, :, None], estimators=("ips", "snips"))
    assert a == b


def test_action_dist_may_put_all_mass_on_a_subset_of_actions() -> None:
    logged = LoggedFeedback(**small_log())
    dist = np.zeros((10, N_ACTIONS, 3))
    dist[:, 0, :] = 1.0  # deterministic
    dist[5, :, 1] = [0.0, 0.5, 0.0, 0.5, 0.0]  # two actions only
    dist[6, :, 2] = [0.0, 0.0, 0.3, 0.3, 0.4 - 1e-8]  # within the 1e-6 tolerance
    dist[6, 0, 2] = 0.0
    assert check_action_dist(logged, dist).shape == (10, N_ACTIONS, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"estimators": ("ips", "magic")}, r"'magic': unknown estimator; valid names are replay"),
        ({"estimators": ()}, r"estimators is empty"),
        ({"estimators": ("ips", "IPS")}, r"estimators lists 'ips' more than once"),
        ({"alpha": 0.0}, r"alpha = 0\.0: must be in \(0, 1\)"),
        ({"alpha": 1}, r"alpha = 1:"),
        ({"alpha": "0.05"}, r"alpha = '0\.05'"),
        ({"n_bootstrap": 99}, r"n_bootstrap = 99: must be an integer ≥ 100"),
        ({"n_bootstrap": 500.0}, r"n_bootstrap = 500\.0"),
        ({"n_bootstrap": True}, r"n_bootstrap = True"),
        ({"random_state": -1}, r"random_state = -1"),
        ({"random_state": 1.5}, r"random_state = 1\.5"),
        ({"estimators": ("dr",), "estimated_rewards": np.zeros((10, 5, 2))}, r"estimated_rew"),
        ({"estimators": ("dm",), "reward_model": "ridge"}, r"reward_model = 'ridge'"),
    ],
)
def test_evaluate_rejects_invalid_arguments_naming_them(
    kwargs: dict[str, Any], message: str
) -> None:
    logged = LoggedFeedback(**small_log())
    with pytest.raises(UsageError, match=message):
        evaluate(logged, uniform_dist(), **kwargs)


def test_evaluate_rejects_bad_models_rewards_and_logs() -> None:
    from sklearn.linear_model import LogisticRegression

    logged = LoggedFeedback(**small_log(reward=np.linspace(0, 2, 10)))
    with pytest.raises(UsageError, match=r"reward_model = LogisticRegression.* not all 0 or 1"):
        evaluate(logged, uniform_dist(), estimators=("dr",), reward_model=LogisticRegression())
    q = np.zeros((10, N_ACTIONS, 3))
    q[1, 2, 0] = np.nan
    with pytest.raises(UsageError, match=r"estimated_rewards\[1, 2, 0\] = nan"):
        evaluate(logged, uniform_dist(), estimators=("dr",), estimated_rewards=q)
    with pytest.raises(UsageError, match=r"logged = dict"):
        evaluate(small_log(), uniform_dist())  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"max_weight = 0"):
        IPS(max_weight=0)
    with pytest.raises(UsageError, match=r"max_weight = nan"):
        DR(max_weight=float("nan"))


def test_self_normalised_estimators_are_undefined_when_the_policy_never_matches() -> None:
    logged = LoggedFeedback(**small_log(action=np.zeros(10, int)))
    never = np.zeros((10, N_ACTIONS, 3))
    never[:, 1, :] = 1.0  # the log only ever shows action 0
    assert evaluate(logged, never, estimators=("ips",))["ips"].value == 0.0
    with pytest.raises(UsageError, match=r"estimator 'snips' is undefined on this log"):
        evaluate(logged, never, estimators=("snips",))


# --- formulas -----------------------------------------------------------------------------------


def random_problem(seed: int, n: int = 500) -> tuple[LoggedFeedback, np.ndarray, np.ndarray]:
    """Arbitrary log, a stochastic policy over 3 slots, and q̂: nothing for a formula to lean on."""
    rng = np.random.default_rng(seed)
    logged = LoggedFeedback(
        action=rng.integers(0, N_ACTIONS, n),
        reward=rng.normal(size=n),
        pscore=rng.uniform(0.05, 1.0, n),
        position=rng.integers(0, 3, n),
        n_actions=N_ACTIONS,
    )
    dist = rng.dirichlet(np.ones(N_ACTIONS), size=(n, 3)).transpose(0, 2, 1)
    q_hat = rng.normal(size=(n, N_ACTIONS, 3))
    return logged, dist, q_hat


def test_estimators_equal_hand_written_numpy() -> None:
    logged, dist, q_hat = random_problem(3)
    rows, a, pos, r, p = (
        np.arange(logged.n),
        logged.action,
        logged.positions,
        logged.reward,
        logged.pscore,
    )
    w = dist[rows, a, pos] / p
    q_logged = q_hat[rows, a, pos]
    dm_i = (dist[rows, :, pos] * q_hat[rows, :, pos]).sum(axis=1)
    expected = {
        "ips": np.mean(w * r),
        "snips": np.sum(w * r) / np.sum(w),
        "replay": np.sum(dist[rows, a, pos] * r) / np.sum(dist[rows, a, pos]),
        "dm": np.mean(dm_i),
        "dr": np.mean(dm_i + w * (r - q_logged)),
        "sndr": np.mean(dm_i) + np.sum(w * (r - q_logged)) / np.sum(w),
        "ips(max_weight=2)": np.mean(np.minimum(w, 2) * r),
        "dr(max_weight=2)": np.mean(dm_i + np.minimum(w, 2) * (r - q_logged)),
    }
    est = evaluate(
        logged,
        dist,
        estimators=(*ESTIMATORS, IPS(max_weight=2), DR(max_weight=2)),
        estimated_rewards=q_hat,
        n_bootstrap=100,
    )
    assert set(est) == set(expected)
    for name, value in expected.items():
        assert est[name].value == pytest.approx(value, abs=1e-12, rel=0), name
        assert est[name].low <= est[name].high


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ips_and_snips_equal_numpy_on_random_arrays(seed: int) -> None:
    logged, dist, _ = random_problem(seed, n=2000)
    rows = np.arange(logged.n)
    w = dist[rows, logged.action, logged.positions] / logged.pscore
    est = evaluate(logged, dist, estimators=("ips", "snips"), n_bootstrap=100)
    assert abs(est["ips"].value - np.mean(w * logged.reward)) <= 1e-12
    assert abs(est["snips"].value - np.sum(w * logged.reward) / np.sum(w)) <= 1e-12


# --- known truth --------------------------------------------------------------------------------


def standard_error(logged: LoggedFeedback, action_dist: np.ndarray) -> float:
    """IPS's standard error: the scale for 'close to the truth'."""
    w = action_dist.reshape(logged.n, N_ACTIONS, -1)[
        np.arange(logged.n), logged.action, logged.positions
    ]
    terms = w / logged.pscore * logged.reward
    return float(terms.std() / np.sqrt(logged.n))


@pytest.mark.parametrize("log_name", ["uniform_log", "positional_log"])
def test_estimates_recover_the_known_value(log_name: str, request: pytest.FixtureRequest) -> None:
    known: KnownLog = request.getfixturevalue(log_name)
    est = evaluate(
        known.logged,
        known.action_dist,
        estimators=("replay", "ips", "snips", "dm", "dr", "sndr"),
        alpha=0.01,
        n_bootstrap=400,
    )
    se = standard_error(known.logged, known.action_dist)
    for name in ("replay", "ips", "snips", "dr", "sndr"):
        e = est[name]
        assert abs(e.value - known.truth) < 3 * se, (name, e, known.truth, se)
        assert e.low <= known.truth <= e.high, (name, e, known.truth)
        assert e.high - e.low < 10 * se, (name, e)  # an interval, not the whole range
        assert e.n == known.logged.n and e.alpha == 0.01
    # Rewards do not depend on context here, so the reward model is right and DM is close.
    assert abs(est["dm"].value - known.truth) < 3 * se


def test_replay_equals_snips_when_logging_is_uniform(uniform_log: KnownLog) -> None:
    est = evaluate(uniform_log.logged, uniform_log.action_dist, estimators=("replay", "snips"))
    assert est["replay"].value == pytest.approx(est["snips"].value, abs=1e-12)


def test_replay_of_a_deterministic_policy_is_the_matched_mean(uniform_log: KnownLog) -> None:
    logged = uniform_log.logged
    chosen = np.arange(logged.n) % N_ACTIONS  # the policy's (arbitrary, per-round) pick
    dist = np.zeros((logged.n, N_ACTIONS))
    dist[np.arange(logged.n), chosen] = 1.0
    est = evaluate(logged, dist, estimators=(Replay(),), n_bootstrap=100)
    assert est["replay"].value == pytest.approx(
        logged.reward[logged.action == chosen].mean(), abs=1e-12
    )


def test_dr_uses_cross_fitted_rewards_only() -> None:
    """A model that memorises its training rounds must never predict a round it was fitted on."""
    from sklearn.base import BaseEstimator, RegressorMixin

    class Memoriser(RegressorMixin, BaseEstimator):
        def fit(self, X: np.ndarray, y: np.ndarray) -> Memoriser:
            self.seen_ = set(X[:, 0].tolist())  # context column 0 is the round id
            return self

        def predict(self, X: np.ndarray) -> np.ndarray:
            return np.array([1.0 if v in self.seen_ else 0.0 for v in X[:, 0]])

    n = 200
    args = small_log(n, position=None, context=np.arange(n, dtype=float)[:, None])
    logged = LoggedFeedback(**args)
    q_hat = cross_fit_rewards(logged, 1, reward_model=Memoriser(), n_folds=3, random_state=0)
    assert q_hat.shape == (n, N_ACTIONS) and not q_hat.any()


def test_reward_model_defaults_fit_continuous_and_all_zero_rewards() -> None:
    rng = np.random.default_rng(5)
    n = 600
    context = rng.normal(size=(n, 2))
    action = rng.integers(0, N_ACTIONS, n)
    reward = context[:, 0] + 0.5 * action + rng.normal(scale=0.1, size=n)
    logged = LoggedFeedback(
        action=action, reward=reward, pscore=np.full(n, 0.2), context=context, n_actions=5
    )
    dist = np.tile(POLICY, (n, 1))
    est = evaluate(logged, dist, estimators=("dm", "dr"), n_bootstrap=100)  # Ridge by default
    truth = float(context[:, 0].mean() + 0.5 * POLICY @ np.arange(N_ACTIONS))
    assert abs(est["dm"].value - truth) < 0.05 and abs(est["dr"].value - truth) < 0.05
    zeros = LoggedFeedback(**small_log(40, reward=np.zeros(40), position=None))
    est = evaluate(zeros, np.tile(POLICY, (40, 1)), estimators=("dr",), n_bootstrap=100)
    assert est["dr"].value == 0.0


# --- intervals ----------------------------------------------------------------------------------


def test_same_random_state_gives_identical_intervals(uniform_log: KnownLog) -> None:
    def run(seed: int | None) -> dict[str, Estimate]:
        return evaluate(
            uniform_log.logged,
            uniform_log.action_dist,
            estimators=("ips", "dr"),
            n_bootstrap=200,
            random_state=seed,
        )

    first, again, other = run(1), run(1), run(2)
    assert first == again
    for name in first:
        assert (first[name].low, first[name].high) != (other[name].low, other[name].high)
        assert first[name].value == pytest.approx(other[name].value, abs=0.01)


def test_bootstrap_of_100k_rounds_is_vectorised() -> None:
    terms = np.random.default_rng(0).random((100_000, 4))
    start = time.perf_counter()
    sums = bootstrap_sums(terms, 1000, 0)
    elapsed = time.perf_counter() - start
    assert sums.shape == (1000, 4)
    # Each resample sums n rounds: the means scatter around the column means like 1/sqrt(n).
    assert np.allclose(sums.mean(axis=0) / 100_000, terms.mean(axis=0), atol=1e-3)
    assert elapsed < 5.0, f"1000 resamples of 100k rounds took {elapsed:.1f} s"


# --- comparison and plot ------------------------------------------------------------------------


def test_compare_summary_reports_lift_with_paired_interval(uniform_log: KnownLog) -> None:
    result = compare(uniform_log.logged, uniform_log.action_dist, n_bootstrap=300)
    assert isinstance(result, Comparison)
    logging_value = uniform_log.logged.reward.mean()
    assert result.logging.value == pytest.approx(logging_value)
    assert result.lift == pytest.approx(result.candidate.value / logging_value - 1)
    lift, low, high = result.lift, result.lift_low, result.lift_high
    assert lift is not None and low is not None and high is not None
    assert low < lift < high
    summary = result.summary()
    assert re.fullmatch(r"\+\d+\.\d % \(95 % CI \d+\.\d–\d+\.\d\), n = 20000", summary), summary
    assert summary.startswith(f"+{100 * lift:.1f} %")

    worse = np.tile(np.eye(N_ACTIONS)[0], (uniform_log.logged.n, 1))  # always the worst action
    down = compare(uniform_log.logged, worse, estimator="ips", alpha=0.1, n_bootstrap=300)
    assert re.fullmatch(r"-\d+\.\d % \(90 % CI -\d+\.\d–-\d+\.\d\), n = 20000", down.summary())


def test_compare_says_lift_is_undefined_when_logging_value_is_zero() -> None:
    logged = LoggedFeedback(**small_log(reward=np.zeros(10)))
    result = compare(logged, uniform_dist(), n_bootstrap=100)
    assert result.lift is None
    assert result.summary().startswith("lift undefined: the logging policy's value is 0")
    assert result.summary().endswith("n = 10")


def test_plot_estimates_writes_a_png(tmp_path: Path, uniform_log: KnownLog) -> None:
    from PIL import Image

    est = evaluate(uniform_log.logged, uniform_log.action_dist, n_bootstrap=100)
    path = plot_estimates(est, tmp_path / "ope.png", logging_value=0.21, title="uniform log")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.load()
        width, height = image.size
    assert 300 <= width <= 2000 and 200 <= height <= 2000
    with pytest.raises(UsageError, match="estimates is empty"):
        plot_estimates({}, tmp_path / "empty.png")
    with pytest.raises(UsageError, match="folder does not exist"):
        plot_estimates(est, tmp_path / "missing" / "ope.png")


def test_importing_evaluation_stays_light() -> None:
    code = (
        "import sys, media_ml.evaluation\n"
        "heavy = [m for m in ('sklearn', 'matplotlib', 'scipy') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

"""Do our offline estimators' intervals cover the truth? Bias, RMSE and coverage over many seeds.

    python benchmarks/ope.py [--seeds 200] [--rounds 2000] [--arms 10] [--n-bootstrap 500]

Members and arms come from ``media_ml.personalize.simulator`` (true click probability per member
context × arm). Per seed: ``--rounds`` members arrive, a stochastic *logging* policy (a noisy
softmax of the true scores mixed with 20 % uniform) picks an arm and logs its propensity, the
reward is drawn; then ``media_ml.evaluation.evaluate`` estimates the value of a different
*evaluation* policy (a sharper softmax of the true scores) with each estimator and its 95 %
bootstrap interval. The true value of the evaluation policy is computed exactly over the member
distribution (every member kind × its probability). We print, per estimator, bias, RMSE, mean
interval width and coverage (share of seeds whose interval holds the truth), and plot the
estimates against the truth.

Goal (issue 10): SNIPS and DR intervals cover the true value in ≥ 90 % of ≥ 200 seeds.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results"

from media_ml.evaluation import LoggedFeedback, evaluate  # noqa: E402
from media_ml.personalize.simulator import (  # noqa: E402
    COUNTRIES,
    DEVICES,
    MemberSimulator,
    synthetic_arms,
)

ESTIMATORS = ("ips", "snips", "dm", "dr", "sndr")
DEVICE_P = (0.5, 0.3, 0.2)


def world(arms_n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every member kind: its probability, its context vector and the true click probability of
    each arm (kinds × arms)."""
    sim = MemberSimulator(seed=seed)
    arms = synthetic_arms(arms_n, seed=seed)
    kinds = list(itertools.product(range(len(DEVICES)), range(len(COUNTRIES)), range(24)))
    weight = np.array([DEVICE_P[d] / len(COUNTRIES) / 24 for d, _, _ in kinds])
    members = [{"device": DEVICES[d], "country": COUNTRIES[c], "hour": float(h)}
               for d, c, h in kinds]
    ctx = np.stack([sim.member_vector(m) for m in members])
    probs = np.stack([sim.probabilities(m, arms) for m in members])
    return weight, ctx, probs, np.log(probs / (1 - probs))


def softmax(x: np.ndarray, beta: float) -> np.ndarray:
    z = beta * (x - x.max(axis=1, keepdims=True))
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def one_seed(seed: int, args: argparse.Namespace, weight: np.ndarray, ctx: np.ndarray,
             probs: np.ndarray, logits: np.ndarray, pi_e: np.ndarray
             ) -> dict[str, tuple[float, float, float]]:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1.0, size=logits.shape)  # the logger's own, imperfect model
    pi_0 = 0.8 * softmax(logits + noise, 2.0) + 0.2 / logits.shape[1]
    kind = rng.choice(len(weight), size=args.rounds, p=weight)
    u = rng.random(args.rounds)[:, None]
    action = (pi_0[kind].cumsum(axis=1) < u).sum(axis=1)
    action = np.minimum(action, logits.shape[1] - 1)
    reward = (rng.random(args.rounds) < probs[kind, action]).astype(float)
    logged = LoggedFeedback(action=action, reward=reward, pscore=pi_0[kind, action],
                            position=None, context=ctx[kind], n_actions=logits.shape[1])
    est = evaluate(logged, pi_e[kind], estimators=ESTIMATORS, alpha=0.05,
                   n_bootstrap=args.n_bootstrap, random_state=seed)
    return {k: (e.value, e.low, e.high) for k, e in est.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--arms", type=int, default=10)
    ap.add_argument("--n-bootstrap", type=int, default=500)
    ap.add_argument("--world-seed", type=int, default=0)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.seeds} seeds × "
          f"{args.rounds} logged rounds, {args.arms} arms, {args.n_bootstrap} bootstrap "
          f"resamples, 95 % intervals")
    weight, ctx, probs, logits = world(args.arms, args.world_seed)
    pi_e = softmax(logits, 4.0)
    truth = float(weight @ (pi_e * probs).sum(axis=1))
    results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in ESTIMATORS}
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        for k, v in one_seed(seed, args, weight, ctx, probs, logits, pi_e).items():
            results[k].append(v)
        if (seed + 1) % 50 == 0:
            print(f"  {seed + 1}/{args.seeds} seeds, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    print(f"\ntrue value of the evaluation policy: {truth:.4f}\n")
    print("| estimator | mean estimate | bias | RMSE | mean CI width | coverage of the truth |")
    print("|---|---|---|---|---|---|")
    for k, rows in results.items():
        a = np.array(rows)
        cover = float(np.mean((a[:, 1] <= truth) & (truth <= a[:, 2])))
        print(f"| {k} | {a[:, 0].mean():.4f} | {a[:, 0].mean() - truth:+.4f} | "
              f"{np.sqrt(np.mean((a[:, 0] - truth) ** 2)):.4f} | "
              f"{np.mean(a[:, 2] - a[:, 1]):.4f} | {cover:.1%} |")
    ok = all(np.mean((np.array(results[k])[:, 1] <= truth) & (truth <= np.array(results[k])[:, 2]))
             >= 0.9 for k in ("snips", "dr"))
    print(f"\nSNIPS and DR coverage ≥ 90 %: {'MET' if ok else 'MISSED'}")
    print(f"plot: {plot(results, truth, OUT / 'ope_coverage.png').relative_to(ROOT)}")


def plot(results: dict[str, list[tuple[float, float, float]]], truth: float, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names = list(results)
    ax.boxplot([np.array(results[k])[:, 0] for k in names], tick_labels=names)
    ax.axhline(truth, color="tab:red", ls="--", label=f"true value {truth:.4f}")
    ax.set_ylabel("estimated policy value (one point per seed)")
    ax.set_title(f"Offline estimates over {len(results[names[0]])} seeds")
    ax.legend()
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


if __name__ == "__main__":
    main()

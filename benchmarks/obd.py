"""Offline evaluation on the Open Bandit Dataset sample: Bernoulli TS's value from random logs.

    .venv/bin/python benchmarks/obd.py [--n-bootstrap 1000] [--n-sim 100000] [--no-obp]

The Open Bandit Dataset (ZOZOTOWN fashion recommendations, CC BY 4.0) logged two policies side
by side: uniform random and Bernoulli Thompson sampling (BTS), each showing 3 items (positions)
per impression, in three campaigns (all, men, women). The obp 0.4.1 wheel carries a 10,000-round
sample of each log. We estimate BTS's click rate from the *random* logs with media_ml.evaluation
(IPS, SNIPS, DR with 95 % bootstrap intervals) and set it beside BTS's own logged click rate.

* Data: the wheel is fetched into benchmarks/data/ (gitignored) with
  ``pip download --no-deps obp==0.4.1`` when missing; the CSVs are read straight out of the zip
  (obp/dataset/obd/{random,bts}/{campaign}/{campaign}.csv: item_id, 1-based position, click,
  propensity_score). obp's own loader maps positions to 0-based (dense rank − 1); so do we.
* Evaluation policy: BTS as obp's ``BernoulliTS(n_actions, len_list=3, is_zozotown_prior=True,
  campaign=…)`` computes it with ``compute_batch_action_dist(n_sim=100000)``: the share of
  Monte-Carlo draws (one Beta(α, β) sample per item from the production prior in
  obp/policy/conf/prior_bts.yaml, items ranked by sample) that put each item in each position.
  Context-free, so the same distribution every round. Re-implemented here, vectorised, with the
  same random stream (numpy RandomState), so it is bit-identical to obp's for the same seed.
* Check: the arrays are saved (benchmarks/data/obd_{campaign}.npz) and obp 0.4.1 itself, in a
  separate venv (benchmarks/.obp-venv, gitignored, built here when missing), computes IPS and
  SNIPS and its own BTS action distribution; both must match ours to 1e-9. If obp cannot be made
  to run, an independent plain-numpy IPS/SNIPS is the check instead, and the output says so.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from media_ml.evaluation import LoggedFeedback, evaluate  # noqa: E402
from media_ml.evaluation.intervals import bootstrap_sums, percentile_interval  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
OBP_VENV = ROOT / "benchmarks" / ".obp-venv"
OBP_CHECK = ROOT / "benchmarks" / "obd_obp_check.py"
OBP_VERSION = "0.4.1"
WHEEL = f"obp-{OBP_VERSION}-py3-none-any.whl"
CAMPAIGNS = ("all", "men", "women")
LEN_LIST = 3
ESTIMATORS = ("ips", "snips", "dr")
TOLERANCE = 1e-9
# What obp.ope imports (obp/ope/meta.py plots with seaborn; estimators.py imports torch).
OBP_RUNTIME = (
    "numpy", "scipy", "scikit-learn", "pandas", "pyyaml", "tqdm", "matplotlib", "seaborn",
    "mypy-extensions",
)
TORCH_RUNTIME = ("filelock", "typing-extensions", "sympy", "networkx", "jinja2", "fsspec")


@dataclass(frozen=True)
class Log:
    """One logged campaign: 0-based positions, click rewards, the logger's propensities."""

    action: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray
    position: np.ndarray
    n_actions: int


def fetch_wheel() -> Path:
    """The obp wheel in benchmarks/data/, downloaded from the package index when missing."""
    path = DATA / WHEEL
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"fetching {WHEEL} (pip download --no-deps obp=={OBP_VERSION})", flush=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps",
             f"obp=={OBP_VERSION}", "-d", str(DATA)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not path.exists():
            raise SystemExit(f"pip download of obp=={OBP_VERSION} failed:\n{done.stderr}")
    return path


def read_csv(wheel: zipfile.ZipFile, member: str) -> list[dict[str, str]]:
    with wheel.open(member) as raw:
        return list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")))


def read_log(wheel: zipfile.ZipFile, behavior: str, campaign: str) -> Log:
    folder = f"obp/dataset/obd/{behavior}/{campaign}"
    rows = read_csv(wheel, f"{folder}/{campaign}.csv")
    n_actions = len(read_csv(wheel, f"{folder}/item_context.csv"))
    position = np.array([int(r["position"]) for r in rows])
    if set(np.unique(position)) != set(range(1, LEN_LIST + 1)):
        raise SystemExit(f"{folder}: positions {np.unique(position)}, expected 1..{LEN_LIST}")
    return Log(
        action=np.array([int(r["item_id"]) for r in rows]),
        reward=np.array([float(r["click"]) for r in rows]),
        pscore=np.array([float(r["propensity_score"]) for r in rows]),
        position=position - 1,  # 1-based in the CSV; obp uses rank − 1
        n_actions=n_actions,
    )


def read_prior(wheel: zipfile.ZipFile, campaign: str) -> tuple[np.ndarray, np.ndarray]:
    with wheel.open("obp/policy/conf/prior_bts.yaml") as raw:
        prior = yaml.safe_load(raw)[campaign]
    return np.asarray(prior["alpha"], dtype=float), np.asarray(prior["beta"], dtype=float)


def bts_action_dist(
    alpha: np.ndarray, beta: np.ndarray, len_list: int, n_sim: int, seed: int
) -> np.ndarray:
    """obp's ``BernoulliTS.compute_batch_action_dist``, vectorised: (n_actions, len_list).

    obp draws ``RandomState(seed).beta(alpha, beta)`` once per simulation (nothing is learned
    between draws) and ranks the items by draw, ``argsort()[::-1][:len_list]``. Drawing a
    (chunk, n_actions) block consumes the same random stream in the same order.
    """
    rng = np.random.RandomState(seed)
    n_actions = len(alpha)
    counts = np.zeros((n_actions, len_list))
    chunk = 10_000
    for start in range(0, n_sim, chunk):
        size = min(chunk, n_sim - start)
        draws = rng.beta(a=alpha, b=beta, size=(size, n_actions))
        ranked = np.argsort(draws, axis=1)[:, ::-1][:, :len_list]
        for pos in range(len_list):
            counts[:, pos] += np.bincount(ranked[:, pos], minlength=n_actions)
    return counts / n_sim


def on_policy_value(reward: np.ndarray, n_bootstrap: int, seed: int) -> tuple[float, float, float]:
    """Mean logged reward with its percentile-bootstrap 95 % interval."""
    sums = bootstrap_sums(np.column_stack([reward, np.ones_like(reward)]), n_bootstrap, seed)
    low, high = percentile_interval(sums[:, 0] / sums[:, 1], 0.05, "on-policy")
    return float(reward.mean()), low, high


def numpy_ips_snips(log: Log, dist: np.ndarray) -> tuple[float, float]:
    """Independent IPS and SNIPS (the fallback check when obp cannot run)."""
    w = dist[log.action, log.position] / log.pscore
    return float(np.mean(w * log.reward)), float(np.sum(w * log.reward) / np.sum(w))


def pip(python: Path, *args: str, log: Path) -> bool:
    with log.open("a") as out:
        out.write(f"$ pip install {' '.join(args)}\n")
        out.flush()
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *args], stdout=out, stderr=out
        )
    return done.returncode == 0


def ensure_obp_venv(wheel: Path) -> tuple[Path | None, str]:
    """benchmarks/.obp-venv with obp 0.4.1 importable: (its python or None, what happened).

    obp 0.4.1 declares torch, which from the index brings gigabytes of CUDA libraries; obp.ope
    only imports it. So: obp without dependencies, its runtime packages, and a CPU torch from
    the local wheel directory when pip has one (plain ``pip install torch`` otherwise).
    """
    python = OBP_VENV / "bin" / "python"
    probe = [str(python), "-c", "import obp.ope, obp.policy; print(obp.__version__)"]
    if python.exists():
        done = subprocess.run(probe, capture_output=True, text=True)
        if done.returncode == 0:
            return python, f"obp {done.stdout.strip()} in {OBP_VENV.relative_to(ROOT)}"
    log = DATA / "obp-venv-install.log"
    print(f"building {OBP_VENV.relative_to(ROOT)} (log: {log.relative_to(ROOT)})", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(OBP_VENV)], check=True)
    ok = pip(python, "--no-deps", str(wheel), log=log) and pip(python, *OBP_RUNTIME, log=log)
    torch_ok = pip(python, "--no-deps", "--no-index", "torch", log=log) and pip(
        python, *TORCH_RUNTIME, log=log
    )
    if not torch_ok:
        torch_ok = pip(python, "torch", log=log)
    done = subprocess.run(probe, capture_output=True, text=True)
    if not (ok and torch_ok) or done.returncode != 0:
        return None, f"obp could not be installed or imported (see {log.relative_to(ROOT)})"
    return python, f"obp {done.stdout.strip()} in {OBP_VENV.relative_to(ROOT)} (just built)"


def run_obp(python: Path, saved: list[Path]) -> dict[str, dict[str, float]] | None:
    done = subprocess.run(
        [str(python), str(OBP_CHECK), *map(str, saved)], capture_output=True, text=True
    )
    if done.returncode != 0:
        print(f"obp check failed:\n{done.stderr[-2000:]}", flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def pct(value: float) -> str:
    return f"{100 * value:.3f} %"


def interval(value: float, low: float, high: float) -> str:
    return f"{100 * value:.3f} % [{100 * low:.3f}, {100 * high:.3f}]"


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown",
    )
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"numpy {np.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--n-sim", type=int, default=100_000, help="BTS Monte-Carlo draws")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the BTS Monte Carlo")
    parser.add_argument("--no-obp", action="store_true", help="check with plain numpy only")
    args = parser.parse_args()
    started = time.perf_counter()
    wheel_path = fetch_wheel()
    print(f"data: {wheel_path.relative_to(ROOT)} (Open Bandit Dataset sample, CC BY 4.0)")
    print(f"machine: {machine()}")
    print(f"BTS action_dist: {args.n_sim} Monte-Carlo draws, seed {args.seed}; intervals: "
          f"95 % percentile bootstrap, {args.n_bootstrap} resamples, random_state 0")
    print()

    rows: list[list[str]] = []
    saved: list[Path] = []
    ours: dict[str, dict[str, float]] = {}
    fallback: dict[str, tuple[float, float]] = {}
    with zipfile.ZipFile(wheel_path) as wheel:
        for campaign in CAMPAIGNS:
            random_log = read_log(wheel, "random", campaign)
            bts_log = read_log(wheel, "bts", campaign)
            alpha, beta = read_prior(wheel, campaign)
            if len(alpha) != random_log.n_actions:
                raise SystemExit(f"{campaign}: prior has {len(alpha)} items, log has "
                                 f"{random_log.n_actions}")
            dist = bts_action_dist(alpha, beta, LEN_LIST, args.n_sim, args.seed)
            n = len(random_log.action)
            logged = LoggedFeedback(
                action=random_log.action,
                reward=random_log.reward,
                pscore=random_log.pscore,
                position=random_log.position,
                n_actions=random_log.n_actions,
            )
            tic = time.perf_counter()
            est = evaluate(
                logged,
                np.broadcast_to(dist, (n, *dist.shape)),
                estimators=ESTIMATORS,
                n_bootstrap=args.n_bootstrap,
                random_state=0,
            )
            seconds = time.perf_counter() - tic
            bts_value = on_policy_value(bts_log.reward, args.n_bootstrap, 0)
            ours[campaign] = {name: est[name].value for name in ("ips", "snips")}
            fallback[campaign] = numpy_ips_snips(random_log, dist)
            rows.append([
                campaign,
                f"{n} / {random_log.n_actions}",
                pct(random_log.reward.mean()),
                *(interval(est[k].value, est[k].low, est[k].high) for k in ESTIMATORS),
                interval(*bts_value),
                f"{est['snips'].value / bts_value[0]:.2f}",
                f"{seconds:.2f} s",
            ])
            path = DATA / f"obd_{campaign}.npz"
            np.savez(
                path,
                campaign=campaign,
                action=random_log.action,
                reward=random_log.reward,
                pscore=random_log.pscore,
                position=random_log.position,
                n_actions=random_log.n_actions,
                bts_dist=dist,
                seed=args.seed,
                n_sim=args.n_sim,
            )
            saved.append(path)

    header = ["campaign", "rounds / items", "random CTR (logged)", "BTS by IPS", "BTS by SNIPS",
              "BTS by DR", "BTS CTR (logged)", "SNIPS / logged", "evaluate()"]
    print("BTS click rate estimated from the random logs, beside BTS's own logs (95 % CI):")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + " - |" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()

    obp_result = None
    if args.no_obp:
        status = "skipped (--no-obp)"
    else:
        python, status = ensure_obp_venv(wheel_path)
        if python is not None:
            obp_result = run_obp(python, saved)
            if obp_result is None:
                status += ", but its check script failed"
    worst = 0.0
    if obp_result is not None:
        print(f"Independent check with Open Bandit Pipeline itself ({status}, numpy "
              f"{obp_result['numpy']}):")
        for campaign in CAMPAIGNS:
            theirs = obp_result[campaign]
            for name in ("ips", "snips"):
                diff = abs(ours[campaign][name] - theirs[name])
                worst = max(worst, diff)
                print(f"  {campaign:5s} {name:5s} media_ml {ours[campaign][name]:.15f}  "
                      f"obp {theirs[name]:.15f}  |diff| {diff:.1e}")
            gap = theirs["dist_max_abs_diff"]
            worst = max(worst, gap)
            print(f"  {campaign:5s} BTS action_dist: max |ours - obp's "
                  f"compute_batch_action_dist| = {gap:.1e}")
    else:
        print(f"OBP DID NOT RUN ({status}); check against an independent plain-numpy "
              "IPS/SNIPS instead:")
        for campaign in CAMPAIGNS:
            for name, value in zip(("ips", "snips"), fallback[campaign], strict=True):
                diff = abs(ours[campaign][name] - value)
                worst = max(worst, diff)
                print(f"  {campaign:5s} {name:5s} media_ml {ours[campaign][name]:.15f}  "
                      f"numpy {value:.15f}  |diff| {diff:.1e}")
    if worst > TOLERANCE:
        raise SystemExit(f"MISMATCH: largest difference {worst:.1e} > {TOLERANCE:g}")
    print(f"all match to {TOLERANCE:g} (largest difference {worst:.1e})")
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()

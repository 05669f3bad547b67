"""Personalization settings: which policy serves, its guardrails and the reward rules.

A library keeps its settings in ``DIR/personalize/settings.json`` (``media-ml personalize --set
key=value``); every value is validated on construction, so a bad file or flag fails at the edge
naming the key, the value and what is allowed.

Defaults and why:

* ``policy = "vw-squarecb"`` with ``elim``, ``gamma_scale = 40`` and ``learning_rate = 2``:
  Vowpal Wabbit ``--cb_explore_adf --squarecb --elim``, the lowest regret of our policies on
  the simulator (tuned on worlds 0, 3 and 4 of ``benchmarks/policies.py``, reported on others);
  ``vw-epsilon`` (0.05),
  ``vw-softmax``, ``vw-bag``, ``vw-cover`` and the context-free ``thompson`` are one key away.
* ``min_propensity = 0.005``: every arm keeps a little probability, so the log supports offline
  evaluation of any other policy (SquareCB with ``--elim`` gives eliminated arms probability 0,
  and a policy that would pick them could not be evaluated); at most 19 × 0.005 ≈ 10 % of
  decisions explore because of it with 20 arms. ``max_explore_share = 1.0`` (no cap);
  ``kill_switch = False``.
* ``reward_wait_s = 3600``, ``default_reward = 0.0``, ``aggregation = "first"`` (Personalizer's
  defaults are 10 min / 0 / earliest; an artwork impression's quality play takes longer).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from media_ml.errors import UsageError
from media_ml.validate import bounded_float, bounded_int, show

EXPLORATIONS = ("epsilon", "softmax", "bag", "cover", "squarecb")
POLICIES = tuple(f"vw-{e}" for e in EXPLORATIONS) + ("thompson",)
AGGREGATIONS = ("first", "sum")
MAX_ARMS = 50  # Personalizer's limit per rank call
SETTINGS_FILE = "settings.json"


@dataclass(frozen=True)
class PersonalizeConfig:
    """Settings of a library's personalization loop (validated on construction)."""

    policy: str = "vw-squarecb"
    epsilon: float = 0.05          # vw-epsilon: share of uniform exploration
    softmax_lambda: float = 10.0   # vw-softmax: inverse temperature
    bag: int = 5                   # vw-bag: bootstrapped policies
    cover: int = 3                 # vw-cover: policies in the cover
    gamma_scale: float = 40.0      # vw-squarecb: exploration scale (higher explores less)
    elim: bool = True              # vw-squarecb: eliminate arms that cannot be best (--elim)
    learning_rate: float = 2.0     # VW -l
    interactions: str = "ma"       # VW -q pairs: m = member, a = arm, c = context
    max_arms: int = 20             # candidates per decision (the title's top suggestions)
    clip_dims: int = 4             # CLIP vector reduced to this many dimensions (0 = none)
    min_propensity: float = 0.005  # every arm gets at least this probability (see below)
    max_explore_share: float = 1.0  # expected share of decisions that explore, at most
    kill_switch: bool = False      # serve the editorial ranking (propensity 1), log it as such
    reward_wait_s: float = 3600.0  # rewards after this are refused; then the default applies
    default_reward: float = 0.0
    aggregation: str = "first"     # several rewards for one decision: keep the first, or sum
    warm_start_weight: float = 1.0  # pseudo-rewards from editors' accepts (0 = none)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise UsageError(f"policy must be one of {', '.join(POLICIES)}, "
                             f"got {show(self.policy)}")
        if self.aggregation not in AGGREGATIONS:
            raise UsageError(f"aggregation must be first or sum, got {show(self.aggregation)}")
        bounded_float(self.epsilon, "epsilon", low=0, high=1)
        bounded_float(self.softmax_lambda, "softmax_lambda", low=0, high=1e4)
        bounded_int(self.bag, "bag", low=2, high=64)
        bounded_int(self.cover, "cover", low=1, high=64)
        bounded_float(self.gamma_scale, "gamma_scale", low=0, high=1e6, low_open=True)
        bounded_float(self.learning_rate, "learning_rate", low=0, high=100, low_open=True)
        if (not isinstance(self.interactions, str) or len(self.interactions) > 12
                or len(self.interactions) % 2
                or any(ch not in "mac" for ch in self.interactions)):
            raise UsageError("interactions must be pairs of namespaces m (member), a (arm), "
                             f"c (context), e.g. 'ma' or 'mamc', got {show(self.interactions)}")
        bounded_int(self.max_arms, "max_arms", low=1, high=MAX_ARMS)
        bounded_int(self.clip_dims, "clip_dims", low=0, high=64)
        bounded_float(self.min_propensity, "min_propensity", low=0, high=1)
        bounded_float(self.max_explore_share, "max_explore_share", low=0, high=1)
        if self.min_propensity * self.max_arms > 1:
            raise UsageError(f"min_propensity {self.min_propensity:g} × max_arms {self.max_arms} "
                             "> 1: no distribution gives every arm that much")
        if (self.max_arms - 1) * self.min_propensity > self.max_explore_share + 1e-12:
            raise UsageError(
                f"min_propensity {self.min_propensity:g} on {self.max_arms - 1} other arms "
                f"already explores more than max_explore_share {self.max_explore_share:g}")
        if not isinstance(self.elim, bool):
            raise UsageError(f"elim must be true or false, got {show(self.elim)}")
        if not isinstance(self.kill_switch, bool):
            raise UsageError(f"kill_switch must be true or false, got {show(self.kill_switch)}")
        bounded_float(self.reward_wait_s, "reward_wait_s", low=0, high=365 * 86400,
                      low_open=True)
        bounded_float(self.default_reward, "default_reward", low=-1e6, high=1e6)
        bounded_float(self.warm_start_weight, "warm_start_weight", low=0, high=1e3)
        bounded_int(self.seed, "seed", low=0, high=2**32 - 1)

    @property
    def exploration(self) -> str | None:
        """The VW exploration algorithm, or None for Thompson sampling."""
        return self.policy[3:] if self.policy.startswith("vw-") else None

    def vw_args(self) -> str:
        """The Vowpal Wabbit command line of this policy (without data or model files)."""
        algo = {
            "epsilon": f"--epsilon {self.epsilon!r}",
            "softmax": f"--softmax --lambda {self.softmax_lambda!r}",
            "bag": f"--bag {self.bag} --epsilon {self.epsilon!r}",
            "cover": f"--cover {self.cover}",
            "squarecb": f"--squarecb --gamma_scale {self.gamma_scale!r}"
                        + (" --elim" if self.elim else ""),
        }[self.exploration or "epsilon"]
        pairs = " ".join(f"-q {self.interactions[i:i + 2]}"
                         for i in range(0, len(self.interactions), 2))
        return (f"--cb_explore_adf {algo} {pairs} -l {self.learning_rate!r} "
                f"--random_seed {self.seed} --quiet")

    def policy_fingerprint(self) -> dict[str, Any]:
        """What a snapshot must agree on to be reused (learning settings, not serving ones)."""
        keys = ("policy", "epsilon", "softmax_lambda", "bag", "cover", "gamma_scale", "elim",
                "learning_rate", "interactions", "clip_dims")
        return {k: getattr(self, k) for k in keys}

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def with_values(self, values: dict[str, Any]) -> PersonalizeConfig:
        """A copy with ``values`` (strings from flags are parsed per field); unknown keys fail."""
        known = {f.name: f for f in fields(self)}
        parsed: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                raise UsageError(f"unknown personalization setting {show(key)}; known: "
                                 + ", ".join(known))
            parsed[key] = _parse(key, value, type(getattr(self, key)))
        return replace(self, **parsed)


def _parse(key: str, value: Any, kind: type) -> Any:
    if not isinstance(value, str):
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if kind is float and isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{key} must be a finite number, got {show(value)}")
        return value
    text = value.strip()
    if kind is bool:
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
        raise UsageError(f"{key} must be true or false, got {show(value)}")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"{key} must be an integer, got {show(value)}") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"{key} must be a number, got {show(value)}") from None
    return text


def settings_path(root: str | Path) -> Path:
    return Path(root) / "personalize" / SETTINGS_FILE


def load_config(root: str | Path) -> PersonalizeConfig:
    """The library's settings (defaults when it has none)."""
    path = settings_path(root)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return PersonalizeConfig()
    except OSError as e:
        raise UsageError(f"{path}: cannot read personalization settings: {e.strerror}") from e
    if len(raw) > 65536:
        raise UsageError(f"{path}: personalization settings larger than 64 KiB")
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise UsageError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: expected a JSON object of settings")
    return PersonalizeConfig().with_values(doc)


def save_config(root: str | Path, config: PersonalizeConfig) -> Path:
    """Write the settings atomically (a reader sees the old file or the new one)."""
    path = settings_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(config.as_json(), indent=2) + "\n")
    os.replace(tmp, path)
    return path

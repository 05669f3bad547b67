"""Policies: a probability for every arm of a decision, and learning from logged rewards.

One short interface (``Policy``), as Open Bandit Pipeline's policies share one:

* ``pmf(member, arms)`` — the probability the policy gives each arm (sums to 1); the serving
  code samples from it and logs the chosen arm's probability as the propensity;
* ``greedy(member, arms, pmf)`` — the arm it would take without exploring (a decision that takes
  another arm *explored*);
* ``learn(member, arms, action, reward, probability)`` — one logged decision and its reward;
* ``save(path)`` / ``load(path, config)`` — the engine's own format, never pickle.

``VWPolicy`` is Vowpal Wabbit's ``--cb_explore_adf`` (the engine behind Azure Personalizer) with
any of its exploration algorithms; ``ThompsonPolicy`` is the context-free Beta-Bernoulli
baseline; ``EditorialPolicy`` always takes the editors' top-ranked arm (the kill switch's policy
and the natural baseline of offline evaluation); ``UniformPolicy`` explores uniformly.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from media_ml.errors import PolicyStateError, UsageError
from media_ml.personalize.config import PersonalizeConfig
from media_ml.personalize.features import Arm, Member, example, labelled


class Policy(Protocol):
    name: str

    def pmf(self, member: Member, arms: Sequence[Arm]) -> np.ndarray: ...

    def greedy(self, member: Member, arms: Sequence[Arm], pmf: np.ndarray) -> int: ...

    def learn(self, member: Member, arms: Sequence[Arm], action: int, reward: float,
              probability: float) -> None: ...

    def save(self, path: Path) -> None: ...


def _normalised(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 0.0, None)
    total = p.sum()
    if not math.isfinite(total) or total <= 0:
        return np.full(len(p), 1.0 / len(p))
    return p / total


def engine_version() -> str:
    import vowpalwabbit

    return f"vowpalwabbit {vowpalwabbit.__version__}"


class VWPolicy:
    """Vowpal Wabbit ``--cb_explore_adf`` with the configured exploration (cost = -reward)."""

    def __init__(self, config: PersonalizeConfig, model: Path | None = None) -> None:
        import vowpalwabbit

        self.config = config
        self.name = config.policy
        # A saved model carries its reductions (exploration, interactions, seed); giving them
        # again can disagree with what VW stored (--bag rewrites its seed), so only -l is added.
        args = (config.vw_args().split() if model is None
                else ["--quiet", "-l", repr(config.learning_rate), "-i", str(model)])
        try:
            self._vw = vowpalwabbit.Workspace(arg_list=args, enable_logging=False)
        except Exception as e:  # VW raises plain RuntimeError on a bad or foreign model file
            where = f"{model}: " if model is not None else ""
            raise PolicyStateError(f"{where}Vowpal Wabbit cannot load this policy: {e}") from e

    def _run(self, text: str, learn: bool) -> list[float] | None:
        # pylibvw's own parse/predict/learn on the multi-line text: pyvw's public predict() and
        # learn() wrap every line in a Python Example object, 3-4 x slower for 20 arms.
        import pylibvw

        vw = self._vw
        ecs = vw._parse(text)
        try:
            if learn:
                pylibvw.vw.learn_multi(vw, ecs)
                return None
            pylibvw.vw.predict_multi(vw, ecs)
            return list(ecs[0].get_action_scores())
        finally:
            vw._finish_example_multi_ex(ecs)

    def pmf(self, member: Member, arms: Sequence[Arm]) -> np.ndarray:
        scores = self._run("\n".join(example(member, arms)), learn=False)
        return _normalised(np.asarray(scores, np.float64))

    def greedy(self, member: Member, arms: Sequence[Arm], pmf: np.ndarray) -> int:
        return int(np.argmax(pmf))

    def learn(self, member: Member, arms: Sequence[Arm], action: int, reward: float,
              probability: float) -> None:
        self._run("\n".join(labelled(member, arms, action, -float(reward), float(probability))),
                  learn=True)

    def save(self, path: Path) -> None:
        self._vw.save(str(path))

    def close(self) -> None:
        self._vw.finish()


class ThompsonPolicy:
    """Context-free Beta-Bernoulli Thompson sampling per candidate (rewards in [0, 1]).

    Its propensity is the probability that an arm's posterior draw is the largest, estimated
    with ``n_sim`` draws per decision; the arm is then sampled from that estimate, so the
    logged propensity is exactly the probability the arm was served with.
    """

    def __init__(self, config: PersonalizeConfig, state: dict[int, tuple[float, float]] | None
                 = None, n_sim: int = 2000) -> None:
        self.config = config
        self.name = "thompson"
        self.beta: dict[int, tuple[float, float]] = dict(state or {})
        self.n_sim = n_sim
        self._rng = np.random.default_rng(config.seed)

    def _params(self, arms: Sequence[Arm]) -> tuple[np.ndarray, np.ndarray]:
        ab = np.array([self.beta.get(a.candidate_id, (1.0, 1.0)) for a in arms], np.float64)
        return ab[:, 0], ab[:, 1]

    def pmf(self, member: Member, arms: Sequence[Arm]) -> np.ndarray:
        a, b = self._params(arms)
        draws = self._rng.beta(a, b, size=(self.n_sim, len(arms)))
        wins = np.bincount(draws.argmax(axis=1), minlength=len(arms)).astype(np.float64)
        return _normalised(wins)

    def greedy(self, member: Member, arms: Sequence[Arm], pmf: np.ndarray) -> int:
        a, b = self._params(arms)
        return int(np.argmax(a / (a + b)))

    def learn(self, member: Member, arms: Sequence[Arm], action: int, reward: float,
              probability: float) -> None:
        if not 0.0 <= reward <= 1.0:
            raise UsageError(f"reward = {reward!r}: the Thompson policy learns rewards in [0, 1]")
        cid = arms[action].candidate_id
        a, b = self.beta.get(cid, (1.0, 1.0))
        self.beta[cid] = (a + reward, b + 1.0 - reward)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({str(k): list(v) for k, v in sorted(self.beta.items())}))

    @staticmethod
    def load(path: Path, config: PersonalizeConfig) -> ThompsonPolicy:
        try:
            doc = json.loads(path.read_text())
            state = {int(k): (float(v[0]), float(v[1])) for k, v in doc.items()}
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            raise PolicyStateError(f"{path}: not a Thompson policy state ({e})") from e
        if any(not (math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0)
               for a, b in state.values()):
            raise PolicyStateError(f"{path}: Beta parameters must be finite and positive")
        return ThompsonPolicy(config, state)

    def close(self) -> None:
        pass


class EditorialPolicy:
    """Always the editors' top-ranked arm (probability 1)."""

    name = "editorial"

    def pmf(self, member: Member, arms: Sequence[Arm]) -> np.ndarray:
        p = np.zeros(len(arms))
        p[int(np.argmin([a.rank for a in arms]))] = 1.0
        return p

    def greedy(self, member: Member, arms: Sequence[Arm], pmf: np.ndarray) -> int:
        return int(np.argmax(pmf))

    def learn(self, member: Member, arms: Sequence[Arm], action: int, reward: float,
              probability: float) -> None:
        pass

    def save(self, path: Path) -> None:
        raise UsageError("the editorial policy has no state to save")


class UniformPolicy(EditorialPolicy):
    """Every arm equally likely (a uniform-random logging policy)."""

    name = "uniform"

    def pmf(self, member: Member, arms: Sequence[Arm]) -> np.ndarray:
        return np.full(len(arms), 1.0 / len(arms))


def new_policy(config: PersonalizeConfig) -> VWPolicy | ThompsonPolicy:
    return ThompsonPolicy(config) if config.policy == "thompson" else VWPolicy(config)


def load_policy(config: PersonalizeConfig, model: Path) -> VWPolicy | ThompsonPolicy:
    if config.policy == "thompson":
        return ThompsonPolicy.load(model, config)
    return VWPolicy(config, model)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def manifest_json(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

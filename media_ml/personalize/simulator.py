"""Simulated members with a known true reward per (member context, candidate features).

The true click probability of arm ``a`` for member ``m`` is
``sigmoid(base + strength · u(m)ᵀ W x(a) / √D + b(a))``: ``u`` encodes the member (device,
country, hour on a circle), ``x`` the arm's numeric features, ``W`` a seeded random matrix drawn
per feature *name* (so any feature set works) and ``b`` a per-candidate bias. ``drift`` rotates
``W`` toward another random matrix as rounds pass; ``delay`` holds rewards back for that many
rounds. Everything is a function of the seed, so two runs with one seed see the same members and
the same rewards.

Used by the tests, the benchmarks (``benchmarks/policies.py``, ``benchmarks/ope.py``) and the
demo; ``simulate`` drives a ``Personalizer`` through choose → reward → learn rounds.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from media_ml.personalize.features import Arm, Member
from media_ml.validate import bounded_float, bounded_int

if TYPE_CHECKING:
    from media_ml.personalize.personalizer import Personalizer

DEVICES = ("tv", "mobile", "web")
COUNTRIES = ("US", "BR", "IN", "DE", "JP")
MEMBER_DIMS = len(DEVICES) + len(COUNTRIES) + 2


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")


@dataclass
class MemberSimulator:
    """Members and their true reward probabilities (see the module docstring)."""

    seed: int = 0
    base: float = -3.0        # logit offset: click rates of a few per cent, like artwork
    strength: float = 3.0
    arm_bias: float = 0.5
    drift: float = 0.0        # radians of rotation of W per 1000 rounds
    _w: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict,
                                                                     repr=False)

    def __post_init__(self) -> None:
        bounded_int(self.seed, "seed", low=0, high=2**32 - 1)
        bounded_float(self.base, "base", low=-20, high=20)
        bounded_float(self.strength, "strength", low=0, high=100)
        bounded_float(self.arm_bias, "arm_bias", low=0, high=20)
        bounded_float(self.drift, "drift", low=0, high=100)
        self._rng = np.random.default_rng(self.seed)

    def member(self) -> Member:
        """A random member context (device, country, hour)."""
        r = self._rng
        return {"device": DEVICES[int(r.choice(3, p=(0.5, 0.3, 0.2)))],
                "country": COUNTRIES[int(r.integers(len(COUNTRIES)))],
                "hour": float(r.integers(24))}

    @staticmethod
    def member_vector(member: Member) -> np.ndarray:
        """The member as numbers: one-hot device and country, hour on the unit circle."""
        u = np.zeros(MEMBER_DIMS)
        if member.get("device") in DEVICES:
            u[DEVICES.index(str(member["device"]))] = 1.0
        if member.get("country") in COUNTRIES:
            u[len(DEVICES) + COUNTRIES.index(str(member["country"]))] = 1.0
        hour = float(member.get("hour", 0.0) or 0.0)
        u[-2:] = (math.sin(2 * math.pi * hour / 24), math.cos(2 * math.pi * hour / 24))
        return u

    def _weights(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        key = (name, MEMBER_DIMS)
        if key not in self._w:
            r = np.random.default_rng(_seed(self.seed, "w", name))
            self._w[key] = (r.standard_normal(MEMBER_DIMS), r.standard_normal(MEMBER_DIMS))
        return self._w[key]

    def _bias(self, candidate_id: int) -> float:
        return float(np.random.default_rng(_seed(self.seed, "b", candidate_id))
                     .standard_normal() * self.arm_bias)

    def probabilities(self, member: Member, arms: Sequence[Arm], t: int = 0) -> np.ndarray:
        """True reward probability of each arm for this member at round ``t``."""
        u = self.member_vector(member)
        angle = self.drift * t / 1000.0
        c, s = math.cos(angle), math.sin(angle)
        out = np.empty(len(arms))
        for i, arm in enumerate(arms):
            feats = arm.features
            total = 0.0
            for name, value in feats:
                w0, w1 = self._weights(name)
                total += value * float(u @ (c * w0 + s * w1))
            logit = (self.base + self.strength * total / math.sqrt(max(1, len(feats)))
                     + self._bias(arm.candidate_id))
            out[i] = 1.0 / (1.0 + math.exp(-logit))
        return out

    def reward(self, member: Member, arms: Sequence[Arm], action: int, t: int = 0) -> float:
        """A Bernoulli draw of the chosen arm's true probability."""
        p = self.probabilities(member, arms, t)[action]
        return float(self._rng.random() < p)


def synthetic_arms(n_arms: int, seed: int = 0, dims: int = 8, context: str = "web-row"
                   ) -> list[Arm]:
    """``n_arms`` arms with random numeric features (for benchmarks without a library)."""
    r = np.random.default_rng(_seed(seed, "arms"))
    return [Arm(i + 1, i + 1, float(1.0 - i / max(1, n_arms)),
                tuple((f"f{j}", round(float(x), 6)) for j, x in enumerate(r.standard_normal(dims))),
                context) for i in range(n_arms)]


@dataclass(frozen=True)
class SimulationReport:
    rounds: int
    mean_reward: float
    mean_regret: float        # expected: best arm's true probability minus the chosen one's
    explored: float
    learned_versions: tuple[int, ...]
    cumulative_regret: tuple[float, ...]

    def as_json(self) -> dict[str, Any]:
        return {"rounds": self.rounds, "mean_reward": self.mean_reward,
                "mean_regret": self.mean_regret, "explored": self.explored,
                "learned_versions": list(self.learned_versions)}


def simulate(personalizer: Personalizer, sim: MemberSimulator, videos: Sequence[int],
             context: str, rounds: int, *, learn_every: int = 200, delay: int = 0,
             reward_share: float = 1.0) -> SimulationReport:
    """Drive the loop: members arrive, ``choose`` serves, rewards come back ``delay`` rounds
    later (a share ``reward_share`` of them at all), ``learn`` runs every ``learn_every`` rounds.
    """
    bounded_int(rounds, "rounds", low=1, high=10_000_000)
    bounded_int(learn_every, "learn_every", low=1, high=10_000_000)
    bounded_int(delay, "delay", low=0, high=10_000_000)
    bounded_float(reward_share, "reward_share", low=0, high=1)
    queue: deque[tuple[int, int, float]] = deque()
    rng = np.random.default_rng(_seed(sim.seed, "share"))
    total_reward = regret = explored = 0.0
    curve: list[float] = []
    versions: list[int] = []
    for t in range(rounds):
        member = sim.member()
        video = videos[t % len(videos)]
        d = personalizer.choose(video, context, member)
        arms, _ = personalizer.arms(video, context)
        p = sim.probabilities(member, arms, t)
        action = next(i for i, a in enumerate(arms) if a.candidate_id == d.candidate_id)
        r = float(sim._rng.random() < p[action])
        total_reward += r
        regret += float(p.max() - p[action])
        explored += d.explored
        curve.append(regret)
        if rng.random() < reward_share:
            queue.append((t + delay, d.decision_id, r))
        while queue and queue[0][0] <= t:
            _, did, value = queue.popleft()
            personalizer.reward(did, value)
        if (t + 1) % learn_every == 0:
            rep = personalizer.learn()
            if rep.version is not None:
                versions.append(rep.version)
    for _, did, value in queue:
        personalizer.reward(did, value)
    return SimulationReport(rounds, total_reward / rounds, regret / rounds, explored / rounds,
                            tuple(versions), tuple(curve))

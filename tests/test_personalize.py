"""The personalization loop on a real library: choose → log → reward → learn → evaluate.

Vowpal Wabbit, SQLite and the library are the real things; the only stand-in is a clock passed
to ``Personalizer`` so reward wait times can pass without sleeping.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from media_ml.cli import main
from media_ml.errors import (
    DecisionExpiredError,
    LibraryError,
    NotFoundError,
    PolicyStateError,
    UsageError,
)
from media_ml.library import Library
from media_ml.personalize.config import PersonalizeConfig, load_config, save_config
from media_ml.personalize.guardrails import guard
from media_ml.personalize.personalizer import Personalizer
from media_ml.personalize.simulator import MemberSimulator, simulate

ROOT = Path(__file__).resolve().parent.parent
MEMBER = {"device": "tv", "country": "BR", "hour": 21}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _open(root: Path, clock: Clock | None = None, **settings: object
          ) -> tuple[Library, Personalizer]:
    lib = Library(root)
    config = PersonalizeConfig(**settings)  # type: ignore[arg-type]
    return lib, Personalizer(lib, config, clock=clock or Clock())


def _log_rows(root: Path) -> int:
    con = sqlite3.connect(root / "decisions.sqlite")
    try:
        return int(con.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])
    finally:
        con.close()


# -- choose ------------------------------------------------------------------------------------

def test_choose_returns_a_logged_decision_with_its_propensity_and_ranking(lib_root: Path):
    with Library(lib_root) as lib:
        d = lib.choose(1, "web-row", member=MEMBER)
        # Logged before choose returned: another connection sees it at once.
        assert _log_rows(lib_root) == 1
        arms = [c.candidate_id for c in lib.suggest(1, "web-row", k=20)]
        assert sorted(r.candidate_id for r in d.ranking) == sorted(arms)
        probs = {r.candidate_id: r.probability for r in d.ranking}
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert d.propensity == pytest.approx(probs[d.candidate_id], abs=1e-8)
        assert d.candidate_id in arms and 0 < d.propensity <= 1
        assert (d.policy, d.policy_version, d.mode) == ("vw-squarecb", 0, "policy")
        assert d.candidate["candidate_id"] == d.candidate_id and "crop" in d.candidate
        rec = next(iter(lib.decisions()))
        assert (rec.decision_id, rec.candidate_id, rec.reward) == (d.decision_id,
                                                                   d.candidate_id, None)
        assert rec.propensity == pytest.approx(d.propensity)
        assert rec.member == {"device": "tv", "country": "BR", "hour": 21.0}


def test_choose_is_deterministic_for_a_seed(base_library: Path, tmp_path: Path):
    picks = []
    for name in ("a", "b"):
        root = tmp_path / name
        shutil.copytree(base_library, root)
        lib, p = _open(root, seed=7, policy="vw-epsilon", epsilon=0.5)
        sim = MemberSimulator(seed=3)
        out = []
        for _ in range(40):
            d = p.choose(1, "web-row", sim.member())
            out.append((d.candidate_id, round(d.propensity, 9)))
        picks.append(out)
        p.close()
        lib.close()
    assert picks[0] == picks[1]
    assert len({c for c, _ in picks[0]}) > 1  # it explored


@pytest.mark.parametrize("policy", ["vw-epsilon", "vw-softmax", "vw-bag", "vw-cover",
                                    "vw-squarecb", "thompson"])
def test_every_policy_serves_learns_and_restores_from_its_snapshot(lib_root: Path, policy: str):
    lib, p = _open(lib_root, policy=policy)
    sim = MemberSimulator(seed=1)
    for _ in range(30):
        d = p.choose(2, "web-row", sim.member())
        assert np.isclose(sum(r.probability for r in d.ranking), 1.0, atol=1e-6)
        p.reward(d.decision_id, float(d.candidate_id % 2))
    rep = p.learn()
    assert rep.version == 1 and rep.learned == 30 and rep.policy == policy
    manifest = json.loads(Path(rep.snapshot or "").with_suffix(".json").read_text())
    assert manifest["version"] == 1 and manifest["learned_decisions"] == 30
    assert manifest["library_id"] == lib.catalog.library_id
    assert not any(Path(rep.snapshot or "").parent.glob("*.pkl"))
    d = p.choose(2, "web-row", MEMBER)
    assert d.policy_version == 1  # the serving side picked up the snapshot without a restart
    p.close()
    lib.close()
    # A new process restores the snapshot and serves from it.
    lib2, p2 = _open(lib_root, policy=policy)
    assert p2.choose(2, "web-row", MEMBER).policy_version == 1
    p2.close()
    lib2.close()


def test_a_rejected_candidate_disappears_and_the_next_one_appears_without_restart(
        lib_root: Path):
    lib, p = _open(lib_root, max_arms=2)
    first = p.choose(1, "web-row", MEMBER)
    ids = {r.candidate_id for r in first.ranking}
    assert len(ids) == 2
    gone = first.ranking[0].candidate_id
    lib.feedback(gone, "reject", "wrong mood")
    second = p.choose(1, "web-row", MEMBER)
    now = {r.candidate_id for r in second.ranking}
    assert gone not in now and len(now) == 2 and now - ids  # a cold arm came in
    p.close()
    lib.close()


def test_member_context_is_checked_field_by_field_and_nothing_is_logged(lib_root: Path):
    lib, p = _open(lib_root)
    p.choose(1, "web-row", {"device": "tv", "hour": 21})
    bad = [({"device": ["tv"]}, "member.device"), ({"hour": float("nan")}, "member.hour"),
           ({"hour": float("inf")}, "member.hour"), ({"x": None}, "member.x"),
           ({"x": {"a": 1}}, "member.x"), ({"bad key": 1}, "bad key"),
           ({"hour": "nine"}, "member.hour"), ({"device": 3}, "member.device"),
           ("tv", "member"), ({"s": "x" * 1000}, "member.s")]
    for member, field in bad:
        with pytest.raises(UsageError, match=field.replace(".", r"\.")):
            p.choose(1, "web-row", member)
    assert _log_rows(lib_root) == 1
    with pytest.raises(UsageError, match="unknown context"):
        p.choose(1, "no-such-context", MEMBER)
    with pytest.raises(UsageError, match="unknown video"):
        p.choose(999, "web-row", MEMBER)
    assert _log_rows(lib_root) == 1
    p.close()
    lib.close()


# -- rewards -----------------------------------------------------------------------------------

def test_rewards_join_late_twice_and_default_after_the_wait(lib_root: Path):
    clock = Clock()
    lib, p = _open(lib_root, clock, reward_wait_s=60, default_reward=-0.5)
    a, b, c = (p.choose(1, "web-row", MEMBER) for _ in range(3))
    clock.now += 30
    p.reward(a.decision_id, 1.0)
    p.reward(a.decision_id, 2.0)  # a second reward: kept, "first" reads the first
    recs = {r.decision_id: r for r in p.decisions()}
    assert recs[a.decision_id].reward == 1.0 and recs[a.decision_id].reward_count == 2
    assert recs[b.decision_id].reward is None and recs[b.decision_id].reward_status == "pending"
    clock.now += 31  # the wait time is over
    recs = {r.decision_id: r for r in p.decisions()}
    assert recs[b.decision_id].reward == -0.5 and recs[b.decision_id].reward_status == "default"
    with pytest.raises(DecisionExpiredError, match=f"decision {c.decision_id} expired"):
        p.reward(c.decision_id, 1.0)
    with pytest.raises(NotFoundError, match="unknown decision id 12345"):
        p.reward(12345, 1.0)
    for value in (float("nan"), float("inf"), "1", True, None, 1e9):
        with pytest.raises(UsageError, match="reward"):
            p.reward(a.decision_id, value)
    for bad_id in (0, -1, "x", 2**70, 1.5):
        with pytest.raises(UsageError, match="decision id"):
            p.reward(bad_id, 1.0)
    assert p.log.stats()["rewards"] == 2
    p.close()
    lib.close()
    # Sum aggregation: both rewards count once the wait time is over.
    lib, p = _open(lib_root, clock, aggregation="sum", reward_wait_s=60)
    rec = p.log.decision(a.decision_id)
    assert rec.reward == 3.0
    p.close()
    lib.close()


# -- guardrails --------------------------------------------------------------------------------

def test_guard_floors_every_arm_and_caps_the_chance_of_exploring():
    pmf = np.array([0.97, 0.01, 0.01, 0.01, 0.0])
    q = guard(pmf, 0, min_propensity=0.02, max_explore_share=1.0)
    assert q.min() >= 0.02 - 1e-12 and q.sum() == pytest.approx(1.0)
    uniform = np.full(5, 0.2)
    q = guard(uniform, 2, min_propensity=0.0, max_explore_share=0.1)
    assert 1 - q[2] == pytest.approx(0.1) and q.sum() == pytest.approx(1.0)
    q = guard(uniform, 2, min_propensity=0.01, max_explore_share=0.1)
    assert 1 - q[2] <= 0.1 + 1e-12 and q.min() >= 0.01 - 1e-12
    assert np.array_equal(guard(pmf, 0, 0.0, 1.0), pmf)  # off: untouched


def test_exploration_share_and_floor_hold_when_serving(lib_root: Path):
    lib, p = _open(lib_root, policy="vw-epsilon", epsilon=1.0, min_propensity=0.02,
                   max_explore_share=0.2, max_arms=5)
    n = 400
    decisions = [p.choose(1, "web-row", MEMBER) for _ in range(n)]
    share = sum(d.explored for d in decisions) / n
    assert share <= 0.2 + 3 * np.sqrt(0.2 * 0.8 / n)
    assert share > 0.05  # it does still explore
    for d in decisions:
        assert min(r.probability for r in d.ranking) >= 0.02 - 1e-9
    p.close()
    lib.close()


def test_the_kill_switch_serves_the_editorial_ranking_and_logs_it(lib_root: Path):
    lib = Library(lib_root)
    p = Personalizer(lib)  # settings come from the library's file
    assert p.choose(1, "web-row", MEMBER).mode == "policy"
    save_config(lib_root, load_config(lib_root).with_values({"kill_switch": "true"}))
    d = p.choose(1, "web-row", MEMBER)  # no restart: the settings file is watched
    top = lib.suggest(1, "web-row", k=20)[0].candidate_id
    assert (d.mode, d.policy, d.propensity, d.candidate_id) == ("fallback", "editorial", 1.0, top)
    assert d.reason == "kill switch is on" and not d.explored
    rec = p.log.decision(d.decision_id)
    assert (rec.mode, rec.propensity, rec.reason) == ("fallback", 1.0, "kill switch is on")
    p.close()
    lib.close()


# -- learning and snapshots --------------------------------------------------------------------

def test_learning_improves_on_the_simulator(lib_root: Path):
    """Real VW, real log: after learning, the policy earns more than the editorial pick."""
    lib, p = _open(lib_root, policy="vw-squarecb")
    sim = MemberSimulator(seed=5)
    rep = simulate(p, sim, [1, 2], "web-row", 2400, learn_every=300)
    assert len(rep.learned_versions) == 8
    late = np.diff(np.array(rep.cumulative_regret)[[1200, -1]])[0] / 1199
    # The editorial and the uniform policy's regret on the same kind of members.
    editorial, uniform = [], []
    for t in range(600):
        m = sim.member()
        arms, _ = p.arms([1, 2][t % 2], "web-row")
        probs = sim.probabilities(m, arms, t)
        editorial.append(probs.max() - probs[0])
        uniform.append(probs.max() - probs.mean())
    print(f"late regret {late:.4f}, editorial {np.mean(editorial):.4f}, "
          f"uniform {np.mean(uniform):.4f}")
    assert late < 0.8 * float(np.mean(editorial))
    assert late < 0.5 * float(np.mean(uniform))
    p.close()
    lib.close()


def test_learn_without_new_rewards_writes_nothing_and_claims_survive_a_crash(lib_root: Path):
    lib, p = _open(lib_root)
    for _ in range(5):
        p.reward(p.choose(1, "web-row", MEMBER).decision_id, 1.0)
    assert p.learn().version == 1
    assert p.learn().version is None  # nothing new
    d = p.choose(1, "web-row", MEMBER)
    p.reward(d.decision_id, 1.0)
    # A learner killed after claiming (before its snapshot): the next learner releases the claim.
    assert p.log.claim_learnable(2) == 1
    rep = p.learn()
    assert rep.version == 2 and rep.learned == 1 and rep.total == 6
    assert p.log.decision(d.decision_id).learned_in == 2
    # A failing learner leaves nothing claimed.
    p.reward(p.choose(1, "web-row", MEMBER).decision_id, 1.0)
    original = p.store.write

    def broken(*a: object, **k: object) -> None:
        raise OSError("disk full")

    p.store.write = broken  # type: ignore[method-assign]
    with pytest.raises(OSError):
        p.learn()
    p.store.write = original  # type: ignore[method-assign]
    assert sum(r.learned_in is None for r in p.decisions()) == 1
    assert p.learn().version == 3
    p.close()
    lib.close()


def test_thompson_refuses_rewards_outside_zero_one_without_losing_claims(lib_root: Path):
    lib, p = _open(lib_root, policy="thompson")
    p.reward(p.choose(1, "web-row", MEMBER).decision_id, 5.0)
    with pytest.raises(UsageError, match=r"reward = 5.0"):
        p.learn()
    assert next(iter(p.decisions())).learned_in is None
    p.close()
    lib.close()


def test_a_snapshot_from_another_library_is_refused(base_library: Path, tmp_path: Path):
    roots = []
    for name in ("a", "b"):
        root = tmp_path / name
        shutil.copytree(base_library, root)
        roots.append(root)
    # Make b a different library (its own id), as a separate ingest would.
    con = sqlite3.connect(roots[1] / "catalog.sqlite")
    con.execute("UPDATE meta SET value='another-library' WHERE key='library_id'")
    con.commit()
    con.close()
    lib, p = _open(roots[0])
    p.reward(p.choose(1, "web-row", MEMBER).decision_id, 1.0)
    p.learn()
    p.close()
    lib.close()
    shutil.copytree(roots[0] / "personalize", roots[1] / "personalize")
    lib, p = _open(roots[1])
    d = p.choose(1, "web-row", MEMBER)  # serving goes on, on the editorial ranking
    assert d.mode == "fallback" and "learned in library" in (d.reason or "")
    assert "learn --restart" in (d.reason or "")
    with pytest.raises(PolicyStateError, match="learned in library"):
        p.learn()
    rep = p.learn(restart=True)  # what the message says to do
    assert rep.version == 2
    assert p.choose(1, "web-row", MEMBER).mode == "policy"
    p.close()
    lib.close()


def test_a_tampered_snapshot_is_refused(lib_root: Path):
    lib, p = _open(lib_root)
    p.reward(p.choose(1, "web-row", MEMBER).decision_id, 1.0)
    rep = p.learn()
    Path(rep.snapshot or "").write_bytes(b"not a model")
    with pytest.raises(PolicyStateError, match="does not match its manifest"):
        p.learn()
    d = p.choose(1, "web-row", MEMBER)
    assert d.mode == "fallback" and "does not match" in (d.reason or "")
    p.close()
    lib.close()


def test_a_decision_log_from_another_library_is_refused(base_library: Path, tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(base_library, a)
    shutil.copytree(base_library, b)
    con = sqlite3.connect(b / "catalog.sqlite")
    con.execute("UPDATE meta SET value='other' WHERE key='library_id'")
    con.commit()
    con.close()
    with Library(a) as lib:
        lib.choose(1, "web-row", MEMBER)
    shutil.copy(a / "decisions.sqlite", b / "decisions.sqlite")
    with Library(b) as lib, pytest.raises(LibraryError, match="belongs to library"):
        lib.choose(1, "web-row", MEMBER)


def test_warm_start_from_editors_accepts(lib_root: Path):
    lib, p = _open(lib_root, policy="thompson", warm_start_weight=3)
    arms, _ = p.arms(1, "web-row")
    liked = arms[-1].candidate_id
    lib.feedback(liked, "accept", None)
    rep = p.learn()
    assert rep.warm_start == 1
    state = json.loads(Path(rep.snapshot or "").read_text())
    assert state[str(liked)] == [4.0, 1.0]
    p.close()
    lib.close()


def test_learning_does_not_block_serving(lib_root: Path):
    from media_ml.lockfile import WriterLock

    lib, p = _open(lib_root)
    (lib_root / "personalize").mkdir(exist_ok=True)
    with WriterLock(lib_root / "personalize", what="a learner"):
        t = time.perf_counter()
        p.choose(1, "web-row", MEMBER)
        assert time.perf_counter() - t < 5  # not waiting for the learner's lock
        with pytest.raises(LibraryError, match="a learner"):
            p.learn(wait=0)
    p.close()
    lib.close()


def test_a_killed_chooser_loses_no_acknowledged_decision(lib_root: Path):
    with Library(lib_root) as lib:
        lib.choose(1, "web-row", MEMBER)  # create the log and the projection
    script = (
        "import sys\n"
        "from media_ml.library import Library\n"
        f"lib = Library({str(lib_root)!r})\n"
        "while True:\n"
        "    d = lib.choose(1, 'web-row', {'device': 'tv'})\n"
        "    sys.stdout.write(f'{d.decision_id}\\n'); sys.stdout.flush()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    acknowledged = []
    assert proc.stdout is not None
    for line in proc.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) >= 300:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    with Library(lib_root) as lib:
        logged = {r.decision_id for r in lib.decisions()}
        assert set(acknowledged) <= logged
    con = sqlite3.connect(lib_root / "decisions.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


# -- export, settings, CLI ---------------------------------------------------------------------

def test_export_to_parquet(lib_root: Path, tmp_path: Path):
    import pyarrow.parquet as pq

    lib, p = _open(lib_root)
    ds = [p.choose(i % 2 + 1, "web-row", MEMBER) for i in range(25)]
    p.reward(ds[3].decision_id, 1.0)
    n = p.log.export_parquet(tmp_path / "log.parquet", batch=10)
    table = pq.read_table(tmp_path / "log.parquet")
    assert n == table.num_rows == 25
    rows = table.to_pylist()
    assert [r["decision_id"] for r in rows] == [d.decision_id for d in ds]
    assert rows[3]["reward"] == 1.0 and rows[4]["reward"] is None
    assert rows[0]["candidate_id"] in rows[0]["arm_ids"]
    assert rows[0]["propensity"] == pytest.approx(ds[0].propensity)
    p.close()
    lib.close()


@pytest.mark.parametrize("key,value", [
    ("policy", "vw-nope"), ("epsilon", "1.5"), ("epsilon", "nan"), ("max_arms", "0"),
    ("max_arms", "51"), ("min_propensity", "0.2"), ("max_explore_share", "-1"),
    ("kill_switch", "maybe"), ("reward_wait_s", "0"), ("aggregation", "max"),
    ("interactions", "mz"), ("seed", "-1"), ("bogus", "1"), ("default_reward", "inf"),
])
def test_settings_are_validated(lib_root: Path, key: str, value: str):
    with pytest.raises(UsageError, match=key):
        PersonalizeConfig().with_values({key: value})
    (lib_root / "personalize").mkdir(exist_ok=True)
    (lib_root / "personalize" / "settings.json").write_text(json.dumps({key: value}))
    with pytest.raises(UsageError, match=key):
        load_config(lib_root)


def test_cli_choose_reward_learn_decisions_evaluate(lib_root: Path, capsys: pytest.CaptureFixture):
    lib = str(lib_root)

    def run(*argv: str) -> tuple[int, dict]:
        code = main([*argv, "--library", lib, "--json"])
        out = capsys.readouterr().out
        return code, json.loads(out)

    code, d = run("choose", "--video", "1", "--context", "web-row", "--member",
                  json.dumps(MEMBER))
    assert code == 0 and {"decision_id", "candidate_id", "propensity", "ranking", "policy",
                          "explored"} <= set(d)
    code, r = run("reward", "--decision", str(d["decision_id"]), "--value", "1")
    assert code == 0 and r["reward"] == 1.0
    code, err = run("reward", "--decision", "999", "--value", "1")
    assert code == 2 and "unknown decision id 999" in err["error"]
    code, err = run("choose", "--video", "1", "--context", "web-row", "--member", "[1]")
    assert code == 2 and "--member" in err["error"]
    code, err = run("choose", "--video", "1", "--context", "web-row", "--member",
                    '{"hour": Infinity}')
    assert code == 2 and "Infinity" in err["error"]
    for _ in range(30):
        _, d = run("choose", "--video", "2", "--context", "web-row", "--member",
                   '{"device": "web"}')
        run("reward", "--decision", str(d["decision_id"]), "--value", "0.5")
    code, rep = run("learn")
    assert code == 0 and rep["version"] == 1 and rep["learned"] == 31
    code, log = run("decisions")
    assert code == 0 and len(log["decisions"]) == 31 and log["stats"]["rewards"] == 31
    plot = lib_root / "eval.png"
    code, ev = run("evaluate", "--policy", "uniform", "--plot", str(plot), "--n-bootstrap",
                   "200")
    assert code == 0 and ev["n"] == 31 and set(ev["estimates"]) == {"ips", "snips", "dr"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, err = run("evaluate", "--policy", "vw-nope")
    assert code == 2 and "unknown policy" in err["error"]
    code, st = run("personalize", "--set", "policy=thompson", "--set", "max_arms=3")
    assert code == 0 and st["settings"]["policy"] == "thompson" and st["policy"] == "thompson"
    code, err = run("personalize", "--set", "min_propensity=2")
    assert code == 2 and "min_propensity" in err["error"]
    assert load_config(lib_root).policy == "thompson"  # the refused change left the file alone


def test_offline_evaluation_of_the_logging_policy_itself_is_exact(lib_root: Path):
    """Logging uniformly and evaluating 'uniform': every importance weight is 1, so IPS is the
    logged mean reward exactly."""
    from media_ml.personalize.offline import evaluate_policy

    lib, p = _open(lib_root, policy="vw-epsilon", epsilon=1.0)
    sim = MemberSimulator(seed=2)
    rewards = []
    for t in range(300):
        m = sim.member()
        d = p.choose(t % 2 + 1, "web-row", m)
        assert d.propensity == pytest.approx(1 / len(d.ranking), abs=1e-6)
        arms, _ = p.arms(t % 2 + 1, "web-row")
        r = sim.reward(m, arms, [a.candidate_id for a in arms].index(d.candidate_id), t)
        p.reward(d.decision_id, r)
        rewards.append(r)
    rep = evaluate_policy(p, "uniform", n_bootstrap=200)
    assert rep.estimates["ips"].value == pytest.approx(np.mean(rewards), abs=1e-6)
    assert rep.logging_value == pytest.approx(np.mean(rewards))
    assert rep.comparison.lift == pytest.approx(0.0, abs=1e-6)
    ed = evaluate_policy(p, "editorial", n_bootstrap=200)
    assert ed.estimates["ips"].value != pytest.approx(rep.estimates["ips"].value)
    p.close()
    lib.close()


def test_simulator_is_seeded_and_drifts():
    from media_ml.personalize.simulator import synthetic_arms

    arms = synthetic_arms(6, seed=1)
    a, b = MemberSimulator(seed=4), MemberSimulator(seed=4)
    ma, mb = a.member(), b.member()
    assert ma == mb
    assert np.allclose(a.probabilities(ma, arms), b.probabilities(mb, arms))
    drifting = MemberSimulator(seed=4, drift=1.0)
    assert np.allclose(drifting.probabilities(ma, arms, 0), a.probabilities(ma, arms))
    assert not np.allclose(drifting.probabilities(ma, arms, 3000), a.probabilities(ma, arms))
    with pytest.raises(UsageError, match="strength"):
        MemberSimulator(strength=float("nan"))


def test_threads_share_one_library_for_choose_and_reward(lib_root: Path):
    """A service answers from several threads: decisions and rewards never interleave badly."""
    from concurrent.futures import ThreadPoolExecutor

    lib, p = _open(lib_root)

    def work(i: int) -> int:
        d = p.choose(i % 2 + 1, "web-row", {"device": ["tv", "web"][i % 2], "hour": i % 24})
        p.reward(d.decision_id, float(i % 3 == 0))
        return d.decision_id

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(work, range(200)))
    assert len(set(ids)) == 200
    recs = list(p.decisions())
    assert len(recs) == 200 and all(r.reward_count == 1 for r in recs)
    p.close()
    lib.close()


def test_decisions_survive_a_reingest_and_arms_keep_their_ids(lib_root: Path, samples_dir: Path,
                                                              tiny_model_dir: Path):
    from media_ml.pipeline import IngestSettings

    lib, p = _open(lib_root)
    before = p.choose(1, "web-row", MEMBER)
    p.reward(before.decision_id, 1.0)
    arms_before = {a.candidate_id for a in p.arms(1, "web-row")[0]}
    path = lib.video(1).path
    rep = lib.ingest([path], model="tiny-test:untrained", model_config=str(tiny_model_dir),
                     workers=0, progress=False, settings=IngestSettings(detectors="grids"))
    assert rep.ingested and not rep.failed  # new settings: a real re-ingest
    recs = list(p.decisions())
    assert [(r.decision_id, r.candidate_id, r.reward) for r in recs] == [
        (before.decision_id, before.candidate_id, 1.0)]
    after = p.choose(1, "web-row", MEMBER)
    arms_after = {r.candidate_id for r in after.ranking}
    assert arms_before & arms_after  # re-linked candidates keep their ids
    p.close()
    lib.close()


def test_a_snapshot_of_another_feature_set_is_refused(lib_root: Path):
    lib, p = _open(lib_root)
    p.reward(p.choose(1, "web-row", MEMBER).decision_id, 1.0)
    p.learn()
    p.close()
    # The library's vectors now come from another model (as after a re-embed): the CLIP
    # projection is refitted, so the snapshot's features no longer mean the same.
    con = sqlite3.connect(lib_root / "catalog.sqlite")
    con.execute("UPDATE meta SET value = value || '-v2' WHERE key = 'weights'")
    con.commit()
    con.close()
    p = Personalizer(lib, PersonalizeConfig(), clock=Clock())
    d = p.choose(1, "web-row", MEMBER)
    assert d.mode == "fallback" and "another feature set" in (d.reason or "")
    with pytest.raises(PolicyStateError, match="another feature set"):
        p.learn()
    assert p.learn(restart=True).version == 2
    assert p.choose(1, "web-row", MEMBER).mode == "policy"
    p.close()
    lib.close()


def test_offline_evaluation_says_when_the_log_cannot_see_a_policy(lib_root: Path):
    """Decisions logged by the editorial fallback give every other arm probability 0: a policy
    that picks those arms cannot be evaluated from this log, and the report says how much."""
    from media_ml.personalize.offline import evaluate_policy

    lib, p = _open(lib_root, kill_switch=True)
    for _ in range(40):
        p.reward(p.choose(1, "web-row", MEMBER).decision_id, 1.0)
    n_arms = len(p.arms(1, "web-row")[0])
    rep = evaluate_policy(p, "uniform", n_bootstrap=100)
    assert rep.unsupported == pytest.approx((n_arms - 1) / n_arms)
    assert evaluate_policy(p, "editorial", n_bootstrap=100).unsupported == 0.0
    p.close()
    lib.close()

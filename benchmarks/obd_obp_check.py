"""Run by benchmarks/obd.py inside benchmarks/.obp-venv: Open Bandit Pipeline's own numbers.

    benchmarks/.obp-venv/bin/python benchmarks/obd_obp_check.py benchmarks/data/obd_all.npz ...

For each saved campaign it prints (as one JSON object) OBP's IPS and SNIPS of the Bernoulli TS
policy on the random logs, and how far OBP's own ``BernoulliTS.compute_batch_action_dist`` (same
prior, seed and n_sim) is from the action distribution benchmarks/obd.py re-implemented.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import obp
from obp.ope import InverseProbabilityWeighting, SelfNormalizedInverseProbabilityWeighting
from obp.policy import BernoulliTS


def main(paths: list[str]) -> None:
    out: dict[str, object] = {"obp": obp.__version__, "numpy": np.__version__}
    for path in paths:
        saved = np.load(path)
        campaign = str(saved["campaign"])
        n = len(saved["action"])
        ours = saved["bts_dist"]
        feedback = {
            "reward": saved["reward"],
            "action": saved["action"],
            "pscore": saved["pscore"],
            "position": saved["position"],
            "action_dist": np.tile(ours, (n, 1, 1)),
        }
        ips = InverseProbabilityWeighting().estimate_policy_value(**feedback)
        snips = SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**feedback)
        policy = BernoulliTS(
            n_actions=int(saved["n_actions"]),
            len_list=ours.shape[1],
            is_zozotown_prior=True,
            campaign=campaign,
            random_state=int(saved["seed"]),
        )
        theirs = policy.compute_batch_action_dist(n_rounds=1, n_sim=int(saved["n_sim"]))[0]
        out[campaign] = {
            "ips": float(ips),
            "snips": float(snips),
            "dist_max_abs_diff": float(np.abs(theirs - ours).max()),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])

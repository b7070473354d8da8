"""Mean episode score of each env's scripted players over seeds 0..N-1 (default envs arguments).

.venv/bin/python benchmarks/scripted_scores.py [--seeds 200]
"""

from __future__ import annotations

import argparse
from statistics import fmean

import gymnasium as gym

import llm_gym
from llm_gym.policies import make_scripted_policy, play_scripted_episode, scripted_policy_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    for env_id in llm_gym.ENV_SPECS:
        env = gym.make(env_id)
        scores = {
            name: fmean(
                play_scripted_episode(env, make_scripted_policy(env_id, name), seed)[0]
                for seed in range(args.seeds)
            )
            for name in scripted_policy_names(env_id)
        }
        print(env_id, "  ".join(f"{name}: {score:.3f}" for name, score in scores.items()))


if __name__ == "__main__":
    main()

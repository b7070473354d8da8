"""Second-process side of the cross-process determinism check.

Reads a pickled job from stdin (the parent's ``sys.path``, the pickled env spec, and
``(seed, replies)`` pairs), replays every pair in a fresh env and writes the traces as JSON.

    python -m llm_gym.conformance.worker < job.pickle
"""

from __future__ import annotations

import json
import pickle
import sys
from typing import Any


def replay_job(job: dict[str, Any]) -> list[dict[str, Any]]:
    import gymnasium as gym

    import llm_gym  # noqa: F401  (registers the envs)
    from llm_gym.conformance.traces import play

    spec = pickle.loads(job["spec"])
    traces = []
    for seed, replies in job["episodes"]:
        env = gym.make(spec)
        try:
            traces.append(play(env, seed, replies, max_steps=len(replies)).to_json())
        finally:
            env.close()
    return traces


def main() -> None:
    job = pickle.loads(sys.stdin.buffer.read())
    sys.path[:] = job["sys_path"]
    json.dump(replay_job(job), sys.stdout)


if __name__ == "__main__":
    main()

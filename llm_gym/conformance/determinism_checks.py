"""Checks of determinism: same seed and replies give the same episode, here and elsewhere."""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
from typing import Any

import numpy as np

from llm_gym.conformance.report import CheckFailed, CheckSkipped
from llm_gym.conformance.subject import PROBE_PLAYER, EnvUnderTest, describe_trace
from llm_gym.conformance.traces import CallHook, Trace, play, snapshot, take_step, trace_difference

SECOND_PROCESS_TIMEOUT_S = 300.0
TASK_SEEDS = range(8)


def check_deterministic_in_process(env: EnvUnderTest) -> str:
    """A second fresh env, and two envs stepped in turn, repeat every trace exactly."""
    for player, trace in env.traces():
        again = env.make()
        try:
            repeat = play(again, trace.seed, trace.replies, max_steps=env.max_steps)
        finally:
            again.close()
        difference = trace_difference(trace, repeat)
        if difference is not None:
            raise CheckFailed(f"{describe_trace(player, trace)}, a second fresh env: {difference}")
    for player in env.trace_players:
        first, second = (env.trace(player, seed) for seed in env.seeds[:2])
        difference = _interleaved_difference(env, first, second)
        if difference is not None:
            raise CheckFailed(f"{player}, two envs stepped in turn: {difference}")
    return (
        f"{len(env.trace_players) * len(env.seeds)} episodes repeated exactly by fresh envs and "
        "by two envs stepped in turn"
    )


def _interleaved_difference(env: EnvUnderTest, first: Trace, second: Trace) -> str | None:
    """Step two envs alternately; each must give what it gave alone."""
    traces = (first, second)
    envs = [env.make(), env.make()]
    try:
        together = [
            Trace(trace.seed, *map(snapshot, made.reset(seed=trace.seed)))
            for made, trace in zip(envs, traces, strict=True)
        ]
        for number in range(max(len(first.steps), len(second.steps))):
            for made, trace, replayed in zip(envs, traces, together, strict=True):
                if number < len(trace.steps):
                    step, _, _ = take_step(made, trace.steps[number].reply)
                    replayed.steps.append(step)
    finally:
        for made in envs:
            made.close()
    for trace, replayed in zip(traces, together, strict=True):
        difference = trace_difference(trace, replayed)
        if difference is not None:
            return f"seed {trace.seed}: {difference}"
    return None


def _pickled_spec(env: EnvUnderTest) -> bytes:
    made = env.make()
    try:
        spec = made.unwrapped.spec
    finally:
        made.close()
    if spec is None:
        raise CheckSkipped("the env has no spec to rebuild it from in another process")
    entry_point = spec.entry_point
    module = getattr(entry_point, "__module__", None)
    if module == "__main__":
        raise CheckSkipped(
            "the env class is defined in __main__: another process cannot import it "
            "(register it from an importable module)"
        )
    try:
        return pickle.dumps(spec)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise CheckSkipped(
            f"the env spec cannot be sent to another process ({type(error).__name__}: {error})"
        ) from error


def _child_hash_seed() -> str:
    """A string-hash seed for the child that differs from this process's."""
    own = os.environ.get("PYTHONHASHSEED", "")
    return str((int(own) + 1) % 4294967296) if own.isdigit() else "random"


def check_deterministic_across_processes(env: EnvUnderTest) -> str:
    """A second Python process (another string-hash seed) repeats every trace exactly."""
    traces = env.traces()
    job = {
        "sys_path": list(sys.path),
        "spec": _pickled_spec(env),
        "episodes": [(trace.seed, trace.replies) for _, trace in traces],
    }
    child_env = {
        **os.environ,
        "PYTHONHASHSEED": _child_hash_seed(),
        "PYTHONPATH": os.pathsep.join(path for path in sys.path if path),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "llm_gym.conformance.worker"],
        input=pickle.dumps(job),
        capture_output=True,
        timeout=SECOND_PROCESS_TIMEOUT_S,
        env=child_env,
        check=False,
    )
    if completed.returncode != 0:
        tail = completed.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise CheckFailed(f"the second process failed: {' / '.join(tail)}")
    replayed = [Trace.from_json(data) for data in json.loads(completed.stdout)]
    expected = [Trace.from_json(json.loads(json.dumps(trace.to_json()))) for _, trace in traces]
    for (player, trace), want, got in zip(traces, expected, replayed, strict=True):
        difference = trace_difference(want, got)
        if difference is not None:
            raise CheckFailed(f"{describe_trace(player, trace)} in a second process: {difference}")
    return f"{len(traces)} episodes repeated exactly by a second process"


def check_seeds_vary_tasks(env: EnvUnderTest) -> str:
    """Different seeds give different tasks (when the env has randomness at all).

    A task is what the reset info says (its ``seed`` entry aside) and every observation of the
    probe player's episode.
    """
    seeded = {_task(env.play_fresh(PROBE_PLAYER, seed)) for seed in TASK_SEEDS}
    if len(seeded) > 1:
        return f"{len(TASK_SEEDS)} seeds gave {len(seeded)} different tasks"
    unseeded = set()
    for _ in range(3):
        made = env.make()
        try:
            unseeded.add(_task(Trace(0, *map(snapshot, made.reset()))))
        finally:
            made.close()
    if len(unseeded) > 1:
        raise CheckFailed(
            "reset ignores its seed: every seed gives the same task while unseeded resets "
            "differ (pass the seed to super().reset(seed=seed) and draw from self.np_random)"
        )
    raise CheckSkipped(
        f"{len(TASK_SEEDS)} seeds and unseeded resets all gave the same task: the env has no "
        "randomness"
    )


def _task(trace: Trace) -> str:
    info = trace.info
    if isinstance(info, dict):
        info = {key: value for key, value in info.items() if key != "seed"}
    observations = [trace.observation, *(step.observation for step in trace.steps)]
    return json.dumps([info, observations], sort_keys=True)


def _global_rng_state() -> tuple[Any, Any]:
    legacy = np.random.get_state()
    return random.getstate(), (legacy[0], legacy[1].tobytes(), *legacy[2:])


def _global_rng_guard(where: str) -> CallHook:
    """A hook that fails when a call changed the global random states it found at creation."""
    python_before, numpy_before = _global_rng_state()

    def compare(label: str, _info: Any) -> None:
        python_now, numpy_now = _global_rng_state()
        for name, before, now in (
            ("Python's global `random`", python_before, python_now),
            ("NumPy's global `np.random`", numpy_before, numpy_now),
        ):
            if now != before:
                raise CheckFailed(
                    f"{where} {label} changed {name} state: draw from self.np_random (seeded by "
                    "reset) instead"
                )

    return compare


def check_no_global_rng(env: EnvUnderTest) -> str:
    """``reset`` and ``step`` leave Python's and NumPy's global random states alone."""
    calls = 0
    for player, trace in env.traces():
        made = env.make()
        try:
            guard = _global_rng_guard(describe_trace(player, trace))
            play(made, trace.seed, trace.replies, max_steps=env.max_steps, hook=guard)
        finally:
            made.close()
        calls += 1 + len(trace.steps)
    return f"{calls} calls left the global random and np.random states untouched"

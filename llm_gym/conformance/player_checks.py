"""Checks of the score range: no-op replies earn nothing, the best scripted player earns it all."""

from __future__ import annotations

from statistics import fmean

from llm_gym.conformance.report import CheckFailed, CheckSkipped
from llm_gym.conformance.subject import NOOP_PLAYERS, EnvUnderTest, is_real_number
from llm_gym.conformance.traces import Trace

FLOOR = 0.0
TOLERANCE = 1e-6


def _earned(trace: Trace) -> str:
    """The positive component values of an episode, e.g. ``format +1 at step 1``."""
    parts = [
        f"{name} {value:+.3g} at step {number}"
        for number, step in enumerate(trace.steps, 1)
        for name, value in _components(step.info).items()
        if is_real_number(value) and value > 0
    ]
    return ", ".join(parts[:3]) or "no positive component"


def _components(info: object) -> dict:
    components = info.get("reward_components") if isinstance(info, dict) else None
    return components if isinstance(components, dict) else {}


def noop_means(env: EnvUnderTest) -> dict[str, float]:
    return {
        name: fmean(env.trace(name, seed).total_reward for seed in env.seeds)
        for name in NOOP_PLAYERS
    }


def check_noop_stays_at_floor(env: EnvUnderTest) -> str:
    """Empty and garbage replies never score above 0: nothing is earned without an answer."""
    for name in NOOP_PLAYERS:
        for seed in env.seeds:
            trace = env.trace(name, seed)
            if trace.total_reward > FLOOR + TOLERANCE:
                raise CheckFailed(
                    f"the {name} scored {trace.total_reward:+.3g} on seed {seed} "
                    f"({_earned(trace)}): a reply with no answer must not earn reward"
                )
    means = noop_means(env)
    return ", ".join(f"{name}: mean {mean:+.3g}" for name, mean in means.items()) + (
        f" over seeds {list(env.seeds)} (floor {FLOOR:g})"
    )


def check_best_player_reaches_maximum(env: EnvUnderTest) -> str:
    """The best scripted player reaches the declared ``max_reward``; the gap to no-ops is shown."""
    if not env.scripted_names:
        raise CheckSkipped(
            f"no scripted players for {env.env_id} "
            "(llm_gym.policies.register_scripted_policy adds one)"
        )
    seeds = range(env.scripted_episodes)
    scores = {
        name: [env.trace(f"scripted:{name}", seed).total_reward for seed in seeds]
        for name in env.scripted_names
    }
    best = max(scores, key=lambda name: fmean(scores[name]))
    floor = max(noop_means(env).values())
    summary = (
        ", ".join(f"{name} mean {fmean(values):.3g}" for name, values in scores.items())
        + f"; no-op mean {floor:+.3g}; gap {fmean(scores[best]) - floor:.3g}"
    )
    info = env.trace(f"scripted:{best}", 0).info
    declared = info.get("max_reward") if isinstance(info, dict) else None
    if not is_real_number(declared):
        raise CheckSkipped(f"the reset info declares no max_reward ({summary})")
    if max(scores[best]) < declared - TOLERANCE:
        raise CheckFailed(
            f"the best player ({best}) scored at most {max(scores[best]):.6g} over "
            f"{env.scripted_episodes} episodes, below the declared max_reward {declared:.6g} "
            f"({summary})"
        )
    return f"{best} reaches max_reward {declared:.3g}; {summary}"

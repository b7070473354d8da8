"""Checks of the API contract: Gymnasium's checker, text spaces, the info contract, rewards."""

from __future__ import annotations

import math
import warnings
from typing import Any

from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from llm_gym.conformance.report import CheckFailed, CheckSkipped
from llm_gym.conformance.subject import EnvUnderTest, describe_trace, is_real_number
from llm_gym.conformance.traces import play, shorten, snapshot, trace_difference

ROLES = ("user", "tool")
REWARD_TOLERANCE = 1e-9
MAX_LISTED_PROBLEMS = 5


def check_gymnasium_env_checker(env: EnvUnderTest) -> str:
    """Gymnasium's ``check_env`` on the unwrapped env, every warning raised as an error."""
    made = env.make()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(made.unwrapped)
    except (AssertionError, Warning) as error:
        raise CheckFailed(f"{type(error).__name__}: {error}") from error
    finally:
        made.close()
    return "gymnasium.utils.env_checker.check_env passes with warnings as errors"


def check_text_spaces(env: EnvUnderTest) -> str:
    """Both spaces are ``Text``; the action charset has the spaces and newlines replies hold."""
    made = env.make()
    try:
        observation_space, action_space = made.observation_space, made.action_space
    finally:
        made.close()
    for role, space in (("observation", observation_space), ("action", action_space)):
        if not isinstance(space, spaces.Text):
            raise CheckFailed(f"the {role} space is {space!r}, not gymnasium.spaces.Text")
    missing = [
        name
        for name, ch in (("space", " "), ("newline", "\n"))
        if ch not in action_space.character_set
    ]
    if missing:
        raise CheckFailed(
            f"the action space's charset has no {' or '.join(missing)}: model replies hold them "
            "(Gymnasium's default Text charset is alphanumeric; use llm_gym.spaces.text_space)"
        )
    return (
        f"observations Text(max_length={observation_space.max_length}), "
        f"actions Text(max_length={action_space.max_length}), "
        f"action charset of {len(action_space.character_set)} characters"
    )


def text_space_problem(space: spaces.Space, value: Any) -> str | None:
    """Why ``value`` is not in ``space`` (``None`` when it is)."""
    if space.contains(value):
        return None
    if not isinstance(space, spaces.Text):
        return f"{shorten(value)} is not in {space!r}"
    if not isinstance(value, str):
        return f"a {type(value).__name__}, not a str"
    if not space.min_length <= len(value) <= space.max_length:
        return (
            f"{len(value)} characters, outside min_length {space.min_length} .. max_length "
            f"{space.max_length}"
        )
    foreign = sorted({ch for ch in value if ch not in space.character_set})
    return f"characters outside the charset: {shorten(''.join(foreign[:10]))}"


def check_observations_in_space(env: EnvUnderTest) -> str:
    """Every observation of every traced episode lies inside the observation space."""
    made = env.make()
    space = made.observation_space
    made.close()
    count = 0
    for player, trace in env.traces():
        labelled = [("reset", trace.observation)]
        labelled += [(f"step {n}", step.observation) for n, step in enumerate(trace.steps, 1)]
        for label, observation in labelled:
            count += 1
            problem = text_space_problem(space, observation)
            if problem is not None:
                raise CheckFailed(
                    f"{describe_trace(player, trace)} {label}: the observation is {problem}"
                )
    return f"{count} observations, all inside the observation space"


def _contract_problems(info: Any, label: str, *, at_reset: bool, final: bool) -> list[str]:
    if not isinstance(info, dict):
        return [f"{label}: info is {type(info).__name__}, not a dict"]
    problems = []
    if info.get("role") not in ROLES:
        problems.append(f"{label}: info['role'] is {shorten(info.get('role'))}, not user/tool")
    if at_reset:
        prompt = info.get("system_prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            problems.append(f"{label}: no system_prompt text in the info")
        weights = info.get("reward_weights")
        if not isinstance(weights, dict) or not weights:
            problems.append(f"{label}: no reward_weights dict in the info")
        elif not all(isinstance(k, str) and is_real_number(v) for k, v in weights.items()):
            problems.append(
                f"{label}: reward_weights must map names to numbers: {shorten(weights)}"
            )
        if "max_reward" in info and not is_real_number(info["max_reward"]):
            problems.append(f"{label}: max_reward is {shorten(info['max_reward'])}, not a number")
        return problems
    components = info.get("reward_components")
    if not isinstance(components, dict) or not all(
        isinstance(k, str) and is_real_number(v) for k, v in components.items()
    ):
        problems.append(f"{label}: reward_components must be a dict of numbers")
    if not isinstance(info.get("invalid_action"), bool):
        problems.append(f"{label}: invalid_action is {shorten(info.get('invalid_action'))}")
    if final:
        if not isinstance(info.get("outcome"), str):
            problems.append(f"{label} (last): no outcome label in the info")
        if not isinstance(info.get("metrics"), dict):
            problems.append(f"{label} (last): no metrics dict in the info")
    return problems


def check_info_contract(env: EnvUnderTest) -> str:
    """The info keys of ``llm_gym.TextEnv``: at reset, at every step and at the last step."""
    problems: list[str] = []
    for player, trace in env.traces():
        where = describe_trace(player, trace)
        problems += _contract_problems(trace.info, f"{where} reset", at_reset=True, final=False)
        for number, step in enumerate(trace.steps, 1):
            final = step.terminated or step.truncated
            problems += _contract_problems(
                step.info, f"{where} step {number}", at_reset=False, final=final
            )
    if problems:
        more = len(problems) - MAX_LISTED_PROBLEMS
        raise CheckFailed(
            "; ".join(problems[:MAX_LISTED_PROBLEMS]) + (f" (and {more} more)" if more > 0 else "")
        )
    return (
        "system_prompt, reward_weights and role at reset; role, reward_components and "
        "invalid_action every step; outcome and metrics at the end"
    )


def _containers(value: Any, path: str = "info") -> list[tuple[int, str, Any]]:
    """``(id, path, object)`` of every mutable container inside ``value``."""
    found: list[tuple[int, str, Any]] = []
    if isinstance(value, (dict, list, set, bytearray)) or hasattr(value, "__array__"):
        found.append((id(value), path, value))
    if isinstance(value, dict):
        for key, item in value.items():
            found += _containers(item, f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found += _containers(item, f"{path}[{index}]")
    return found


def _scrub(value: Any) -> None:
    """Empty every mutable container inside ``value``, as a careless caller might."""
    if isinstance(value, dict):
        for item in value.values():
            _scrub(item)
        value.clear()
    elif isinstance(value, list):
        for item in value:
            _scrub(item)
        value.clear()
    elif isinstance(value, (set, bytearray)):
        value.clear()


def check_fresh_info_dicts(env: EnvUnderTest) -> str:
    """Every call returns its own info: nothing shared between calls, kept or read back later.

    Two episodes on one env: no dict, list or array may appear in two infos, no info may change
    after it was returned, and emptying every returned info must not change what comes next.
    """
    player = env.trace_players[-1]
    first, second = env.seeds[0], env.seeds[1]
    made = env.make()
    received: list[tuple[str, Any, Any]] = []

    def keep(episode: int) -> Any:
        return lambda label, info: received.append(
            (f"episode {episode} {label}", info, snapshot(info))
        )

    try:
        for episode, seed in enumerate((first, second), 1):
            replies = env.trace(player, seed).replies
            play(made, seed, replies, max_steps=env.max_steps, hook=keep(episode))
    finally:
        made.close()
    owners: dict[int, tuple[str, str]] = {}
    for label, info, _ in received:
        for object_id, path, _ in _containers(info):
            if object_id in owners and owners[object_id][0] != label:
                earlier_label, earlier_path = owners[object_id]
                raise CheckFailed(
                    f"{earlier_label} and {label} return the same object ({earlier_path} is "
                    f"{path}): build a new info dict, with new containers, on every call"
                )
            owners.setdefault(object_id, (label, path))
    for label, info, taken in received:
        if snapshot(info) != taken:
            raise CheckFailed(
                f"the info returned by {label} changed after it was returned: the env keeps "
                "and modifies it"
            )
    for seed in (first, second):
        expected = env.trace(player, seed)
        scrubbed = env.make()
        try:
            again = play(
                scrubbed,
                seed,
                expected.replies,
                max_steps=env.max_steps,
                hook=lambda _label, info: _scrub(info),
            )
        finally:
            scrubbed.close()
        difference = trace_difference(expected, again)
        if difference is not None:
            raise CheckFailed(
                f"emptying the returned infos changed the env (seed {seed}, {player}): {difference}"
            )
    return f"{len(received)} infos over 2 episodes: all distinct, unchanged, not read back"


def check_rewards_add_up(env: EnvUnderTest) -> str:
    """Each step reward is the weighted sum of its components; episodes stay within max_reward."""
    steps = 0
    totals: list[float] = []
    for player, trace in env.traces():
        where = describe_trace(player, trace)
        weights = trace.info.get("reward_weights") if isinstance(trace.info, dict) else None
        if not isinstance(weights, dict) or not weights:
            raise CheckSkipped("the reset info declares no reward_weights (see info_contract)")
        for number, step in enumerate(trace.steps, 1):
            steps += 1
            if not is_real_number(step.reward) or not math.isfinite(step.reward):
                raise CheckFailed(f"{where} step {number}: reward {shorten(step.reward)}")
            components = step.info.get("reward_components") if isinstance(step.info, dict) else None
            if not isinstance(components, dict):
                raise CheckFailed(f"{where} step {number}: no reward_components in the info")
            unknown = sorted(set(components) - set(weights))
            if unknown:
                raise CheckFailed(f"{where} step {number}: components {unknown} have no weight")
            weighted = sum(weights[name] * value for name, value in components.items())
            if not math.isclose(step.reward, weighted, rel_tol=0, abs_tol=REWARD_TOLERANCE):
                raise CheckFailed(
                    f"{where} step {number}: reward {step.reward!r} but the weighted components "
                    f"{shorten(components)} add up to {weighted!r}"
                )
        totals.append(trace.total_reward)
        declared = trace.info.get("max_reward")
        if is_real_number(declared) and trace.total_reward > declared + REWARD_TOLERANCE:
            raise CheckFailed(
                f"{where}: the episode scored {trace.total_reward:.6g}, above the declared "
                f"max_reward {declared:.6g}"
            )
    return (
        f"{steps} steps of {len(totals)} episodes: every reward is its weighted components; "
        f"episode scores {min(totals):.3g} .. {max(totals):.3g}"
    )

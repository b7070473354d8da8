"""Run the conformance checks on one env and collect a report."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from llm_gym.conformance import api_checks, determinism_checks, player_checks, robustness_checks
from llm_gym.conformance.report import (
    CheckFailed,
    CheckResult,
    CheckSkipped,
    ConformanceReport,
    Status,
)
from llm_gym.conformance.subject import EnvUnderTest

Check = Callable[[EnvUnderTest], str]

CHECKS: dict[str, Check] = {
    "gymnasium_check_env": api_checks.check_gymnasium_env_checker,
    "text_spaces": api_checks.check_text_spaces,
    "observations_in_space": api_checks.check_observations_in_space,
    "info_contract": api_checks.check_info_contract,
    "fresh_info_dicts": api_checks.check_fresh_info_dicts,
    "rewards_add_up": api_checks.check_rewards_add_up,
    "deterministic_in_process": determinism_checks.check_deterministic_in_process,
    "deterministic_across_processes": determinism_checks.check_deterministic_across_processes,
    "seeds_vary_tasks": determinism_checks.check_seeds_vary_tasks,
    "no_global_rng": determinism_checks.check_no_global_rng,
    "hostile_replies": robustness_checks.check_hostile_replies,
    "pickle_mid_episode": robustness_checks.check_pickle_mid_episode,
    "deepcopy_mid_episode": robustness_checks.check_deepcopy_mid_episode,
    "reset_after_episode_end": robustness_checks.check_reset_after_episode_end,
    "vector_env": robustness_checks.check_vector_env,
    "noop_stays_at_floor": player_checks.check_noop_stays_at_floor,
    "best_player_reaches_maximum": player_checks.check_best_player_reaches_maximum,
}
"""Every check by name, in the order they run."""


def check_names(only: Iterable[str] | None) -> list[str]:
    """The checks to run: all, or those named in ``only`` (unknown names are an error)."""
    if only is None:
        return list(CHECKS)
    names = list(only)
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {unknown}; known: {', '.join(CHECKS)}")
    return [name for name in CHECKS if name in names]


def run_check(name: str, env: EnvUnderTest) -> CheckResult:
    """Run one check; an exception from the env is a failure that says where it came from."""
    started = time.perf_counter()
    try:
        detail, status = CHECKS[name](env), Status.PASS
    except CheckFailed as failure:
        detail, status = str(failure), Status.FAIL
    except CheckSkipped as skip:
        detail, status = str(skip), Status.SKIPPED
    except Exception as error:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        detail = f"raised {type(error).__name__}: {error} (at {frame.filename}:{frame.lineno})"
        status = Status.FAIL
    return CheckResult(name, status, detail, time.perf_counter() - started)


def check_text_env(
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    *,
    only: Iterable[str] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    step_budget_s: float = 0.5,
    scripted_episodes: int = 8,
    on_result: Callable[[CheckResult], None] | None = None,
) -> ConformanceReport:
    """Run the conformance checks on a text env.

    Args:
        env_id: a registered id, or ``"package.module:EnvName-v0"`` to import a user's package.
        env_kwargs: keyword arguments for ``gymnasium.make``.
        only: names of the checks to run (see :data:`CHECKS`); default all.
        seeds: the seeds of the compared episodes (at least 2).
        step_budget_s: the most seconds one step may take on a hostile reply.
        scripted_episodes: episodes per scripted player when measuring scores.
        on_result: called with each result as it is known (progress output).

    Returns:
        The report: one :class:`CheckResult` per check.

    Raises:
        ValueError: the env cannot be made with these arguments, or an option is out of range.

    >>> report = check_text_env("LLMReverseText-v0", only=["rewards_add_up"])
    >>> [(result.name, result.status.value) for result in report.results]
    [('rewards_add_up', 'pass')]
    """
    names = check_names(only)
    kwargs = dict(env_kwargs or {})
    env = EnvUnderTest(
        env_id,
        kwargs,
        seeds=tuple(seeds),
        step_budget_s=step_budget_s,
        scripted_episodes=scripted_episodes,
    )
    try:
        env.make().close()
    except Exception as error:
        raise ValueError(f"cannot make {env_id} with {kwargs}: {error}") from error
    report = ConformanceReport(env_id, kwargs)
    for name in names:
        result = run_check(name, env)
        report.results.append(result)
        if on_result is not None:
            on_result(result)
    return report

"""``llm_gym.conformance``: the four envs conform, and each deliberately broken env fails exactly
the check that names its defect.

The broken envs are small variations of one conforming user env (:class:`GuessDigitEnv`), each
with a single defect. They are registered from this module, so the cross-process check imports
them in its second process the way it would import a user's package.
"""

from __future__ import annotations

import random
import re
import threading
import time
from typing import Any

import gymnasium as gym
import pytest

import llm_gym
from llm_gym import TextEnv
from llm_gym.conformance import CHECKS, Status, check_text_env
from llm_gym.policies import register_scripted_policy

MAX_GUESSES = 3


class GuessDigitEnv(TextEnv):
    """Guess a secret digit in three tries, told "higher" or "lower" after each wrong one."""

    max_observation_length = 200
    max_action_length = 2000

    def __init__(self, render_mode: str | None = None):
        super().__init__(
            {"correct": 1.0, "invalid": 1.0},
            render_mode=render_mode,
            best_component_totals={"correct": 1.0, "invalid": 0.0},
        )
        self.secret = 0
        self.turn = 0
        self.penalised = False

    @property
    def system_prompt(self) -> str:
        return "Guess the secret digit. Reply with <answer>N</answer>, N from 0 to 9."

    def draw_secret(self) -> int:
        return int(self.np_random.integers(0, 10))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.secret = self.draw_secret()
        self.turn = 0
        self.penalised = False
        return "Guess a digit from 0 to 9.", self.reset_info(secret=self.secret)

    def read_guess(self, action: Any) -> int | None:
        if not isinstance(action, str):
            return None
        match = re.fullmatch(r"\s*<answer>\s*(\d)\s*</answer>\s*", action)
        return int(match.group(1)) if match else None

    def step(self, action: Any):
        self.turn += 1
        guess = self.read_guess(action)
        components = self.zero_components()
        if guess is None and not self.penalised:
            components["invalid"] = -0.1
            self.penalised = True
        terminated = guess == self.secret
        truncated = not terminated and self.turn >= MAX_GUESSES
        components["correct"] = float(terminated)
        if guess is None:
            message = "Invalid reply: write <answer>N</answer>."
        else:
            message = "Right." if terminated else ("Higher." if guess < self.secret else "Lower.")
        info = self.step_info(components, invalid_action=guess is None, secret=self.secret)
        if terminated or truncated:
            info["outcome"] = "correct" if terminated else "incorrect"
            info["metrics"] = {"guesses": self.turn}
        return message, self.weighted_reward(components), terminated, truncated, info

    def render_text(self) -> str:
        return f"secret {self.secret}, turn {self.turn}\n"


class GlobalRngEnv(GuessDigitEnv):
    """Seeds and draws from Python's global RNG (deterministic per seed, so check_env passes)."""

    def draw_secret(self) -> int:
        random.seed(int(self.np_random.integers(0, 2**31)))
        return random.randrange(10)


class HashedTaskEnv(GuessDigitEnv):
    """Picks the task with ``hash()`` of a string: salted per process."""

    def draw_secret(self) -> int:
        return hash(f"task-{self.np_random.integers(0, 2**31)}") % 10


class RaisesOnStrangeRepliesEnv(GuessDigitEnv):
    """Assumes every reply is ASCII text."""

    def read_guess(self, action: Any) -> int | None:
        action.encode("ascii")
        return super().read_guess(action)


class SlowOnLongRepliesEnv(GuessDigitEnv):
    """Takes a millisecond per ten characters of reply."""

    def read_guess(self, action: Any) -> int | None:
        if isinstance(action, str):
            time.sleep(len(action) / 10_000)
        return super().read_guess(action)


class UnreportedBonusEnv(GuessDigitEnv):
    """Pays a bonus for a right guess that no reward component reports."""

    def step(self, action: Any):
        observation, reward, terminated, truncated, info = super().step(action)
        return observation, reward + 0.5 * terminated, terminated, truncated, info


class ReusedFinalInfoEnv(GuessDigitEnv):
    """Returns one dict, kept on the env, as the info of every episode's last step."""

    def __init__(self, render_mode: str | None = None):
        super().__init__(render_mode)
        self.final_info: dict[str, Any] = {}

    def step(self, action: Any):
        observation, reward, terminated, truncated, info = super().step(action)
        if terminated or truncated:
            self.final_info.clear()
            self.final_info.update(info)
            info = self.final_info
        return observation, reward, terminated, truncated, info


class NoInvalidActionFlagEnv(GuessDigitEnv):
    """Leaves ``invalid_action`` out of its step infos."""

    def step(self, action: Any):
        observation, reward, terminated, truncated, info = super().step(action)
        del info["invalid_action"]
        return observation, reward, terminated, truncated, info


class AlphanumericActionsEnv(GuessDigitEnv):
    """Declares Gymnasium's default ``Text`` charset for replies: no space, no newline."""

    def __init__(self, render_mode: str | None = None):
        super().__init__(render_mode)
        self.action_space = gym.spaces.Text(max_length=self.max_action_length)


class PaysForBrevityEnv(GuessDigitEnv):
    """Rewards a short last reply, so saying nothing earns reward."""

    def __init__(self, render_mode: str | None = None):
        TextEnv.__init__(
            self,
            {"correct": 1.0, "invalid": 1.0, "brevity": 0.5},
            render_mode=render_mode,
            best_component_totals={"correct": 1.0, "invalid": 0.0, "brevity": 1.0},
        )

    def step(self, action: Any):
        observation, _, terminated, truncated, info = super().step(action)
        components = info["reward_components"]
        last_and_short = (terminated or truncated) and isinstance(action, str) and len(action) < 20
        components["brevity"] = float(last_and_short)
        return observation, self.weighted_reward(components), terminated, truncated, info


class LambdaAttributeEnv(GuessDigitEnv):
    """Keeps a lambda on the env: it deep-copies, but does not pickle."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.is_right = lambda guess: guess == self.secret
        return super().reset(seed=seed, options=options)


class LifetimeGuessCountEnv(GuessDigitEnv):
    """Counts guesses over the env's life instead of the episode's (seen only after an end)."""

    def __init__(self, render_mode: str | None = None):
        super().__init__(render_mode)
        self.guesses_ever = 0

    def step(self, action: Any):
        self.guesses_ever += 1
        observation, reward, terminated, truncated, info = super().step(action)
        if "metrics" in info:
            info["metrics"]["guesses"] = self.guesses_ever
        return observation, reward, terminated, truncated, info


class ThreadLockEnv(GuessDigitEnv):
    """Holds a lock: neither pickle nor deepcopy can copy it."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.lock = threading.Lock()
        return super().reset(seed=seed, options=options)


class UnreachableMaximumEnv(GuessDigitEnv):
    """Declares a maximum above anything it pays."""

    def __init__(self, render_mode: str | None = None):
        TextEnv.__init__(
            self,
            {"correct": 1.0, "invalid": 1.0},
            render_mode=render_mode,
            best_component_totals={"correct": 2.0, "invalid": 0.0},
        )


class MaximumTooLowEnv(GuessDigitEnv):
    """Declares a maximum below what a right guess pays."""

    def __init__(self, render_mode: str | None = None):
        TextEnv.__init__(
            self,
            {"correct": 1.0, "invalid": 1.0},
            render_mode=render_mode,
            best_component_totals={"correct": 0.5, "invalid": 0.0},
        )


class OracleGuesser:
    """Reads the secret from the info and says it."""

    def __call__(self, observation: str, info: dict[str, Any]) -> str:
        return f"<answer>{info['secret']}</answer>"


BROKEN_ENVS: dict[type[GuessDigitEnv], set[str]] = {
    GlobalRngEnv: {"no_global_rng"},
    HashedTaskEnv: {"deterministic_across_processes"},
    RaisesOnStrangeRepliesEnv: {"hostile_replies"},
    UnreportedBonusEnv: {"rewards_add_up"},
    ReusedFinalInfoEnv: {"fresh_info_dicts"},
    NoInvalidActionFlagEnv: {"info_contract"},
    AlphanumericActionsEnv: {"text_spaces"},
    PaysForBrevityEnv: {"noop_stays_at_floor"},
    LambdaAttributeEnv: {"pickle_mid_episode"},
    ThreadLockEnv: {"pickle_mid_episode", "deepcopy_mid_episode"},
    LifetimeGuessCountEnv: {"reset_after_episode_end"},
    UnreachableMaximumEnv: {"best_player_reaches_maximum"},
    MaximumTooLowEnv: {"rewards_add_up"},
}


def env_id_of(env_class: type[GuessDigitEnv]) -> str:
    return f"ConformanceTest{env_class.__name__}-v0"


for _env_class in (GuessDigitEnv, SlowOnLongRepliesEnv, *BROKEN_ENVS):
    if env_id_of(_env_class) not in gym.registry:
        gym.register(env_id_of(_env_class), entry_point=_env_class)
    register_scripted_policy(env_id_of(_env_class), "oracle", OracleGuesser)

SEEDS = (0, 1, 2, 3, 4, 5)  # enough seeds that hash() salts cannot agree on every task by chance


def failed_checks(env_class: type[GuessDigitEnv]) -> set[str]:
    report = check_text_env(env_id_of(env_class), seeds=SEEDS, scripted_episodes=4)
    return {result.name for result in report.results if result.status is Status.FAIL}


def test_the_conforming_user_env_passes_every_check():
    report = check_text_env(env_id_of(GuessDigitEnv), seeds=SEEDS, scripted_episodes=4)
    assert [r.name for r in report.results] == list(CHECKS)
    assert {r.name: r.status for r in report.results} == dict.fromkeys(CHECKS, Status.PASS), [
        (r.name, r.detail) for r in report.failures
    ]
    assert report.passed


@pytest.mark.parametrize(
    ("env_class", "expected"), list(BROKEN_ENVS.items()), ids=lambda v: getattr(v, "__name__", "")
)
def test_each_defect_fails_exactly_its_check(env_class, expected):
    assert failed_checks(env_class) == expected


def test_failures_say_what_is_wrong_and_where():
    report = check_text_env(env_id_of(RaisesOnStrangeRepliesEnv), only=["hostile_replies"])
    (result,) = report.results
    assert "raised UnicodeEncodeError on 5 (non-ASCII" in result.detail
    assert "raised AttributeError on 6 (a reply of type NoneType" in result.detail
    report = check_text_env(env_id_of(UnreportedBonusEnv), only=["rewards_add_up"])
    assert "reward 1.5 but the weighted components" in report.results[0].detail
    report = check_text_env(env_id_of(GlobalRngEnv), only=["no_global_rng"])
    assert "reset changed Python's global `random` state" in report.results[0].detail
    report = check_text_env(env_id_of(MaximumTooLowEnv), only=["rewards_add_up"])
    assert "above the declared max_reward 0.5" in report.results[0].detail


def test_slow_steps_are_measured_against_the_budget():
    env_id = env_id_of(SlowOnLongRepliesEnv)
    tight = check_text_env(env_id, only=["hostile_replies"], step_budget_s=0.05)
    assert tight.results[0].status is Status.FAIL
    assert "the step took" in tight.results[0].detail
    roomy = check_text_env(env_id, only=["hostile_replies"], step_budget_s=5.0)
    assert roomy.results[0].status is Status.PASS


def test_an_env_without_randomness_or_scripted_players_is_skipped_with_why():
    class FixedTaskEnv(GuessDigitEnv):
        def draw_secret(self) -> int:
            return 7

    gym.register("ConformanceTestFixedTask-v0", entry_point=FixedTaskEnv)
    report = check_text_env(
        "ConformanceTestFixedTask-v0",
        only=["seeds_vary_tasks", "best_player_reaches_maximum", "deterministic_across_processes"],
    )
    statuses = {r.name: (r.status, r.detail) for r in report.results}
    assert statuses["seeds_vary_tasks"][0] is Status.SKIPPED
    assert "no randomness" in statuses["seeds_vary_tasks"][1]
    assert statuses["best_player_reaches_maximum"][0] is Status.SKIPPED
    assert "no scripted players" in statuses["best_player_reaches_maximum"][1]
    assert statuses["deterministic_across_processes"][0] is Status.SKIPPED
    assert "cannot be sent to another process" in statuses["deterministic_across_processes"][1]


def test_bad_arguments_are_errors_that_say_what_was_expected():
    with pytest.raises(ValueError, match="unknown checks \\['typo'\\]"):
        check_text_env("LLMReverseText-v0", only=["typo"])
    with pytest.raises(ValueError, match="cannot make LLMReverseText-v0"):
        check_text_env("LLMReverseText-v0", {"length": "novel"})
    with pytest.raises(ValueError, match="at least 2 seeds"):
        check_text_env("LLMReverseText-v0", seeds=[0])


@pytest.fixture(scope="module", params=sorted(llm_gym.ENV_SPECS))
def our_report(request):
    return check_text_env(request.param)


def test_our_envs_pass_every_check(our_report):
    statuses = {r.name: r.status for r in our_report.results}
    assert set(statuses.values()) == {Status.PASS}, [
        (r.name, r.detail) for r in our_report.failures
    ]


def test_our_envs_answer_hostile_replies_within_the_budget(our_report):
    (result,) = [r for r in our_report.results if r.name == "hostile_replies"]
    assert result.status is Status.PASS, result.detail
    assert "none raised" in result.detail


def test_our_envs_raise_nothing_on_hostile_replies(our_report):
    (result,) = [r for r in our_report.results if r.name == "hostile_replies"]
    assert "raised" not in result.detail.replace("none raised", "")

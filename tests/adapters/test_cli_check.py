"""``llm-gym check`` on envs of a user's package (``module:EnvName-v0``) and on ours."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from llm_gym.conformance import CHECKS

runner = CliRunner()

USER_PACKAGE = textwrap.dedent(
    '''
    import random

    import gymnasium as gym
    from llm_gym import TextEnv


    class EchoEnv(TextEnv):
        """Say the secret word back."""

        WORDS = ("apple", "pear", "plum", "fig", "kiwi", "lime", "date", "lemon")

        def __init__(self, bonus=0.0, render_mode=None):
            super().__init__({"correct": 1.0}, render_mode, best_component_totals={"correct": 1.0})
            self.bonus = bonus
            self.secret = ""

        @property
        def system_prompt(self):
            return "Repeat the word you are given."

        def draw(self):
            return self.WORDS[int(self.np_random.integers(len(self.WORDS)))]

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.secret = self.draw()
            return f"Say {self.secret}.", self.reset_info()

        def step(self, action):
            correct = isinstance(action, str) and action.strip() == self.secret
            components = {"correct": float(correct)}
            info = self.step_info(components, invalid_action=not correct)
            info["outcome"] = "correct" if correct else "incorrect"
            info["metrics"] = {}
            reward = self.weighted_reward(components) + self.bonus
            return "Done.", reward, True, False, info

        def render_text(self):
            return self.secret


    class GlobalRngEchoEnv(EchoEnv):
        def draw(self):
            random.seed(int(self.np_random.integers(2**31)))
            return random.choice(self.WORDS)


    gym.register("Echo-v0", entry_point=EchoEnv)
    gym.register("GlobalRngEcho-v0", entry_point=GlobalRngEchoEnv)
    '''
)


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    (tmp_path / "checked_user_envs.py").write_text(USER_PACKAGE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "checked_user_envs"
    sys.modules.pop("checked_user_envs", None)


def check(*args: str):
    return runner.invoke(app, ["check", *args], env={"COLUMNS": "250"})


def test_a_conforming_user_env_passes_with_exit_code_0(user_package):
    result = check(f"{user_package}:Echo-v0")
    assert result.exit_code == 0, result.output
    assert f"{user_package}:Echo-v0: passed" in result.output
    for name in CHECKS:
        assert name in result.output


def test_json_report_names_the_failing_check_and_exits_1(user_package):
    result = check(f"{user_package}:GlobalRngEcho-v0", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["passed"] is False
    failed = [c["name"] for c in report["checks"] if c["status"] == "fail"]
    assert failed == ["no_global_rng"]
    assert [c["name"] for c in report["checks"]] == list(CHECKS)


def test_env_arguments_reach_the_env(user_package):
    result = check(f"{user_package}:Echo-v0", "-a", "bonus=0.5", "--only", "rewards_add_up")
    assert result.exit_code == 1
    assert "rewards_add_up" in result.output and "fail" in result.output
    assert "1 of 1 checks failed" in result.output


def test_our_env_with_only_some_checks(tmp_path):
    result = check(
        "LLMTicTacToe-v0",
        "-a",
        "model_plays=X",
        "--only",
        "info_contract",
        "--only",
        "best_player_reaches_maximum",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["env_kwargs"] == {"model_plays": "X"}
    assert [(c["name"], c["status"]) for c in report["checks"]] == [
        ("info_contract", "pass"),
        ("best_player_reaches_maximum", "pass"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NoSuchEnv-v0"], "cannot make NoSuchEnv-v0"),
        (["LLMTicTacToe-v0", "-a", "max_turns=0"], "max_turns must be an integer >= 1"),
        (["LLMTicTacToe-v0", "--only", "typo"], "unknown checks"),
        (["LLMTicTacToe-v0", "-a", "not an assignment"], "expected key=value"),
    ],
)
def test_bad_arguments_exit_2_with_what_was_expected(args, message):
    result = check(*args)
    assert result.exit_code == 2
    assert message in result.output

"""``llm-gym list`` and evaluations of envs registered by a user's own package."""

from __future__ import annotations

import sys
import textwrap

from typer.testing import CliRunner

from adapters.cli import app
from adapters.evaluation import EvalConfig, evaluate_sync
from adapters.policies.base import PolicyReply
from adapters.policies.factory import PolicySpec
from adapters.records import read_records

USER_PACKAGE = textwrap.dedent(
    '''
    import gymnasium as gym
    from llm_gym.spaces import text_space

    class EchoEnv(gym.Env):
        """Say the seed back."""

        def __init__(self, bonus=0.0):
            self.bonus = bonus
            self.observation_space = text_space(100)
            self.action_space = text_space(100)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.secret = str(seed)
            info = {"system_prompt": "Echo.", "reward_weights": {"correct": 1.0}}
            return f"Say {self.secret}.", info

        def step(self, action):
            correct = action.strip() == self.secret
            info = {"reward_components": {"correct": float(correct)}}
            info["outcome"] = "correct" if correct else "incorrect"
            return "done", float(correct) + self.bonus, True, False, info

    gym.register("Echo-v0", entry_point=EchoEnv)
    '''
)


class SaysSeven:
    name = "says-seven"

    async def reply(self, messages, *, tools=None, info=None):
        return PolicyReply(text="7")


def test_list_shows_every_env_with_arguments_and_scripted_players():
    result = CliRunner().invoke(app, ["list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for env_id in (
        "LLMTicTacToe-v0",
        "LLMReverseText-v0",
        "LLMDoubleCheckMath-v0",
        "LLMToolUse-v0",
    ):
        assert env_id in result.output
    assert "max_random_move_prob=1.0" in result.output
    assert "scripted:optimal" in result.output
    assert "random, mixed, optimal" in result.output and "easy, medium, hard" in result.output


def test_eval_of_an_env_from_a_user_package(tmp_path, monkeypatch):
    (tmp_path / "user_envs_pkg.py").write_text(USER_PACKAGE)
    monkeypatch.syspath_prepend(str(tmp_path))
    env_id = "user_envs_pkg:Echo-v0"
    config = EvalConfig(env_id, PolicySpec(model="says-seven"), num_examples=10)
    result = evaluate_sync(config, SaysSeven(), output=tmp_path / "run")
    summary = result.summaries[None]
    assert summary.outcome_rates == {"correct": 0.1, "incorrect": 0.9}
    assert summary.pass_at_k[1] == 0.1
    rows = list(read_records(tmp_path / "run" / "results.jsonl"))
    assert {r.env_id for r in rows} == {env_id}
    assert [r.seed for r in rows if r.outcome == "correct"] == [7]
    sys.modules.pop("user_envs_pkg", None)

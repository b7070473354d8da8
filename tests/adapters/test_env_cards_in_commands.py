"""A user's env that declares its card gets every command; one that declares nothing still works."""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
import pytest
import typer
from typer.testing import CliRunner

from adapters.cli import app
from adapters.evaluation import METADATA_FILE, RESULTS_FILE
from adapters.records import read_records
from adapters.training.sft_data import default_filter
from adapters.training.teachers import default_teacher, make_teacher
from llm_gym import EnvCard, TextEnv, describe
from llm_gym.policies import register_scripted_policy

PARITY = "CardParity-v0"
BARE = "CardBare-v0"


def invoke(args: list[str]):
    return CliRunner().invoke(app, args, env={"COLUMNS": "250"})


class ParityEnv(TextEnv):
    """Say whether a number is even or odd."""

    card = EnvCard(
        settings={"small": {"largest": 9}, "large": {"largest": 999}},
        strata={"tiny": {"largest": 3}},
        success_outcomes=("right",),
        teacher="oracle",
    )

    def __init__(self, largest: int = 99, render_mode: str | None = None):
        super().__init__({"right": 1.0}, render_mode=render_mode)
        self.largest = largest
        self.number = 0

    @property
    def system_prompt(self) -> str:
        return "Answer with one word: even or odd."

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.number = int(self.np_random.integers(0, self.largest + 1))
        return f"Is {self.number} even or odd?", self.reset_info(number=self.number)

    def step(self, action: str):
        self.check_reset()
        right = action.strip().lower() == ("even" if self.number % 2 == 0 else "odd")
        components = {"right": float(right)}
        info = self.step_info(
            components,
            invalid_action=False,
            outcome="right" if right else "wrong",
            metrics={"number": self.number},
        )
        return "Right." if right else "Wrong.", self.weighted_reward(components), True, False, info

    def render_text(self) -> str:
        return str(self.number)


class BareEnv(ParityEnv):
    """The same task, declaring nothing (the base class's card)."""

    card = TextEnv.card


def oracle(**_: Any):
    return lambda observation, info: "even" if info["number"] % 2 == 0 else "odd"


def always_even(**_: Any):
    return lambda observation, info: "even"


@pytest.fixture(scope="module", autouse=True)
def registered():
    gym.register(PARITY, entry_point=ParityEnv)
    gym.register(BARE, entry_point=BareEnv)
    register_scripted_policy(PARITY, "oracle", oracle)
    register_scripted_policy(PARITY, "even", always_even)
    yield
    del gym.registry[PARITY], gym.registry[BARE]


def test_eval_runs_the_declared_settings_by_name_and_scores_the_declared_success(tmp_path):
    out = tmp_path / "run"
    args = ["eval", PARITY, "-m", "scripted:oracle", "-n", "3", "-o", str(out), "--no-progress"]
    result = invoke([*args, "--setting", "small", "--setting", "large"])
    assert result.exit_code == 0, result.output
    records = list(read_records(out / RESULTS_FILE))
    assert {(r.setting, r.env_kwargs["largest"]) for r in records} == {("small", 9), ("large", 999)}
    assert {r.outcome for r in records} == {"right"}
    assert "pass@1 (right)" in result.output
    assert json.loads((out / METADATA_FILE).read_text())["success_outcomes"] == ["right"]

    shown = invoke(["show", str(out), "--setting", "large", "-n", "1"])
    assert shown.exit_code == 0, shown.output
    assert "even or odd?" in shown.output and "setting large" in shown.output


def test_eval_names_the_declared_settings_when_one_is_unknown(tmp_path):
    result = invoke(["eval", PARITY, "--setting", "huge", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "no setting 'huge'; the env declares: small, large" in result.output


def test_sft_data_keeps_the_declared_success_outcomes(tmp_path):
    out = tmp_path / "rows.jsonl"
    args = ["sft-data", PARITY, "-o", str(out), "--teacher", "scripted:even", "-n", "12"]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert 0 < len(rows) < 12  # the always-even teacher is right on the even numbers only
    for row in rows:
        question, reply = row["messages"][1]["content"], row["messages"][2]["content"]
        assert reply == "even" and int(question.split()[1]) % 2 == 0
    assert default_filter(PARITY).outcomes == frozenset({"right"})


def test_the_declared_teacher_is_the_default_teacher():
    assert default_teacher(PARITY) == "scripted:oracle"
    assert default_teacher("LLMTicTacToe-v0") == "scripted:optimal"
    teacher = make_teacher(PARITY)
    assert teacher.name == "scripted:oracle"


def test_walks_and_coverage_use_the_declared_settings():
    from adapters.cli.train import opponent_settings

    shared = {"render_mode": None}
    assert opponent_settings(PARITY, [], shared, walk=False) == {
        "small": {"render_mode": None, "largest": 9},
        "large": {"render_mode": None, "largest": 999},
    }
    assert list(opponent_settings(PARITY, ["large"], {}, walk=True)) == ["large"]
    assert list(opponent_settings("LLMTicTacToe-v0", [], {}, walk=True)) == ["random", "optimal"]
    assert opponent_settings(BARE, [], shared, walk=True) == {"default": shared}
    assert opponent_settings(BARE, [], shared, walk=False) == {}
    with pytest.raises(typer.BadParameter, match="no setting 'huge'; the env declares: small"):
        opponent_settings(PARITY, ["huge"], {}, walk=False)


def test_training_strata_are_the_declared_ones():
    assert describe(PARITY).card.training_strata() == {"tiny": {"largest": 3}}


def test_an_env_that_declares_nothing_works_with_defaults(tmp_path):
    out = tmp_path / "run"
    args = ["eval", BARE, "-m", "scripted:none", "-n", "2", "-o", str(out), "--no-progress"]
    result = invoke(args)
    assert result.exit_code == 2 and "no scripted policy 'none'" in result.output
    with pytest.raises(ValueError, match=r"declares no default teacher \(scripted players: none\)"):
        default_teacher(BARE)
    register_scripted_policy(BARE, "even", always_even)
    assert default_teacher(BARE) == "scripted:even"  # its only scripted player
    result = invoke([*args[:3], "scripted:even", *args[4:]])
    assert result.exit_code == 0, result.output
    assert "pass@1 (win/correct)" in result.output
    assert {r.setting for r in read_records(out / RESULTS_FILE)} == {None}
    assert describe(BARE).card.training_strata() == {"default": {}}
    assert default_filter(BARE).outcomes == frozenset({"win", "correct"})
    refused = invoke(["eval", BARE, "--setting", "small", "-o", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "declares: none" in refused.output
    labelled = [
        *args[:3],
        "scripted:even",
        "--setting",
        "weak:largest=3",
        "-o",
        str(tmp_path / "y"),
    ]
    named = invoke([*labelled, "-n", "1", "--no-progress"])
    assert named.exit_code == 0, named.output

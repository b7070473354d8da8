"""GRPO reads the env card: a user's env gets its declared strata, one without a card a default.

Both modes: text mode's episode data set and tool mode's (``build_tool_dataset``).
"""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.training.grpo import build_episode_dataset, evaluate_model
from adapters.training.strata import resolve_strata
from llm_gym import EnvCard, SeedRange, TextEnv
from llm_gym.spaces import text_space

LADDER = "GRPOStrataLadder-v0"
NO_CARD = "GRPOStrataNoCard-v0"
FLAT = "GRPOStrataFlat-v0"


class LadderEnv(TextEnv):
    """Say how many rungs the ladder has."""

    card = EnvCard(
        settings={"short": {"rungs": 2}, "tall": {"rungs": 9}},
        strata={"low": {"rungs": 3}, "high": {"rungs": 6}},
        success_outcomes=("right",),
        training_seeds=SeedRange(500, 510),
        evaluation_seeds=SeedRange(900, 1000),
    )

    def __init__(self, rungs: int = 4, render_mode: str | None = None):
        super().__init__({"right": 1.0}, render_mode=render_mode)
        self.rungs = rungs

    @property
    def system_prompt(self) -> str:
        return "Answer with a number."

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return f"How many rungs ({self.rungs}, seed {seed})?", self.reset_info(rungs=self.rungs)

    def step(self, action: str):
        self.check_reset()
        right = action.strip() == str(self.rungs)
        components = {"right": float(right)}
        info = self.step_info(
            components, invalid_action=False, outcome="right" if right else "wrong", metrics={}
        )
        return "Done.", self.weighted_reward(components), True, False, info

    def render_text(self) -> str:
        return str(self.rungs)


class FlatLadderEnv(LadderEnv):
    """The ladder with a card that declares neither strata nor settings."""

    card = EnvCard(
        success_outcomes=("right",),
        training_seeds=SeedRange(40, 47),
        evaluation_seeds=SeedRange(900, 1000),
    )


class NoCardEnv(gym.Env):
    """A plain Gymnasium env: no card at all."""

    observation_space = text_space(64)
    action_space = text_space(64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return f"Say something ({seed}).", {"system_prompt": "Reply.", "reward_weights": {"x": 1}}

    def step(self, action):
        return "", 0.0, True, False, {"reward_components": {"x": 0.0}, "outcome": "done"}


@pytest.fixture(scope="module", autouse=True)
def registered():
    gym.register(LADDER, entry_point=LadderEnv)
    gym.register(NO_CARD, entry_point=NoCardEnv)
    gym.register(FLAT, entry_point=FlatLadderEnv)
    yield
    del gym.registry[LADDER], gym.registry[NO_CARD], gym.registry[FLAT]


def test_strata_default_to_the_card_and_are_named_by_it():
    assert resolve_strata(LADDER, None) == {"low": {"rungs": 3}, "high": {"rungs": 6}}
    assert resolve_strata(LADDER, "high") == {"high": {"rungs": 6}}
    # the card's settings are strata by name too
    assert resolve_strata(LADDER, "tall, low") == {"tall": {"rungs": 9}, "low": {"rungs": 3}}


def test_strata_as_json_list_or_object():
    assert resolve_strata(LADDER, '[{"rungs": 5}, {}]') == {"rungs=5": {"rungs": 5}, "default": {}}
    assert resolve_strata(LADDER, '{"mine": {"rungs": 7}}') == {"mine": {"rungs": 7}}
    assert resolve_strata(LADDER, [{"rungs": 1}]) == {"rungs=1": {"rungs": 1}}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "low,bogus",
            r"declares no stratum or setting 'bogus'; its strata: low, high; its "
            r"settings: short, tall",
        ),
        ("[1, 2]", "must be an object of env arguments"),
        ("[]", "non-empty list"),
        ('[{"rungs": 1}, {"rungs": 1}]', "given twice"),
        ("{not json", "does not parse"),
    ],
)
def test_bad_strata_are_refused_with_what_is_known(spec, message):
    with pytest.raises(ValueError, match=message):
        resolve_strata(LADDER, spec)


def test_the_episode_dataset_uses_the_strata_names_and_the_training_seeds():
    pytest.importorskip("datasets")
    dataset = build_episode_dataset(LADDER, rows=6, seed=8)
    assert dataset["stratum"] == ["low", "high"] * 3
    assert dataset["seed"] == [508, 509, 500, 501, 502, 503]  # wrapped inside 500-509
    for row in dataset:
        rungs = {"low": 3, "high": 6}[row["stratum"]]
        assert json.loads(row["env_kwargs"]) == {"rungs": rungs}
        assert row["prompt"][1]["content"] == f"How many rungs ({rungs}, seed {row['seed']})?"
    assert build_episode_dataset(LADDER, rows=6, seed=8)["seed"] == dataset["seed"]
    with pytest.raises(ValueError, match="between 0 and 10"):
        build_episode_dataset(LADDER, rows=11)


def test_an_env_without_a_card_has_one_default_stratum():
    pytest.importorskip("datasets")
    assert resolve_strata(NO_CARD, None) == {"default": {}}
    dataset = build_episode_dataset(NO_CARD, rows=3)
    assert dataset["stratum"] == ["default"] * 3
    assert dataset["env_kwargs"] == ["{}"] * 3
    assert dataset["seed"] == [0, 1, 2]
    with pytest.raises(ValueError, match="its strata: default; its settings: none"):
        resolve_strata(NO_CARD, "easy")


def test_the_tool_dataset_cycles_each_cards_strata_by_name_on_its_training_seeds():
    pytest.importorskip("datasets")
    from adapters.training.trl_env import TextReplyTRLEnv, build_tool_dataset

    dataset = build_tool_dataset([LADDER, FLAT], rows_per_env=5, seed_offset=8)
    assert dataset["environment"] == [LADDER, FLAT] * 5
    ladder = [row for row in dataset if row["env_id"] == LADDER]
    flat = [row for row in dataset if row["env_id"] == FLAT]
    assert [row["stratum"] for row in ladder] == ["low", "high", "low", "high", "low"]
    assert [row["seed"] for row in ladder] == [508, 509, 500, 501, 502]  # wrapped in 500-509
    # no strata and no settings on the card: one stratum, "default"
    assert [row["stratum"] for row in flat] == ["default"] * 5
    assert [row["seed"] for row in flat] == [41, 42, 43, 44, 45]  # 8 into 40-46 wraps to 41
    session = TextReplyTRLEnv()
    for row in ladder:
        rungs = {"low": 3, "high": 6}[row["stratum"]]
        assert json.loads(row["env_kwargs"]) == {"rungs": rungs}
        assert row["prompt"][0]["content"].startswith("Answer with a number.")
        fields = {key: value for key, value in row.items() if key != "environment"}
        assert session.reset(**fields) == f"How many rungs ({rungs}, seed {row['seed']})?"
    assert all(json.loads(row["env_kwargs"]) == {} for row in flat)


def test_tool_dataset_seeds_are_distinct_within_each_env_and_bounded_by_its_card():
    pytest.importorskip("datasets")
    from adapters.training.trl_env import build_tool_dataset

    dataset = build_tool_dataset([LADDER, FLAT], rows_per_env=7, seed_offset=3)
    for env_id, seeds in ((LADDER, SeedRange(500, 510)), (FLAT, SeedRange(40, 47))):
        played = [row["seed"] for row in dataset if row["env_id"] == env_id]
        assert len(set(played)) == 7 and all(seed in seeds for seed in played)
    with pytest.raises(ValueError, match=f"{FLAT}'s training seeds: count must be between 0 and 7"):
        build_tool_dataset([LADDER, FLAT], rows_per_env=8)


def test_a_tool_mode_run_reads_each_card_with_its_env_kwargs_under_the_strata(tmp_path):
    pytest.importorskip("datasets")
    from adapters.training.grpo_settings import ToolGRPORunConfig
    from adapters.training.grpo_tools import tool_dataset

    def run(env_ids, **settings):
        return ToolGRPORunConfig(env_ids=env_ids, output_dir=tmp_path, rows_per_env=4, **settings)

    dataset = tool_dataset(run([LADDER], env_kwargs={"rungs": 1}, seed_offset=2))
    assert dataset["stratum"] == ["low", "high", "low", "high"]
    assert dataset["seed"] == [502, 503, 504, 505]
    # the strata win over the run's env arguments, which fill in what a stratum leaves out
    assert [json.loads(k)["rungs"] for k in dataset["env_kwargs"]] == [3, 6, 3, 6]
    flat = tool_dataset(run([FLAT], env_kwargs={"rungs": 7}))
    assert flat["stratum"] == ["default"] * 4 and flat["seed"] == [40, 41, 42, 43]
    assert flat["env_kwargs"] == ['{"rungs": 7}'] * 4
    with pytest.raises(ValueError, match="single env"):
        tool_dataset(run([LADDER, FLAT], env_kwargs={"rungs": 1}))


def test_in_training_evaluation_reads_the_card(monkeypatch):
    seen = {}

    async def fake_evaluate(config, policy):
        seen["config"] = config
        return type("Result", (), {"summaries": {}})()

    monkeypatch.setattr("adapters.evaluation.evaluate", fake_evaluate)
    monkeypatch.setattr("adapters.policies.local.LocalChatPolicy", lambda *a, **k: None)
    model = type("Model", (), {"training": False, "eval": lambda self: None})()
    model.train = lambda mode: None
    evaluate_model(model, None, LADDER, games=2)
    config = seen["config"]
    assert [(s.label, s.env_kwargs) for s in config.settings] == [
        ("short", {"rungs": 2}),
        ("tall", {"rungs": 9}),
    ]
    assert config.seed_offset == 900


def test_train_grpo_refuses_unknown_strata_and_settings_before_training(tmp_path):
    runner = CliRunner()
    args = ["train-grpo", LADDER, "-o", str(tmp_path / "run")]
    result = runner.invoke(app, [*args, "--strata", "bogus"], env={"COLUMNS": "250"})
    assert result.exit_code == 2
    assert "declares no stratum or setting 'bogus'" in result.output
    assert "its strata: low, high" in result.output
    result = runner.invoke(app, [*args, "--eval-setting", "huge"], env={"COLUMNS": "250"})
    assert result.exit_code == 2
    assert "no setting 'huge'; the env declares: short, tall" in result.output
    assert not (tmp_path / "run").exists()

"""Classic-RL baselines: training smoke runs, evaluation via the chat rollout, reference scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from adapters.baselines import (
    BaselineConfig,
    evaluate_agent,
    evaluate_baseline,
    load_baseline,
    random_legal_act,
    setting_env_kwargs,
    train_baseline,
)
from adapters.cli import app
from adapters.policies import ScriptedChatPolicy
from adapters.reference import (
    REFERENCE_PLAYERS,
    load_reference_scores,
    normalized_score,
    opponent_setting_of,
    reference_table,
)
from adapters.rollout import run_episode_sync
from adapters.summary import summarize
from llm_gym.envs.tictactoe import OPPONENT_SETTINGS

ENV_ID = "LLMTicTacToe-v0"

pytest.importorskip("sb3_contrib", reason='needs the "sb3" extra')


def test_config_cycles_the_training_envs() -> None:
    config = BaselineConfig(n_envs=3, training_envs=({"model_plays": "X"}, {"model_plays": "O"}))
    assert [config.env_kwargs_for(i)["model_plays"] for i in range(3)] == ["X", "O", "X"]
    assert BaselineConfig(training_envs=()).env_kwargs_for(5) == {}


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"algo": "a2c"}, "algo"), ({"steps": 0}, "steps")]
)
def test_config_rejects_bad_values(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        BaselineConfig(**kwargs)


def test_random_agent_evaluates_like_an_llm_and_never_plays_illegal() -> None:
    records = evaluate_agent(
        random_legal_act(0),
        ENV_ID,
        name="random-agent",
        games=60,
        env_kwargs=setting_env_kwargs(ENV_ID, "optimal"),
    )
    summary = summarize(records)
    assert summary.episodes == 60 and summary.invalid_action_rate == 0.0
    assert summary.outcome_rates.get("win", 0.0) == 0.0  # nobody beats the solver
    assert summary.outcome_rates["loss"] > 0.5
    assert records[0].messages[0]["role"] == "system"
    assert all(t.action.startswith("<move>") for r in records for t in r.turns)
    # seeds are consecutive and the side comes from the seed, as in llm-gym eval
    assert [r.seed for r in records[:3]] == [0, 1, 2]
    assert {r.turns[0].info["model_mark"] for r in records} == {"X", "O"}


def test_illegal_actions_get_the_text_envs_penalty() -> None:
    """Without a mask an agent that repeats a taken cell is penalised and runs into the cap."""
    records = evaluate_agent(lambda observation, mask: 4, ENV_ID, name="always-4", games=6, seed=3)
    for record in records:
        assert record.reward_components["invalid_move"] == pytest.approx(-0.1)
        assert record.outcome == "truncated"
        assert len(record.turns) == 8


def test_opponent_settings() -> None:
    assert setting_env_kwargs(ENV_ID, "random") == {
        "min_random_move_prob": 1.0,
        "max_random_move_prob": 1.0,
    }
    with pytest.raises(ValueError, match=r"no setting .grandmaster.*random, mixed, optimal"):
        setting_env_kwargs(ENV_ID, "grandmaster")
    assert opponent_setting_of(ENV_ID, {}) == "mixed"
    assert opponent_setting_of(ENV_ID, {"max_random_move_prob": 0.0}) == "optimal"
    assert opponent_setting_of(ENV_ID, {"max_turns": 3, "max_random_move_prob": 0.0}) is None
    assert opponent_setting_of("LLMReverseText-v0", {}) is None


def test_shipped_reference_scores_are_consistent() -> None:
    scores = load_reference_scores()
    assert scores["env_id"] == ENV_ID
    assert set(scores["scores"]) == set(OPPONENT_SETTINGS)
    for setting, players in scores["scores"].items():
        assert set(players) == set(REFERENCE_PLAYERS)
        for data in players.values():
            assert data["episodes"] == scores["games_per_setting"]
            assert sum(data["outcome_rates"].values()) == pytest.approx(1.0)
        optimal = players["optimal_player"]
        assert optimal["outcome_rates"].get("loss", 0.0) == 0.0
        assert normalized_score(optimal["total_reward"]["mean"], players) == 1.0
        random_mean = players["random_policy"]["total_reward"]["mean"]
        assert normalized_score(random_mean, players) == 0.0
        assert random_mean < optimal["total_reward"]["mean"], setting
    baseline = scores["scores"]["optimal"]["sb3_baseline"]
    assert baseline["outcome_rates"].get("loss", 0.0) <= 0.01
    assert scores["scores"]["random"]["sb3_baseline"]["outcome_rates"]["win"] >= 0.9


def test_reference_table_places_a_summary() -> None:
    records = evaluate_agent(
        random_legal_act(1),
        ENV_ID,
        name="r",
        games=10,
        env_kwargs=setting_env_kwargs(ENV_ID, "random"),
    )
    table = reference_table(
        summarize(records), ENV_ID, setting_env_kwargs(ENV_ID, "random"), name="r"
    )
    assert table is not None and table.row_count == 4
    assert [column.header for column in table.columns][1:4] == ["win", "draw", "loss"]
    assert "truncated" not in [column.header for column in table.columns]
    assert reference_table(summarize(records), ENV_ID, {"max_turns": 3}) is None


def test_reference_table_shows_truncated_games() -> None:
    kwargs = setting_env_kwargs(ENV_ID, "optimal")
    policy = ScriptedChatPolicy(lambda observation, info: "no move here", "silent")
    records = [run_episode_sync(ENV_ID, policy, seed=seed, env_kwargs=kwargs) for seed in range(3)]
    table = reference_table(summarize(records), ENV_ID, kwargs, name="silent")
    headers = [column.header for column in table.columns]
    assert "truncated" in headers
    silent_row = [str(cell) for cell in table.columns[headers.index("truncated")].cells]
    assert "100.0%" in silent_row


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["maskable_ppo", "ppo", "dqn"])
def test_training_smoke_run_saves_loads_and_evaluates(algo: str, tmp_path) -> None:
    config = BaselineConfig(
        algo=algo,
        steps=2_048,
        n_envs=4,
        hyperparams={"n_steps": 128, "batch_size": 128, "n_epochs": 2}
        if algo != "dqn"
        else {"learning_starts": 200, "buffer_size": 5_000},
    )
    path = tmp_path / "model.zip"
    model = train_baseline(config, progress_bar=False, save_path=path)
    assert model.num_timesteps >= 2_048
    loaded = load_baseline(path, algo)
    observation = np.zeros(27, dtype=np.float32)
    observation[18:] = 1.0
    np.testing.assert_array_equal(
        model.predict(observation, deterministic=True)[0],
        loaded.predict(observation, deterministic=True)[0],
    )
    records = evaluate_baseline(loaded, ENV_ID, setting="random", games=20)
    summary = summarize(records)
    assert summary.episodes == 20
    if algo == "maskable_ppo":
        assert summary.invalid_action_rate == 0.0


@pytest.mark.slow
def test_baseline_command(tmp_path) -> None:
    reference = tmp_path / "reference.json"
    result = CliRunner().invoke(
        app,
        [
            "baseline",
            ENV_ID,
            "--steps",
            "1024",
            "--n-envs",
            "8",
            "--eval-games",
            "12",
            "--no-progress",
            "-o",
            str(tmp_path / "run"),
            "--reference",
            "--reference-path",
            str(reference),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(summary["summaries"]) == set(OPPONENT_SETTINGS)
    assert summary["config"]["steps"] == 1024 and summary["train_seconds"] > 0
    assert (tmp_path / "run" / "model.zip").exists()
    lines = (tmp_path / "run" / "results-optimal.jsonl").read_text().splitlines()
    assert len(lines) == 12
    scores = json.loads(reference.read_text())
    assert scores["games_per_setting"] == 12
    assert set(scores["scores"]["mixed"]) == set(REFERENCE_PLAYERS)

    again = CliRunner().invoke(
        app,
        [
            "baseline",
            ENV_ID,
            "--load",
            str(tmp_path / "run" / "model.zip"),
            "--eval-games",
            "12",
            "--opponent",
            "optimal",
            "-o",
            str(tmp_path / "again"),
        ],
    )
    assert again.exit_code == 0, again.output
    summary_again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert summary_again["summaries"]["optimal"] == summary["summaries"]["optimal"] | {
        "wall_time_s": summary_again["summaries"]["optimal"]["wall_time_s"]
    }


@pytest.mark.slow
def test_entropy_schedule_moves_the_bonus() -> None:
    config = BaselineConfig(
        steps=2_048,
        n_envs=2,
        hyperparams={
            "n_steps": 128,
            "batch_size": 128,
            "n_epochs": 1,
            "ent_coef": ("linear", 0.1, 0.0),
        },
    )
    assert config.algo_kwargs()["ent_coef"] == 0.1
    assert config.entropy_schedule() == (0.1, 0.0)
    model = train_baseline(config, progress_bar=False)
    # the last of 8 rollouts starts at 7/8 of the run
    assert model.ent_coef == pytest.approx(0.1 / 8)

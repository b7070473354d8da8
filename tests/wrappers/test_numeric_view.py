"""NumericView: a numeric window on the text env, with the text env's dynamics and rewards."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env

import llm_gym  # noqa: F401
from llm_gym.envs.base import TextEnv
from llm_gym.envs.tictactoe import TicTacToeEnv
from llm_gym.games import tictactoe as ttt
from llm_gym.wrappers import DiscreteStructure, NumericView, make_numeric_env

ENV_ID = "LLMTicTacToe-v0"


def expected_planes(board: str, mark: str) -> np.ndarray:
    """The encoding written out cell by cell: own, opponent, empty."""
    opponent = ttt.other(mark)
    own = [1.0 if c == mark else 0.0 for c in board]
    theirs = [1.0 if c == opponent else 0.0 for c in board]
    empty = [1.0 if c == ttt.EMPTY else 0.0 for c in board]
    return np.array(own + theirs + empty, dtype=np.float32)


def first_legal(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def test_spaces_and_protocol() -> None:
    env = make_numeric_env(ENV_ID)
    assert isinstance(env.unwrapped, DiscreteStructure)
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (27,), np.float32)
    assert env.action_space == gym.spaces.Discrete(9)


def test_stable_baselines3_check_env() -> None:
    pytest.importorskip("stable_baselines3", reason='needs the "sb3" extra')
    from stable_baselines3.common.env_checker import check_env

    with_warnings = make_numeric_env(ENV_ID)
    check_env(with_warnings, warn=True, skip_render_check=True)


def test_gymnasium_check_env() -> None:
    gymnasium_check_env(NumericView(TicTacToeEnv()), skip_render_check=True)


@pytest.mark.parametrize("model_plays", ["X", "O"])
def test_observation_is_the_board_from_the_models_side(model_plays: str) -> None:
    env = make_numeric_env(ENV_ID, model_plays=model_plays)
    for seed in range(20):
        observation, info = env.reset(seed=seed)
        done = False
        while True:
            assert observation.dtype == np.float32
            np.testing.assert_array_equal(
                observation, expected_planes(info["board"], info["model_mark"])
            )
            assert info["model_mark"] == model_plays
            if done:
                break
            observation, _, terminated, truncated, info = env.step(first_legal(env.action_masks()))
            done = terminated or truncated


def test_action_mask_is_the_legal_moves_and_empty_at_the_end() -> None:
    env = make_numeric_env(ENV_ID)
    _, info = env.reset(seed=3)
    done = False
    while not done:
        mask = env.action_masks()
        assert mask.dtype == bool and mask.shape == (9,)
        assert list(np.flatnonzero(mask)) == info["legal_moves"]
        _, _, terminated, truncated, info = env.step(first_legal(mask))
        done = terminated or truncated
    assert not env.action_masks().any()


@pytest.mark.parametrize("seed", range(12))
def test_same_trajectory_as_the_text_env(seed: int) -> None:
    """Seeds, opponent replies, rewards and infos are those of the text env stepped by hand."""
    kwargs = {"max_random_move_prob": 0.5}
    numeric = make_numeric_env(ENV_ID, **kwargs)
    text = gym.make(ENV_ID, **kwargs)
    _, numeric_info = numeric.reset(seed=seed)
    _, text_info = text.reset(seed=seed)
    assert numeric_info == text_info
    rng = np.random.default_rng(seed)
    done = False
    while not done:
        action = int(rng.integers(9))  # legal or not: invalid replies must match too
        step_n = numeric.step(action)
        step_t = text.step(f"<move>{action}</move>")
        assert step_n[1:] == step_t[1:]
        done = step_n[2] or step_n[3]


def test_invalid_action_gets_the_text_envs_penalty_once() -> None:
    env = make_numeric_env(ENV_ID, model_plays="X", invalid_move_penalty=-0.25)
    env.reset(seed=0)
    env.step(4)
    before = env.unwrapped.board
    occupied = next(i for i, c in enumerate(before) if c != ttt.EMPTY)
    observation, _, terminated, truncated, info = env.step(occupied)
    assert info["invalid_action"] is True
    assert info["reward_components"]["invalid_move"] == -0.25
    assert env.unwrapped.board == before
    np.testing.assert_array_equal(observation, expected_planes(before, "X"))
    assert not (terminated or truncated)
    _, _, _, _, info = env.step(occupied)
    assert info["invalid_action"] is True
    assert info["reward_components"]["invalid_move"] == 0.0


def test_only_invalid_actions_run_into_the_turn_cap() -> None:
    env = make_numeric_env(ENV_ID, model_plays="X", max_turns=4)
    env.reset(seed=0)
    env.step(0)
    total, steps, done = 0.0, 1, False
    info: dict[str, Any] = {}
    while not done:
        _, reward, terminated, truncated, info = env.step(0)
        total += reward
        steps += 1
        done = terminated or truncated
    assert truncated and not terminated and steps == 4
    assert info["outcome"] == "truncated"


def test_canonical_reply_meets_the_think_format() -> None:
    env = make_numeric_env(ENV_ID, require_think=True, model_plays="X")
    env.reset(seed=1)
    _, _, _, _, info = env.step(4)
    assert info["invalid_action"] is False
    assert env.unwrapped.formatted_replies == 1


def test_out_of_range_action_is_an_error() -> None:
    env = make_numeric_env(ENV_ID)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="Discrete"):
        env.step(9)


def test_env_without_discrete_structure_is_refused() -> None:
    class Chat(TextEnv):
        def __init__(self) -> None:
            super().__init__({"win": 1.0})

    with pytest.raises(TypeError, match="numeric_observation"):
        NumericView(Chat())


def test_maskable_ppo_reads_the_masks_through_a_vec_env() -> None:
    pytest.importorskip("sb3_contrib", reason='needs the "sb3" extra')
    from sb3_contrib.common.maskable.utils import get_action_masks
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    vec_env = DummyVecEnv([lambda: Monitor(make_numeric_env(ENV_ID)) for _ in range(3)])
    vec_env.seed(7)
    vec_env.reset()
    for _ in range(20):
        masks = get_action_masks(vec_env)
        boards = vec_env.get_attr("board")
        for mask, board in zip(masks, boards, strict=True):
            assert list(np.flatnonzero(mask)) == ttt.legal_moves(board)
        vec_env.step(np.array([first_legal(mask) for mask in masks]))

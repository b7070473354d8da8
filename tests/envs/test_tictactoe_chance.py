"""The tic-tac-toe env's chance hook: listed replies, forced choices, seeded play untouched."""

from __future__ import annotations

import gymnasium as gym
import pytest

import llm_gym  # noqa: F401
from llm_gym.envs.chance import CHANCE_OPTION, ChancePath, UndecidedChance, uniform_quadrature
from llm_gym.games import tictactoe as ttt


def make(**kwargs):
    return gym.make("LLMTicTacToe-v0", disable_env_checker=True, **kwargs).unwrapped


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_opponent_move_event_lists_each_reply_with_its_probability(p):
    env = make(model_plays="X", min_random_move_prob=p, max_random_move_prob=p)
    env.reset(seed=1)
    env.board = "X...O...X"  # O to move: 4 of its 6 legal replies are value-optimal
    event = env.opponent_move_event()
    legal, optimal = ttt.legal_moves(env.board), ttt.optimal_moves(env.board)
    assert sum(event.probabilities) == pytest.approx(1.0)
    for cell, probability in zip(event.outcomes, event.probabilities, strict=True):
        assert probability == pytest.approx(
            p / len(legal) + (1 - p) / len(optimal) * (cell in optimal)
        )
    assert set(event.outcomes) == (set(legal) if p > 0 else set(optimal))


def test_a_chance_path_plays_the_chosen_side_and_replies():
    env = make(min_random_move_prob=1.0, max_random_move_prob=1.0)
    # side O (index 1), the only quadrature point, then X's opening: cell 8 (index 8)
    observation, info = env.reset(options={CHANCE_OPTION: ChancePath((1, 0, 8))})
    assert info["model_mark"] == "O" and info["board"] == "........X"
    assert "Your opponent (X) played cell 8." in observation
    with pytest.raises(UndecidedChance) as undecided:
        env.step("<move>4</move>")
    assert undecided.value.event.name == "opponent_move"
    assert undecided.value.event.outcomes == tuple(ttt.legal_moves("....O...X"))


def test_a_random_move_range_is_integrated_by_quadrature():
    event = uniform_quadrature("p", 0.2, 0.7)
    assert sum(event.probabilities) == pytest.approx(1.0)
    for degree in range(6):
        exact = (0.7 ** (degree + 1) - 0.2 ** (degree + 1)) / ((degree + 1) * 0.5)
        pairs = zip(event.outcomes, event.probabilities, strict=True)
        weighted = sum(q * x**degree for x, q in pairs)
        assert weighted == pytest.approx(exact, rel=1e-12)


def test_seeded_episodes_ignore_the_hook_and_a_bad_chooser_is_refused():
    plain, hooked = make(), make()
    assert plain.reset(seed=5) == hooked.reset(seed=5, options={})
    with pytest.raises(TypeError, match="choose"):
        hooked.reset(seed=5, options={CHANCE_OPTION: [0, 1]})

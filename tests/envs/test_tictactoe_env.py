"""LLMTicTacToe-v0: the text-env contract and the behaviour a trainer or evaluator relies on."""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
import warnings
from collections import Counter
from typing import Any

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import llm_gym
from llm_gym.envs.tictactoe import TicTacToeEnv
from llm_gym.games import tictactoe as ttt
from llm_gym.policies import OptimalMovePolicy, RandomMovePolicy

ENV_ID = "LLMTicTacToe-v0"


def move(cell: int) -> str:
    return f"<move>{cell}</move>"


def optimal_env(**kwargs: Any) -> TicTacToeEnv:
    return TicTacToeEnv(min_random_move_prob=0.0, max_random_move_prob=0.0, **kwargs)


def play_episode(
    env: TicTacToeEnv, seed: int, policy: Any, *, max_steps: int = 50
) -> tuple[list[Any], dict[str, Any]]:
    """Run one episode; return the (observation, reward, terminated, truncated, info) trace."""
    observation, info = env.reset(seed=seed)
    trace: list[Any] = [(observation, info)]
    for _ in range(max_steps):
        observation, reward, terminated, truncated, info = env.step(policy(observation, info))
        trace.append((observation, reward, terminated, truncated, info))
        if terminated or truncated:
            return trace, info
    raise AssertionError("episode did not end")


# --- registration and the Gymnasium checker ----------------------------------------------


def test_registered_after_import() -> None:
    assert llm_gym.__version__
    env = gym.make(ENV_ID)
    assert isinstance(env.unwrapped, TicTacToeEnv)
    observation, info = env.reset(seed=0)
    assert "Legal moves" in observation
    assert "system_prompt" in info
    env.close()


def test_make_passes_constructor_arguments() -> None:
    env = gym.make(ENV_ID, model_plays="O", max_turns=3, require_think=True)
    inner = env.unwrapped
    assert isinstance(inner, TicTacToeEnv)
    assert (inner.model_plays, inner.max_turns, inner.require_think) == ("O", 3, True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"render_mode": "ansi"},
        {"model_plays": "O", "require_think": True, "max_turns": 2},
        {"model_plays": "X", "min_random_move_prob": 1.0, "max_random_move_prob": 1.0},
        {"min_random_move_prob": 0.0, "max_random_move_prob": 0.0, "invalid_move_penalty": 0.0},
    ],
)
def test_check_env_passes_without_warnings(kwargs: dict[str, Any]) -> None:
    env = gym.make(ENV_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_spaces_are_text_with_printable_charset() -> None:
    env = TicTacToeEnv()
    for space in (env.observation_space, env.action_space):
        assert isinstance(space, gym.spaces.Text)
        assert {"\n", " ", "<", ">", "/"} <= set(space.character_set)
    observation, _info = env.reset(seed=1)
    assert env.observation_space.contains(observation)
    observation, *_ = env.step(env.action_space.sample())
    assert env.observation_space.contains(observation)


# --- constructor validation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_random_move_prob": -0.1}, "min_random_move_prob must be a number in \\[0, 1\\]"),
        ({"max_random_move_prob": 1.5}, "max_random_move_prob must be a number in \\[0, 1\\]"),
        ({"min_random_move_prob": "0.5"}, "min_random_move_prob"),
        ({"min_random_move_prob": math.nan}, "min_random_move_prob"),
        ({"min_random_move_prob": 0.8, "max_random_move_prob": 0.2}, "must be <= max_random"),
        ({"model_plays": "x"}, "model_plays must be one of 'X', 'O', 'random'"),
        ({"model_plays": None}, "model_plays"),
        ({"max_turns": 0}, "max_turns must be an integer >= 1"),
        ({"max_turns": 2.5}, "max_turns"),
        ({"max_turns": True}, "max_turns"),
        ({"invalid_move_penalty": 0.5}, "invalid_move_penalty must be <= 0"),
        ({"invalid_move_penalty": "big"}, "invalid_move_penalty must be a number"),
        ({"render_mode": "human"}, "render_mode must be None or one of \\['ansi'\\]"),
        ({"require_think": "yes"}, "require_think must be a bool"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TicTacToeEnv(**kwargs)


# --- determinism, pickling ---------------------------------------------------------------

ACTIONS = [
    "<think>centre</think><move>4</move>",
    "nonsense",
    move(0),
    move(0),  # occupied by now
    "<move>2</move><move>6</move>",
    move(8),
    move(6),
    move(2),
    move(1),
    move(3),
    move(5),
    move(7),
]


def scripted_trace(seed: int, actions: list[str], **kwargs: Any) -> list[Any]:
    """Observations, rewards, flags and infos of one episode, driven by fixed replies."""
    env = TicTacToeEnv(max_turns=20, **kwargs)
    observation, info = env.reset(seed=seed)
    trace: list[Any] = [observation, info]
    for action in actions:
        result = env.step(action)
        trace.append(list(result))
        if result[2] or result[3]:
            break
    return trace


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
def test_same_seed_and_actions_give_identical_trajectories(seed: int) -> None:
    first = scripted_trace(seed, ACTIONS)
    second = scripted_trace(seed, ACTIONS)
    assert first == second


def test_different_seeds_give_different_episodes() -> None:
    starts = {json.dumps(scripted_trace(seed, [])) for seed in range(20)}
    assert len(starts) == 20


_SUBPROCESS_SCRIPT = """
import json, sys
sys.path.insert(0, {tests_dir!r})
from test_tictactoe_env import ACTIONS, scripted_trace
print(json.dumps([scripted_trace(seed, ACTIONS) for seed in {seeds!r}]))
"""


def test_trajectories_are_identical_in_another_process() -> None:
    import pathlib

    seeds = [0, 3, 99]
    script = _SUBPROCESS_SCRIPT.format(tests_dir=str(pathlib.Path(__file__).parent), seeds=seeds)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    other = json.loads(result.stdout)
    here = json.loads(json.dumps([scripted_trace(seed, ACTIONS) for seed in seeds]))
    assert other == here


@pytest.mark.parametrize("seed", [0, 5])
def test_pickle_round_trip_mid_episode_continues_identically(seed: int) -> None:
    env = TicTacToeEnv(max_turns=20)
    env.reset(seed=seed)
    env.step("garbage")
    env.step(ACTIONS[0])
    clone = pickle.loads(pickle.dumps(env))
    for action in ACTIONS[2:]:
        original = env.step(action)
        copied = clone.step(action)
        assert original == copied
        if original[2] or original[3]:
            break
    # a reset of the clone with a seed matches a fresh env
    assert clone.reset(seed=seed) == TicTacToeEnv(max_turns=20).reset(seed=seed)


# --- seeding: mark, strength, opening ----------------------------------------------------


def test_seed_fixes_mark_probability_and_opening() -> None:
    env = TicTacToeEnv(min_random_move_prob=0.2, max_random_move_prob=0.7)
    marks, probs = Counter(), []
    for seed in range(200):
        first = env.reset(seed=seed)
        again = env.reset(seed=seed)
        assert first == again
        info = first[1]
        marks[info["model_mark"]] += 1
        probs.append(info["random_move_prob"])
        assert 0.2 <= info["random_move_prob"] <= 0.7
        expected_opened = 1 if info["model_mark"] == "O" else 0
        assert 9 - info["board"].count(".") == expected_opened
    assert set(marks) == {"X", "O"}
    assert min(marks.values()) > 60  # roughly balanced
    assert len(set(probs)) == 200
    assert min(probs) < 0.3 and max(probs) > 0.6


@pytest.mark.parametrize("mark", ["X", "O"])
def test_fixed_model_mark(mark: str) -> None:
    env = TicTacToeEnv(model_plays=mark)
    for seed in range(20):
        _, info = env.reset(seed=seed)
        assert info["model_mark"] == mark
        assert ttt.to_move(info["board"]) == mark


def test_fixed_probability_when_min_equals_max() -> None:
    env = TicTacToeEnv(min_random_move_prob=0.3, max_random_move_prob=0.3)
    assert {env.reset(seed=s)[1]["random_move_prob"] for s in range(20)} == {0.3}


def test_reset_without_seed_continues_the_seeded_stream() -> None:
    a, b = TicTacToeEnv(), TicTacToeEnv()
    a.reset(seed=42)
    b.reset(seed=42)
    assert [a.reset()[1]["seed"] for _ in range(5)] == [b.reset()[1]["seed"] for _ in range(5)]


# --- the opponent ------------------------------------------------------------------------


@pytest.mark.parametrize("mark", ["X", "O"])
def test_optimal_against_optimal_is_always_a_draw(mark: str) -> None:
    env = optimal_env(model_plays=mark)
    for seed in range(300):
        policy = OptimalMovePolicy(seed=seed)
        _, info = play_episode(env, seed, policy)
        assert info["outcome"] == "draw", (seed, info["board"])


@pytest.mark.parametrize(
    ("low", "high"), [(0.0, 0.0), (0.0, 0.3), (0.3, 0.7), (0.5, 1.0), (1.0, 1.0), (0.0, 1.0)]
)
@pytest.mark.parametrize("mark", ["X", "O", "random"])
def test_optimal_player_never_loses_against_any_opponent(
    low: float, high: float, mark: str
) -> None:
    env = TicTacToeEnv(min_random_move_prob=low, max_random_move_prob=high, model_plays=mark)
    outcomes = Counter()
    for seed in range(60):
        _, info = play_episode(env, seed, OptimalMovePolicy(seed=seed, think=False))
        outcomes[info["outcome"]] += 1
        assert info["invalid_action"] is False
    assert outcomes["loss"] == 0 and outcomes["truncated"] == 0
    if high == 1.0 and low > 0:
        assert outcomes["win"] > 0  # a weak opponent gets beaten


def test_optimal_opponent_never_loses_to_any_model_line() -> None:
    """Exhaustive: the model tries every move sequence; the optimal opponent never loses."""

    def explore(env: TicTacToeEnv) -> None:
        board = env.board
        for cell in ttt.legal_moves(board):
            branch = pickle.loads(pickle.dumps(env))
            _, _, terminated, truncated, info = branch.step(move(cell))
            if terminated:
                assert info["outcome"] != "win", info["board"]
            elif not truncated:
                explore(branch)

    for mark in ("X", "O"):
        env = optimal_env(model_plays=mark)
        env.reset(seed=0)
        explore(env)


def _opponent_reply(seed: int, actions: list[str], **kwargs: Any) -> str:
    env = TicTacToeEnv(max_turns=20, **kwargs)
    env.reset(seed=seed)
    for action in actions:
        _, _, terminated, truncated, info = env.step(action)
        assert not (terminated or truncated)
    return info["board"]


@pytest.mark.parametrize("seed", range(10))
def test_same_board_gets_same_reply_whatever_came_before(seed: int) -> None:
    kwargs = {"model_plays": "X", "min_random_move_prob": 0.5, "max_random_move_prob": 0.5}
    direct = _opponent_reply(seed, [move(4)], **kwargs)
    after_invalid = _opponent_reply(
        seed, ["no move", move(9), "<move>1</move><move>2</move>", move(4)], **kwargs
    )
    assert direct == after_invalid


def test_transposed_move_orders_get_the_same_reply() -> None:
    """Two rollouts of one seed reach one board by different move orders: same next reply."""
    kwargs = {"model_plays": "X", "min_random_move_prob": 1.0, "max_random_move_prob": 1.0}
    found = 0
    for seed in range(30):
        first_replies = {a: _opponent_reply(seed, [move(a)], **kwargs) for a in range(9)}
        for a in range(9):
            for b in range(a + 1, 9):
                reply_a = first_replies[a].replace("X", ".")
                reply_b = first_replies[b].replace("X", ".")
                if reply_a != reply_b or first_replies[a][b] != "." or first_replies[b][a] != ".":
                    continue
                # a then b, and b then a, meet the same board after the model's second move
                ab = _opponent_reply(seed, [move(a), move(b)], **kwargs)
                ba = _opponent_reply(seed, [move(b), move(a)], **kwargs)
                assert ab == ba
                found += 1
    assert found >= 10


def _chi_square(counts: Counter, cells: list[int]) -> float:
    total = sum(counts.values())
    expected = total / len(cells)
    return sum((counts[c] - expected) ** 2 / expected for c in cells)


# 0.1% critical values of chi-square with k - 1 degrees of freedom
_CHI2_CRITICAL = {3: 16.27, 8: 26.12}


def test_optimal_opening_is_spread_uniformly_over_all_cells() -> None:
    env = optimal_env(model_plays="O")
    counts = Counter()
    for seed in range(1800):
        _, info = env.reset(seed=seed)
        (cell,) = [i for i, c in enumerate(info["board"]) if c == "X"]
        counts[cell] += 1
    cells = list(range(9))
    assert set(counts) == set(cells)
    assert _chi_square(counts, cells) < _CHI2_CRITICAL[8], counts
    assert all(abs(counts[c] - 200) < 60 for c in cells), counts


@pytest.mark.parametrize(("model_cell", "tied"), [(4, [0, 2, 6, 8]), (1, [0, 2, 4, 7])])
def test_optimal_reply_is_spread_uniformly_over_tied_moves(
    model_cell: int, tied: list[int]
) -> None:
    env = optimal_env(model_plays="X")
    board_after_model = ttt.play(ttt.EMPTY_BOARD, model_cell, "X")
    assert list(ttt.optimal_moves(board_after_model)) == tied
    counts = Counter()
    for seed in range(800):
        env.reset(seed=seed)
        _, _, _, _, info = env.step(move(model_cell))
        (reply,) = [i for i, c in enumerate(info["board"]) if c == "O"]
        counts[reply] += 1
    assert set(counts) == set(tied), counts  # only optimal replies, and every one of them
    assert _chi_square(counts, tied) < _CHI2_CRITICAL[3], counts
    assert all(abs(counts[c] - 200) < 60 for c in tied), counts


def test_random_opponent_plays_non_optimal_moves_too() -> None:
    env = TicTacToeEnv(model_plays="X", min_random_move_prob=1.0, max_random_move_prob=1.0)
    replies = Counter()
    for seed in range(400):
        env.reset(seed=seed)
        _, _, _, _, info = env.step(move(0))
        replies[info["board"].index("O")] += 1
    assert set(replies) == set(range(1, 9))  # against a corner only 4 is optimal


# --- invalid replies ---------------------------------------------------------------------

INVALID_REPLIES = [
    ("I would take the centre.", "no <move>"),
    ("", "no <move>"),
    ("<move>four</move>", "not a cell number"),
    ("<move>4.0</move>", "not a cell number"),
    ("<move></move>", "answer is empty"),
    ("<move>--4</move>", "not a cell number"),
    ("<move>9</move>", "out of range"),
    ("<move>-1</move>", "out of range"),
    ("<move>" + "1" * 5000 + "</move>", "out of range"),
    ("<move>3</move> or maybe <move>5</move>", "2 different <move> answers"),
    ("<think>centre is best <move>4</move>", "never closed"),
    ("<think>I will play <move>4</move></think>", "outside the reasoning"),
]


@pytest.mark.parametrize(("reply", "explanation"), INVALID_REPLIES)
@pytest.mark.parametrize("mark", ["X", "O"])
def test_invalid_reply_is_penalised_and_explained(reply: str, explanation: str, mark: str) -> None:
    env = TicTacToeEnv(model_plays=mark, invalid_move_penalty=-0.25)
    _, before = env.reset(seed=3)
    observation, reward, terminated, truncated, info = env.step(reply)
    assert info["invalid_action"] is True
    assert observation.startswith("Invalid reply:")
    assert explanation in observation
    assert info["board"] == before["board"]
    assert info["legal_moves"] == before["legal_moves"]
    assert not terminated and not truncated
    assert info["reward_components"]["invalid_move"] == -0.25
    assert info["reward_components"]["format"] == 0.0
    assert reward == pytest.approx(-0.25)
    # the game goes on
    _, _, _, _, after = env.step(move(before["legal_moves"][0]))
    assert after["invalid_action"] is False
    assert after["board"] != before["board"]


@pytest.mark.parametrize("action", [4, None, b"<move>4</move>", ["<move>4</move>"]])
def test_non_string_action_is_an_invalid_reply(action: Any) -> None:
    env = TicTacToeEnv(model_plays="X")
    _, before = env.reset(seed=0)
    observation, reward, _, _, info = env.step(action)
    assert info["invalid_action"] is True
    assert "expected a text reply" in observation
    assert info["board"] == before["board"]
    assert reward == pytest.approx(-0.1)


def test_occupied_cell_is_an_invalid_reply() -> None:
    env = TicTacToeEnv(model_plays="O")
    _, info = env.reset(seed=0)
    taken = info["board"].index("X")
    observation, _, _, _, after = env.step(move(taken))
    assert after["invalid_action"] is True
    assert f"cell {taken} is already taken by X" in observation
    assert after["board"] == info["board"]
    assert after["reward_components"]["invalid_move"] == -0.1
    # one of the model's own cells is occupied too
    free = after["legal_moves"][0]
    _, _, _, _, info = env.step(move(free))
    observation, _, _, _, after = env.step(move(free))
    assert f"cell {free} is already taken by O" in observation
    assert after["reward_components"]["invalid_move"] == 0.0  # penalty only once


def test_penalty_applies_once_per_episode_and_again_next_episode() -> None:
    env = TicTacToeEnv(model_plays="X", max_turns=30, invalid_move_penalty=-0.3)
    for seed in (0, 1):
        env.reset(seed=seed)
        penalties = []
        for reply, _ in [*INVALID_REPLIES, (None, "")]:
            _, _, terminated, truncated, info = env.step(reply)
            assert info["invalid_action"] is True
            penalties.append(info["reward_components"]["invalid_move"])
            assert not (terminated or truncated)
        assert penalties[0] == -0.3
        assert sum(penalties) == -0.3


def test_hedged_identical_answers_count_as_a_move_but_not_as_format() -> None:
    env = TicTacToeEnv(model_plays="X")
    env.reset(seed=0)
    _, _, _, _, info = env.step("<move>4</move> <move>4</move>")
    assert info["invalid_action"] is False
    assert info["board"][4] == "X"
    assert info["reward_components"]["format"] == 0.0


def test_require_think_format() -> None:
    env = TicTacToeEnv(model_plays="X", require_think=True, max_turns=5)
    _, info = env.reset(seed=0)
    assert "First reason inside <think>" in info["system_prompt"]
    # without think: the move is played but the reply is not in the required format
    _, _, _, _, info = env.step(move(4))
    assert info["invalid_action"] is False
    assert info["board"][4] == "X"
    assert info["reward_components"]["format"] == 0.0
    free = info["legal_moves"][0]
    _, _, _, _, info = env.step(f"<think>take {free}</think>\n<move>{free}</move>")
    assert info["invalid_action"] is False
    assert info["reward_components"]["format"] == pytest.approx(0.5)  # share went 0 -> 1/2

    plain = TicTacToeEnv(model_plays="X")
    _, info = plain.reset(seed=0)
    assert "You may reason inside <think>" in info["system_prompt"]
    _, _, _, _, info = plain.step(move(4))
    assert info["reward_components"]["format"] == 1.0


# --- episode end, rewards ----------------------------------------------------------------


def test_episode_ends_at_max_turns_as_truncated() -> None:
    env = TicTacToeEnv(model_plays="X", max_turns=3)
    env.reset(seed=0)
    for turn in (1, 2):
        _, _, terminated, truncated, info = env.step("no move here")
        assert not terminated and not truncated
        assert "outcome" not in info
        assert info["turn"] == turn
    observation, _reward, terminated, truncated, info = env.step("still nothing")
    assert truncated is True and terminated is False
    assert info["outcome"] == "truncated"
    assert info["reward_components"]["win"] == 0.0
    assert "turn limit of 3" in observation
    assert info["metrics"]["turns"] == 3


def test_truncation_counts_valid_turns_too() -> None:
    env = TicTacToeEnv(model_plays="X", max_turns=2, min_random_move_prob=0, max_random_move_prob=0)
    _, info = env.reset(seed=0)
    _, _, _, truncated, info = env.step(move(4))
    assert not truncated
    _, _, terminated, truncated, info = env.step(move(info["legal_moves"][0]))
    assert truncated and not terminated and info["outcome"] == "truncated"


def test_step_after_the_end_raises() -> None:
    env = TicTacToeEnv(max_turns=1)
    env.reset(seed=0)
    env.step("nothing")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(move(4))
    env.reset(seed=0)
    env.step("nothing")  # a reset starts a new episode


class MixedPolicy:
    """Random legal moves in varying formats, with some invalid replies."""

    def __init__(self, seed: int):
        self.random = RandomMovePolicy(seed=seed, think=seed % 2 == 0)
        self.seed = seed

    def __call__(self, observation: str, info: dict[str, Any]) -> str:
        kind = (self.seed + info["turn"] * 7) % 5
        if kind == 0:
            return "no move"
        if kind == 1:
            return self.random(observation, info) * 2  # identical repeat: valid, bad format
        return self.random(observation, info)


@pytest.mark.parametrize("require_think", [False, True])
def test_reward_accounting(require_think: bool) -> None:
    env = TicTacToeEnv(require_think=require_think, invalid_move_penalty=-0.15, max_turns=6)
    seen_outcomes = set()
    for seed in range(150):
        trace, final = play_episode(env, seed, MixedPolicy(seed))
        steps = trace[1:]
        rewards = [step[1] for step in steps]
        totals = Counter()
        for step in steps:
            components = step[4]["reward_components"]
            assert set(components) == {"win", "format", "invalid_move"}
            assert step[1] == pytest.approx(
                components["win"] + 0.2 * components["format"] + components["invalid_move"]
            )
            totals.update(components)
        for step in steps[:-1]:
            assert step[4]["reward_components"]["win"] == 0.0
        share = final["metrics"]["format_rate"]
        formatted = round(share * len(steps))
        assert share == pytest.approx(formatted / len(steps))
        invalid = any(step[4]["invalid_action"] for step in steps)
        win = {"win": 1.0, "draw": 0.5, "loss": 0.0, "truncated": 0.0}[final["outcome"]]
        assert totals["win"] == win
        assert totals["format"] == pytest.approx(share)
        assert totals["invalid_move"] == (-0.15 if invalid else 0.0)
        expected = win + 0.2 * share + (-0.15 if invalid else 0.0)
        assert sum(rewards) == pytest.approx(expected)
        assert sum(env.reward_weights[k] * v for k, v in totals.items()) == pytest.approx(expected)
        seen_outcomes.add(final["outcome"])
    assert seen_outcomes >= {"win", "loss", "draw", "truncated"}


def test_format_share_of_an_all_formatted_episode_is_one() -> None:
    env = optimal_env(model_plays="X")
    trace, final = play_episode(env, 0, OptimalMovePolicy(seed=0))
    assert final["metrics"]["format_rate"] == 1.0
    assert sum(step[1] for step in trace[1:]) == pytest.approx(0.5 + 0.2)


# --- text, render, info ------------------------------------------------------------------


def test_observation_text_describes_the_turn() -> None:
    env = TicTacToeEnv(model_plays="O")
    observation, info = env.reset(seed=0)
    opening = info["board"].index("X")
    assert f"Your opponent (X) played cell {opening}." in observation
    assert "You play O. It is your turn." in observation
    assert "Legal moves: " + ", ".join(map(str, info["legal_moves"])) in observation
    assert ttt.render_board(info["board"]) in observation
    cell = info["legal_moves"][0]
    observation, _, _, _, info = env.step(move(cell))
    assert observation.startswith(f"You played cell {cell}. Your opponent (X) played cell ")
    assert ttt.render_board(info["board"]) in observation


def test_final_observation_says_how_it_ended() -> None:
    env = optimal_env(model_plays="X")
    trace, _final = play_episode(env, 0, OptimalMovePolicy(seed=0))
    assert "Game over: it is a draw." in trace[-1][0]
    assert "Legal moves" not in trace[-1][0]


def test_system_prompt_explains_the_format() -> None:
    _, info = TicTacToeEnv().reset(seed=0)
    prompt = info["system_prompt"]
    for needle in ("<move>N</move>", "<think>", "0 | 1 | 2", "X moves first"):
        assert needle in prompt


def test_render_ansi() -> None:
    env = TicTacToeEnv(render_mode="ansi", model_plays="X")
    env.reset(seed=0)
    env.step(move(4))
    text = env.render()
    assert isinstance(text, str)
    lines = text.splitlines()
    assert lines[0].startswith("Model: X  turn 1/8")
    assert " | X | " in lines[3]
    assert not any(ch.isdigit() for ch in "".join(lines[1:]))
    assert TicTacToeEnv().render() is None


def test_render_shows_outcome_at_the_end() -> None:
    env = TicTacToeEnv(render_mode="ansi", max_turns=1)
    env.reset(seed=0)
    env.step("nothing")
    assert "outcome: truncated" in env.render()


def test_info_keys_and_fresh_dicts() -> None:
    env = TicTacToeEnv(model_plays="X", max_turns=9)
    _, reset_info = env.reset(seed=0)
    for key in ("system_prompt", "board", "legal_moves", "random_move_prob", "model_mark", "role"):
        assert key in reset_info
    assert reset_info["role"] == "user"
    assert len(reset_info["board"]) == 9 and set(reset_info["board"]) <= set("XO.")
    infos = [reset_info]
    reset_info["legal_moves"].append(99)  # a caller mutating its info must not leak into the env
    reset_info["board"] = "mutated"
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(move(ttt.legal_moves(env.board)[0]))
        done = terminated or truncated
        for key in (
            "board",
            "legal_moves",
            "random_move_prob",
            "model_mark",
            "reward_components",
            "invalid_action",
            "role",
        ):
            assert key in info
        assert info["legal_moves"] == ttt.legal_moves(info["board"])
        assert 99 not in info["legal_moves"]
        infos.append(info)
    assert info["outcome"] in {"win", "draw", "loss"}
    ids = [id(obj) for i in infos for obj in (i, i["legal_moves"], i.get("reward_components"))]
    ids = [x for x in ids if x != id(None)]
    assert len(ids) == len(set(ids))

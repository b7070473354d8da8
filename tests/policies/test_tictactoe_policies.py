"""Scripted tic-tac-toe players: legal, well-formatted, sensible reasoning; the registry."""

from __future__ import annotations

import re

import pytest

from llm_gym.envs.tictactoe import TicTacToeEnv
from llm_gym.games import tictactoe as ttt
from llm_gym.games.tictactoe_reasoning import check_reasoning
from llm_gym.parsing import is_well_formatted, parse_answer, single_tag_body
from llm_gym.policies import (
    OptimalMovePolicy,
    RandomMovePolicy,
    make_scripted_policy,
    scripted_policy_names,
)
from llm_gym.policies.tictactoe import explain_move

MOVE = single_tag_body("move")


def _cell(reply: str) -> int:
    parsed = parse_answer(reply, "move")
    assert parsed.answer is not None, reply
    return int(parsed.answer)


@pytest.mark.parametrize("think", [True, False])
def test_random_policy_plays_only_legal_moves_in_format(think: bool) -> None:
    env = TicTacToeEnv(require_think=think, max_turns=9)
    played = set()
    for seed in range(100):
        policy = RandomMovePolicy(seed=seed, think=think)
        observation, info = env.reset(seed=seed)
        done = False
        while not done:
            reply = policy(observation, info)
            assert is_well_formatted(reply, MOVE, require_think=think), reply
            cell = _cell(reply)
            assert cell in info["legal_moves"]
            played.add(cell)
            observation, _, terminated, truncated, info = env.step(reply)
            assert info["invalid_action"] is False
            assert info["reward_components"]["format"] >= 0.0
            done = terminated or truncated
        assert info["metrics"]["format_rate"] == 1.0
    assert played == set(range(9))


def test_random_policy_is_seeded() -> None:
    info = {"board": ttt.EMPTY_BOARD, "turn": 0}
    assert RandomMovePolicy(seed=1)("", info) == RandomMovePolicy(seed=1)("", info)
    cells = {_cell(RandomMovePolicy(seed=s)("", info)) for s in range(60)}
    assert cells == set(range(9))


def test_optimal_policy_plays_optimal_moves_in_format() -> None:
    boards = {ttt.EMPTY_BOARD}
    frontier = [ttt.EMPTY_BOARD]
    while frontier:  # every reachable open position
        board = frontier.pop()
        for cell in ttt.legal_moves(board):
            child = ttt.play(board, cell, ttt.to_move(board))
            if child not in boards and ttt.legal_moves(child):
                boards.add(child)
                frontier.append(child)
    strongest = OptimalMovePolicy(seed=3)
    fastest = make_scripted_policy("LLMTicTacToe-v0", "optimal-fastest", seed=3)
    for board in boards:
        reply = strongest("", {"board": board})
        assert is_well_formatted(reply, MOVE, require_think=True), reply
        assert _cell(reply) in ttt.optimal_moves(board), board
        if ttt.solve(board)[0] != ttt.LOSS:
            assert _cell(reply) in ttt.strongest_moves(board), board
        assert _cell(fastest("", {"board": board})) in ttt.optimal_moves(board, fastest=True)


def test_optimal_policy_without_think_is_just_the_move() -> None:
    reply = OptimalMovePolicy(think=False)("", {"board": "XX.OO...."})
    assert reply == "<move>2</move>"


@pytest.mark.parametrize(
    ("board", "cell", "phrase"),
    [
        ("XX.OO....", 2, "completes a line of mine, so it wins now"),
        ("XX..O....", 2, "X threatens to complete a line at cell 2, so I block it"),
        ("X...O...X", 1, "keeps the game safe"),
        (ttt.EMPTY_BOARD, 4, "keeps the game safe"),
    ],
)
def test_explanations_match_the_position(board: str, cell: int, phrase: str) -> None:
    text = explain_move(board, cell)
    assert phrase in text
    assert text.startswith(f"I play {ttt.to_move(board)}.")


@pytest.mark.parametrize(("style", "names_cell"), [("summary", "cell {}"), ("facts", "move {}:")])
def test_optimal_reasoning_names_the_chosen_cell(style: str, names_cell: str) -> None:
    for seed in range(20):
        env = TicTacToeEnv(model_plays="O", min_random_move_prob=1.0, max_random_move_prob=1.0)
        observation, info = env.reset(seed=seed)
        policy = OptimalMovePolicy(seed=seed, style=style)
        done = False
        while not done:
            reply = policy(observation, info)
            think = re.fullmatch(r"<think>(.*)</think>\n<move>(\d)</move>", reply, re.DOTALL)
            assert think is not None, reply
            assert names_cell.format(think.group(2)) in think.group(1).lower()
            assert "<" not in think.group(1)
            observation, _, terminated, truncated, info = env.step(reply)
            done = terminated or truncated
        assert info["outcome"] in {"win", "draw"}


def test_registry_lists_and_builds_policies() -> None:
    names = [
        "optimal",
        "optimal-fastest",
        "optimal-forks",
        "optimal-lines",
        "optimal-move-only",
        "optimal-scan",
        "random",
    ]
    assert scripted_policy_names("LLMTicTacToe-v0") == names
    assert scripted_policy_names("llm_gym:LLMTicTacToe-v0") == names
    policy = make_scripted_policy("LLMTicTacToe-v0", "optimal", seed=2, think=False)
    assert isinstance(policy, OptimalMovePolicy) and policy.seed == 2 and not policy.think
    assert isinstance(make_scripted_policy("LLMTicTacToe-v0", "random"), RandomMovePolicy)


def test_lines_teacher_plays_the_optimal_moves_and_writes_every_line() -> None:
    strongest = OptimalMovePolicy(seed=5)
    lines = make_scripted_policy("LLMTicTacToe-v0", "optimal-lines", seed=5)
    board = "X...O...."
    reply = lines("", {"board": board})
    assert _cell(reply) == _cell(strongest("", {"board": board}))
    assert "Lines 012: X 1 2; 345: 3 O 5; 678: 6 7 8; 036: X 3 6;" in reply
    assert check_reasoning(reply, board) == []


def test_move_only_teacher_replies_with_the_strongest_move_alone() -> None:
    strongest = OptimalMovePolicy(seed=5)
    move_only = make_scripted_policy("LLMTicTacToe-v0", "optimal-move-only", seed=5)
    for board in ("X...O....", "XX..O....", "XO..X...O"):
        best = _cell(strongest("", {"board": board}))
        assert move_only("", {"board": board}) == f"<move>{best}</move>"


def test_policy_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="strategy must be 'strongest' or 'fastest'"):
        OptimalMovePolicy(strategy="quickest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="style must be one of facts, lines, scan, forks, summary"):
        OptimalMovePolicy(style="verbose")  # type: ignore[arg-type]


def test_registry_errors_name_the_registered_policies() -> None:
    names = (
        "optimal, optimal-fastest, optimal-forks, optimal-lines, optimal-move-only, optimal-scan, "
        "random"
    )
    with pytest.raises(ValueError, match=rf"no scripted policy 'perfect'.*{names}"):
        make_scripted_policy("LLMTicTacToe-v0", "perfect")
    with pytest.raises(ValueError, match="registered: none"):
        make_scripted_policy("LLMNoSuchEnv-v0", "random")

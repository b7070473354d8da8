"""The teacher's reasoning states only true facts, on every position; the strongest teacher's exact
statistics; the fact checker catches every kind of false statement."""

from __future__ import annotations

import re
from fractions import Fraction
from functools import cache

import pytest

from llm_gym.games import tictactoe as ttt
from llm_gym.games.tictactoe_reasoning import (
    board_facts,
    check_reasoning,
    explain,
    most_direct_moves,
    move_kind,
)
from llm_gym.policies import OptimalMovePolicy, make_scripted_policy

LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


def _open_positions() -> list[str]:
    seen, frontier = {ttt.EMPTY_BOARD}, [ttt.EMPTY_BOARD]
    while frontier:
        board = frontier.pop()
        for cell in ttt.legal_moves(board):
            child = ttt.play(board, cell, ttt.to_move(board))
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return sorted(b for b in seen if ttt.legal_moves(b))


OPEN_POSITIONS = _open_positions()


def _wins(board: str, mark: str) -> set[int]:
    found = set()
    for cell in range(9):
        if board[cell] == ".":
            after = board[:cell] + mark + board[cell + 1 :]
            if any(all(after[i] == mark for i in line) for line in LINES):
                found.add(cell)
    return found


def _forks(board: str, mark: str) -> set[int]:
    wins_now = _wins(board, mark)
    return {
        cell
        for cell in range(9)
        if board[cell] == "."
        and cell not in wins_now
        and len(_wins(board[:cell] + mark + board[cell + 1 :], mark)) >= 2
    }


def _cells(text: str) -> set[int]:
    return set() if text in ("none", "nothing") else {int(c) for c in text.split()}


def _read_back(text: str, board: str, cell: int, style: str = "facts") -> None:
    """Parse every statement of ``text`` independently of the module and compare with the board."""
    me = "X" if board.count("X") == board.count("O") else "O"
    them = "O" if me == "X" else "X"
    assert text.startswith(f"I am {me}. ")
    for line, marks in re.findall(r"(\d{3}): ([XO\d] [XO\d] [XO\d])", text):
        cells = [int(c) for c in line]
        assert tuple(cells) in LINES
        assert marks.split() == [board[i] if board[i] != "." else str(i) for i in cells]
    if style in ("scan", "forks"):
        items = re.search(r"Scan ([^.]*)\.", text)[1].split("; ")
        assert [item[:3] for item in items] == ["".join(map(str, line)) for line in LINES]
        for item, line in zip(items, LINES, strict=True):
            values = [board[i] for i in line]
            needs = {
                (m, line[values.index(".")]) for m in "XO" if values.count(m) == 2 and "." in values
            }
            stated = re.search(r", ([XO]) needs (\d)$", item)
            assert ({(stated[1], int(stated[2]))} if stated else set()) == needs, (board, item)
            opens = {
                (m, tuple(i for i in line if board[i] == "."))
                for m in "XO"
                if values.count(m) == 1 and values.count(".") == 2 and style == "forks"
            }
            stated = re.search(r", ([XO]) opens (\d) (\d)$", item)
            assert ({(stated[1], (int(stated[2]), int(stated[3])))} if stated else set()) == opens
    no_one_can_win = not _wins(board, me) and not _wins(board, them)
    for mark in (me, them):
        fork = re.search(rf"{mark} can fork at ([\d ]+|none)\.", text)
        if style in ("facts", "lines"):
            has = re.search(rf"{mark} has ([\d ]+|nothing)\.", text)
            assert has and _cells(has[1]) == {i for i, c in enumerate(board) if c == mark}
        if style in ("facts", "lines") or (style == "forks" and no_one_can_win):
            assert fork and _cells(fork[1]) == _forks(board, mark), (board, text)
        else:
            assert fork is None, (board, text)
        win = re.search(rf"{mark} can win at ([\d ]+|none)\.", text)
        assert win and _cells(win[1]) == _wins(board, mark), (board, text)
    move = re.search(r"Move (\d): ([a-z ]+)\.$", text)
    assert move and int(move[1]) == cell
    kind = move[2]
    if cell in _wins(board, me):
        assert kind == "win"
    elif cell in _wins(board, them):
        assert kind == "block"
    elif cell in _forks(board, me):
        assert kind == "fork"
    elif cell in _forks(board, them):
        assert kind == "block fork"
    else:
        after = board[:cell] + me + board[cell + 1 :]
        assert kind == ("threat" if _wins(after, me) else "best")


def test_there_are_4520_open_positions() -> None:
    assert len(OPEN_POSITIONS) == 4520
    assert sum(ttt.to_move(b) == "X" for b in OPEN_POSITIONS) == 2423


@pytest.mark.parametrize("style", ["facts", "lines", "scan", "forks"])
def test_every_stated_fact_is_true_on_every_open_position(style: str) -> None:
    teacher = OptimalMovePolicy(style=style)
    for board in OPEN_POSITIONS:
        cell = teacher.choose(board)
        text = explain(board, cell, style)
        _read_back(text, board, cell, style)
        assert check_reasoning(text, board) == []
        assert ("Lines " in text) == (style == "lines")
        assert ("Scan " in text) == (style in ("scan", "forks"))
        assert (" opens " in text) <= (style == "forks")


def test_checker_accepts_any_legal_move_explained_truthfully() -> None:
    for board in OPEN_POSITIONS[::7]:
        for cell in ttt.legal_moves(board):
            assert check_reasoning(explain(board, cell, "lines"), board) == []


@pytest.mark.parametrize(
    ("board", "text", "problem"),
    [
        ("X...O....", "I am O.", "says 'I am O' but X is to move"),
        ("X...O....", "X has 0 1.", "says X has 0 1; X has 0"),
        ("X...O....", "O has nothing.", "says O has nothing; O has 4"),
        ("XX..O....", "X can win at none.", "says X can win at none; X can win at 2"),
        ("XX.OO....", "O can win at 2.", "says O can win at 2; O can win at 5"),
        ("X...O...X", "X can fork at 2.", "says X can fork at 2; X can fork at 2 6"),
        ("X...O...X", "Lines 048: X 4 X.", "says line 048 is X 4 X; it is X O X"),
        ("X...O...X", "Lines 013: X 1 3.", "names 013 as a line; it is not one"),
        ("XX.OO....", "Move 5: win.", "calls move 5 a win; it is not"),
        ("XX.OO....", "Move 4: best.", "names move 4, which is not a free cell"),
        ("XX.OO....", "Move 2: win.</think><move>5</move>", "reasons for move 2 but plays 5"),
        ("XX.OO....", "Scan 012: X X 2.", "says in line 012 no one needs a cell; X needs 2"),
        ("XX.OO....", "Scan 345: O O 5, X needs 5.", "says in line 345 X needs 5; O needs 5"),
        (
            "XX.OO....",
            "Scan 678: 6 7 8, O needs 6.",
            "says in line 678 O needs 6; no one needs a cell",
        ),
        (
            "XX.OO....",
            "Scan 012 X X 2.",
            "scan item '012 X X 2' is not 'LINE: a b c[, M needs N | , M opens N N]'",
        ),
        (
            "X...O....",
            "Scan 012: X 1 2, X opens 1 2; 036: X 3 6.",
            "says in line 036 no one opens it; X opens 3 6",
        ),
        (
            "X...O....",
            "Scan 147: 1 O 7, O opens 1 4.",
            "says in line 147 O opens 1 4; O opens 1 7",
        ),
    ],
)
def test_checker_names_each_false_statement(board: str, text: str, problem: str) -> None:
    assert check_reasoning(text, board) == [problem]


def test_checker_ignores_text_without_facts_and_order_of_cells() -> None:
    assert check_reasoning("<move>3</move>", "XX.OO....") == []
    assert check_reasoning("I am O. O has 4 3. X can win at 2.", "XX.OO...X") == []


def test_move_kinds_follow_priority() -> None:
    assert move_kind("XX.OO....", 2) == "win"
    assert move_kind("XX..O....", 2) == "block"
    assert move_kind("X...O...X", 1) == "threat"
    assert board_facts("X...O...X").forks == {"X": (2, 6), "O": ()}
    assert move_kind("X...O...X", 2) == "block fork"  # and loses: the edge threat is right
    assert move_kind("X.O.O...X", 6) == "block"


def _policy_win_probability(policy, me: str) -> Fraction:
    """Exact win probability of ``policy`` playing ``me`` against a uniformly random opponent."""

    @cache
    def value(board: str) -> Fraction:
        if ttt.winner(board) is not None or "." not in board:
            return Fraction(int(ttt.winner(board) == me))
        if ttt.to_move(board) == me:
            return value(ttt.play(board, policy.choose(board), me))
        moves = ttt.legal_moves(board)
        total = sum((value(ttt.play(board, m, ttt.to_move(board))) for m in moves), Fraction(0))
        return total / len(moves)

    return value(ttt.EMPTY_BOARD)


def test_strongest_teacher_wins_the_most_a_never_losing_player_can() -> None:
    strongest = OptimalMovePolicy()
    fastest = make_scripted_policy("LLMTicTacToe-v0", "optimal-fastest")
    x, o = _policy_win_probability(strongest, "X"), _policy_win_probability(strongest, "O")
    assert (round(float(x), 3), round(float(o), 3), round(float(x + o) / 2, 3)) == (
        0.995,
        0.916,
        0.956,
    )
    assert float(x) == pytest.approx(ttt.win_probability_against_random(ttt.EMPTY_BOARD, "X"))
    fx, fo = _policy_win_probability(fastest, "X"), _policy_win_probability(fastest, "O")
    assert (round(float(fx), 3), round(float(fo), 3), round(float(fx + fo) / 2, 3)) == (
        0.951,
        0.812,
        0.881,
    )


def test_strongest_moves_are_value_optimal_everywhere() -> None:
    for board in OPEN_POSITIONS:
        assert set(ttt.strongest_moves(board)) <= set(ttt.optimal_moves(board))


def test_strongest_teacher_takes_a_win_it_states_and_a_block_it_needs() -> None:
    """Its move follows from its facts: a stated win is played, a stated lone threat is blocked
    (before, 1 in 10 teacher rows said "X can win at 8" and then played a fork)."""
    teacher = OptimalMovePolicy(seed=5)
    for board in OPEN_POSITIONS:
        facts = board_facts(board)
        cell = teacher.choose(board)
        if facts.wins[facts.me]:
            assert cell in facts.wins[facts.me], board
        elif len(facts.wins[facts.them]) == 1:
            assert cell in facts.wins[facts.them], board
    assert teacher.choose("OO....XX.") == 8
    assert move_kind("OO....XX.", 2) == "block"


def test_most_direct_moves_keeps_the_first_kind() -> None:
    board = "OO....XX."  # X can win at 8; 2 also blocks O and wins next move
    assert most_direct_moves(board, (2, 8)) == (8,)
    assert most_direct_moves(board, (2, 3)) == (2,)
    with pytest.raises(ValueError, match="no moves"):
        most_direct_moves(board, ())

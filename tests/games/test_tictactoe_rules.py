"""Tic-tac-toe rules and the minimax solver, checked table by table and over every position."""

from __future__ import annotations

from functools import cache

import pytest

from llm_gym.games import tictactoe as ttt

# An independent statement of the rules, written out here so the solver is not checked
# against itself.
LINES = [
    (0, 1, 2), (3, 4, 5), (6, 7, 8),  # rows
    (0, 3, 6), (1, 4, 7), (2, 5, 8),  # columns
    (0, 4, 8), (2, 4, 6),             # diagonals
]  # fmt: skip


def _winner(board: str) -> str | None:
    for line in LINES:
        cells = {board[i] for i in line}
        if len(cells) == 1 and cells != {"."}:
            return board[line[0]]
    return None


def _mover(board: str) -> str:
    return "X" if board.count("X") == board.count("O") else "O"


def _children(board: str) -> dict[int, str]:
    if _winner(board) is not None:
        return {}
    mark = _mover(board)
    return {i: board[:i] + mark + board[i + 1 :] for i, c in enumerate(board) if c == "."}


@cache
def brute_value(board: str) -> int:
    """Negamax value for the player to move: 1 win, 0 draw, -1 loss."""
    if _winner(board) is not None:
        return -1
    children = _children(board)
    if not children:
        return 0
    return max(-brute_value(child) for child in children.values())


def _reachable() -> list[str]:
    seen = {ttt.EMPTY_BOARD}
    frontier = [ttt.EMPTY_BOARD]
    while frontier:
        board = frontier.pop()
        for child in _children(board).values():
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return sorted(seen)


REACHABLE = _reachable()
OPEN_POSITIONS = [b for b in REACHABLE if _children(b)]


def test_reachable_position_count() -> None:
    # A well-known figure: 5,478 legal positions are reachable from the empty board.
    assert len(REACHABLE) == 5478


# --- rules -------------------------------------------------------------------------------


def _line_board(line: tuple[int, int, int], mark: str) -> str:
    return "".join(mark if i in line else "." for i in range(9))


@pytest.mark.parametrize("line", LINES)
@pytest.mark.parametrize("mark", ["X", "O"])
def test_winner_on_every_line(line: tuple[int, int, int], mark: str) -> None:
    assert ttt.winner(_line_board(line, mark)) == mark
    assert ttt.is_over(_line_board(line, mark))
    assert ttt.legal_moves(_line_board(line, mark)) == []


@pytest.mark.parametrize(
    ("board", "expected"),
    [
        ("XX.OO....", None),  # two in a row is not a win
        ("XOXOXOOXO", None),  # full board, no line: a draw
        ("XOX.X.O.O", None),
        ("XXXOO....", "X"),
        ("XX.OOOX..", "O"),
        ("X.OX.OX..", "X"),
        ("OX.XO.X.O", "O"),
        ("XOXOXO...", None),
    ],
)
def test_winner_table(board: str, expected: str | None) -> None:
    assert ttt.winner(board) == expected


def test_draw_position() -> None:
    board = "XOXXOOOXX"
    assert ttt.winner(board) is None
    assert ttt.is_full(board)
    assert ttt.is_over(board)
    assert ttt.legal_moves(board) == []


@pytest.mark.parametrize(
    ("board", "moves", "mover"),
    [
        (".........", list(range(9)), "X"),
        ("X........", list(range(1, 9)), "O"),
        ("X...O...X", [1, 2, 3, 5, 6, 7], "O"),
        ("XO.XO....", [2, 5, 6, 7, 8], "X"),
        ("XOXOXOOX.", [8], "X"),
    ],
)
def test_legal_moves_and_turn(board: str, moves: list[int], mover: str) -> None:
    assert ttt.legal_moves(board) == moves
    assert ttt.to_move(board) == mover
    assert not ttt.is_over(board)


def test_play_places_the_mark() -> None:
    assert ttt.play(ttt.EMPTY_BOARD, 4, "X") == "....X...."
    assert ttt.play("....X....", 0, "O") == "O...X...."


@pytest.mark.parametrize(
    ("board", "cell", "match"),
    [
        ("....X....", 4, "already taken by X"),
        ("O...X....", 0, "already taken by O"),
        (ttt.EMPTY_BOARD, 9, "0-8"),
        (ttt.EMPTY_BOARD, -1, "0-8"),
        ("XXXOO....", 8, "over"),
    ],
)
def test_illegal_plays_raise(board: str, cell: int, match: str) -> None:
    with pytest.raises(ttt.IllegalMoveError, match=match):
        ttt.play(board, cell, "X")
    assert issubclass(ttt.IllegalMoveError, ValueError)


@pytest.mark.parametrize("board", ["", "X" * 10, "XO.XO.XOZ", "XX.......", "OO.X....."])
def test_validate_board_rejects(board: str) -> None:
    with pytest.raises(ValueError):
        ttt.validate_board(board)


def test_validate_board_accepts_every_reachable_position() -> None:
    for board in REACHABLE:
        ttt.validate_board(board)


def test_other_mark() -> None:
    assert ttt.other("X") == "O"
    assert ttt.other("O") == "X"


def test_render_board_numbers_free_cells() -> None:
    text = ttt.render_board("X...O...X")
    assert text.splitlines() == [
        " X | 1 | 2",
        "---+---+---",
        " 3 | O | 5",
        "---+---+---",
        " 6 | 7 | X",
    ]
    hidden = ttt.render_board("X...O...X", number_free_cells=False)
    assert not any(ch.isdigit() for ch in hidden)
    assert hidden.count("X") == 2 and hidden.count("O") == 1


# --- solver facts ------------------------------------------------------------------------


def test_empty_board_is_a_draw_and_every_opening_draws() -> None:
    assert ttt.solve(ttt.EMPTY_BOARD)[0] == ttt.DRAW
    assert ttt.solve(ttt.EMPTY_BOARD)[1] == 9  # perfect play fills the board
    scores = ttt.move_scores(ttt.EMPTY_BOARD)
    assert sorted(scores) == list(range(9))
    assert all(value == ttt.DRAW for value, _ in scores.values())
    assert ttt.optimal_moves(ttt.EMPTY_BOARD) == tuple(range(9))


@pytest.mark.parametrize(
    ("board", "optimal"),
    [
        ("X........", {4}),  # corner opening: only the centre holds
        ("..X......", {4}),
        ("....X....", {0, 2, 6, 8}),  # centre opening: any corner holds, edges lose
        (".X.......", {0, 2, 4, 7}),  # edge opening
        ("XX..O....", {2}),  # O must block
        ("X...O...X", {1, 3, 5, 7}),  # O must not take a corner (X forks)
    ],
)
def test_known_defences(board: str, optimal: set[int]) -> None:
    assert set(ttt.optimal_moves(board)) == optimal
    assert ttt.solve(board)[0] == ttt.DRAW


@pytest.mark.parametrize(
    ("board", "winning_now"),
    [
        ("XX.OO....", {2}),  # X completes the top row
        ("XX.OO.X..", {5}),  # O completes the middle row
        ("X.XOO....", {1}),
        ("XO.XO....", {6}),  # X completes the left column (O also threatens 7)
    ],
)
def test_forced_wins_take_the_immediate_win_when_fastest(board: str, winning_now: set[int]) -> None:
    assert ttt.solve(board) == (ttt.WIN, 1)
    assert set(ttt.optimal_moves(board, fastest=True)) == winning_now


@pytest.mark.parametrize("reply", [1, 2, 3, 5, 6, 7, 8])
def test_any_reply_but_the_centre_to_a_corner_opening_loses(reply: int) -> None:
    board = ttt.play("X........", reply, "O")
    assert ttt.solve(board)[0] == ttt.WIN  # X, to move, forces a win


def test_optimal_moves_of_a_finished_board_raises() -> None:
    with pytest.raises(ValueError, match="no legal move"):
        ttt.optimal_moves("XXXOO....")


# --- exhaustive checks over every reachable position -------------------------------------


def test_solver_value_matches_brute_force_everywhere() -> None:
    for board in REACHABLE:
        assert ttt.solve(board)[0] == brute_value(board), board


def test_optimal_moves_are_exactly_the_value_preserving_moves() -> None:
    for board in OPEN_POSITIONS:
        children = _children(board)
        value = brute_value(board)
        expected = {cell for cell, child in children.items() if -brute_value(child) == value}
        assert set(ttt.optimal_moves(board)) == expected, board
        assert list(ttt.optimal_moves(board)) == sorted(expected)
        fastest = set(ttt.optimal_moves(board, fastest=True))
        assert fastest and fastest <= expected, board
        assert {c: v for c, (v, _) in ttt.move_scores(board).items()} == {
            c: -brute_value(child) for c, child in children.items()
        }


def test_fastest_takes_an_immediate_win_whenever_one_exists() -> None:
    for board in OPEN_POSITIONS:
        mark = _mover(board)
        wins_now = {c for c, child in _children(board).items() if _winner(child) == mark}
        if wins_now:
            assert set(ttt.optimal_moves(board, fastest=True)) == wins_now, board


def _worst_outcome(board: str, me: str, fastest: bool, memo: dict[str, int]) -> int:
    """Worst result for ``me`` when ``me`` plays *any* optimal move and the other side anything."""
    if board in memo:
        return memo[board]
    won_by = _winner(board)
    if won_by is not None:
        result = 1 if won_by == me else -1
    elif "." not in board:
        result = 0
    elif _mover(board) == me:
        moves = ttt.optimal_moves(board, fastest=fastest)
        result = min(_worst_outcome(_children(board)[m], me, fastest, memo) for m in moves)
    else:
        result = min(
            _worst_outcome(child, me, fastest, memo) for child in _children(board).values()
        )
    memo[board] = result
    return result


@pytest.mark.parametrize("fastest", [False, True])
def test_optimal_player_secures_the_position_value_against_every_reply(fastest: bool) -> None:
    memos: dict[str, dict[str, int]] = {"X": {}, "O": {}}
    for board in OPEN_POSITIONS:
        me = _mover(board)
        worst = _worst_outcome(board, me, fastest, memos[me])
        assert worst == brute_value(board), board
        if brute_value(board) >= 0:
            assert worst >= 0  # never loses from a position that is not already lost
    # From the start neither side ever loses: every line of optimal play is at least a draw.
    assert _worst_outcome(ttt.EMPTY_BOARD, "X", fastest, memos["X"]) == 0
    assert all(
        _worst_outcome(child, "O", fastest, memos["O"]) == 0
        for child in _children(ttt.EMPTY_BOARD).values()
    )


def test_solver_plies_are_consistent() -> None:
    for board in OPEN_POSITIONS:
        value, plies = ttt.solve(board)
        assert 1 <= plies <= board.count(".")
        if value == ttt.WIN:
            # the fastest winning move leads to a position lost in exactly plies - 1
            for cell in ttt.optimal_moves(board, fastest=True):
                assert ttt.move_scores(board)[cell] == (ttt.WIN, plies)

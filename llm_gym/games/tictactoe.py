"""Pure tic-tac-toe rules and an exact minimax solver (no Gymnasium here).

A board is a 9-character string of ``X``, ``O`` and ``.`` in row-major order, cells 0-8::

    0 | 1 | 2
    3 | 4 | 5
    6 | 7 | 8

X always moves first. The solver evaluates every reachable position once per process and
returns the *set* of optimal moves, so a caller can choose among them without positional bias.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

Mark = Literal["X", "O"]
EMPTY = "."
EMPTY_BOARD = EMPTY * 9
MARKS: tuple[Mark, Mark] = ("X", "O")
WIN_LINES: tuple[tuple[int, int, int], ...] = (
    (0, 1, 2), (3, 4, 5), (6, 7, 8),
    (0, 3, 6), (1, 4, 7), (2, 5, 8),
    (0, 4, 8), (2, 4, 6),
)  # fmt: skip

WIN, DRAW, LOSS = 1, 0, -1


class IllegalMoveError(ValueError):
    """Raised when a move is applied to an occupied or out-of-range cell."""


def other(mark: Mark) -> Mark:
    """The opponent's mark."""
    return "O" if mark == "X" else "X"


def validate_board(board: str) -> None:
    """Raise ``ValueError`` unless ``board`` is a position reachable in a legal game."""
    if len(board) != 9 or set(board) - {"X", "O", EMPTY}:
        raise ValueError(f"board must be 9 characters of 'X', 'O' and '.', got {board!r}")
    x_count, o_count = board.count("X"), board.count("O")
    if x_count - o_count not in (0, 1):
        raise ValueError(f"board {board!r} has {x_count} X and {o_count} O; X moves first")


def to_move(board: str) -> Mark:
    """The mark whose turn it is (X moves first)."""
    return "X" if board.count("X") == board.count("O") else "O"


@cache
def winner(board: str) -> Mark | None:
    """The mark with three in a row, or ``None``."""
    for a, b, c in WIN_LINES:
        if board[a] != EMPTY and board[a] == board[b] == board[c]:
            return board[a]  # type: ignore[return-value]
    return None


def is_full(board: str) -> bool:
    return EMPTY not in board


def is_over(board: str) -> bool:
    return winner(board) is not None or is_full(board)


def legal_moves(board: str) -> list[int]:
    """Free cells in increasing order; empty once the game is over (a new list every call)."""
    return list(_legal_moves(board))


@cache
def _legal_moves(board: str) -> tuple[int, ...]:
    if winner(board) is not None:
        return ()
    return tuple(i for i, cell in enumerate(board) if cell == EMPTY)


def play(board: str, cell: int, mark: Mark) -> str:
    """The board after ``mark`` takes ``cell``.

    Raises:
        IllegalMoveError: the cell is out of range or occupied, or the game is over.
    """
    if not 0 <= cell <= 8:
        raise IllegalMoveError(f"cell must be in 0-8, got {cell}")
    if board[cell] != EMPTY:
        raise IllegalMoveError(f"cell {cell} is already taken by {board[cell]}")
    if winner(board) is not None:
        raise IllegalMoveError("the game is already over")
    return board[:cell] + mark + board[cell + 1 :]


@cache
def solve(board: str) -> tuple[int, int]:
    """Exact minimax value of ``board`` for the player to move.

    Returns:
        ``(value, plies)``: value is ``WIN``, ``DRAW`` or ``LOSS`` under perfect play by both
        sides, and ``plies`` the number of moves until the game ends when the side to move
        wins as fast as possible and the other side loses as slowly as possible.
    """
    won_by = winner(board)
    if won_by is not None:
        return (LOSS, 0)  # the previous mover has just won
    if is_full(board):
        return (DRAW, 0)
    mark = to_move(board)
    return max((_child_score(board, cell, mark) for cell in legal_moves(board)), key=_rank)


def _child_score(board: str, cell: int, mark: Mark) -> tuple[int, int]:
    value, plies = solve(play(board, cell, mark))
    return (-value, plies + 1)


def _rank(score: tuple[int, int]) -> tuple[int, int]:
    value, plies = score
    return (value, -plies if value >= DRAW else plies)


@cache
def move_scores(board: str) -> dict[int, tuple[int, int]]:
    """``(value, plies)`` of each legal move for the player to move."""
    mark = to_move(board)
    return {cell: _child_score(board, cell, mark) for cell in legal_moves(board)}


@cache
def optimal_moves(board: str, *, fastest: bool = False) -> tuple[int, ...]:
    """All moves that keep the game-theoretic value of ``board``.

    Args:
        board: a position with at least one legal move.
        fastest: keep only the optimal moves that win soonest (or lose latest). The default,
            every value-optimal move, gives an opponent the widest unbiased choice.
    """
    scores = move_scores(board)
    if not scores:
        raise ValueError(f"board {board!r} has no legal move")
    best_value = max(value for value, _ in scores.values())
    moves = tuple(cell for cell, (value, _) in scores.items() if value == best_value)
    if not fastest:
        return moves
    best_rank = max(_rank(scores[cell]) for cell in moves)
    return tuple(cell for cell in moves if _rank(scores[cell]) == best_rank)


@cache
def win_probability_against_random(board: str, player: Mark) -> float:
    """Exact probability that ``player`` wins from ``board`` against a uniformly random opponent.

    ``player`` plays :func:`strongest_moves` on its turns; the opponent picks each legal move with
    equal probability. Terminal boards count 1 for a win of ``player`` and 0 otherwise.
    """
    won_by = winner(board)
    if won_by is not None or is_full(board):
        return 1.0 if won_by == player else 0.0
    if to_move(board) == player:
        return max(_move_win_probabilities(board).values())
    moves = legal_moves(board)
    opponent = other(player)
    total = sum(win_probability_against_random(play(board, m, opponent), player) for m in moves)
    return total / len(moves)


@cache
def _move_win_probabilities(board: str) -> dict[int, float]:
    """Win probability against a random opponent of each value-optimal move of the side to move."""
    mark = to_move(board)
    return {
        cell: win_probability_against_random(play(board, cell, mark), mark)
        for cell in optimal_moves(board)
    }


@cache
def strongest_moves(board: str) -> tuple[int, ...]:
    """The value-optimal moves with the highest exact win probability against a random opponent.

    They never lose (every one keeps the position's game-theoretic value) and, among such moves,
    exploit a weak opponent best: the player that always picks one wins 99.5% of its games as X
    and 91.6% as O against a uniformly random opponent, the most a never-losing player can.
    """
    probabilities = _move_win_probabilities(board)
    best = max(probabilities.values())
    return tuple(cell for cell, p in probabilities.items() if p >= best - 1e-12)


@cache
def render_board(board: str, *, number_free_cells: bool = True) -> str:
    """Three text rows; free cells show their index so a reader can name them."""
    cells = [
        (str(i) if number_free_cells else " ") if c == EMPTY else c for i, c in enumerate(board)
    ]
    rows = [" " + " | ".join(cells[r * 3 : r * 3 + 3]) for r in range(3)]
    return "\n---+---+---\n".join(rows)

"""Scripted tic-tac-toe players: uniformly random and optimal, both in the required format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from llm_gym.games import tictactoe as ttt
from llm_gym.games.tictactoe_reasoning import (
    REASONING_STYLES,
    explain,
    most_direct_moves,
    winning_cells,
)
from llm_gym.seeding import derive_uniforms

TeacherStyle = Literal["facts", "lines", "scan", "forks", "summary"]
TEACHER_STYLES: tuple[str, ...] = (*REASONING_STYLES, "summary")
Strategy = Literal["strongest", "fastest"]


def format_move(cell: int, reasoning: str | None) -> str:
    think = f"<think>{reasoning}</think>\n" if reasoning else ""
    return f"{think}<move>{cell}</move>"


class RandomMovePolicy:
    """A uniformly random legal move, seeded by ``seed`` and the board."""

    def __init__(self, seed: int = 0, think: bool = True):
        self.seed = seed
        self.think = think

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str:
        board = info["board"]
        moves = ttt.legal_moves(board)
        if not moves:
            return format_move(0, None)
        (u,) = derive_uniforms(self.seed, "random-player", board, int(info.get("turn", 0)), count=1)
        cell = moves[int(u * len(moves))]
        return format_move(cell, "I pick a free cell at random." if self.think else None)


class OptimalMovePolicy:
    """A perfect player that writes out why it moves.

    Args:
        seed: picks among equally good moves (by board), so the player has no positional bias.
        think: write reasoning in ``<think>`` before the move (useful as an SFT teacher).
        strategy: which value-optimal moves to prefer. ``"strongest"`` (default): the highest
            exact win probability against a uniformly random opponent, so the player never loses
            and wins 95.6% against a random opponent (side drawn at random); among those it takes
            the most direct kind (a win before a fork that wins later, see
            :func:`~llm_gym.games.tictactoe_reasoning.most_direct_moves`). ``"fastest"``: the
            quickest win (88.1% against a random opponent), the behaviour of earlier versions.
        style: the reasoning's form: ``"facts"`` (the board's marks, winning and fork cells of
            both sides, then the move and its kind), ``"lines"`` (the eight lines written out
            first, then the same facts), ``"scan"`` (each line with the mark that would complete
            it, then the winning cells and the move), ``"forks"`` (the scan with each side's open
            lines too, then the winning cells and, when no one can win, the fork cells read off
            the open lines) or ``"summary"`` (one sentence naming the
            move's kind, no evidence; earlier versions' text). See
            :mod:`llm_gym.games.tictactoe_reasoning`.
    """

    def __init__(
        self,
        seed: int = 0,
        think: bool = True,
        strategy: Strategy = "strongest",
        style: TeacherStyle = "facts",
    ):
        if strategy not in ("strongest", "fastest"):
            raise ValueError(f"strategy must be 'strongest' or 'fastest', got {strategy!r}")
        if style not in TEACHER_STYLES:
            raise ValueError(f"style must be one of {', '.join(TEACHER_STYLES)}; got {style!r}")
        self.seed = seed
        self.think = think
        self.strategy = strategy
        self.style = style

    def choose(self, board: str) -> int:
        """The move this player makes on ``board`` (a running game)."""
        if self.strategy == "strongest":
            moves = _strongest_direct_moves(board)
        else:
            moves = ttt.optimal_moves(board, fastest=True)
        (u,) = derive_uniforms(self.seed, "optimal-player", board, count=1)
        return moves[int(u * len(moves))]

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str:
        board = info["board"]
        if not ttt.legal_moves(board):
            return format_move(0, None)
        cell = self.choose(board)
        return format_move(cell, self.reasoning(board, cell) if self.think else None)

    def reasoning(self, board: str, cell: int) -> str:
        if self.style == "summary":
            return explain_move(board, cell)
        return explain(board, cell, self.style)  # type: ignore[arg-type]


def _strongest_direct_moves(board: str) -> tuple[int, ...]:
    """The strongest moves of the most direct kind; on a lost board (every move loses to perfect
    play) the most direct kind first, so a lone threat is still blocked."""
    if ttt.solve(board)[0] != ttt.LOSS:
        return most_direct_moves(board, ttt.strongest_moves(board))
    me = ttt.to_move(board)
    candidates = most_direct_moves(board, tuple(ttt.legal_moves(board)))
    chances = {
        c: ttt.win_probability_against_random(ttt.play(board, c, me), me) for c in candidates
    }
    best = max(chances.values())
    return tuple(c for c in candidates if chances[c] >= best - 1e-12)


def fastest_optimal_policy(**kwargs: Any) -> OptimalMovePolicy:
    """The optimal player of earlier versions: fastest wins, one-sentence reasoning."""
    kwargs.setdefault("style", "summary")
    return OptimalMovePolicy(strategy="fastest", **kwargs)


def lines_optimal_policy(**kwargs: Any) -> OptimalMovePolicy:
    """The optimal player whose reasoning writes the eight lines out before the facts."""
    kwargs.setdefault("style", "lines")
    return OptimalMovePolicy(**kwargs)


def scan_optimal_policy(**kwargs: Any) -> OptimalMovePolicy:
    """The optimal player whose reasoning scans the eight lines, each with its verdict."""
    kwargs.setdefault("style", "scan")
    return OptimalMovePolicy(**kwargs)


def forks_optimal_policy(**kwargs: Any) -> OptimalMovePolicy:
    """The optimal player whose scan also marks open lines, so fork cells follow from the text."""
    kwargs.setdefault("style", "forks")
    return OptimalMovePolicy(**kwargs)


def move_only_optimal_policy(**kwargs: Any) -> OptimalMovePolicy:
    """The optimal player that replies with the move alone, no ``<think>`` text."""
    kwargs.setdefault("think", False)
    return OptimalMovePolicy(**kwargs)


def explain_move(board: str, cell: int) -> str:
    """One or two sentences of reasoning behind ``cell``, from the solver's view of ``board``."""
    me = ttt.to_move(board)
    them = ttt.other(me)
    wins = winning_cells(board, me)
    threats = winning_cells(board, them)
    value, _ = ttt.move_scores(board)[cell]
    if cell in wins:
        return f"I play {me}. Cell {cell} completes a line of mine, so it wins now."
    if cell in threats:
        return f"I play {me}. {them} threatens to complete a line at cell {cell}, so I block it."
    forks = [
        m for m in ttt.legal_moves(board) if len(winning_cells(ttt.play(board, m, me), me)) >= 2
    ]
    if cell in forks:
        return f"I play {me}. Cell {cell} creates two threats at once; {them} cannot block both."
    if value == ttt.WIN:
        return f"I play {me}. Cell {cell} keeps a forced win for me."
    if value == ttt.DRAW:
        return f"I play {me}. No line is threatened; cell {cell} keeps the game safe for me."
    return f"I play {me}. Every move loses against perfect play; cell {cell} holds out longest."

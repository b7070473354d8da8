"""Scripted tic-tac-toe players: uniformly random and optimal, both in the required format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_gym.games import tictactoe as ttt
from llm_gym.seeding import derive_uniforms


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
        think: write short reasoning in ``<think>`` before the move (useful as an SFT teacher).
        fastest: among optimal moves, prefer those that win soonest.
    """

    def __init__(self, seed: int = 0, think: bool = True, fastest: bool = True):
        self.seed = seed
        self.think = think
        self.fastest = fastest

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str:
        board = info["board"]
        if not ttt.legal_moves(board):
            return format_move(0, None)
        moves = ttt.optimal_moves(board, fastest=self.fastest)
        (u,) = derive_uniforms(self.seed, "optimal-player", board, count=1)
        cell = moves[int(u * len(moves))]
        return format_move(cell, explain_move(board, cell) if self.think else None)


def explain_move(board: str, cell: int) -> str:
    """One or two sentences of reasoning behind ``cell``, from the solver's view of ``board``."""
    me = ttt.to_move(board)
    them = ttt.other(me)
    wins = _completing_cells(board, me)
    threats = _completing_cells(board, them)
    value, _ = ttt.move_scores(board)[cell]
    if cell in wins:
        return f"I play {me}. Cell {cell} completes a line of mine, so it wins now."
    if cell in threats:
        return f"I play {me}. {them} threatens to complete a line at cell {cell}, so I block it."
    forks = [
        m for m in ttt.legal_moves(board) if len(_completing_cells(ttt.play(board, m, me), me)) >= 2
    ]
    if cell in forks:
        return f"I play {me}. Cell {cell} creates two threats at once; {them} cannot block both."
    if value == ttt.WIN:
        return f"I play {me}. Cell {cell} keeps a forced win for me."
    if value == ttt.DRAW:
        return f"I play {me}. No line is threatened; cell {cell} keeps the game safe for me."
    return f"I play {me}. Every move loses against perfect play; cell {cell} holds out longest."


def _completing_cells(board: str, mark: ttt.Mark) -> set[int]:
    """Free cells where ``mark`` would complete three in a row."""
    cells = set()
    for line in ttt.WIN_LINES:
        values = [board[i] for i in line]
        if values.count(mark) == 2 and values.count(ttt.EMPTY) == 1:
            cells.add(line[values.index(ttt.EMPTY)])
    return cells

"""LLMTicTacToe-v0: tic-tac-toe against a seeded minimax opponent of tunable strength."""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Literal

import numpy as np
from gymnasium import spaces

from llm_gym.envs.base import TextEnv
from llm_gym.envs.card import EnvCard, TwoPlayerGame
from llm_gym.envs.chance import (
    ChanceChooser,
    ChanceEvent,
    chance_chooser_from,
    uniform_quadrature,
)
from llm_gym.games import tictactoe as ttt
from llm_gym.parsing import MAX_REPLY_CHARS, parse_answer, quote_for_feedback, unreadable_reply
from llm_gym.seeding import derive_uniforms, episode_seed_from
from llm_gym.validation import check_choice, check_int_at_least, check_number, check_probability

MOVE_TAG = "move"
FORMAT_WEIGHT = 0.2
_INTEGER = re.compile(r"[+-]?[0-9]+")

Outcome = Literal["win", "draw", "loss", "truncated"]
WIN_REWARD: dict[str, float] = {"win": 1.0, "draw": 0.5, "loss": 0.0, "truncated": 0.0}


OPPONENT_SETTINGS: dict[str, dict[str, float]] = {
    "random": {"min_random_move_prob": 1.0, "max_random_move_prob": 1.0},
    "mixed": {"min_random_move_prob": 0.0, "max_random_move_prob": 1.0},
    "optimal": {"min_random_move_prob": 0.0, "max_random_move_prob": 0.0},
}
"""Named opponent strengths (env arguments): the evaluation settings of the env."""


def random_move_strata(low: float, high: float, count: int) -> dict[str, dict[str, float]]:
    """``count`` equal-width bins of the opponent's random-move probability over ``[low, high]``.

    >>> random_move_strata(0.2, 0.7, 2)  # doctest: +NORMALIZE_WHITESPACE
    {'random-moves-0.2-0.45': {'min_random_move_prob': 0.2, 'max_random_move_prob': 0.45},
     'random-moves-0.45-0.7': {'min_random_move_prob': 0.45, 'max_random_move_prob': 0.7}}
    """
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1, got {low}, {high}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    edges = [round(low + (high - low) * i / count, 6) for i in range(count + 1)]
    return {
        f"random-moves-{edges[i]:g}-{edges[i + 1]:g}": {
            "min_random_move_prob": edges[i],
            "max_random_move_prob": edges[i + 1],
        }
        for i in range(count)
    }


def read_move(
    reply: Any, board: str, *, require_think: bool, max_chars: int = MAX_REPLY_CHARS
) -> tuple[int, str | None, bool]:
    """Read a reply's move on ``board`` (a reply over ``max_chars`` characters is not read).

    Returns:
        ``(cell, error, well_formatted)``: ``error`` explains to the model why no move could be
        played (no single ``<move>`` outside the reasoning, not a cell number 0-8, occupied
        cell) and is ``None`` when ``cell`` is playable.
    """
    unreadable = unreadable_reply(reply, max_chars)
    if unreadable is not None:
        return -1, unreadable, False
    parsed = parse_answer(reply, MOVE_TAG, require_think=require_think)
    if parsed.answer is None:
        return -1, parsed.error, False
    text = parsed.answer
    if not _INTEGER.fullmatch(text):
        return -1, f"the move {quote_for_feedback(text)} is not a cell number 0-8", False
    if len(text.lstrip("+-0")) > 1:  # also keeps int() away from huge digit strings
        return -1, f"cell {quote_for_feedback(text)} is out of range; cells are numbered 0-8", False
    cell = int(text)
    if not 0 <= cell <= 8:
        return -1, f"cell {cell} is out of range; cells are numbered 0-8", False
    if board[cell] != ttt.EMPTY:
        return -1, f"cell {cell} is already taken by {board[cell]}", False
    return cell, None, parsed.well_formatted


class TicTacToeEnv(TextEnv):
    """Tic-tac-toe for a language model against a minimax opponent.

    ## Description
    The model plays X or O against an opponent that, on each of its turns, plays a uniformly
    random legal move with the episode's random-move probability and otherwise a move chosen
    uniformly among *all* optimal moves of an exact minimax solution (no positional bias).

    The episode seed fixes the model's mark (X always starts), the random-move probability and
    the opponent's opening; every opponent turn draws from a seed derived from the episode seed
    and the board, so rollouts of one seed that reach the same board get the same reply.

    ## Action Space
    ``Text``: the model's whole reply. The move is read from ``<move>N</move>`` (N in 0-8),
    optionally after reasoning in ``<think>...</think>`` (required when ``require_think``).

    ## Observation Space
    ``Text``: the next user message. It says what just happened (the opponent's move or what was
    wrong with the last reply), draws the board with free cells numbered, lists the legal moves
    and whose turn it is.

    ## Rewards
    Named components, with ``info["reward_components"]`` holding the unweighted values of a step:

    - ``win`` (weight 1): at the end, 1 for a win, 0.5 for a draw, 0 for a loss or the turn cap.
    - ``format`` (weight 0.2): the share of the model's replies in the required format; each step
      adds the change of that share, so the episode total is the final share.
    - ``invalid_move`` (weight 1): ``invalid_move_penalty`` at the first invalid reply of the
      episode, 0 otherwise.

    ## Episode End
    Terminated when the game is won, lost or drawn. Truncated (outcome ``"truncated"``) after
    ``max_turns`` model replies without a result. Invalid replies do not end the episode.

    ## Arguments
    - ``min_random_move_prob``, ``max_random_move_prob``: range in [0, 1] from which the episode
      seed draws the opponent's random-move probability (both 0: optimal, both 1: random).
    - ``model_plays``: ``"X"``, ``"O"`` or ``"random"`` (per episode, from the seed).
    - ``require_think``: the format needs a ``<think>`` block before the move.
    - ``invalid_move_penalty``: a number <= 0, applied once per episode.
    - ``max_turns``: model replies per episode, >= 1.
    - ``render_mode``: ``None`` or ``"ansi"``.

    ## Info
    ``board`` (9 characters of X, O and ., row-major), ``legal_moves``, ``random_move_prob``,
    ``model_mark``, ``turn``, and at the end ``outcome`` (win, draw, loss, truncated).

    ## Numeric view
    For classic RL (``llm_gym.wrappers.NumericView``) the env exposes its discrete structure:
    :meth:`numeric_observation` (27 floats from the model's side: own, opponent and empty
    cells, one-hot), :meth:`action_mask` (free cells) and :meth:`action_text` (the canonical
    reply for cell ``i``), with ``numeric_observation_space`` and ``numeric_action_space``.

    ## Chance control
    ``reset(options={"chance": chooser})`` (see :mod:`llm_gym.envs.chance`) lets a caller pick
    every random event instead of the seed: ``model_mark`` (X or O, 1/2 each, when
    ``model_plays="random"``), ``random_move_prob`` (three quadrature points of its uniform
    range, exact for game probabilities, which are polynomials of degree <= 5 in it) and each
    ``opponent_move`` (:meth:`opponent_move_event`). Without the option, episodes are drawn from
    the seed as always.

    ## Declared for tools (``card``)
    Settings ``random``, ``mixed`` and ``optimal`` (opponent strengths; ``random`` and ``optimal``
    bracket the others and are what tools use by default); training strata: two bins of the
    random-move probability over 0.2-0.7; success: ``win``; SFT data keeps wins and draws,
    taught by the scripted ``optimal`` player; a two-player view (``llm-gym match``/``play``);
    every observation holds the whole state (board, side, legal moves, the last two moves), so a
    model may see only the latest one (``--context last``).

    ## Version History
    - v0: initial version.
    """

    accepts_chance_chooser = True
    card = EnvCard(
        settings=OPPONENT_SETTINGS,
        default_settings=("random", "optimal"),
        strata=random_move_strata(0.2, 0.7, 2),
        success_outcomes=("win",),
        teaching_outcomes=("win", "draw"),
        teacher="optimal",
        score_scale_arguments=("model_plays", "invalid_move_penalty", "max_turns"),
        two_player=TwoPlayerGame(
            "llm_gym.multiagent.tictactoe:TicTacToeAECEnv",
            sides={"player_1": "X", "player_2": "O"},
            typed_move="<move>{}</move>",
        ),
        state_in_observation=True,
    )

    def __init__(
        self,
        min_random_move_prob: float = 0.0,
        max_random_move_prob: float = 1.0,
        model_plays: str = "random",
        require_think: bool = False,
        invalid_move_penalty: float = -0.1,
        max_turns: int = 8,
        render_mode: str | None = None,
    ):
        self.min_random_move_prob = check_probability("min_random_move_prob", min_random_move_prob)
        self.max_random_move_prob = check_probability("max_random_move_prob", max_random_move_prob)
        if self.min_random_move_prob > self.max_random_move_prob:
            raise ValueError(
                "min_random_move_prob must be <= max_random_move_prob, got "
                f"{min_random_move_prob} > {max_random_move_prob}"
            )
        self.model_plays = check_choice("model_plays", model_plays, ("X", "O", "random"))
        if not isinstance(require_think, bool):
            raise ValueError(f"require_think must be a bool, got {require_think!r}")
        self.require_think = require_think
        self.invalid_move_penalty = check_number(
            "invalid_move_penalty", invalid_move_penalty, maximum=0.0
        )
        self.max_turns = check_int_at_least("max_turns", max_turns, 1)
        super().__init__(
            {"win": 1.0, "format": FORMAT_WEIGHT, "invalid_move": 1.0},
            render_mode=render_mode,
            best_component_totals={"win": 1.0, "format": 1.0, "invalid_move": 0.0},
        )
        self.board = ttt.EMPTY_BOARD
        self.model_mark: ttt.Mark = "X"
        self.random_move_prob = 0.0
        self.episode_seed = 0
        self.turn = 0
        self.formatted_replies = 0
        self.penalised = False
        self.outcome: Outcome | None = None
        self.last_message = ""
        self.chance: ChanceChooser | None = None
        self.numeric_observation_space = spaces.Box(0.0, 1.0, shape=(27,), dtype=np.float32)
        self.numeric_action_space = spaces.Discrete(9)

    @property
    def opponent_mark(self) -> ttt.Mark:
        return ttt.other(self.model_mark)

    @property
    def system_prompt(self) -> str:
        think = (
            "First reason inside <think>...</think>, then give your move."
            if self.require_think
            else "You may reason inside <think>...</think> before your move."
        )
        return (
            "You are playing tic-tac-toe on a 3x3 board with cells numbered 0 to 8, row by row:\n"
            " 0 | 1 | 2\n 3 | 4 | 5\n 6 | 7 | 8\n"
            "X moves first. Players take turns marking a free cell; three of your marks in a row, "
            "column or diagonal wins. If the board fills up with no three in a row, it is a draw.\n"
            f"{think} Reply with exactly one move as <move>N</move>, where N is the number of a "
            "free cell. Example reply:\n"
            + (
                "<think>The centre is free and blocks the most lines.</think>\n"
                if self.require_think
                else ""
            )
            + "<move>4</move>"
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self.chance = chance_chooser_from(options)
        self.episode_seed = episode_seed_from(self.np_random)
        side, strength = derive_uniforms(self.episode_seed, "episode", count=2)
        if self.model_plays != "random":
            self.model_mark = self.model_plays  # type: ignore[assignment]
        elif self.chance is not None:
            self.model_mark = self._chosen(ChanceEvent("model_mark", ttt.MARKS, (0.5, 0.5)))
        else:
            self.model_mark = "X" if side < 0.5 else "O"
        low, high = self.min_random_move_prob, self.max_random_move_prob
        if self.chance is not None:
            self.random_move_prob = self._chosen(uniform_quadrature("random_move_prob", low, high))
        else:
            self.random_move_prob = low + (high - low) * strength
        self.board = ttt.EMPTY_BOARD
        self.turn = 0
        self.formatted_replies = 0
        self.penalised = False
        self.outcome = None
        opening = "A new game starts."
        if self.model_mark == "O":
            cell = self._opponent_move()
            opening += f" Your opponent (X) played cell {cell}."
        self.last_message = opening
        return self.observation_text(self._prompt(opening)), self.reset_info(
            **self._state_info(), seed=self.episode_seed
        )

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.check_reset()
        if self.outcome is not None:
            raise RuntimeError("the episode is over: call reset() before step()")
        self.turn += 1
        previous_share = self.formatted_replies / (self.turn - 1) if self.turn > 1 else 0.0
        cell, error, well_formatted = read_move(
            action,
            self.board,
            require_think=self.require_think,
            max_chars=self.max_action_length,
        )
        self.formatted_replies += well_formatted
        components = self.zero_components()
        components["format"] = self.formatted_replies / self.turn - previous_share

        if error is not None:
            if not self.penalised:
                components["invalid_move"] = self.invalid_move_penalty
                self.penalised = True
            message = f"Invalid reply: {error}. The board is unchanged; try again."
        else:
            self.board = ttt.play(self.board, cell, self.model_mark)
            message = f"You played cell {cell}."
            if not ttt.is_over(self.board):
                reply = self._opponent_move()
                message += f" Your opponent ({self.opponent_mark}) played cell {reply}."

        terminated = ttt.is_over(self.board)
        truncated = not terminated and self.turn >= self.max_turns
        if terminated or truncated:
            self.outcome = self._result() if terminated else "truncated"
            components["win"] = WIN_REWARD[self.outcome]
            message += " " + self._ending_text()
        self.last_message = message
        info = self.step_info(components, invalid_action=error is not None, **self._state_info())
        if self.outcome is not None:
            info["outcome"] = self.outcome
            info["metrics"] = {
                "turns": self.turn,
                "format_rate": self.formatted_replies / self.turn,
                "invalid_move": float(self.penalised),
            }
        observation = self._prompt(message) if self.outcome is None else self._final_text(message)
        return (
            self.observation_text(observation),
            self.weighted_reward(components),
            terminated,
            truncated,
            info,
        )

    def numeric_observation(self) -> np.ndarray:
        """The board from the model's side: cells 0-8 own, 9-17 opponent, 18-26 empty."""
        cells = np.frombuffer(self.board.encode("ascii"), dtype=np.uint8)
        planes = [cells == ord(mark) for mark in (self.model_mark, self.opponent_mark, ttt.EMPTY)]
        return np.concatenate(planes).astype(np.float32)

    def action_mask(self) -> np.ndarray:
        """``True`` for the free cells while the game runs (all ``False`` once it is over)."""
        mask = np.zeros(9, dtype=bool)
        mask[ttt.legal_moves(self.board)] = True
        return mask

    def action_text(self, action: int) -> str:
        """The canonical, well-formatted reply that plays cell ``action``."""
        think = "<think>I play this cell.</think>" if self.require_think else ""
        return f"{think}<move>{int(action)}</move>"

    def render_text(self) -> str:
        header = f"Model: {self.model_mark}  turn {self.turn}/{self.max_turns}"
        if self.outcome is not None:
            header += f"  outcome: {self.outcome}"
        return f"{header}\n{ttt.render_board(self.board, number_free_cells=False)}\n"

    def opponent_move_event(self) -> ChanceEvent:
        """The opponent's possible replies on the current board with their probabilities.

        A uniformly random legal cell with probability ``random_move_prob``, else a uniformly
        chosen value-optimal cell: ``P(c) = p / |legal| + (1 - p) / |optimal| * [c optimal]``.
        Cells of probability 0 are left out.
        """
        legal = ttt.legal_moves(self.board)
        optimal = ttt.optimal_moves(self.board)
        p = self.random_move_prob
        probabilities = {
            cell: p / len(legal) + ((1.0 - p) / len(optimal) if cell in optimal else 0.0)
            for cell in legal
        }
        cells = tuple(cell for cell, q in probabilities.items() if q > 0.0)
        return ChanceEvent("opponent_move", cells, tuple(probabilities[c] for c in cells))

    def _opponent_move(self) -> int:
        if self.chance is not None:
            cell = self._chosen(self.opponent_move_event())
        else:
            cell = self._seeded_opponent_move()
        self.board = ttt.play(self.board, cell, self.opponent_mark)
        return cell

    def _chosen(self, event: ChanceEvent) -> Any:
        assert self.chance is not None
        return event.outcomes[self.chance.choose(event)]

    def _seeded_opponent_move(self) -> int:
        explore, pick = derive_uniforms(self.episode_seed, "opponent", self.board, count=2)
        if explore < self.random_move_prob:
            candidates: tuple[int, ...] | list[int] = ttt.legal_moves(self.board)
        else:
            candidates = ttt.optimal_moves(self.board)
        return candidates[int(pick * len(candidates))]

    def _result(self) -> Outcome:
        won_by = ttt.winner(self.board)
        if won_by is None:
            return "draw"
        return "win" if won_by == self.model_mark else "loss"

    def _ending_text(self) -> str:
        return {
            "win": "Game over: you won.",
            "draw": "Game over: it is a draw.",
            "loss": "Game over: you lost.",
            "truncated": f"Game over: the turn limit of {self.max_turns} replies was reached.",
        }[self.outcome or "truncated"]

    def _state_info(self) -> dict[str, Any]:
        return {
            "board": self.board,
            "legal_moves": ttt.legal_moves(self.board),
            "random_move_prob": self.random_move_prob,
            "model_mark": self.model_mark,
            "turn": self.turn,
        }

    def _prompt(self, message: str) -> str:
        return message + _turn_text(self.board, self.model_mark)

    def _final_text(self, message: str) -> str:
        return f"{message}\n\n{ttt.render_board(self.board, number_free_cells=False)}"


@cache
def _turn_text(board: str, mark: str) -> str:
    """The board and whose turn it is: the part of a prompt that depends on the position only."""
    moves = ", ".join(str(m) for m in ttt.legal_moves(board))
    return (
        f"\n\n{ttt.render_board(board)}\n\n"
        f"You play {mark}. It is your turn. Legal moves: {moves}.\n"
        "Reply with <move>N</move>."
    )

"""Two-player text tic-tac-toe as a PettingZoo AEC env, on the rules of ``llm_gym.games``.

Each player is a language model (or a scripted text player): it observes the message it would
get from ``LLMTicTacToe-v0`` and replies with text. Prompts, reply format, feedback and reward
components are those of the single-player env, so a model meets the same task whether its
opponent is the env's minimax player or another model.

>>> from llm_gym.multiagent import tictactoe_aec
>>> env = tictactoe_aec.env()
>>> env.reset(seed=0)
>>> env.agent_selection
'player_1'
>>> env.step("<move>4</move>")
>>> env.infos["player_2"]["board"]
'....X....'
"""

from __future__ import annotations

from typing import Any, ClassVar

from gymnasium import spaces
from pettingzoo import AECEnv

from llm_gym.envs.tictactoe import FORMAT_WEIGHT, WIN_REWARD, TicTacToeEnv, read_move
from llm_gym.games import tictactoe as ttt
from llm_gym.spaces import text_space, to_charset
from llm_gym.validation import check_int_at_least, check_number, check_render_mode

AGENTS: tuple[str, str] = ("player_1", "player_2")
MARK_OF: dict[str, ttt.Mark] = {"player_1": "X", "player_2": "O"}
MAX_OBSERVATION_LENGTH = TicTacToeEnv.max_observation_length
MAX_ACTION_LENGTH = TicTacToeEnv.max_action_length


class TicTacToeAECEnv(AECEnv[str, dict[str, str], str]):
    """Tic-tac-toe between two text players.

    ## Agents
    ``player_1`` plays X and moves first, ``player_2`` plays O (as in PettingZoo's
    ``tictactoe_v3``).

    ## Observation Space
    ``Dict({"prompt": Text})`` per agent: the message for that player. On its turn it is the
    ``LLMTicTacToe-v0`` prompt (what happened since its last reply, the board with free cells
    numbered, its mark and the legal moves); otherwise it says what the player did and that it
    waits, or how the game ended. (A bare ``Text`` observation, or a ``Text`` action with an
    ``action_mask``, crashes ``pettingzoo.test.api_test``; the legal moves are in ``infos``.)

    ## Action Space
    ``Text``: the player's whole reply, read as in ``LLMTicTacToe-v0`` (``<move>N</move>``,
    optionally after ``<think>...</think>``, required when ``require_think``).

    ## Rewards
    Per player, the components of ``LLMTicTacToe-v0`` with the same weights (unweighted values
    in ``infos[agent]["reward_components"]`` after each of its own replies and at the end):
    ``win`` 1 / 0.5 / 0 for a win / draw / loss or turn cap, ``format`` (the change of the share
    of its well-formatted replies), ``invalid_move`` (``invalid_move_penalty``, at its first
    invalid reply of the game).

    ## Episode End
    Terminated for both players when the game is won or drawn. An invalid reply leaves the
    board unchanged and the same player replies again, told what was wrong. Truncated for both
    (outcome ``"truncated"``, ``win`` 0) when one player has used ``max_turns`` replies without
    a result; ``infos[agent]["metrics"]["used_turn_cap"]`` says which.

    ## Arguments
    - ``require_think``: the format needs a ``<think>`` block before the move.
    - ``invalid_move_penalty``: a number <= 0, applied once per player per game.
    - ``max_turns``: replies per player per game, >= 5 (X needs up to 5 moves).
    - ``render_mode``: ``None`` or ``"ansi"``.

    ## Info
    Per agent: ``system_prompt``, ``role``, ``mark``, ``board``, ``legal_moves`` (empty while it
    waits), ``turn`` (its replies so far), ``to_move``, ``seed`` (of :meth:`reset`); after its
    replies ``reward_components`` and ``invalid_action``; at the end ``outcome`` (win, draw,
    loss, truncated) and ``metrics``. The scripted players of ``llm_gym.policies`` read
    ``board`` and ``turn`` from it.

    ## Version History
    - v0: initial version.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "llm_tictactoe_v0",
        "render_modes": ["ansi"],
        "is_parallelizable": False,
        "render_fps": 1,
    }

    def __init__(
        self,
        require_think: bool = False,
        invalid_move_penalty: float = -0.1,
        max_turns: int = 8,
        render_mode: str | None = None,
    ):
        super().__init__()
        if not isinstance(require_think, bool):
            raise ValueError(f"require_think must be a bool, got {require_think!r}")
        self.require_think = require_think
        self.invalid_move_penalty = check_number(
            "invalid_move_penalty", invalid_move_penalty, maximum=0.0
        )
        self.max_turns = check_int_at_least("max_turns", max_turns, 5)
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.reward_weights = {"win": 1.0, "format": FORMAT_WEIGHT, "invalid_move": 1.0}
        self.system_prompt = TicTacToeEnv(require_think=require_think).system_prompt
        self.possible_agents = list(AGENTS)
        self.observation_spaces = {
            agent: spaces.Dict({"prompt": text_space(MAX_OBSERVATION_LENGTH)})
            for agent in self.possible_agents
        }
        self.action_spaces = {
            agent: text_space(MAX_ACTION_LENGTH) for agent in self.possible_agents
        }
        self.board = ttt.EMPTY_BOARD
        self.game_seed: int | None = None
        self.outcome: dict[str, str] = {}
        self._pending: dict[str, str] = {}
        self._turns: dict[str, int] = {}
        self._formatted: dict[str, int] = {}
        self._penalised: dict[str, bool] = {}

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Start a new game.

        The game itself has no randomness; ``seed`` is passed on in ``infos[agent]["seed"]``
        so that seeded players (e.g. scripted ones) can vary their play from game to game.
        """
        self.game_seed = seed
        self.agents = list(self.possible_agents)
        self.board = ttt.EMPTY_BOARD
        self.outcome = {}
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self._pending = dict.fromkeys(self.agents, "A new game starts.")
        self._turns = dict.fromkeys(self.agents, 0)
        self._formatted = dict.fromkeys(self.agents, 0)
        self._penalised = dict.fromkeys(self.agents, False)
        self.agent_selection = AGENTS[0]
        self.infos = {agent: self._state_info(agent) for agent in self.agents}

    def observe(self, agent: str) -> dict[str, str]:
        if agent in self.outcome:
            board = ttt.render_board(self.board, number_free_cells=False)
            text = f"{self._pending[agent]}\n\n{board}"
        elif agent == self.agent_selection:
            moves = ", ".join(str(m) for m in ttt.legal_moves(self.board))
            text = (
                f"{self._pending[agent]}\n\n{ttt.render_board(self.board)}\n\n"
                f"You play {MARK_OF[agent]}. It is your turn. Legal moves: {moves}.\n"
                "Reply with <move>N</move>."
            )
        else:
            opponent = MARK_OF[self._other(agent)]
            text = (
                f"{self._pending[agent]} Waiting for your opponent ({opponent}).\n\n"
                f"{ttt.render_board(self.board, number_free_cells=False)}"
            )
        return {"prompt": to_charset(text, MAX_OBSERVATION_LENGTH)}

    def step(self, action: str | None) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        other = self._other(agent)
        self._cumulative_rewards[agent] = 0.0
        components = {a: dict.fromkeys(self.reward_weights, 0.0) for a in self.agents}

        previous_share = self._formatted[agent] / self._turns[agent] if self._turns[agent] else 0.0
        self._turns[agent] += 1
        cell, error, well_formatted = read_move(
            action, self.board, require_think=self.require_think
        )
        self._formatted[agent] += well_formatted
        components[agent]["format"] = self._formatted[agent] / self._turns[agent] - previous_share

        if error is not None:
            if not self._penalised[agent]:
                components[agent]["invalid_move"] = self.invalid_move_penalty
                self._penalised[agent] = True
            self._pending[agent] = f"Invalid reply: {error}. The board is unchanged; try again."
            next_agent = agent
        else:
            self.board = ttt.play(self.board, cell, MARK_OF[agent])
            self._pending[agent] = f"You played cell {cell}."
            self._pending[other] += f" Your opponent ({MARK_OF[agent]}) played cell {cell}."
            next_agent = other

        terminated = ttt.is_over(self.board)
        truncated = not terminated and self._turns[agent] >= self.max_turns
        if terminated or truncated:
            self._finish(terminated, capped=agent if truncated else None, components=components)
        else:
            self.agent_selection = next_agent

        self.rewards = {
            a: sum(self.reward_weights[name] * value for name, value in components[a].items())
            for a in self.agents
        }
        self.infos = {a: self._state_info(a) for a in self.agents}
        self.infos[agent].update(
            reward_components=components[agent], invalid_action=error is not None
        )
        if self.outcome:
            for a in self.agents:
                self.infos[a]["reward_components"] = components[a]
                self.infos[a]["outcome"] = self.outcome[a]
                self.infos[a]["metrics"] = {
                    "turns": self._turns[a],
                    "format_rate": self._formatted[a] / self._turns[a] if self._turns[a] else 0.0,
                    "invalid_move": float(self._penalised[a]),
                    "used_turn_cap": float(truncated and a == agent),
                }
        self._accumulate_rewards()

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        status = ", ".join(f"{a}: {o}" for a, o in self.outcome.items()) or (
            f"{MARK_OF[self.agent_selection]} to move"
        )
        return f"{status}\n{ttt.render_board(self.board, number_free_cells=False)}\n"

    def close(self) -> None:
        pass

    def _finish(
        self, terminated: bool, capped: str | None, components: dict[str, dict[str, float]]
    ) -> None:
        won_by = ttt.winner(self.board)
        for a in self.agents:
            if not terminated:
                outcome = "truncated"
            elif won_by is None:
                outcome = "draw"
            else:
                outcome = "win" if won_by == MARK_OF[a] else "loss"
            self.outcome[a] = outcome
            components[a]["win"] = WIN_REWARD[outcome]
            self._pending[a] = f"{self._pending[a]} {self._ending_text(outcome, a == capped)}"
            self.terminations[a] = terminated
            self.truncations[a] = not terminated

    def _ending_text(self, outcome: str, capped: bool) -> str:
        if outcome == "truncated":
            who = "you" if capped else "your opponent"
            return f"Game over: {who} reached the limit of {self.max_turns} replies."
        return {
            "win": "Game over: you won.",
            "draw": "Game over: it is a draw.",
            "loss": "Game over: you lost.",
        }[outcome]

    def _state_info(self, agent: str) -> dict[str, Any]:
        acting = agent == self.agent_selection and not self.outcome
        return {
            "system_prompt": self.system_prompt,
            "reward_weights": dict(self.reward_weights),
            "role": "user",
            "mark": MARK_OF[agent],
            "model_mark": MARK_OF[agent],
            "board": self.board,
            "legal_moves": ttt.legal_moves(self.board) if acting else [],
            "turn": self._turns[agent],
            "to_move": None if self.outcome else MARK_OF[self.agent_selection],
            "seed": self.game_seed,
        }

    @staticmethod
    def _other(agent: str) -> str:
        return AGENTS[1] if agent == AGENTS[0] else AGENTS[0]

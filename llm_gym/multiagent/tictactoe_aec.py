"""PettingZoo-style entry points for two-player text tic-tac-toe (``env()``, ``raw_env()``)."""

from __future__ import annotations

from typing import Any

from pettingzoo.utils import wrappers

from llm_gym.multiagent.tictactoe import TicTacToeAECEnv


def raw_env(**kwargs: Any) -> TicTacToeAECEnv:
    """The env without PettingZoo's checking wrappers."""
    return TicTacToeAECEnv(**kwargs)


def env(**kwargs: Any) -> wrappers.OrderEnforcingWrapper:
    """The env wrapped in PettingZoo's ``OrderEnforcingWrapper`` (reset before step/observe)."""
    return wrappers.OrderEnforcingWrapper(TicTacToeAECEnv(**kwargs))

"""What a tool-use task provides: a question generator and the tools to answer it.

A new tool env is a :class:`ToolTask`: ``new_episode(seed, difficulty)`` builds the episode's
state (e.g. a database), its question and answer, and the plain Python functions the model may
call. :class:`llm_gym.envs.tool_use.ToolUseEnv` does the rest (protocol, parsing, rewards).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class ToolEpisode:
    """One episode of a tool task.

    Attributes:
        question: the user's question.
        answer: the exact answer as text.
        numeric: compare answers as numbers within a tolerance (else as normalised text).
        functions: the tools for this episode (bound to its state).
        reference: extra ground truth for scripted policies and evaluation (never shown to the
            model), e.g. ``{"sql": ...}``.
        close: releases the episode's resources.
    """

    question: str
    answer: str
    numeric: bool
    functions: Sequence[Callable[..., Any]]
    reference: dict[str, Any] = field(default_factory=dict)
    close: Callable[[], None] = lambda: None


@runtime_checkable
class ToolTask(Protocol):
    """A generator of tool-use episodes (must be picklable: keep only settings on it)."""

    difficulties: tuple[str, ...]
    """The difficulty levels ``new_episode`` accepts."""

    def describe(self) -> str:
        """One paragraph for the system prompt: what the tools give access to."""
        ...

    def tool_functions(self) -> Sequence[Callable[..., Any]]:
        """Functions with the same names, signatures and docstrings as any episode's tools
        (used to build the schemas before the first reset)."""
        ...

    def new_episode(self, seed: int, difficulty: str) -> ToolEpisode: ...

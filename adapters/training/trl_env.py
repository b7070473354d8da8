"""llm_gym envs as TRL ``environment_factory`` classes: the tool-mode path of GRPO.

TRL's ``GRPOTrainer(environment_factory=...)`` (TRL >= 0.29, transformers >= 5.2) builds one
instance per rollout from a class that takes no arguments, calls ``reset(**row)`` with the
data-set row, exposes every public method of the class as a tool, and scores the rollout with
``get_reward()``. Each class here plays one llm_gym env through typed tool calls:

- :class:`TicTacToeTRLEnv`: ``move(cell)``;
- :class:`DoubleCheckMathTRLEnv` and :class:`ReverseTextTRLEnv`: ``answer(text)``;
- :class:`ToolUseTRLEnv`: the shop task's tools (``list_tables``, ``describe_table``, ``run_sql``,
  ``calculator``) and ``answer(text)``;
- :class:`TextReplyTRLEnv`: any other registered env (the env id comes from the row),
  ``reply(text)`` sending the text as the model's whole reply.

A tool call becomes the env's canonical text reply (``<move>4</move>``, ``<answer>42</answer>``,
``<tool_call>{...}</tool_call>``), so the env keeps all the rules: turn caps, penalties, scores.
A call the env rejects (an occupied cell, an SQL error) is penalised inside the episode as
usual, and the tool raises :class:`ToolCallRejected` with the env's message, which TRL hands
back to the model as the tool's error (and counts in ``tools/failure_frequency``).

``get_reward()`` is the episode score so far: the sum of the env's step rewards, so an episode
the model leaves unfinished earns only what it earned before stopping (no win, no correct
answer). :func:`component_rewards` gives one reward function per named reward component
(``win_reward``, ``format_reward``, ...) reading the envs' component totals; pass them with
weight 0 so TRL logs each (``rewards/<component>_reward/mean``) while ``get_reward`` carries
the score.

The classes live at module level, so they and their instances pickle (``AsyncGRPOTrainer``
sends factories to a spawned process). A ``{env_id: class}`` dict (:func:`environment_factories`)
mixes envs in one run: every row of :func:`build_tool_dataset` names its env in the
``environment`` column that TRL reads. As in text mode (:mod:`adapters.training.grpo`), each
env's rows take their strata and seeds from its card: its training strata, cycled, and distinct
seeds of its ``training_seeds``.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym

import llm_gym
from adapters.models import require
from adapters.training.strata import StrataSpec, resolve_strata
from llm_gym.envs.base import TextEnv
from llm_gym.envs.describe import describe
from llm_gym.policies.tool_use import tool_call
from llm_gym.tools.shop import ShopTask


class ToolCallRejected(Exception):
    """The env rejected a tool call (and penalised it); the message is the env's explanation."""


class EpisodeOver(Exception):
    """A tool was called after the episode had ended."""


class TRLEnv:
    """One llm_gym episode played through tool calls, in TRL's ``environment_factory`` shape.

    Subclasses add the public tool methods; everything else here is ``reset``, ``get_reward``,
    properties or private, because TRL turns every other public method into a tool.

    Attributes:
        env_id: the env this class plays; ``None`` reads it from the row's ``env_id``.
        tool_note: appended to the env's system prompt: how the tools replace the text format.
    """

    env_id: ClassVar[str | None] = None
    tool_note: ClassVar[str] = (
        "In this session you act only by calling the tools you are given: each call is one "
        "reply to the environment, and its result is the environment's next message."
    )

    def __init__(self) -> None:
        self._env: gym.Env | None = None
        self._env_key: tuple[str, str] | None = None
        self._totals: dict[str, float] = {}
        self._score = 0.0
        self._done = False
        self._outcome: str | None = None

    def reset(
        self,
        seed: int | None = None,
        env_id: str | None = None,
        env_kwargs: str | Mapping[str, Any] | None = None,
        **row: Any,
    ) -> str:
        """Start the row's episode and return its first observation.

        Args:
            seed: the episode seed (every rollout of a GRPO group gets the same row).
            env_id: the row's env; must match the class's own ``env_id`` when it has one.
            env_kwargs: env arguments, a JSON object or a mapping.
            **row: the row's other columns (``prompt``, ``stratum``, ...), unused.

        Raises:
            ValueError: the row names another env than this class plays, or no env at all.
        """
        resolved = self._resolve_env_id(env_id)
        kwargs = _kwargs_from_row(env_kwargs)
        key = (resolved, json.dumps(kwargs, sort_keys=True))
        if self._env is None or self._env_key != key:
            if self._env is not None:
                self._env.close()
            self._env = gym.make(resolved, **kwargs)
            self._env_key = key
        observation, _ = self._env.reset(seed=seed)
        self._totals = self.text_env.zero_components()
        self._score = 0.0
        self._done = False
        self._outcome = None
        return observation

    def get_reward(self) -> float:
        """The episode score so far (the sum of the env's step rewards)."""
        return self._score

    @property
    def text_env(self) -> TextEnv:
        """The llm_gym env being played (unwrapped)."""
        if self._env is None:
            raise RuntimeError("no episode yet: call reset() first")
        return self._env.unwrapped

    @property
    def reward_totals(self) -> dict[str, float]:
        """Each named reward component's episode total so far (unweighted)."""
        return dict(self._totals)

    @property
    def done(self) -> bool:
        return self._done

    @property
    def outcome(self) -> str | None:
        """The env's outcome label once the episode is over (``win``, ``correct``, ...)."""
        return self._outcome

    @classmethod
    def tool_mode_system_prompt(cls, env: TextEnv) -> str:
        """The env's own system prompt followed by :attr:`tool_note`."""
        return f"{env.system_prompt}\n\n{cls.tool_note}"

    def _resolve_env_id(self, env_id: str | None) -> str:
        if self.env_id is None:
            if not env_id:
                raise ValueError(
                    f"{type(self).__name__} plays the env named in the row: the row needs an "
                    "'env_id' column (build_tool_dataset writes it)"
                )
            return env_id
        if env_id and env_id != self.env_id:
            raise ValueError(
                f"{type(self).__name__} plays {self.env_id}, but the row is for {env_id}: "
                "map each env id to its own class (environment_factories does)"
            )
        return self.env_id

    def _step(self, reply: str) -> str:
        """Send ``reply`` to the env; return what the model sees as the tool's result.

        Raises:
            EpisodeOver: the episode has already ended.
            ToolCallRejected: the env found the reply invalid (after scoring it).
        """
        if self._env is None:
            raise EpisodeOver("no episode is running")
        if self._done:
            raise EpisodeOver(f"the episode is over (outcome: {self._outcome}); stop calling tools")
        observation, reward, terminated, truncated, info = self._env.step(reply)
        self._score += float(reward)
        for name, value in info.get("reward_components", {}).items():
            self._totals[name] = self._totals.get(name, 0.0) + float(value)
        if terminated or truncated:
            self._done = True
            self._outcome = info.get("outcome")
        return self._tool_result(observation, info)

    def _tool_result(self, observation: str, info: Mapping[str, Any]) -> str:
        if info.get("invalid_action"):
            raise ToolCallRejected(observation)
        return observation

    def _with_reasoning(self, body: str) -> str:
        """``body`` as a well-formatted reply (with a think block when the env requires one)."""
        if getattr(self.text_env, "require_think", False):
            return f"<think>See the tool call.</think>\n{body}"
        return body


class TicTacToeTRLEnv(TRLEnv):
    """LLMTicTacToe-v0 against its minimax opponent, one ``move`` call per turn."""

    env_id = "LLMTicTacToe-v0"
    tool_note = (
        "Here you play by calling the move tool with the number of a free cell instead of "
        "writing <move>N</move>. It returns your opponent's reply and the new board; keep "
        "calling move until the game is over."
    )

    def move(self, cell: int) -> str:
        """Mark a free cell of the board with your mark; the opponent then replies.

        Args:
            cell: the cell to mark, 0 to 8, row by row from the top left.

        Returns:
            What happened (your move, the opponent's reply or the result) and the new board.
        """
        valid_type = isinstance(cell, int) and not isinstance(cell, bool)
        reply = self.text_env.action_text(cell) if valid_type else f"<move>{cell}</move>"
        return self._step(reply)


class DoubleCheckMathTRLEnv(TRLEnv):
    """LLMDoubleCheckMath-v0: ``answer`` the problem, hear the challenge, ``answer`` again."""

    env_id = "LLMDoubleCheckMath-v0"
    tool_note = (
        "Here you give each final answer by calling the answer tool with the answer alone "
        "(for example 42) instead of writing \\boxed{}. You answer twice: the tool returns the "
        "challenge after your first answer and the verdict after your second."
    )

    def answer(self, text: str) -> str:
        """Give your final answer to the math problem.

        Args:
            text: the answer alone, e.g. 42 or 3/4.

        Returns:
            The environment's reply: the challenge after the first answer, then the verdict.
        """
        return self._step(self._with_reasoning(f"<answer>{text}</answer>"))


class ReverseTextTRLEnv(TRLEnv):
    """LLMReverseText-v0: one ``answer`` with the reversed text."""

    env_id = "LLMReverseText-v0"
    tool_note = (
        "Here you submit the reversed text by calling the answer tool with it (the text alone, "
        "no tags). You have one answer."
    )

    def answer(self, text: str) -> str:
        """Submit the text reversed character by character.

        Args:
            text: the reversed text, without tags.

        Returns:
            The score of the reversal.
        """
        return self._step(self._with_reasoning(f"<reversed_text>{text}</reversed_text>"))


class ToolUseTRLEnv(TRLEnv):
    """LLMToolUse-v0 (the shop database task): its tools as methods, then ``answer``."""

    env_id = "LLMToolUse-v0"
    tool_note = (
        "Here the tools are real function calls: call them directly (never as <tool_call> "
        "text), and give the final answer by calling the answer tool with the answer alone."
    )

    def answer(self, text: str) -> str:
        """Give the final answer to the user's question; this ends the episode.

        Args:
            text: the answer alone: a plain number such as 1234.50, or a name.

        Returns:
            Whether the answer is correct.
        """
        return self._step(self._with_reasoning(f"<answer>{text}</answer>"))

    def _call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        return self._step(self._with_reasoning(tool_call(name, arguments)))

    def _tool_result(self, observation: str, info: Mapping[str, Any]) -> str:
        results = info.get("tool_results") or []
        if len(results) != 1:
            return super()._tool_result(observation, info)
        content = observation if self.done else results[0]["content"]
        if results[0]["error"]:
            raise ToolCallRejected(content)
        return content


class TextReplyTRLEnv(TRLEnv):
    """Any registered env, named by the row's ``env_id``: ``reply`` is the model's whole reply."""

    def reply(self, text: str) -> str:
        """Send your reply to the environment, written in the format its instructions ask for.

        Args:
            text: the whole reply, e.g. including its answer tags.

        Returns:
            The environment's next message.
        """
        return self._step(text)


def _forwarding_tool(owner: type[ToolUseTRLEnv], function: Callable[..., Any]) -> Callable:
    """A method of ``owner`` with ``function``'s name, signature and docstring.

    It sends the call's arguments as they are to the env, which checks them, runs the tool on
    the episode's own state and penalises a failed call like any other tool error.
    """
    name = function.__name__
    signature = inspect.signature(function)
    hints = typing.get_type_hints(function)

    def method(self: ToolUseTRLEnv, **arguments: Any) -> str:
        return self._call_tool(name, arguments)

    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    method.__name__ = name
    method.__qualname__ = f"{owner.__qualname__}.{name}"
    method.__doc__ = function.__doc__
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_parameter, *signature.parameters.values()], return_annotation=str
    )
    method.__annotations__ = {**hints, "return": str}
    return method


for _tool in ShopTask().tool_functions():
    setattr(ToolUseTRLEnv, _tool.__name__, _forwarding_tool(ToolUseTRLEnv, _tool))
del _tool


TRL_ENV_CLASSES: dict[str, type[TRLEnv]] = {
    cls.env_id: cls
    for cls in (TicTacToeTRLEnv, DoubleCheckMathTRLEnv, ReverseTextTRLEnv, ToolUseTRLEnv)
    if cls.env_id is not None
}
"""Env ids with a class of typed tools; other registered envs get :class:`TextReplyTRLEnv`."""


def trl_env_class(env_id: str) -> type[TRLEnv]:
    """The ``environment_factory`` class that plays ``env_id``.

    Raises:
        ValueError: ``env_id`` is not a registered Gymnasium env.
    """
    if env_id in TRL_ENV_CLASSES:
        return TRL_ENV_CLASSES[env_id]
    if env_id not in gym.registry:
        known = ", ".join(sorted(llm_gym.ENV_SPECS))
        raise ValueError(f"{env_id!r} is not a registered env; llm_gym registers {known}")
    return TextReplyTRLEnv


def environment_factories(env_ids: Iterable[str]) -> dict[str, type[TRLEnv]]:
    """``{env_id: class}`` for ``GRPOTrainer(environment_factory=...)``; rows pick by env id."""
    return {env_id: trl_env_class(env_id) for env_id in dict.fromkeys(env_ids)}


class ComponentReward:
    """A TRL reward function returning one env reward component's episode total.

    Called by TRL with ``environments`` (the rollouts' :class:`TRLEnv` instances); a rollout
    whose env has no such component gets ``None`` (left out of the component's mean).
    Named ``<component>_reward``, so TRL logs it as ``rewards/<component>_reward/mean``.
    """

    def __init__(self, component: str):
        self.component = component
        self.__name__ = f"{component}_reward"

    def __call__(
        self,
        completions: Sequence[Any],
        environments: Sequence[TRLEnv] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        if environments is None:
            raise ValueError(
                f"{self.__name__} reads the rollouts' envs from TRL's 'environments' argument, "
                "which only GRPOTrainer(environment_factory=...) passes (AsyncGRPOTrainer does "
                "not: use the envs' get_reward alone there)"
            )
        return [env.reward_totals.get(self.component) for env in environments]


def component_rewards(env_ids: Iterable[str]) -> list[ComponentReward]:
    """One :class:`ComponentReward` per reward component of the envs (union, in order).

    Give them weight 0 in ``GRPOConfig.reward_weights``: TRL adds each env class's
    ``get_reward`` with weight 1, which already is the weighted sum of these components.
    """
    names: dict[str, None] = {}
    for env_id in dict.fromkeys(env_ids):
        env = gym.make(env_id)
        try:
            names.update(dict.fromkeys(env.unwrapped.reward_weights))
        finally:
            env.close()
    return [ComponentReward(name) for name in names]


@dataclass(frozen=True)
class EnvRows:
    """The rows of one env in a tool-mode data set.

    Attributes:
        env_id: a registered env id.
        env_kwargs: env arguments for every row, under each stratum's (a stratum's arguments win).
        strata: the strata cycled over the rows (row ``i`` gets stratum ``i % k``): ``None``
            for the card's training strata, or what
            :func:`~adapters.training.strata.resolve_strata` takes (a mapping name -> env
            arguments, a list of env-argument sets named by their arguments, names the card
            declares).
    """

    env_id: str
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    strata: StrataSpec = None


def build_tool_dataset(
    envs: Sequence[str | EnvRows],
    *,
    rows_per_env: int,
    seed_offset: int = 0,
) -> Any:
    """A ``datasets.Dataset`` of tool-mode episodes for ``GRPOTrainer(environment_factory=...)``.

    The envs' rows are interleaved (row ``i`` of every env, then row ``i + 1``). Each env's row
    ``i`` is in its stratum ``i % k`` (:class:`EnvRows`; a plain env id: the card's training
    strata) and has seed ``i`` of the distinct seeds of its card's ``training_seeds`` from
    ``seed_offset`` seeds into the range (:meth:`~llm_gym.SeedRange.window`), as text mode's
    :func:`~adapters.training.grpo.build_episode_dataset` picks them. Columns: ``prompt`` (the
    tool-mode system prompt and an empty user message that ``reset`` fills with the first
    observation), ``environment`` (the env id, read by TRL with a dict of factories),
    ``env_id``, ``seed``, ``env_kwargs`` (JSON: the row's env arguments, the env's with its
    stratum's over them), ``stratum`` (its name).

    Raises:
        ValueError: no envs, ``rows_per_env < 1``, an env id given twice, strata that do not
            resolve, or more rows than an env's training seeds.
    """
    datasets = require("datasets", "train")
    specs = [EnvRows(spec) if isinstance(spec, str) else spec for spec in envs]
    if not specs:
        raise ValueError("give at least one env")
    if rows_per_env < 1:
        raise ValueError(f"rows_per_env must be >= 1, got {rows_per_env}")
    ids = [spec.env_id for spec in specs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"each env once please (put variants in its strata), got {ids}")
    settings = [
        {
            name: {**spec.env_kwargs, **arguments}
            for name, arguments in resolve_strata(spec.env_id, spec.strata).items()
        }
        for spec in specs
    ]
    seeds = [_training_seeds(spec.env_id, seed_offset, rows_per_env) for spec in specs]
    prompts = {
        (spec.env_id, name): _system_prompt(spec.env_id, kwargs)
        for spec, sets in zip(specs, settings, strict=True)
        for name, kwargs in sets.items()
    }
    columns: dict[str, list[Any]] = {
        key: [] for key in ("prompt", "environment", "env_id", "seed", "env_kwargs", "stratum")
    }
    for row in range(rows_per_env):
        for spec, sets, env_seeds in zip(specs, settings, seeds, strict=True):
            names = list(sets)
            name = names[row % len(names)]
            columns["prompt"].append(
                [
                    {"role": "system", "content": prompts[spec.env_id, name]},
                    {"role": "user", "content": ""},
                ]
            )
            columns["environment"].append(spec.env_id)
            columns["env_id"].append(spec.env_id)
            columns["seed"].append(env_seeds[row])
            columns["env_kwargs"].append(json.dumps(sets[name], sort_keys=True))
            columns["stratum"].append(name)
    return datasets.Dataset.from_dict(columns)


def _training_seeds(env_id: str, offset: int, count: int) -> list[int]:
    try:
        return describe(env_id).card.training_seeds.window(offset, count)
    except ValueError as error:
        raise ValueError(f"{env_id}'s training seeds: {error}") from error


def _system_prompt(env_id: str, env_kwargs: Mapping[str, Any]) -> str:
    env = gym.make(env_id, **env_kwargs)
    try:
        return trl_env_class(env_id).tool_mode_system_prompt(env.unwrapped)
    finally:
        env.close()


def _kwargs_from_row(env_kwargs: str | Mapping[str, Any] | None) -> dict[str, Any]:
    if env_kwargs is None or env_kwargs == "":
        return {}
    parsed = json.loads(env_kwargs) if isinstance(env_kwargs, str) else env_kwargs
    if not isinstance(parsed, Mapping):
        raise ValueError(f"env_kwargs must be a JSON object, got {env_kwargs!r}")
    return dict(parsed)

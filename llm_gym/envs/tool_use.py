"""LLMToolUse-v0: answer a question about a seeded SQLite shop by calling tools."""

from __future__ import annotations

import copy
import json
from typing import Any

from llm_gym.envs.base import TextEnv
from llm_gym.envs.card import EnvCard
from llm_gym.parsing import ToolCallRequest, parse_tool_reply
from llm_gym.scoring import normalise_text_answer, numbers_match
from llm_gym.seeding import derive_seed, derive_uniforms, episode_seed_from
from llm_gym.tools.schema import function_schemas
from llm_gym.tools.shop import ShopTask
from llm_gym.tools.task import ToolEpisode, ToolTask
from llm_gym.tools.toolbox import Toolbox, ToolResult
from llm_gym.validation import check_choice, check_int_at_least, check_number

FORMAT_WEIGHT = 0.2


class ToolUseEnv(TextEnv):
    """Multi-turn tool use: query a database, compute, then answer.

    ## Description
    Each episode builds a small SQLite shop database in memory from its seed (customers,
    products, orders, order lines) and asks one question whose answer the env computes from
    the data itself (counts, sums, maxima, joins, top-k, averages). The model calls tools
    (``list_tables``, ``describe_table``, ``run_sql``, ``calculator``) over several turns and
    ends with a final answer. The tools are plain Python functions; their OpenAI-format
    schemas are in ``info["tools"]`` and ``env.tools``. Any :class:`~llm_gym.tools.ToolTask`
    (a question generator plus a list of functions) can replace the shop via ``task=``.

    The database is read-only by SQLite's own means (query-only mode, an authorizer that
    denies writes, ``ATTACH``, ``PRAGMA``, ``VACUUM`` and any SQL function off an allowlist);
    every query is bounded by an instruction budget, a value-size limit and a row limit, and
    gives the same result on any machine (no clock, no randomness). The calculator evaluates a
    whitelisted syntax tree.

    ## Action Space
    ``Text``: the model's whole reply, after optional ``<think>...</think>``: either one or more
    ``<tool_call>{"name": "run_sql", "arguments": {"query": "..."}}</tool_call>`` or one final
    ``<answer>...</answer>``, never both.

    ## Observation Space
    ``Text``: the question at reset; after tool calls, their results (``info["role"] ==
    "tool"``), one ``<tool_result name="...">...</tool_result>`` block per call, in order (also
    in ``info["tool_results"]``); after an unusable reply, an explanation (role ``user``).

    ## Rewards
    - ``correct`` (weight 1): at the end, 1 for a right final answer: numbers within
      ``answer_tolerance`` (``$1,234.50`` and ``1234.5`` both read as numbers), names compared
      case- and space-insensitively.
    - ``format`` (weight 0.2): the share of replies in the required format; each step adds the
      change of that share, so the episode total is the share.
    - ``tool_error`` (weight 1): ``tool_error_penalty`` per failed call (malformed JSON, unknown
      tool, bad arguments, SQL error), and once more when a reply holds more than
      ``max_calls_per_turn`` calls (the extra calls are not run). A step's penalty is thus at
      most ``(max_calls_per_turn + 1) * tool_error_penalty``, and its ``tool_results`` hold at
      most ``max_calls_per_turn + 1`` entries.

    ## Episode End
    Terminated by a final answer (``outcome`` ``"correct"`` or ``"incorrect"``). Truncated
    (``outcome`` ``"truncated"``) after ``max_turns`` replies without one.

    ## Arguments
    - ``difficulty``: ``"easy"`` (one table), ``"medium"`` (joins, filters), ``"hard"``
      (grouping, top-k, averages, larger database) or ``"mixed"`` (drawn per episode).
    - ``task``: a :class:`~llm_gym.tools.ToolTask`; default the shop database task.
    - ``max_turns``: replies per episode, >= 2.
    - ``max_calls_per_turn``: tool calls run per reply.
    - ``answer_tolerance``: absolute tolerance for numeric answers.
    - ``tool_error_penalty``: a number <= 0 per failed call.
    - ``render_mode``: ``None`` or ``"ansi"``.

    ## Info
    At reset: ``tools`` (OpenAI tool schemas), ``question``, ``difficulty``, ``seed``,
    ``reference_answer`` and ``reference`` (e.g. the reference SQL; for scripted policies and
    evaluation, never shown to the model). Every step: ``turn``, ``tool_results`` (list of
    ``{"name", "content", "error"}``). At the end: ``outcome``, ``answer`` and ``metrics``
    (``tool_calls``, ``tool_errors``, ``turns``, ``format_rate``).

    ## Version History
    - v0: initial version.
    """

    card = EnvCard(
        settings={level: {"difficulty": level} for level in ShopTask.difficulties},
        success_outcomes=("correct",),
        teacher="oracle",
    )
    """Settings are the shop task's difficulties; an env made with another ``task`` has its own."""

    def __init__(
        self,
        difficulty: str = "mixed",
        task: ToolTask | None = None,
        max_turns: int = 8,
        max_calls_per_turn: int = 4,
        answer_tolerance: float = 0.01,
        tool_error_penalty: float = -0.05,
        render_mode: str | None = None,
    ):
        self.task: ToolTask = task if task is not None else ShopTask()
        if not isinstance(self.task, ToolTask):
            raise ValueError(f"task must implement ToolTask, got {type(task).__name__}")
        self.difficulty = check_choice("difficulty", difficulty, (*self.task.difficulties, "mixed"))
        self.max_turns = check_int_at_least("max_turns", max_turns, 2)
        self.max_calls_per_turn = check_int_at_least("max_calls_per_turn", max_calls_per_turn, 1)
        self.answer_tolerance = check_number("answer_tolerance", answer_tolerance)
        if self.answer_tolerance < 0:
            raise ValueError(f"answer_tolerance must be >= 0, got {answer_tolerance!r}")
        self.tool_error_penalty = check_number(
            "tool_error_penalty", tool_error_penalty, maximum=0.0
        )
        super().__init__(
            {"correct": 1.0, "format": FORMAT_WEIGHT, "tool_error": 1.0},
            render_mode=render_mode,
            best_component_totals={"correct": 1.0, "format": 1.0, "tool_error": 0.0},
        )
        self.tools: list[dict[str, Any]] = function_schemas(self.task.tool_functions())
        self.episode_seed = 0
        self.episode_difficulty = ""
        self._episode: ToolEpisode | None = None
        self._toolbox: Toolbox | None = None
        self.turn = 0
        self.tool_calls = 0
        self.tool_errors = 0
        self.formatted_replies = 0
        self.outcome: str | None = None
        self.final_answer: str | None = None

    @property
    def system_prompt(self) -> str:
        names = ", ".join(t["function"]["name"] for t in self.tools)
        return (
            f"{self.task.describe()} Answer the user's question using the tools ({names}).\n"
            "You may reason inside <think>...</think> first. Then either call one or more "
            "tools, each as\n"
            '<tool_call>{"name": "TOOL_NAME", "arguments": {"ARG": "VALUE"}}</tool_call>\n'
            "and wait for their results, or give your final answer as <answer>...</answer> "
            "(a plain number such as 1234.50, or a name). Never call tools and answer in the "
            f"same reply. You have at most {self.max_turns} replies.\nTools (JSON schemas):\n"
            + "\n".join(json.dumps(t["function"]) for t in self.tools)
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self._close_episode()
        self.episode_seed = episode_seed_from(self.np_random)
        (u,) = derive_uniforms(self.episode_seed, "tool-use", count=1)
        levels = self.task.difficulties if self.difficulty == "mixed" else (self.difficulty,)
        self.episode_difficulty = levels[int(u * len(levels))]
        self._open_episode()
        self.turn = 0
        self.tool_calls = 0
        self.tool_errors = 0
        self.formatted_replies = 0
        self.outcome = None
        self.final_answer = None
        episode = self._current()
        observation = (
            f"{episode.question}\n\nUse the tools to find the answer, then reply with "
            "<answer>...</answer>."
        )
        return self.observation_text(observation), self.reset_info(
            tools=copy.deepcopy(self.tools),
            question=episode.question,
            difficulty=self.episode_difficulty,
            seed=self.episode_seed,
            reference_answer=episode.answer,
            reference=copy.deepcopy(episode.reference),
            turn=0,
        )

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.check_reset()
        if self.outcome is not None or self._episode is None:
            raise RuntimeError("the episode is over: call reset() before step()")
        self.turn += 1
        components = self.zero_components()
        error = self.reply_error(action)
        if error is None:
            parsed = parse_tool_reply(action)
            calls, answer, error = parsed.calls, parsed.answer, parsed.error
            well_formatted = parsed.well_formatted
        else:
            calls, answer, well_formatted = (), None, False
        previous_share = self.formatted_replies / (self.turn - 1) if self.turn > 1 else 0.0
        self.formatted_replies += well_formatted
        components["format"] = self.formatted_replies / self.turn - previous_share

        results: list[ToolResult] = []
        role = "user"
        terminated = False
        invalid = error is not None
        if answer is not None:
            terminated = True
            self.final_answer = answer
            right = self._is_correct(answer)
            components["correct"] = float(right)
            self.outcome = "correct" if right else "incorrect"
            message = f"Final answer received: it is {'correct' if right else 'not correct'}."
        elif calls:
            role = "tool"
            results = self._run_calls(calls)
            invalid = any(call.error is not None for call in calls)
            failed = sum(result.error for result in results)
            self.tool_errors += failed
            if failed:
                components["tool_error"] = self.tool_error_penalty * failed
            message = "\n".join(_format_result(r) for r in results)
        else:
            message = (
                f"Invalid reply: {error}. Call tools with <tool_call>{{...}}</tool_call> or give "
                "the final answer as <answer>...</answer>."
            )
        truncated = not terminated and self.turn >= self.max_turns
        if truncated:
            self.outcome = "truncated"
            message += f"\n\nThe limit of {self.max_turns} replies is reached; the episode is over."
            role = "user"
        info = self.step_info(
            components,
            invalid_action=invalid,
            role=role,
            turn=self.turn,
            tool_results=[
                {"name": r.name, "content": r.content, "error": r.error} for r in results
            ],
        )
        if self.outcome is not None:
            info["outcome"] = self.outcome
            info["answer"] = self.final_answer
            info["metrics"] = {
                "tool_calls": self.tool_calls,
                "tool_errors": self.tool_errors,
                "turns": self.turn,
                "format_rate": self.formatted_replies / self.turn,
            }
            self._close_episode()
        return (
            self.observation_text(message),
            self.weighted_reward(components),
            terminated,
            truncated,
            info,
        )

    def close(self) -> None:
        self._close_episode()
        super().close()

    def render_text(self) -> str:
        question = self._episode.question if self._episode is not None else "(no episode open)"
        lines = [
            f"[{self.episode_difficulty}] {question}",
            f"turn {self.turn}/{self.max_turns}, tool calls {self.tool_calls}, "
            f"tool errors {self.tool_errors}",
        ]
        if self.outcome is not None:
            lines.append(f"outcome: {self.outcome} (answer {self.final_answer!r})")
        return "\n".join(lines) + "\n"

    # --- internals ---

    def _current(self) -> ToolEpisode:
        if self._episode is None:  # pragma: no cover - guarded by step()
            raise RuntimeError("no episode is open: call reset()")
        return self._episode

    def _open_episode(self) -> None:
        self._episode = self.task.new_episode(
            derive_seed(self.episode_seed, "tool-task"), self.episode_difficulty
        )
        self._toolbox = Toolbox(self._episode.functions)

    def _close_episode(self) -> None:
        if self._episode is not None:
            self._episode.close()
        self._episode = None
        self._toolbox = None

    def _run_calls(self, calls: tuple[ToolCallRequest, ...]) -> list[ToolResult]:
        """Run the first ``max_calls_per_turn`` calls; any further ones become one error."""
        assert self._toolbox is not None
        results = []
        for call in calls[: self.max_calls_per_turn]:
            self.tool_calls += 1
            if call.error is not None:
                results.append(ToolResult(_tool_name(call.name), f"Error: {call.error}", True))
            else:
                results.append(self._toolbox.call(call.name, call.arguments))
        excess = len(calls) - self.max_calls_per_turn
        if excess > 0:
            message = (
                f"Error: {excess} more tool call(s) not run; at most {self.max_calls_per_turn} "
                "tool calls per reply"
            )
            results.append(ToolResult("?", message, True))
        return results

    def _is_correct(self, answer: str) -> bool:
        episode = self._current()
        if episode.numeric:
            return numbers_match(answer, episode.answer, self.answer_tolerance)
        return normalise_text_answer(answer) == normalise_text_answer(episode.answer)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_episode"] = None
        state["_toolbox"] = None
        state["_episode_open"] = self._episode is not None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        reopen = state.pop("_episode_open", False)
        self.__dict__.update(state)
        if reopen:  # the episode's state is a pure function of its seed: rebuild it
            self._open_episode()


def _tool_name(name: object) -> str:
    return str(name)[:60] if name is not None else "?"


def _format_result(result: ToolResult) -> str:
    name = "".join(ch for ch in result.name[:60] if ch.isalnum() or ch in "_-.")
    return f'<tool_result name="{name}">\n{result.content}\n</tool_result>'

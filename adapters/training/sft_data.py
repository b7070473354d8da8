"""Synthetic SFT data: play episodes with a teacher policy, keep the good ones, write chat JSONL.

Two row shapes (``rows``):

- ``"episode"`` (default): one row per episode, the whole multi-turn conversation as
  ``{"messages": [...]}`` (system prompt, observations, teacher replies; the final observation,
  which nobody answers, is left out): TRL's conversational language-modelling format.
- ``"position"``: one row per teacher reply, ``{"prompt": [...the real history...],
  "completion": [{"role": "assistant", ...}]}``: TRL's conversational prompt-completion format,
  plus metadata fields TRL does not read (``env_id``, ``turn``, and ``side`` and ``board`` where
  the env's info has them). A position met in k games gives k rows.

``context`` (:mod:`adapters.context`) is what the teacher is shown and what a position row's
prompt holds: ``"full"`` the real history, ``"last"`` the system prompt and the env's latest
message only (for envs whose card declares ``state_in_observation``), so a model trained on the
rows sees what an evaluation with the same context shows it. Episode rows hold whole
conversations and take ``"full"`` only.

The file loads with ``datasets.load_dataset("json", data_files=PATH)``. To cover every position
the teacher meets instead of sampling games, see :mod:`adapters.training.sft_cover`.

>>> from adapters.policies import ScriptedChatPolicy
>>> teacher = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "optimal")
>>> report = generate_sft_data_sync("LLMTicTacToe-v0", teacher, episodes=4, output=None)
>>> report.kept, report.total
(4, 4)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.context import (
    DEFAULT_CONTEXT,
    Context,
    check_context,
    context_of,
    visible_messages,
    with_context,
)
from adapters.exact import MESSAGE_KEYS, decision_key, decision_prompts
from adapters.policies.base import ChatPolicy, PolicyReply
from adapters.records import EpisodeRecord, Message, append_record
from adapters.rollout import EpisodeJob, run_episodes, run_sync
from llm_gym.envs.describe import describe


@dataclass(frozen=True)
class EpisodeFilter:
    """Which teacher episodes make good training data.

    Attributes:
        outcomes: allowed ``outcome`` values (``None``: any). :func:`default_filter` keeps the
            outcomes the env declares worth teaching (tic-tac-toe: wins and draws, as the
            reference recipe did; losses would teach bad play).
        min_format_rate: smallest allowed share of well-formatted replies, read from the
            episode's ``format_rate`` metric, else from its ``format`` reward component.
        max_invalid_actions: most invalid replies allowed in an episode (``None``: no limit).
        min_total_reward: smallest allowed episode score (``None``: no limit).
        drop_errors: drop episodes whose policy call failed.
    """

    outcomes: frozenset[str] | None = None
    min_format_rate: float = 1.0
    max_invalid_actions: int | None = 0
    min_total_reward: float | None = None
    drop_errors: bool = True

    def reason_to_drop(self, record: EpisodeRecord) -> str | None:
        """Why ``record`` fails the filter (``None`` when it is kept)."""
        if self.drop_errors and record.error is not None:
            return "error"
        if self.outcomes is not None and (record.outcome or "none") not in self.outcomes:
            return f"outcome:{record.outcome}"
        format_rate = episode_format_rate(record)
        if format_rate is not None and format_rate < self.min_format_rate:
            return "format"
        if (
            self.max_invalid_actions is not None
            and record.invalid_actions > self.max_invalid_actions
        ):
            return "invalid_actions"
        if self.min_total_reward is not None and record.total_reward < self.min_total_reward:
            return "total_reward"
        return None

    def keeps(self, record: EpisodeRecord) -> bool:
        return self.reason_to_drop(record) is None


def default_filter(env_id: str) -> EpisodeFilter:
    """The filter ``llm-gym sft-data`` uses unless told otherwise: the env's teaching outcomes."""
    return EpisodeFilter(outcomes=frozenset(describe(env_id).card.outcomes_to_teach()))


def episode_format_rate(record: EpisodeRecord) -> float | None:
    """Share of well-formatted replies: the ``format_rate`` metric, else the ``format`` total."""
    if "format_rate" in record.metrics:
        return float(record.metrics["format_rate"])
    if "format" in record.reward_components:
        return float(record.reward_components["format"])
    return None


ROW_SHAPES = ("episode", "position")
INFO_FIELDS = {"model_mark": "side", "board": "board"}
"""Env info keys copied into position rows, and their names there."""


def chat_messages(messages: Sequence[Message]) -> list[Message]:
    """Messages with only the keys chat templates read (role, content, tool-call fields)."""
    return [{k: m[k] for k in MESSAGE_KEYS if m.get(k) is not None} for m in messages]


def episode_to_example(record: EpisodeRecord) -> dict[str, Any]:
    """The chat-format training row of an episode: ``{"messages": [...]}``.

    Messages keep only the keys chat templates read (role, content, and tool-call fields when
    present); the conversation ends with the last assistant reply.
    """
    messages = chat_messages(record.messages)
    while messages and messages[-1]["role"] != "assistant":
        messages.pop()
    return {"messages": messages}


def position_example(
    prompt: Sequence[Message],
    reply: Message,
    *,
    env_id: str,
    turn: int,
    info: Mapping[str, Any] | None = None,
    context: Context = DEFAULT_CONTEXT,
    **metadata: Any,
) -> dict[str, Any]:
    """One prompt-completion row: the real history (what ``context`` shows of it) as prompt, one
    reply as completion.

    Args:
        prompt: the conversation before the reply (system prompt first).
        reply: the assistant message to learn.
        env_id, turn: where the decision comes from (``turn`` counts the episode's replies
            before it).
        info: the env info the policy saw at this decision; ``side`` and ``board`` are taken
            from it when present.
        context: what of ``prompt`` the row keeps (:func:`adapters.context.visible_messages`).
        metadata: further fields for the row (e.g. ``weights``).
    """
    row: dict[str, Any] = {
        "prompt": chat_messages(visible_messages(prompt, context)),
        "completion": chat_messages([reply]),
        "env_id": env_id,
        "turn": turn,
        "context": context,
    }
    for key, name in INFO_FIELDS.items():
        if info is not None and key in info:
            row[name] = info[key]
    row.update(metadata)
    return row


def position_examples(
    record: EpisodeRecord,
    infos: Mapping[str, Mapping[str, Any]] | None = None,
    context: Context = DEFAULT_CONTEXT,
) -> list[dict[str, Any]]:
    """The prompt-completion rows of every reply of an episode, prompts shown in ``context``.

    ``infos`` maps a conversation (:func:`adapters.exact.decision_key` in ``context``) to the
    env info seen there, e.g. :attr:`InfoRecorder.infos`.
    """
    rows = []
    for turn, prompt in enumerate(decision_prompts(record)):
        info = (infos or {}).get(decision_key(prompt, context))
        reply = record.messages[len(prompt)]
        rows.append(
            position_example(
                prompt, reply, env_id=record.env_id, turn=turn, info=info, context=context
            )
        )
    return rows


def examples_of(
    records: Sequence[EpisodeRecord],
    rows: str,
    infos: Mapping[str, Mapping[str, Any]] | None = None,
    context: Context = DEFAULT_CONTEXT,
) -> list[dict[str, Any]]:
    """Training rows of ``records`` in the ``rows`` shape (see :data:`ROW_SHAPES`)."""
    check_row_shape(rows, context)
    if rows == "episode":
        return [episode_to_example(record) for record in records]
    return [row for record in records for row in position_examples(record, infos, context)]


def check_row_shape(rows: str, context: Context = DEFAULT_CONTEXT) -> None:
    """Raise ``ValueError`` for an unknown row shape, or episode rows with a partial context."""
    if rows not in ROW_SHAPES:
        raise ValueError(f"rows must be one of {', '.join(ROW_SHAPES)}, got {rows!r}")
    if rows == "episode" and check_context(context) != DEFAULT_CONTEXT:
        raise ValueError(
            f"episode rows train on whole conversations and cannot show context {context!r}: "
            "use position rows, whose prompts hold what that context shows"
        )


def decision_keys(
    records: Sequence[EpisodeRecord], context: Context = DEFAULT_CONTEXT
) -> frozenset[str]:
    """The conversations answered in ``records`` (:func:`adapters.exact.decision_key` in
    ``context``)."""
    return frozenset(
        decision_key(p, context) for record in records for p in decision_prompts(record)
    )


class InfoRecorder:
    """Passes requests to ``policy`` and remembers the env info of each conversation (keyed by
    :func:`adapters.exact.decision_key` in the policy's context)."""

    def __init__(self, policy: ChatPolicy):
        self.policy = policy
        self.name = policy.name
        self.context = context_of(policy)
        self.infos: dict[str, dict[str, Any]] = {}

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        self.infos[decision_key(messages, self.context)] = dict(info or {})
        return await self.policy.reply(messages, tools=tools, info=info)


@dataclass
class SFTDataReport:
    """What :func:`generate_sft_data` did."""

    total: int
    kept: int
    dropped: dict[str, int]
    outcomes: dict[str, int]
    kept_outcomes: dict[str, int]
    output: Path | None
    examples: list[dict[str, Any]] = field(default_factory=list, repr=False)
    decisions: frozenset[str] = field(default_factory=frozenset, repr=False)
    """The conversations answered in the kept episodes (what the data covers)."""

    @property
    def kept_rate(self) -> float:
        return self.kept / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "kept": self.kept,
            "kept_rate": self.kept_rate,
            "dropped": self.dropped,
            "outcomes": self.outcomes,
            "kept_outcomes": self.kept_outcomes,
            "rows": len(self.examples),
            "output": str(self.output) if self.output else None,
        }


async def generate_sft_data(
    env_id: str,
    teacher: ChatPolicy,
    *,
    episodes: int,
    output: str | Path | None,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    episode_filter: EpisodeFilter | None = None,
    concurrency: int = 8,
    records_path: str | Path | None = None,
    rows: str = "episode",
    context: Context | None = None,
) -> SFTDataReport:
    """Play ``episodes`` teacher episodes (seeds ``seed .. seed+episodes-1``), filter, write JSONL.

    Args:
        env_id: any registered env id.
        teacher: the chat policy that plays (scripted, endpoint or local model).
        episodes: how many episodes to play.
        output: the JSONL file to write (overwritten); ``None`` keeps the rows in memory only.
        seed: seed of the first episode.
        env_kwargs: keyword arguments for ``gymnasium.make``.
        episode_filter: what to keep; :func:`default_filter` when ``None``.
        concurrency: episodes in flight at once.
        records_path: also append every episode record (kept or not) to this JSONL file.
        rows: ``"episode"`` or ``"position"`` (see the module docstring).
        context: what the teacher is shown and the position rows' prompts hold (``None``: the
            teacher's own, :func:`adapters.context.context_of`); ``"last"`` needs position rows
            and an env whose card declares ``state_in_observation``.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    teacher = with_context(teacher, context)
    context = check_context(context_of(teacher), env_id)
    check_row_shape(rows, context)
    episode_filter = episode_filter or default_filter(env_id)
    kwargs = dict(env_kwargs or {})
    jobs = [EpisodeJob(env_id, seed + i, 0, kwargs) for i in range(episodes)]
    if records_path is not None:
        Path(records_path).parent.mkdir(parents=True, exist_ok=True)
        Path(records_path).unlink(missing_ok=True)

    def save(record: EpisodeRecord) -> None:
        if records_path is not None:
            append_record(records_path, record)

    recorder = InfoRecorder(teacher)
    records = await run_episodes(jobs, recorder, concurrency=concurrency, on_record=save)
    kept, report = filter_episodes(records, episode_filter, context)
    report.examples = examples_of(kept, rows, recorder.infos, context)
    if output is not None:
        report.output = Path(output)
        write_jsonl(report.output, report.examples)
    return report


def filter_episodes(
    records: Sequence[EpisodeRecord],
    episode_filter: EpisodeFilter,
    context: Context = DEFAULT_CONTEXT,
) -> tuple[list[EpisodeRecord], SFTDataReport]:
    """The kept records and a report of the selection (without rows or output yet); the
    report's ``decisions`` are told apart in ``context``."""
    dropped: Counter[str] = Counter()
    kept_records: list[EpisodeRecord] = []
    for record in records:
        reason = episode_filter.reason_to_drop(record)
        if reason is None:
            kept_records.append(record)
        else:
            dropped[reason] += 1
    report = SFTDataReport(
        total=len(records),
        kept=len(kept_records),
        dropped=dict(dropped),
        outcomes=dict(Counter(r.outcome or "none" for r in records)),
        kept_outcomes=dict(Counter(r.outcome or "none" for r in kept_records)),
        output=None,
        decisions=decision_keys(kept_records, context),
    )
    return kept_records, report


def generate_sft_data_sync(env_id: str, teacher: ChatPolicy, **kwargs: Any) -> SFTDataReport:
    """:func:`generate_sft_data` from sync code (also inside Jupyter's running loop)."""
    return run_sync(generate_sft_data(env_id, teacher, **kwargs))


def write_jsonl(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write rows as JSON lines (UTF-8), creating the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")

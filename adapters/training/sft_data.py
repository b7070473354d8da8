"""Synthetic SFT data: play episodes with a teacher policy, keep the good ones, write chat JSONL.

One row per episode, the whole multi-turn conversation as ``{"messages": [...]}`` (system prompt,
observations, teacher replies; the final observation, which nobody answers, is left out). The
file loads with ``datasets.load_dataset("json", data_files=PATH)`` and trains with TRL's
``SFTTrainer`` as a conversational language-modelling data set.

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

from adapters.policies.base import ChatPolicy
from adapters.records import EpisodeRecord, append_record
from adapters.rollout import EpisodeJob, run_episodes, run_sync


@dataclass(frozen=True)
class EpisodeFilter:
    """Which teacher episodes make good training data.

    Attributes:
        outcomes: allowed ``outcome`` values (``None``: any). Tic-tac-toe's default keeps wins and
            draws, as the reference recipe did: losses would teach bad play.
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


DEFAULT_OUTCOMES: dict[str, frozenset[str]] = {
    "LLMTicTacToe-v0": frozenset({"win", "draw"}),
}
"""Per-env default of :attr:`EpisodeFilter.outcomes`; other envs keep their success outcomes."""

SUCCESS_OUTCOMES = frozenset({"win", "correct", "success", "solved"})


def default_filter(env_id: str) -> EpisodeFilter:
    """The filter ``llm-gym sft-data`` uses unless told otherwise."""
    return EpisodeFilter(outcomes=DEFAULT_OUTCOMES.get(env_id, SUCCESS_OUTCOMES))


def episode_format_rate(record: EpisodeRecord) -> float | None:
    """Share of well-formatted replies: the ``format_rate`` metric, else the ``format`` total."""
    if "format_rate" in record.metrics:
        return float(record.metrics["format_rate"])
    if "format" in record.reward_components:
        return float(record.reward_components["format"])
    return None


def episode_to_example(record: EpisodeRecord) -> dict[str, Any]:
    """The chat-format training row of an episode: ``{"messages": [...]}``.

    Messages keep only the keys chat templates read (role, content, and tool-call fields when
    present); the conversation ends with the last assistant reply.
    """
    keep = ("role", "content", "tool_calls", "tool_call_id", "name")
    messages = [{k: m[k] for k in keep if k in m and m[k] is not None} for m in record.messages]
    while messages and messages[-1]["role"] != "assistant":
        messages.pop()
    return {"messages": messages}


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
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    episode_filter = episode_filter or default_filter(env_id)
    kwargs = dict(env_kwargs or {})
    jobs = [EpisodeJob(env_id, seed + i, 0, kwargs) for i in range(episodes)]
    if records_path is not None:
        Path(records_path).parent.mkdir(parents=True, exist_ok=True)
        Path(records_path).unlink(missing_ok=True)

    def save(record: EpisodeRecord) -> None:
        if records_path is not None:
            append_record(records_path, record)

    records = await run_episodes(jobs, teacher, concurrency=concurrency, on_record=save)
    dropped: Counter[str] = Counter()
    kept_records: list[EpisodeRecord] = []
    for record in records:
        reason = episode_filter.reason_to_drop(record)
        if reason is None:
            kept_records.append(record)
        else:
            dropped[reason] += 1
    examples = [episode_to_example(r) for r in kept_records]
    path = Path(output) if output is not None else None
    if path is not None:
        write_jsonl(path, examples)
    return SFTDataReport(
        total=len(records),
        kept=len(kept_records),
        dropped=dict(dropped),
        outcomes=dict(Counter(r.outcome or "none" for r in records)),
        kept_outcomes=dict(Counter(r.outcome or "none" for r in kept_records)),
        output=path,
        examples=examples,
    )


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

"""Trajectory records: what one episode of chat looked like, in a JSON-friendly form."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Message = dict[str, Any]


@dataclass
class TurnRecord:
    """One model reply and what the environment made of it."""

    action: str
    observation: str
    role: str
    reward: float
    reward_components: dict[str, float]
    invalid_action: bool
    latency_s: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class EpisodeRecord:
    """A whole episode: the chat, per-turn rewards and the episode's score.

    ``seed`` is the env seed of the example and ``rollout`` the index of this rollout among the
    rollouts of that example (a GRPO group or pass@k sample). ``setting`` labels the env
    arguments of one arm of an evaluation over several settings (e.g. opponent strengths).
    ``error`` is set when the episode could not be finished (a request failed after its
    retries); such a record is kept for diagnosis and redone by ``llm-gym eval --resume``.
    ``messages`` is the chat exactly as the policy saw it (system prompt, observations,
    replies); the final observation, which the policy never answers, is kept apart in
    ``final_observation``. ``probability`` is set by exact evaluation (``adapters.exact``): the
    probability of this game under its setting, where every record is a distinct game.
    """

    env_id: str
    env_kwargs: dict[str, Any]
    seed: int
    rollout: int
    policy: str
    messages: list[Message]
    turns: list[TurnRecord]
    final_observation: str
    total_reward: float
    reward_components: dict[str, float]
    reward_weights: dict[str, float]
    outcome: str | None
    metrics: dict[str, Any]
    terminated: bool
    truncated: bool
    wall_time_s: float
    error: str | None = None
    setting: str | None = None
    probability: float | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.seed, self.rollout)

    @property
    def run_key(self) -> tuple[str | None, int, int]:
        """``(setting, seed, rollout)``: the row's identity within an evaluation run."""
        return (self.setting, self.seed, self.rollout)

    @property
    def prompt_tokens(self) -> int:
        return sum(t.prompt_tokens or 0 for t in self.turns)

    @property
    def completion_tokens(self) -> int:
        return sum(t.completion_tokens or 0 for t in self.turns)

    @property
    def invalid_actions(self) -> int:
        return sum(t.invalid_action for t in self.turns)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["prompt_tokens"] = self.prompt_tokens
        data["completion_tokens"] = self.completion_tokens
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpisodeRecord:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["turns"] = [TurnRecord(**turn) for turn in data.get("turns", [])]
        return cls(**fields)


def record_to_json(record: EpisodeRecord) -> str:
    """One line of a ``results.jsonl``."""
    return json.dumps(record.to_dict(), ensure_ascii=False, default=_json_default)


def as_saved(record: EpisodeRecord) -> EpisodeRecord:
    """The record as reading it back from a results file gives it (tuples as lists, ...)."""
    return EpisodeRecord.from_dict(json.loads(record_to_json(record)))


def append_record(path: str | Path, record: EpisodeRecord) -> None:
    """Append one record as a JSON line and flush it to disk (nothing is lost on a crash)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(record_to_json(record) + "\n")
        handle.flush()


@dataclass
class RecordsFile:
    """The readable records of a ``results.jsonl`` and the lines that are not records.

    ``unreadable`` holds ``(line number, raw bytes)`` of every line that is not a record: a line
    torn by a killed run (also inside a multi-byte character), or valid JSON that is not an
    episode record (``{}``, ``null``, ``42``, a record with wrong field types).
    """

    records: list[EpisodeRecord]
    unreadable: list[tuple[int, bytes]]


def load_records(path: str | Path) -> RecordsFile:
    """Every line of a ``results.jsonl``, sorted into records and unreadable lines."""
    records: list[EpisodeRecord] = []
    unreadable: list[tuple[int, bytes]] = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            record = record_from_line(raw)
            if record is None:
                unreadable.append((number, raw))
            else:
                records.append(record)
    return RecordsFile(records, unreadable)


def read_records(path: str | Path) -> Iterator[EpisodeRecord]:
    """Records of a ``results.jsonl``; lines that are not records are skipped (see
    :func:`load_records` to count them)."""
    yield from load_records(path).records


def record_from_line(raw: bytes) -> EpisodeRecord | None:
    """The record a JSON line holds, or ``None`` when it holds none."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        record = EpisodeRecord.from_dict(data)
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
    key_types_ok = (
        isinstance(record.seed, int)
        and isinstance(record.rollout, int)
        and (record.setting is None or isinstance(record.setting, str))
        and (record.error is None or isinstance(record.error, str))
    )
    return record if key_types_ok else None


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)

"""Re-step saved rollouts with the current env code and compare them with what was saved.

A saved row holds everything an episode needs to be played again without a model: the env id
and arguments, the seed and every reply. :func:`restep` plays those replies in a fresh env
through the same rollout code that wrote the row; :func:`compare_records` lists where the saved
row and the new one differ (an env changed between versions, or a results file was edited).

>>> from adapters.policies import ScriptedChatPolicy
>>> from adapters.rollout import run_episode_sync
>>> saved = run_episode_sync(
...     "LLMReverseText-v0", ScriptedChatPolicy.for_env("LLMReverseText-v0", "oracle"), seed=3
... )
>>> compare_records(saved, restep(saved), row=0)
[]
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from adapters.evaluation import RESULTS_FILE
from adapters.policies.base import PolicyReply
from adapters.records import EpisodeRecord, Message, TurnRecord, as_saved, read_records
from adapters.rollout import run_episode, run_sync

REWARD_TOLERANCE = 1e-9
SHOWN_CHARS = 60


class RepliesExhaustedError(RuntimeError):
    """The env asked for a reply after the last saved one."""


class SavedReplies:
    """A chat policy that gives back the saved replies of one row, in order."""

    def __init__(self, record: EpisodeRecord):
        self.name = record.policy
        self.turns = record.turns
        assistant = [m for m in record.messages if m.get("role") == "assistant"]
        self.messages: list[Message | None] = [*assistant, *[None] * len(record.turns)]
        self.used = 0

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        if self.used >= len(self.turns):
            raise RepliesExhaustedError(
                f"the env asks for reply {self.used + 1}; the saved row has {len(self.turns)}"
            )
        turn, message = self.turns[self.used], self.messages[self.used]
        self.used += 1
        return PolicyReply(
            text=turn.action,
            prompt_tokens=turn.prompt_tokens,
            completion_tokens=turn.completion_tokens,
            message=message,
        )


async def restep_async(saved: EpisodeRecord) -> EpisodeRecord:
    """:func:`restep` for async code."""
    try:
        record = await run_episode(
            saved.env_id,
            SavedReplies(saved),
            seed=saved.seed,
            rollout=saved.rollout,
            env_kwargs=saved.env_kwargs,
            setting=saved.setting,
            record_errors=True,
        )
    except Exception as error:
        return as_saved(_failed(saved, f"the env raised {type(error).__name__}: {error}"))
    turns = [
        replace(turn, latency_s=old.latency_s)
        for turn, old in zip(record.turns, saved.turns, strict=False)
    ]
    return as_saved(replace(record, turns=turns, wall_time_s=saved.wall_time_s))


def _failed(saved: EpisodeRecord, error: str) -> EpisodeRecord:
    return replace(
        saved,
        messages=[],
        turns=[],
        final_observation="",
        total_reward=0.0,
        reward_components={},
        outcome=None,
        metrics={},
        error=error,
    )


def restep(saved: EpisodeRecord) -> EpisodeRecord:
    """The row as the current env code makes it from the saved replies (no model is called).

    Timings and token counts are the saved ones. When the env asks for more replies than were
    saved, the new row has ``error`` set; when it ends sooner, the new row has fewer turns.
    """
    return run_sync(restep_async(saved))


@dataclass(frozen=True)
class Mismatch:
    """One difference between a saved row and its replay.

    ``turn`` is 0 for the reset (system prompt, first observation), 1.. for the turns and
    ``None`` for the episode as a whole (totals, outcome, metrics).
    """

    row: int
    seed: int
    rollout: int
    setting: str | None
    turn: int | None
    field: str
    saved: Any
    replayed: Any

    def where(self) -> str:
        setting = f" setting {self.setting}" if self.setting else ""
        turn = (
            "episode" if self.turn is None else ("reset" if self.turn == 0 else f"turn {self.turn}")
        )
        return f"row {self.row} (seed {self.seed}, rollout {self.rollout}{setting}) {turn}"

    def describe(self) -> str:
        saved, replayed = shorten(self.saved), shorten(self.replayed)
        return f"{self.where()} {self.field}: saved {saved}, now {replayed}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "seed": self.seed,
            "rollout": self.rollout,
            "setting": self.setting,
            "turn": self.turn,
            "field": self.field,
            "saved": self.saved,
            "replayed": self.replayed,
        }


def shorten(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def same_value(saved: Any, replayed: Any) -> bool:
    """Equal, with rewards compared to within :data:`REWARD_TOLERANCE`."""
    if isinstance(saved, bool) or isinstance(replayed, bool):
        return saved == replayed
    if isinstance(saved, (int, float)) and isinstance(replayed, (int, float)):
        return math.isclose(saved, replayed, rel_tol=0, abs_tol=REWARD_TOLERANCE)
    if isinstance(saved, dict) and isinstance(replayed, dict):
        return saved.keys() == replayed.keys() and all(
            same_value(saved[key], replayed[key]) for key in saved
        )
    if isinstance(saved, list) and isinstance(replayed, list):
        return len(saved) == len(replayed) and all(
            same_value(a, b) for a, b in zip(saved, replayed, strict=True)
        )
    return saved == replayed


TURN_FIELDS = ("observation", "role", "reward", "reward_components", "invalid_action")
EPISODE_FIELDS = (
    "reward_weights",
    "final_observation",
    "total_reward",
    "reward_components",
    "outcome",
    "metrics",
    "terminated",
    "truncated",
)


def _messages_of_turn(messages: Sequence[Message], turn: int) -> list[tuple[str, Any]]:
    """The env's messages of a turn: turn 0 is the system prompt and first observation."""
    indices = (0, 1) if turn == 0 else (2 * turn + 1,)
    return [
        (f"message {i} ({messages[i].get('role')})", messages[i].get("content"))
        if i < len(messages)
        else (f"message {i}", None)
        for i in indices
    ]


def compare_records(saved: EpisodeRecord, replayed: EpisodeRecord, *, row: int) -> list[Mismatch]:
    """Every difference between a saved row and its replay, turn by turn, then the totals."""

    def mismatch(turn: int | None, field: str, old: Any, new: Any) -> Mismatch:
        return Mismatch(row, saved.seed, saved.rollout, saved.setting, turn, field, old, new)

    found: list[Mismatch] = []
    for (label, old), (_, new) in zip(
        _messages_of_turn(saved.messages, 0), _messages_of_turn(replayed.messages, 0), strict=True
    ):
        if old != new:
            found.append(mismatch(0, label, old, new))
    for number, (old_turn, new_turn) in enumerate(
        zip(saved.turns, replayed.turns, strict=False), start=1
    ):
        found += _turn_mismatches(mismatch, number, old_turn, new_turn)
        last = number == len(saved.turns) == len(replayed.turns)
        if not last and not any(m.turn == number and m.field == "observation" for m in found):
            saved_message = _messages_of_turn(saved.messages, number)[0]
            replayed_message = _messages_of_turn(replayed.messages, number)[0]
            if saved_message[1] != replayed_message[1]:
                found.append(
                    mismatch(number, saved_message[0], saved_message[1], replayed_message[1])
                )
    if replayed.error is not None:
        found.append(mismatch(None, "replay", None, replayed.error))
        return found
    if len(saved.turns) != len(replayed.turns):
        found.append(mismatch(None, "turns", len(saved.turns), len(replayed.turns)))
    for field in EPISODE_FIELDS:
        old, new = getattr(saved, field), getattr(replayed, field)
        if not same_value(old, new):
            found.append(mismatch(None, field, old, new))
    return found


def _turn_mismatches(
    mismatch: Callable[[int, str, Any, Any], Mismatch],
    number: int,
    old: TurnRecord,
    new: TurnRecord,
) -> list[Mismatch]:
    found = []
    for field in TURN_FIELDS:
        if not same_value(getattr(old, field), getattr(new, field)):
            found.append(mismatch(number, field, getattr(old, field), getattr(new, field)))
    for key in sorted(old.info.keys() | new.info.keys()):
        if not same_value(old.info.get(key), new.info.get(key)):
            found.append(mismatch(number, f"info[{key!r}]", old.info.get(key), new.info.get(key)))
    return found


def saved_rows(run_dir: Path) -> Iterator[tuple[int, EpisodeRecord]]:
    """``(row, record)`` of a run folder's results, rows numbered as ``llm-gym show`` does."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: RUN_DIR must be an `llm-gym eval` run folder")
    return enumerate(read_records(path))


@dataclass
class ReplayReport:
    """What a replay of a run folder found."""

    rows: int
    skipped_failed_rows: int
    mismatches: list[Mismatch]

    @property
    def rows_with_mismatches(self) -> int:
        return len({m.row for m in self.mismatches})

    @property
    def matches(self) -> bool:
        return not self.mismatches


def replay_run(run_dir: Path) -> ReplayReport:
    """Replay every finished row of a run folder (rows that failed are skipped)."""

    async def replay_all() -> ReplayReport:
        report = ReplayReport(0, 0, [])
        for row, saved in saved_rows(run_dir):
            if saved.error is not None:
                report.skipped_failed_rows += 1
                continue
            report.rows += 1
            report.mismatches += compare_records(saved, await restep_async(saved), row=row)
        return report

    return run_sync(replay_all())

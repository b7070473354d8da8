"""A policy that answers from the conversations saved in a run folder: no model calls.

An exact evaluation (``llm-gym eval --exact -o DIR``) saves every game of a greedy policy's tree,
so ``recorded:DIR`` replays that policy's replies for any later walk over the same tree: DAgger
(``llm-gym dagger --student recorded:DIR``) judges the student without generating again.

A run played with ``--context last`` (:mod:`adapters.context`) is replayed in that context: its
replies answer the visible part of each conversation, so positions reached by other histories
find them too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from adapters.context import DEFAULT_CONTEXT, Context, check_context
from adapters.evaluation import METADATA_FILE, RESULTS_FILE
from adapters.exact import decision_key
from adapters.policies.base import PolicyReply
from adapters.records import Message, read_records

RECORDED_PREFIX = "recorded:"


class ConversationNotRecordedError(LookupError):
    """The run folder holds no reply to this conversation."""


class RecordedChatPolicy:
    """Replies with what the recorded policy answered to the same conversation.

    Args:
        run_dir: a run folder (or its ``results.jsonl``) written by ``llm-gym eval``.
        context: the context the replies are wanted for; ``None``: the run's own
            (:func:`recorded_context`). Conversations are matched on what that context shows.

    Raises:
        FileNotFoundError: no results file there.
        ValueError: the results hold no reply at all, or ``context`` is not the run's.
    """

    def __init__(self, run_dir: str | Path, context: Context | None = None):
        path = Path(run_dir)
        results = path / RESULTS_FILE if path.is_dir() else path
        if not results.is_file():
            raise FileNotFoundError(f"no {RESULTS_FILE} in {run_dir}: record a run with -o first")
        self.context = recorded_context(results.parent)
        if context is not None and check_context(context) != self.context:
            raise ValueError(
                f"{run_dir} was recorded with context {self.context!r}, not {context!r}: its "
                f"replies answer another view of the conversation (use --context {self.context})"
            )
        self._replies: dict[str, Message] = {}
        policies = set()
        for record in read_records(results):
            policies.add(record.policy)
            for index, message in enumerate(record.messages):
                if message.get("role") == "assistant":
                    key = decision_key(record.messages[:index], self.context)
                    self._replies.setdefault(key, message)
        if not self._replies:
            raise ValueError(f"{results} holds no reply to replay")
        self.name = f"{RECORDED_PREFIX}{', '.join(sorted(policies))}"

    def __len__(self) -> int:
        return len(self._replies)

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        message = self._replies.get(decision_key(messages, self.context))
        if message is None:
            raise ConversationNotRecordedError(
                f"the recorded run has no reply to this {len(messages)}-message conversation"
            )
        return PolicyReply(text=str(message.get("content") or ""), message=dict(message))


def recorded_context(run_dir: str | Path) -> Context:
    """The context a run folder was played with (its ``metadata.json``; ``"full"`` for runs
    without one or from before the option)."""
    meta = Path(run_dir) / METADATA_FILE
    if not meta.is_file():
        return DEFAULT_CONTEXT
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        return DEFAULT_CONTEXT
    value = data.get("context", DEFAULT_CONTEXT) if isinstance(data, dict) else DEFAULT_CONTEXT
    return check_context(value)

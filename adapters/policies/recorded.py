"""A policy that answers from the conversations saved in a run folder: no model calls.

An exact evaluation (``llm-gym eval --exact -o DIR``) saves every game of a greedy policy's tree,
so ``recorded:DIR`` replays that policy's replies for any later walk over the same tree: DAgger
(``llm-gym dagger --student recorded:DIR``) judges the student without generating again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from adapters.evaluation import RESULTS_FILE
from adapters.exact import conversation_key
from adapters.policies.base import PolicyReply
from adapters.records import Message, read_records

RECORDED_PREFIX = "recorded:"


class ConversationNotRecordedError(LookupError):
    """The run folder holds no reply to this conversation."""


class RecordedChatPolicy:
    """Replies with what the recorded policy answered to the same conversation.

    Args:
        run_dir: a run folder (or its ``results.jsonl``) written by ``llm-gym eval``.

    Raises:
        FileNotFoundError: no results file there.
        ValueError: the results hold no reply at all.
    """

    def __init__(self, run_dir: str | Path):
        path = Path(run_dir)
        results = path / RESULTS_FILE if path.is_dir() else path
        if not results.is_file():
            raise FileNotFoundError(f"no {RESULTS_FILE} in {run_dir}: record a run with -o first")
        self._replies: dict[str, Message] = {}
        policies = set()
        for record in read_records(results):
            policies.add(record.policy)
            for index, message in enumerate(record.messages):
                if message.get("role") == "assistant":
                    self._replies.setdefault(conversation_key(record.messages[:index]), message)
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
        message = self._replies.get(conversation_key(messages))
        if message is None:
            raise ConversationNotRecordedError(
                f"the recorded run has no reply to this {len(messages)}-message conversation"
            )
        return PolicyReply(text=str(message.get("content") or ""), message=dict(message))

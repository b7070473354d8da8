"""The chat-policy interface every model backend implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from adapters.records import Message


@dataclass
class PolicyReply:
    """A policy's answer to a chat.

    Attributes:
        text: the reply as the env reads it (the env's text protocol, tags and all).
        message: the assistant message to append to the chat; defaults to
            ``{"role": "assistant", "content": text}``. Backends with native tool calls put the
            ``tool_calls`` they received here, so the next request replays them faithfully.
        prompt_tokens, completion_tokens: token counts when the backend knows them.
    """

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    message: Message | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def assistant_message(self) -> Message:
        return self.message or {"role": "assistant", "content": self.text}


@runtime_checkable
class ChatPolicy(Protocol):
    """Replies to a chat. Implementations must be safe to call concurrently from one event loop.

    ``info`` is the env's newest info dict; model-backed policies ignore it, scripted ones read
    structured state from it. ``tools`` are OpenAI-format tool schemas when the env offers tools.
    ``messages`` is the whole conversation; a policy that shows its model only part of it
    (:class:`adapters.context.ContextPolicy`) says which in a ``context`` attribute.
    """

    name: str

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply: ...

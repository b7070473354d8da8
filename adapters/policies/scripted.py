"""Scripted llm_gym policies behind the chat-policy interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.policies.base import PolicyReply
from adapters.records import Message
from llm_gym.policies import ScriptedPolicy, make_scripted_policy


class ScriptedChatPolicy:
    """Runs a scripted text policy (random, optimal, oracle, ...) as a chat policy."""

    def __init__(self, policy: ScriptedPolicy, name: str):
        self.policy = policy
        self.name = name

    @classmethod
    def for_env(cls, env_id: str, policy_name: str, **kwargs: Any) -> ScriptedChatPolicy:
        return cls(make_scripted_policy(env_id, policy_name, **kwargs), f"scripted:{policy_name}")

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        observation = str(messages[-1].get("content", "")) if messages else ""
        return PolicyReply(text=self.policy(observation, info or {}))

"""Chat policies: OpenAI-compatible endpoints, local transformers models, scripted players."""

from adapters.policies.base import ChatPolicy, PolicyReply
from adapters.policies.scripted import ScriptedChatPolicy

__all__ = ["ChatPolicy", "PolicyReply", "ScriptedChatPolicy"]

"""What a model is shown of the conversation at each turn: its *context*.

- ``"full"`` (the default): the whole conversation so far: the system prompt, every
  observation and every earlier reply.
- ``"last"``: the system message(s) at the start of the conversation and every message after
  the model's last reply (the env's latest turn). Only for envs whose card declares
  ``state_in_observation`` (:class:`llm_gym.EnvCard`): tic-tac-toe's latest observation holds the
  board, the side, the legal moves and the last two moves, so the earlier turns add nothing but
  prompt length (a per-position training row of tic-tac-toe is 2.35x shorter).

The episode records always keep the whole conversation; only what the policy is asked changes
(:class:`ContextPolicy`). A model must be trained and evaluated with the same context.

>>> chat = [
...     {"role": "system", "content": "Play."},
...     {"role": "user", "content": "board 1"},
...     {"role": "assistant", "content": "<move>4</move>"},
...     {"role": "user", "content": "board 2"},
... ]
>>> [m["content"] for m in visible_messages(chat, "last")]
['Play.', 'board 2']
>>> len(visible_messages(chat, "full"))
4
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

from adapters.records import Message

if TYPE_CHECKING:
    from adapters.policies.base import ChatPolicy, PolicyReply

Context = Literal["full", "last"]
CONTEXTS: tuple[Context, ...] = get_args(Context)
DEFAULT_CONTEXT: Context = "full"
CARD_FIELD = "state_in_observation"


def visible_messages(messages: Sequence[Message], context: Context) -> list[Message]:
    """The messages a model is shown under ``context`` (a new list; the messages themselves are
    shared).

    ``"last"`` keeps the leading system messages and everything after the last assistant
    message (the env's latest user or tool messages); with no assistant message yet, that is the
    whole conversation.

    Raises:
        ValueError: an unknown context.
    """
    check_context(context)
    if context == "full":
        return list(messages)
    last_reply = max(
        (index for index, message in enumerate(messages) if message.get("role") == "assistant"),
        default=-1,
    )
    if last_reply < 0:
        return list(messages)
    system = 0
    while system < len(messages) and messages[system].get("role") == "system":
        system += 1
    return [*messages[:system], *messages[last_reply + 1 :]]


def check_context(context: str, env_id: str | None = None) -> Context:
    """``context`` if it is one of :data:`CONTEXTS` and, given ``env_id``, the env allows it.

    Raises:
        ValueError: an unknown context, or ``"last"`` for an env whose card does not declare
            ``state_in_observation`` (the message names the env and the card field).
        gymnasium.error.Error: ``env_id`` is not registered (only asked for ``"last"``).
    """
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, got {context!r}")
    if context != DEFAULT_CONTEXT and env_id is not None:
        from llm_gym.envs.describe import describe

        if not getattr(describe(env_id).card, CARD_FIELD):
            raise ValueError(
                f"{env_id} cannot be played with context {context!r}: its card (EnvCard) does "
                f"not set {CARD_FIELD}=True, so its observations do not hold the whole state "
                f"and the model needs the conversation so far; use context 'full'"
            )
    return context  # type: ignore[return-value]


def context_of(policy: Any) -> Context:
    """The context ``policy`` shows its model: its ``context`` attribute, else ``"full"``.

    :class:`ContextPolicy`, and the wrappers that key replies by conversation
    (:class:`~adapters.exact.MemoPolicy`, :class:`~adapters.training.sft_data.InfoRecorder`,
    :class:`~adapters.policies.recorded.RecordedChatPolicy`), declare it.
    """
    return check_context(getattr(policy, "context", DEFAULT_CONTEXT))


class ContextPolicy:
    """Asks ``policy`` with :func:`visible_messages` of each chat instead of the whole chat.

    The caller's chat (and so the episode record) is left whole. ``name`` is the wrapped
    policy's, so records and reports name the model, not the view.
    """

    def __init__(self, policy: ChatPolicy, context: Context):
        self.policy = policy
        self.context = check_context(context)
        self.name = policy.name

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        return await self.policy.reply(
            visible_messages(messages, self.context), tools=tools, info=info
        )

    async def aclose(self) -> None:
        close = getattr(self.policy, "aclose", None)
        if close is not None:
            await close()


def with_context(policy: ChatPolicy, context: Context | None) -> ChatPolicy:
    """``policy`` showing its model ``context`` (``None``: as it is).

    A policy that already shows ``context`` comes back unchanged, so wrapping twice is harmless.

    Raises:
        ValueError: an unknown context, or a policy that already shows another context than
            the whole conversation.
    """
    if context is None:
        return policy
    context = check_context(context)
    current = context_of(policy)
    if current == context:
        return policy
    if current != DEFAULT_CONTEXT:
        raise ValueError(
            f"{policy.name} already sees context {current!r}; cannot show it {context!r}"
        )
    return ContextPolicy(policy, context)

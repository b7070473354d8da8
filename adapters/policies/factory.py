"""One place that turns command-line choices into a chat policy.

- ``--base-url URL --model NAME``: an OpenAI-compatible endpoint.
- ``--model scripted:NAME``: a scripted player of the env (``random``, ``optimal``, ``oracle``...).
- ``--model recorded:RUN_DIR``: the replies saved in a run folder (no model calls).
- ``--model PATH_OR_ID`` (default: the embedded SmolLM2-135M-Instruct): a local transformers model.

>>> make_policy(PolicySpec(model="scripted:optimal"), env_id="LLMTicTacToe-v0").name
'scripted:optimal'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.context import DEFAULT_CONTEXT, Context, check_context, with_context
from adapters.models import EMBEDDED_MODEL
from adapters.policies.base import ChatPolicy
from adapters.policies.defaults import (
    DEFAULT_API_KEY_VAR,
    LOCAL_BATCH_SIZE,
    LOCAL_MAX_NEW_TOKENS,
    LOCAL_TEMPERATURE,
    LOCAL_TOP_P,
    MAX_CONCURRENCY,
    MAX_RETRIES,
    REQUEST_TIMEOUT_S,
)
from adapters.policies.openai_compat import RetryPolicy, SamplingArgs

SCRIPTED_PREFIX = "scripted:"
RECORDED_PREFIX = "recorded:"


@dataclass(frozen=True)
class PolicySpec:
    """What a command asked for; :meth:`as_dict` goes into ``metadata.json``.

    ``max_tokens`` of ``sampling`` also bounds local generation; a local model samples with
    ``temperature`` and ``top_p`` (unset: the local defaults of :mod:`adapters.policies.defaults`).
    ``context`` is what the policy is shown of each chat (:mod:`adapters.context`); the run
    metadata records it apart from :meth:`as_dict`.
    """

    model: str = EMBEDDED_MODEL
    base_url: str | None = None
    api_key_var: str = DEFAULT_API_KEY_VAR
    sampling: SamplingArgs = field(default_factory=SamplingArgs)
    max_concurrency: int = MAX_CONCURRENCY
    timeout: float = REQUEST_TIMEOUT_S
    max_retries: int = MAX_RETRIES
    native_tools: bool = True
    local_batch_size: int = LOCAL_BATCH_SIZE
    seed: int = 0
    context: Context = DEFAULT_CONTEXT

    def __post_init__(self) -> None:
        check_context(self.context)

    @property
    def kind(self) -> str:
        if self.base_url:
            return "openai"
        if self.model.startswith(SCRIPTED_PREFIX):
            return "scripted"
        if self.model.startswith(RECORDED_PREFIX):
            return "recorded"
        return "local"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "model": self.model}
        if self.kind == "openai":
            data.update(
                base_url=self.base_url,
                api_key_var=self.api_key_var,
                native_tools=self.native_tools,
            )
        if self.kind not in ("scripted", "recorded"):
            data["sampling"] = self.sampling.as_dict()
        return data


def make_policy(
    spec: PolicySpec, *, env_id: str, scripted_kwargs: Mapping[str, Any] | None = None
) -> ChatPolicy:
    """Build the policy ``spec`` describes for episodes of ``env_id``, shown ``spec.context``
    (:func:`adapters.context.with_context`).

    Raises:
        ValueError: unknown scripted player, no API key for the OpenAI API, a context the env's
            card does not allow (checked before any model loads), or a recorded run of another
            context.
        ImportError: a local model without the ``local`` extra installed.
    """
    check_context(spec.context, env_id)
    return with_context(
        _make_policy(spec, env_id=env_id, scripted_kwargs=scripted_kwargs), spec.context
    )


def _make_policy(
    spec: PolicySpec, *, env_id: str, scripted_kwargs: Mapping[str, Any] | None = None
) -> ChatPolicy:
    if spec.kind == "openai":
        from adapters.policies.openai_compat import OpenAICompatiblePolicy

        return OpenAICompatiblePolicy(
            spec.model,
            base_url=spec.base_url,
            api_key_var=spec.api_key_var,
            sampling=spec.sampling,
            max_concurrency=spec.max_concurrency,
            timeout=spec.timeout,
            retry=RetryPolicy(max_retries=spec.max_retries),
            native_tools=spec.native_tools,
            seed=spec.seed,
        )
    if spec.kind == "scripted":
        from adapters.policies.scripted import ScriptedChatPolicy

        name = spec.model[len(SCRIPTED_PREFIX) :]
        return ScriptedChatPolicy.for_env(env_id, name, **dict(scripted_kwargs or {}))
    if spec.kind == "recorded":
        from adapters.policies.recorded import RecordedChatPolicy

        return RecordedChatPolicy(spec.model[len(RECORDED_PREFIX) :], context=spec.context)
    from adapters.policies.local import LocalChatPolicy

    sampling = spec.sampling
    return LocalChatPolicy(
        spec.model,
        max_new_tokens=sampling.max_tokens or LOCAL_MAX_NEW_TOKENS,
        temperature=LOCAL_TEMPERATURE if sampling.temperature is None else sampling.temperature,
        top_p=LOCAL_TOP_P if sampling.top_p is None else sampling.top_p,
        max_batch_size=spec.local_batch_size,
        seed=spec.seed if sampling.seed is None else sampling.seed,
    )


async def close_policy(policy: ChatPolicy) -> None:
    """Release a policy's connections or worker tasks, if it has any."""
    close = getattr(policy, "aclose", None)
    if close is not None:
        await close()

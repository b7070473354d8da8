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

from adapters.models import EMBEDDED_MODEL
from adapters.policies.base import ChatPolicy
from adapters.policies.openai_compat import DEFAULT_API_KEY_VAR, RetryPolicy, SamplingArgs

SCRIPTED_PREFIX = "scripted:"
RECORDED_PREFIX = "recorded:"


@dataclass(frozen=True)
class PolicySpec:
    """What a command asked for; :meth:`as_dict` goes into ``metadata.json``.

    ``max_tokens`` of ``sampling`` also bounds local generation; a local model samples with
    ``temperature`` (default 0.7) and ``top_p`` (default 1.0).
    """

    model: str = EMBEDDED_MODEL
    base_url: str | None = None
    api_key_var: str = DEFAULT_API_KEY_VAR
    sampling: SamplingArgs = field(default_factory=SamplingArgs)
    max_concurrency: int = 32
    timeout: float = 120.0
    max_retries: int = 6
    native_tools: bool = True
    local_batch_size: int = 16
    seed: int = 0

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
    """Build the policy ``spec`` describes for episodes of ``env_id``.

    Raises:
        ValueError: unknown scripted player, or no API key for the OpenAI API.
        ImportError: a local model without the ``local`` extra installed.
    """
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

        return RecordedChatPolicy(spec.model[len(RECORDED_PREFIX) :])
    from adapters.policies.local import LocalChatPolicy

    sampling = spec.sampling
    return LocalChatPolicy(
        spec.model,
        max_new_tokens=sampling.max_tokens or 128,
        temperature=0.7 if sampling.temperature is None else sampling.temperature,
        top_p=1.0 if sampling.top_p is None else sampling.top_p,
        max_batch_size=spec.local_batch_size,
        seed=spec.seed if sampling.seed is None else sampling.seed,
    )


async def close_policy(policy: ChatPolicy) -> None:
    """Release a policy's connections or worker tasks, if it has any."""
    close = getattr(policy, "aclose", None)
    if close is not None:
        await close()

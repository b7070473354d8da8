"""Teacher policies for synthetic data, built by the CLI's policy factory."""

from __future__ import annotations

from adapters.policies.base import ChatPolicy


def make_teacher(
    env_id: str,
    spec: str,
    *,
    base_url: str | None = None,
    seed: int = 0,
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> ChatPolicy:
    """A teacher from a model spec, as ``llm-gym eval --model`` reads it.

    ``scripted:optimal`` is tic-tac-toe's offline teacher (a perfect player that writes short
    reasoning); a checkpoint folder, Hugging Face id or the embedded model's name gives a local
    model; with ``base_url``, ``spec`` is the model name at an OpenAI-compatible endpoint.
    """
    from adapters.policies.factory import PolicySpec, make_policy
    from adapters.policies.openai_compat import SamplingArgs

    sampling = SamplingArgs(temperature=temperature, max_tokens=max_tokens)
    policy_spec = PolicySpec(model=spec, base_url=base_url, sampling=sampling, seed=seed)
    scripted_kwargs = {"seed": seed} if policy_spec.kind == "scripted" else None
    return make_policy(policy_spec, env_id=env_id, scripted_kwargs=scripted_kwargs)

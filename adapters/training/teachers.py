"""Teacher policies for synthetic data, built by the CLI's policy factory."""

from __future__ import annotations

from adapters.context import DEFAULT_CONTEXT, Context
from adapters.policies.base import ChatPolicy
from llm_gym.envs.describe import describe


def default_teacher(env_id: str) -> str:
    """The model spec of the env's default teacher (``scripted:NAME``, declared in its card).

    Raises:
        ValueError: the env declares no teacher and has not exactly one scripted player.
    """
    from adapters.policies.factory import SCRIPTED_PREFIX

    description = describe(env_id)
    name = description.teacher()
    if name is None:
        players = ", ".join(description.scripted_players) or "none"
        raise ValueError(
            f"{env_id} declares no default teacher (scripted players: {players}); "
            "name one, e.g. --teacher scripted:NAME or a model"
        )
    return f"{SCRIPTED_PREFIX}{name}"


def make_teacher(
    env_id: str,
    spec: str | None = None,
    *,
    base_url: str | None = None,
    seed: int = 0,
    temperature: float | None = None,
    max_tokens: int | None = None,
    context: Context = DEFAULT_CONTEXT,
) -> ChatPolicy:
    """A teacher from a model spec, as ``llm-gym eval --model`` reads it, shown ``context``
    (:mod:`adapters.context`).

    ``None`` (or a bare ``scripted:``) is the env's declared teacher (:func:`default_teacher`,
    e.g. tic-tac-toe's ``scripted:optimal``, a perfect player that writes short reasoning); a
    checkpoint folder, Hugging Face id or the embedded model's name gives a local model; with
    ``base_url``, ``spec`` is the model name at an OpenAI-compatible endpoint.
    """
    from adapters.policies.factory import SCRIPTED_PREFIX, PolicySpec, make_policy
    from adapters.policies.openai_compat import SamplingArgs

    if spec is None or (base_url is None and spec == SCRIPTED_PREFIX):
        spec = default_teacher(env_id)
    sampling = SamplingArgs(temperature=temperature, max_tokens=max_tokens)
    policy_spec = PolicySpec(
        model=spec, base_url=base_url, sampling=sampling, seed=seed, context=context
    )
    scripted_kwargs = {"seed": seed} if policy_spec.kind == "scripted" else None
    return make_policy(policy_spec, env_id=env_id, scripted_kwargs=scripted_kwargs)

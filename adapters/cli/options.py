"""The options that pick and sample a model (and train LoRA adapters), declared once for every
command that takes one.

Each alias fixes an option's names, short flag, bounds and help; a command gives the default as
its parameter's default, which is the same everywhere except where the alias' help says
otherwise (the request limits always come from :mod:`adapters.policies.defaults`).
:func:`policy_spec` turns the parsed values into the
:class:`~adapters.policies.factory.PolicySpec` a command builds its policy from.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer

from adapters.context import DEFAULT_CONTEXT, Context
from adapters.models import EMBEDDED_MODEL, shipped_model_names
from adapters.policies.defaults import (
    DEFAULT_API_KEY_VAR,
    LOCAL_MAX_NEW_TOKENS,
    LOCAL_TEMPERATURE,
    LOCAL_TOP_P,
    MAX_CONCURRENCY,
    MAX_RETRIES,
    REQUEST_TIMEOUT_S,
)
from adapters.training.lora_options import DEFAULT_LORA_TARGETS, LoraOptions

if TYPE_CHECKING:
    from adapters.policies.factory import PolicySpec


def model_specs(base_url_flag: str = "--base-url") -> str:
    """The model specs every model-taking option accepts (see :mod:`adapters.policies.factory`)."""
    shipped = "".join(f"'{name}' (shipped, trained), " for name in shipped_model_names())
    return (
        f"'{EMBEDDED_MODEL}' (embedded), {shipped}a local checkpoint or LoRA adapter folder or "
        f"Hugging Face id, 'scripted:NAME' (e.g. scripted:optimal), or the model name served at "
        f"{base_url_flag}"
    )


MODEL_SPECS = model_specs()

ModelOption = Annotated[str, typer.Option("--model", "-m", help=f"The model: {MODEL_SPECS}.")]
TeacherOption = Annotated[
    str | None,
    typer.Option(
        "--teacher",
        help="Writes the replies to learn from: the env's declared teacher (default; "
        "scripted:optimal for tic-tac-toe), or another model: "
        f"{model_specs('--base-url (sft-data only)')}.",
    ),
]
StudentOption = Annotated[
    str, typer.Option("--student", help=f"The policy to correct: {MODEL_SPECS}.")
]
BaseModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help=f"Base model to fine-tune: a local checkpoint folder or Hugging Face id (default: "
        f"the embedded {EMBEDDED_MODEL}).",
    ),
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        "-b",
        help="OpenAI-compatible endpoint serving the model (dagger: the student), e.g. "
        "http://127.0.0.1:8080/v1.",
    ),
]
ApiKeyVarOption = Annotated[
    str,
    typer.Option(
        "--api-key-var", "-k", help="Environment variable holding the endpoint's API key."
    ),
]
TemperatureOption = Annotated[
    float | None,
    typer.Option(
        "--temperature",
        "-t",
        min=0.0,
        help=f"Sampling temperature (unset: the server's default; a local model's is "
        f"{LOCAL_TEMPERATURE:g}).",
    ),
]
TopPOption = Annotated[
    float | None,
    typer.Option(
        "--top-p",
        min=0.0,
        max=1.0,
        help=f"Nucleus sampling (unset: the server's default; a local model's is {LOCAL_TOP_P}).",
    ),
]
MaxTokensOption = Annotated[
    int | None,
    typer.Option(
        "--max-tokens",
        min=1,
        help=f"Tokens per reply (unset: what the model's folder declares in llm_gym.json, else "
        f"the server's limit; a local model's is {LOCAL_MAX_NEW_TOKENS}, 64 in play).",
    ),
]
ExtraBodyOption = Annotated[
    str | None,
    typer.Option("--extra-body", help="JSON object added to each request, e.g. '{\"top_k\": 20}'."),
]
NativeToolsOption = Annotated[
    bool,
    typer.Option("--native-tools/--text-tools", help="Send env tools natively or as text only."),
]
TimeoutOption = Annotated[
    float,
    typer.Option("--timeout", min=0.1, help="Seconds per request attempt, for the whole response."),
]
MaxRetriesOption = Annotated[
    int,
    typer.Option(
        "--max-retries",
        min=0,
        help="Retries of a request after a rate limit, server error, timeout or lost connection.",
    ),
]
ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", "-c", min=1, help="Episodes (games) in flight.")
]
LoraOption = Annotated[
    bool,
    typer.Option(
        "--lora",
        help="Train LoRA adapters, then merge them into the saved model (the adapter itself is "
        "kept in OUTPUT_DIR/adapter).",
    ),
]
LoraRankOption = Annotated[int, typer.Option("--lora-rank", "--lora-r", min=1, help="LoRA rank.")]
LoraAlphaOption = Annotated[
    int, typer.Option("--lora-alpha", min=1, help="LoRA alpha (the update is scaled by alpha/r).")
]
LoraDropoutOption = Annotated[
    float, typer.Option("--lora-dropout", min=0.0, max=1.0, help="Dropout on the LoRA input.")
]
LoraTopLayersOption = Annotated[
    int | None,
    typer.Option(
        "--lora-top-layers",
        min=1,
        help="Adapters in the last N transformer layers only (default: every layer); the "
        "backward pass stops below them, so a step is faster (about 1.7x on CPU with 10 of 30).",
    ),
]
LoraTargetsOption = Annotated[
    str | None,
    typer.Option(
        "--lora-targets",
        help="Comma-separated module names, or all-linear (default: every attention and MLP "
        "projection).",
    ),
]
SeedOption = Annotated[
    int,
    typer.Option("--seed", help="Episode (game) e is reset with seed + e; also seeds sampling."),
]
ContextOption = Annotated[
    Context,
    typer.Option(
        "--context",
        help="What the model is shown each turn: full (the whole conversation) or last (the "
        "system prompt and the env's latest message: shorter prompts, for envs whose card sets "
        "state_in_observation, e.g. LLMTicTacToe-v0). Train and evaluate a model with the same "
        "context.",
    ),
]
ModelContextOption = Annotated[
    Context | None,
    typer.Option(
        "--context",
        help="What the model is shown each turn: full (the whole conversation) or last (the "
        "system prompt and the env's latest message, for envs whose card sets "
        "state_in_observation, e.g. LLMTicTacToe-v0). Default: what the model's folder declares "
        "in llm_gym.json (train-sft writes it; the shipped models have it), else full.",
    ),
]


def policy_spec(
    model: str,
    *,
    base_url: str | None = None,
    api_key_var: str = DEFAULT_API_KEY_VAR,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    extra_body: str | None = None,
    concurrency: int = MAX_CONCURRENCY,
    timeout: float = REQUEST_TIMEOUT_S,
    max_retries: int = MAX_RETRIES,
    native_tools: bool = True,
    seed: int = 0,
    context: Context = DEFAULT_CONTEXT,
) -> PolicySpec:
    """The :class:`~adapters.policies.factory.PolicySpec` of the model options.

    ``concurrency`` bounds the requests in flight and a local model's batch.

    Raises:
        typer.BadParameter: ``extra_body`` is not a JSON object.
    """
    from adapters.policies.factory import PolicySpec
    from adapters.policies.openai_compat import SamplingArgs

    return PolicySpec(
        model=model,
        base_url=base_url,
        api_key_var=api_key_var,
        sampling=SamplingArgs(
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            extra_body=_json_object(extra_body),
        ),
        max_concurrency=concurrency,
        timeout=timeout,
        max_retries=max_retries,
        native_tools=native_tools,
        local_batch_size=max(1, concurrency),
        seed=seed,
        context=context,
    )


def checked_context(env_id: str, context: Context) -> Context:
    """``context`` if ``env_id``'s card allows it (:func:`adapters.context.check_context`).

    Raises:
        typer.BadParameter: ``"last"`` for an env whose observations do not hold the whole
            state, or an env that cannot be described.
    """
    from adapters.cli.eval import gym_errors
    from adapters.context import check_context

    try:
        return check_context(context, env_id)
    except (ValueError, *gym_errors()) as error:
        raise typer.BadParameter(str(error), param_hint="--context") from error


def model_prompting(
    env_id: str,
    model: str,
    *,
    base_url: str | None,
    context: Context | None,
    max_tokens: int | None,
    fallback_max_tokens: int | None = None,
) -> tuple[Context, int | None]:
    """``--context`` and ``--max-tokens`` for playing ``model`` on ``env_id``: the options given,
    else what the model's folder declares (:mod:`adapters.prompting`), else the defaults; the
    context checked against the env's card (:func:`checked_context`).

    Raises:
        typer.BadParameter: the model's ``llm_gym.json`` is malformed, or the context does not
            suit the env.
    """
    from adapters.prompting import prompting_for

    try:
        context, max_tokens = prompting_for(
            model,
            base_url=base_url,
            context=context,
            max_tokens=max_tokens,
            fallback_context=DEFAULT_CONTEXT,
            fallback_max_tokens=fallback_max_tokens,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--model") from error
    return checked_context(env_id, context), max_tokens


def _json_object(text: str | None) -> dict:
    if not text:
        return {}
    try:
        body = json.loads(text)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"--extra-body is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise typer.BadParameter("--extra-body must be a JSON object")
    return body


def teacher_spec(env_id: str, teacher: str | None) -> str:
    """``teacher``, or the model spec of the env's declared teacher when none was given.

    Raises:
        typer.BadParameter: the env is unknown or declares no teacher.
    """
    if teacher is not None:
        return teacher
    from adapters.cli.eval import gym_errors
    from adapters.training.teachers import default_teacher

    try:
        return default_teacher(env_id)
    except (ValueError, *gym_errors()) as error:
        raise typer.BadParameter(str(error), param_hint="--teacher") from error


def with_help(alias: Any, help: str) -> Any:
    """``alias`` (an ``Annotated`` option above) with the same flags and bounds but its own help,
    for a command where the shared help would be wrong."""
    base, info = get_args(alias)
    own = copy.copy(info)
    own.help = help
    return Annotated[base, own]


def lora_options(
    use: bool,
    rank: int,
    alpha: int,
    dropout: float,
    targets: str | None,
    top_layers: int | None = None,
) -> LoraOptions | None:
    """The ``--lora*`` options as :class:`~adapters.training.lora_options.LoraOptions` (``None``
    without ``--lora``)."""
    if not use:
        return None
    modules = tuple(t.strip() for t in (targets or "").split(",") if t.strip())
    return LoraOptions(
        r=rank,
        alpha=alpha,
        dropout=dropout,
        target_modules=modules or DEFAULT_LORA_TARGETS,
        top_layers=top_layers,
    )

"""Every command that takes a model declares its model options through the one shared group
(:mod:`adapters.cli.options`), with the policy factory's defaults."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from adapters.cli import app, options
from adapters.policies import defaults
from adapters.policies.factory import PolicySpec
from adapters.policies.openai_compat import OpenAICompatiblePolicy, RetryPolicy

SHARED = {
    "eval": {
        "model": "ModelOption",
        "base_url": "BaseUrlOption",
        "api_key_var": "ApiKeyVarOption",
        "temperature": "TemperatureOption",
        "top_p": "TopPOption",
        "max_tokens": "MaxTokensOption",
        "extra_body": "ExtraBodyOption",
        "native_tools": "NativeToolsOption",
        "timeout": "TimeoutOption",
        "max_retries": "MaxRetriesOption",
        "concurrency": "ConcurrencyOption",
        "context": "ModelContextOption",
    },
    "match": {
        "api_key_var": "ApiKeyVarOption",
        "temperature": "TemperatureOption",
        "top_p": "TopPOption",
        "max_tokens": "MaxTokensOption",
        "timeout": "TimeoutOption",
        "max_retries": "MaxRetriesOption",
        "concurrency": "ConcurrencyOption",
        "seed": "SeedOption",
        "context": "ModelContextOption",
    },
    "play": {
        "model": "ModelOption",
        "base_url": "BaseUrlOption",
        "api_key_var": "ApiKeyVarOption",
        "temperature": "TemperatureOption",
        "top_p": "TopPOption",
        "max_tokens": "MaxTokensOption",
        "timeout": "TimeoutOption",
        "max_retries": "MaxRetriesOption",
        "seed": "SeedOption",
        "context": "ModelContextOption",
    },
    "dagger": {
        "student": "StudentOption",
        "teacher": "TeacherOption",
        "base_url": "BaseUrlOption",
        "temperature": "TemperatureOption",
        "max_tokens": "MaxTokensOption",
        "concurrency": "ConcurrencyOption",
        "seed": "SeedOption",
        "context": "ModelContextOption",
    },
    "sft-data": {
        "teacher": "TeacherOption",
        "base_url": "BaseUrlOption",
        "temperature": "TemperatureOption",
        "max_tokens": "MaxTokensOption",
        "concurrency": "ConcurrencyOption",
        "seed": "SeedOption",
        "context": "ContextOption",
    },
    "train-sft": {"model": "BaseModelOption"},
    "train-grpo": {"model": "BaseModelOption"},
}
"""Command -> its parameters declared by a shared alias."""

OWN_DEFAULTS = {
    ("match", "concurrency"): 4,
    ("train-grpo", "temperature"): 1.0,
    ("train-grpo", "top_p"): 1.0,
    ("train-grpo-tools", "temperature"): 1.0,
}
"""Defaults a command keeps apart from the others (its help shows them); GRPO samples its
training episodes at temperature 1 to explore."""

OWN_OPTIONS = {
    ("train-grpo-tools", "model"): (
        "ModelOption",
        "required, and only a model whose chat template TRL parses tool calls from",
    ),
    ("train-grpo", "seed"): (
        "SeedOption",
        "an offset into the env card's training seeds, not episode e's seed + e",
    ),
    ("train-grpo-tools", "seed"): ("SeedOption", "seeds the trainer only, not the episodes"),
    **{
        (command, name): (alias, "always set (default 1.0), never the server's default")
        for command, name, alias in (
            ("train-grpo", "temperature", "TemperatureOption"),
            ("train-grpo", "top_p", "TopPOption"),
            ("train-grpo-tools", "temperature", "TemperatureOption"),
        )
    },
}
"""Model options a command declares itself, with the shared alias' flags but its own help, and
why the shared help would be wrong there."""

MODEL_FLAGS = ("--model", "--teacher", "--student", "--base-url")


@functools.cache
def commands() -> dict[str, Any]:
    return typer.main.get_command(app).commands


def params(command: Any) -> dict[str, Any]:
    return {param.name: param for param in command.params}


def reference(alias_name: str) -> Any:
    """The click parameter a one-option command declares with the alias."""

    def command(value=None) -> None:
        """Reference."""

    command.__annotations__ = {"value": getattr(options, alias_name), "return": None}
    single = typer.Typer()
    single.command()(command)
    return typer.main.get_command(single).params[0]


def shape(param: Any) -> tuple:
    """Names, help, bounds and value type (typer's own click keeps bounds on the parameter)."""
    kind = getattr(param, "type", param)
    bounds = (getattr(kind, "min", None), getattr(kind, "max", None))
    return (param.opts, param.secondary_opts, param.help, param.is_flag, bounds)


@pytest.mark.parametrize(
    ("command_name", "name", "alias"),
    [(c, n, a) for c, shared in SHARED.items() for n, a in shared.items()],
)
def test_commands_declare_model_options_through_the_shared_aliases(command_name, name, alias):
    param = params(commands()[command_name])[name]
    assert shape(param) == shape(reference(alias))


def test_shared_options_have_one_default_across_commands():
    by_alias: dict[str, dict[str, object]] = {}
    for command_name, shared in SHARED.items():
        command_params = params(commands()[command_name])
        for name, alias in shared.items():
            if (command_name, name) not in OWN_DEFAULTS:
                by_alias.setdefault(alias, {})[command_name] = command_params[name].default
    for command_name, name in OWN_DEFAULTS:
        assert params(commands()[command_name])[name].default == OWN_DEFAULTS[command_name, name]
    differing = {alias: seen for alias, seen in by_alias.items() if len(set(seen.values())) > 1}
    assert not differing


def test_model_option_defaults_are_the_policy_factorys():
    spec = PolicySpec()
    eval_params = params(commands()["eval"])
    assert eval_params["model"].default == spec.model
    assert eval_params["api_key_var"].default == spec.api_key_var
    assert eval_params["timeout"].default == spec.timeout == defaults.REQUEST_TIMEOUT_S
    assert eval_params["max_retries"].default == spec.max_retries == defaults.MAX_RETRIES
    assert params(commands()["train-sft"])["model"].default is None  # the embedded model
    built = options.policy_spec(spec.model)
    assert (built.timeout, built.max_retries, built.api_key_var, built.sampling) == (
        spec.timeout,
        spec.max_retries,
        spec.api_key_var,
        spec.sampling,
    )


def test_policies_read_the_same_defaults():
    signature = inspect.signature(OpenAICompatiblePolicy).parameters
    assert signature["timeout"].default == defaults.REQUEST_TIMEOUT_S
    assert signature["max_concurrency"].default == defaults.MAX_CONCURRENCY
    assert signature["api_key_var"].default == defaults.DEFAULT_API_KEY_VAR
    assert RetryPolicy().max_retries == defaults.MAX_RETRIES
    pytest.importorskip("torch")
    from adapters.policies.local import LocalChatPolicy

    local = inspect.signature(LocalChatPolicy).parameters
    assert local["max_new_tokens"].default == defaults.LOCAL_MAX_NEW_TOKENS
    assert local["temperature"].default == defaults.LOCAL_TEMPERATURE
    assert local["top_p"].default == defaults.LOCAL_TOP_P
    assert (
        local["max_batch_size"].default
        == defaults.LOCAL_BATCH_SIZE
        == PolicySpec().local_batch_size
    )


def test_every_model_taking_command_is_covered():
    taking = {
        name
        for name, command in commands().items()
        if any(opt.startswith(MODEL_FLAGS) for param in command.params for opt in param.opts)
    }
    assert taking == set(SHARED) | {command for command, _ in OWN_OPTIONS}


@pytest.mark.parametrize(("command_name", "name"), list(OWN_OPTIONS))
def test_own_model_options_keep_the_shared_flags(command_name, name):
    param = params(commands()[command_name])[name]
    shared = reference(OWN_OPTIONS[command_name, name][0])
    assert (param.opts, param.secondary_opts) == (shared.opts, shared.secondary_opts)
    assert param.help != shared.help


def test_context_is_offered_where_a_model_plays_and_not_by_grpo():
    """Text-mode GRPO trains a whole episode as one completion: it keeps the full context."""
    offering = {
        name
        for name, command in commands().items()
        if any("--context" in param.opts for param in command.params)
    }
    assert offering == {"eval", "match", "play", "dagger", "sft-data"}
    assert params(commands()["eval"])["context"].default is None  # the model's own, else full
    assert params(commands()["sft-data"])["context"].default == PolicySpec().context == "full"


def test_old_spellings_still_parse():
    eval_params = params(commands()["eval"])
    assert {"--model", "-m"} <= set(eval_params["model"].opts)
    assert {"--base-url", "-b"} <= set(eval_params["base_url"].opts)
    assert params(commands()["dagger"])["concurrency"].opts[0] == "--concurrency"
    assert "--lora-r" in params(commands()["train-sft"])["lora_r"].opts


def test_a_left_out_teacher_is_the_envs_declared_one():
    assert options.teacher_spec("LLMTicTacToe-v0", None) == "scripted:optimal"
    assert options.teacher_spec("LLMReverseText-v0", None) == "scripted:oracle"
    assert options.teacher_spec("LLMReverseText-v0", "runs/model") == "runs/model"
    result = CliRunner().invoke(app, ["sft-data", "Nope-v0", "-o", "unused.jsonl"])
    assert result.exit_code == 2 and "Nope-v0" in result.output

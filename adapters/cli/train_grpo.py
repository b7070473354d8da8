"""``llm-gym train-grpo`` (text mode) and ``llm-gym train-grpo-tools`` (tool mode).

Their options are the fields of :class:`~adapters.training.grpo.GRPORunConfig` and
:class:`~adapters.training.grpo_tools.ToolGRPORunConfig` (defaults and help written there, see
:mod:`adapters.cli.config_options`); the commands declare only what they turn into a field's
value: JSON text, strata names, the LoRA options and repeated settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from adapters.cli import app
from adapters.cli.config_options import config_options
from adapters.cli.options import (
    BaseModelOption,
    LoraAlphaOption,
    LoraDropoutOption,
    LoraOption,
    LoraRankOption,
    LoraTargetsOption,
    LoraTopLayersOption,
    TemperatureOption,
    TopPOption,
    lora_options,
    with_help,
)
from adapters.cli.train import _json_option, console
from adapters.training.grpo_settings import GRPORunConfig, ToolGRPORunConfig
from adapters.training.lora_options import LoraOptions

SAMPLING_OPTIONS = {
    "temperature": with_help(
        TemperatureOption, "Sampling temperature of the training episodes (1.0: explore)."
    ),
    "top_p": with_help(TopPOption, "Nucleus sampling of the training episodes (1.0: off)."),
}
"""GRPO fields declared by the shared model options: their flags, GRPO's defaults and help (the
shared help's "unset: the server's default" has no meaning here)."""


def training_strata(env_id: str, spec: str | None) -> dict[str, dict]:
    """The strata ``--strata`` names (:func:`~adapters.training.strata.resolve_strata`)."""
    from adapters.cli.eval import gym_errors
    from adapters.training.strata import resolve_strata

    try:
        return resolve_strata(env_id, spec)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--strata") from error
    except gym_errors() as error:
        raise typer.BadParameter(f"{env_id}: {error}", param_hint="ENV_ID") from error


@app.command("train-grpo")
@config_options(GRPORunConfig, shared={**SAMPLING_OPTIONS, "model": BaseModelOption})
def train_grpo_command(
    env_id: str = typer.Argument(..., help="A registered env id, e.g. LLMTicTacToe-v0."),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Checkpoints, model, plots."),
    env_kwargs: str | None = typer.Option(None, "--env-kwargs", help="JSON env arguments."),
    strata: str | None = typer.Option(
        None,
        "--strata",
        help="Difficulty strata, mixed equally in every batch: comma-separated names from the "
        "env's card (its strata or settings; llm_gym.describe(ENV_ID).card lists them), a JSON "
        "list of env-argument objects, or a JSON object name -> env arguments. Default: the "
        "card's training strata.",
    ),
    lora: LoraOption = False,
    lora_r: LoraRankOption = LoraOptions.r,
    lora_alpha: LoraAlphaOption = LoraOptions.alpha,
    lora_dropout: LoraDropoutOption = LoraOptions.dropout,
    lora_targets: LoraTargetsOption = None,
    lora_top_layers: LoraTopLayersOption = None,
    eval_setting: list[str] = typer.Option(
        [],
        "--eval-setting",
        help="A setting of the env's card to evaluate with --eval-steps; repeat (default: the "
        "card's default settings).",
    ),
    grpo_args: str | None = typer.Option(
        None, "--grpo-args", help="JSON of further GRPOConfig arguments, passed through."
    ),
    **settings: Any,
) -> None:
    """Multi-turn GRPO (TRL GRPOTrainer) on ENV_ID: one episode = one completion.

    Multi-GPU: launch with `accelerate launch --config_file ... $(which llm-gym) train-grpo ...`.
    """
    from adapters.cli.eval import opponent_setting
    from adapters.training.grpo import train_grpo

    strata_named = training_strata(env_id, strata)
    for name in eval_setting:
        opponent_setting(env_id, name)
    config = GRPORunConfig(
        env_id=env_id,
        output_dir=output_dir,
        env_kwargs=_json_option(env_kwargs, "--env-kwargs"),
        strata=strata_named,
        lora=lora_options(lora, lora_r, lora_alpha, lora_dropout, lora_targets, lora_top_layers),
        eval_settings=list(eval_setting) or None,
        extra_args=_json_option(grpo_args, "--grpo-args"),
        **settings,
    )
    try:
        result = train_grpo(config)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    last = result.last_log
    console.print(
        f"GRPO done: {result.steps} steps in {result.wall_time_s:.0f} s; last reward "
        f"{last.get('reward', float('nan')):.3f}"
    )
    for name, weight in zip(result.reward_names, result.reward_weights, strict=True):
        value = last.get(f"rewards/{name}/mean", float("nan"))
        console.print(f"  {name} (weight {weight:g}): {value:.3f}")
    console.print(f"model: {result.output_dir} (use --model {result.output_dir})")
    for name, path in result.plots.items():
        console.print(f"plot {name}: {path}")


@app.command("train-grpo-tools")
@config_options(ToolGRPORunConfig, shared=SAMPLING_OPTIONS)
def train_grpo_tools_command(
    env_ids: list[str] = typer.Argument(
        ..., help="One or more registered env ids; several are mixed in one run."
    ),
    model: str = typer.Option(
        ...,
        "--model",
        "-m",
        help="A checkpoint or HF id whose chat template TRL parses tool calls from (Qwen "
        "2.5/3, Llama 3.1/3.2, ...); SmolLM2 needs train-grpo (text mode).",
    ),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Model, plots, results."),
    env_kwargs: str | None = typer.Option(
        None, "--env-kwargs", help="JSON env arguments (with a single env id)."
    ),
    grpo_args: str | None = typer.Option(
        None, "--grpo-args", help="JSON of further GRPOConfig arguments, passed through."
    ),
    **settings: Any,
) -> None:
    """GRPO in tool mode (TRL environment_factory): the model plays ENV_IDS by calling tools."""
    from adapters.training.grpo_tools import train_grpo_tools

    config = ToolGRPORunConfig(
        env_ids=list(env_ids),
        output_dir=output_dir,
        model=model,
        env_kwargs=_json_option(env_kwargs, "--env-kwargs"),
        extra_args=_json_option(grpo_args, "--grpo-args"),
        **settings,
    )
    try:
        result = train_grpo_tools(config)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    last = result.last_log
    console.print(
        f"GRPO (tool mode) done: {result.steps} steps in {result.wall_time_s:.0f} s; last "
        f"reward {last.get('reward', float('nan')):.3f}, tool calls per episode "
        f"{last.get('tools/call_frequency', float('nan')):.2f}"
    )
    for name in result.reward_names:
        console.print(f"  {name}: {last.get(f'rewards/{name}/mean', float('nan')):.3f}")
    console.print(f"model: {result.output_dir}")

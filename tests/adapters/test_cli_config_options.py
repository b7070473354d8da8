"""The GRPO commands' options are the config dataclasses' fields: same names, flags, help and
defaults, written once on the field (adapters.config_fields, adapters.cli.config_options)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from adapters.cli import app
from adapters.cli.config_options import config_options
from adapters.config_fields import CliOption, option, option_fields, trl_setting, trl_settings
from adapters.training.grpo_settings import GRPORunConfig, GRPOSettings, ToolGRPORunConfig
from adapters.training.sft import LoraOptions, SFTRunConfig

LORA_PARAMS = ("lora", "lora_r", "lora_alpha", "lora_dropout", "lora_targets", "lora_top_layers")

CONVERTED = {
    "train-grpo": {
        "env_id": ("env_id",),
        "output_dir": ("output_dir",),
        "env_kwargs": ("env_kwargs",),
        "strata": ("strata",),
        "lora": LORA_PARAMS,
        "eval_settings": ("eval_setting",),
        "extra_args": ("grpo_args",),
    },
    "train-sft": {
        "data": ("data",),
        "output_dir": ("output_dir",),
        "lora": LORA_PARAMS,
        "assistant_only_loss": ("full_loss",),
        "resume_from_checkpoint": ("resume_from_checkpoint",),
    },
    "train-grpo-tools": {
        "env_ids": ("env_ids",),
        "output_dir": ("output_dir",),
        "model": ("model",),
        "env_kwargs": ("env_kwargs",),
        "extra_args": ("grpo_args",),
    },
}
"""Command -> field -> the command's own parameters it builds the field's value from."""

LIBRARY_ONLY = {
    "train-grpo": {"epsilon_high", "logging_steps"},
    "train-grpo-tools": set(),
    "train-sft": {"logging_steps", "eval_fraction", "extra_args"},
}
"""Fields the command line does not offer."""

SHARED_ALIASES = {
    "train-grpo": {"model", "temperature", "top_p"},
    "train-grpo-tools": {"temperature"},
    "train-sft": {"model"},
}
"""Option fields declared by a shared model-options alias (tests/adapters/test_cli_options.py)."""

CONFIGS = {
    "train-grpo": GRPORunConfig,
    "train-grpo-tools": ToolGRPORunConfig,
    "train-sft": SFTRunConfig,
}


@functools.cache
def command_params(command_name: str) -> dict[str, Any]:
    command = typer.main.get_command(app).commands[command_name]
    return {param.name: param for param in command.params}


def field_defaults(config_type: type) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(config_type)}


@pytest.mark.parametrize("command_name", list(CONFIGS))
def test_every_field_is_an_option_with_the_dataclass_default(command_name):
    config_type = CONFIGS[command_name]
    params = command_params(command_name)
    options = option_fields(config_type)
    defaults = field_defaults(config_type)
    converted = CONVERTED[command_name]
    assert set(defaults) == set(options) | set(converted) | LIBRARY_ONLY[command_name]
    for name in set(options) - set(converted):
        assert params[name].default == defaults[name], name
        if name not in SHARED_ALIASES[command_name]:
            spec = options[name]
            flags = spec.flags or (f"--{name.replace('_', '-')}",)
            declared = [*params[name].opts]
            if params[name].secondary_opts:
                declared = ["/".join([declared[0], *params[name].secondary_opts])]
            assert declared == list(flags), name
            assert params[name].help == spec.help, name
    for own in converted.values():
        assert set(own) <= set(params)
    assert not LIBRARY_ONLY[command_name] & set(params)


@pytest.mark.parametrize("command_name", list(CONFIGS))
def test_the_command_declares_nothing_beyond_the_fields(command_name):
    own = {name for names in CONVERTED[command_name].values() for name in names}
    options = set(option_fields(CONFIGS[command_name]))
    assert set(command_params(command_name)) == options | own


def test_both_modes_share_the_common_settings():
    shared = {f.name for f in dataclasses.fields(GRPOSettings)}
    for config_type in (GRPORunConfig, ToolGRPORunConfig):
        fields = {f.name: f for f in dataclasses.fields(config_type)}
        for name in shared:
            assert fields[name] is GRPOSettings.__dataclass_fields__[name]
    assert command_params("train-grpo")["num_generations"].opts == ["--num-generations", "-g"]
    assert command_params("train-grpo-tools")["learning_rate"].opts == ["--learning-rate", "--lr"]


@pytest.mark.parametrize("command", ["train-sft", "train-grpo"])
def test_lora_options_are_the_shared_ones_with_lora_options_defaults(command):
    params = command_params(command)
    lora = LoraOptions()
    assert (params["lora_r"].default, params["lora_alpha"].default) == (lora.r, lora.alpha)
    assert (params["lora"].default, params["lora_dropout"].default) == (False, lora.dropout)
    assert params["lora_r"].opts == ["--lora-rank", "--lora-r"]
    assert params["lora_targets"].opts == ["--lora-targets"]
    assert params["lora_targets"].help == command_params("train-sft")["lora_targets"].help
    assert params["lora_top_layers"].opts == ["--lora-top-layers"]
    assert params["lora_top_layers"].default is lora.top_layers is None


def test_lora_options_build_the_training_settings():
    from adapters.cli.options import lora_options

    assert lora_options(False, 8, 16, 0.0, None) is None
    assert lora_options(True, 8, 16, 0.0, " q_proj, v_proj ") == LoraOptions(
        r=8, alpha=16, dropout=0.0, target_modules=("q_proj", "v_proj")
    )
    assert lora_options(True, 8, 16, 0.0, None).target_modules == LoraOptions().target_modules
    assert lora_options(True, 8, 16, 0.0, None, 10).top_layers == 10


def test_lora_top_layers_picks_the_last_layers_of_the_model():
    pytest.importorskip("peft")
    options = LoraOptions(top_layers=3)
    assert options.layers_to_transform(30) == [27, 28, 29]
    assert options.peft_config(30).layers_to_transform == [27, 28, 29]
    assert LoraOptions().peft_config(30).layers_to_transform is None
    with pytest.raises(ValueError, match="top_layers=3 but the model has only 2 layers"):
        options.peft_config(2)
    with pytest.raises(ValueError, match="needs the model's number of layers"):
        options.peft_config()
    with pytest.raises(ValueError, match="top_layers must be at least 1"):
        LoraOptions(top_layers=0)


def test_sft_learning_rate_schedule_is_checked(tmp_path):
    assert SFTRunConfig(data=["x"], output_dir=tmp_path).lr_scheduler == "cosine"
    SFTRunConfig(data=["x"], output_dir=tmp_path, lr_scheduler="constant_with_warmup")
    with pytest.raises(ValueError, match="lr_scheduler must be one of linear, cosine"):
        SFTRunConfig(data=["x"], output_dir=tmp_path, lr_scheduler="exponential")


@pytest.mark.parametrize("config_type", list(CONFIGS.values()))
def test_trl_settings_are_grpo_config_fields(config_type):
    trl = pytest.importorskip("trl")
    names = {f.name for f in dataclasses.fields(trl.GRPOConfig)}
    assert set(trl_settings(config_type(["x"], "out"))) <= names


def test_the_cli_builds_the_config_from_the_options(monkeypatch, tmp_path):
    seen = {}

    def capture(config):
        seen["config"] = config
        raise ValueError("captured")

    monkeypatch.setattr("adapters.training.grpo.train_grpo", capture)
    arguments = [
        "train-grpo",
        "LLMTicTacToe-v0",
        "-o",
        str(tmp_path),
        "-m",
        "some/model",
        "-g",
        "4",
        "--lr",
        "1e-5",
        "-t",
        "0.8",
        "--no-gradient-checkpointing",
        "--lora",
        "--lora-r",
        "8",
        "--eval-setting",
        "random",
        "--grpo-args",
        '{"beta": 0.1}',
    ]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 2 and "captured" in result.output
    config = seen["config"]
    assert (config.model, config.num_generations, config.learning_rate) == ("some/model", 4, 1e-5)
    assert (config.temperature, config.gradient_checkpointing) == (0.8, False)
    assert config.lora == LoraOptions(r=8)
    assert (config.eval_settings, config.extra_args) == (["random"], {"beta": 0.1})
    assert config.max_completion_length == GRPORunConfig.max_completion_length


def test_the_tool_mode_cli_builds_its_config(monkeypatch, tmp_path):
    seen = {}

    def capture(config):
        seen["config"] = config
        raise ValueError("captured")

    monkeypatch.setattr("adapters.training.grpo_tools.train_grpo_tools", capture)
    arguments = ["train-grpo-tools", "A-v0", "B-v0", "-m", "qwen", "-o", str(tmp_path)]
    result = CliRunner().invoke(app, [*arguments, "--max-tool-calls", "3", "--seed", "5"])
    assert result.exit_code == 2 and "captured" in result.output
    config = seen["config"]
    assert (config.env_ids, config.model, config.max_tool_calls) == (["A-v0", "B-v0"], "qwen", 3)
    assert (config.seed, config.max_completion_length, config.temperature) == (5, 1024, 1.0)


@pytest.mark.parametrize(
    ("command_name", "flags"),
    [
        ("train-grpo", ("--num-generations", "--grpo-args")),
        ("train-grpo-tools", ("--num-generations", "--grpo-args")),
        ("train-sft", ("--grad-accum", "--warmup-ratio", "--lora-targets", "--full-loss")),
    ],
)
def test_help_renders(command_name, flags):
    result = CliRunner().invoke(app, [command_name, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert all(flag in result.output for flag in flags)


@dataclasses.dataclass
class Toy:
    name: str
    steps: int = option(3, "--steps", "-s", min=1, help="Steps.")
    rate: float = option(0.5, max=1.0, trl=True)
    hidden: int = trl_setting(7)
    plain: int = 0


def test_the_builder_turns_option_fields_into_options():
    seen = {}
    toy = typer.Typer(add_completion=False)

    @toy.command()
    @config_options(Toy)
    def run(name: str = typer.Argument(...), **settings: Any) -> None:
        seen["config"] = Toy(name=name, **settings)

    result = CliRunner().invoke(toy, ["n", "-s", "5"])
    assert result.exit_code == 0, result.output
    assert seen["config"] == Toy("n", steps=5)
    params = {p.name: p for p in typer.main.get_command(toy).params}
    assert set(params) == {"name", "steps", "rate"}
    assert params["rate"].opts == ["--rate"] and params["rate"].default == 0.5
    assert option_fields(Toy)["steps"] == CliOption(("--steps", "-s"), "Steps.", 1, None)
    assert trl_settings(Toy("n")) == {"rate": 0.5, "hidden": 7}
    assert CliRunner().invoke(toy, ["n", "--rate", "2"]).exit_code == 2


def test_the_builder_needs_a_settings_parameter():
    with pytest.raises(TypeError, match="settings"):
        config_options(Toy)(lambda name: None)

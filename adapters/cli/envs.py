"""``llm-gym list``: the registered environments and their arguments."""

from __future__ import annotations

import inspect

import gymnasium as gym
import typer
from gymnasium.envs.registration import load_env_creator
from rich.console import Console
from rich.table import Table

import llm_gym
from adapters.cli import app


@app.command("list")
def list_envs(
    all_envs: bool = typer.Option(False, "--all", help="Also list non-llm_gym registered envs."),
) -> None:
    """List registered text environments with their constructor arguments and defaults."""
    table = Table(title="Registered environments")
    table.add_column("id", style="bold")
    table.add_column("arguments (defaults)")
    ids = sorted(gym.registry) if all_envs else sorted(llm_gym.ENV_SPECS)
    for env_id in ids:
        spec = gym.spec(env_id)
        table.add_row(env_id, describe_arguments(spec))
    Console().print(table)


def describe_arguments(spec: gym.envs.registration.EnvSpec) -> str:
    try:
        creator = (
            load_env_creator(spec.entry_point)
            if isinstance(spec.entry_point, str)
            else spec.entry_point
        )
    except (ImportError, AttributeError) as error:
        return f"[red]cannot import: {error}[/red]"
    parameters = inspect.signature(creator).parameters.values()
    parts = []
    for p in parameters:
        if p.name in ("self", "render_mode") or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        default = spec.kwargs.get(p.name, p.default)
        parts.append(p.name if default is inspect.Parameter.empty else f"{p.name}={default!r}")
    return ", ".join(parts)

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
    """List registered text environments: arguments and defaults, settings, contexts, scripted
    players."""
    from llm_gym.policies import scripted_policy_names

    table = Table(title="Registered environments", show_lines=True)
    table.add_column("id", style="bold")
    table.add_column("description")
    table.add_column("arguments (defaults)")
    table.add_column("settings (--setting)")
    table.add_column("--context")
    table.add_column("scripted players")
    ids = sorted(gym.registry) if all_envs else sorted(llm_gym.ENV_SPECS)
    for env_id in ids:
        spec = gym.spec(env_id)
        players = ", ".join(f"scripted:{name}" for name in scripted_policy_names(env_id))
        table.add_row(
            env_id,
            describe_env(spec),
            describe_arguments(spec),
            declared_settings(env_id),
            allowed_contexts(env_id),
            players or "-",
        )
    Console().print(table)


def describe_env(spec: gym.envs.registration.EnvSpec) -> str:
    """The first line of the env class's docstring."""
    try:
        creator = (
            load_env_creator(spec.entry_point)
            if isinstance(spec.entry_point, str)
            else spec.entry_point
        )
    except (ImportError, AttributeError):
        return ""
    doc = inspect.getdoc(creator) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def declared_settings(env_id: str) -> str:
    """The names of the settings the env declares in its card ("-" for none)."""
    try:
        return ", ".join(llm_gym.describe(env_id).card.settings) or "-"
    except (ImportError, AttributeError, gym.error.Error):
        return "-"


def allowed_contexts(env_id: str) -> str:
    """The contexts a model may be shown (``last`` only where the card declares
    ``state_in_observation``)."""
    from adapters.context import CONTEXTS, DEFAULT_CONTEXT

    try:
        whole_state = llm_gym.describe(env_id).card.state_in_observation
    except (ImportError, AttributeError, gym.error.Error):
        whole_state = False
    return ", ".join(CONTEXTS) if whole_state else DEFAULT_CONTEXT


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

"""The ``llm-gym`` command line. Each command lives in its own module and registers on ``app``."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="llm-gym",
    help="Evaluate, play and train language models on llm_gym text environments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Evaluate, play and train language models on llm_gym text environments."""


# Each command module registers its commands on ``app`` when imported.
from adapters.cli import (  # noqa: E402,F401
    baseline,
    check,
    compare,
    dagger,
    envs,
    eval,
    lora,
    match,
    play,
    replay,
    show,
    train,
    train_grpo,
)


def main() -> None:
    app()

"""``llm-gym lora-stack``: one adapter from the LoRA adapters of successive SFT rounds."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from adapters.cli import app


@app.command("lora-stack")
def lora_stack_command(
    adapters: list[Path] = typer.Argument(
        ..., help="Adapter folders in training order (each run's adapter/ folder)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="The stacked adapter's folder."),
    dtype: str = typer.Option("float16", "--dtype", help="float16, bfloat16 or float32."),
    rank: int | None = typer.Option(
        None,
        "--rank",
        min=1,
        help="Truncate each module's summed update to this rank (truncated SVD; unset: the "
        "exact stack, rank r1 + r2 + ...).",
    ),
) -> None:
    """Stack the LoRA adapters of SFT rounds trained one over another into one adapter over the
    first round's base model (exact: rank r1 + r2 + ..., same scaling; --rank keeps it smaller).

    Example: llm-gym lora-stack runs/sft/model/adapter runs/dagger-sft/model/adapter -o runs/lora
    """
    from adapters.training.lora_stack import WEIGHTS_FILE, stack_lora_adapters

    if dtype not in ("float16", "bfloat16", "float32"):
        raise typer.BadParameter(f"--dtype must be float16, bfloat16 or float32, got {dtype!r}")
    try:
        stacked = stack_lora_adapters(adapters, output, dtype=dtype, rank=rank)
    except (ValueError, FileNotFoundError) as error:
        raise typer.BadParameter(str(error)) from error
    size = (stacked.folder / WEIGHTS_FILE).stat().st_size
    truncation = (
        f", truncated from rank {stacked.stacked_rank}: largest relative error "
        f"{stacked.max_relative_error:.2%}"
        if stacked.rank < stacked.stacked_rank
        else ""
    )
    Console().print(
        f"wrote {stacked.folder} (rank {stacked.rank}, {size / 2**20:.1f} MiB{truncation})"
    )

"""Training curves as PNG files, drawn from a Trainer's ``state.log_history`` (matplotlib Agg)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REWARD_KEY = "reward"
COMPONENT_PREFIX = "rewards/"


def series(log_history: Iterable[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """``(steps, values)`` of every log entry that has ``key`` (finite values only)."""
    steps: list[float] = []
    values: list[float] = []
    for entry in log_history:
        value = entry.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value) and "step" in entry:
            steps.append(float(entry["step"]))
            values.append(float(value))
    return steps, values


def reward_component_keys(log_history: Iterable[Mapping[str, Any]]) -> list[str]:
    """TRL's per-reward-function means (``rewards/<name>/mean``), in first-seen order."""
    keys: list[str] = []
    for entry in log_history:
        for key in entry:
            if key.startswith(COMPONENT_PREFIX) and key.endswith("/mean") and key not in keys:
                keys.append(key)
    return keys


def plot_curves(
    log_history: Sequence[Mapping[str, Any]],
    output: str | Path,
    keys: Sequence[str],
    *,
    titles: Mapping[str, str] | None = None,
    suptitle: str | None = None,
) -> Path | None:
    """One panel per key (value against step) in one PNG; ``None`` when no key has data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [k for k in keys if series(log_history, k)[0]]
    if not present:
        return None
    columns = min(len(present), 3)
    rows = math.ceil(len(present) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for axis in axes.flat[len(present) :]:
        axis.set_visible(False)
    for axis, key in zip(axes.flat, present, strict=False):
        steps, values = series(log_history, key)
        axis.plot(steps, values, marker="o" if len(steps) < 30 else None, linewidth=1.5)
        axis.set_title((titles or {}).get(key, key), fontsize=10)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    if suptitle:
        figure.suptitle(suptitle)
    figure.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output


def plot_grpo_curves(
    log_history: Sequence[Mapping[str, Any]], output_dir: str | Path
) -> dict[str, Path]:
    """GRPO curves beside the checkpoints.

    ``rewards.png``: total reward and each reward component (one panel each);
    ``training.png``: loss, KL/entropy, completion length and learning rate when logged;
    ``eval.png``: the periodic evaluation metrics (``eval_env/...``) when present.
    Also writes ``log_history.json`` so the curves can be redrawn.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "log_history.json").write_text(json.dumps(list(log_history), indent=1))
    components = reward_component_keys(log_history)
    titles = {REWARD_KEY: "total reward (weighted)"}
    titles.update(
        {k: k[len(COMPONENT_PREFIX) : -len("/mean")] + " (unweighted)" for k in components}
    )
    written: dict[str, Path] = {}
    plots = {
        "rewards": [REWARD_KEY, *components],
        "training": [
            "loss",
            "kl",
            "entropy",
            "completions/mean_length",
            "num_turns",
            "learning_rate",
        ],
        "eval": sorted({k for e in log_history for k in e if k.startswith("eval_env/")}),
    }
    for name, keys in plots.items():
        path = plot_curves(log_history, output_dir / f"{name}.png", keys, titles=titles)
        if path is not None:
            written[name] = path
    return written


def plot_sft_curves(
    log_history: Sequence[Mapping[str, Any]], output_dir: str | Path
) -> dict[str, Path]:
    """SFT curves (``training.png``: loss, token accuracy, learning rate), ``log_history.json``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "log_history.json").write_text(json.dumps(list(log_history), indent=1))
    keys = ["loss", "mean_token_accuracy", "entropy", "learning_rate", "grad_norm"]
    path = plot_curves(log_history, output_dir / "training.png", keys)
    return {"training": path} if path is not None else {}

"""Stack LoRA adapters trained one after another into one adapter over the first base model.

A second SFT round (e.g. on DAgger rows) trains a new LoRA over the model merged with the first
round's adapter. The two updates add up, ``W0 + s B1 A1 + s B2 A2``, and that sum is itself a
LoRA of rank ``r1 + r2``: ``A = [A1; A2]``, ``B = [B1, B2]``, with the same scaling ``s``. So the
result ships as one adapter over the original base model, loadable with
``peft.PeftModel.from_pretrained(base, folder)``.

Each round adds rank. To keep a long stack small, ``rank`` truncates every module's summed
update ``B A`` to its best approximation of that rank (truncated SVD, Eckart-Young): exact while
the update's rank is no higher, otherwise the dropped singular values say what was lost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.models import require
from adapters.prompting import read_prompting, write_prompting

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"


def _scaling(config: dict) -> float:
    if config.get("use_rslora"):
        raise ValueError("rank-stabilised LoRA (use_rslora) adapters cannot be stacked")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ValueError("adapters with per-module rank or alpha patterns cannot be stacked")
    return float(config["lora_alpha"]) / float(config["r"])


@dataclass(frozen=True)
class StackedAdapter:
    """What :func:`stack_lora_adapters` wrote."""

    folder: Path
    rank: int
    stacked_rank: int
    """The sum of the adapters' ranks (the exact stack's rank)."""
    max_relative_error: float
    """Over modules, ``||BA - B'A'|| / ||BA||`` (Frobenius) of the rank truncation; 0 if none."""


def truncate_lora(a: Any, b: Any, rank: int) -> tuple[Any, Any, float]:
    """The best rank-``rank`` factors of ``b @ a`` and the relative Frobenius error left.

    Args:
        a: ``lora_A`` weight, ``(r, in)``.
        b: ``lora_B`` weight, ``(out, r)``.
        rank: the rank to keep; at least ``r`` returns an exact factorisation of ``b @ a``.

    Returns:
        ``(a', b', error)`` with ``a'`` of shape ``(k, in)`` and ``b'`` ``(out, k)``,
        ``k = min(rank, r)``, the singular values split evenly between them (zero rows and
        columns where the update's rank is below ``k``: a module narrower than ``k``).
    """
    torch = require("torch", "local")
    q_b, r_b = torch.linalg.qr(b.double())
    q_a, r_a = torch.linalg.qr(a.double().T)
    u, s, vh = torch.linalg.svd(r_b @ r_a.T)
    k = min(rank, a.shape[0])
    kept = min(k, s.numel())
    root = s[:kept].sqrt()
    total = s.square().sum()
    error = float((s[kept:].square().sum() / total).sqrt()) if total > 0 else 0.0
    new_b = b.new_zeros(b.shape[0], k, dtype=torch.float64)
    new_a = a.new_zeros(k, a.shape[1], dtype=torch.float64)
    new_b[:, :kept] = (q_b @ u[:, :kept]) * root
    new_a[:kept] = root[:, None] * (vh[:kept] @ q_a.T)
    return new_a.to(a.dtype), new_b.to(b.dtype), error


def stack_lora_adapters(
    folders: Sequence[str | Path],
    output: str | Path,
    *,
    dtype: str = "float16",
    rank: int | None = None,
) -> StackedAdapter:
    """Write to ``output`` one LoRA adapter equal to ``folders`` applied in order.

    Args:
        folders: adapter folders (``adapter_config.json`` + ``adapter_model.safetensors``), each
            trained over the base model merged with the ones before it. A single folder is
            copied in ``dtype`` (e.g. a float32 adapter halved to float16 for shipping).
        output: the folder to write.
        dtype: the saved weights' dtype (``float16`` halves the size of float32 weights).
        rank: truncate each module's summed update to this rank (:func:`truncate_lora`);
            ``None`` keeps the exact stack (rank: the sum of the ranks).

    The last adapter's ``llm_gym.json`` (how the model asks to be prompted) is carried over: the
    stack plays like the model after the last round.

    Raises:
        ValueError: no adapter, or adapters that differ in target modules or
            scaling (``lora_alpha / r``), or whose weights do not match their configs, or a
            rank below 1.
    """
    torch = require("torch", "local")
    safetensors = require("safetensors.torch", "local")
    if not folders:
        raise ValueError("stacking needs at least one adapter")
    if rank is not None and rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    configs = [json.loads((Path(f) / CONFIG_FILE).read_text()) for f in folders]
    weights = [safetensors.load_file(str(Path(f) / WEIGHTS_FILE)) for f in folders]
    scaling = {_scaling(c) for c in configs}
    if len(scaling) != 1:
        raise ValueError(f"adapters must share lora_alpha / r to stack; got {sorted(scaling)}")
    targets = {tuple(sorted(c["target_modules"])) for c in configs}
    if len(targets) != 1 or any(set(w) != set(weights[0]) for w in weights):
        raise ValueError("adapters must target the same modules to stack")
    stacked = {}
    for key in weights[0]:
        parts = [w[key].float() for w in weights]
        if ".lora_A." in key:
            stacked[key] = torch.cat(parts, dim=0)
        elif ".lora_B." in key:
            stacked[key] = torch.cat(parts, dim=1)
        else:
            raise ValueError(f"unexpected tensor {key} in a LoRA adapter")
    stacked_rank = sum(int(c["r"]) for c in configs)
    kept_rank = stacked_rank if rank is None else min(rank, stacked_rank)
    max_error = 0.0
    if kept_rank < stacked_rank:
        for key_a in [k for k in stacked if ".lora_A." in k]:
            key_b = key_a.replace(".lora_A.", ".lora_B.")
            stacked[key_a], stacked[key_b], error = truncate_lora(
                stacked[key_a], stacked[key_b], kept_rank
            )
            max_error = max(max_error, error)
    config = dict(configs[0], r=kept_rank, lora_alpha=scaling.pop() * kept_rank)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    target_dtype = getattr(torch, dtype)
    safetensors.save_file(
        {k: v.to(target_dtype).contiguous() for k, v in stacked.items()}, str(out / WEIGHTS_FILE)
    )
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    write_prompting(out, read_prompting(str(folders[-1])))
    return StackedAdapter(out, kept_rank, stacked_rank, max_error)

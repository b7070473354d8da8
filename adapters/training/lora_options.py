"""LoRA settings shared by SFT and GRPO, apart from the trainers so that the command line can read
their defaults without importing a trainer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.models import require

DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ADAPTER_DTYPES = ("float32", "float16", "bfloat16")


@dataclass
class LoraOptions:
    """LoRA settings (peft ``LoraConfig``) shared by SFT and GRPO.

    ``target_modules`` names module suffixes, or is ``("all-linear",)`` for peft's every linear
    layer but the output head. ``top_layers`` puts the adapters in the last N transformer layers
    only (``None``: every layer); the backward pass then stops below them, so a step costs less.
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_LORA_TARGETS
    top_layers: int | None = None

    def __post_init__(self) -> None:
        if self.top_layers is not None and self.top_layers < 1:
            raise ValueError(f"top_layers must be at least 1, got {self.top_layers}")

    def layers_to_transform(self, num_layers: int) -> list[int] | None:
        """The indices of the layers that get adapters, of a model with ``num_layers`` layers.

        Raises:
            ValueError: ``top_layers`` is more than the model has.
        """
        if self.top_layers is None:
            return None
        if self.top_layers > num_layers:
            raise ValueError(
                f"top_layers={self.top_layers} but the model has only {num_layers} layers"
            )
        return list(range(num_layers - self.top_layers, num_layers))

    def peft_config(self, num_layers: int | None = None) -> Any:
        """The peft ``LoraConfig``; ``num_layers`` (the model's layer count) is needed with
        ``top_layers``."""
        peft = require("peft", "train")
        if self.top_layers is not None and num_layers is None:
            raise ValueError("top_layers needs the model's number of layers")
        targets: str | list[str] = list(self.target_modules)
        if targets == ["all-linear"]:
            targets = "all-linear"
        return peft.LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=targets,
            layers_to_transform=self.layers_to_transform(num_layers) if num_layers else None,
            task_type="CAUSAL_LM",
        )

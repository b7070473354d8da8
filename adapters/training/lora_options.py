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
    layer but the output head.
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_LORA_TARGETS

    def peft_config(self) -> Any:
        peft = require("peft", "train")
        targets: str | list[str] = list(self.target_modules)
        if targets == ["all-linear"]:
            targets = "all-linear"
        return peft.LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=targets,
            task_type="CAUSAL_LM",
        )

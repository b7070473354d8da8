"""Supervised warm-up with TRL's ``SFTTrainer`` on the rows of :mod:`adapters.training.sft_rows`.

Conversation rows (``llm-gym sft-data`` games) train on every assistant reply; prompt-completion
rows (per-position rows, DAgger relabels) on their completion only. Both need a chat template with
``{% generation %}`` markers (see :mod:`adapters.training.chat_template`; SmolLM2 gets a
marker-carrying copy of its own ChatML template), else the loss covers whole sequences.

Full fine-tune or LoRA (peft). The final model is written to ``output_dir`` as a plain checkpoint
(LoRA adapters merged into the base weights; the adapter itself is kept in ``output_dir/adapter``,
by default in float16), loadable by every CLI policy with ``--model output_dir``.

>>> config = SFTRunConfig(data="runs/sft/data.jsonl", output_dir="runs/sft/model")  # doctest: +SKIP
>>> result = train_sft(config)                                                      # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adapters.config_fields import option
from adapters.context import Context
from adapters.models import EMBEDDED_MODEL, require, resolve_model_path
from adapters.prompting import ModelPrompting, reply_budget, write_prompting
from adapters.training.chat_template import training_chat_template
from adapters.training.lora_options import (  # noqa: F401  (re-exported)
    ADAPTER_DTYPES,
    DEFAULT_LORA_TARGETS,
    LoraOptions,
)
from adapters.training.plots import plot_sft_curves
from adapters.training.sft_rows import (
    LossScope,
    SFTRow,
    read_sft_rows,
    tokenize_row,
    truncate_row,
)

logger = logging.getLogger(__name__)


@dataclass
class SFTRunConfig:
    """Settings of :func:`train_sft` (the ``llm-gym train-sft`` options).

    Attributes:
        data: one JSONL file or several, concatenated (rows of either kind, see
            :mod:`adapters.training.sft_rows`).
        bf16: bf16 autocast over fp32 master weights (the Trainer's ``bf16``); ``None`` picks it
            where the hardware computes bf16 natively (see :func:`bf16_autocast_available`).
        padding_free: concatenate each batch into one sequence without padding (TRL's
            ``padding_free``), attention kept within each row. On by default: 1.3x the tokens/s
            of padded batches of 2 per-position rows on CPU, same loss. On CPU (sdpa) the packed
            sequence is attended as a whole under a mask, so the cost grows with the batch: at 8
            rows of 260 tokens padded batches were 1.8x faster (4.3 vs 7.9 s/step).
        adapter_dtype: the dtype of the saved LoRA adapter (the merged model stays float32).
        resume_from_checkpoint: a ``checkpoint-N`` folder, or ``True`` for the newest one in
            ``output_dir``.
    """

    data: str | Path | Sequence[str | Path]
    output_dir: str | Path
    model: str | None = option(None)
    lora: LoraOptions | None = None
    epochs: float = option(1.0, min=0.0, help="Passes over the rows.")
    max_steps: int = option(-1, help="Stop after N optimizer steps (-1: run the epochs).")
    learning_rate: float | None = option(
        None, "--learning-rate", "--lr", help="Default 5e-5 (full) or 2e-4 (LoRA)."
    )
    batch_size: int = option(4, min=1, help="Rows per forward pass.")
    gradient_accumulation_steps: int = option(
        2, "--grad-accum", min=1, help="Forward passes per optimizer step."
    )
    max_length: int | None = option(2048, min=16, help="Tokens per row; longer rows are cut.")
    assistant_only_loss: bool = True
    gradient_checkpointing: bool = option(
        False,
        "--gradient-checkpointing/--no-gradient-checkpointing",
        help="Recompute activations in the backward pass: less memory, about 30% slower.",
    )
    bf16: bool | None = option(
        None,
        "--bf16/--no-bf16",
        help="bf16 autocast over fp32 weights (default: on where the GPU or CPU computes bf16 "
        "natively, e.g. AMX).",
    )
    padding_free: bool = option(
        True,
        "--padding-free/--no-padding-free",
        help="Concatenate each batch, no padding (on CPU, faster for batches of 1-2 rows; pad "
        "larger batches of similar rows).",
    )
    lr_scheduler: str = option(
        "cosine",
        help="Learning-rate schedule after warm-up (transformers' names: cosine, linear, "
        "constant_with_warmup, ...).",
    )
    warmup_ratio: float = option(
        0.1, min=0.0, max=1.0, help="Share of the steps the learning rate warms up over."
    )
    seed: int = option(0, help="Seeds the trainer: row order, LoRA initialisation, dropout.")
    logging_steps: int = 1
    save_steps: int | None = option(None, min=1, help="Checkpoint every N steps into OUTPUT_DIR.")
    save_total_limit: int | None = option(2, min=1, help="Checkpoints kept (oldest deleted).")
    resume_from_checkpoint: str | Path | bool | None = None
    adapter_dtype: str = option(
        "float16", help="Saved adapter dtype: float16, bfloat16 or float32."
    )
    eval_fraction: float = 0.0
    extra_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.adapter_dtype not in ADAPTER_DTYPES:
            raise ValueError(
                f"adapter_dtype must be one of {', '.join(ADAPTER_DTYPES)}, "
                f"got {self.adapter_dtype!r}"
            )
        schedules = _lr_schedulers()
        if self.lr_scheduler not in schedules:
            raise ValueError(
                f"lr_scheduler must be one of {', '.join(schedules)}, got {self.lr_scheduler!r}"
            )
        if not self.data_paths():
            raise ValueError("data must name at least one JSONL file")

    def data_paths(self) -> list[Path]:
        if isinstance(self.data, (str, Path)):
            return [Path(self.data)]
        return [Path(path) for path in self.data]

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 2e-4 if self.lora is not None else 5e-5


@dataclass
class SFTDataStats:
    """What the training rows hold after tokenisation and truncation."""

    rows: dict[str, int]
    """Rows per kind (``conversation``, ``prompt-completion``)."""
    tokens: int
    loss_tokens: int
    truncated_rows: int
    dropped_rows: int
    """Rows left without any loss token by truncation, hence not trained on."""
    longest_reply_tokens: int = 0
    """The longest run of consecutive loss tokens: the longest reply (with its end-of-turn)."""


@dataclass
class SFTResult:
    output_dir: Path
    loss_mode: str
    train_rows: int
    steps: int
    wall_time_s: float
    final_loss: float | None
    plots: dict[str, Path]
    data: SFTDataStats | None = None
    bf16: bool = False
    train_tokens: int = 0
    train_tokens_per_s: float | None = None
    adapter_bytes: int | None = None
    prompting: ModelPrompting | None = None
    """What the model declares in its folder's llm_gym.json."""


@dataclass
class PreparedSFT:
    """A ready ``SFTTrainer`` and what :func:`train_sft` needs to finish the run."""

    trainer: Any
    tokenizer: Any
    original_chat_template: str | None
    loss_mode: str
    data: SFTDataStats
    bf16: bool
    prompting: ModelPrompting
    """What the trained model will declare in its folder (:mod:`adapters.prompting`)."""


def write_run_result(path: Path, result: Any) -> None:
    """Write a training result dataclass as JSON (paths as strings)."""
    path.write_text(json.dumps(asdict(result), indent=2, default=str))


def build_sft_dataset(
    rows: Sequence[SFTRow],
    tokenizer: Any,
    chat_template: str | None,
    loss: LossScope,
    max_length: int | None,
) -> tuple[Any, SFTDataStats]:
    """``rows`` as a tokenised ``datasets.Dataset`` (``input_ids``, ``labels``)."""
    datasets = require("datasets", "train")
    input_ids: list[list[int]] = []
    labels: list[list[int]] = []
    truncated = dropped = tokens = loss_tokens = longest_reply = 0
    for row in rows:
        full = tokenize_row(row, tokenizer, chat_template, loss)
        kept = truncate_row(full, max_length)
        truncated += kept is not full
        if kept.loss_tokens == 0:
            dropped += 1
            continue
        input_ids.append(kept.input_ids)
        labels.append(kept.labels)
        tokens += len(kept.input_ids)
        loss_tokens += kept.loss_tokens
        longest_reply = max(longest_reply, kept.longest_labelled_run)
    stats = SFTDataStats(
        rows=dict(Counter(row.kind for row in rows)),
        tokens=tokens,
        loss_tokens=loss_tokens,
        truncated_rows=truncated,
        dropped_rows=dropped,
        longest_reply_tokens=longest_reply,
    )
    if truncated:
        logger.warning(
            "%d of %d rows are longer than max_length=%s tokens and were cut; %d lost every "
            "loss token and are left out",
            truncated,
            len(rows),
            max_length,
            dropped,
        )
    if not input_ids:
        raise ValueError(f"no row keeps a loss token within max_length={max_length}")
    return datasets.Dataset.from_dict({"input_ids": input_ids, "labels": labels}), stats


def prepare_sft(config: SFTRunConfig, callbacks: Sequence[Any] = ()) -> PreparedSFT:
    """Load the model and data of ``config`` and build its ``SFTTrainer`` (not yet trained)."""
    torch = require("torch", "train")
    transformers = require("transformers", "train")
    trl = require("trl", "train")
    rows = read_sft_rows(config.data_paths())
    output_dir = Path(config.output_dir)
    model_path = resolve_model_path(config.model)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    original_template = tokenizer.chat_template
    template, loss, loss_mode = original_template, "sequence", "full conversation"
    if config.assistant_only_loss:
        patched, how = training_chat_template(tokenizer)
        if patched is None:
            logger.warning(
                "the chat template of %s has no {%% generation %%} markers and cannot be patched: "
                "training on whole sequences",
                model_path,
            )
        else:
            template, loss = patched, "assistant"
            loss_mode = f"assistant only ({how} template)"

    dataset, stats = build_sft_dataset(rows, tokenizer, template, loss, config.max_length)
    eval_dataset = None
    if config.eval_fraction > 0:
        split = dataset.train_test_split(test_size=config.eval_fraction, seed=config.seed)
        dataset, eval_dataset = split["train"], split["test"]
    bf16 = bf16_autocast_available() if config.bf16 is None else config.bf16
    model = transformers.AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    args = trl.SFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.resolved_learning_rate(),
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        max_length=None,
        padding_free=config.padding_free,
        gradient_checkpointing=config.gradient_checkpointing,
        logging_steps=config.logging_steps,
        save_strategy="steps" if config.save_steps else "no",
        save_steps=config.save_steps or 500,
        save_total_limit=config.save_total_limit,
        eval_strategy="epoch" if eval_dataset is not None else "no",
        seed=config.seed,
        report_to="none",
        dataloader_num_workers=0,
        bf16=bf16,
        use_cpu=not torch.cuda.is_available(),
        include_num_input_tokens_seen="all" if config.padding_free else "non_padding",
        **config.extra_args,
    )
    score_only_labelled_positions_on_cpu()
    trainer = trl.SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=(
            config.lora.peft_config(model.config.num_hidden_layers)
            if config.lora is not None
            else None
        ),
        callbacks=list(callbacks) or None,
    )
    prompting = ModelPrompting(
        context=rows_context(rows), max_tokens=reply_budget(stats.longest_reply_tokens)
    )
    return PreparedSFT(trainer, tokenizer, original_template, loss_mode, stats, bf16, prompting)


def rows_context(rows: Sequence[SFTRow]) -> Context | None:
    """The context every row's prompt was written in, or ``None`` when they differ or a row does
    not say."""
    contexts = {row.context for row in rows}
    return contexts.pop() if len(contexts) == 1 else None


def train_sft(config: SFTRunConfig) -> SFTResult:
    """Fine-tune a causal LM on SFT rows with TRL's ``SFTTrainer`` and save a loadable model."""
    from adapters.training.throughput import ThroughputCallback

    started = time.perf_counter()
    output_dir = Path(config.output_dir)
    throughput = ThroughputCallback()
    prepared = prepare_sft(config, callbacks=[throughput])
    trainer = prepared.trainer
    train_output = trainer.train(resume_from_checkpoint=config.resume_from_checkpoint or None)
    save_model_for_inference(
        trainer.model,
        prepared.tokenizer,
        output_dir,
        prepared.original_chat_template,
        adapter_dtype=config.adapter_dtype,
        base_model_name=config.model or EMBEDDED_MODEL,
    )
    for folder in (output_dir, output_dir / ADAPTER_FOLDER):
        if folder.is_dir():
            write_prompting(folder, prepared.prompting)
    plots = plot_sft_curves(trainer.state.log_history, output_dir)
    timed = throughput.result()
    result = SFTResult(
        output_dir=output_dir,
        loss_mode=prepared.loss_mode,
        train_rows=len(trainer.train_dataset),
        steps=trainer.state.global_step,
        wall_time_s=time.perf_counter() - started,
        final_loss=train_output.training_loss,
        plots=plots,
        data=prepared.data,
        bf16=prepared.bf16,
        train_tokens=timed.tokens if timed else 0,
        train_tokens_per_s=timed.tokens_per_s if timed else None,
        adapter_bytes=adapter_size(output_dir / ADAPTER_FOLDER),
        prompting=prepared.prompting,
    )
    write_run_result(output_dir / "sft_result.json", result)
    return result


def score_only_labelled_positions_on_cpu() -> None:
    """Make TRL's fused LM head score only the labelled positions on CPU, as it does on GPU.

    Off Triton devices TRL projects every position onto the vocabulary (fixed tile shapes keep
    graph compilers from recompiling) and zeroes the unlabelled ones afterwards. Nothing is compiled
    on CPU, and with the loss on completions only the prompt positions are most of the row: on a
    tic-tac-toe position row (260 tokens, 8 of them labelled) the head was about 40% of a step.
    Idempotent; the loss and metrics are unchanged.
    """
    import trl.trainer.utils as trl_utils

    scores_compactly = trl_utils._use_triton
    if getattr(scores_compactly, "scores_labelled_only_on_cpu", False):
        return

    def compact_on_cpu_too(device: Any) -> bool:
        return device.type == "cpu" or scores_compactly(device)

    compact_on_cpu_too.scores_labelled_only_on_cpu = True  # type: ignore[attr-defined]
    trl_utils._use_triton = compact_on_cpu_too


def _lr_schedulers() -> tuple[str, ...]:
    from transformers.trainer_utils import SchedulerType

    return tuple(kind.value for kind in SchedulerType)


def bf16_autocast_available() -> bool:
    """Whether bf16 autocast speeds training here: a bf16 GPU, or a CPU with AMX or AVX512-BF16.

    Measured with ``benchmarks/sft_speed.py`` (see the README's training section).
    """
    torch = require("torch", "train")
    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    cpu = torch.cpu
    return bool(
        getattr(cpu, "_is_amx_tile_supported", lambda: False)()
        or getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
    )


ADAPTER_FOLDER = "adapter"


def save_model_for_inference(
    model: Any,
    tokenizer: Any,
    output_dir: str | Path,
    chat_template: str | None = None,
    *,
    adapter_dtype: str | None = None,
    base_model_name: str | None = None,
) -> Path:
    """Save a plain checkpoint any ``from_pretrained`` (and so every CLI policy) can load.

    A peft model is merged into its base weights first; its adapter is also kept in
    ``output_dir/adapter``, loadable with ``peft.PeftModel.from_pretrained(base, folder)``.
    The tokenizer is saved with ``chat_template`` (the model's own template, not the training
    copy with generation markers).

    Args:
        adapter_dtype: cast the saved adapter weights to this dtype (``None``: as trained).
        base_model_name: written as the adapter's ``base_model_name_or_path`` instead of the
            local folder it was trained from.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "merge_and_unload") and hasattr(model, "peft_config"):
        save_adapter(model, output_dir / ADAPTER_FOLDER, adapter_dtype, base_model_name)
        model = model.merge_and_unload()
    model.save_pretrained(output_dir)
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(output_dir)
    return output_dir


def save_adapter(
    model: Any, folder: Path, dtype: str | None = None, base_model_name: str | None = None
) -> None:
    """Save the peft adapter of ``model`` (weights cast to ``dtype``) and its config."""
    torch = require("torch", "train")
    safetensors_torch = require("safetensors.torch", "train")
    model.save_pretrained(folder)
    weights = folder / "adapter_model.safetensors"
    if dtype is not None:
        target = getattr(torch, dtype)
        tensors = safetensors_torch.load_file(weights)
        safetensors_torch.save_file(
            {name: tensor.to(target) for name, tensor in tensors.items()},
            weights,
            metadata={"format": "pt"},
        )
    if base_model_name is not None:
        config_path = folder / "adapter_config.json"
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = base_model_name
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True))


def adapter_size(folder: Path) -> int | None:
    """Bytes of the adapter weights in ``folder`` (``None`` when there is no adapter)."""
    weights = folder / "adapter_model.safetensors"
    return weights.stat().st_size if weights.is_file() else None

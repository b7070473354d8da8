"""SFT training speed of the embedded SmolLM2-135M: tokens/s of ``llm-gym train-sft`` settings.

Every setting trains the same rows (tic-tac-toe teacher games from the scripted ``optimal``
player, or ``--data`` files) in the same order for ``--steps`` optimizer steps through
:func:`adapters.training.sft.prepare_sft`, the code path of ``llm-gym train-sft``. The first
``--warmup`` steps are not timed. Printed per setting:

- tokens/s: training tokens (padding excluded) per wall-clock second;
- tokens/cpu-s: the same per second of this process's CPU time, which stays comparable when other
  programs share the machine (with ``--threads 1`` it is the single-core speed);
- ratios of both against the fp32 full fine-tune measured in the same run;
- the loss of the first and last step: settings that compute the same thing start from the
  same loss (bf16 within about 1%).

    python benchmarks/sft_speed.py                       # all settings, 24 steps each
    python benchmarks/sft_speed.py --steps 8 --settings full-fp32,full-bf16,lora-bf16
    python benchmarks/sft_speed.py --data runs/m1/positions.jsonl --batch-size 8 \
        --settings full-fp32,lora-bf16,lora-bf16-padfree,lora-bf16-top10
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from adapters.policies import ScriptedChatPolicy
from adapters.training.sft import LoraOptions, SFTRunConfig, prepare_sft
from adapters.training.sft_data import generate_sft_data_sync
from adapters.training.throughput import ThroughputCallback

ENV_ID = "LLMTicTacToe-v0"
REFERENCE = "full-fp32"
LORA = LoraOptions(r=16, alpha=32)

SETTINGS: dict[str, dict] = {
    "full-fp32": dict(bf16=False),
    "full-bf16": dict(bf16=True),
    "full-fp32-gc": dict(bf16=False, gradient_checkpointing=True),
    "full-bf16-gc": dict(bf16=True, gradient_checkpointing=True),
    "full-bf16-padfree": dict(bf16=True, padding_free=True),
    "lora-fp32": dict(bf16=False, lora=LORA),
    "lora-bf16": dict(bf16=True, lora=LORA),
    "lora-bf16-padfree": dict(bf16=True, lora=LORA, padding_free=True),
    "lora-bf16-top10": dict(bf16=True, lora=replace(LORA, top_layers=10)),
}
"""Setting name -> :class:`SFTRunConfig` fields (LoRA: rank 16 over every projection)."""


@dataclass(frozen=True)
class Measurement:
    setting: str
    tokens_per_s: float
    tokens_per_cpu_s: float
    timed_steps: int
    timed_tokens: int
    first_loss: float
    last_loss: float


def teacher_games(folder: Path, episodes: int) -> Path:
    path = folder / "games.jsonl"
    teacher = ScriptedChatPolicy.for_env(ENV_ID, "optimal")
    generate_sft_data_sync(ENV_ID, teacher, episodes=episodes, output=path)
    return path


def measure(setting: str, base: SFTRunConfig, warmup: int) -> Measurement:
    timer = ThroughputCallback(warmup_steps=warmup)
    config = replace(base, **SETTINGS[setting], output_dir=Path(base.output_dir) / setting)
    prepared = prepare_sft(config, callbacks=[timer])
    prepared.trainer.train()
    timed = timer.result()
    if timed is None:
        raise SystemExit(f"--steps must exceed --warmup ({warmup})")
    losses = [entry["loss"] for entry in prepared.trainer.state.log_history if "loss" in entry]
    return Measurement(
        setting=setting,
        tokens_per_s=timed.tokens_per_s,
        tokens_per_cpu_s=timed.tokens_per_cpu_s,
        timed_steps=timed.steps,
        timed_tokens=timed.tokens,
        first_loss=losses[0],
        last_loss=losses[-1],
    )


def print_table(results: list[Measurement]) -> None:
    reference = next((r for r in results if r.setting == REFERENCE), None)
    print(
        f"{'setting':<20}{'tokens/s':>10}{'ratio':>8}{'tokens/cpu-s':>14}{'ratio':>8}"
        f"{'loss@1':>9}{'loss@end':>10}"
    )
    for r in results:
        wall_ratio = r.tokens_per_s / reference.tokens_per_s if reference else float("nan")
        cpu_ratio = r.tokens_per_cpu_s / reference.tokens_per_cpu_s if reference else float("nan")
        print(
            f"{r.setting:<20}{r.tokens_per_s:>10.1f}{wall_ratio:>7.2f}x{r.tokens_per_cpu_s:>14.1f}"
            f"{cpu_ratio:>7.2f}x{r.first_loss:>9.4f}{r.last_loss:>10.4f}"
        )
    if reference is None:
        print(f"(no ratios: add {REFERENCE} to --settings)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", default=",".join(SETTINGS), help="Comma-separated names.")
    parser.add_argument("--steps", type=int, default=24, help="Optimizer steps per setting.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed first steps.")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=2048, help="Tokens per row (cut).")
    parser.add_argument("--episodes", type=int, default=64, help="Teacher games to train on.")
    parser.add_argument("--data", type=Path, nargs="*", help="Train on these files instead.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all).")
    parser.add_argument("--model", default=None, help="Base model (default: embedded 135M).")
    parser.add_argument("--json", type=Path, default=None, help="Also write results here.")
    args = parser.parse_args()
    names = [name.strip() for name in args.settings.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown settings {unknown}; expected some of {', '.join(SETTINGS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, ", end="")
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}")

    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or [teacher_games(Path(scratch), args.episodes)]
        base = SFTRunConfig(
            data=data,
            output_dir=Path(scratch) / "runs",
            model=args.model,
            max_steps=args.steps,
            batch_size=args.batch_size,
            gradient_accumulation_steps=1,
            max_length=args.max_length,
            padding_free=False,
            logging_steps=1,
        )
        results = []
        for name in names:
            results.append(measure(name, base, args.warmup))
            print(json.dumps(results[-1].__dict__), flush=True)
    print(
        f"\n{args.steps} steps ({args.warmup} untimed) of {args.batch_size} rows per setting; "
        f"ratios against {REFERENCE}"
    )
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))


if __name__ == "__main__":
    main()

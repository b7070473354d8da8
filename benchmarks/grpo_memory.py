"""GRPO on CPU with the embedded model: peak memory and seconds per step of a small run, and
completion tokens/s of its generation phase, each against a reference measured in the same run.

Training (``--phase training``): each configuration runs ``train_grpo`` in a child process
(so each peak RSS is its own) on LLMTicTacToe-v0, 8 episodes a step (2 groups of 4) of at most
``--max-completion-length`` (512) tokens:

- ``before``: the settings before the fix, gradient checkpointing off and the whole generation
  batch in one forward/backward pass;
- ``after``: the defaults (gradient checkpointing on, micro-batches of up to 8 episodes);
- ``after-micro2``: the defaults with ``micro_batch_size=2``.

Generation (``--phase generation``): the same 8 episodes played by ``play_episodes`` with the
generation engine (KV cache kept across turns) and with :class:`ReprefillTurnGenerator`, the
previous generator (one left-padded ``model.generate`` over the whole conversations per turn,
with full-vocabulary scores kept for the logprobs)::

    python benchmarks/grpo_memory.py --phase generation
    python benchmarks/grpo_memory.py --phase training --configs after,after-micro2
    python benchmarks/grpo_memory.py --phase training --configs before  # needs ~10+ GB
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import llm_gym  # noqa: F401
from adapters.generation import GeneratedTurn, SamplingOptions
from adapters.training.grpo_rollout import EpisodeSpec, TransformersTurnGenerator, play_episodes

ENV_ID = "LLMTicTacToe-v0"
RESULT_MARK = "GRPO-BENCHMARK "
CONFIGS: dict[str, dict[str, Any]] = {
    "before": {"gradient_checkpointing": False, "micro_batch_size": 8},
    "after": {},
    "after-micro2": {"micro_batch_size": 2},
}


class ReprefillTurnGenerator:
    """The GRPO turn generator before the engine: each turn re-prefills every conversation."""

    def __init__(self, model: Any, tokenizer: Any, temperature: float):
        self.model = model
        self.tokenizer = tokenizer
        self.temperature = temperature
        self.eos_token_ids = [tokenizer.eos_token_id]

    def generate(self, contexts: list[list[int]], max_new_tokens: int) -> list[GeneratedTurn]:
        pad = self.tokenizer.pad_token_id
        width = max(len(c) for c in contexts)
        input_ids = torch.full((len(contexts), width), pad, dtype=torch.long)
        attention = torch.zeros((len(contexts), width), dtype=torch.long)
        for row, ids in enumerate(contexts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        with torch.no_grad():
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=max_new_tokens,
                eos_token_id=self.eos_token_ids,
                pad_token_id=pad,
                do_sample=True,
                temperature=self.temperature,
                top_k=0,
                return_dict_in_generate=True,
                output_scores=True,
            )
        steps = torch.stack(output.scores, dim=1).float()
        turns = []
        for row in range(len(contexts)):
            ids = output.sequences[row, width:].tolist()
            end = next((i + 1 for i, t in enumerate(ids) if t in self.eos_token_ids), len(ids))
            logps = torch.log_softmax(steps[row, :end], dim=-1)
            picked = logps.gather(1, torch.tensor(ids[:end]).unsqueeze(1)).squeeze(1).tolist()
            turns.append(GeneratedTurn(ids=ids[:end], logprobs=picked))
        return turns


def generation_phase(args: argparse.Namespace) -> None:
    from adapters.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(None, dtype="float32", device="cpu")
    specs = [EpisodeSpec(seed=s, rollout=r) for s in (0, 1) for r in range(4)]
    generators = {
        "engine": TransformersTurnGenerator(
            model, tokenizer, SamplingOptions(temperature=1.0), seed=args.seed
        ),
        "reference": ReprefillTurnGenerator(model, tokenizer, temperature=1.0),
    }
    print(
        f"{ENV_ID}: 8 episodes (2 groups of 4), --max-tokens-per-turn {args.max_tokens_per_turn}, "
        f"--max-completion-length {args.max_completion_length}, temperature 1.0"
    )
    rates = {}
    for name, generator in generators.items():
        torch.manual_seed(args.seed)
        started = time.perf_counter()
        episodes = play_episodes(
            ENV_ID,
            specs,
            generator,
            tokenizer,
            max_tokens_per_turn=args.max_tokens_per_turn,
            max_completion_length=args.max_completion_length,
        )
        wall = time.perf_counter() - started
        generated = sum(sum(e.env_mask) for e in episodes)
        turns = sum(len(e.record.turns) for e in episodes)
        rates[name] = generated / wall
        print(
            f"{name:>10}: {wall:7.1f} s, {turns} replies, {generated} generated tokens: "
            f"{rates[name]:.2f} tokens/s"
        )
    print(f"speed-up: {rates['engine'] / rates['reference']:.2f}x tokens/s")


def training_child(name: str, args: argparse.Namespace) -> None:
    from adapters.training.grpo import GRPORunConfig, train_grpo

    with tempfile.TemporaryDirectory() as folder:
        config = GRPORunConfig(
            env_id=ENV_ID,
            output_dir=Path(folder) / name,
            num_generations=4,
            groups_per_step=2,
            max_steps=args.steps,
            max_tokens_per_turn=args.max_tokens_per_turn,
            max_completion_length=args.max_completion_length,
            seed=args.seed,
            **CONFIGS[name],
        )
        train_grpo(config)
        history = json.loads((config.output_dir / "log_history.json").read_text())
    runtime = next(e["train_runtime"] for e in history if "train_runtime" in e)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures = {"s_per_step": runtime / args.steps, "peak_rss_gb": peak_kib / 2**20}
    print(RESULT_MARK + json.dumps(figures))


def training_phase(args: argparse.Namespace) -> None:
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown --configs {unknown}; choose from {', '.join(CONFIGS)}")
    print(
        f"{ENV_ID}: train-grpo, 8 episodes a step (2 groups of 4), {args.steps} steps, "
        f"--max-tokens-per-turn {args.max_tokens_per_turn}, --max-completion-length "
        f"{args.max_completion_length}, torch threads {torch.get_num_threads()}"
    )
    figures = {}
    for name in names:
        command = [sys.executable, __file__, "--child", name, *sys.argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
        if done.returncode != 0 or not lines:
            print(f"{name:>13}: failed (exit {done.returncode})\n{done.stderr[-2000:]}")
            continue
        figures[name] = json.loads(lines[-1][len(RESULT_MARK) :])
        print(
            f"{name:>13}: {figures[name]['s_per_step']:7.1f} s/step, peak RSS "
            f"{figures[name]['peak_rss_gb']:.2f} GB  ({CONFIGS[name] or 'defaults'})"
        )
    if "before" in figures:
        for name, values in figures.items():
            if name != "before":
                print(
                    f"{name} / before: peak RSS "
                    f"{values['peak_rss_gb'] / figures['before']['peak_rss_gb']:.2f}x, s/step "
                    f"{values['s_per_step'] / figures['before']['s_per_step']:.2f}x"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", choices=["generation", "training"], default="generation")
    parser.add_argument("--configs", default="before,after,after-micro2")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--max-tokens-per-turn", type=int, default=48)
    parser.add_argument("--max-completion-length", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        training_child(args.child, args)
    elif args.phase == "generation":
        generation_phase(args)
    else:
        training_phase(args)


if __name__ == "__main__":
    main()

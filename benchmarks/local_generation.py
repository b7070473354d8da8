"""Completion tokens/s of the README's main job on the embedded model: the generation engine
(:mod:`adapters.generation`, KV cache kept across turns) against the previous local policy
(one ``model.generate`` per batch, re-prefilling every conversation from its first token).

Both passes run the same evaluation (``adapters.evaluation.evaluate``, as ``llm-gym eval``
does) on the same loaded model, in the same process, one after the other:

- reference: :class:`ReprefillPolicy`, the batching policy as it was before the engine;
- engine: :class:`adapters.policies.local.LocalChatPolicy`.

The README's main job is ``llm-gym eval LLMTicTacToe-v0 --opponent random --opponent optimal
-n 4 --max-tokens 48``; the default here is the same with ``-n 2`` (pass ``--games 4`` for the
full job). With ``--temperature 0`` both passes must produce the same replies, which the script
checks. ``--dtype bfloat16`` adds a third pass of the engine with the model in bfloat16 and
reports how many of its greedy replies equal float32's::

    python benchmarks/local_generation.py
    python benchmarks/local_generation.py --games 4 --temperature 0 --dtype bfloat16
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import torch

import llm_gym  # noqa: F401
from adapters.evaluation import EvalConfig, EvalSetting, evaluate
from adapters.models import load_model_and_tokenizer
from adapters.policies.base import PolicyReply
from adapters.policies.factory import PolicySpec
from adapters.policies.local import LocalChatPolicy

ENV_ID = "LLMTicTacToe-v0"
SETTINGS = {
    "random": {"min_random_move_prob": 1.0, "max_random_move_prob": 1.0},
    "optimal": {"min_random_move_prob": 0.0, "max_random_move_prob": 0.0},
}


class ReprefillPolicy(LocalChatPolicy):
    """The local policy before the engine: every batch is one left-padded ``model.generate``
    over the whole conversations, sampling from the global RNG reseeded per batch."""

    def _generate(self, prompts: list[list[int]]) -> list[PolicyReply]:
        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        sample = self.temperature > 0
        kwargs: dict[str, Any] = {"do_sample": sample}
        if sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p)
            torch.manual_seed(self.seed * 1_000_003 + len(self.batch_sizes))
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=self.max_new_tokens,
                eos_token_id=self.engine.eos_token_ids,
                pad_token_id=pad,
                **kwargs,
            )
        replies = []
        for row, ids in enumerate(prompts):
            generated = output[row, width:].tolist()
            stops = [i for i, t in enumerate(generated) if t in self.engine.eos_token_ids]
            length = stops[0] + 1 if stops else len(generated)
            text = self.tokenizer.decode(generated[:length], skip_special_tokens=True)
            replies.append(PolicyReply(text.strip(), len(ids), length))
        return replies


def run_pass(
    policy: LocalChatPolicy, games: int, concurrency: int, env_kwargs: dict[str, Any]
) -> dict[str, Any]:
    config = EvalConfig(
        env_id=ENV_ID,
        policy=PolicySpec(model=policy.model_name),
        env_kwargs=env_kwargs,
        settings=[EvalSetting(name, kwargs) for name, kwargs in SETTINGS.items()],
        num_examples=games,
        concurrency=concurrency,
    )
    started = time.perf_counter()
    result = asyncio.run(evaluate(config, policy))
    wall = time.perf_counter() - started
    records = sorted(result.records, key=lambda r: (str(r.setting), r.seed))
    completion = sum(r.completion_tokens for r in records)
    prompt = sum(r.prompt_tokens for r in records)
    replies = [[t.action for t in r.turns] for r in records]
    return {
        "wall_s": wall,
        "completion_tokens": completion,
        "prompt_tokens": prompt,
        "tokens_per_s": completion / wall,
        "replies": replies,
        "turns": sum(len(r.turns) for r in records),
    }


def describe(name: str, figures: dict[str, Any]) -> None:
    print(
        f"{name:>10}: {figures['wall_s']:7.1f} s, {figures['turns']:3d} replies, "
        f"{figures['completion_tokens']:5d} completion tokens ({figures['prompt_tokens']} prompt "
        f"tokens): {figures['tokens_per_s']:6.2f} completion tokens/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=2, help="games per opponent setting")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--max-turns", type=int, default=None, help="the env's max_turns (default: its own, 8)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--dtype", choices=["float32", "bfloat16"], default="float32", help="extra engine pass"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    env_kwargs = {} if args.max_turns is None else {"max_turns": args.max_turns}
    model, tokenizer = load_model_and_tokenizer(None, dtype="float32", device="cpu")
    options = {
        "model_obj": model,
        "tokenizer": tokenizer,
        "max_new_tokens": args.max_tokens,
        "temperature": args.temperature,
        "max_batch_size": args.concurrency,
    }
    print(
        f"{ENV_ID}, opponents {', '.join(SETTINGS)}, {args.games} games each, "
        f"--max-tokens {args.max_tokens}, temperature {args.temperature}, env {env_kwargs}, "
        f"torch threads {torch.get_num_threads()}"
    )
    engine = run_pass(LocalChatPolicy(**options), args.games, args.concurrency, env_kwargs)
    describe("engine", engine)
    if not args.skip_reference:
        reference = run_pass(ReprefillPolicy(**options), args.games, args.concurrency, env_kwargs)
        describe("reference", reference)
        print(f"speed-up: {engine['tokens_per_s'] / reference['tokens_per_s']:.2f}x tokens/s")
        if args.temperature == 0:
            same = engine["replies"] == reference["replies"]
            print(f"greedy replies identical to the reference: {'yes' if same else 'NO'}")
    if args.dtype == "bfloat16":
        low = run_pass(
            LocalChatPolicy(**{**options, "model_obj": model.to(torch.bfloat16)}),
            args.games,
            args.concurrency,
            env_kwargs,
        )
        describe("bfloat16", low)
        print(f"bfloat16 / float32: {low['tokens_per_s'] / engine['tokens_per_s']:.2f}x tokens/s")
        pairs = [
            (a, b)
            for ra, rb in zip(engine["replies"], low["replies"], strict=True)
            for a, b in zip(ra, rb, strict=False)
        ]
        same = sum(a == b for a, b in pairs)
        print(f"bfloat16 replies equal to float32's: {same}/{len(pairs)} (compared turn by turn)")


if __name__ == "__main__":
    main()

"""Adapter overhead on a real OpenAI-compatible server: completion-token throughput of
``llm-gym``'s rollout path as a ratio to raw concurrent ``openai`` client calls.

Both sides send the same chats (system prompt + first observation of ``LLMTicTacToe-v0`` for
seeds 0..N-1) with the same sampling (temperature 0, fixed ``max_tokens``, fixed seed) and the
same concurrency, so the server produces the same completions; the passes alternate (raw,
adapter, raw, ...) so drifts in machine load hit both sides alike.

- raw: ``AsyncOpenAI.chat.completions.create`` under an ``asyncio.Semaphore``;
- adapter: :func:`adapters.rollout.run_episodes` with :class:`OpenAICompatiblePolicy` on
  ``LLMTicTacToe-v0`` with ``max_turns=1`` (env creation, reset, message building, request,
  reply parsing, env step and the episode record: everything an evaluation does per turn).

Run against a server you started::

    python -m adapters.llama_server --model GGUF --host 127.0.0.1 --port 8080 --chat_format chatml
    python benchmarks/adapter_throughput.py --base-url http://127.0.0.1:8080/v1

or let the script start the bundled model itself (``--start-server``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
from pathlib import Path

import gymnasium as gym
import openai

import llm_gym  # noqa: F401
from adapters.llama_server import serve_embedded_model
from adapters.policies.openai_compat import OpenAICompatiblePolicy, SamplingArgs
from adapters.rollout import EpisodeJob, run_episodes

ENV_ID = "LLMTicTacToe-v0"
ENV_KWARGS = {"max_turns": 1}


def first_chats(seeds: range) -> list[list[dict]]:
    env = gym.make(ENV_ID, **ENV_KWARGS)
    chats = []
    for seed in seeds:
        observation, info = env.reset(seed=seed)
        chats.append(
            [
                {"role": "system", "content": info["system_prompt"]},
                {"role": "user", "content": observation},
            ]
        )
    env.close()
    return chats


async def raw_pass(client, model, chats, sampling, concurrency) -> tuple[int, float]:
    limiter = asyncio.Semaphore(concurrency)

    async def one(messages):
        async with limiter:
            response = await client.chat.completions.create(
                model=model, messages=messages, **sampling.request_kwargs()
            )
        return response.usage.completion_tokens

    started = time.perf_counter()
    tokens = await asyncio.gather(*(one(m) for m in chats))
    return sum(tokens), time.perf_counter() - started


async def adapter_pass(policy, seeds, concurrency) -> tuple[int, float]:
    jobs = [EpisodeJob(ENV_ID, seed, 0, ENV_KWARGS) for seed in seeds]
    started = time.perf_counter()
    records = await run_episodes(jobs, policy, concurrency=concurrency)
    elapsed = time.perf_counter() - started
    if any(r.error for r in records):
        raise RuntimeError(records[0].error)
    return sum(r.completion_tokens for r in records), elapsed


async def benchmark(args) -> dict:
    seeds = range(args.prompts)
    chats = first_chats(seeds)
    sampling = SamplingArgs(temperature=0.0, max_tokens=args.max_tokens, seed=0)
    client = openai.AsyncOpenAI(base_url=args.base_url, api_key="local", max_retries=0)
    policy = OpenAICompatiblePolicy(
        args.model,
        base_url=args.base_url,
        api_key="local",
        sampling=sampling,
        max_concurrency=args.concurrency,
    )
    # warm-up: both clients open their connections, the env modules are imported
    await raw_pass(client, args.model, chats[:1], sampling, 1)
    await adapter_pass(policy, seeds[:1], 1)
    raw, adapter = [], []
    for round_number in range(args.rounds):
        # alternate which side goes first, so a drift in machine load favours neither
        if round_number % 2 == 0:
            raw.append(await raw_pass(client, args.model, chats, sampling, args.concurrency))
            adapter.append(await adapter_pass(policy, seeds, args.concurrency))
        else:
            adapter.append(await adapter_pass(policy, seeds, args.concurrency))
            raw.append(await raw_pass(client, args.model, chats, sampling, args.concurrency))
    await client.close()
    await policy.aclose()
    raw_tps = [tokens / seconds for tokens, seconds in raw]
    adapter_tps = [tokens / seconds for tokens, seconds in adapter]
    total_raw = sum(t for t, _ in raw) / sum(s for _, s in raw)
    total_adapter = sum(t for t, _ in adapter) / sum(s for _, s in adapter)
    return {
        "prompts": args.prompts,
        "max_tokens": args.max_tokens,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "completion_tokens_per_pass": {
            "raw": [t for t, _ in raw],
            "adapter": [t for t, _ in adapter],
        },
        "raw_tokens_per_s": raw_tps,
        "adapter_tokens_per_s": adapter_tps,
        "raw_tokens_per_s_overall": total_raw,
        "adapter_tokens_per_s_overall": total_adapter,
        "ratio_overall": total_adapter / total_raw,
        "ratio_median_of_rounds": statistics.median(
            a / r for a, r in zip(adapter_tps, raw_tps, strict=True)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint (else --start-server)")
    parser.add_argument("--start-server", action="store_true", help="serve the bundled GGUF")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.base_url is None and not args.start_server:
        parser.error("give --base-url or --start-server")
    with contextlib.ExitStack() as stack:
        if args.base_url is None:
            args.base_url = stack.enter_context(serve_embedded_model())
        result = asyncio.run(benchmark(args))
    result["base_url"] = args.base_url
    result["cpu_count"] = os.cpu_count()
    text = json.dumps(result, indent=2)
    print(text)
    print(
        f"adapter / raw completion-token throughput: {result['ratio_overall']:.3f} overall, "
        f"{result['ratio_median_of_rounds']:.3f} median of rounds "
        f"({result['adapter_tokens_per_s_overall']:.1f} vs "
        f"{result['raw_tokens_per_s_overall']:.1f} tokens/s)"
    )
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

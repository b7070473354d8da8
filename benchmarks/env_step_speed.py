"""Step speed of LLMTicTacToe-v0 next to PettingZoo's tictactoe_v3 random-play loop.

Run by hand (never as a timed test)::

    .venv/bin/python benchmarks/env_step_speed.py [--steps 20000] [--repeats 5]

Our env is measured with its minimax opponent and full text rendering, driven by a cheap
scripted reply: a random legal move, formatted as ``<move>N</move>`` (the policy reads the
board from ``info``, as a model-free baseline would). One of our steps is a model move *and*
the opponent's reply (two plies); one PettingZoo step is one ply, so both per-step and per-ply
figures are printed. PettingZoo's classic envs import pygame: it must be installed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import gymnasium as gym

import llm_gym  # noqa: F401  (registers the envs)
from llm_gym.envs.tictactoe import TicTacToeEnv

REPLIES = [f"<move>{cell}</move>" for cell in range(9)]


def run_ours(env: gym.Env, steps: int, seed: int) -> tuple[float, int]:
    """Seconds for ``steps`` env steps (resets included) and the number of plies played."""
    rng = random.Random(seed)
    inner = env.unwrapped
    episode = seed * 1_000_003
    _, info = env.reset(seed=episode)
    plies = 0
    start = time.perf_counter()
    for _ in range(steps):
        moves = info["legal_moves"]
        free_before = inner.board.count(".")  # type: ignore[attr-defined]
        _, _, terminated, truncated, info = env.step(REPLIES[moves[rng.randrange(len(moves))]])
        plies += free_before - info["board"].count(".")
        if terminated or truncated:
            episode += 1
            _, info = env.reset(seed=episode)
    return time.perf_counter() - start, plies


def run_pettingzoo(env, steps: int, seed: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """PettingZoo's AEC random-play loop: a random legal action from the action mask."""
    rng = random.Random(seed)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        observation, _, terminated, truncated, _ = env.last()
        if terminated or truncated:
            env.reset()
            observation, _, terminated, truncated, _ = env.last()
        legal = observation["action_mask"].nonzero()[0]
        env.step(int(legal[rng.randrange(len(legal))]))
    return time.perf_counter() - start, steps


def measure(
    name: str, run: Callable[[int, int], tuple[float, int]], steps: int, repeats: int
) -> dict[str, float]:
    run(max(steps // 10, 100), 999)  # warm-up: solver cache, imports, first-step checkers
    per_step, per_ply = [], []
    for repeat in range(repeats):
        seconds, plies = run(steps, repeat)
        per_step.append(seconds / steps * 1e6)
        per_ply.append(seconds / plies * 1e6)
    result = {
        "best": min(per_step),
        "median": statistics.median(per_step),
        "ply_best": min(per_ply),
        "ply_median": statistics.median(per_ply),
    }
    print(
        f"{name:<44} {result['best']:8.1f} {result['median']:8.1f}"
        f" {result['ply_best']:8.1f} {result['ply_median']:8.1f}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--random-move-prob", type=float, default=0.0, help="opponent strength")
    args = parser.parse_args()
    prob = {
        "min_random_move_prob": args.random_move_prob,
        "max_random_move_prob": args.random_move_prob,
    }

    print(f"{args.steps} steps x {args.repeats} repeats; microseconds (best / median)")
    print(f"{'':<44} {'us/step':>17} {'us/ply':>17}")
    print(f"{'':<44} {'best':>8} {'median':>8} {'best':>8} {'median':>8}")
    raw = TicTacToeEnv(**prob)
    ours = measure(
        "LLMTicTacToe-v0 (raw env)",
        lambda steps, seed: run_ours(raw, steps, seed),
        args.steps,
        args.repeats,
    )
    made = gym.make("LLMTicTacToe-v0", **prob)
    wrapped = measure(
        "LLMTicTacToe-v0 (gym.make, default wrappers)",
        lambda steps, seed: run_ours(made, steps, seed),
        args.steps,
        args.repeats,
    )
    try:
        from pettingzoo.classic import tictactoe_v3
    except ImportError as error:  # pygame missing, most likely
        print(f"PettingZoo tictactoe_v3 unavailable ({error}); pip install pygame")
        return
    pz_env = tictactoe_v3.env()
    pz = measure(
        "PettingZoo tictactoe_v3 (random play)",
        lambda steps, seed: run_pettingzoo(pz_env, steps, seed),
        args.steps,
        args.repeats,
    )
    print()
    for label, result in (("raw env", ours), ("gym.make", wrapped)):
        step_ratio = result["median"] / pz["median"]
        ply_ratio = result["ply_median"] / pz["ply_median"]
        print(
            f"ours ({label}) / PettingZoo, median: "
            f"{step_ratio:.2f}x per step, {ply_ratio:.2f}x per ply"
        )


if __name__ == "__main__":
    main()

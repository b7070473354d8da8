"""DAgger for tic-tac-toe: the teacher's reply wherever the student went wrong, in its own context.

The student plays (its whole greedy game tree by default, :mod:`adapters.exact`, or sampled
games); each distinct decision it met is judged by the game's rules, and every reply that is
invalid, badly formatted, not value-optimal (:func:`llm_gym.games.tictactoe.optimal_moves`) or
states false facts about the board becomes a prompt-completion row: the student's real history
as prompt, the teacher's reply to that same history as completion. The rows train the next SFT
round (``llm-gym train-sft``).

With ``context="last"`` (:mod:`adapters.context`) the student plays seeing only the system
prompt and the latest observation, a decision is a distinct visible conversation, and each row's
prompt is exactly that (what the next model trains on, and what its evaluation shows it).
"""

from __future__ import annotations

import asyncio
import importlib
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import gymnasium as gym

from adapters.context import Context, check_context, context_of, visible_messages, with_context
from adapters.exact import MemoPolicy, decision_key, decision_prompts, decision_weights
from adapters.policies.base import ChatPolicy
from adapters.records import EpisodeRecord, Message
from adapters.rollout import EpisodeJob, run_episodes, run_sync
from adapters.training.sft_cover import teacher_trees
from adapters.training.sft_data import InfoRecorder, position_example, write_jsonl
from llm_gym.envs.tictactoe import read_move
from llm_gym.games import tictactoe as ttt

DAGGER_ENV_ID = "LLMTicTacToe-v0"
REASONING_MODULE = "llm_gym.games.tictactoe_reasoning"

ReasoningChecker = Callable[[str, str], list[str]]
"""``(reply text, board) -> the false facts the reply states`` (empty when all are true)."""


@cache
def _module_checker() -> ReasoningChecker | None:
    try:
        module = importlib.import_module(REASONING_MODULE)
    except ModuleNotFoundError:
        return None
    return module.check_reasoning


def default_reasoning_checker(reply_text: str, board: str) -> list[str]:
    """``check_reasoning`` of :data:`REASONING_MODULE` when installed, else no finding."""
    checker = _module_checker()
    return checker(reply_text, board) if checker is not None else []


def reply_mistakes(
    reply_text: str,
    board: str,
    *,
    require_think: bool,
    check_reasoning: ReasoningChecker = default_reasoning_checker,
) -> list[str]:
    """What is wrong with a tic-tac-toe reply on ``board`` (empty when nothing is).

    Reasons: ``invalid`` (no playable move), ``format`` (a playable move outside the required
    format), ``not_optimal`` (the move loses value against perfect play), ``missed_win`` (a
    value-optimal move, but the student could have won at once and did not: the teacher's rule is
    win first), ``false_reasoning`` (``check_reasoning`` found a false statement).
    """
    cell, error, well_formatted = read_move(reply_text, board, require_think=require_think)
    if error is not None:
        return ["invalid"]
    reasons = []
    if not well_formatted:
        reasons.append("format")
    if cell not in ttt.optimal_moves(board):
        reasons.append("not_optimal")
    elif cell not in _winning_moves(board) and _winning_moves(board):
        reasons.append("missed_win")
    if check_reasoning(reply_text, board):
        reasons.append("false_reasoning")
    return reasons


def _winning_moves(board: str) -> list[int]:
    me = ttt.to_move(board)
    return [cell for cell in ttt.legal_moves(board) if ttt.winner(ttt.play(board, cell, me)) == me]


@dataclass
class Decision:
    """One distinct conversation the student answered (``prompt``: what it was shown)."""

    prompt: list[Message]
    reply: Message
    info: dict[str, Any]
    turn: int
    setting: str
    weights: dict[str, float] = field(default_factory=dict)


@dataclass
class DaggerReport:
    """What :func:`collect_dagger_rows` saw and wrote."""

    decisions: int
    relabelled: int
    reasons: dict[str, int]
    student_calls: int
    kept: int = 0
    """Correct decisions written with the student's own reply (``keep_correct``)."""
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)
    output: Path | None = None
    per_setting: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Setting -> (decisions met against it, of which relabelled)."""


async def collect_dagger_rows(
    student: ChatPolicy,
    teacher: ChatPolicy,
    *,
    settings: Mapping[str, Mapping[str, Any]],
    output: str | Path | None = None,
    episodes: int | None = None,
    seed: int = 0,
    concurrency: int = 8,
    check_reasoning: ReasoningChecker = default_reasoning_checker,
    env_id: str = DAGGER_ENV_ID,
    context: Context | None = None,
    keep_correct: bool = False,
    copies_per_weight: float = 0.0,
) -> DaggerReport:
    """Play the student, judge each distinct decision, relabel the wrong ones with the teacher.

    Args:
        student: the policy to correct; it must be deterministic (greedy) unless ``episodes``.
        teacher: writes the corrected replies (e.g. the scripted optimal player).
        settings: label -> env arguments of each opponent setting to play against.
        output: the JSONL file to write (overwritten); ``None`` keeps the rows in memory.
        episodes: sample this many games per setting (seeds ``seed ..``) instead of walking the
            student's whole greedy tree.
        seed, concurrency: of the sampled games.
        check_reasoning: finds false statements in a reply (see :data:`ReasoningChecker`).
        env_id: the tic-tac-toe env id (rows record it).
        context: what the student and the teacher are shown and the rows' prompts hold
            (``None``: the student's own, :func:`adapters.context.context_of`).
        keep_correct: also write a row at every decision the student got right, with its own
            reply as completion (rehearsal rows: the next round keeps what this one does right).
        copies_per_weight: write each row ``1 + floor(copies_per_weight * w)`` times, ``w`` its
            highest probability of being met in a game against a setting, so that training
            weighs decisions as the exact evaluation does (walked trees only).

    Returns:
        The report, with one row per relabelled decision (and per kept one): ``prompt`` and
        ``completion`` as in :func:`~adapters.training.sft_data.position_example`, plus
        ``reasons`` (empty for a kept decision) and ``student_reply`` (and ``weights`` per
        setting when walked exactly), each row repeated as ``copies_per_weight`` says.
    """
    if not settings:
        raise ValueError("DAgger needs at least one opponent setting to play against")
    if copies_per_weight < 0:
        raise ValueError(f"copies_per_weight must be >= 0, got {copies_per_weight}")
    if copies_per_weight and episodes is not None:
        raise ValueError(
            "copies_per_weight needs each decision's probability of being met: walk the "
            "student's greedy tree (no episodes)"
        )
    if env_id.split(":")[-1] != DAGGER_ENV_ID:
        raise ValueError(f"DAgger judges tic-tac-toe moves: env must be {DAGGER_ENV_ID}")
    student = with_context(student, context)
    context = check_context(context_of(student), env_id)
    teacher = with_context(teacher, context)
    if episodes is None:
        memo = MemoPolicy(student)
        trees = await teacher_trees(env_id, memo, settings)
        infos, calls = memo.infos, memo.calls
    else:
        recorder = InfoRecorder(student)
        trees = await sampled_games(env_id, recorder, settings, episodes, seed, concurrency)
        infos = recorder.infos
        calls = sum(len(game.turns) for tree in trees.values() for game in tree)
    decisions = distinct_decisions(trees, infos, weighted=episodes is None, context=context)
    require_think = {label: _requires_think(env_id, kwargs) for label, kwargs in settings.items()}
    judged = {
        key: reply_mistakes(
            str(decision.reply.get("content") or ""),
            decision.info["board"],
            require_think=require_think[decision.setting],
            check_reasoning=check_reasoning,
        )
        for key, decision in decisions.items()
    }
    wrong = [key for key, reasons in judged.items() if reasons]
    corrections = await asyncio.gather(
        *(teacher.reply(decisions[key].prompt, info=decisions[key].info) for key in wrong)
    )
    completions = dict(zip(wrong, (c.assistant_message() for c in corrections), strict=True))
    if keep_correct:
        completions.update(
            (key, decision.reply) for key, decision in decisions.items() if not judged[key]
        )
    rows = [
        position_example(
            decisions[key].prompt,
            completion,
            env_id=env_id,
            turn=decisions[key].turn,
            info=decisions[key].info,
            context=context,
            reasons=judged[key],
            student_reply=decisions[key].reply.get("content"),
            **({"weights": decisions[key].weights} if episodes is None else {}),
        )
        for key, completion in completions.items()
        for _ in range(row_copies(decisions[key].weights, copies_per_weight))
    ]
    per_setting = {}
    for label, tree in trees.items():
        keys = decision_weights(tree, context).keys()
        per_setting[label] = (len(keys), sum(bool(judged[key]) for key in keys))
    report = DaggerReport(
        decisions=len(decisions),
        relabelled=len(wrong),
        kept=len(completions) - len(wrong),
        reasons=dict(Counter(reason for key in wrong for reason in judged[key])),
        student_calls=calls,
        rows=rows,
        per_setting=per_setting,
    )
    if output is not None:
        report.output = Path(output)
        write_jsonl(report.output, rows)
    return report


def row_copies(weights: Mapping[str, float], copies_per_weight: float) -> int:
    """How many times a row is written: ``1 + floor(copies_per_weight * max(weights))``."""
    return 1 + math.floor(copies_per_weight * max(weights.values(), default=0.0))


def collect_dagger_rows_sync(student: ChatPolicy, teacher: ChatPolicy, **kwargs: Any):
    """:func:`collect_dagger_rows` from sync code (also inside Jupyter's running loop)."""
    return run_sync(collect_dagger_rows(student, teacher, **kwargs))


async def sampled_games(
    env_id: str,
    student: ChatPolicy,
    settings: Mapping[str, Mapping[str, Any]],
    episodes: int,
    seed: int,
    concurrency: int,
) -> dict[str, list[EpisodeRecord]]:
    """``episodes`` games of the student against each setting (seeds ``seed ..``)."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    jobs = [
        EpisodeJob(env_id, seed + index, 0, dict(kwargs), label)
        for label, kwargs in settings.items()
        for index in range(episodes)
    ]
    records = await run_episodes(jobs, student, concurrency=concurrency)
    return {label: [r for r in records if r.setting == label] for label in settings}


def distinct_decisions(
    trees: Mapping[str, Sequence[EpisodeRecord]],
    infos: Mapping[str, Mapping[str, Any]],
    *,
    weighted: bool,
    context: Context = "full",
) -> dict[str, Decision]:
    """Each distinct decision of the games once (told apart, and prompted, by what ``context``
    shows), in order of first meeting.

    With ``weighted``, each gets its probability of being met in a game against each setting
    (the games must carry probabilities: a walked tree).
    """
    weights = (
        {label: decision_weights(tree, context) for label, tree in trees.items()}
        if weighted
        else {}
    )
    decisions: dict[str, Decision] = {}
    for label, tree in trees.items():
        for game in tree:
            for turn, prompt in enumerate(decision_prompts(game)):
                key = decision_key(prompt, context)
                if key not in decisions:
                    decisions[key] = Decision(
                        prompt=visible_messages(prompt, context),
                        reply=game.messages[len(prompt)],
                        info=dict(infos[key]),
                        turn=turn,
                        setting=label,
                        weights={name: w.get(key, 0.0) for name, w in weights.items()},
                    )
    return decisions


def _requires_think(env_id: str, env_kwargs: Mapping[str, Any]) -> bool:
    env = gym.make(env_id, disable_env_checker=True, **dict(env_kwargs))
    try:
        return bool(getattr(env.unwrapped, "require_think", False))
    finally:
        env.close()

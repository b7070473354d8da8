"""Teacher data that covers the game: every conversation a deterministic teacher meets.

Sampled teacher games miss positions (200 tic-tac-toe games cover roughly 80-90% of what
evaluation weighs). :func:`generate_cover_data` walks the teacher's whole game tree against each
opponent setting instead (:mod:`adapters.exact`, one teacher call per distinct conversation)
and writes every distinct game (``rows="episode"``) or every distinct decision once
(``rows="position"``, each with ``weights``: its probability of being met in a game against each
setting). :func:`coverage` measures how much of a teacher's tree any data set holds. With
``context="last"`` (:mod:`adapters.context`) decisions are told apart by what the teacher is
shown (system prompt and latest observation): one row per distinct visible prompt.

>>> from adapters.policies import ScriptedChatPolicy
>>> teacher = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "optimal")
>>> optimal = {"min_random_move_prob": 0.0, "max_random_move_prob": 0.0}
>>> report = generate_cover_data_sync("LLMTicTacToe-v0", teacher, settings={"optimal": optimal},
...                                   output=None, rows="position")
>>> report.coverage["optimal"].share, len(report.examples) == report.coverage["optimal"].decisions
(1.0, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.context import DEFAULT_CONTEXT, Context, check_context, context_of, with_context
from adapters.exact import (
    MemoPolicy,
    conversation_key,
    decision_key,
    decision_prompts,
    decision_weights,
    walk,
)
from adapters.policies.base import ChatPolicy
from adapters.records import EpisodeRecord
from adapters.rollout import run_sync
from adapters.training.sft_data import (
    EpisodeFilter,
    SFTDataReport,
    check_row_shape,
    default_filter,
    episode_to_example,
    filter_episodes,
    position_example,
    write_jsonl,
)


@dataclass(frozen=True)
class Coverage:
    """How much of the decisions a teacher meets against one opponent setting a data set holds.

    Attributes:
        decisions: distinct conversations the teacher answers in its games against the setting.
        covered: how many of them the data holds.
        weighted: the share weighted by how likely a game meets each decision (the expected
            share of a game's decisions that the data holds).
    """

    decisions: int
    covered: int
    weighted: float

    @property
    def share(self) -> float:
        return self.covered / self.decisions if self.decisions else 0.0


def coverage(
    tree: Sequence[EpisodeRecord],
    covered: frozenset[str] | set[str],
    context: Context = DEFAULT_CONTEXT,
) -> Coverage:
    """The coverage of a teacher's game tree (from :func:`adapters.exact.walk`) by ``covered``.

    Args:
        tree: the teacher's distinct games against one setting, with probabilities.
        covered: conversations (:func:`adapters.exact.decision_key` in ``context``) the data
            holds.
        context: what tells decisions apart (:mod:`adapters.context`).
    """
    weights = decision_weights(tree, context)
    total = sum(weights.values())
    held = [key for key in weights if key in covered]
    return Coverage(
        decisions=len(weights),
        covered=len(held),
        weighted=sum(weights[key] for key in held) / total if total else 0.0,
    )


async def teacher_trees(
    env_id: str, teacher: MemoPolicy, settings: Mapping[str, Mapping[str, Any]]
) -> dict[str, list[EpisodeRecord]]:
    """The teacher's distinct games against each setting (label -> env arguments)."""
    return {
        label: await walk(env_id, teacher, env_kwargs=kwargs, setting=label)
        for label, kwargs in settings.items()
    }


@dataclass
class CoverReport(SFTDataReport):
    """An :class:`~adapters.training.sft_data.SFTDataReport` with the coverage per setting."""

    coverage: dict[str, Coverage] | None = None
    teacher_calls: int = 0


async def generate_cover_data(
    env_id: str,
    teacher: ChatPolicy,
    *,
    settings: Mapping[str, Mapping[str, Any]],
    output: str | Path | None,
    rows: str = "episode",
    episode_filter: EpisodeFilter | None = None,
    context: Context | None = None,
) -> CoverReport:
    """Walk a deterministic teacher against every setting and write rows covering its tree.

    Args:
        env_id: an env that exposes its chance events (``LLMTicTacToe-v0``).
        teacher: a deterministic chat policy (a scripted player, a model at temperature 0).
        settings: label -> env arguments of each opponent setting.
        output: the JSONL file to write (overwritten); ``None`` keeps the rows in memory only.
        rows: ``"episode"`` (each distinct game once) or ``"position"`` (each distinct decision
            once, with ``weights``: label -> probability that a game meets it).
        episode_filter: which games to keep (:func:`~adapters.training.sft_data.default_filter`
            when ``None``); position rows come from the kept games.
        context: what the teacher is shown and the position rows' prompts hold (``None``: the
            teacher's own); ``"last"`` needs position rows.

    Raises:
        ValueError: no setting, a bad ``rows`` (or episode rows with context ``"last"``), an
            env without chance control, or a context its card does not allow.
    """
    if not settings:
        raise ValueError("cover data needs at least one opponent setting to walk")
    teacher = with_context(teacher, context)
    context = check_context(context_of(teacher), env_id)
    check_row_shape(rows, context)
    memo = teacher if isinstance(teacher, MemoPolicy) else MemoPolicy(teacher)
    trees = await teacher_trees(env_id, memo, settings)
    games = distinct_games(trees)
    kept, base = filter_episodes(games, episode_filter or default_filter(env_id), context)
    if rows == "episode":
        examples = [episode_to_example(game) for game in kept]
    else:
        weights = {label: decision_weights(tree, context) for label, tree in trees.items()}
        examples = distinct_position_rows(env_id, kept, memo, weights)
    report = CoverReport(
        **{**vars(base), "examples": examples},
        coverage={label: coverage(tree, base.decisions, context) for label, tree in trees.items()},
        teacher_calls=memo.calls,
    )
    if output is not None:
        report.output = Path(output)
        write_jsonl(report.output, examples)
    return report


def generate_cover_data_sync(env_id: str, teacher: ChatPolicy, **kwargs: Any) -> CoverReport:
    """:func:`generate_cover_data` from sync code (also inside Jupyter's running loop)."""
    return run_sync(generate_cover_data(env_id, teacher, **kwargs))


def distinct_games(trees: Mapping[str, Sequence[EpisodeRecord]]) -> list[EpisodeRecord]:
    """Each distinct game of the trees once (the first setting's record of it)."""
    games: dict[str, EpisodeRecord] = {}
    for tree in trees.values():
        for game in tree:
            games.setdefault(conversation_key(game.messages) + "\n" + game.final_observation, game)
    return list(games.values())


def distinct_position_rows(
    env_id: str,
    games: Sequence[EpisodeRecord],
    teacher: MemoPolicy,
    weights: Mapping[str, Mapping[str, float]],
) -> list[dict[str, Any]]:
    """One prompt-completion row per distinct decision of ``games`` (told apart in the teacher's
    context, which the prompts show), in order of first meeting."""
    rows: dict[str, dict[str, Any]] = {}
    for game in games:
        for turn, prompt in enumerate(decision_prompts(game)):
            key = decision_key(prompt, teacher.context)
            if key in rows:
                continue
            rows[key] = position_example(
                prompt,
                game.messages[len(prompt)],
                env_id=env_id,
                turn=turn,
                info=teacher.infos.get(key),
                context=teacher.context,
                weights={label: by_key.get(key, 0.0) for label, by_key in weights.items()},
            )
    return list(rows.values())

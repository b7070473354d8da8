"""Teacher data that covers the game, and per-position prompt-completion rows."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.exact import MemoPolicy, walk_sync
from adapters.policies import ScriptedChatPolicy
from adapters.training.sft_cover import coverage, generate_cover_data_sync
from adapters.training.sft_data import generate_sft_data_sync
from llm_gym.envs.tictactoe import OPPONENT_SETTINGS
from llm_gym.games import tictactoe as ttt
from llm_gym.policies import make_scripted_policy

ENV = "LLMTicTacToe-v0"
SETTINGS = {name: OPPONENT_SETTINGS[name] for name in ("random", "optimal")}
runner = CliRunner()


def teacher_decisions(only_optimal_replies: bool) -> list[tuple[str, str, float]]:
    """(side, board, probability a game meets it) of each conversation the teacher answers.

    One entry per history (a board reached by two move orders is two conversations). Opponent
    replies: uniform over legal cells, or over optimal cells for the optimal opponent.
    """
    teacher = make_scripted_policy(ENV, "optimal")
    decisions: list[tuple[str, str, float]] = []

    def model_turn(board: str, mark: str, probability: float) -> None:
        decisions.append((mark, board, probability))
        cell = int(re.search(r"<move>(\d)</move>", teacher("", {"board": board})).group(1))
        board = ttt.play(board, cell, mark)
        if not ttt.is_over(board):
            opponent_turn(board, mark, probability)

    def opponent_turn(board: str, mark: str, probability: float) -> None:
        replies = ttt.optimal_moves(board) if only_optimal_replies else ttt.legal_moves(board)
        for cell in replies:
            after = ttt.play(board, cell, ttt.other(mark))
            if not ttt.is_over(after):
                model_turn(after, mark, probability / len(replies))

    model_turn(ttt.EMPTY_BOARD, "X", 0.5)
    opponent_turn(ttt.EMPTY_BOARD, "O", 0.5)
    return decisions


def by_position(entries) -> dict[tuple[str, str], float]:
    """(side, board) -> summed probability."""
    totals: dict[tuple[str, str], float] = {}
    for side, board, probability in entries:
        totals[(side, board)] = totals.get((side, board), 0.0) + probability
    return totals


def test_cover_position_rows_hold_each_decision_once_with_its_probabilities():
    teacher = make_scripted_policy(ENV, "optimal")
    report = generate_cover_data_sync(
        ENV,
        ScriptedChatPolicy.for_env(ENV, "optimal"),
        settings=SETTINGS,
        output=None,
        rows="position",
    )
    vs_random = teacher_decisions(only_optimal_replies=False)
    vs_optimal = teacher_decisions(only_optimal_replies=True)
    rows = report.examples
    assert len(rows) == len(vs_random)
    assert report.teacher_calls == len(vs_random)
    for label, expected in (("random", vs_random), ("optimal", vs_optimal)):
        weights = by_position((r["side"], r["board"], r["weights"][label]) for r in rows)
        expected_weights = by_position(expected)
        assert {k for k, w in weights.items() if w > 0} == set(expected_weights)
        for position, weight in expected_weights.items():
            assert weights[position] == pytest.approx(weight, abs=1e-12)
    for row in rows:
        assert row["prompt"][0]["role"] == "system" and row["prompt"][-1]["role"] == "user"
        assert ttt.render_board(row["board"]) in row["prompt"][-1]["content"]
        assert f"You play {row['side']}." in row["prompt"][-1]["content"]
        assert row["completion"] == [
            {"role": "assistant", "content": teacher("", {"board": row["board"]})}
        ]
    assert {label: c.share for label, c in report.coverage.items()} == {
        "random": 1.0,
        "optimal": 1.0,
    }


def test_cover_episode_rows_are_the_distinct_games():
    report = generate_cover_data_sync(
        ENV,
        ScriptedChatPolicy.for_env(ENV, "optimal"),
        settings={"optimal": OPPONENT_SETTINGS["optimal"]},
        output=None,
    )
    games = walk_sync(
        ENV,
        MemoPolicy(ScriptedChatPolicy.for_env(ENV, "optimal")),
        env_kwargs=OPPONENT_SETTINGS["optimal"],
    )
    assert len(report.examples) == len(games) == report.kept
    texts = {json.dumps(row["messages"]) for row in report.examples}
    assert len(texts) == len(games)
    assert all(row["messages"][-1]["role"] == "assistant" for row in report.examples)


def test_sampled_position_rows_split_each_kept_episode_into_its_replies():
    teacher = ScriptedChatPolicy.for_env(ENV, "optimal")
    episodes = generate_sft_data_sync(ENV, teacher, episodes=12, output=None)
    positions = generate_sft_data_sync(ENV, teacher, episodes=12, output=None, rows="position")
    chats = [row["messages"] for row in episodes.examples]
    replies = sum(sum(m["role"] == "assistant" for m in chat) for chat in chats)
    assert len(positions.examples) == replies
    ends = [row["prompt"] + row["completion"] for row in positions.examples]
    for chat in chats:
        assert chat in ends
    assert all(
        row["turn"] == sum(m["role"] == "assistant" for m in row["prompt"])
        for row in positions.examples
    )


def test_sampled_games_cover_part_of_the_tree_and_more_games_cover_more():
    teacher = ScriptedChatPolicy.for_env(ENV, "optimal")
    tree = walk_sync(ENV, MemoPolicy(teacher), env_kwargs=OPPONENT_SETTINGS["random"])
    shares = []
    for episodes in (5, 60):
        report = generate_sft_data_sync(
            ENV, teacher, episodes=episodes, output=None, env_kwargs=OPPONENT_SETTINGS["random"]
        )
        shares.append(coverage(tree, report.decisions).weighted)
    assert 0.0 < shares[0] < shares[1] < 1.0
    assert coverage(tree, set()).weighted == 0.0


def test_sft_data_cli_cover_writes_rows_and_reports_coverage(tmp_path):
    out = tmp_path / "cover.jsonl"
    result = runner.invoke(
        app,
        ["sft-data", ENV, "-o", str(out), "--cover", "--opponent", "optimal", "--rows", "position"],
    )
    assert result.exit_code == 0, result.output
    assert "Coverage of the teacher's decisions" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(teacher_decisions(only_optimal_replies=True))
    assert set(rows[0]) >= {"prompt", "completion", "env_id", "side", "board", "turn", "weights"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cover", "--temperature", "0.5"], "greedy"),
        (["--rows", "turns"], "--rows"),
    ],
)
def test_sft_data_cli_rejects_bad_cover_options(tmp_path, args, message):
    result = runner.invoke(app, ["sft-data", ENV, "-o", str(tmp_path / "x.jsonl"), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_cover_needs_an_env_with_chance_control():
    oracle = ScriptedChatPolicy.for_env("LLMReverseText-v0", "oracle")
    with pytest.raises(ValueError, match="chance events"):
        generate_cover_data_sync("LLMReverseText-v0", oracle, settings={"default": {}}, output=None)

"""DAgger: a scripted student with known mistakes gets exactly those decisions relabelled."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.policies.base import PolicyReply
from adapters.training.dagger import collect_dagger_rows_sync, reply_mistakes
from llm_gym.envs.tictactoe import OPPONENT_SETTINGS
from llm_gym.games import tictactoe as ttt
from llm_gym.policies import make_scripted_policy

ENV = "LLMTicTacToe-v0"
FALSE_CLAIM = "Cell 4 is mine."
runner = CliRunner()
teacher_player = make_scripted_policy(ENV, "optimal")


def teacher_cell(board: str) -> int:
    return int(re.search(r"<move>(\d)</move>", teacher_player("", {"board": board})).group(1))


class MistakenStudent:
    """The teacher, except for three planted mistakes.

    - O's first move: the lowest cell that is not value-optimal (``not_optimal``);
    - X's second move when cell 0 is taken: cell 0 again (``invalid``), then the teacher's move;
    - X's first move: the teacher's cell with a false claim in its reasoning (``false_reasoning``).
    """

    name = "mistaken"

    async def reply(self, messages, *, tools=None, info=None) -> PolicyReply:
        board = info["board"]
        mark = ttt.to_move(board)
        if messages[-1]["content"].startswith("Invalid reply"):
            return PolicyReply(text=teacher_player("", {"board": board}))
        if mark == "O" and board.count("X") == 1:
            wrong = [c for c in ttt.legal_moves(board) if c not in ttt.optimal_moves(board)]
            return PolicyReply(text=f"<move>{wrong[0]}</move>")
        if mark == "X" and board.count("X") == 1 and board[0] != ttt.EMPTY:
            return PolicyReply(text="<move>0</move>")
        if board == ttt.EMPTY_BOARD:
            return PolicyReply(
                text=f"<think>{FALSE_CLAIM}</think><move>{teacher_cell(board)}</move>"
            )
        return PolicyReply(text=teacher_player("", {"board": board}))


def claim_checker(reply: str, board: str) -> list[str]:
    return ["cell 4 is not X's"] if FALSE_CLAIM in reply and board[4] != "X" else []


def expected_mistakes() -> dict[tuple[str, str], list[str]]:
    """(side, board) -> reasons, against the random opponent, from the rules alone."""
    expected: dict[tuple[str, str], list[str]] = {("X", ttt.EMPTY_BOARD): ["false_reasoning"]}
    for opening in range(9):
        board = ttt.play(ttt.EMPTY_BOARD, opening, "X")
        if set(ttt.legal_moves(board)) - set(ttt.optimal_moves(board)):
            expected[("O", board)] = ["not_optimal"]
    after_x = ttt.play(ttt.EMPTY_BOARD, teacher_cell(ttt.EMPTY_BOARD), "X")
    for reply in ttt.legal_moves(after_x):
        board = ttt.play(after_x, reply, "O")
        if board[0] != ttt.EMPTY:
            expected[("X", board)] = ["invalid"]
    return expected


def test_dagger_relabels_exactly_the_planted_mistakes_with_the_teacher():
    report = collect_dagger_rows_sync(
        MistakenStudent(),
        make_scripted_chat_teacher(),
        settings={"random": OPPONENT_SETTINGS["random"]},
        check_reasoning=claim_checker,
    )
    found = {(row["side"], row["board"]): row["reasons"] for row in report.rows}
    assert found == expected_mistakes()
    assert report.relabelled == len(report.rows) == len(found)
    for row in report.rows:
        board = row["board"]
        assert row["completion"] == [
            {"role": "assistant", "content": teacher_player("", {"board": board})}
        ]
        assert ttt.render_board(board) in row["prompt"][-1]["content"]
        assert row["weights"]["random"] > 0
    reasons = [reason for row in report.rows for reason in row["reasons"]]
    assert report.reasons == {r: reasons.count(r) for r in set(reasons)}
    assert report.decisions == report.student_calls > report.relabelled


def test_dagger_on_sampled_games_relabels_only_real_mistakes():
    report = collect_dagger_rows_sync(
        MistakenStudent(),
        make_scripted_chat_teacher(),
        settings={"optimal": OPPONENT_SETTINGS["optimal"]},
        episodes=20,
        check_reasoning=claim_checker,
    )
    expected = expected_mistakes()
    assert report.rows
    for row in report.rows:
        assert row["reasons"] == expected[(row["side"], row["board"])]
        assert "weights" not in row
    assert report.student_calls >= report.decisions


def test_the_teacher_itself_makes_no_mistake():
    report = collect_dagger_rows_sync(
        make_scripted_chat_teacher(),
        make_scripted_chat_teacher(),
        settings={"random": OPPONENT_SETTINGS["random"]},
    )
    assert report.decisions > 0 and report.rows == []


@pytest.mark.parametrize(
    ("reply", "board", "reasons"),
    [
        ("<move>4</move>", "X........", []),
        ("<move>1</move>", "X........", ["not_optimal"]),
        ("<move>0</move>", "X........", ["invalid"]),
        ("I play 4", "X........", ["invalid"]),
        ("<move>4</move> because", "X........", ["format"]),
        ("<move>8</move>", "OO....XX.", []),
        ("<move>2</move>", "OO....XX.", ["missed_win"]),
        ("<move>3</move>", "OO....XX.", ["not_optimal"]),
    ],
)
def test_reply_mistakes_follow_the_rules(reply, board, reasons):
    assert reply_mistakes(reply, board, require_think=False) == reasons


def test_dagger_cli_writes_rows_and_counts(tmp_path):
    out = tmp_path / "rows.jsonl"
    result = runner.invoke(
        app,
        ["dagger", ENV, "--student", "scripted:random", "--opponent", "optimal", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "relabelled" in result.output and "reason: not_optimal" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(row["reasons"] for row in rows)
    bad = runner.invoke(
        app, ["dagger", ENV, "--student", "scripted:random", "-o", str(out), "-t", "0.7"]
    )
    assert bad.exit_code == 2 and "--episodes" in bad.output


def test_keep_correct_adds_the_students_own_right_replies_and_copies_follow_the_weights():
    report = collect_dagger_rows_sync(
        MistakenStudent(),
        make_scripted_chat_teacher(),
        settings={"random": OPPONENT_SETTINGS["random"]},
        check_reasoning=claim_checker,
        keep_correct=True,
        copies_per_weight=20,
    )
    assert report.relabelled == len(expected_mistakes())
    assert report.kept == report.decisions - report.relabelled > 0
    distinct: dict[str, list[dict]] = {}
    for row in report.rows:
        distinct.setdefault(json.dumps(row["prompt"]), []).append(row)
    assert len(distinct) == report.decisions
    relabelled = {(r["side"], r["board"]): r["reasons"] for r in report.rows if r["reasons"]}
    assert relabelled == expected_mistakes()
    for rows in distinct.values():
        assert len(rows) == 1 + int(20 * rows[0]["weights"]["random"])
        assert all(row == rows[0] for row in rows)
        if not rows[0]["reasons"]:
            assert rows[0]["completion"][0]["content"] == rows[0]["student_reply"]
    first_moves = [rows for rows in distinct.values() if rows[0]["board"] == ttt.EMPTY_BOARD]
    assert len(first_moves) == 1 and len(first_moves[0]) == 1 + 20 // 2


def test_dagger_cli_keeps_correct_decisions_and_copies_rows(tmp_path):
    out = tmp_path / "rows.jsonl"
    args = ["dagger", ENV, "--student", "scripted:random", "--opponent", "optimal", "-o", str(out)]
    result = runner.invoke(app, [*args, "--keep-correct", "--copies-per-weight", "10"])
    assert result.exit_code == 0, result.output
    assert "kept (the student's own reply)" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert any(not row["reasons"] for row in rows) and any(row["reasons"] for row in rows)
    assert f"wrote {len(rows)} rows" in result.output
    bad = runner.invoke(app, [*args, "--copies-per-weight", "10", "--episodes", "3"])
    assert bad.exit_code == 2 and "greedy tree" in bad.output


def test_copies_per_weight_needs_the_walk():
    with pytest.raises(ValueError, match="walk the student's greedy tree"):
        collect_dagger_rows_sync(
            MistakenStudent(),
            make_scripted_chat_teacher(),
            settings={"random": OPPONENT_SETTINGS["random"]},
            episodes=2,
            copies_per_weight=10,
        )


def make_scripted_chat_teacher():
    from adapters.policies import ScriptedChatPolicy

    return ScriptedChatPolicy.for_env(ENV, "optimal")

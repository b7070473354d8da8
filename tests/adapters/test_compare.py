"""llm-gym compare: runs side by side, sampled and exact."""

from __future__ import annotations

from typer.testing import CliRunner

from adapters.cli import app
from adapters.comparison import load_run_rows

runner = CliRunner()


def _eval(tmp_path, name: str, *args: str) -> str:
    folder = tmp_path / name
    result = runner.invoke(
        app, ["eval", "LLMTicTacToe-v0", "--opponent", "random", *args, "-o", str(folder)]
    )
    assert result.exit_code == 0, result.output
    return str(folder)


def test_compare_lists_each_run_per_setting(tmp_path) -> None:
    exact = _eval(tmp_path, "exact", "-m", "scripted:optimal", "--exact")
    sampled = _eval(tmp_path, "sampled", "-m", "scripted:random", "-n", "20")
    rows = load_run_rows(exact) + load_run_rows(sampled)
    assert [(r.model, r.setting, r.exact) for r in rows] == [
        ("scripted:optimal", "random", True),
        ("scripted:random", "random", False),
    ]
    assert abs(rows[0].outcome_rates["win"] - 0.9556) < 1e-4
    assert rows[1].games == 20
    result = runner.invoke(app, ["compare", exact, sampled], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "scripted:optimal" in result.output and "exact" in result.output
    assert "95.6%" in result.output


def test_compare_refuses_a_folder_without_summary(tmp_path) -> None:
    result = runner.invoke(app, ["compare", str(tmp_path)])
    assert result.exit_code == 2
    assert "no summary.json in" in result.output

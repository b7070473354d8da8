"""A model folder's llm_gym.json: how the model asks to be prompted, used wherever the command
line leaves --context or --max-tokens out, written by train-sft and carried by lora-stack."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.cli.dagger import student_prompting
from adapters.cli.options import model_prompting
from adapters.prompting import (
    PROMPTING_FILE,
    ModelPrompting,
    read_prompting,
    reply_budget,
    write_prompting,
)

TICTACTOE = "LLMTicTacToe-v0"
MATH = "LLMDoubleCheckMath-v0"


@pytest.fixture
def last_context_model(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    write_prompting(folder, ModelPrompting(context="last", max_tokens=160))
    return folder


def test_a_declared_context_and_budget_fill_the_options_left_out(last_context_model) -> None:
    model = str(last_context_model)
    assert model_prompting(TICTACTOE, model, base_url=None, context=None, max_tokens=None) == (
        "last",
        160,
    )
    assert model_prompting(TICTACTOE, model, base_url=None, context="full", max_tokens=64) == (
        "full",
        64,
    )


def test_a_model_that_declares_nothing_gets_the_defaults(tmp_path) -> None:
    for model in ("scripted:optimal", "some/hub-id", str(tmp_path)):
        assert model_prompting(
            TICTACTOE, model, base_url=None, context=None, max_tokens=None, fallback_max_tokens=64
        ) == ("full", 64)


def test_a_served_model_is_not_looked_up_on_disk(last_context_model) -> None:
    """Behind --base-url the name is the server's; a local folder of that name says nothing."""
    assert model_prompting(
        TICTACTOE, str(last_context_model), base_url="http://x/v1", context=None, max_tokens=None
    ) == ("full", None)


def test_a_declared_context_is_checked_against_the_env_card(last_context_model) -> None:
    import typer

    with pytest.raises(typer.BadParameter, match="state_in_observation"):
        model_prompting(MATH, str(last_context_model), base_url=None, context=None, max_tokens=None)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"context": "middle"}', "context must be one of full, last"),
        ('{"max_tokens": 0}', "max_tokens must be a positive integer"),
        ('{"max_tokens": "160"}', "max_tokens must be a positive integer"),
        ('{"temperature": 0.2}', "unknown keys"),
        ("{not json", "Expecting property name"),
    ],
)
def test_a_malformed_file_is_an_error_that_names_it(tmp_path, content, expected) -> None:
    (tmp_path / PROMPTING_FILE).write_text(content)
    with pytest.raises(ValueError, match=expected) as error:
        read_prompting(str(tmp_path))
    assert str(tmp_path / PROMPTING_FILE) in str(error.value)


def test_eval_reports_a_malformed_file_before_loading_the_model(tmp_path) -> None:
    (tmp_path / PROMPTING_FILE).write_text('{"context": "middle"}')
    args = ["eval", TICTACTOE, "-m", str(tmp_path), "-n", "1", "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "context must be one of full, last" in result.output
    assert not (tmp_path / "out").exists()


def test_writing_nothing_declared_leaves_no_file(tmp_path) -> None:
    assert write_prompting(tmp_path, ModelPrompting()) is None
    assert not (tmp_path / PROMPTING_FILE).exists()
    written = write_prompting(tmp_path, ModelPrompting(max_tokens=40))
    assert json.loads(written.read_text()) == {"max_tokens": 40}
    assert read_prompting(str(tmp_path)) == ModelPrompting(max_tokens=40)


def test_the_reply_budget_leaves_room_beyond_the_longest_reply() -> None:
    assert reply_budget(8) == 24
    assert reply_budget(128) == 160
    assert all(reply_budget(n) >= n + 16 for n in range(1, 500))


def test_a_recorded_student_keeps_its_recorded_context_over_a_declared_one(tmp_path) -> None:
    import typer

    run_dir = tmp_path / "run"
    record = ["eval", TICTACTOE, "--exact", "--opponent", "random", "-m", "scripted:random"]
    result = CliRunner().invoke(app, [*record, "--context", "last", "-o", str(run_dir)])
    assert result.exit_code == 0, result.output
    student = f"recorded:{run_dir}"
    assert student_prompting(TICTACTOE, student, base_url=None, context=None, max_tokens=None) == (
        "last",
        None,
    )
    with pytest.raises(typer.BadParameter, match="recorded with --context last"):
        student_prompting(TICTACTOE, student, base_url=None, context="full", max_tokens=None)

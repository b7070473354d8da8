"""SFT rows of both kinds: validation, and which tokens the loss covers (embedded tokenizer)."""

from __future__ import annotations

import json

import pytest

from adapters.training.chat_template import CHATML_TRAINING_TEMPLATE
from adapters.training.sft_rows import (
    IGNORED_LABEL,
    SFTRowError,
    parse_row,
    read_sft_rows,
    row_kind,
    tokenize_row,
)

transformers = pytest.importorskip("transformers")

SYSTEM = {"role": "system", "content": "Rules"}
HISTORY = [
    SYSTEM,
    {"role": "user", "content": "Board 1"},
    {"role": "assistant", "content": "<think>old</think>\n<move>2</move>"},
    {"role": "user", "content": "Board 2"},
]
COMPLETION = [{"role": "assistant", "content": "<think>block 8</think>\n<move>8</move>"}]
PER_POSITION_ROW = {"prompt": HISTORY, "completion": COMPLETION, "seed": 7, "position": "X..O"}
GAME_ROW = {"messages": [*HISTORY, *COMPLETION]}


@pytest.fixture(scope="module")
def tokenizer():
    from adapters.models import embedded_model_path

    try:
        return transformers.AutoTokenizer.from_pretrained(embedded_model_path())
    except (ImportError, FileNotFoundError) as error:
        pytest.skip(f"embedded model unavailable: {error}")


def loss_text(tokenizer, row: dict, loss: str = "assistant") -> str:
    tokens = tokenize_row(parse_row(row), tokenizer, CHATML_TRAINING_TEMPLATE, loss)
    assert len(tokens.input_ids) == len(tokens.labels)
    return tokenizer.decode([label for label in tokens.labels if label != IGNORED_LABEL])


def test_prompt_completion_loss_is_the_completion_and_its_end_token_only(tokenizer) -> None:
    assert loss_text(tokenizer, PER_POSITION_ROW) == (
        "<think>block 8</think>\n<move>8</move><|im_end|>"
    )


def test_prompt_completion_labels_align_with_the_tokens_of_the_whole_chat(tokenizer) -> None:
    tokens = tokenize_row(parse_row(PER_POSITION_ROW), tokenizer, CHATML_TRAINING_TEMPLATE)
    rendered = tokenizer.apply_chat_template(
        [*HISTORY, *COMPLETION], tokenize=True, return_dict=True
    )["input_ids"]
    assert tokens.input_ids == list(rendered)
    first = next(i for i, label in enumerate(tokens.labels) if label != IGNORED_LABEL)
    prompt = tokenizer.decode(tokens.input_ids[:first])
    assert prompt.endswith("Board 2<|im_end|>\n<|im_start|>assistant\n")
    assert all(label == IGNORED_LABEL for label in tokens.labels[:first])
    assert tokens.labels[first:-1] == tokens.input_ids[first:-1]
    assert tokens.labels[-1] == IGNORED_LABEL  # the newline after <|im_end|>


def test_conversation_loss_covers_every_assistant_reply(tokenizer) -> None:
    assert loss_text(tokenizer, GAME_ROW) == (
        "<think>old</think>\n<move>2</move><|im_end|>"
        "<think>block 8</think>\n<move>8</move><|im_end|>"
    )


def test_sequence_loss_covers_every_token(tokenizer) -> None:
    tokens = tokenize_row(parse_row(PER_POSITION_ROW), tokenizer, None, "sequence")
    assert tokens.labels == tokens.input_ids


def test_kinds_mix_in_one_file_and_extra_fields_are_ignored(tmp_path, tokenizer) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join(json.dumps(row) for row in (GAME_ROW, PER_POSITION_ROW, GAME_ROW)) + "\n\n"
    )
    rows = read_sft_rows([path, path])
    assert [row.kind for row in rows] == ["conversation", "prompt-completion", "conversation"] * 2
    assert [row.context for row in rows[:2]] == ["full", None]  # a pair row may not say


def test_a_pair_row_states_its_context_as_one_the_package_knows() -> None:
    assert parse_row({**PER_POSITION_ROW, "context": "last"}).context == "last"
    with pytest.raises(SFTRowError, match="'context' must be one of full, last"):
        parse_row({**PER_POSITION_ROW, "context": "recent"})


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"text": "hello"}, 'expected {"messages"'),
        ({"prompt": HISTORY}, "no 'completion'"),
        ({"prompt": "Board", "completion": "<move>4</move>"}, "only conversational rows"),
        ({"messages": [SYSTEM, HISTORY[1]]}, "no assistant message"),
        ({"prompt": HISTORY, "completion": [HISTORY[1]]}, "'completion' has no assistant"),
        ({**GAME_ROW, "prompt": HISTORY, "completion": COMPLETION}, "both"),
        ({"messages": [{"role": "user"}]}, "string 'role' and 'content'"),
        ({"messages": []}, "non-empty list"),
    ],
)
def test_a_row_of_neither_kind_is_refused_with_what_was_expected(row, message) -> None:
    with pytest.raises(SFTRowError, match=message):
        row_kind(row)


def test_a_bad_row_names_its_file_and_line(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GAME_ROW) + "\n" + json.dumps({"text": "x"}) + "\n")
    with pytest.raises(SFTRowError, match=r"bad\.jsonl:2: row has keys \['text'\]"):
        read_sft_rows([path])
    path.write_text("[1, 2]\n")
    with pytest.raises(SFTRowError, match=r"bad\.jsonl:1: a row must be a JSON object"):
        read_sft_rows([path])


def test_train_sft_refuses_a_bad_file_before_loading_a_model(tmp_path) -> None:
    from typer.testing import CliRunner

    from adapters.cli import app

    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_text(json.dumps(GAME_ROW) + "\n")
    bad.write_text(json.dumps(PER_POSITION_ROW) + "\n" + json.dumps({"prompt": HISTORY}) + "\n")
    result = CliRunner().invoke(
        app, ["train-sft", str(good), str(bad), "-o", str(tmp_path / "model")]
    )
    assert result.exit_code == 2
    assert "bad.jsonl:2" in result.output and "no 'completion'" in result.output
    assert not (tmp_path / "model").exists()

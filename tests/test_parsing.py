"""The shared reply parser: reasoning is never read as an answer, hedging gets no answer."""

from __future__ import annotations

import pytest

from llm_gym.parsing import (
    is_well_formatted,
    parse_answer,
    quote_for_feedback,
    single_tag_body,
    strip_think,
    tag_contents,
)

MOVE = single_tag_body("move")


@pytest.mark.parametrize(
    ("reply", "visible"),
    [
        ("<think>a</think>b", " b"),
        ("x<think>a</think>y<think>b</think>z", "x y z"),
        ("<THINK>a</Think>b", " b"),
        ("<think>multi\nline</think>\nb", " \nb"),
        ("before <think>never closed <move>1</move>", "before "),
        ("<think>a</think> rest <think>open", "  rest "),
        ("no reasoning", "no reasoning"),
    ],
)
def test_strip_think(reply: str, visible: str) -> None:
    assert strip_think(reply) == visible


def test_tag_contents_in_order_and_stripped() -> None:
    assert tag_contents("<move> 1 </move> x <MOVE>2</MOVE>", "move") == ["1", "2"]
    assert tag_contents("<move>\n3\n</move>", "move") == ["3"]
    assert tag_contents("<answer>a</answer>", "move") == []
    assert tag_contents("<move>1", "move") == []


@pytest.mark.parametrize(
    ("reply", "answer", "formatted"),
    [
        ("<move>4</move>", "4", True),
        ("  <move>4</move>\n", "4", True),
        ("<think>centre</think><move>4</move>", "4", True),
        ("<think>centre</think>\n\n<move> 4 </move>", "4", True),
        ("<Move>4</Move>", "4", True),  # tags are case-insensitive
        ("<THINK>x</THINK><MOVE>4</MOVE>", "4", True),
        ("I play <move>4</move>", "4", False),  # prose outside the tags
        ("<move>4</move> done", "4", False),
        ("<move>4</move><move>4</move>", "4", False),  # repeated identical answer
        ("<think>maybe <move>0</move></think><move>4</move>", "4", True),  # reasoning ignored
        ("<think>a</think><think>b</think><move>4</move>", "4", False),  # two think blocks
        ("</think><move>4</move>", "4", False),  # stray closing tag
    ],
)
def test_parse_answer_accepts(reply: str, answer: str, formatted: bool) -> None:
    parsed = parse_answer(reply, "move")
    assert parsed.answer == answer
    assert parsed.error is None
    assert parsed.well_formatted is formatted


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("", "no <move>...</move> answer found outside the reasoning"),
        ("4", "no <move>"),
        ("<move>4", "no <move>"),
        ("<think><move>4</move></think>", "outside the reasoning"),
        ("<think>open <move>4</move>", "never closed"),
        ("<move>4</move> or <move>0</move>", "2 different <move> answers"),
        ("<move>1</move><move>2</move><move>3</move><move>1</move>", "3 different <move> answers"),
        ("<move>4</move><think>b", None),  # the move precedes the unclosed block: still read
    ],
)
def test_parse_answer_rejects(reply: str, error: str | None) -> None:
    parsed = parse_answer(reply, "move")
    if error is None:
        assert parsed.answer == "4" and not parsed.well_formatted
        return
    assert parsed.answer is None
    assert parsed.well_formatted is False
    assert parsed.error is not None and error in parsed.error


def test_hedging_is_not_case_sensitive_to_tags() -> None:
    assert parse_answer("<move>1</move><MOVE>2</MOVE>", "move").answer is None


def test_parse_answer_with_another_tag() -> None:
    parsed = parse_answer("<think>sum</think><answer>42</answer>", "answer")
    assert (parsed.answer, parsed.well_formatted) == ("42", True)
    assert parse_answer("<move>42</move>", "answer").answer is None


@pytest.mark.parametrize(
    ("reply", "required", "optional"),
    [
        ("<move>4</move>", False, True),
        ("<think>x</think><move>4</move>", True, True),
        ("<think></think><move>4</move>", True, True),
        (" <think>x</think>\n<move>4</move> ", True, True),
        ("<think>x</think>", False, False),
        ("<think>x<think>y</think></think><move>4</move>", False, False),  # nested think
        ("<move><move>4</move></move>", False, False),  # nested answer tag
        ("<move>4</move><think>x</think>", False, False),  # reasoning after the answer
        ("<think>x</think>y<move>4</move>", False, False),
    ],
)
def test_format_check(reply: str, required: bool, optional: bool) -> None:
    assert is_well_formatted(reply, MOVE, require_think=True) is required
    assert is_well_formatted(reply, MOVE, require_think=False) is optional


def test_parse_answer_require_think_only_changes_format() -> None:
    loose = parse_answer("<move>4</move>", "move", require_think=True)
    assert loose.answer == "4" and loose.well_formatted is False
    strict = parse_answer("<think>x</think><move>4</move>", "move", require_think=True)
    assert strict.answer == "4" and strict.well_formatted is True


def test_quote_for_feedback() -> None:
    assert quote_for_feedback("a\n  b") == "'a b'"
    long = quote_for_feedback("x" * 500)
    assert len(long) == 60 + 2 and long.endswith("...'")


def test_a_move_inside_nested_think_blocks_is_reasoning():
    reply = "<think>a<think>b</think><move>4</move></think><move>5</move>"
    assert strip_think(reply) == " <move>5</move>"
    assert parse_answer(reply, "move").answer == "5"
    assert parse_answer("<think><think>x</think><move>4</move>", "move").answer is None


def test_a_stray_closing_think_tag_is_plain_text():
    assert parse_answer("plan</think><move>4</move>", "move").answer == "4"


EMPTY_ANSWERS = ["<move></move>", "<move> </move>", "<think>x</think><move></move>"]


@pytest.mark.parametrize("reply", EMPTY_ANSWERS)
def test_empty_answer_is_no_answer_and_no_format_credit(reply):
    parsed = parse_answer(reply, "move")
    assert (parsed.answer, parsed.well_formatted) == (None, False)
    assert "empty" in parsed.error


def test_an_inner_opening_tag_belongs_to_the_content():
    assert tag_contents("<move><move>4</move> <move>5</move>", "move") == ["<move>4", "5"]

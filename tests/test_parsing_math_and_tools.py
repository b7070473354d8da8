import pytest

from llm_gym.parsing import boxed_contents, decode_tool_call, parse_boxed_answer, parse_tool_reply


def test_boxed_contents_match_braces():
    assert boxed_contents("a \\boxed{\\frac{1}{2}} b \\boxed{ 3 } \\boxed{open") == [
        "\\frac{1}{2}",
        "3",
    ]


@pytest.mark.parametrize(
    ("reply", "answer", "well_formatted"),
    [("work... \\boxed{42}", "42", True), ("<answer>42</answer>", "42", True),
     ("<answer>\\boxed{42}</answer>", "42", True), ("\\boxed{42} so \\boxed{42}", "42", False),
     ("\\boxed{41} \\boxed{42}", None, False),
     ("<answer>1</answer><answer>2</answer>", None, False),
     ("<think>\\boxed{1}</think>\\boxed{2}", "2", True), ("<think>\\boxed{1}", None, False),
     ("\\boxed{}", None, False), ("nothing", None, False)],
)  # fmt: skip
def test_parse_boxed_answer(reply, answer, well_formatted):
    parsed = parse_boxed_answer(reply)
    assert (parsed.answer, parsed.well_formatted) == (answer, well_formatted)
    assert (parsed.error is None) == (answer is not None)


def test_decode_tool_call_variants():
    assert decode_tool_call('{"name": "f", "arguments": {"a": 1}}').arguments == {"a": 1}
    assert decode_tool_call('{"name": "f", "arguments": "{\\"a\\": 1}"}').arguments == {"a": 1}
    assert decode_tool_call('{"name": "f"}').arguments == {}
    for bad in (
        "{",
        "[1]",
        '{"name": 3}',
        '{"name": "f", "arguments": [1]}',
        '{"name": "f", "x": 1}',
    ):
        assert decode_tool_call(bad).error is not None


def test_parse_tool_reply():
    call = '<tool_call>{{"name": "{}"}}</tool_call>'
    two = "<think>plan</think>\n" + call.format("a") + "\n" + call.format("b")
    parsed = parse_tool_reply(two)
    assert [c.name for c in parsed.calls] == ["a", "b"] and parsed.well_formatted
    assert not parse_tool_reply('text <tool_call>{"name": "a"}</tool_call>').well_formatted
    assert parse_tool_reply("<answer> 7 </answer>").answer == "7"
    both = parse_tool_reply('<tool_call>{"name": "a"}</tool_call><answer>1</answer>')
    assert both.error and not both.calls and both.answer is None
    hidden = parse_tool_reply('<think><tool_call>{"name": "a"}</tool_call></think>')
    assert hidden.error and not hidden.calls

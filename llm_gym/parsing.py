"""Tag extraction and format checks shared by every environment.

A reply may open with reasoning in ``<think>...</think>``; whatever the reasoning says is never
read as an answer. The answer is the content of exactly one answer tag (``<move>``,
``<answer>``, ...). Parsing is deliberately hard to game: a reply that carries several
different answers (hedging) or stuffs answer tags gets no answer at all.

>>> parse_answer("<think>centre is strongest</think><move>4</move>", "move").answer
'4'
>>> parse_answer("<move>4</move> or <move>0</move>", "move").error
'the reply holds 2 different <move> answers; give exactly one'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

THINK_TAG = "think"
MAX_REPLY_CHARS = 16384
"""Replies longer than this are not read (the ``max_length`` of every env's action space)."""


def unreadable_reply(reply: Any, max_chars: int = MAX_REPLY_CHARS) -> str | None:
    """Why ``reply`` is not read at all (not text, or too long), phrased for the model; else None.

    >>> unreadable_reply("x" * 20, max_chars=10)
    'the reply has 20 characters; replies longer than 10 characters are not read'
    """
    if not isinstance(reply, str):
        return f"expected a text reply, got {type(reply).__name__}"
    if len(reply) > max_chars:
        return (
            f"the reply has {len(reply)} characters; replies longer than {max_chars} "
            "characters are not read"
        )
    return None


@cache
def _tag_token(tag: str) -> re.Pattern[str]:
    """``<tag>`` or ``</tag>`` (group 1 is ``/`` for a closing tag), any letter case."""
    return re.compile(rf"<(/?){re.escape(tag)}>", re.IGNORECASE)


def _split_think(reply: str) -> tuple[str, bool]:
    """``(visible text, a think block is left open)`` in one pass over the tags.

    Think blocks nest: a ``<think>`` inside reasoning opens a deeper level, and only the
    ``</think>`` that closes the outermost one ends the reasoning. A closed block becomes a
    space; an unclosed one hides everything after it; a stray ``</think>`` stays as text.
    """
    pieces: list[str] = []
    depth = 0
    visible_from = 0
    for token in _tag_token(THINK_TAG).finditer(reply):
        if not token.group(1):
            if depth == 0:
                pieces.append(reply[visible_from : token.start()])
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                pieces.append(" ")
                visible_from = token.end()
    if depth == 0:
        pieces.append(reply[visible_from:])
    return "".join(pieces), depth > 0


@dataclass(frozen=True)
class ParsedReply:
    """What a reply says.

    Attributes:
        answer: the stripped content of the single answer tag, or ``None``.
        error: why no answer could be taken, phrased for the model; ``None`` when ``answer`` is set.
        well_formatted: the reply follows the required format exactly
            (see :func:`is_well_formatted`).
    """

    answer: str | None
    error: str | None
    well_formatted: bool


@cache
def _format_pattern(body: str, require_think: bool) -> re.Pattern[str]:
    think = r"<think>(?:(?!</?think>).)*</think>\s*"
    think = think if require_think else f"(?:{think})?"
    return re.compile(rf"\s*{think}(?:{body})\s*", re.DOTALL | re.IGNORECASE)


def single_tag_body(tag: str) -> str:
    """Regex body for exactly one ``<tag>...</tag>`` element with no nested tag of its kind."""
    t = re.escape(tag)
    return rf"<{t}>(?:(?!</?{t}>).)*</{t}>"


def strip_think(reply: str) -> str:
    """The reply without its reasoning.

    Closed ``<think>`` blocks (nested ones included) are removed; an unclosed ``<think>``
    hides everything after it. Linear in the length of the reply.
    """
    return _split_think(reply)[0]


def tag_contents(text: str, tag: str) -> list[str]:
    """Stripped contents of every ``<tag>...</tag>`` in ``text``, in order.

    Each ``<tag>`` runs to the next ``</tag>`` (an inner ``<tag>`` is part of the content); one
    pass over the tags, so repeated unclosed tags cost linear time.
    """
    contents = []
    opened: re.Match[str] | None = None
    for token in _tag_token(tag).finditer(text):
        if not token.group(1):
            opened = opened or token
        elif opened is not None:
            contents.append(text[opened.end() : token.start()].strip())
            opened = None
    return contents


def is_well_formatted(reply: str, body: str, *, require_think: bool = False) -> bool:
    """Whether ``reply`` is an optional (or required) think block followed by ``body`` only.

    Args:
        reply: the model's raw reply.
        body: a regex for what must follow the reasoning, e.g. :func:`single_tag_body`.
        require_think: the think block is mandatory.
    """
    return _format_pattern(body, require_think).fullmatch(reply) is not None


def parse_answer(reply: str, tag: str, *, require_think: bool = False) -> ParsedReply:
    """Read the single answer in ``<tag>`` from a reply, ignoring its reasoning.

    Identical repeated answers still count as the answer (but not as good format); different
    ones are a hedge and count as no answer, and so does an empty answer.
    """
    well_formatted = is_well_formatted(reply, single_tag_body(tag), require_think=require_think)
    visible, think_unclosed = _split_think(reply)
    answers = tag_contents(visible, tag)
    if not answers:
        if think_unclosed:
            error = f"the <think> block is never closed, so no <{tag}> answer was found"
        else:
            error = f"no <{tag}>...</{tag}> answer found outside the reasoning"
        return ParsedReply(None, error, False)
    distinct = list(dict.fromkeys(answers))
    if len(distinct) > 1:
        return ParsedReply(
            None,
            f"the reply holds {len(distinct)} different <{tag}> answers; give exactly one",
            False,
        )
    if not distinct[0]:
        return ParsedReply(None, f"the <{tag}> answer is empty", False)
    return ParsedReply(distinct[0], None, well_formatted)


def quote_for_feedback(text: str, limit: int = 60) -> str:
    """A short, single-line excerpt of model text for an error message."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


# --- \boxed{...} answers (math) -------------------------------------------------------------

_BOXED_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")


def boxed_contents(text: str) -> list[str]:
    """Stripped contents of every ``\\boxed{...}`` (or ``\\fbox{...}``) in ``text``, in order.

    Braces are matched, so ``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``; an unclosed box is
    ignored.

    >>> boxed_contents(r"so \\boxed{\\frac{1}{2}} and \\boxed{3}")
    ['\\\\frac{1}{2}', '3']
    """
    found = []
    position = 0
    while (match := _BOXED_OPEN.search(text, position)) is not None:
        depth, index = 1, match.end()
        while index < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        if depth:
            break
        found.append(text[match.end() : index - 1].strip())
        position = index
    return found


def parse_boxed_answer(reply: str, tag: str = "answer") -> ParsedReply:
    """Read a final answer given as ``\\boxed{...}``, or inside ``<tag>...</tag>``.

    The reasoning is ignored. With answer tags present, their single (possibly repeated) content
    is the answer, and a ``\\boxed{}`` inside it is unwrapped. Otherwise the visible text must
    hold exactly one distinct ``\\boxed{}``. Several different answers are a hedge: no answer.
    The reply is well formatted when the answer appears exactly once.
    """
    visible, think_unclosed = _split_think(reply)
    tagged = tag_contents(visible, tag)
    if tagged:
        distinct = list(dict.fromkeys(tagged))
        if len(distinct) > 1:
            return ParsedReply(
                None, f"the reply holds {len(distinct)} different <{tag}> answers; give one", False
            )
        boxes = list(dict.fromkeys(boxed_contents(distinct[0])))
        if len(boxes) > 1:
            return ParsedReply(
                None, f"the <{tag}> holds {len(boxes)} different boxed answers; give one", False
            )
        answer = boxes[0] if boxes else distinct[0]
        well_formatted = len(tagged) == 1 and len(boxed_contents(visible)) <= 1
    else:
        boxes = boxed_contents(visible)
        distinct = list(dict.fromkeys(boxes))
        if not distinct:
            if think_unclosed:
                return ParsedReply(None, "the <think> block is never closed", False)
            return ParsedReply(None, "no \\boxed{...} answer found outside the reasoning", False)
        if len(distinct) > 1:
            return ParsedReply(
                None, f"the reply holds {len(distinct)} different boxed answers; give one", False
            )
        answer = distinct[0]
        well_formatted = len(boxes) == 1
    if not answer:
        return ParsedReply(None, "the final answer is empty", False)
    return ParsedReply(answer, None, well_formatted)


# --- tool calls -------------------------------------------------------------------------------

TOOL_CALL_TAG = "tool_call"


@dataclass(frozen=True)
class ToolCallRequest:
    """One ``<tool_call>`` of a reply: the decoded call, or why it could not be decoded."""

    name: str | None
    arguments: dict | None
    error: str | None
    raw: str


@dataclass(frozen=True)
class ParsedToolReply:
    """What a tool-using reply asks for: tool calls, a final answer, or neither (``error``)."""

    calls: tuple[ToolCallRequest, ...]
    answer: str | None
    error: str | None
    well_formatted: bool


def tool_calls_body(tag: str = TOOL_CALL_TAG) -> str:
    """Regex body for one or more ``<tool_call>`` elements separated by whitespace."""
    one = single_tag_body(tag)
    return rf"{one}(?:\s*{one})*"


def decode_tool_call(body: str) -> ToolCallRequest:
    """Decode ``{"name": ..., "arguments": {...}}`` (``arguments`` may be a JSON string)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        reason = str(error).split("\n")[0][:120]
        return ToolCallRequest(None, None, f"the tool call is not valid JSON ({reason})", body)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return ToolCallRequest(
            None, None, 'a tool call must be a JSON object with a string "name"', body
        )
    arguments = data.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):
            arguments = None
    if not isinstance(arguments, dict):
        return ToolCallRequest(
            data["name"], None, '"arguments" must be a JSON object of named arguments', body
        )
    extra = sorted(set(data) - {"name", "arguments"})
    if extra:
        return ToolCallRequest(
            data["name"], None, f"unexpected keys in the tool call: {', '.join(extra)}", body
        )
    return ToolCallRequest(data["name"], arguments, None, body)


def parse_tool_reply(
    reply: str, *, answer_tag: str = "answer", call_tag: str = TOOL_CALL_TAG
) -> ParsedToolReply:
    """Read a reply that either calls tools or gives the final answer (never both).

    Well formatted: an optional think block, then only tool calls (each valid JSON) or only one
    answer tag.
    """
    visible = strip_think(reply)
    bodies = tag_contents(visible, call_tag)
    answers = tag_contents(visible, answer_tag)
    if bodies and answers:
        return ParsedToolReply(
            (), None, "the reply both calls tools and answers; do one or the other", False
        )
    if bodies:
        calls = tuple(decode_tool_call(body) for body in bodies)
        well = is_well_formatted(reply, tool_calls_body(call_tag)) and all(
            call.error is None for call in calls
        )
        return ParsedToolReply(calls, None, None, well)
    parsed = parse_answer(reply, answer_tag)
    if parsed.answer is None:
        if not answers:
            error = (
                f"no <{call_tag}>...</{call_tag}> and no <{answer_tag}>...</{answer_tag}> "
                "found outside the reasoning"
            )
        else:
            error = parsed.error
        return ParsedToolReply((), None, error, False)
    return ParsedToolReply((), parsed.answer, None, parsed.well_formatted)

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

import re
from dataclasses import dataclass
from functools import cache

THINK_TAG = "think"

_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)


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
def _tag_pattern(tag: str) -> re.Pattern[str]:
    return re.compile(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", re.DOTALL | re.IGNORECASE)


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

    Closed ``<think>`` blocks are removed; an unclosed ``<think>`` hides everything after it.
    """
    visible = _THINK_BLOCK.sub(" ", reply)
    unclosed = _THINK_OPEN.search(visible)
    return visible[: unclosed.start()] if unclosed else visible


def tag_contents(text: str, tag: str) -> list[str]:
    """Stripped contents of every ``<tag>...</tag>`` in ``text``, in order."""
    return [content.strip() for content in _tag_pattern(tag).findall(text)]


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
    ones are a hedge and count as no answer.
    """
    well_formatted = is_well_formatted(reply, single_tag_body(tag), require_think=require_think)
    visible = strip_think(reply)
    answers = tag_contents(visible, tag)
    if not answers:
        if _THINK_OPEN.search(reply) and not _THINK_BLOCK.search(reply):
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
    return ParsedReply(distinct[0], None, well_formatted)


def quote_for_feedback(text: str, limit: int = 60) -> str:
    """A short, single-line excerpt of model text for an error message."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")

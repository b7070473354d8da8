"""Hostile replies: what a careless or adversarial model (or caller) may send an env."""

from __future__ import annotations

from typing import Any

REPEATED_TAGS = ("<think>", "<answer>", "<move>", "<tool_call>", "<reversed_text>", "\\boxed{", "{")
NON_ASCII = (
    "<answer>４２</answer>",  # full-width digits
    "<move>٤</move>",  # an Arabic-Indic digit
    "héllo wörld, 漢字, emoji 🙂",
    "\u202eevil right-to-left override",
    "nul\x00byte",
    "lone surrogate \ud800",
)
WRONG_TYPES: tuple[Any, ...] = (None, 42, 4.2, b"<answer>1</answer>", ["<move>4</move>"], {"a": 1})


def hostile_replies(max_length: int) -> list[tuple[str, Any]]:
    """``(label, reply)`` pairs; text replies fit ``max_length`` characters.

    Empty and blank replies, huge replies, tags repeated without closing, non-ASCII text and
    values that are not text at all.
    """
    replies: list[tuple[str, Any]] = [("empty", ""), ("blank", " \n\t\r ")]
    replies.append((f"{max_length} x 'a'", "a" * max_length))
    replies.append(("unclosed <think> then text", "<think>" + "x" * (max_length - 7)))
    for tag in REPEATED_TAGS:
        replies.append((f"{tag!r} repeated", tag * (max_length // len(tag))))
    pairs = max_length // len("<answer></answer>")
    replies.append(("nested <answer> tags", "<answer>" * pairs + "</answer>" * pairs))
    replies += [(f"non-ASCII {text[:12]!r}", text[:max_length]) for text in NON_ASCII]
    replies += [(f"a reply of type {type(value).__name__}", value) for value in WRONG_TYPES]
    return replies

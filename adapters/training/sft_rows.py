"""SFT rows: read the JSONL files ``llm-gym train-sft`` accepts and turn rows into token labels.

Two kinds of row, which may be mixed within a file and across files:

- **conversation** ``{"messages": [...]}`` (``llm-gym sft-data`` games): the loss covers every
  assistant reply (and its end-of-turn token);
- **prompt-completion** ``{"prompt": [...], "completion": [...]}`` in TRL's conversational form
  (per-position rows, DAgger relabels): the loss covers the completion's assistant content only
  (and its end-of-turn token), never the assistant replies inside the prompt.

A prompt-completion row may say which context (:mod:`adapters.context`) its prompt was written
in, ``"context": "last"`` (``sft-data`` and ``dagger`` rows do; a conversation row is ``full`` by
nature), so that a trained model can declare it (:mod:`adapters.prompting`). Any other field of a
row (metadata such as a seed or a position) is ignored. Each row becomes
``input_ids`` and ``labels`` (``-100`` outside the loss), which is what TRL's ``SFTTrainer`` takes
as an already processed data set; tokenising here rather than in TRL is what lets one data set
mix both kinds.

>>> row = {"prompt": [{"role": "user", "content": "Hi"}],
...        "completion": [{"role": "assistant", "content": "Hello"}], "seed": 3}
>>> row_kind(row)
'prompt-completion'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from adapters.context import CONTEXTS, Context

IGNORED_LABEL = -100
"""The label of a token outside the loss (PyTorch's cross-entropy ``ignore_index``)."""

RowKind = Literal["conversation", "prompt-completion"]
LossScope = Literal["assistant", "sequence"]
"""``assistant``: replies and completions only (needs a template with generation markers);
``sequence``: every token of a conversation row, the whole prompt and completion of the other."""

EXPECTED_ROW = (
    'expected {"messages": [{"role": ..., "content": ...}, ...]} or '
    '{"prompt": [messages...], "completion": [{"role": "assistant", "content": ...}]}'
)


class SFTRowError(ValueError):
    """A data row that is neither a conversation nor a conversational prompt-completion pair."""


@dataclass(frozen=True)
class SFTRow:
    """One validated row: its kind and the messages the chat template renders."""

    kind: RowKind
    messages: tuple[Mapping[str, Any], ...]
    prompt_length: int
    """How many of ``messages`` form the prompt (0 for a conversation row)."""
    tools: Any = None
    context: Context | None = None
    """The context its prompt shows (``None``: the row does not say)."""


@dataclass(frozen=True)
class TokenizedRow:
    input_ids: list[int]
    labels: list[int]

    @property
    def loss_tokens(self) -> int:
        return sum(label != IGNORED_LABEL for label in self.labels)

    @property
    def longest_labelled_run(self) -> int:
        """The most consecutive tokens in the loss (one reply and its end-of-turn)."""
        longest = run = 0
        for label in self.labels:
            run = run + 1 if label != IGNORED_LABEL else 0
            longest = max(longest, run)
        return longest


def row_kind(row: Mapping[str, Any]) -> RowKind:
    """Which kind ``row`` is; :class:`SFTRowError` (saying what was expected) when neither."""
    has_messages = "messages" in row
    has_pair = "prompt" in row or "completion" in row
    if has_messages and has_pair:
        raise SFTRowError(f"row has both 'messages' and 'prompt'/'completion': {EXPECTED_ROW}")
    if has_messages:
        _check_messages(row["messages"], "messages")
        if not any(message["role"] == "assistant" for message in row["messages"]):
            raise SFTRowError("'messages' has no assistant message to learn from")
        return "conversation"
    if has_pair:
        for key in ("prompt", "completion"):
            if key not in row:
                raise SFTRowError(f"row has no '{key}': {EXPECTED_ROW}")
            _check_messages(row[key], key)
        if not any(message["role"] == "assistant" for message in row["completion"]):
            raise SFTRowError("'completion' has no assistant message to learn from")
        return "prompt-completion"
    raise SFTRowError(f"row has keys {sorted(row)}: {EXPECTED_ROW}")


def _check_messages(messages: Any, key: str) -> None:
    if isinstance(messages, str):
        raise SFTRowError(
            f"'{key}' is a string; only conversational rows (lists of messages) are supported: "
            f"{EXPECTED_ROW}"
        )
    if not isinstance(messages, list) or not messages:
        raise SFTRowError(f"'{key}' must be a non-empty list of messages: {EXPECTED_ROW}")
    for message in messages:
        if (
            not isinstance(message, Mapping)
            or not isinstance(message.get("role"), str)
            or not isinstance(message.get("content"), str)
        ):
            raise SFTRowError(
                f"'{key}' holds {message!r}; each message needs a string 'role' and 'content'"
            )


def parse_row(row: Mapping[str, Any]) -> SFTRow:
    """Validate ``row`` and keep what the chat template needs."""
    kind = row_kind(row)
    if kind == "conversation":
        return SFTRow(kind, tuple(row["messages"]), 0, row.get("tools"), "full")
    context = row.get("context")
    if context is not None and context not in CONTEXTS:
        raise SFTRowError(
            f"'context' must be one of {', '.join(CONTEXTS)} (the context the prompt was "
            f"written in) or absent, got {context!r}"
        )
    prompt = tuple(row["prompt"])
    return SFTRow(kind, prompt + tuple(row["completion"]), len(prompt), row.get("tools"), context)


def read_sft_rows(paths: Iterable[str | Path]) -> list[SFTRow]:
    """All rows of the JSONL ``paths``, in order; a bad row raises with its file and line."""
    rows: list[SFTRow] = []
    for path in paths:
        with Path(path).open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    if not isinstance(record, Mapping):
                        raise SFTRowError(f"a row must be a JSON object: {EXPECTED_ROW}")
                    rows.append(parse_row(record))
                except (json.JSONDecodeError, SFTRowError) as error:
                    raise SFTRowError(f"{path}:{number}: {error}") from error
    if not rows:
        raise SFTRowError(f"no rows in {', '.join(map(str, paths))}")
    return rows


def tokenize_row(
    row: SFTRow, tokenizer: Any, chat_template: str | None, loss: LossScope = "assistant"
) -> TokenizedRow:
    """Token ids of ``row`` and their labels.

    Args:
        row: a parsed row.
        tokenizer: a Hugging Face tokenizer with a chat template.
        chat_template: the template to render with; for ``loss="assistant"`` it must carry
            ``{% generation %}`` markers (see :mod:`adapters.training.chat_template`).
        loss: which tokens the loss covers (see :data:`LossScope`).

    Raises:
        SFTRowError: when the rendered prompt is not a prefix of the rendered prompt and
            completion, so the completion's tokens cannot be told apart.
    """
    encoded = tokenizer.apply_chat_template(
        list(row.messages),
        chat_template=chat_template,
        tools=row.tools,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=loss == "assistant",
    )
    input_ids = list(encoded["input_ids"])
    if loss == "sequence":
        return TokenizedRow(input_ids, list(input_ids))
    in_loss = [bool(bit) for bit in encoded["assistant_masks"]]
    if row.kind == "prompt-completion":
        start = _completion_start(row, tokenizer, chat_template, input_ids)
        in_loss = [bit and index >= start for index, bit in enumerate(in_loss)]
    labels = [
        token if keep else IGNORED_LABEL for token, keep in zip(input_ids, in_loss, strict=True)
    ]
    return TokenizedRow(input_ids, labels)


def _completion_start(
    row: SFTRow, tokenizer: Any, chat_template: str | None, input_ids: Sequence[int]
) -> int:
    prompt_ids = tokenizer.apply_chat_template(
        list(row.messages[: row.prompt_length]),
        chat_template=chat_template,
        tools=row.tools,
        tokenize=True,
        return_dict=True,
        add_generation_prompt=True,
    )["input_ids"]
    if list(input_ids[: len(prompt_ids)]) != list(prompt_ids):
        raise SFTRowError(
            "the chat template renders the prompt differently on its own than before its "
            "completion, so the completion tokens cannot be located"
        )
    return len(prompt_ids)


def truncate_row(row: TokenizedRow, max_length: int | None) -> TokenizedRow:
    """The first ``max_length`` tokens of ``row`` (all of them for ``None``)."""
    if max_length is None or len(row.input_ids) <= max_length:
        return row
    return TokenizedRow(row.input_ids[:max_length], row.labels[:max_length])

"""Optional loaders for Hugging Face data sets (``pip install 'llm-gym[train]'``).

Nothing here runs unless a user asks for a data set: the envs ship offline generators. A
``source`` is a Hub name (``"openai/gsm8k"``), a folder written by ``Dataset.save_to_disk`` or
a local ``.json``/``.jsonl``/``.csv``/``.parquet`` file.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

from llm_gym.games.math_problems import MathProblem
from llm_gym.spaces import TEXT_CHARSET

_ALLOWED = frozenset(TEXT_CHARSET)
_FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError(
            "loading a Hugging Face data set needs the 'datasets' package: "
            "pip install 'llm-gym[train]'"
        ) from error
    return datasets


def load_rows(source: str, *, split: str = "train", config: str | None = None) -> Any:
    """The rows of one split of ``source`` as a ``datasets.Dataset``."""
    datasets = _datasets()
    path = Path(source)
    if path.is_dir() and (path / "dataset_info.json").exists():
        loaded = datasets.load_from_disk(str(path))
        return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    if path.is_file() and path.suffix in _FILE_BUILDERS:
        return datasets.load_dataset(_FILE_BUILDERS[path.suffix], data_files=str(path), split=split)
    return datasets.load_dataset(source, config, split=split)


def to_plain_text(text: str) -> str:
    """``text`` in the envs' printable-ASCII charset (accents dropped, others replaced by ?)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    if not folded and text:
        folded = "?" * len(text)
    return "".join(ch if ch in _ALLOWED else "?" for ch in folded)


def load_texts(
    source: str,
    *,
    split: str = "train",
    column: str = "prompt",
    config: str | None = None,
    max_chars: int = 2000,
    limit: int | None = None,
) -> list[str]:
    """Non-empty texts of ``column``, made printable ASCII, at most ``max_chars`` long.

    The reference reverse-text data set is ``PrimeIntellect/Reverse-Text-RL`` (column
    ``prompt``).
    """
    rows = load_rows(source, split=split, config=config)
    if column not in rows.column_names:
        raise ValueError(f"{source} has no column {column!r}; columns: {rows.column_names}")
    texts = []
    for value in rows[column]:
        if not isinstance(value, str):
            continue
        text = to_plain_text(value).strip()
        if text and len(text) <= max_chars:
            texts.append(text)
            if limit is not None and len(texts) >= limit:
                break
    if not texts:
        raise ValueError(f"{source} has no usable text in column {column!r}")
    return texts


_GSM8K_FINAL = re.compile(r"####\s*(.+?)\s*$", re.DOTALL)


def gsm8k_final_answer(solution: str) -> str:
    """The final answer of a GSM8K-style solution (the text after ``####``, commas dropped)."""
    match = _GSM8K_FINAL.search(solution)
    answer = match.group(1) if match else solution.strip()
    return answer.replace(",", "").replace("$", "").strip()


def load_math_problems(
    source: str,
    *,
    split: str = "train",
    question_column: str = "question",
    answer_column: str = "answer",
    config: str | None = None,
    limit: int | None = None,
) -> list[MathProblem]:
    """GSM8K-style problems: a question column and an answer column ending in ``#### N``.

    An answer without ``####`` is taken whole (e.g. MATH-style ``\\frac{1}{2}``).
    """
    rows = load_rows(source, split=split, config=config)
    for column in (question_column, answer_column):
        if column not in rows.column_names:
            raise ValueError(f"{source} has no column {column!r}; columns: {rows.column_names}")
    problems = []
    for question, solution in zip(rows[question_column], rows[answer_column], strict=True):
        if not isinstance(question, str) or solution is None:
            continue
        answer = gsm8k_final_answer(str(solution))
        if not question.strip() or not answer:
            continue
        steps = str(solution).split("####")[0].strip().splitlines()
        problems.append(MathProblem(to_plain_text(question).strip(), answer, tuple(steps), source))
        if limit is not None and len(problems) >= limit:
            break
    if not problems:
        raise ValueError(f"{source} has no usable problems")
    return problems

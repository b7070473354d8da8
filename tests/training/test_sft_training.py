"""train_sft on a tiny model: prompt-completion rows, mixed files, padding-free, LoRA, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.policies import ScriptedChatPolicy
from adapters.training.sft_data import generate_sft_data_sync
from adapters.training.sft_rows import IGNORED_LABEL

ENV = "LLMTicTacToe-v0"

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")


def per_position_rows(game_path: Path) -> list[dict]:
    """One prompt-completion row per teacher reply: the game so far, then that reply."""
    rows = []
    for line in game_path.read_text().splitlines():
        messages = json.loads(line)["messages"]
        for index, message in enumerate(messages):
            if message["role"] == "assistant":
                rows.append(
                    {"prompt": messages[:index], "completion": [message], "reply_index": index}
                )
    return rows


@pytest.fixture(scope="module")
def data_files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("sft_rows")
    games = folder / "games.jsonl"
    teacher = ScriptedChatPolicy.for_env(ENV, "optimal")
    generate_sft_data_sync(ENV, teacher, episodes=4, output=games)
    positions = folder / "positions.jsonl"
    positions.write_text("".join(json.dumps(row) + "\n" for row in per_position_rows(games)))
    return games, positions


def config(data, output, model_dir, **overrides):
    from adapters.training.sft import SFTRunConfig

    settings = dict(
        data=data,
        output_dir=output,
        model=str(model_dir),
        max_steps=2,
        batch_size=2,
        gradient_accumulation_steps=1,
        learning_rate=1e-3,
        bf16=False,
    )
    return SFTRunConfig(**{**settings, **overrides})


def test_prompt_completion_rows_train_on_their_completion_only(
    tiny_model_dir, data_files, tmp_path
) -> None:
    from adapters.training.sft import prepare_sft

    games, positions = data_files
    prepared = prepare_sft(
        config([games, positions], tmp_path / "model", tiny_model_dir, padding_free=False)
    )
    tokenizer = prepared.tokenizer
    game_rows = len(games.read_text().splitlines())
    position_rows = per_position_rows(games)
    assert prepared.data.rows == {
        "conversation": game_rows,
        "prompt-completion": len(position_rows),
    }
    dataset = prepared.trainer.train_dataset
    assert len(dataset) == game_rows + len(position_rows)
    # rows reach the trainer in file order; each position row's loss is its completion only
    for row, example in zip(
        position_rows, dataset.select(range(game_rows, len(dataset))), strict=True
    ):
        learned = tokenizer.decode([t for t in example["labels"] if t != IGNORED_LABEL])
        assert learned == row["completion"][0]["content"] + "<|im_end|>"
    game_labels = dataset[0]["labels"]
    replies = [
        m
        for m in json.loads(games.read_text().splitlines()[0])["messages"]
        if m["role"] == "assistant"
    ]
    assert tokenizer.decode([t for t in game_labels if t != IGNORED_LABEL]) == "".join(
        reply["content"] + "<|im_end|>" for reply in replies
    )
    # the collator keeps those labels (padding is -100)
    batch = prepared.trainer.data_collator([dataset[game_rows], dataset[game_rows + 1]])
    for index in range(2):
        kept = batch["labels"][index][batch["labels"][index] != IGNORED_LABEL].tolist()
        assert kept == [t for t in dataset[game_rows + index]["labels"] if t != IGNORED_LABEL]


def test_padding_free_batches_give_the_padded_loss(tiny_model_dir, data_files, tmp_path) -> None:
    from adapters.training.sft import prepare_sft

    _, positions = data_files
    losses = {}
    for padding_free in (False, True):
        prepared = prepare_sft(
            config(
                [positions], tmp_path / str(padding_free), tiny_model_dir, padding_free=padding_free
            )
        )
        dataset = prepared.trainer.train_dataset
        batch = prepared.trainer.data_collator([dataset[i] for i in (0, 3, 7)])
        assert ("attention_mask" in batch) != padding_free
        with torch.no_grad():
            losses[padding_free] = prepared.trainer.model(**batch).loss.item()
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)


def test_lora_adapter_is_saved_small_and_loads_over_the_base(
    tiny_model_dir, data_files, tmp_path
) -> None:
    import peft
    import transformers
    from safetensors.torch import load_file

    from adapters.training.sft import LoraOptions, train_sft

    games, _ = data_files
    output = tmp_path / "lora"
    result = train_sft(
        config(
            games, output, tiny_model_dir, lora=LoraOptions(r=4, alpha=8), adapter_dtype="float16"
        )
    )
    adapter = output / "adapter"
    weights = load_file(adapter / "adapter_model.safetensors")
    assert {tensor.dtype for tensor in weights.values()} == {torch.float16}
    assert result.adapter_bytes == (adapter / "adapter_model.safetensors").stat().st_size
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 4
    base = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with_adapter = peft.PeftModel.from_pretrained(base, adapter).eval()
    merged = transformers.AutoModelForCausalLM.from_pretrained(output).eval()
    ids = torch.tensor([[1, 5, 9, 200, 31, 7]])
    with torch.no_grad():
        expected = merged(ids).logits
        got = with_adapter(ids).logits
    assert not torch.allclose(
        expected, transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir)(ids).logits
    )
    torch.testing.assert_close(got, expected, atol=2e-3, rtol=0)


def test_resume_continues_from_the_last_checkpoint(tiny_model_dir, data_files, tmp_path) -> None:
    from adapters.training.sft import train_sft

    games, positions = data_files
    output = tmp_path / "resumable"
    first = train_sft(config([games, positions], output, tiny_model_dir, max_steps=2, save_steps=1))
    assert (output / "checkpoint-2").is_dir()
    first_losses = [
        e["loss"] for e in json.loads((output / "log_history.json").read_text()) if "loss" in e
    ]
    resumed = train_sft(
        config([games, positions], output, tiny_model_dir, max_steps=3, resume_from_checkpoint=True)
    )
    assert (first.steps, resumed.steps) == (2, 3)
    history = json.loads((output / "log_history.json").read_text())
    assert [e["step"] for e in history if "loss" in e] == [1, 2, 3]
    assert [e["loss"] for e in history if "loss" in e][:2] == first_losses


def test_train_sft_command_passes_every_option_through(tiny_model_dir, data_files, tmp_path):
    """The options built from SFTRunConfig's fields and the LoRA options reach the run (steps,
    LoRA rank, targets and dtype), and the command reports what it trained."""
    from typer.testing import CliRunner

    from adapters.cli import app

    games, positions = data_files
    output = tmp_path / "cli"
    result = CliRunner().invoke(
        app,
        [
            "train-sft",
            str(games),
            str(positions),
            "-o",
            str(output),
            "-m",
            str(tiny_model_dir),
            "--max-steps",
            "2",
            "--batch-size",
            "1",
            "--grad-accum",
            "2",
            "--lr",
            "1e-3",
            "--warmup-ratio",
            "0",
            "--no-bf16",
            "--lora",
            "--lora-rank",
            "2",
            "--lora-targets",
            "q_proj,v_proj",
            "--adapter-dtype",
            "bfloat16",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "SFT done: 2 steps" in result.output and "bfloat16" in result.output
    adapter_config = json.loads((output / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["r"] == 2
    assert set(adapter_config["target_modules"]) == {"q_proj", "v_proj"}
    saved = json.loads((output / "sft_result.json").read_text())
    assert saved["steps"] == 2


def test_cpu_scoring_of_labelled_positions_only_keeps_the_loss_and_metrics(
    tiny_model_dir, data_files, tmp_path, monkeypatch
) -> None:
    """The trainer's fused LM head on CPU scores only labelled positions, with the same loss,
    entropy and token accuracy as scoring every position."""
    import trl.trainer.utils as trl_utils
    from trl.kernels.chunked_logprob import _use_triton as every_position

    from adapters.training.sft import prepare_sft

    monkeypatch.setattr(trl_utils, "_use_triton", every_position)
    _, positions = data_files
    prepared = prepare_sft(config([positions], tmp_path / "m", tiny_model_dir))
    assert trl_utils._use_triton(torch.device("cpu"))
    model = prepared.trainer.model
    dataset = prepared.trainer.train_dataset
    batch = prepared.trainer.data_collator([dataset[i] for i in (0, 3, 7)])
    outputs = {}
    for compact, scorer in (("labelled", trl_utils._use_triton), ("every", every_position)):
        monkeypatch.setattr(trl_utils, "_use_triton", scorer)
        with torch.no_grad():
            outputs[compact] = model(**batch, fused_lm_head=True)
    assert not every_position(torch.device("cpu"))
    labelled, every = outputs["labelled"], outputs["every"]
    torch.testing.assert_close(labelled.loss, every.loss)
    torch.testing.assert_close(labelled.entropy, every.entropy)
    assert torch.equal(labelled.is_top1, every.is_top1)


def test_lora_on_the_top_layers_only_adapts_those_layers(
    tiny_model_dir, data_files, tmp_path
) -> None:
    from safetensors.torch import load_file

    from adapters.training.sft import LoraOptions, train_sft

    _, positions = data_files
    output = tmp_path / "top"
    train_sft(
        config([positions], output, tiny_model_dir, lora=LoraOptions(r=4, alpha=8, top_layers=1))
    )
    keys = load_file(output / "adapter" / "adapter_model.safetensors")
    assert keys and all(".layers.1." in key for key in keys)
    saved = json.loads((output / "adapter" / "adapter_config.json").read_text())
    assert saved["layers_to_transform"] == [1]


def test_an_adapter_folder_loads_as_a_model_merged_once(
    tiny_model_dir, data_files, tmp_path, monkeypatch
) -> None:
    """``-m ADAPTER_FOLDER`` (and a shipped model's name) loads the adapter merged into its base,
    the same weights train-sft merged, converted once into the cache."""
    import transformers

    import adapters.models as models
    from adapters.training.sft import LoraOptions, train_sft

    monkeypatch.setattr(models, "cache_dir", lambda: tmp_path / "cache")
    _, positions = data_files
    output = tmp_path / "lora"
    train_sft(config([positions], output, tiny_model_dir, lora=LoraOptions(r=4, alpha=8)))
    adapter = output / "adapter"
    assert models.is_adapter_folder(adapter) and not models.is_adapter_folder(output)
    merged_path = Path(models.resolve_model_path(str(adapter)))
    assert merged_path.parent == tmp_path / "cache" / "merged"
    written = (merged_path / "config.json").stat().st_mtime_ns
    assert models.merged_adapter_path(adapter) == merged_path
    assert (merged_path / "config.json").stat().st_mtime_ns == written
    ids = torch.tensor([[1, 5, 9, 200, 31, 7]])
    with torch.no_grad():
        expected = transformers.AutoModelForCausalLM.from_pretrained(output)(ids).logits
        got = transformers.AutoModelForCausalLM.from_pretrained(merged_path)(ids).logits
    torch.testing.assert_close(got, expected, atol=2e-3, rtol=0)
    with pytest.raises(FileNotFoundError, match="not a LoRA adapter folder"):
        models.merged_adapter_path(output)


def test_a_trained_model_declares_the_context_of_its_rows_and_room_for_its_replies(
    tiny_model_dir, data_files, tmp_path
) -> None:
    """Rows written under --context last make a model that eval, match, play and dagger show the
    latest board only, with a reply budget above the longest reply it learned."""
    import transformers

    from adapters.prompting import ModelPrompting, read_prompting, reply_budget
    from adapters.training.sft import LoraOptions, train_sft
    from adapters.training.sft_data import generate_sft_data_sync

    last_rows = tmp_path / "last.jsonl"
    teacher = ScriptedChatPolicy.for_env(ENV, "optimal-scan")
    generate_sft_data_sync(
        ENV, teacher, episodes=3, output=last_rows, rows="position", context="last"
    )
    output = tmp_path / "last-model"
    result = train_sft(config([last_rows], output, tiny_model_dir, lora=LoraOptions(r=4, alpha=8)))
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    longest_text = max(
        len(tokenizer(json.loads(line)["completion"][0]["content"])["input_ids"])
        for line in last_rows.read_text().splitlines()
    )
    assert longest_text <= result.data.longest_reply_tokens <= longest_text + 3
    expected = ModelPrompting(
        context="last", max_tokens=reply_budget(result.data.longest_reply_tokens)
    )
    assert result.prompting == expected
    assert read_prompting(str(output)) == read_prompting(str(output / "adapter")) == expected

    games, positions = data_files
    mixed = train_sft(config([games, positions], tmp_path / "mixed", tiny_model_dir))
    assert mixed.prompting.context is None  # the hand-made position rows do not say
    assert read_prompting(str(tmp_path / "mixed")).max_tokens == mixed.prompting.max_tokens

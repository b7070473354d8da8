"""The ChatML training template: same text as SmolLM2's, assistant replies masked for the loss."""

from __future__ import annotations

import pytest

from adapters.training.chat_template import CHATML_TRAINING_TEMPLATE, training_chat_template

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tokenizer():
    from adapters.models import embedded_model_path

    try:
        return transformers.AutoTokenizer.from_pretrained(embedded_model_path())
    except (ImportError, FileNotFoundError) as error:
        pytest.skip(f"embedded model unavailable: {error}")


CHAT = [
    {"role": "system", "content": "Rules"},
    {"role": "user", "content": "Board"},
    {"role": "assistant", "content": "<think>t</think>\n<move>4</move>"},
    {"role": "user", "content": "Board 2"},
    {"role": "assistant", "content": "<move>0</move>"},
]


def test_smollm2_gets_the_chatml_copy_with_markers(tokenizer) -> None:
    template, how = training_chat_template(tokenizer)
    assert (template, how) == (CHATML_TRAINING_TEMPLATE, "chatml")
    for generation_prompt in (False, True):
        own = tokenizer.apply_chat_template(
            CHAT, tokenize=False, add_generation_prompt=generation_prompt
        )
        ours = tokenizer.apply_chat_template(
            CHAT, tokenize=False, add_generation_prompt=generation_prompt, chat_template=template
        )
        assert own == ours


def test_assistant_mask_is_exactly_the_replies_and_their_end_token(tokenizer) -> None:
    encoded = tokenizer.apply_chat_template(
        CHAT,
        chat_template=CHATML_TRAINING_TEMPLATE,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    ids, mask = encoded["input_ids"], encoded["assistant_masks"]
    masked = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])
    assert masked == "<think>t</think>\n<move>4</move><|im_end|><move>0</move><|im_end|>"


def test_template_with_markers_is_kept(tokenizer) -> None:
    class Stub:
        chat_template = CHATML_TRAINING_TEMPLATE

    assert training_chat_template(Stub()) == (CHATML_TRAINING_TEMPLATE, "own")

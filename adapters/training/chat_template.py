"""Chat templates for assistant-only loss.

TRL's ``SFTTrainer(assistant_only_loss=True)`` needs a template with ``{% generation %}`` markers.
SmolLM2's template (plain ChatML) has none and TRL cannot patch it, so
:func:`training_chat_template` swaps in :data:`CHATML_TRAINING_TEMPLATE` -- the same ChatML
rendering with the assistant content and its ``<|im_end|>`` inside the markers -- after
checking that it renders every probe conversation byte for byte like the model's own template.
Templates that already carry markers are kept; others go through TRL's own patcher; when none
of that works, callers fall back to a loss over the whole conversation.
"""

from __future__ import annotations

from typing import Any

CHATML_TRAINING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""SmolLM2's ChatML template with ``{% generation %}`` markers around each assistant reply."""

_PROBES: tuple[list[dict[str, str]], ...] = (
    [
        {"role": "system", "content": "Rules."},
        {"role": "user", "content": "Board 1"},
        {"role": "assistant", "content": "<think>x</think>\n<move>4</move>"},
        {"role": "user", "content": "Board 2"},
        {"role": "assistant", "content": "<move>0</move>"},
    ],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
)


def has_generation_markers(template: str | None) -> bool:
    return bool(template) and "{% generation %}" in template.replace("{%-", "{%").replace(
        "-%}", "%}"
    )


def training_chat_template(tokenizer: Any) -> tuple[str | None, str]:
    """A template with generation markers for ``tokenizer``, and how it was obtained.

    Returns ``(template, how)``: ``how`` is ``"own"`` (the tokenizer's template has markers),
    ``"chatml"`` (:data:`CHATML_TRAINING_TEMPLATE`, checked to render identically), ``"trl"``
    (TRL's patched template) or ``"none"`` (``template`` is ``None``: no assistant mask possible).
    """
    own = tokenizer.chat_template
    if has_generation_markers(own):
        return own, "own"
    if own and _renders_like(tokenizer, own, CHATML_TRAINING_TEMPLATE):
        return CHATML_TRAINING_TEMPLATE, "chatml"
    try:
        from trl.chat_template_utils import get_training_chat_template

        patched = get_training_chat_template(tokenizer)
    except (ImportError, ValueError):
        patched = None
    if patched:
        return patched, "trl"
    return None, "none"


def _renders_like(tokenizer: Any, reference: str, candidate: str) -> bool:
    for messages in _PROBES:
        for add_generation_prompt in (False, True):
            texts = [
                tokenizer.apply_chat_template(
                    messages,
                    chat_template=template,
                    tokenize=False,
                    add_generation_prompt=add_generation_prompt,
                )
                for template in (reference, candidate)
            ]
            if texts[0] != texts[1]:
                return False
    return True

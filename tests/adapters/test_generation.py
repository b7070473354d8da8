"""The generation engine: equal to ``model.generate``, caches across turns, seeds per row."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from adapters.generation import (  # noqa: E402
    CachedConversation,
    GenerationEngine,
    GenerationRequest,
    PrefixCache,
    SamplingOptions,
    common_prefix_length,
    stop_token_ids,
)

PAD, EOS = 0, 1
TOKENIZER = SimpleNamespace(pad_token_id=PAD, eos_token_id=EOS)


@pytest.fixture(scope="module")
def model():
    config = transformers.LlamaConfig(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=PAD,
        eos_token_id=EOS,
    )
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(config).eval()


def prompt(length: int, offset: int = 0) -> list[int]:
    return [2 + (offset + 7 * i) % 120 for i in range(length)]


def reference(model, ids, max_new_tokens, eos=(EOS,), **kwargs) -> list[int]:
    output = model.generate(
        torch.tensor([ids]),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=list(eos),
        pad_token_id=PAD,
        **kwargs,
    )
    return output[0, len(ids) :].tolist()


def test_greedy_batch_equals_generate_for_each_prompt_alone(model) -> None:
    prompts = [prompt(5), prompt(17, 3), prompt(9, 11), prompt(1, 40)]
    engine = GenerationEngine(model, TOKENIZER)
    replies = engine.generate([GenerationRequest(p) for p in prompts], max_new_tokens=12)
    for ids, reply in zip(prompts, replies, strict=True):
        assert reply.ids == reference(model, ids, 12)
        assert len(reply.logprobs) == len(reply.ids)
    assert engine.stats.batch_sizes == [4]


def test_a_continued_conversation_prefills_only_its_new_tokens(model) -> None:
    engine = GenerationEngine(model, TOKENIZER)
    first = [prompt(11), prompt(6, 5)]
    replies = engine.generate([GenerationRequest(p) for p in first], max_new_tokens=6)
    # each conversation goes on with its reply and a new "env message" of a different length
    second = [
        p + r.ids + prompt(3 + 4 * i, 50)
        for i, (p, r) in enumerate(zip(first, replies, strict=True))
    ]
    before = engine.stats.prefilled_tokens
    continued = engine.generate([GenerationRequest(p) for p in second], max_new_tokens=8)
    for ids, old, new, reply in zip(second, first, replies, continued, strict=True):
        # everything but the reply's last token (never fed to the model) comes from the cache
        assert reply.reused_tokens == len(old) + len(new.ids) - 1
        assert reply.ids == reference(model, ids, 8)
    assert engine.stats.prefilled_tokens - before == sum(
        len(ids) - r.reused_tokens for ids, r in zip(second, continued, strict=True)
    )


def test_a_conversation_that_diverges_reuses_the_common_prefix(model) -> None:
    engine = GenerationEngine(model, TOKENIZER)
    engine.generate([GenerationRequest(prompt(10))], max_new_tokens=4)
    branch = prompt(10)[:7] + prompt(5, 90)
    (other,) = engine.generate([GenerationRequest(branch)], max_new_tokens=6)
    assert other.reused_tokens == 7
    assert other.ids == reference(model, branch, 6)


def test_a_sampled_reply_does_not_depend_on_its_batch(model) -> None:
    sampling = SamplingOptions(temperature=1.0, top_p=0.95)
    target = GenerationRequest(prompt(8, 2), seed=123)
    alone = GenerationEngine(model, TOKENIZER, cache_bytes=0).generate(
        [target], max_new_tokens=16, sampling=sampling
    )[0]
    engine = GenerationEngine(model, TOKENIZER)
    engine.generate([GenerationRequest(prompt(5, 2))], max_new_tokens=2)  # a cached prefix
    others = [GenerationRequest(prompt(n, n), seed=n) for n in (3, 21, 8)]
    batch = engine.generate([others[0], target, *others[1:]], max_new_tokens=16, sampling=sampling)
    assert batch[1].ids == alone.ids
    assert batch[1].logprobs == pytest.approx(alone.logprobs, abs=1e-4)
    assert batch[1].reused_tokens == 5  # prompt(5, 2) is a prefix of prompt(8, 2)


def test_seeds_choose_the_sample(model) -> None:
    engine = GenerationEngine(model, TOKENIZER, cache_bytes=0)
    sampling = SamplingOptions(temperature=1.0)
    requests = [GenerationRequest(prompt(6), seed=s) for s in (1, 1, 2, 3)]
    replies = [r.ids for r in engine.generate(requests, max_new_tokens=10, sampling=sampling)]
    assert replies[0] == replies[1]
    assert len({tuple(r) for r in replies}) == 3


def test_generation_stops_on_every_eos_id(model) -> None:
    ids = prompt(9)
    free = reference(model, ids, 10, eos=(127,))
    stop = free[3]
    engine = GenerationEngine(model, TOKENIZER, eos_token_ids=[EOS, stop])
    (reply,) = engine.generate([GenerationRequest(ids)], max_new_tokens=10)
    assert reply.ids == free[: free.index(stop) + 1]


def test_stop_ids_read_a_list_from_the_generation_config(model) -> None:
    model.generation_config.eos_token_id = [EOS, 5]
    try:
        assert stop_token_ids(model, SimpleNamespace(eos_token_id=7)) == [1, 5, 7]
    finally:
        model.generation_config.eos_token_id = EOS


def test_greedy_logprobs_are_the_model_log_softmax(model) -> None:
    ids = prompt(7)
    (reply,) = GenerationEngine(model, TOKENIZER).generate(
        [GenerationRequest(ids)], max_new_tokens=5
    )
    with torch.no_grad():
        logits = model(torch.tensor([ids + reply.ids])).logits[0].float()
    logps = torch.log_softmax(logits, dim=-1)
    expected = [logps[len(ids) - 1 + i, t].item() for i, t in enumerate(reply.ids)]
    assert reply.logprobs == pytest.approx(expected, abs=1e-4)


def test_repetition_penalty_matches_generate(model) -> None:
    ids = prompt(12)
    engine = GenerationEngine(model, TOKENIZER)
    sampling = SamplingOptions(temperature=0.0, repetition_penalty=1.5)
    (reply,) = engine.generate([GenerationRequest(ids)], max_new_tokens=10, sampling=sampling)
    assert reply.ids == reference(model, ids, 10, repetition_penalty=1.5)


def _entry(ids: list[int], width: int = 4) -> CachedConversation:
    tensor = torch.zeros((1, 1, len(ids), width))
    return CachedConversation(ids=ids, layers=[(tensor, tensor.clone())])


def test_prefix_cache_replaces_what_an_entry_extends_and_stays_in_its_budget() -> None:
    one_token = _entry([1]).nbytes
    cache = PrefixCache(max_bytes=10 * one_token)
    cache.insert(_entry([5, 6, 7]))
    cache.insert(_entry([5, 6, 7, 8, 9]))
    assert len(cache) == 1
    entry, length = cache.lookup([5, 6, 7, 8, 9, 10])
    assert entry is not None and length == 5
    # a full match still leaves one token to prefill
    assert cache.lookup([5, 6, 7, 8, 9])[1] == 4
    cache.insert(_entry([1, 2, 3, 4]))
    cache.insert(_entry([8, 8, 8]))  # over budget: the least recently used entry goes
    assert cache.nbytes <= cache.max_bytes
    assert cache.lookup([5, 6, 7, 8, 9, 10])[0] is None
    cache.insert(_entry(list(range(20))))  # larger than the whole budget: not kept
    assert cache.nbytes <= cache.max_bytes


def test_common_prefix_length() -> None:
    assert common_prefix_length([1, 2, 3], [1, 2, 3, 4]) == 3
    assert common_prefix_length([1, 2, 3], [2]) == 0
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length(list(range(100)), [*range(57), 0]) == 57


def test_bad_arguments_say_what_was_expected(model) -> None:
    engine = GenerationEngine(model, TOKENIZER)
    with pytest.raises(ValueError, match="max_new_tokens"):
        engine.generate([GenerationRequest([3])], max_new_tokens=0)
    with pytest.raises(ValueError, match="at least one token"):
        engine.generate([GenerationRequest([])], max_new_tokens=1)
    with pytest.raises(ValueError, match="top_p"):
        SamplingOptions(top_p=0.0)

import pytest

from llm_gym.games.text_corpus import LENGTHS, generate_text
from llm_gym.spaces import TEXT_CHARSET


@pytest.mark.parametrize("length", list(LENGTHS))
def test_texts_are_deterministic_printable_and_within_their_word_range(length):
    low, high = LENGTHS[length]
    texts = [generate_text(seed, length) for seed in range(200)]
    assert texts == [generate_text(seed, length) for seed in range(200)]
    assert all(set(t) <= set(TEXT_CHARSET) and t == t.strip() for t in texts)
    assert all(low <= len(t.split()) <= high for t in texts)
    assert len(set(texts)) > 150


def test_unknown_length_is_rejected():
    with pytest.raises(ValueError):
        generate_text(0, "novel")

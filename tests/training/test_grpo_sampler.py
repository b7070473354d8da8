"""Difficulty-balanced batches: the sampler, the data set rows and the trainer's use of them."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from adapters.training.grpo import StratifiedRepeatSampler, build_episode_dataset
from llm_gym.envs.tictactoe import random_move_strata

ENV = "LLMTicTacToe-v0"


def _batches(sampler, strata, group, rows_per_batch, repeat=1):
    indices = list(sampler)
    size = rows_per_batch * group * repeat
    assert len(indices) == len(sampler)
    assert len(indices) % size == 0
    return [indices[i : i + size] for i in range(0, len(indices), size)]


@pytest.mark.parametrize(("num_strata", "rows_per_batch"), [(2, 2), (3, 6), (4, 4)])
def test_every_batch_holds_every_stratum_equally(num_strata: int, rows_per_batch: int) -> None:
    # unequal strata sizes: the smallest decides how many balanced batches fit
    strata = [i % num_strata for i in range(60)] + [0] * 7
    sampler = StratifiedRepeatSampler(
        strata, mini_repeat_count=4, batch_size=rows_per_batch, repeat_count=2, seed=1
    )
    batches = _batches(sampler, strata, 4, rows_per_batch, repeat=2)
    assert len(batches) == (60 // num_strata) // (rows_per_batch // num_strata)
    seen = []
    for batch in batches:
        first_pass = batch[: len(batch) // 2]
        assert batch[len(batch) // 2 :] == first_pass  # repeated for num_iterations x steps
        groups = [first_pass[i : i + 4] for i in range(0, len(first_pass), 4)]
        assert all(len(set(g)) == 1 for g in groups)  # a group = one row, 4 times in a row
        rows = [g[0] for g in groups]
        counts = Counter(strata[r] for r in rows)
        assert set(counts) == set(range(num_strata))
        assert len(set(counts.values())) == 1
        seen += rows
    assert len(seen) == len(set(seen))  # no row twice in an epoch


def test_order_is_seeded_and_changes_between_epochs() -> None:
    strata = [i % 2 for i in range(40)]
    a = StratifiedRepeatSampler(strata, mini_repeat_count=2, batch_size=4, seed=7)
    b = StratifiedRepeatSampler(strata, mini_repeat_count=2, batch_size=4, seed=7)
    first = list(a)
    assert first == list(b)
    assert list(a) != first  # a new epoch, a new order
    assert list(StratifiedRepeatSampler(strata, 2, 4, seed=8)) != first


def test_strata_labels_may_be_names_taken_in_the_order_they_first_appear() -> None:
    labels = ["hard", "easy"] * 4
    sampler = StratifiedRepeatSampler(labels, mini_repeat_count=1, batch_size=2, shuffle=False)
    assert sampler.labels == ["hard", "easy"]
    assert list(sampler) == list(range(8))


def test_unbalanceable_batches_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of the number of strata"):
        StratifiedRepeatSampler([0, 1, 2] * 4, mini_repeat_count=2, batch_size=4)
    with pytest.raises(ValueError, match="at least"):
        StratifiedRepeatSampler([0] * 10 + [1], mini_repeat_count=2, batch_size=4)


def test_dataset_rows_carry_seed_stratum_and_env_arguments() -> None:
    pytest.importorskip("datasets")
    strata = random_move_strata(0.0, 1.0, 4)
    names = list(strata)
    assert strata[names[0]] == {"min_random_move_prob": 0.0, "max_random_move_prob": 0.25}
    assert strata[names[-1]] == {"min_random_move_prob": 0.75, "max_random_move_prob": 1.0}
    dataset = build_episode_dataset(ENV, rows=12, strata=strata, seed=100)
    assert dataset["seed"] == list(range(100, 112))
    assert dataset["stratum"] == [names[i % 4] for i in range(12)]
    import gymnasium as gym

    for row in dataset:
        kwargs = json.loads(row["env_kwargs"])
        assert kwargs == strata[row["stratum"]]
        env = gym.make(ENV, **kwargs)
        observation, info = env.reset(seed=row["seed"])
        assert row["prompt"] == [
            {"role": "system", "content": info["system_prompt"]},
            {"role": "user", "content": observation},
        ]
        low, high = kwargs["min_random_move_prob"], kwargs["max_random_move_prob"]
        assert low <= info["random_move_prob"] <= high


@pytest.mark.slow
def test_trainer_uses_the_stratified_sampler_and_hands_rows_to_the_rollout(tiny_model_dir) -> None:
    trl = pytest.importorskip("trl")
    import transformers

    from adapters.training.grpo_rollout import MultiTurnRollout, reward_functions
    from adapters.training.trl_text import EnvGRPOTrainer

    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    funcs, weights = reward_functions(ENV)
    strata = random_move_strata(0.0, 1.0, 4)
    dataset = build_episode_dataset(ENV, rows=32, strata=strata)
    args = trl.GRPOConfig(
        output_dir="unused",
        per_device_train_batch_size=16,
        num_generations=2,
        reward_weights=weights,
        report_to="none",
        bf16=False,
        max_steps=1,
    )
    trainer = EnvGRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        rollout_func=MultiTurnRollout(ENV),
    )
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, StratifiedRepeatSampler)
    batch = next(iter(trainer.get_train_dataloader()))
    assert len(batch) == 16
    assert Counter(row["stratum"] for row in batch) == dict.fromkeys(strata, 4)
    assert all(batch[i]["seed"] == batch[i + 1]["seed"] for i in range(0, 16, 2))

"""GRPO batch plan: micro-batches, optimiser steps per generation batch, rows, and gradients
accumulated over micro-batches equal to the whole batch's."""

from __future__ import annotations

import gymnasium as gym
import pytest

from adapters.training.grpo import BatchPlan, GRPORunConfig, default_rows, grpo_config

ENV = "LLMTicTacToe-v0"


def _config(**kwargs) -> GRPORunConfig:
    return GRPORunConfig(ENV, "unused", **kwargs)


def test_micro_batches_split_the_generation_batch_with_one_optimizer_step() -> None:
    plan = BatchPlan.of(_config(num_generations=8, groups_per_step=32, micro_batch_size=16))
    assert plan.generation_batch == 256
    assert plan.micro_batches == 16
    assert plan.gradient_accumulation_steps == 16
    args = grpo_config(_config(num_generations=8, groups_per_step=32, micro_batch_size=16), [1.0])
    assert args.per_device_train_batch_size == 16
    assert args.generation_batch_size == 256
    assert args.steps_per_generation == 16 == args.gradient_accumulation_steps
    assert args.gradient_checkpointing


def test_vllm_generates_one_turn_per_call() -> None:
    config = _config(
        groups_per_step=2,
        max_tokens_per_turn=64,
        use_vllm=True,
        extra_args={"generation_kwargs": {"seed": 3}},
    )
    args = grpo_config(config, [1.0])
    assert args.use_vllm
    assert args.generation_kwargs == {"seed": 3, "max_tokens": 64}
    assert args.max_completion_length == config.max_completion_length


def test_extra_arguments_win_over_the_named_options() -> None:
    config = _config(groups_per_step=2, extra_args={"beta": 0.04, "use_cpu": True})
    args = grpo_config(config, [1.0])
    assert args.beta == 0.04 and args.use_cpu


def test_asked_optimizer_steps_split_the_accumulation() -> None:
    config = _config(num_generations=4, groups_per_step=4, micro_batch_size=2)
    plan = BatchPlan.of(replace_steps(config, 2))
    assert plan.micro_batches == 8 and plan.gradient_accumulation_steps == 4
    assert plan.generation_batches(max_steps=10) == 5


def replace_steps(config: GRPORunConfig, steps: int) -> GRPORunConfig:
    from dataclasses import replace

    return replace(config, optimizer_steps_per_batch=steps)


def test_default_micro_batch_is_the_largest_divisor_up_to_eight() -> None:
    assert BatchPlan.of(_config(num_generations=8, groups_per_step=4)).micro_batch_size == 8
    assert BatchPlan.of(_config(num_generations=6, groups_per_step=1)).micro_batch_size == 6
    assert BatchPlan.of(_config(num_generations=5, groups_per_step=3)).micro_batch_size == 5


def test_a_plan_that_does_not_divide_says_what_was_expected() -> None:
    with pytest.raises(ValueError, match="micro_batch_size must divide the generation batch of 16"):
        BatchPlan.of(_config(num_generations=8, groups_per_step=2, micro_batch_size=5))
    with pytest.raises(ValueError, match="optimizer_steps_per_batch must divide the 2 micro"):
        config = _config(num_generations=8, groups_per_step=2, micro_batch_size=8)
        BatchPlan.of(replace_steps(config, 3))


def test_default_rows_play_every_seed_once() -> None:
    config = _config(num_generations=8, groups_per_step=32, max_steps=200)
    assert default_rows(config) == 32 * 200
    halves = replace_steps(_config(num_generations=8, groups_per_step=4, max_steps=10), 2)
    assert default_rows(halves) == 4 * 5


class ReplyLengthEnv(gym.Env):
    """One turn scored by the reply's length modulo 7: a random model's replies already differ
    in reward, so GRPO advantages (and gradients) are not zero."""

    observation_space = gym.spaces.Text(max_length=64)
    action_space = gym.spaces.Text(max_length=4096)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        info = {"system_prompt": "Reply.", "reward_weights": {"length": 1.0}, "role": "user"}
        return f"Write something ({seed}).", info

    def step(self, action):
        score = (len(action) % 7) / 6
        return "", score, True, False, {"reward_components": {"length": score}, "outcome": "done"}


REPLY_LENGTH = "ReplyLengthTest-v0"
if REPLY_LENGTH not in gym.registry:
    gym.register(REPLY_LENGTH, entry_point=ReplyLengthEnv)


@pytest.mark.slow
def test_gradients_accumulated_over_micro_batches_equal_the_whole_batch(
    tiny_model_dir, tmp_path, monkeypatch
) -> None:
    import torch
    import transformers

    from adapters.training.grpo import train_grpo

    class GradientRecorder(transformers.TrainerCallback):
        def __init__(self):
            self.gradients: dict[str, torch.Tensor] = {}

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            if not self.gradients:
                self.gradients = {
                    name: p.grad.detach().clone()
                    for name, p in model.named_parameters()
                    if p.grad is not None
                }
            return control

    # exact float32 arithmetic: bf16 autocast (on by default where the CPU has AMX) rounds
    # differently in batches of different sizes
    monkeypatch.setattr("adapters.training.grpo.bf16_autocast_available", lambda: False)
    recorded = {}
    for micro in (4, 1):
        recorder = GradientRecorder()
        train_grpo(
            GRPORunConfig(
                env_id=REPLY_LENGTH,
                output_dir=tmp_path / f"micro{micro}",
                model=str(tiny_model_dir),
                strata=[{}],
                num_generations=2,
                groups_per_step=2,
                micro_batch_size=micro,
                max_steps=1,
                learning_rate=1e-4,
                max_tokens_per_turn=8,
                max_completion_length=64,
                extra_args={"max_grad_norm": 0.0},
            ),
            callbacks=[recorder],
        )
        recorded[micro] = recorder.gradients
    whole, micro = recorded[4], recorded[1]
    assert whole.keys() == micro.keys() and whole
    assert any(g.abs().sum() > 0 for g in whole.values())
    for name, gradient in whole.items():
        torch.testing.assert_close(micro[name], gradient, rtol=1e-4, atol=1e-7, msg=name)

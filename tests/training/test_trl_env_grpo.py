"""One real GRPO step through TRL's GRPOTrainer(environment_factory=...), on CPU, offline.

The model is a 2-layer Qwen2 with random weights and a byte-level BPE tokenizer trained here on
the envs' own prompts, with TRL's Qwen2.5 chat template (one TRL parses tool calls from). A short
teacher forcing make it open each env with a tool call, so the step really runs the
tool loop: calls reach the envs, their results go back into the completions, and the envs' scores
become the rewards.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.training.trl_env import build_tool_dataset, component_rewards, environment_factories

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
trl = pytest.importorskip("trl")
tokenizers = pytest.importorskip("tokenizers")

pytestmark = pytest.mark.slow

ENVS = ["LLMTicTacToe-v0", "LLMDoubleCheckMath-v0"]
OPENING_CALLS = {
    "LLMTicTacToe-v0": '<tool_call>\n{"name": "move", "arguments": {"cell": 4}}\n</tool_call>',
    "LLMDoubleCheckMath-v0": (
        '<tool_call>\n{"name": "answer", "arguments": {"text": "7"}}\n</tool_call>'
    ),
}
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def qwen_template() -> str:
    return (Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja").read_text()


def first_prompts(dataset):
    """Each env's first row as TRL renders it: messages (observation appended) and its tools."""
    factories = environment_factories(ENVS)
    prompts = {}
    for row in dataset:
        if row["environment"] in prompts:
            continue
        env = factories[row["environment"]]()
        observation = env.reset(**{k: v for k, v in row.items() if k != "environment"})
        messages = [*row["prompt"][:-1], {"role": "user", "content": observation}]
        tool_name = "move" if row["environment"] == "LLMTicTacToe-v0" else "answer"
        prompts[row["environment"]] = (messages, [getattr(env, tool_name)])
    return prompts


def tiny_tokenizer(texts):
    from tokenizers import decoders, models, pre_tokenizers, trainers

    bpe = tokenizers.Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(texts, trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.padding_side = "left"
    tokenizer.chat_template = qwen_template()
    return tokenizer


def teach_opening_calls(model, tokenizer, prompts) -> None:
    """Teacher-force each env's opening tool call after its first prompt."""
    sequences = []
    for env_id, (messages, tools) in prompts.items():
        prefix = tokenizer.apply_chat_template(
            messages, tools=tools, add_generation_prompt=True, tokenize=True, return_dict=False
        )
        target = tokenizer(OPENING_CALLS[env_id] + "<|im_end|>", add_special_tokens=False)
        sequences.append((prefix, target["input_ids"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(150):
        losses = []
        for prefix, target in sequences:
            ids = torch.tensor([prefix + target])
            labels = torch.tensor([[-100] * len(prefix) + target])
            loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            losses.append(loss.item())
        optimizer.step()
        optimizer.zero_grad()
        if max(losses) < 0.02:
            break
    assert max(losses) < 0.05, f"the tiny model did not learn its opening calls: {losses}"


@pytest.fixture
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine two OpenMP threads run ~30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_one_grpo_step_plays_mixed_envs_through_their_tools(
    tmp_path, monkeypatch, one_torch_thread
) -> None:
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    dataset = build_tool_dataset(ENVS, rows_per_env=2)
    prompts = first_prompts(dataset)
    corpus = [m["content"] for messages, _ in prompts.values() for m in messages]
    tokenizer = tiny_tokenizer([*corpus, *OPENING_CALLS.values(), qwen_template()])
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    teach_opening_calls(model, tokenizer, prompts)

    rewards = component_rewards(ENVS)
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=2,
        max_steps=1,
        max_completion_length=96,
        max_tool_calling_iterations=2,
        learning_rate=1e-3,
        temperature=0.3,
        reward_weights=[0.0] * len(rewards),
        shuffle_dataset=False,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        seed=0,
    )
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=rewards,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        environment_factory=environment_factories(ENVS),
    )
    trainer.train()

    log = next(entry for entry in trainer.state.log_history if "reward" in entry)
    assert log["tools/call_frequency"] > 0
    game_scores, math_scores = (
        [env.get_reward() for env in trainer._environment_pool[env_id]] for env_id in ENVS
    )
    games = trainer._environment_pool["LLMTicTacToe-v0"]
    assert all(env.text_env.turn >= 1 for env in games)  # each game got at least one move
    assert all(env.reward_totals["format"] == 1.0 for env in games)
    problems = trainer._environment_pool["LLMDoubleCheckMath-v0"]
    assert all(env.text_env.answers[0] == "7" for env in problems)
    # TRL's reward is the envs' get_reward (weight 1); the components are logged beside it
    assert log["rewards/TicTacToeTRLEnv/mean"] == pytest.approx(sum(game_scores) / 2)
    assert log["rewards/DoubleCheckMathTRLEnv/mean"] == pytest.approx(sum(math_scores) / 2)
    assert log["reward"] == pytest.approx((sum(game_scores) + sum(math_scores)) / 4)
    for name in ("win", "format", "invalid_move", "correct"):
        assert f"rewards/{name}_reward/mean" in log
    assert log["rewards/format_reward/mean"] > 0
    assert trainer.state.global_step == 1

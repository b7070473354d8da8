"""The multi-turn rollout: token ids, env masks, group seeding and reward components."""

from __future__ import annotations

import json
from collections.abc import Sequence

import gymnasium as gym
import pytest

import llm_gym
from adapters.training.grpo_rollout import (
    ComponentReward,
    EpisodeSpec,
    GeneratedTurn,
    SamplingOptions,
    TransformersTurnGenerator,
    env_message_ids,
    play_episodes,
    prompt_ids_for,
    reward_functions,
)
from llm_gym.policies import OptimalMovePolicy, RandomMovePolicy

ENV = "LLMTicTacToe-v0"


class ScriptedTurnGenerator:
    """Replies as a scripted player would, as token ids; records the contexts it was given.

    It keeps a shadow env per episode (in spec order, as the rollout batches them) and checks
    that each context it receives ends with that episode's newest observation and an open
    assistant turn, so the test also proves what the model sees.
    """

    def __init__(
        self,
        tokenizer,
        specs: Sequence[EpisodeSpec],
        player,
        *,
        suffix: str = "",
        env_id=ENV,
        end_id: int | None = None,
    ):
        self.tokenizer = tokenizer
        self.end_id = tokenizer.eos_token_id if end_id is None else end_id
        self.player = player
        self.suffix = suffix
        self.shadows = []
        for spec in specs:
            env = gym.make(env_id, **dict(spec.env_kwargs))
            observation, info = env.reset(seed=spec.seed)
            self.shadows.append({"env": env, "info": info, "obs": observation, "done": False})
        self.calls: list[list[list[int]]] = []

    def generate(self, contexts, max_new_tokens):
        self.calls.append([list(c) for c in contexts])
        active = [s for s in self.shadows if not s["done"]]
        assert len(active) == len(contexts)
        replies = []
        for shadow, context in zip(active, contexts, strict=True):
            text_so_far = self.tokenizer.decode(context)
            assert text_so_far.endswith(shadow["obs"] + "<|im_end|>\n<|im_start|>assistant\n")
            text = self.player("", shadow["info"]) + self.suffix
            observation, _, terminated, truncated, info = shadow["env"].step(text)
            shadow.update(info=info, obs=observation, done=terminated or truncated)
            ids = self.tokenizer.encode(text, add_special_tokens=False)[:max_new_tokens]
            if len(ids) < max_new_tokens:
                ids.append(self.end_id)
            replies.append(GeneratedTurn(ids=ids, logprobs=[-0.5] * len(ids)))
        return replies


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return tiny_model[1]


def _specs(seeds, rollouts=1, **env_kwargs):
    return [
        EpisodeSpec(seed=s, env_kwargs=env_kwargs, rollout=r)
        for s in seeds
        for r in range(rollouts)
    ]


def test_prompt_and_completion_ids_render_the_whole_conversation(tokenizer) -> None:
    specs = _specs([0, 1, 2])
    generator = ScriptedTurnGenerator(tokenizer, specs, OptimalMovePolicy())
    episodes = play_episodes(ENV, specs, generator, tokenizer, max_tokens_per_turn=128)
    for episode in episodes:
        record = episode.record
        assert record.outcome in {"win", "draw"}
        assert episode.prompt_ids == prompt_ids_for(tokenizer, record.messages[:2])
        rendered = tokenizer.apply_chat_template(record.messages, tokenize=False)
        # the completion ends with the model's last <|im_end|>; the template adds a newline
        assert tokenizer.decode(episode.prompt_ids + episode.completion_ids) + "\n" == rendered
        assert len(episode.completion_ids) == len(episode.env_mask) == len(episode.logprobs)


def test_env_tokens_are_masked_and_model_tokens_are_not(tokenizer) -> None:
    specs = _specs([3, 4])
    generator = ScriptedTurnGenerator(tokenizer, specs, OptimalMovePolicy())
    episodes = play_episodes(ENV, specs, generator, tokenizer, max_tokens_per_turn=128)
    for episode in episodes:
        ids, mask = episode.completion_ids, episode.env_mask
        model_text = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m == 1])
        replies = [m["content"] for m in episode.record.messages if m["role"] == "assistant"]
        assert model_text == "".join(r + "<|im_end|>" for r in replies)
        env_text = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m == 0])
        observations = [m["content"] for m in episode.record.messages[2:] if m["role"] == "user"]
        for observation in observations:
            assert observation in env_text
        assert "<move>" not in env_text.replace("Reply with <move>N</move>.", "")
        # logprobs: generated tokens keep theirs, env tokens get 0
        assert all(lp == (-0.5 if m else 0.0) for lp, m in zip(episode.logprobs, mask, strict=True))


def test_turns_of_all_episodes_are_generated_in_one_batch(tokenizer) -> None:
    specs = _specs([5, 6, 7, 8])
    generator = ScriptedTurnGenerator(tokenizer, specs, OptimalMovePolicy())
    episodes = play_episodes(ENV, specs, generator, tokenizer, max_tokens_per_turn=128)
    assert len(generator.calls[0]) == 4
    longest = max(len(e.record.turns) for e in episodes)
    assert len(generator.calls) == longest
    assert [len(c) for c in generator.calls] == sorted(
        (len(c) for c in generator.calls), reverse=True
    )


def test_rollouts_of_a_group_share_the_seed_and_the_opponent(tokenizer) -> None:
    specs = _specs([11, 12], rollouts=3, min_random_move_prob=0.5, max_random_move_prob=0.5)
    generator = ScriptedTurnGenerator(tokenizer, specs, OptimalMovePolicy())
    episodes = play_episodes(ENV, specs, generator, tokenizer, max_tokens_per_turn=128)
    first, second = episodes[:3], episodes[3:]
    for group in (first, second):
        # same start, and with the same replies the seeded opponent answers the same way
        assert len({tuple(e.prompt_ids) for e in group}) == 1
        assert len({tuple(e.completion_ids) for e in group}) == 1
        assert [e.record.rollout for e in group] == [0, 1, 2]
    assert first[0].record.messages[:2] != second[0].record.messages[:2] or (
        first[0].completion_ids != second[0].completion_ids
    )


def test_sampled_rollouts_of_a_group_start_from_the_same_board(tiny_model) -> None:
    model, tokenizer = tiny_model
    specs = _specs([21], rollouts=4) + _specs([22], rollouts=4)
    generator = TransformersTurnGenerator(model, tokenizer, SamplingOptions(temperature=1.0))
    episodes = play_episodes(ENV, specs, generator, tokenizer, max_tokens_per_turn=8, max_turns=2)
    for group in (episodes[:4], episodes[4:]):
        assert len({tuple(e.prompt_ids) for e in group}) == 1
        assert len({e.record.messages[1]["content"] for e in group}) == 1
    # sampling differs inside a group: the random model does not repeat itself 4 times
    assert len({tuple(e.completion_ids) for e in episodes[:4]}) > 1


def test_reward_components_per_completion_match_the_env(tokenizer) -> None:
    specs = _specs(range(30, 42), min_random_move_prob=0.0, max_random_move_prob=1.0)
    # a random player with one malformed reply in three: wins, losses, draws, penalties
    generator = ScriptedTurnGenerator(tokenizer, specs, _SloppyPlayer())
    episodes = play_episodes(ENV, specs, generator, tokenizer, max_tokens_per_turn=128)
    funcs, weights = reward_functions(ENV)
    env = gym.make(ENV)
    assert dict(zip([f.component for f in funcs], weights, strict=True)) == (
        env.unwrapped.reward_weights
    )
    components = [e.reward_components for e in episodes]
    values = {
        f.component: f(completions=[None] * len(episodes), reward_components=components)
        for f in funcs
    }
    outcomes = set()
    for i, episode in enumerate(episodes):
        record = episode.record
        outcomes.add(record.outcome)
        # replay the replies in a fresh env and add its step components up
        replay = gym.make(ENV, **record.env_kwargs)
        replay.reset(seed=record.seed)
        totals = dict.fromkeys(weights and record.reward_weights, 0.0)
        score = 0.0
        for turn in record.turns:
            _, reward, *_, info = replay.step(turn.action)
            score += reward
            for name, value in info["reward_components"].items():
                totals[name] += value
        for name in totals:
            assert values[name][i] == pytest.approx(totals[name])
        weighted = sum(w * values[f.component][i] for f, w in zip(funcs, weights, strict=True))
        assert weighted == pytest.approx(score) == pytest.approx(record.total_reward)
    assert {"win", "loss"} <= outcomes
    assert any(v < 0 for v in values["invalid_move"])


def test_records_are_built_like_the_eval_rollouts(tokenizer) -> None:
    from adapters.policies import ScriptedChatPolicy
    from adapters.rollout import run_episode_sync

    specs = _specs([70, 71, 72])
    generator = ScriptedTurnGenerator(tokenizer, specs, _SloppyPlayer())
    episodes = play_episodes(ENV, specs, generator, tokenizer, max_tokens_per_turn=128)
    for episode in episodes:
        record = episode.record
        replies = iter([t.action for t in record.turns])
        policy = ScriptedChatPolicy(lambda observation, info, r=replies: next(r), "model")
        expected = run_episode_sync(ENV, policy, seed=record.seed)
        assert record.messages == expected.messages
        keep = ("action", "observation", "role", "reward", "reward_components", "info")
        for turn, other in zip(record.turns, expected.turns, strict=True):
            assert {k: getattr(turn, k) for k in keep} == {k: getattr(other, k) for k in keep}
            assert turn.invalid_action == other.invalid_action
        for field in ("outcome", "total_reward", "reward_components", "reward_weights", "metrics"):
            assert getattr(record, field) == getattr(expected, field), field
        assert (record.terminated, record.truncated) == (expected.terminated, expected.truncated)
        assert record.wall_time_s > 0


class _SloppyPlayer:
    def __init__(self):
        self.random = RandomMovePolicy(seed=3)
        self.count = 0

    def __call__(self, observation, info):
        self.count += 1
        return "I move to the centre." if self.count % 3 == 0 else self.random(observation, info)


def test_a_reply_cut_by_the_token_cap_gets_a_masked_end_token(tiny_model) -> None:
    model, tokenizer = tiny_model
    specs = _specs([50])
    # the random model never emits this id in 5 tokens: every reply is cut by the cap
    never = len(tokenizer) - 1
    generator = TransformersTurnGenerator(
        model, tokenizer, SamplingOptions(temperature=1.0), eos_token_ids=[never]
    )
    (episode,) = play_episodes(
        ENV,
        specs,
        generator,
        tokenizer,
        max_tokens_per_turn=5,
        max_turns=2,
        eos_token_ids=[tokenizer.eos_token_id, never],
    )
    ids, mask = episode.completion_ids, episode.env_mask
    assert ids[:5] != [] and mask[:5] == [1] * 5
    assert ids[5] == tokenizer.eos_token_id and mask[5] == 0
    assert ids[6:][: len(env_message_ids(tokenizer, episode.record.messages[3]))] == (
        env_message_ids(tokenizer, episode.record.messages[3])
    )
    assert episode.cut_by_token_cap and episode.record.outcome == "truncated"
    assert sum(mask) == 10


def test_a_reply_ended_by_any_eos_id_gets_no_extra_end_token(tokenizer) -> None:
    other_eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert other_eos != tokenizer.eos_token_id

    def first_env_segment(eos_token_ids):
        specs = _specs([51])
        generator = ScriptedTurnGenerator(tokenizer, specs, OptimalMovePolicy(), end_id=other_eos)
        (episode,) = play_episodes(
            ENV, specs, generator, tokenizer, max_tokens_per_turn=128, eos_token_ids=eos_token_ids
        )
        mask = episode.env_mask
        start = mask.index(0)
        end = mask.index(1, start)
        assert episode.completion_ids[start - 1] == other_eos
        return episode.completion_ids[start:end], episode.record.messages[3]

    segment, message = first_env_segment([tokenizer.eos_token_id, other_eos])
    assert segment == env_message_ids(tokenizer, message)
    # an id not declared as EOS looks like a reply cut by the cap: an EOS is inserted
    segment, message = first_env_segment([tokenizer.eos_token_id])
    assert segment == [tokenizer.eos_token_id, *env_message_ids(tokenizer, message)]


def test_completion_length_cap_ends_the_episode(tokenizer) -> None:
    specs = _specs([60, 61])
    generator = ScriptedTurnGenerator(tokenizer, specs, OptimalMovePolicy())
    episodes = play_episodes(
        ENV, specs, generator, tokenizer, max_tokens_per_turn=64, max_completion_length=150
    )
    for episode in episodes:
        assert len(episode.completion_ids) <= 150
        assert episode.cut_by_token_cap
        assert episode.record.outcome == "truncated"
        assert episode.reward_components["win"] == 0.0


def test_component_reward_is_named_for_trl_and_needs_the_column() -> None:
    reward = ComponentReward("format")
    assert reward.__name__ == "format_reward"
    assert reward(completions=["x"], reward_components=[{"format": 0.5}]) == [0.5]
    assert reward(completions=["x"], reward_components=[{"win": 1.0}]) == [None]
    with pytest.raises(ValueError, match="reward_components"):
        reward(completions=["x"])


def test_the_first_reward_function_logs_the_episode_metrics_through_log_metric(
    tokenizer,
) -> None:
    specs = _specs(range(30, 36), min_random_move_prob=0.0, max_random_move_prob=1.0)
    generator = ScriptedTurnGenerator(tokenizer, specs, _SloppyPlayer())
    episodes = play_episodes(ENV, specs, generator, tokenizer, max_tokens_per_turn=128)
    columns = {
        "reward_components": [e.reward_components for e in episodes],
        "outcome": [e.record.outcome for e in episodes],
        "num_turns": [len(e.record.turns) for e in episodes],
        "invalid_actions": [e.record.invalid_actions for e in episodes],
        "cut_by_token_cap": [e.cut_by_token_cap for e in episodes],
    }
    funcs, _ = reward_functions(ENV)
    logged: list[tuple[str, float]] = []
    for func in funcs:
        func(completions=[None] * 6, log_metric=lambda k, v: logged.append((k, v)), **columns)
    metrics = dict(logged)
    assert len(logged) == len(metrics)  # one function logs, once per batch
    outcomes = {k: v for k, v in metrics.items() if k.startswith("env/outcome_")}
    assert len(outcomes) > 1 and sum(outcomes.values()) == pytest.approx(1.0)
    for outcome in columns["outcome"]:
        assert outcomes[f"env/outcome_{outcome}"] == columns["outcome"].count(outcome) / 6
    turns = sum(columns["num_turns"])
    assert metrics["env/num_turns"] == turns / 6
    assert metrics["env/invalid_action_rate"] == sum(columns["invalid_actions"]) / turns > 0
    assert metrics["env/cut_by_token_cap"] == 0.0
    # an outcome absent from the next batch is logged as 0, not left out
    logged.clear()
    funcs[0](
        completions=[None],
        log_metric=lambda k, v: logged.append((k, v)),
        **{k: v[:1] for k, v in columns.items()},
    )
    assert {k for k, _ in logged} == set(metrics)


class _FakeVLLMBackend:
    """TRL's ``vllm_generation`` as the rollout sees it: replies of a fixed script."""

    max_completion_length = 2048

    def __init__(self, replies):
        self.replies = replies

    def generate(self, prompts, images, num_generations):
        assert images is None and num_generations == 1
        replies = self.replies[: len(prompts)]
        return prompts, replies, [[[-0.1 * (i + 1)] for i in range(len(r))] for r in replies], None


def _vllm_trainer(backend, max_tokens):
    from types import SimpleNamespace

    args = SimpleNamespace(generation_kwargs={"max_tokens": max_tokens} if max_tokens else None)
    return SimpleNamespace(args=args, vllm_generation=backend)


def test_vllm_turns_end_at_an_eos_or_the_turn_cap_without_touching_the_backend() -> None:
    from adapters.training.grpo_rollout import VLLMTurnGenerator

    backend = _FakeVLLMBackend([[5, 6, 2, 9], [5, 6, 7, 8, 9, 10]])
    trainer = _vllm_trainer(backend, 4)
    generator = VLLMTurnGenerator(trainer, eos_token_ids=[2], max_tokens_per_turn=4)
    first, second = generator.generate([[1], [1, 3]], max_new_tokens=4)
    assert first.ids == [5, 6, 2] and first.logprobs == pytest.approx([-0.1, -0.2, -0.3])
    assert second.ids == [5, 6, 7, 8] and len(second.logprobs) == 4
    assert backend.max_completion_length == 2048
    with pytest.raises(ValueError, match="max_tokens"):
        VLLMTurnGenerator(_vllm_trainer(backend, None), eos_token_ids=[2], max_tokens_per_turn=4)


@pytest.mark.parametrize("env_id", sorted(llm_gym.ENV_SPECS))
def test_every_registered_env_rolls_out_with_its_own_components(tokenizer, env_id) -> None:
    from adapters.training.grpo import build_episode_dataset, resolve_strata
    from llm_gym.policies import make_scripted_policy, scripted_policy_names

    strata = resolve_strata(env_id, None)
    dataset = build_episode_dataset(env_id, rows=len(strata), strata=strata)
    specs = [
        EpisodeSpec(seed=row["seed"], env_kwargs=json.loads(row["env_kwargs"])) for row in dataset
    ]
    name = "oracle" if "oracle" in scripted_policy_names(env_id) else "optimal"
    player = make_scripted_policy(env_id, name)
    generator = ScriptedTurnGenerator(tokenizer, specs, player, env_id=env_id)
    episodes = play_episodes(env_id, specs, generator, tokenizer, max_tokens_per_turn=512)
    funcs, weights = reward_functions(env_id)
    for episode in episodes:
        record = episode.record
        assert set(episode.reward_components) == {f.component for f in funcs}
        weighted = sum(
            w * episode.reward_components[f.component] for f, w in zip(funcs, weights, strict=True)
        )
        assert weighted == pytest.approx(record.total_reward)
        rendered = tokenizer.apply_chat_template(record.messages, tokenize=False)
        assert tokenizer.decode(episode.prompt_ids + episode.completion_ids) + "\n" == rendered
        assert sum(episode.env_mask) == sum(t.completion_tokens for t in record.turns)
        assert record.outcome not in (None, "truncated")

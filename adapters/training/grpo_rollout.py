"""Multi-turn episodes as GRPO completions: the ``rollout_func`` for TRL's ``GRPOTrainer``.

One episode is one completion. The prompt is the chat template of the env's first messages
(system prompt and first observation, with the assistant header); the completion is every later
token of the conversation: the model's replies (``env_mask`` 1) and the environment's messages
between them, with their chat-template framing (``env_mask`` 0, kept out of the loss). The
model's reply tokens are kept exactly as sampled -- nothing is decoded and re-tokenised -- so
the trainer scores the tokens that were generated.

Turn ``t`` of every episode still in flight is generated in one batch (left-padded contexts),
with the KV cache on: TRL turns on gradient checkpointing, which disables the cache, so
generation runs inside TRL's ``unwrap_model_for_generation`` that switches checkpointing off.
With ``use_vllm=True`` the same loop asks TRL's vLLM backend (server or colocate) for each turn.

Rewards: each reward component of the env becomes its own TRL reward function
(:class:`ComponentReward`, named ``<component>_reward``) fed by the ``reward_components``
column this rollout returns; the env's weights go to ``GRPOConfig.reward_weights``, so TRL's
weighted sum equals the env's episode score and TRL logs each component apart.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym

import llm_gym  # noqa: F401  (registers the envs)
from adapters.records import EpisodeRecord, Message, TurnRecord
from adapters.rollout import INFO_KEYS_SKIPPED_IN_TURNS


@dataclass(frozen=True)
class EpisodeSpec:
    """Which episode to play: the env seed and the env arguments of its data-set row."""

    seed: int
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    rollout: int = 0


@dataclass
class GeneratedTurn:
    """A model reply: its token ids (ending with EOS unless cut by the token cap), logprobs."""

    ids: list[int]
    logprobs: list[float]


class TurnGenerator(Protocol):
    """Generates one reply for each of a batch of token contexts."""

    def generate(
        self, contexts: Sequence[Sequence[int]], max_new_tokens: int
    ) -> list[GeneratedTurn]: ...


@dataclass
class SamplingOptions:
    """Sampling of the replies; ``temperature`` 0 means greedy decoding."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float = 1.0

    @classmethod
    def from_trainer_args(cls, args: Any) -> SamplingOptions:
        return cls(
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k or None,
            min_p=args.min_p,
            repetition_penalty=args.repetition_penalty,
        )

    def generate_kwargs(self) -> dict[str, Any]:
        if self.temperature <= 0:
            return {"do_sample": False, "repetition_penalty": self.repetition_penalty}
        kwargs: dict[str, Any] = {
            "do_sample": True,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "repetition_penalty": self.repetition_penalty,
            "top_k": self.top_k if self.top_k else 0,
        }
        if self.min_p:
            kwargs["min_p"] = self.min_p
        return kwargs


class TransformersTurnGenerator:
    """Batched ``model.generate`` with the KV cache on, returning the sampled tokens' logprobs.

    ``context`` wraps each call (e.g. TRL's ``unwrap_model_for_generation``, which also turns
    gradient checkpointing off for the duration); ``model`` is used as is otherwise.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        sampling: SamplingOptions,
        *,
        eos_token_ids: Sequence[int] | None = None,
        context: Any = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.sampling = sampling
        eos = eos_token_ids if eos_token_ids is not None else [tokenizer.eos_token_id]
        self.eos_token_ids = sorted({int(t) for t in eos if t is not None})
        self.pad_token_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_token_ids[0]
        )
        self.context = context

    def generate(
        self, contexts: Sequence[Sequence[int]], max_new_tokens: int
    ) -> list[GeneratedTurn]:
        import torch

        if not contexts:
            return []
        width = max(len(c) for c in contexts)
        input_ids = torch.full((len(contexts), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(contexts), width), dtype=torch.long)
        for row, ids in enumerate(contexts):
            input_ids[row, width - len(ids) :] = torch.tensor(list(ids), dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        context = self.context() if callable(self.context) else nullcontext(self.model)
        with context as model, torch.no_grad():
            device = next(model.parameters()).device
            was_training = model.training
            model.eval()
            try:
                output = model.generate(
                    input_ids=input_ids.to(device),
                    attention_mask=attention.to(device),
                    max_new_tokens=max_new_tokens,
                    eos_token_id=self.eos_token_ids,
                    pad_token_id=self.pad_token_id,
                    use_cache=True,
                    return_dict_in_generate=True,
                    output_scores=True,
                    **self.sampling.generate_kwargs(),
                )
            finally:
                model.train(was_training)
        new_tokens = output.sequences[:, width:].cpu()
        # scores are the processed logits each token was sampled from (temperature, top-p, ...)
        steps = torch.stack(output.scores, dim=1).float().cpu() if output.scores else None
        turns: list[GeneratedTurn] = []
        for row in range(len(contexts)):
            ids = new_tokens[row].tolist()
            end = next((i + 1 for i, t in enumerate(ids) if t in self.eos_token_ids), len(ids))
            ids = ids[:end]
            if steps is not None and ids:
                logps = torch.log_softmax(steps[row, :end], dim=-1)
                picked = logps.gather(1, torch.tensor(ids).unsqueeze(1)).squeeze(1).tolist()
                picked = [p if math.isfinite(p) else 0.0 for p in picked]
            else:
                picked = [0.0] * len(ids)
            turns.append(GeneratedTurn(ids=ids, logprobs=picked))
        return turns


class VLLMTurnGenerator:
    """One turn through TRL's vLLM backend (``trainer.vllm_generation``), server or colocate.

    vLLM calls are collective across processes: every process sends the same number of prompts
    per call (padded with a one-token dummy) and keeps calling until all processes are done,
    which :meth:`generate_synchronised` arranges. The per-turn token cap temporarily replaces the
    backend's ``max_completion_length``.
    """

    def __init__(self, trainer: Any, eos_token_ids: Sequence[int]):
        self.trainer = trainer
        self.backend = trainer.vllm_generation
        self.eos_token_ids = set(eos_token_ids)

    def generate(
        self, contexts: Sequence[Sequence[int]], max_new_tokens: int
    ) -> list[GeneratedTurn]:
        saved = self.backend.max_completion_length
        self.backend.max_completion_length = max_new_tokens
        try:
            _, completion_ids, logprobs, _ = self.backend.generate(
                prompts=[list(c) for c in contexts], images=None, num_generations=1
            )
        finally:
            self.backend.max_completion_length = saved
        turns = []
        for ids, lps in zip(completion_ids, logprobs or [None] * len(completion_ids), strict=True):
            ids = list(ids)
            end = next((i + 1 for i, t in enumerate(ids) if t in self.eos_token_ids), len(ids))
            values = [float(x[0]) if x and x[0] is not None else 0.0 for x in (lps or [])]
            values = (values + [0.0] * end)[:end]
            turns.append(GeneratedTurn(ids=ids[:end], logprobs=values))
        return turns


def env_message_ids(
    tokenizer: Any, message: Message, *, chat_template: str | None = None
) -> list[int]:
    """Tokens that follow the model's end-of-turn token to append ``message`` and reopen a reply.

    Rendered as the difference between a dummy conversation with and without the message (the
    way TRL appends tool results), cut after the assistant's EOS so the template's own framing
    (e.g. ChatML's newline after ``<|im_end|>``) is part of the environment tokens.
    """
    dummy: list[Message] = [
        {"role": "system", "content": "dummy"},
        {"role": "user", "content": "dummy"},
        {"role": "assistant", "content": "dummy"},
    ]
    prefix = _template_ids(tokenizer, dummy, chat_template, add_generation_prompt=False)
    full = _template_ids(tokenizer, [*dummy, message], chat_template, add_generation_prompt=True)
    eos_positions = [i for i, t in enumerate(prefix) if t == tokenizer.eos_token_id]
    if eos_positions:
        prefix = prefix[: eos_positions[-1] + 1]
    if full[: len(prefix)] != prefix:
        raise ValueError("the chat template does not render conversations prefix-preserving")
    return full[len(prefix) :]


def prompt_ids_for(
    tokenizer: Any, messages: Sequence[Message], chat_template: str | None = None
) -> list[int]:
    """Token ids of the opening messages with the assistant header (generation prompt)."""
    return _template_ids(tokenizer, list(messages), chat_template, add_generation_prompt=True)


def _template_ids(
    tokenizer: Any,
    messages: list[Message],
    chat_template: str | None,
    *,
    add_generation_prompt: bool,
) -> list[int]:
    ids = tokenizer.apply_chat_template(
        messages,
        tokenize=True,
        add_generation_prompt=add_generation_prompt,
        chat_template=chat_template,
        return_dict=False,
    )
    if ids and isinstance(ids[0], list):
        ids = ids[0]
    return list(ids)


@dataclass
class EpisodeTokens:
    """One episode as a GRPO sample, with the record of the chat it came from."""

    prompt_ids: list[int]
    completion_ids: list[int]
    env_mask: list[int]
    logprobs: list[float]
    record: EpisodeRecord
    cut_by_token_cap: bool = False

    @property
    def reward_components(self) -> dict[str, float]:
        return dict(self.record.reward_components)


class _Episode:
    def __init__(
        self,
        env_id: str,
        spec: EpisodeSpec,
        base_kwargs: Mapping[str, Any],
        tokenizer: Any,
        chat_template: str | None,
    ):
        self.spec = spec
        self.kwargs = {**base_kwargs, **spec.env_kwargs}
        self.env = gym.make(env_id, **self.kwargs)
        observation, info = self.env.reset(seed=spec.seed)
        self.messages: list[Message] = [
            {"role": "system", "content": info["system_prompt"]},
            {"role": info.get("role", "user"), "content": observation},
        ]
        self.weights = dict(info.get("reward_weights", {}))
        self.totals = dict.fromkeys(self.weights, 0.0)
        self.prompt_ids = prompt_ids_for(tokenizer, self.messages, chat_template)
        self.completion_ids: list[int] = []
        self.env_mask: list[int] = []
        self.logprobs: list[float] = []
        self.turns: list[TurnRecord] = []
        self.info = info
        self.observation = observation
        self.done = False
        self.terminated = self.truncated = False
        self.cut = False

    @property
    def context(self) -> list[int]:
        return self.prompt_ids + self.completion_ids


def play_episodes(
    env_id: str,
    specs: Sequence[EpisodeSpec],
    generator: TurnGenerator,
    tokenizer: Any,
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    max_turns: int | None = None,
    max_tokens_per_turn: int = 128,
    max_completion_length: int | None = None,
    chat_template: str | None = None,
    policy_name: str = "model",
    synchronise: Any = None,
) -> list[EpisodeTokens]:
    """Play every episode of ``specs`` to its end, batching turn ``t`` across episodes.

    Args:
        env_id: a registered env id.
        specs: seeds and per-row env arguments (equal specs replay the same episode start).
        generator: where replies come from (:class:`TransformersTurnGenerator`, vLLM).
        tokenizer: the model's tokenizer (its chat template frames the messages).
        env_kwargs: env arguments shared by all episodes (a spec's own arguments win).
        max_turns: stop an episode after this many model replies (the env's own cap still
            applies and scores its truncation; this one only bounds cost).
        max_tokens_per_turn: new tokens per reply; a reply cut there gets an EOS appended as an
            environment token (mask 0) so the conversation stays well formed.
        max_completion_length: cap on the whole completion (replies and env messages); an
            episode that would exceed it stops there (counted as cut, outcome ``"truncated"``).
        synchronise: ``f(any_local_active: bool) -> bool`` telling whether any process still has
            episodes in flight (vLLM's collective calls need every process in every turn).
    """
    base = dict(env_kwargs or {})
    episodes = [_Episode(env_id, spec, base, tokenizer, chat_template) for spec in specs]
    eos_id = tokenizer.eos_token_id
    while True:
        active = [e for e in episodes if not e.done]
        if synchronise is not None:
            if not synchronise(bool(active)):
                break
        elif not active:
            break
        contexts = [e.context for e in active]
        if synchronise is not None:
            # collective backends need the same number of prompts from every process
            contexts += [[eos_id]] * (len(episodes) - len(contexts))
        replies = generator.generate(contexts, max_tokens_per_turn)
        for episode, reply in zip(active, replies, strict=False):
            if max_completion_length is not None:
                room = max(1, max_completion_length - len(episode.completion_ids))
                reply = GeneratedTurn(ids=reply.ids[:room], logprobs=reply.logprobs[:room])
            _apply_reply(
                episode,
                reply,
                tokenizer,
                chat_template,
                max_tokens_per_turn,
                max_completion_length,
            )
        for episode in active:
            if not episode.done and max_turns is not None and len(episode.turns) >= max_turns:
                episode.done = True
                episode.cut = True
    return [_finish(e, env_id, policy_name) for e in episodes]


def _apply_reply(
    episode: _Episode,
    reply: GeneratedTurn,
    tokenizer: Any,
    chat_template: str | None,
    max_tokens_per_turn: int,
    max_completion_length: int | None,
) -> None:
    eos_id = tokenizer.eos_token_id
    text = tokenizer.decode(reply.ids, skip_special_tokens=True)
    episode.completion_ids += reply.ids
    episode.env_mask += [1] * len(reply.ids)
    episode.logprobs += reply.logprobs
    ended_by_model = bool(reply.ids) and reply.ids[-1] == eos_id
    observation, reward, terminated, truncated, info = episode.env.step(text)
    components = dict(info.get("reward_components", {}))
    for name, value in components.items():
        episode.totals[name] = episode.totals.get(name, 0.0) + float(value)
    episode.messages.append({"role": "assistant", "content": text})
    episode.turns.append(
        TurnRecord(
            action=text,
            observation=observation,
            role=info.get("role", "user"),
            reward=float(reward),
            reward_components=components,
            invalid_action=bool(info.get("invalid_action", False)),
            latency_s=0.0,
            completion_tokens=len(reply.ids),
            info={k: v for k, v in info.items() if k not in INFO_KEYS_SKIPPED_IN_TURNS},
        )
    )
    episode.info = info
    episode.observation = observation
    episode.terminated, episode.truncated = bool(terminated), bool(truncated)
    if terminated or truncated:
        episode.done = True
        return
    message = {"role": info.get("role", "user"), "content": observation}
    episode.messages.append(message)
    env_ids = ([] if ended_by_model else [eos_id]) + env_message_ids(
        tokenizer, message, chat_template=chat_template
    )
    if (
        max_completion_length is not None
        and len(episode.completion_ids) + len(env_ids) >= max_completion_length
    ):
        episode.done = True
        episode.cut = True
        return
    episode.completion_ids += env_ids
    episode.env_mask += [0] * len(env_ids)
    episode.logprobs += [0.0] * len(env_ids)


def _finish(episode: _Episode, env_id: str, policy_name: str) -> EpisodeTokens:
    info = episode.info
    outcome = info.get("outcome") if episode.terminated or episode.truncated else "truncated"
    if outcome is None and episode.truncated:
        outcome = "truncated"
    record = EpisodeRecord(
        env_id=env_id,
        env_kwargs=episode.kwargs,
        seed=episode.spec.seed,
        rollout=episode.spec.rollout,
        policy=policy_name,
        messages=episode.messages,
        turns=episode.turns,
        final_observation=episode.observation,
        total_reward=float(sum(t.reward for t in episode.turns)),
        reward_components=episode.totals,
        reward_weights=episode.weights,
        outcome=outcome,
        metrics=dict(info.get("metrics", {})),
        terminated=episode.terminated,
        truncated=episode.truncated or episode.cut,
        wall_time_s=0.0,
    )
    episode.env.close()
    return EpisodeTokens(
        prompt_ids=episode.prompt_ids,
        completion_ids=episode.completion_ids,
        env_mask=episode.env_mask,
        logprobs=episode.logprobs,
        record=record,
        cut_by_token_cap=episode.cut,
    )


class ComponentReward:
    """TRL reward function of one env reward component (unweighted; TRL applies the weight).

    Reads the ``reward_components`` column that :class:`MultiTurnRollout` returns. TRL logs it as
    ``rewards/<component>_reward/mean``.

    >>> reward = ComponentReward("win")
    >>> reward(completions=["a", "b"], reward_components=[{"win": 1.0}, {"win": 0.5}])
    [1.0, 0.5]
    """

    def __init__(self, component: str):
        self.component = component
        self.__name__ = f"{component}_reward"

    def __call__(
        self,
        completions: Sequence[Any],
        reward_components: Sequence[Mapping[str, float]] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        if reward_components is None:
            raise ValueError(
                f"{self.__name__} needs the reward_components column of the env rollout"
            )
        return [
            float(c[self.component]) if self.component in c else None for c in reward_components
        ]


def env_reward_weights(
    env_id: str, env_kwargs: Mapping[str, Any] | None = None
) -> dict[str, float]:
    """The env's reward components and weights, read from ``info["reward_weights"]`` at reset."""
    env = gym.make(env_id, **dict(env_kwargs or {}))
    try:
        _, info = env.reset(seed=0)
    finally:
        env.close()
    weights = info.get("reward_weights")
    if not weights:
        raise ValueError(f"{env_id} reports no reward_weights in its reset info")
    return {str(k): float(v) for k, v in weights.items()}


def reward_functions(
    env_id: str, env_kwargs: Mapping[str, Any] | None = None
) -> tuple[list[ComponentReward], list[float]]:
    """One :class:`ComponentReward` per component and the matching ``reward_weights`` list."""
    weights = env_reward_weights(env_id, env_kwargs)
    return [ComponentReward(name) for name in weights], list(weights.values())


class MultiTurnRollout:
    """The ``rollout_func`` of :class:`adapters.training.grpo.EnvGRPOTrainer`.

    TRL calls it with the per-process prompts (each data-set row repeated ``num_generations``
    times in a row by the sampler) and returns one completion per prompt. The rows themselves
    (seed, env arguments) come from ``trainer.rollout_rows``, which the trainer sets before each
    generation, so every rollout of a group plays the same seed.
    """

    def __init__(
        self,
        env_id: str,
        *,
        env_kwargs: Mapping[str, Any] | None = None,
        max_turns: int | None = None,
        max_tokens_per_turn: int = 128,
        max_completion_length: int | None = None,
    ):
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.max_turns = max_turns
        self.max_tokens_per_turn = max_tokens_per_turn
        self.max_completion_length = max_completion_length
        self.last_episodes: list[EpisodeTokens] = []

    def __call__(self, prompts: Sequence[Any], trainer: Any) -> dict[str, Any]:
        rows = getattr(trainer, "rollout_rows", None)
        if rows is None or len(rows) != len(prompts):
            raise RuntimeError(
                "MultiTurnRollout needs the data-set rows of the batch: use EnvGRPOTrainer "
                "(adapters.training.grpo), which hands them over as trainer.rollout_rows"
            )
        specs = []
        group_index: Counter[tuple[int, str]] = Counter()
        for row in rows:
            kwargs = row_env_kwargs(row)
            key = (int(row["seed"]), json.dumps(kwargs, sort_keys=True))
            specs.append(
                EpisodeSpec(seed=int(row["seed"]), env_kwargs=kwargs, rollout=group_index[key])
            )
            group_index[key] += 1
        tokenizer = trainer.processing_class
        eos_ids = list(getattr(trainer, "eos_token_ids", None) or [tokenizer.eos_token_id])
        cap = self.max_completion_length or trainer.args.max_completion_length
        if trainer.use_vllm:
            generator: TurnGenerator = VLLMTurnGenerator(trainer, eos_ids)
            synchronise = _any_process_active(trainer.accelerator)
        else:
            generator = TransformersTurnGenerator(
                trainer.model_wrapped,
                tokenizer,
                SamplingOptions.from_trainer_args(trainer.args),
                eos_token_ids=eos_ids,
                context=lambda: _generation_context(trainer),
            )
            synchronise = None
        episodes = play_episodes(
            self.env_id,
            specs,
            generator,
            tokenizer,
            env_kwargs=self.env_kwargs,
            max_turns=self.max_turns,
            max_tokens_per_turn=self.max_tokens_per_turn,
            max_completion_length=cap,
            chat_template=getattr(trainer, "chat_template", None),
            synchronise=synchronise,
        )
        self.last_episodes = episodes
        _log_episode_metrics(trainer, episodes)
        return {
            "prompt_ids": [e.prompt_ids for e in episodes],
            "completion_ids": [e.completion_ids for e in episodes],
            "logprobs": [e.logprobs for e in episodes],
            "env_mask": [e.env_mask for e in episodes],
            "reward_components": [e.reward_components for e in episodes],
            "outcome": [e.record.outcome or "none" for e in episodes],
            "num_turns": [len(e.record.turns) for e in episodes],
        }


def row_env_kwargs(row: Mapping[str, Any]) -> dict[str, Any]:
    """A data-set row's env arguments (stored as a JSON string so every row has one type)."""
    value = row.get("env_kwargs") or {}
    return json.loads(value) if isinstance(value, str) else dict(value)


def _generation_context(trainer: Any) -> Any:
    from trl.models.utils import unwrap_model_for_generation

    return unwrap_model_for_generation(
        trainer.model_wrapped,
        trainer.accelerator,
        gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
        gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs,
    )


def _any_process_active(accelerator: Any) -> Any:
    def synchronise(local_active: bool) -> bool:
        import torch

        flag = torch.tensor([1 if local_active else 0], device=accelerator.device)
        return bool(accelerator.gather(flag).sum().item() > 0)

    return synchronise


def _log_episode_metrics(trainer: Any, episodes: Sequence[EpisodeTokens]) -> None:
    metrics = getattr(trainer, "_metrics", None)
    if metrics is None or not episodes:
        return
    mode = "train" if trainer.model.training else "eval"
    outcomes = Counter(e.record.outcome or "none" for e in episodes)
    for outcome, count in outcomes.items():
        metrics[mode][f"env/outcome_{outcome}"].append(count / len(episodes))
    metrics[mode]["env/num_turns"].append(
        sum(len(e.record.turns) for e in episodes) / len(episodes)
    )
    invalid = sum(e.record.invalid_actions for e in episodes)
    turns = sum(len(e.record.turns) for e in episodes)
    metrics[mode]["env/invalid_action_rate"].append(invalid / max(turns, 1))
    metrics[mode]["env/cut_by_token_cap"].append(
        sum(e.cut_by_token_cap for e in episodes) / len(episodes)
    )

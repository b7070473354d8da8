"""One batched generation engine for local transformers models, with KV caches kept across turns.

The chat policy (:mod:`adapters.policies.local`) and the GRPO rollout
(:mod:`adapters.training.grpo_rollout`) both generate turn ``t`` of many conversations at once.
:class:`GenerationEngine` does that with three properties plain ``model.generate`` lacks:

- **Prefix reuse.** After a turn, each conversation's keys and values (prompt and reply) are kept
  in a :class:`PrefixCache`, a least-recently-used store bounded in bytes. A later request that
  starts with a cached conversation's tokens reuses them: only the new tokens (the env message
  and the generation prompt) are prefilled. A conversation is recognised by its token ids, not by
  a handle, so callers need no bookkeeping and a reply that re-tokenises differently still reuses
  the common part.
- **Batching with per-row positions.** Rows have cached prefixes of different lengths and new
  tokens of different lengths; both are padded inside one batch, with an attention mask that
  hides the padding and position ids that count only real tokens. Rows that finish leave the
  batch, so short replies stop costing compute.
- **Per-request seeds.** Each request carries its own seed and draws its tokens from its own
  ``torch.Generator`` (one uniform number per token, inverse-CDF sampling), so a sampled reply
  does not depend on which other requests shared its batch.

Greedy decoding picks the same tokens as ``model.generate``; generation stops on any of
:func:`stop_token_ids` (the generation config's EOS ids, which may be a list, and the
tokenizer's EOS). The engine assumes a decoder whose cache layers are plain full-attention
key/value tensors (Llama, Qwen2, Mistral without sliding window, SmolLM, ...). Its cache is only
valid for fixed weights: call :meth:`GenerationEngine.clear_cache` after an optimiser step.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from adapters.models import require

_cache_utils = require("transformers.cache_utils", "local")
DynamicCache, DynamicLayer = _cache_utils.DynamicCache, _cache_utils.DynamicLayer

DEFAULT_CACHE_BYTES = 2 * 2**30
"""Default bound of the prefix cache: 2 GiB (about 45k tokens of the embedded model in float32)."""


@dataclass
class SamplingOptions:
    """Sampling of the replies; ``temperature`` 0 means greedy decoding."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")

    @classmethod
    def from_trainer_args(cls, args: Any) -> SamplingOptions:
        """The sampling of a TRL ``GRPOConfig``."""
        return cls(
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k or None,
            min_p=args.min_p,
            repetition_penalty=args.repetition_penalty,
        )

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def logits_processors(self) -> Any:
        """transformers' processors for these options, in ``generate``'s order."""
        from transformers import (
            LogitsProcessorList,
            MinPLogitsWarper,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        processors = LogitsProcessorList()
        if self.repetition_penalty != 1.0:
            processors.append(RepetitionPenaltyLogitsProcessor(self.repetition_penalty))
        if self.greedy:
            return processors
        if self.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(self.temperature))
        if self.top_k:
            processors.append(TopKLogitsWarper(self.top_k))
        if self.top_p < 1.0:
            processors.append(TopPLogitsWarper(self.top_p))
        if self.min_p:
            processors.append(MinPLogitsWarper(self.min_p))
        return processors


@dataclass(frozen=True)
class GenerationRequest:
    """One reply to generate: the whole conversation so far as token ids, and its sampling seed."""

    ids: Sequence[int]
    seed: int = 0


@dataclass
class GeneratedTurn:
    """A model reply: its token ids (ending with a stop id unless cut by the token cap) and the
    log-probability of each under the distribution it was drawn from."""

    ids: list[int]
    logprobs: list[float]
    reused_tokens: int = 0
    """Tokens of the request served from the prefix cache (not prefilled again)."""


@dataclass
class EngineStats:
    """Counters over an engine's lifetime."""

    requests: int = 0
    prefilled_tokens: int = 0
    reused_tokens: int = 0
    generated_tokens: int = 0
    forward_calls: int = 0
    batch_sizes: list[int] = field(default_factory=list)


def sampling_seed(base_seed: int, ids: Sequence[int], occurrence: int = 0) -> int:
    """A 63-bit seed from a base seed, a conversation's token ids and how often it was seen.

    Equal conversations get different seeds through ``occurrence`` (e.g. the rollouts of a GRPO
    group, which all start from the same prompt), and the seed never depends on batching.
    """
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{base_seed}:{occurrence}:".encode())
    digest.update(",".join(map(str, ids)).encode())
    return int.from_bytes(digest.digest(), "little") >> 1


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every id that ends a reply: the generation config's EOS id(s) and the tokenizer's EOS."""
    ids: set[int] = set()
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    elif eos is not None:
        ids.update(int(t) for t in eos)
    if getattr(tokenizer, "eos_token_id", None) is not None:
        ids.add(int(tokenizer.eos_token_id))
    if not ids:
        raise ValueError("neither the model's generation config nor the tokenizer names an EOS id")
    return sorted(ids)


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two id lists (binary search over slice equality).

    >>> common_prefix_length([1, 2, 3, 4], [1, 2, 5])
    2
    """
    low, high = 0, min(len(a), len(b))
    if list(a[:high]) == list(b[:high]):
        return high
    while low < high:
        middle = (low + high + 1) // 2
        if list(a[:middle]) == list(b[:middle]):
            low = middle
        else:
            high = middle - 1
    return low


@dataclass
class CachedConversation:
    """Keys and values of ``ids``: one ``(key, value)`` pair per layer, ``[1, heads, len, dim]``."""

    ids: list[int]
    layers: list[tuple[Any, Any]]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for pair in self.layers for t in pair)


class PrefixCache:
    """Least-recently-used conversations' key/value tensors, at most ``max_bytes`` in all."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._entries: OrderedDict[int, CachedConversation] = OrderedDict()
        self._next_key = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, ids: Sequence[int]) -> tuple[CachedConversation | None, int]:
        """The entry sharing the longest prefix with ``ids`` and that length, which leaves at
        least one token of ``ids`` to prefill (the model needs it to predict the next one)."""
        best, best_length, best_key = None, 0, None
        limit = len(ids) - 1
        for key, entry in self._entries.items():
            length = min(common_prefix_length(entry.ids, ids), limit)
            if length > best_length:
                best, best_length, best_key = entry, length, key
        if best_key is not None:
            self._entries.move_to_end(best_key)
        return best, best_length

    def insert(self, entry: CachedConversation) -> None:
        """Store ``entry``, dropping entries it extends and then the least recently used ones."""
        for key, other in list(self._entries.items()):
            if len(other.ids) <= len(entry.ids) and entry.ids[: len(other.ids)] == other.ids:
                self._remove(key)
        size = entry.nbytes
        if size > self.max_bytes:
            return
        while self._entries and self.nbytes + size > self.max_bytes:
            self._remove(next(iter(self._entries)))
        self._entries[self._next_key] = entry
        self._next_key += 1
        self.nbytes += size

    def clear(self) -> None:
        self._entries.clear()
        self.nbytes = 0

    def _remove(self, key: int) -> None:
        self.nbytes -= self._entries.pop(key).nbytes


class GenerationEngine:
    """Batched generation with prefix caching and per-request seeds (see the module docstring).

    Args:
        model: a causal LM (``transformers``), used in eval mode under ``torch.inference_mode``.
        tokenizer: its tokenizer (pad and EOS ids).
        eos_token_ids: ids that end a reply (default: :func:`stop_token_ids`).
        cache_bytes: bound of the prefix cache; 0 turns reuse across calls off.
        model_context: a callable returning a context manager that yields the model to run
            (e.g. TRL's ``unwrap_model_for_generation``); default: ``model`` as is.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        eos_token_ids: Sequence[int] | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        model_context: Callable[[], AbstractContextManager[Any]] | None = None,
    ):
        import torch

        self.torch = torch
        self.model = model
        self.tokenizer = tokenizer
        eos = stop_token_ids(model, tokenizer) if eos_token_ids is None else eos_token_ids
        self.eos_token_ids = sorted({int(t) for t in eos})
        if not self.eos_token_ids:
            raise ValueError("eos_token_ids must name at least one token id")
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_token_id = int(pad) if pad is not None else self.eos_token_ids[0]
        self.cache = PrefixCache(cache_bytes)
        self.model_context = model_context
        self.stats = EngineStats()

    def clear_cache(self) -> None:
        """Forget every cached conversation (needed whenever the weights change)."""
        self.cache.clear()

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int,
        sampling: SamplingOptions | None = None,
    ) -> list[GeneratedTurn]:
        """One reply per request, all decoded in one batch."""
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        for request in requests:
            if not request.ids:
                raise ValueError("a generation request needs at least one token id")
        if not requests:
            return []
        sampling = sampling or SamplingOptions(temperature=0.0)
        with self._running_model() as model, self.torch.inference_mode():
            return _BatchDecoder(self, model, requests, max_new_tokens, sampling).run()

    @contextmanager
    def _running_model(self) -> Iterator[Any]:
        context = self.model_context() if self.model_context is not None else None
        model = context.__enter__() if context is not None else self.model
        was_training = model.training
        model.eval()
        try:
            yield model
        finally:
            model.train(was_training)
            if context is not None:
                context.__exit__(None, None, None)


class _ReservedLayer(DynamicLayer):
    """A full-attention cache layer that writes new keys and values into reserved room.

    ``DynamicLayer`` concatenates at every update, copying the whole cache at every decoding
    step; this layer grows its buffer by ``reserve`` tokens at a time and exposes views.
    """

    def __init__(self, reserve: int, keys: Any = None, values: Any = None):
        super().__init__()
        self.reserve = reserve
        self.length = 0
        if keys is not None:
            self._grow(keys, values, keys.shape[-2] + reserve)
            self._write(keys, values)

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> Any:
        needed = self.length + key_states.shape[-2]
        if not self.is_initialized or needed > self.buffer_keys.shape[-2]:
            self._grow(key_states, value_states, needed + self.reserve)
        self._write(key_states, value_states)
        return self.keys, self.values

    def batch_select_indices(self, indices: Any) -> None:
        self.buffer_keys = self.buffer_keys[indices]
        self.buffer_values = self.buffer_values[indices]
        self._expose()

    def _grow(self, key_like: Any, value_like: Any, capacity: int) -> None:
        batch = key_like.shape[0]
        keys = key_like.new_empty((batch, key_like.shape[1], capacity, key_like.shape[3]))
        values = value_like.new_empty((batch, value_like.shape[1], capacity, value_like.shape[3]))
        if self.is_initialized and self.length:
            keys[:, :, : self.length] = self.keys
            values[:, :, : self.length] = self.values
        self.buffer_keys, self.buffer_values = keys, values
        self.dtype, self.device = key_like.dtype, key_like.device
        self.is_initialized = True

    def _write(self, key_states: Any, value_states: Any) -> None:
        end = self.length + key_states.shape[-2]
        self.buffer_keys[:, :, self.length : end] = key_states
        self.buffer_values[:, :, self.length : end] = value_states
        self.length = end
        self._expose()

    def _expose(self) -> None:
        self.keys = self.buffer_keys[:, :, : self.length]
        self.values = self.buffer_values[:, :, : self.length]


class _BatchDecoder:
    """One :meth:`GenerationEngine.generate` call: prefill the new tokens, then decode."""

    def __init__(
        self,
        engine: GenerationEngine,
        model: Any,
        requests: Sequence[GenerationRequest],
        max_new_tokens: int,
        sampling: SamplingOptions,
    ):
        self.engine = engine
        self.torch = engine.torch
        self.model = model
        self.device = next(model.parameters()).device
        self.requests = list(requests)
        self.max_new_tokens = max_new_tokens
        self.sampling = sampling
        self.processors = sampling.logits_processors()
        self.eos = self.torch.tensor(engine.eos_token_ids, device=self.device)
        self.generators = []
        for request in self.requests:
            generator = self.torch.Generator(device=self.device)
            generator.manual_seed(int(request.seed) % 2**63)
            self.generators.append(generator)

    def run(self) -> list[GeneratedTurn]:
        torch = self.torch
        engine = self.engine
        count = len(self.requests)
        engine.stats.requests += count
        engine.stats.batch_sizes.append(count)
        hits = [engine.cache.lookup(r.ids) for r in self.requests]
        reused = [length for _, length in hits]
        engine.stats.reused_tokens += sum(reused)
        engine.stats.prefilled_tokens += sum(len(r.ids) for r in self.requests) - sum(reused)

        cache, attention, positions, inputs = self._prefill_inputs(hits)
        # per row: the ids of every token whose key/value is (or is about to be) in the cache
        self.histories = [list(r.ids) for r in self.requests]
        self.generated: list[list[int]] = [[] for _ in range(count)]
        self.logprobs: list[list[float]] = [[] for _ in range(count)]
        self.active = list(range(count))
        self.cache = cache
        self.attention = attention

        logits = self._forward(inputs, positions)
        for step in range(self.max_new_tokens):
            tokens = self._pick(logits)
            finished = []
            for slot, row in enumerate(self.active):
                token = int(tokens[slot])
                self.generated[row].append(token)
                if token in engine.eos_token_ids or step == self.max_new_tokens - 1:
                    finished.append(slot)
            for slot in finished:
                self._store(slot)
            if len(finished) == len(self.active):
                break
            if finished:
                keep = [slot for slot in range(len(self.active)) if slot not in finished]
                self._keep_rows(keep)
                tokens = tokens[keep]
                self.next_positions = self.next_positions[keep]
            for row in self.active:
                self.histories[row].append(self.generated[row][-1])
            positions = self.next_positions
            self.next_positions = positions + 1
            ones = torch.ones((len(self.active), 1), dtype=self.attention.dtype, device=self.device)
            self.attention = torch.cat([self.attention, ones], dim=1)
            logits = self._forward(tokens.unsqueeze(1), positions.unsqueeze(1))
        engine.stats.generated_tokens += sum(len(g) for g in self.generated)
        return [
            GeneratedTurn(ids=ids, logprobs=lps, reused_tokens=n)
            for ids, lps, n in zip(self.generated, self.logprobs, reused, strict=True)
        ]

    def _prefill_inputs(self, hits: list[tuple[CachedConversation | None, int]]) -> tuple:
        """A batched cache of the reused prefixes (right-aligned) and the new tokens (left-padded).

        Row ``i`` reads ``[pad, cached_i, pad, new_i]``: the mask hides both pads and the
        position ids count ``cached_i`` then ``new_i`` without gaps.
        """
        torch = self.torch
        count = len(self.requests)
        cached = [length for _, length in hits]
        new = [list(r.ids[n:]) for r, n in zip(self.requests, cached, strict=True)]
        past_width = max(cached)
        new_width = max(len(ids) for ids in new)
        attention = torch.zeros((count, past_width + new_width), dtype=torch.long)
        input_ids = torch.full((count, new_width), self.engine.pad_token_id, dtype=torch.long)
        positions = torch.zeros((count, new_width), dtype=torch.long)
        for row, (ids, start) in enumerate(zip(new, cached, strict=True)):
            attention[row, past_width - start : past_width] = 1
            attention[row, past_width + new_width - len(ids) :] = 1
            input_ids[row, new_width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            positions[row, new_width - len(ids) :] = torch.arange(start, start + len(ids))
        reserve = self.max_new_tokens + new_width
        cache = DynamicCache()
        cache.layer_class_to_replicate = functools.partial(_ReservedLayer, reserve)
        if past_width:
            template = next(entry for entry, _ in hits if entry is not None).layers
            for layer, (key_like, value_like) in enumerate(template):
                keys = key_like.new_zeros((count, key_like.shape[1], past_width, key_like.shape[3]))
                values = value_like.new_zeros(
                    (count, value_like.shape[1], past_width, value_like.shape[3])
                )
                for row, (entry, length) in enumerate(hits):
                    if entry is None or length == 0:
                        continue
                    key, value = entry.layers[layer]
                    keys[row, :, past_width - length :] = key[0, :, :length]
                    values[row, :, past_width - length :] = value[0, :, :length]
                cache.layers.append(_ReservedLayer(reserve, keys, values))
        self.next_positions = torch.tensor(
            [start + len(ids) for ids, start in zip(new, cached, strict=True)], device=self.device
        )
        return (
            cache,
            attention.to(self.device),
            positions.to(self.device),
            input_ids.to(self.device),
        )

    def _forward(self, input_ids: Any, positions: Any) -> Any:
        self.engine.stats.forward_calls += 1
        output = self.model(
            input_ids=input_ids,
            attention_mask=self.attention,
            position_ids=positions,
            past_key_values=self.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.cache = output.past_key_values
        return output.logits[:, -1, :].float()

    def _pick(self, logits: Any) -> Any:
        """Next token of every active row; records its log-probability."""
        torch = self.torch
        if len(self.processors):
            history = self._history_tensor()
            logits = self.processors(history, logits)
        logps = torch.log_softmax(logits, dim=-1)
        if self.sampling.greedy:
            tokens = logits.argmax(dim=-1)
        else:
            uniforms = torch.stack(
                [
                    torch.rand((), generator=self.generators[row], device=self.device)
                    for row in self.active
                ]
            )
            cumulative = torch.cumsum(logps.exp(), dim=-1)
            targets = (uniforms * cumulative[:, -1]).unsqueeze(1)
            tokens = torch.searchsorted(cumulative, targets).squeeze(1)
            tokens = tokens.clamp(max=logits.shape[-1] - 1)
        picked = logps.gather(1, tokens.unsqueeze(1)).squeeze(1).tolist()
        for slot, row in enumerate(self.active):
            value = picked[slot]
            self.logprobs[row].append(value if math.isfinite(value) else 0.0)
        return tokens

    def _history_tensor(self) -> Any:
        """Each active row's ids so far (padded with its own first id, which changes no
        penalty), for processors that read the history."""
        rows = [self.histories[row] for row in self.active]
        width = max(len(r) for r in rows)
        padded = [[r[0]] * (width - len(r)) + r for r in rows]
        return self.torch.tensor(padded, dtype=self.torch.long, device=self.device)

    def _store(self, slot: int) -> None:
        """Keep a finished row's keys and values (everything but its last, unfed token)."""
        engine = self.engine
        if engine.cache.max_bytes == 0:
            return
        row = self.active[slot]
        columns = self.attention[slot].nonzero().squeeze(1)
        layers = []
        for layer in self.cache.layers:
            key = layer.keys[slot : slot + 1].index_select(2, columns)
            value = layer.values[slot : slot + 1].index_select(2, columns)
            layers.append((key, value))
        ids = self.histories[row]
        if len(ids) != int(columns.numel()):
            raise RuntimeError(
                f"cache of row {row} holds {int(columns.numel())} tokens, expected {len(ids)}"
            )
        engine.cache.insert(CachedConversation(ids=list(ids), layers=layers))

    def _keep_rows(self, slots: list[int]) -> None:
        index = self.torch.tensor(slots, device=self.device)
        self.cache.batch_select_indices(index)
        self.attention = self.attention[index]
        self.active = [self.active[slot] for slot in slots]

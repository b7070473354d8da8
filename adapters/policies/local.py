"""A local transformers chat policy that batches the turns of concurrent episodes.

Every :meth:`LocalChatPolicy.reply` call queues its prompt; a micro-batcher on the event loop
collects the prompts that arrive within ``batch_wait_s`` (or until ``max_batch_size``) and hands
them to one :class:`~adapters.generation.GenerationEngine` call in a worker thread, so the event
loop keeps stepping the other episodes' envs meanwhile. Turn ``t`` of eight episodes in flight
becomes one batch of eight, and each episode's keys and values stay cached between its turns:
only the env's new message is prefilled. Sampling is seeded per conversation (the policy seed,
the conversation's tokens and how often that exact conversation was asked before), so a reply
never depends on which requests shared its batch.

The default model is the embedded SmolLM2-135M-Instruct (no network, no key); any Hugging Face
model path or checkpoint folder (e.g. from ``llm-gym train-sft``) works too.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.generation import (
    DEFAULT_CACHE_BYTES,
    GenerationEngine,
    GenerationRequest,
    SamplingOptions,
    sampling_seed,
)
from adapters.models import EMBEDDED_MODEL, load_model_and_tokenizer, require
from adapters.policies.base import PolicyReply
from adapters.policies.defaults import (
    LOCAL_BATCH_SIZE,
    LOCAL_MAX_NEW_TOKENS,
    LOCAL_TEMPERATURE,
    LOCAL_TOP_P,
)
from adapters.records import Message


@dataclass
class _Request:
    prompt_ids: list[int]
    future: asyncio.Future[PolicyReply]


def chat_messages_for_template(messages: Sequence[Message]) -> list[dict[str, str]]:
    """The chat with tool observations as user messages (small chat templates know no tool role)
    and native tool calls flattened to text."""
    out = []
    for message in messages:
        role = message.get("role", "user")
        if role == "tool":
            role = "user"
        out.append({"role": role, "content": str(message.get("content") or "")})
    return out


class LocalChatPolicy:
    """Generates replies with a local causal LM, batching concurrent requests.

    Args:
        model: :data:`~adapters.models.EMBEDDED_MODEL` (default), a shipped trained model's
            name, a checkpoint or LoRA adapter folder, or a Hugging Face id in the local cache
            (see :func:`~adapters.models.resolve_model_path`).
        max_new_tokens: tokens per reply at most.
        temperature: 0 means greedy decoding.
        top_p: nucleus sampling mass.
        max_batch_size: prompts per engine call at most.
        batch_wait_s: how long the batcher waits for more prompts after the first one.
        seed: seeds sampling, together with each conversation's tokens.
        device, dtype: where and in which precision to run (default: CUDA if available, float32
            on CPU).
        model_obj, tokenizer: an already loaded model and tokenizer (skips loading).
        cache_bytes: bound of the key/value cache kept across turns (least recently used
            conversations are dropped first; 0 re-prefills every turn).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        max_new_tokens: int = LOCAL_MAX_NEW_TOKENS,
        temperature: float = LOCAL_TEMPERATURE,
        top_p: float = LOCAL_TOP_P,
        max_batch_size: int = LOCAL_BATCH_SIZE,
        batch_wait_s: float = 0.02,
        seed: int = 0,
        device: str | None = None,
        dtype: str = "auto",
        model_obj: Any | None = None,
        tokenizer: Any | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        require("torch", "local")
        self.model_name = model or EMBEDDED_MODEL
        if model_obj is None or tokenizer is None:
            model_obj, tokenizer = load_model_and_tokenizer(model, dtype=dtype, device=device)
        self.model = model_obj
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self.seed = seed
        self.sampling = SamplingOptions(temperature=temperature, top_p=top_p)
        self.engine = GenerationEngine(self.model, self.tokenizer, cache_bytes=cache_bytes)
        self._seen: Counter[int] = Counter()
        self.name = f"local:{self.model_name}"
        self.batch_sizes: list[int] = []
        """Size of every engine call so far (for tests and tuning)."""
        self._queue: list[_Request] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generate_lock = threading.Lock()

    def sampling_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_new_tokens,
            "seed": self.seed,
        }

    def encode(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of the chat through the tokenizer's chat template, ready for the reply."""
        encoded = self.tokenizer.apply_chat_template(
            chat_messages_for_template(messages), add_generation_prompt=True, tokenize=True
        )
        if isinstance(encoded, Mapping) or hasattr(encoded, "input_ids"):
            encoded = encoded["input_ids"]
        return list(encoded)

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._start(loop)
        assert self._wakeup is not None
        future: asyncio.Future[PolicyReply] = loop.create_future()
        self._queue.append(_Request(self.encode(messages), future))
        self._wakeup.set()
        return await future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue = [r for r in self._queue if not r.future.done()]
        self._wakeup = asyncio.Event()
        self._worker = loop.create_task(self._batch_loop(), name="local-policy-batcher")

    async def _batch_loop(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._queue:
                continue
            if len(self._queue) < self.max_batch_size and self.batch_wait_s > 0:
                await asyncio.sleep(self.batch_wait_s)
            batch = self._queue[: self.max_batch_size]
            del self._queue[: len(batch)]
            if self._queue:
                self._wakeup.set()
            batch = [r for r in batch if not r.future.cancelled()]
            if not batch:
                continue
            self.batch_sizes.append(len(batch))
            try:
                replies = await asyncio.to_thread(self._generate, [r.prompt_ids for r in batch])
            except Exception as error:
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            for request, reply in zip(batch, replies, strict=True):
                if not request.future.done():
                    request.future.set_result(reply)

    def _generate(self, prompts: list[list[int]]) -> list[PolicyReply]:
        requests = []
        for ids in prompts:
            key = sampling_seed(0, ids)
            occurrence = self._seen[key]
            self._seen[key] += 1
            requests.append(GenerationRequest(ids, seed=sampling_seed(self.seed, ids, occurrence)))
        with self._generate_lock:
            turns = self.engine.generate(
                requests, max_new_tokens=self.max_new_tokens, sampling=self.sampling
            )
        return [
            PolicyReply(
                text=self.tokenizer.decode(turn.ids, skip_special_tokens=True).strip(),
                prompt_tokens=len(ids),
                completion_tokens=len(turn.ids),
            )
            for ids, turn in zip(prompts, turns, strict=True)
        ]

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

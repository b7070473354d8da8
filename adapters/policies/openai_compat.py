"""A chat policy on any OpenAI-compatible chat-completions endpoint (``openai.AsyncOpenAI``).

Works with the OpenAI API, vLLM, llama.cpp's server, SGLang, Ollama and the like. Requests run
concurrently up to a bound; rate limits (429), server errors (5xx), timeouts and dropped
connections are retried with exponential backoff and full jitter; other client errors (400,
401, 404, ...) fail at once, since repeating them cannot help.

Tools: when the env offers tools (``info["tools"]`` at reset, OpenAI format) and
``native_tools`` is on, they are sent as ``tools=`` and the model's ``tool_calls`` are written
into the env's text protocol (``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``). The
assistant message keeps its ``tool_calls``, and the env's tool observation that follows becomes
a ``tool`` message answering those calls by ``tool_call_id``. With ``native_tools`` off (servers
without tool calling) the model reads the env's own text protocol from the system prompt and
tool observations are sent as user messages.

>>> policy = OpenAICompatiblePolicy(model="gpt-4o-mini", base_url="http://127.0.0.1:8080/v1",
...                                 api_key="local")
>>> policy.name
'openai:gpt-4o-mini'
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai

from adapters.policies.base import PolicyReply
from adapters.records import Message

log = logging.getLogger(__name__)

DEFAULT_API_KEY_VAR = "OPENAI_API_KEY"
LOCAL_DUMMY_KEY = "local-server-needs-no-key"
"""Sent when the key variable is unset but a base URL is given: local servers ignore the key."""

RETRYABLE_STATUS = frozenset({408, 409, 429})
"""Plus every 5xx status."""


@dataclass(frozen=True)
class SamplingArgs:
    """Sampling arguments of a chat-completions request; ``None`` leaves the server default.

    ``extra_body`` goes into the request body as is (e.g. ``{"top_k": 20}`` for vLLM or
    ``{"chat_template_kwargs": {"enable_thinking": False}}``).
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)

    def request_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for name in ("temperature", "top_p", "max_tokens", "seed"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        if self.stop:
            kwargs["stop"] = list(self.stop)
        if self.extra_body:
            kwargs["extra_body"] = dict(self.extra_body)
        return kwargs

    def as_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "stop": list(self.stop) if self.stop else None,
            "extra_body": dict(self.extra_body),
        }


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt ``n`` (0-based) sleeps a uniform time in
    ``[0, min(max_delay, initial_delay * 2**n)]``; a server's ``Retry-After`` is honoured up to
    ``max_delay``."""

    max_retries: int = 6
    initial_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay)
        return rng.uniform(0.0, min(self.max_delay, self.initial_delay * 2**attempt))


def is_retryable(error: BaseException) -> bool:
    """Rate limits, server errors, timeouts and dropped connections are worth another try."""
    if isinstance(error, (openai.APIConnectionError, openai.APITimeoutError)):
        return True  # APITimeoutError subclasses APIConnectionError; named for clarity
    if isinstance(error, openai.APIStatusError):
        return error.status_code in RETRYABLE_STATUS or error.status_code >= 500
    return False


def _retry_after(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    for header, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            return float(value) * scale
        except ValueError:
            return None
    return None


def resolve_api_key(api_key_var: str = DEFAULT_API_KEY_VAR, *, base_url: str | None = None) -> str:
    """The key from ``$api_key_var``; a dummy one for a custom base URL (local servers).

    Raises:
        ValueError: the variable is unset and no base URL was given (the OpenAI API needs a key).
    """
    key = os.environ.get(api_key_var)
    if key:
        return key
    if base_url:
        return LOCAL_DUMMY_KEY
    raise ValueError(
        f"no API key: set ${api_key_var} (or pass --api-key-var NAME), or give --base-url "
        "for a local server"
    )


def tool_call_text(name: str, arguments: str | Mapping[str, Any] | None) -> str:
    """One native tool call in the env's text protocol.

    Arguments that are not a JSON object are written raw, so the env sees (and penalises)
    exactly what the model produced.

    >>> tool_call_text("add", '{"a": 1, "b": 2}')
    '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>'
    >>> tool_call_text("add", '{"a": 1,')
    '<tool_call>{"name": "add", "arguments": {"a": 1,}</tool_call>'
    """
    if isinstance(arguments, Mapping):
        parsed: Any = dict(arguments)
    else:
        raw = arguments or "{}"
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            return f'<tool_call>{{"name": {json.dumps(name)}, "arguments": {raw}}}</tool_call>'
        if not isinstance(parsed, dict):
            return f'<tool_call>{{"name": {json.dumps(name)}, "arguments": {raw}}}</tool_call>'
    payload = json.dumps({"name": name, "arguments": parsed}, ensure_ascii=False)
    return f"<tool_call>{payload}</tool_call>"


def request_messages(messages: Sequence[Message], *, native_tools: bool) -> list[Message]:
    """The chat as the endpoint must see it.

    With native tools, each ``tool`` message answers the ``tool_calls`` of the assistant
    message before it: the first call gets the env's observation, any further calls of the
    same turn a pointer to it (the env answers all calls of a turn in one observation, while the
    API wants one ``tool`` message per call id). A ``tool`` observation that follows a reply
    without native calls (the model wrote ``<tool_call>`` as text), and every tool observation
    without native tools, is sent as a user message.
    """
    out: list[Message] = []
    pending_ids: list[str] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant":
            calls = message.get("tool_calls") or []
            pending_ids = [call["id"] for call in calls] if native_tools else []
            if native_tools or not calls:
                out.append(dict(message))
            else:
                out.append({"role": "assistant", "content": message.get("content") or ""})
            continue
        if role == "tool" and "tool_call_id" not in message:
            if pending_ids:
                first, *rest = pending_ids
                out.append({"role": "tool", "tool_call_id": first, "content": message["content"]})
                out.extend(
                    {
                        "role": "tool",
                        "tool_call_id": call_id,
                        "content": f"(the results of all calls are in the reply to {first})",
                    }
                    for call_id in rest
                )
                pending_ids = []
            else:
                out.append({"role": "user", "content": message.get("content", "")})
            continue
        pending_ids = []
        out.append(dict(message))
    return out


class OpenAICompatiblePolicy:
    """Replies through ``client.chat.completions.create`` of an ``openai.AsyncOpenAI`` client.

    Args:
        model: the model name the server knows.
        base_url: the endpoint (``None``: the OpenAI API).
        api_key: the key; ``None`` reads ``$api_key_var`` (see :func:`resolve_api_key`).
        api_key_var: the environment variable holding the key.
        sampling: sampling arguments for every request.
        max_concurrency: requests in flight at once (a semaphore shared by all episodes).
        timeout: seconds per request attempt.
        retry: backoff for retryable errors; the client's own retries are turned off so that
            this loop is the only one.
        native_tools: pass env tools as ``tools=`` and map ``tool_calls`` to the env's text
            protocol; off for servers without tool calling.
        client: an ``AsyncOpenAI``-like client to use instead of building one (tests).
        seed: seeds the backoff jitter.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_var: str = DEFAULT_API_KEY_VAR,
        sampling: SamplingArgs | None = None,
        max_concurrency: int = 32,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        native_tools: bool = True,
        client: Any | None = None,
        seed: int = 0,
    ):
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.model = model
        self.base_url = base_url
        self.sampling = sampling or SamplingArgs()
        self.retry = retry or RetryPolicy()
        self.native_tools = native_tools
        self.timeout = timeout
        self.name = f"openai:{model}"
        self.max_concurrency = max_concurrency
        self._semaphore: asyncio.Semaphore | None = None
        self._rng = random.Random(seed)
        self.retries = 0
        """Retries made so far (all requests)."""
        if client is None:
            client = openai.AsyncOpenAI(
                base_url=base_url,
                api_key=api_key or resolve_api_key(api_key_var, base_url=base_url),
                timeout=timeout,
                max_retries=0,
            )
        self.client = client

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        use_tools = bool(tools) and self.native_tools
        kwargs = self.sampling.request_kwargs()
        if use_tools:
            kwargs["tools"] = [dict(tool) for tool in tools or ()]
        response = await self._create(
            messages=request_messages(messages, native_tools=use_tools), **kwargs
        )
        return self._parse(response)

    async def _create(self, **kwargs: Any) -> Any:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        attempt = 0
        while True:
            try:
                async with self._semaphore:
                    return await self.client.chat.completions.create(model=self.model, **kwargs)
            except Exception as error:
                if not is_retryable(error) or attempt >= self.retry.max_retries:
                    raise
                delay = self.retry.delay(attempt, self._rng, _retry_after(error))
                log.warning(
                    "%s: %s, retry %d/%d in %.2fs",
                    self.name,
                    _describe(error),
                    attempt + 1,
                    self.retry.max_retries,
                    delay,
                )
                self.retries += 1
                attempt += 1
                await asyncio.sleep(delay)

    def _parse(self, response: Any) -> PolicyReply:
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        choices = getattr(response, "choices", None) or []
        if not choices:
            log.warning("%s: a response without choices counts as an empty reply", self.name)
            return PolicyReply(
                text="", prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
        choice = choices[0]
        message = getattr(choice, "message", None)
        content = getattr(message, "content", None) or ""
        if not isinstance(content, str):
            content = str(content)
        calls = list(getattr(message, "tool_calls", None) or [])
        extra = {"finish_reason": getattr(choice, "finish_reason", None)}
        if not calls:
            return PolicyReply(
                text=content,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                extra=extra,
            )
        native = []
        texts = [content] if content.strip() else []
        for index, call in enumerate(calls):
            function = getattr(call, "function", None)
            name = getattr(function, "name", None) or ""
            arguments = getattr(function, "arguments", None) or ""
            call_id = getattr(call, "id", None) or f"call_{index}"
            native.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            )
            texts.append(tool_call_text(name, arguments))
        return PolicyReply(
            text="\n".join(texts),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            message={"role": "assistant", "content": content or None, "tool_calls": native},
            extra=extra,
        )

    async def aclose(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result


def _describe(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    return f"{type(error).__name__}" + (f" ({status})" if status else "")

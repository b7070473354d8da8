"""A chat policy on any OpenAI-compatible chat-completions endpoint (``openai.AsyncOpenAI``).

Works with the OpenAI API, vLLM, llama.cpp's server, SGLang, Ollama and the like. Requests run
concurrently up to a bound; rate limits (429), server errors (5xx), timeouts and dropped
connections are retried with exponential backoff and full jitter; other client errors (400,
401, 404, ...) fail at once, since repeating them cannot help.

Every attempt has a whole-request deadline (``timeout``), so a server that trickles bytes
cannot hold a request open. A response that is not a chat completion (an HTML page from a
wrong ``base_url``, a 200 with an ``{"error": ...}`` body, no choices, a null choice) is an
:class:`EndpointResponseError`, never an empty model reply: an error body or a missing
choice is retried like a server error, anything else fails at once. Malformed ``usage``
counts are dropped. The policy may serve several event loops in turn (``evaluate_sync``
twice): it builds a fresh client and semaphore for each loop.

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
from adapters.policies.defaults import (
    DEFAULT_API_KEY_VAR,
    MAX_CONCURRENCY,
    MAX_RETRIES,
    REQUEST_TIMEOUT_S,
)
from adapters.records import Message

log = logging.getLogger(__name__)

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

    max_retries: int = MAX_RETRIES
    initial_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay)
        return rng.uniform(0.0, min(self.max_delay, self.initial_delay * 2**attempt))


class EndpointResponseError(Exception):
    """The endpoint answered, but not with a chat completion: a fault, not a model reply.

    Attributes:
        retryable: another attempt may help (the server speaks the API but sent an error body
            or no choice), unlike a reply that is not a chat completion at all.
    """

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class RequestDeadlineError(TimeoutError):
    """No complete response arrived within the whole-request deadline."""


def is_retryable(error: BaseException) -> bool:
    """Rate limits, server errors, timeouts and dropped connections are worth another try."""
    if isinstance(error, EndpointResponseError):
        return error.retryable
    if isinstance(error, RequestDeadlineError):
        return True
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
        timeout: seconds per request attempt, for the whole response (not per byte).
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
        max_concurrency: int = MAX_CONCURRENCY,
        timeout: float = REQUEST_TIMEOUT_S,
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rng = random.Random(seed)
        self.retries = 0
        """Retries made so far (all requests)."""
        self._owns_client = client is None
        self._client_closed = False
        if client is None:
            api_key = api_key or resolve_api_key(api_key_var, base_url=base_url)
            client = self._new_client(api_key)
        self._api_key = api_key
        self.client = client

    def _new_client(self, api_key: str | None) -> Any:
        return openai.AsyncOpenAI(
            base_url=self.base_url, api_key=api_key, timeout=self.timeout, max_retries=0
        )

    def _bind_to_running_loop(self) -> asyncio.Semaphore:
        """The semaphore of the running loop; a client of our own is rebuilt for a new loop
        (its pooled connections belong to the loop that made them)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._semaphore is None:
            if self._owns_client and (self._loop is not None or self._client_closed):
                self.client = self._new_client(self._api_key)
                self._client_closed = False
            self._loop = loop
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._semaphore

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
        semaphore = self._bind_to_running_loop()
        attempt = 0
        while True:
            try:
                async with semaphore:
                    return _checked_completion(await self._request(**kwargs))
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

    async def _request(self, **kwargs: Any) -> Any:
        try:
            return await asyncio.wait_for(
                self.client.chat.completions.create(model=self.model, **kwargs), self.timeout
            )
        except asyncio.TimeoutError:
            raise RequestDeadlineError(
                f"no complete response within {self.timeout:g} s (--timeout)"
            ) from None

    def _parse(self, response: Any) -> PolicyReply:
        usage = getattr(response, "usage", None)
        prompt_tokens = _token_count(getattr(usage, "prompt_tokens", None))
        completion_tokens = _token_count(getattr(usage, "completion_tokens", None))
        choice = response.choices[0]
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
        """Close the client's connections (only a client of this loop's can be closed cleanly:
        one used on an earlier, finished loop is dropped instead)."""
        used_elsewhere = self._loop is not None and self._loop is not asyncio.get_running_loop()
        close = getattr(self.client, "close", None)
        if close is not None and not used_elsewhere:
            result = close()
            if asyncio.iscoroutine(result):
                await result
        self._loop = None
        self._client_closed = True


def _checked_completion(response: Any) -> Any:
    """``response`` if it is a chat completion with a first choice holding a message.

    Raises:
        EndpointResponseError: anything else (see the module notes).
    """
    if response is None or isinstance(response, (str, bytes, list, int, float)):
        excerpt = " ".join(str(response).split())[:80]
        raise EndpointResponseError(
            f"the endpoint did not answer with a chat completion (got {excerpt!r}); check "
            "--base-url (it usually ends in /v1) and --model",
            retryable=False,
        )
    error = getattr(response, "error", None)
    if error:
        raise EndpointResponseError(
            f"the endpoint answered with an error body: {str(error)[:200]}", retryable=True
        )
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise EndpointResponseError("the response holds no choices", retryable=True)
    if choices[0] is None or getattr(choices[0], "message", None) is None:
        raise EndpointResponseError("the response's first choice has no message", retryable=True)
    return response


def _token_count(value: Any) -> int | None:
    """A usage count as an int; anything else a server may send (text, null, -1) is unknown."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _describe(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    return f"{type(error).__name__}" + (f" ({status})" if status else "")

"""OpenAICompatiblePolicy against a mock HTTP transport: no network, real ``openai`` client."""

from __future__ import annotations

import asyncio
import http.server
import json
import random
import threading

import openai
import openai._base_client as openai_base
import pytest

from adapters.policies.openai_compat import (
    LOCAL_DUMMY_KEY,
    EndpointResponseError,
    OpenAICompatiblePolicy,
    RequestDeadlineError,
    RetryPolicy,
    SamplingArgs,
    request_messages,
    resolve_api_key,
    tool_call_text,
)

# openai 1.x and 2.x use httpx; 3.x uses httpx2. Take whichever the installed client uses.
httpx = getattr(openai_base, "httpx2", None) or openai_base.httpx

FAST_RETRY = RetryPolicy(max_retries=4, initial_delay=0.001, max_delay=0.01)
CHAT = [{"role": "system", "content": "Play."}, {"role": "user", "content": "Your move."}]


def completion(content=None, *, tool_calls=None, prompt_tokens=11, completion_tokens=5):
    message = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class Server:
    """Answers requests from a script of responses (status, body) or exceptions to raise."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests: list[dict] = []

    def __call__(self, request):
        self.requests.append(json.loads(request.content))
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        status, body = step[0], step[1]
        headers = step[2] if len(step) > 2 else {}
        return httpx.Response(status, json=body, headers=headers)


def make_policy(server, **kwargs) -> OpenAICompatiblePolicy:
    client = openai.AsyncOpenAI(
        base_url="http://test.invalid/v1",
        api_key="test",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(server)),
    )
    kwargs.setdefault("retry", FAST_RETRY)
    return OpenAICompatiblePolicy("m", client=client, **kwargs)


ERROR = {"error": {"message": "slow down", "type": "rate_limit"}}


async def test_reply_text_tokens_and_request_body():
    server = Server((200, completion("<move>4</move>")))
    sampling = SamplingArgs(temperature=0.3, top_p=0.9, max_tokens=32, extra_body={"top_k": 5})
    policy = make_policy(server, sampling=sampling)
    reply = await policy.reply(CHAT)
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ("<move>4</move>", 11, 5)
    body = server.requests[0]
    assert body["model"] == "m"
    assert body["messages"] == CHAT
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["top_k"]) == (
        0.3,
        0.9,
        32,
        5,
    )
    assert "tools" not in body


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_rate_limits_and_server_errors_are_retried(status):
    server = Server((status, ERROR), (status, ERROR), (200, completion("ok")))
    policy = make_policy(server)
    reply = await policy.reply(CHAT)
    assert reply.text == "ok"
    assert len(server.requests) == 3
    assert policy.retries == 2


async def test_dropped_connections_and_timeouts_are_retried():
    request = httpx.Request("POST", "http://test.invalid/v1/chat/completions")
    server = Server(
        httpx.ConnectError("connection refused", request=request),
        httpx.ReadTimeout("timed out", request=request),
        httpx.RemoteProtocolError("peer closed connection", request=request),
        (200, completion("ok")),
    )
    policy = make_policy(server)
    assert (await policy.reply(CHAT)).text == "ok"
    assert len(server.requests) == 4


async def test_retries_give_up_after_max_retries():
    server = Server((429, ERROR))
    policy = make_policy(server, retry=RetryPolicy(max_retries=2, initial_delay=0.001))
    with pytest.raises(openai.RateLimitError):
        await policy.reply(CHAT)
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_client_errors_are_not_retried(status):
    server = Server((status, {"error": {"message": "bad"}}), (200, completion("ok")))
    policy = make_policy(server)
    with pytest.raises(openai.APIStatusError):
        await policy.reply(CHAT)
    assert len(server.requests) == 1


def test_backoff_grows_with_jitter_and_honours_retry_after():
    retry = RetryPolicy(initial_delay=1.0, max_delay=8.0)
    rng = random.Random(0)
    delays = [[retry.delay(attempt, rng) for _ in range(200)] for attempt in range(5)]
    assert all(0 <= d <= min(8.0, 2**a) for a, ds in enumerate(delays) for d in ds)
    assert max(delays[3]) > 4.0 > max(delays[1])  # the ceiling doubles per attempt
    assert len({round(d, 6) for d in delays[2]}) > 100  # jitter spreads the retries
    assert retry.delay(0, rng, retry_after=3.0) == 3.0
    assert retry.delay(0, rng, retry_after=100.0) == 8.0


async def test_retry_after_header_is_used():
    server = Server((429, ERROR, {"retry-after-ms": "30"}), (200, completion("ok")))
    policy = make_policy(server, retry=RetryPolicy(max_retries=2, initial_delay=5.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await policy.reply(CHAT)).text == "ok"
    assert 0.025 <= loop.time() - started < 2.0  # 30 ms from the header, not up to 5 s


@pytest.mark.parametrize("content", [None, ""])
async def test_empty_or_missing_content_is_an_empty_reply(content):
    policy = make_policy(Server((200, completion(content))))
    reply = await policy.reply(CHAT)
    assert reply.text == ""
    assert reply.assistant_message() == {"role": "assistant", "content": ""}


class RawServer(Server):
    """Answers with raw ``httpx.Response`` objects (HTML pages, odd bodies)."""

    def __call__(self, request):
        self.requests.append(json.loads(request.content))
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return step() if callable(step) else step


def html_page():
    return httpx.Response(200, html="<html><body>Welcome to nginx!</body></html>")


@pytest.mark.parametrize(
    "body",
    [{"choices": []}, {"choices": [None]}, {"choices": [{"index": 0}]},
     {"error": {"message": "model overloaded"}}, {"unexpected": True}],
)  # fmt: skip
async def test_a_body_that_is_not_a_chat_completion_is_an_endpoint_error_and_retried(body):
    server = Server((200, body))
    policy = make_policy(server, retry=RetryPolicy(max_retries=2, initial_delay=0.001))
    with pytest.raises(EndpointResponseError):
        await policy.reply(CHAT)
    assert len(server.requests) == 3


async def test_a_server_recovering_from_an_error_body_gives_the_real_reply():
    server = Server((200, {"error": {"message": "busy"}}), (200, completion("<move>4</move>")))
    assert (await make_policy(server).reply(CHAT)).text == "<move>4</move>"


@pytest.mark.parametrize(
    "response",
    [html_page, lambda: httpx.Response(200, text="plain"), lambda: httpx.Response(200, json=[1])],
)
async def test_a_page_that_is_not_the_api_fails_at_once_naming_the_base_url(response):
    server = RawServer(response)
    with pytest.raises(EndpointResponseError, match="--base-url"):
        await make_policy(server).reply(CHAT)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "usage",
    [{"prompt_tokens": "12", "completion_tokens": "3"}, {"prompt_tokens": None},
     {"prompt_tokens": -1, "completion_tokens": True}, "lots"],
)  # fmt: skip
async def test_malformed_usage_counts_are_dropped_not_fatal(usage):
    body = completion("<move>4</move>")
    body["usage"] = usage
    reply = await make_policy(Server((200, body))).reply(CHAT)
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == (
        "<move>4</move>",
        None,
        None,
    )


async def test_a_byte_trickling_server_is_cut_off_by_the_whole_request_deadline():
    class Trickle(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b'{"choices": ['
            while True:
                await asyncio.sleep(0.05)
                yield b" "

    server = RawServer(lambda: httpx.Response(200, stream=Trickle()))
    policy = make_policy(server, timeout=0.3, retry=RetryPolicy(max_retries=1, initial_delay=0.001))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RequestDeadlineError, match=r"0\.3 s"):
        await policy.reply(CHAT)
    assert loop.time() - started < 3.0
    assert len(server.requests) == 2


@pytest.fixture
def local_server():
    """A real HTTP server on localhost answering every POST with one chat completion."""
    body = json.dumps(completion("ok")).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_one_policy_serves_several_event_loops_in_turn(local_server):
    policy = OpenAICompatiblePolicy("m", base_url=local_server, api_key="x", retry=FAST_RETRY)
    assert asyncio.run(policy.reply(CHAT)).text == "ok"
    assert asyncio.run(policy.reply(CHAT)).text == "ok"  # kept-alive connections of loop 1
    asyncio.run(policy.aclose())
    assert asyncio.run(policy.reply(CHAT)).text == "ok"


def tool_call(call_id, name, arguments):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two numbers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            },
        },
    }
]


async def test_native_tool_calls_map_to_the_text_protocol_and_back():
    server = Server(
        (
            200,
            completion("Let me add.", tool_calls=[tool_call("call_7", "add", '{"a": 2, "b": 3}')]),
        ),
        (200, completion("<answer>5</answer>")),
    )
    policy = make_policy(server)
    chat = list(CHAT)
    reply = await policy.reply(chat, tools=TOOLS)
    assert reply.text == (
        'Let me add.\n<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>'
    )
    assert server.requests[0]["tools"] == TOOLS
    message = reply.assistant_message()
    assert message["tool_calls"][0]["id"] == "call_7"
    chat += [message, {"role": "tool", "content": "5"}]
    await policy.reply(chat, tools=TOOLS)
    sent = server.requests[1]["messages"]
    assert sent[2]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 3}'}
    assert sent[3] == {"role": "tool", "tool_call_id": "call_7", "content": "5"}


async def test_several_tool_calls_in_one_turn_each_get_a_tool_message():
    calls = [tool_call("a1", "add", '{"a": 1, "b": 1}'), tool_call("a2", "add", '{"a": 2, "b": 2}')]
    server = Server((200, completion(None, tool_calls=calls)), (200, completion("done")))
    policy = make_policy(server)
    reply = await policy.reply(CHAT, tools=TOOLS)
    assert reply.text.count("<tool_call>") == 2
    chat = [*CHAT, reply.assistant_message(), {"role": "tool", "content": "2\n4"}]
    await policy.reply(chat, tools=TOOLS)
    tool_messages = [m for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["a1", "a2"]
    assert tool_messages[0]["content"] == "2\n4"


async def test_malformed_tool_arguments_reach_the_env_verbatim():
    server = Server((200, completion(None, tool_calls=[tool_call("c", "add", '{"a": 1,')])))
    reply = await make_policy(server).reply(CHAT, tools=TOOLS)
    assert reply.text == '<tool_call>{"name": "add", "arguments": {"a": 1,}</tool_call>'


async def test_text_protocol_fallback_sends_no_tools_and_tool_observations_as_user():
    server = Server((200, completion('<tool_call>{"name": "add"}</tool_call>')))
    policy = make_policy(server, native_tools=False)
    chat = [*CHAT, {"role": "assistant", "content": "x"}, {"role": "tool", "content": "7"}]
    reply = await policy.reply(chat, tools=TOOLS)
    assert reply.text == '<tool_call>{"name": "add"}</tool_call>'
    assert "tools" not in server.requests[0]
    assert server.requests[0]["messages"][-1] == {"role": "user", "content": "7"}


def test_request_messages_without_native_tools_flattens_tool_calls():
    assistant = {"role": "assistant", "content": None, "tool_calls": [tool_call("c", "add", "{}")]}
    out = request_messages([assistant, {"role": "tool", "content": "r"}], native_tools=False)
    assert out == [{"role": "assistant", "content": ""}, {"role": "user", "content": "r"}]


def test_tool_call_text_round_trips_json():
    text = tool_call_text("add", '{"a": "ü"}')
    payload = json.loads(text.removeprefix("<tool_call>").removesuffix("</tool_call>"))
    assert payload == {"name": "add", "arguments": {"a": "ü"}}


async def test_concurrency_is_bounded():
    in_flight = peak = 0

    async def handler(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json=completion("ok"))

    client = openai.AsyncOpenAI(
        base_url="http://test.invalid/v1",
        api_key="test",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    policy = OpenAICompatiblePolicy("m", client=client, max_concurrency=3)
    replies = await asyncio.gather(*(policy.reply(CHAT) for _ in range(12)))
    assert [r.text for r in replies] == ["ok"] * 12
    assert peak == 3


def test_api_key_from_variable_or_dummy_for_local_servers(monkeypatch):
    monkeypatch.setenv("MY_KEY", "secret")
    assert resolve_api_key("MY_KEY") == "secret"
    monkeypatch.delenv("MY_KEY")
    assert resolve_api_key("MY_KEY", base_url="http://127.0.0.1:8080/v1") == LOCAL_DUMMY_KEY
    with pytest.raises(ValueError, match="MY_KEY"):
        resolve_api_key("MY_KEY")

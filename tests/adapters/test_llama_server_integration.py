"""``llm-gym eval`` against a real OpenAI-compatible server: llama-cpp-python serving the GGUF.

Skipped only where ``llama_cpp`` is missing *and* ``CI`` is unset; CI installs the ``server``
extra, so there a missing package is a failure, not a skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from adapters.records import read_records

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None

if not HAVE_LLAMA and not os.environ.get("CI"):
    pytest.skip("llama-cpp-python[server] is not installed", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    assert HAVE_LLAMA, "CI must install llama-cpp-python[server] (the 'server' extra)"
    from adapters.models import embedded_gguf_path

    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "adapters.llama_server",
                "--model",
                str(embedded_gguf_path()),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--chat_format",
                "chatml",
                "--n_ctx",
                "4096",
            ],
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"llama.cpp server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    yield url
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def test_eval_through_the_openai_client_against_llama_cpp(server, tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "adapters.cli",
        "eval",
        "LLMTicTacToe-v0",
        "--base-url",
        server,
        "--model",
        "smollm2",
        "--env-arg",
        "max_turns=2",
        "--num-examples",
        "2",
        "--max-tokens",
        "12",
        "--temperature",
        "0",
        "--concurrency",
        "2",
        "--output",
        str(out),
        "--no-progress",
    ]
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "total reward" in result.stdout
    records = list(read_records(out / "results.jsonl"))
    assert sorted(r.key for r in records) == [(0, 0), (1, 0)]
    for record in records:
        assert record.error is None
        assert 1 <= len(record.turns) <= 2
        assert record.outcome in {"win", "draw", "loss", "truncated"}
        assert record.prompt_tokens > 0
        assert 0 < record.completion_tokens <= 12 * len(record.turns)
        assert record.messages[2]["role"] == "assistant"
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["policy"]["kind"] == "openai" and meta["policy"]["base_url"] == server
    assert meta["policy"]["sampling"]["max_tokens"] == 12

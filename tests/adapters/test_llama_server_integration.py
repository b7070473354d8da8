"""``llm-gym eval`` against a real OpenAI-compatible server: llama-cpp-python serving the GGUF.

Skipped only where ``llama_cpp`` is missing *and* ``CI`` is unset; CI installs the ``server``
extra, so there a missing package is a failure, not a skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.records import read_records

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None

if not HAVE_LLAMA and not os.environ.get("CI"):
    pytest.skip("llama-cpp-python[server] is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    assert HAVE_LLAMA, "CI must install llama-cpp-python[server] (the 'server' extra)"
    from adapters.llama_server import serve_embedded_model

    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "w") as handle:
        try:
            with serve_embedded_model(log=handle) as url:
                yield url
        except RuntimeError as error:
            pytest.fail(f"{error}:\n{log.read_text()[-3000:]}")


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

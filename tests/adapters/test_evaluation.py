"""Evaluation runs: results files, metadata, resume after a kill, failed rows, the eval CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.evaluation import (
    ERRORS_FILE,
    RESULTS_FILE,
    EvalConfig,
    EvalSetting,
    OutputExistsError,
    ResumeMismatchError,
    evaluate_sync,
    parse_env_arg,
)
from adapters.policies.factory import PolicySpec
from adapters.policies.scripted import ScriptedChatPolicy
from adapters.records import read_records

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def config(**overrides) -> EvalConfig:
    values = {
        "env_id": "LLMTicTacToe-v0",
        "policy": PolicySpec(model="scripted:random"),
        "num_examples": 6,
        "rollouts_per_example": 2,
        "concurrency": 3,
    }
    values.update(overrides)
    return EvalConfig(**values)


def rows(path: Path) -> list[tuple]:
    return [
        (r.setting, r.seed, r.rollout, r.outcome, r.total_reward)
        for r in read_records(path / RESULTS_FILE)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max_random_move_prob=0", ("max_random_move_prob", 0)),
        ("p=0.25", ("p", 0.25)),
        ("model_plays=X", ("model_plays", "X")),
        ("require_think=True", ("require_think", True)),
        ("require_think=false", ("require_think", False)),
        ("sizes=[1, 2]", ("sizes", [1, 2])),
        ("name='a b'", ("name", "a b")),
        ("text=a=b", ("text", "a=b")),
    ],
)
def test_parse_env_arg(text, expected):
    assert parse_env_arg(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=3", "bad key=1"])
def test_parse_env_arg_rejects_non_pairs(text):
    with pytest.raises(ValueError):
        parse_env_arg(text)


def test_run_writes_every_row_and_metadata(tmp_path):
    cfg = config(settings=[EvalSetting("random", {"min_random_move_prob": 1.0})])
    policy = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "random")
    result = evaluate_sync(cfg, policy, output=tmp_path, command=["llm-gym", "eval", "x"])
    keys = [(s, seed, r) for s, seed, r, *_ in rows(tmp_path)]
    assert sorted(keys) == sorted(j.run_key for j in cfg.jobs())
    assert len(keys) == len(set(keys)) == 12
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["command"] == "llm-gym eval x"
    assert meta["settings"] == [{"label": "random", "env_kwargs": {"min_random_move_prob": 1.0}}]
    assert meta["policy"] == {"kind": "scripted", "model": "scripted:random"}
    assert "gymnasium" in meta["versions"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["settings"]["random"]["episodes"] == 12
    assert result.summaries["random"].episodes == 12


def test_existing_results_need_resume_or_overwrite(tmp_path):
    policy = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "random")
    evaluate_sync(config(), policy, output=tmp_path)
    with pytest.raises(OutputExistsError):
        evaluate_sync(config(), policy, output=tmp_path)
    evaluate_sync(config(), policy, output=tmp_path, overwrite=True)
    assert len(rows(tmp_path)) == 12


def test_resume_refuses_a_different_run(tmp_path):
    policy = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "random")
    evaluate_sync(config(), policy, output=tmp_path)
    with pytest.raises(ResumeMismatchError, match="num_examples: saved 6, requested 7"):
        evaluate_sync(config(num_examples=7), policy, output=tmp_path, resume=True)
    with pytest.raises(ResumeMismatchError, match="policy"):
        evaluate_sync(
            config(policy=PolicySpec(model="scripted:optimal")),
            policy,
            output=tmp_path,
            resume=True,
        )


class FlakyPolicy:
    """Fails every request of the given seeds; plays randomly otherwise."""

    name = "scripted:random"

    def __init__(self, failing_seeds):
        self.failing = set(failing_seeds)
        self.inner = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "random")

    async def reply(self, messages, *, tools=None, info=None):
        if (info or {}).get("_eval_seed") in self.failing:
            raise TimeoutError("gave up after retries")
        return await self.inner.reply(messages, info=info)


def test_failed_rows_are_recorded_and_retried_on_resume(tmp_path, monkeypatch):
    # tag each env's info with its eval seed so the fake policy knows which episode it plays
    import adapters.rollout as rollout

    original = rollout.run_episode

    async def tagged(env_id, policy, *, seed, **kwargs):
        class Tagging:
            name = policy.name

            async def reply(self, messages, *, tools=None, info=None):
                return await policy.reply(
                    messages, tools=tools, info={**(info or {}), "_eval_seed": seed}
                )

        return await original(env_id, Tagging(), seed=seed, **kwargs)

    monkeypatch.setattr(rollout, "run_episode", tagged)
    cfg = config()
    first = evaluate_sync(cfg, FlakyPolicy({1, 4}), output=tmp_path)
    assert len(first.failed) == 4
    assert {r.seed for r in first.failed} == {1, 4}
    assert all(r.error == "TimeoutError: gave up after retries" for r in first.failed)
    assert first.summaries[None].errors == 0 and first.summaries[None].episodes == 8

    second = evaluate_sync(cfg, FlakyPolicy(set()), output=tmp_path, resume=True)
    assert not second.failed
    keys = [(s, seed, r) for s, seed, r, *_ in rows(tmp_path)]
    assert len(keys) == len(set(keys)) == 12
    assert all(r.error is None for r in read_records(tmp_path / RESULTS_FILE))
    assert len(list(read_records(tmp_path / ERRORS_FILE))) == 4


KILLABLE_RUN = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from adapters.evaluation import EvalConfig, evaluate_sync
    from adapters.policies.factory import PolicySpec
    from adapters.policies.scripted import ScriptedChatPolicy

    class Slow:
        name = "scripted:random"
        def __init__(self):
            self.inner = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "random")
        async def reply(self, messages, *, tools=None, info=None):
            await asyncio.sleep(0.03)
            return await self.inner.reply(messages, info=info)

    config = EvalConfig("LLMTicTacToe-v0", PolicySpec(model="scripted:random"),
                        num_examples=10, rollouts_per_example=3, concurrency=2)
    evaluate_sync(config, Slow(), output=Path(sys.argv[1]))
    """
)


def test_a_killed_run_resumed_has_the_rows_of_an_uninterrupted_run(tmp_path):
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_RUN, str(killed)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    results = killed / RESULTS_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if results.exists() and len(results.read_text().splitlines()) >= 6:
            break
        if process.poll() is not None:
            pytest.fail("the run ended before it could be killed")
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = len(list(read_records(results)))
    assert 6 <= written < 30, "the kill must land mid-run"

    cfg = EvalConfig(
        "LLMTicTacToe-v0",
        PolicySpec(model="scripted:random"),
        num_examples=10,
        rollouts_per_example=3,
        concurrency=2,
    )
    policy = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "random")
    evaluate_sync(cfg, policy, output=killed, resume=True)
    evaluate_sync(cfg, policy, output=tmp_path / "whole")
    resumed, whole = rows(killed), rows(tmp_path / "whole")
    meta = json.loads((killed / "metadata.json").read_text())
    assert meta["resumes"][0]["rows_kept"] == written
    assert len(resumed) == len({r[:3] for r in resumed}) == 30
    assert sorted(resumed) == sorted(whole)


def test_eval_cli_with_settings_chart_and_resume(tmp_path):
    out = tmp_path / "run"
    args = [
        "eval",
        "LLMTicTacToe-v0",
        "-m",
        "scripted:optimal",
        "--opponent",
        "random",
        "--opponent",
        "optimal",
        "-n",
        "4",
        "-r",
        "2",
        "-o",
        str(out),
        "--chart",
        "--no-progress",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "outcome: draw" in result.output and "pass@2" in result.output
    assert (out / "outcomes.png").stat().st_size > 1000
    settings = {r.setting for r in read_records(out / RESULTS_FILE)}
    assert settings == {"random", "optimal"}
    optimal = [r for r in read_records(out / RESULTS_FILE) if r.setting == "optimal"]
    assert {r.outcome for r in optimal} == {"draw"}

    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert len(list(read_records(out / RESULTS_FILE))) == 16
    mismatch = runner.invoke(app, [*args, "-n", "5", "--resume"])
    assert mismatch.exit_code == 2
    assert "cannot resume" in mismatch.output


def test_eval_cli_rejects_bad_env_args(tmp_path):
    result = runner.invoke(
        app,
        [
            "eval",
            "LLMTicTacToe-v0",
            "-m",
            "scripted:random",
            "-a",
            "max_turns=0",
            "-o",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert "max_turns" in result.output
    unknown = runner.invoke(app, ["eval", "NoSuchEnv-v0", "-m", "scripted:random"])
    assert unknown.exit_code == 2


def test_eval_cli_records_failed_requests_and_exits_nonzero(tmp_path):
    # nothing listens on this port: every request fails after its (zero) retries
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = runner.invoke(
        app,
        [
            "eval",
            "LLMTicTacToe-v0",
            "-b",
            f"http://127.0.0.1:{port}/v1",
            "-m",
            "nothing",
            "-n",
            "2",
            "--max-retries",
            "0",
            "--timeout",
            "2",
            "-o",
            str(tmp_path),
            "--no-progress",
        ],
    )
    assert result.exit_code == 1
    failed = list(read_records(tmp_path / RESULTS_FILE))
    assert len(failed) == 2 and all("APIConnectionError" in r.error for r in failed)


def test_resume_sets_unreadable_lines_aside_and_reruns_their_rows(tmp_path):
    policy = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "random")
    evaluate_sync(config(), policy, output=tmp_path)
    results = tmp_path / RESULTS_FILE
    lines = results.read_bytes().splitlines(keepends=True)
    last = json.loads(lines[-1])
    last["messages"][0]["content"] = "é" * 50
    torn = json.dumps(last, ensure_ascii=False).encode()
    torn = torn[: torn.index("é".encode()) + 1]  # cut inside the two-byte character
    wrong_types = json.dumps({**last, "seed": [1], "messages": []}).encode()
    junk = [b"{}\n", b"null\n", b"42\n", b'"text"\n', wrong_types + b"\n", torn]
    results.write_bytes(b"".join(lines[:-1] + junk))

    resumed = evaluate_sync(config(), policy, output=tmp_path, resume=True)
    assert resumed.unreadable_lines == len(junk)
    keys = [(seed, rollout) for _, seed, rollout, *_ in rows(tmp_path)]
    assert len(keys) == len(set(keys)) == 12
    assert (tmp_path / "unreadable.jsonl").read_bytes().count(b"\n") == len(junk)
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["resumes"][-1]["unreadable_lines"] == len(junk)


def test_resume_and_overwrite_together_are_refused(tmp_path):
    policy = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "random")
    evaluate_sync(config(), policy, output=tmp_path)
    with pytest.raises(ValueError, match="choose one"):
        evaluate_sync(config(), policy, output=tmp_path, resume=True, overwrite=True)
    result = runner.invoke(
        app,
        ["eval", "LLMTicTacToe-v0", "-m", "scripted:random", "-o", str(tmp_path), "--resume",
         "--overwrite"],
    )  # fmt: skip
    assert result.exit_code == 2 and "choose one" in result.output
    assert len(rows(tmp_path)) == 12


def test_a_negative_seed_offset_is_refused_before_any_episode(tmp_path):
    with pytest.raises(ValueError, match="seed_offset must be >= 0"):
        config(seed_offset=-2)
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["eval", "LLMTicTacToe-v0", "-m", "scripted:random", "--seed-offset", "-2", "-o",
              str(out)],
    )  # fmt: skip
    assert result.exit_code == 2 and not (out / RESULTS_FILE).exists()


@pytest.mark.parametrize(
    ("env_id", "arg"),
    [("LLMToolUse-v0", "answer_tolerance=1e999"), ("LLMToolUse-v0", "tool_error_penalty=nan"),
     ("LLMTicTacToe-v0", "invalid_move_penalty=-1e999")],
)  # fmt: skip
def test_non_finite_env_arguments_are_refused_before_any_episode(tmp_path, env_id, arg):
    result = runner.invoke(
        app, ["eval", env_id, "-m", "scripted:random", "-a", arg, "-o", str(tmp_path)]
    )
    assert result.exit_code == 2 and "must be a number" in result.output
    assert not (tmp_path / RESULTS_FILE).exists()


@pytest.fixture
def html_server():
    """A localhost web server that answers every request with an HTML page (a wrong URL)."""
    import http.server
    import threading

    page = b"<html><body>It works!</body></html>"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_server_that_is_not_a_chat_api_is_a_failed_row_not_a_score(tmp_path, html_server):
    result = runner.invoke(
        app,
        ["eval", "LLMTicTacToe-v0", "-b", html_server, "-m", "m", "-n", "2", "--max-retries",
         "0", "-o", str(tmp_path), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "--resume" in result.output
    failed = list(read_records(tmp_path / RESULTS_FILE))
    assert len(failed) == 2 and all("EndpointResponseError" in r.error for r in failed)
    assert all("--base-url" in r.error for r in failed)

"""Matches between two chat policies on the two-player env, and the ``llm-gym match`` command."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import openai
import openai._base_client as openai_base
import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.match import MatchResult, ScriptedPlayer, play_match_sync
from adapters.policies.base import PolicyReply
from adapters.policies.openai_compat import OpenAICompatiblePolicy
from adapters.summary import summarize
from llm_gym.multiagent import AGENTS


class ChatRecorder:
    """A chat policy that plays the first legal cell and keeps every chat it was shown."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.chats: list[list[dict[str, Any]]] = []

    async def reply(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        self.chats.append([dict(m) for m in messages])
        legal = (info or {})["legal_moves"]
        return PolicyReply(text=f"<move>{legal[0]}</move>", completion_tokens=3)


def test_optimal_never_loses_and_sides_alternate() -> None:
    result = play_match_sync(ScriptedPlayer("optimal"), ScriptedPlayer("random"), games=60)
    assert result.head_to_head()["losses"] == 0
    assert len(result.records("A", "X")) == len(result.records("A", "O")) == 30
    assert [game.mark_of("A") for game in result.games[:4]] == ["X", "O", "X", "O"]
    assert summarize(result.records("B")).outcome_rates.get("win", 0.0) == 0.0


def test_two_optimal_players_always_draw() -> None:
    result = play_match_sync(ScriptedPlayer("optimal"), ScriptedPlayer("optimal", seed=9), games=30)
    assert result.head_to_head() == {"wins": 0, "draws": 30, "losses": 0, "truncated": 0}


def test_games_differ_with_the_seed_and_repeat_with_it() -> None:
    def boards(result: MatchResult) -> list[str]:
        return [game.records[AGENTS[0]].turns[-1].info["board"] for game in result.games]

    first = play_match_sync(ScriptedPlayer("random"), ScriptedPlayer("random", seed=1), games=20)
    again = play_match_sync(ScriptedPlayer("random"), ScriptedPlayer("random", seed=1), games=20)
    other = play_match_sync(
        ScriptedPlayer("random"), ScriptedPlayer("random", seed=1), games=20, seed=100
    )
    assert boards(first) == boards(again)
    assert len(set(boards(first))) > 10
    assert boards(first) != boards(other)


def test_records_hold_each_players_own_chat_and_sum_up() -> None:
    a, b = ChatRecorder("first-cell-a"), ChatRecorder("first-cell-b")
    result = play_match_sync(a, b, games=2, concurrency=1)
    game = result.games[0]
    x_record, o_record = game.records[AGENTS[0]], game.records[AGENTS[1]]
    assert x_record.policy == "first-cell-a" and o_record.policy == "first-cell-b"
    # both take the first free cell: X 0, 2, 4, 6 and O 1, 3, 5; X wins on the 2-4-6 diagonal
    assert (x_record.outcome, o_record.outcome) == ("win", "loss")
    assert [t.action for t in x_record.turns] == [f"<move>{c}</move>" for c in (0, 2, 4, 6)]
    assert [t.action for t in o_record.turns] == [f"<move>{c}</move>" for c in (1, 3, 5)]
    assert x_record.messages[0]["role"] == "system"
    assert [m["role"] for m in x_record.messages[1:]] == ["user", "assistant"] * 4
    assert o_record.messages[1]["content"].startswith(
        "A new game starts. Your opponent (X) played cell 0."
    )
    # the loser's last turn carries the result that reached it on the winner's move
    assert o_record.turns[-1].reward_components["win"] == 0.0
    for record in game.records.values():
        assert sum(t.reward for t in record.turns) == pytest.approx(record.total_reward)
        weights = record.reward_weights
        weighted = sum(weights[k] * v for k, v in record.reward_components.items())
        assert weighted == pytest.approx(record.total_reward)
    assert x_record.total_reward == pytest.approx(1.2)
    assert o_record.total_reward == pytest.approx(0.2)
    assert x_record.completion_tokens == 12
    # each policy saw only its own chats: user turns are its prompts, assistant turns its replies
    assert all(chat[-1]["content"].endswith("Reply with <move>N</move>.") for chat in a.chats)


httpx = getattr(openai_base, "httpx2", None) or openai_base.httpx


class FakeChatServer:
    """An OpenAI-compatible endpoint whose "model" plays the highest legal cell it is shown."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request):
        body = json.loads(request.content)
        self.requests.append(body)
        legal = re.search(r"Legal moves: ([0-9, ]+)\.", body["messages"][-1]["content"])
        cell = legal.group(1).split(", ")[-1] if legal else "0"
        message = {"role": "assistant", "content": f"<think>Last cell.</think><move>{cell}</move>"}
        return httpx.Response(
            200,
            json={
                "id": "c",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57},
            },
        )


def endpoint_policy(name: str, server: FakeChatServer) -> OpenAICompatiblePolicy:
    client = openai.AsyncOpenAI(
        base_url="http://test.invalid/v1",
        api_key="test",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(server)),
    )
    return OpenAICompatiblePolicy(name, client=client)


def test_two_endpoint_models_play_each_other() -> None:
    server_a, server_b = FakeChatServer(), FakeChatServer()
    result = play_match_sync(
        endpoint_policy("model-a", server_a), endpoint_policy("model-b", server_b), games=4
    )
    assert result.names == {"A": "openai:model-a", "B": "openai:model-b"}
    # both play the highest free cell: X 8, 6, 4, 2 (the 2-4-6 diagonal) against O 7, 5, 3
    for game in result.games:
        x_record, o_record = game.records[AGENTS[0]], game.records[AGENTS[1]]
        assert [t.action for t in x_record.turns] == [
            f"<think>Last cell.</think><move>{c}</move>" for c in (8, 6, 4, 2)
        ]
        assert (x_record.outcome, o_record.outcome) == ("win", "loss")
        assert x_record.prompt_tokens == 200 and o_record.completion_tokens == 21
    assert result.head_to_head() == {"wins": 2, "draws": 0, "losses": 2, "truncated": 0}
    assert len(server_a.requests) == sum(len(g.record_of("A").turns) for g in result.games)
    # each model only ever saw its own chat: system prompt first, its own replies in between
    for body in server_a.requests + server_b.requests:
        roles = [m["role"] for m in body["messages"]]
        assert roles[0] == "system" and roles[1::2] == ["user"] * len(roles[1::2])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="games"):
        play_match_sync(ScriptedPlayer("random"), ScriptedPlayer("random"), games=0)
    with pytest.raises(ValueError, match="no scripted player 'grandmaster' for LLMTicTacToe-v0"):
        ScriptedPlayer("grandmaster")


def test_match_command(tmp_path) -> None:
    result = CliRunner().invoke(
        app,
        ["match", "scripted:optimal", "scripted:random", "-n", "40", "-o", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "A won" in result.output and "lost 0" in result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["games"] == 40 and summary["context"] == "full"
    assert summary["head_to_head_for_A"]["losses"] == 0
    assert set(summary["summaries"]["A"]) == {"all", "X", "O"}
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 80


def test_match_command_rejects_unknown_players() -> None:
    result = CliRunner().invoke(app, ["match", "scripted:optimal", "scripted:grandmaster"])
    assert result.exit_code == 2
    assert "no scripted player 'grandmaster'" in result.output

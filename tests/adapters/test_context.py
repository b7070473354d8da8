"""``--context last``: the model sees the system prompt and the env's latest turn; records, exact
evaluation keys and run metadata follow."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.cli.play import make_opponent
from adapters.context import (
    CONTEXTS,
    ContextPolicy,
    check_context,
    context_of,
    visible_messages,
    with_context,
)
from adapters.evaluation import METADATA_FILE, RESULTS_FILE, SUMMARY_FILE
from adapters.exact import MemoPolicy, decision_key, decision_prompts, walk_sync
from adapters.policies import ScriptedChatPolicy
from adapters.policies.base import PolicyReply
from adapters.policies.factory import PolicySpec, make_policy
from adapters.policies.recorded import RecordedChatPolicy
from adapters.records import read_records
from adapters.rollout import run_episode_sync
from llm_gym import describe
from llm_gym.envs.tictactoe import OPPONENT_SETTINGS

ENV_ID = "LLMTicTacToe-v0"
HISTORY_ENVS = ("LLMDoubleCheckMath-v0", "LLMToolUse-v0", "LLMReverseText-v0")
runner = CliRunner()

SYSTEM = {"role": "system", "content": "rules"}
EXTRA_SYSTEM = {"role": "system", "content": "more rules"}


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


# --- visible_messages ------------------------------------------------------------------------


def test_last_keeps_the_leading_system_messages_and_what_follows_the_last_reply():
    chat = [SYSTEM, EXTRA_SYSTEM, user("b1"), assistant("m1"), user("b2"), assistant("m2")]
    chat.append(user("b3"))
    assert visible_messages(chat, "last") == [SYSTEM, EXTRA_SYSTEM, user("b3")]
    assert visible_messages(chat, "full") == chat


def test_last_without_a_system_message_is_the_latest_turn_only():
    chat = [user("b1"), assistant("m1"), user("b2")]
    assert visible_messages(chat, "last") == [user("b2")]


def test_last_before_any_reply_is_the_whole_conversation():
    assert visible_messages([SYSTEM, user("b1")], "last") == [SYSTEM, user("b1")]
    assert visible_messages([], "last") == []


def test_tool_messages_after_the_last_reply_stay_visible():
    call = {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "sql"}}],
    }
    result = {"role": "tool", "tool_call_id": "c1", "content": "42"}
    chat = [SYSTEM, user("q"), assistant("thinking"), user("go on"), call, result, user("next")]
    assert visible_messages(chat, "last") == [SYSTEM, result, user("next")]


def test_a_system_message_after_the_start_is_not_kept_by_last():
    chat = [SYSTEM, user("b1"), assistant("m1"), {"role": "system", "content": "late"}]
    chat += [assistant("m2"), user("b2")]
    assert visible_messages(chat, "last") == [SYSTEM, user("b2")]


def test_visible_messages_is_idempotent_and_leaves_the_chat_alone():
    chat = [SYSTEM, user("b1"), assistant("m1"), user("b2")]
    before = json.dumps(chat)
    once = visible_messages(chat, "last")
    assert visible_messages(once, "last") == once
    assert json.dumps(chat) == before


def test_an_unknown_context_is_refused():
    assert CONTEXTS == ("full", "last")
    with pytest.raises(ValueError, match="context must be one of full, last"):
        visible_messages([SYSTEM], "recent")
    with pytest.raises(ValueError, match="context must be one of"):
        PolicySpec(model="scripted:optimal", context="recent")


# --- the env card ----------------------------------------------------------------------------


def test_only_tictactoe_declares_its_state_in_every_observation():
    assert describe(ENV_ID).card.state_in_observation is True
    for env_id in HISTORY_ENVS:
        assert describe(env_id).card.state_in_observation is False


@pytest.mark.parametrize("env_id", HISTORY_ENVS)
def test_last_on_an_env_that_needs_its_history_names_the_env_and_the_card_field(env_id):
    with pytest.raises(ValueError, match=rf"{env_id}.*state_in_observation"):
        check_context("last", env_id)
    assert check_context("full", env_id) == "full"


def test_the_card_is_checked_before_any_model_loads():
    spec = PolicySpec(model="/no/such/model/folder", context="last")
    with pytest.raises(ValueError, match=r"LLMToolUse-v0.*state_in_observation"):
        make_policy(spec, env_id="LLMToolUse-v0")


def test_the_cli_refuses_last_on_such_an_env_with_a_usage_error():
    for command in (
        ["eval", "LLMDoubleCheckMath-v0", "-m", "scripted:oracle", "-n", "1"],
        ["sft-data", "LLMToolUse-v0", "-o", "unused.jsonl", "--rows", "position"],
    ):
        result = runner.invoke(app, [*command, "--context", "last"], env={"COLUMNS": "200"})
        assert result.exit_code == 2, result.output
        assert command[1] in result.output and "state_in_observation" in result.output


def test_list_shows_which_envs_take_last():
    result = runner.invoke(app, ["list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if ENV_ID in line)
    assert "full, last" in line
    line = next(line for line in result.output.splitlines() if "LLMToolUse-v0" in line)
    assert "last" not in line


# --- the policy wrapper ----------------------------------------------------------------------


class Listener:
    """Plays tic-tac-toe optimally and keeps every chat it is asked."""

    name = "listener"

    def __init__(self):
        self.player = ScriptedChatPolicy.for_env(ENV_ID, "optimal")
        self.asked: list[list[dict]] = []

    async def reply(self, messages, *, tools=None, info=None) -> PolicyReply:
        self.asked.append([dict(m) for m in messages])
        return await self.player.reply(messages, tools=tools, info=info)


def test_the_wrapped_policy_sees_only_the_latest_turn_and_the_record_keeps_all():
    listener = Listener()
    policy = ContextPolicy(listener, "last")
    record = run_episode_sync(ENV_ID, policy, seed=3, env_kwargs=OPPONENT_SETTINGS["random"])
    assert len(listener.asked) == len(record.turns) >= 3
    system = record.messages[0]
    assert system["role"] == "system"
    for asked, prompt in zip(listener.asked, decision_prompts(record), strict=True):
        assert asked == [system, prompt[-1]]
    assert len(record.messages) == 1 + 2 * len(record.turns)
    assert [m["role"] for m in record.messages[1:3]] == ["user", "assistant"]
    assert record.policy == "listener"


def test_with_context_wraps_once_and_refuses_to_change_a_view():
    player = ScriptedChatPolicy.for_env(ENV_ID, "optimal")
    assert with_context(player, "full") is player
    wrapped = with_context(player, "last")
    assert isinstance(wrapped, ContextPolicy) and context_of(wrapped) == "last"
    assert with_context(wrapped, "last") is wrapped
    with pytest.raises(ValueError, match="already sees context 'last'"):
        with_context(wrapped, "full")
    built = make_policy(PolicySpec(model="scripted:optimal", context="last"), env_id=ENV_ID)
    assert context_of(built) == "last" and built.name == "scripted:optimal"


def test_the_play_command_shows_its_opponent_the_chosen_context():
    scripted = make_opponent(PolicySpec(model="scripted:optimal", context="last"), env_id=ENV_ID)
    default = make_opponent(PolicySpec(model="scripted:optimal"), env_id=ENV_ID)
    assert context_of(scripted) == "last" and context_of(default) == "full"
    command = ["play", ENV_ID, "--context", "sideways"]
    result = runner.invoke(app, command, input="q\n", env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "full" in result.output and "last" in result.output


# --- evaluation ------------------------------------------------------------------------------


def eval_cli(tmp_path, name: str, *extra: str) -> tuple[dict, dict, list]:
    out = tmp_path / name
    result = runner.invoke(app, ["eval", ENV_ID, "-m", "scripted:optimal", *extra, "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / SUMMARY_FILE).read_text())
    metadata = json.loads((out / METADATA_FILE).read_text())
    return summary, metadata, list(read_records(out / RESULTS_FILE))


def test_eval_cli_with_last_plays_records_whole_games_and_saves_the_context(tmp_path):
    summary, metadata, records = eval_cli(
        tmp_path, "last", "-n", "3", "--opponent", "random", "--context", "last"
    )
    assert metadata["context"] == "last"
    assert summary["rows"] == len(records) == 3
    assert all(len(r.messages) == 1 + 2 * len(r.turns) for r in records)
    assert any(len(r.turns) > 1 for r in records)


def test_resume_with_another_context_is_refused(tmp_path):
    out = tmp_path / "run"
    command = ["eval", ENV_ID, "-m", "scripted:optimal", "-n", "2", "-o", str(out)]
    assert runner.invoke(app, command).exit_code == 0
    result = runner.invoke(app, [*command, "--resume", "--context", "last"])
    assert result.exit_code == 2
    assert 'context: saved "full", requested "last"' in result.output
    metadata = json.loads((out / METADATA_FILE).read_text())
    del metadata["context"]  # a run from before the option: it showed the whole conversation
    (out / METADATA_FILE).write_text(json.dumps(metadata))
    assert runner.invoke(app, [*command, "--resume"]).exit_code == 0
    assert runner.invoke(app, [*command, "--resume", "--context", "last"]).exit_code == 2


def distinct(records, context) -> set[str]:
    return {decision_key(prompt, context) for game in records for prompt in decision_prompts(game)}


def test_exact_eval_under_last_asks_each_visible_conversation_once(tmp_path):
    arms = ("--opponent", "random", "--opponent", "optimal")
    full, _, full_games = eval_cli(tmp_path, "full", "--exact", *arms)
    last, metadata, last_games = eval_cli(tmp_path, "last", "--exact", *arms, "--context", "last")
    assert metadata["context"] == last["context"] == "last" and full["context"] == "full"
    for arm in ("random", "optimal"):
        assert last["settings"][arm]["outcome_rates"] == pytest.approx(
            full["settings"][arm]["outcome_rates"]
        )
        games = [g for g in last_games if g.setting == arm]
        assert last["settings"][arm]["decisions"] == len(distinct(games, "last"))
    assert len(last_games) == len(full_games)  # the records are the same whole games
    assert last["model_calls"] == len(distinct(last_games, "last"))
    assert full["model_calls"] == len(distinct(full_games, "full"))
    assert last["model_calls"] < full["model_calls"]


def test_compare_shows_the_context_of_each_run(tmp_path):
    eval_cli(tmp_path, "full", "-n", "1")
    eval_cli(tmp_path, "last", "-n", "1", "--context", "last")
    result = runner.invoke(
        app, ["compare", str(tmp_path / "full"), str(tmp_path / "last")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "context" in result.output and "last" in result.output


def test_match_under_last_records_whole_games(tmp_path):
    out = tmp_path / "match"
    command = ["match", "scripted:optimal", "scripted:random", "-n", "2", "-o", str(out)]
    result = runner.invoke(app, [*command, "--context", "last"])
    assert result.exit_code == 0, result.output
    records = list(read_records(out / RESULTS_FILE))
    assert len(records) == 4
    assert all(len(r.messages) == 1 + 2 * len(r.turns) for r in records)
    assert json.loads((out / "summary.json").read_text())["context"] == "last"


# --- recorded runs ---------------------------------------------------------------------------


def test_a_recorded_last_run_replays_in_its_own_context_only(tmp_path):
    _, _, games = eval_cli(tmp_path, "run", "--exact", "--opponent", "random", "--context", "last")
    run_dir = tmp_path / "run"
    recorded = make_policy(PolicySpec(model=f"recorded:{run_dir}", context="last"), env_id=ENV_ID)
    assert context_of(recorded) == "last" and isinstance(recorded, RecordedChatPolicy)
    memo = MemoPolicy(recorded)
    replayed = walk_sync(ENV_ID, memo, env_kwargs=OPPONENT_SETTINGS["random"])
    assert memo.calls == len(recorded) == len(distinct(games, "last"))
    assert {g.outcome for g in replayed} == {g.outcome for g in games}
    with pytest.raises(ValueError, match="recorded with context 'last', not 'full'"):
        make_policy(PolicySpec(model=f"recorded:{run_dir}"), env_id=ENV_ID)


def test_the_card_field_is_a_bool():
    from llm_gym import EnvCard

    assert EnvCard().state_in_observation is False
    with pytest.raises(ValueError, match="state_in_observation must be a bool"):
        EnvCard(state_in_observation="yes")

"""The one episode recorder behind the eval rollout and two-player matches."""

from __future__ import annotations

import pytest

from adapters.policies.base import PolicyReply
from adapters.recorder import EpisodeRecorder

RESET_INFO = {
    "system_prompt": "Play.",
    "reward_weights": {"win": 1.0, "format": 0.2},
    "tools": [{"type": "function"}],
    "role": "user",
}


def started() -> EpisodeRecorder:
    recorder = EpisodeRecorder("Game-v0", seed=4, rollout=1, policy="p", setting="hard")
    recorder.start(RESET_INFO)
    recorder.message("Your turn.")
    return recorder


def test_turns_keep_the_reply_the_reward_and_the_info_the_prompt_does_not_hold():
    recorder = started()
    recorder.reply(PolicyReply(text="<move>4</move>", prompt_tokens=10, completion_tokens=3), 0.5)
    info = {**RESET_INFO, "reward_components": {"format": 1.0}, "board": "....X....", "turn": 1}
    turn = recorder.step("Again.", 0.2, info)
    assert (turn.action, turn.reward, turn.latency_s) == ("<move>4</move>", 0.2, 0.5)
    assert (turn.prompt_tokens, turn.completion_tokens) == (10, 3)
    assert turn.info == {"board": "....X....", "turn": 1}
    assert turn.reward_components == {"format": 1.0}
    with pytest.raises(RuntimeError, match="reply"):
        recorder.step("Again.", 0.0, info)


def test_a_reward_between_turns_lands_on_the_last_turn_and_the_totals():
    recorder = started()
    recorder.reply("<move>0</move>")
    recorder.step("Wait.", 0.2, {"reward_components": {"win": 0.0, "format": 1.0}})
    recorder.credit(1.0, {"reward_components": {"win": 1.0}, "outcome": "win", "metrics": {"t": 1}})
    record = recorder.finish("You won.", terminated=True, truncated=False)
    assert record.turns[-1].reward == pytest.approx(1.2)
    assert record.turns[-1].reward_components == {"win": 1.0, "format": 1.0}
    assert record.total_reward == pytest.approx(1.2)
    assert record.reward_components == {"win": 1.0, "format": 1.0}
    assert (record.outcome, record.metrics) == ("win", {"t": 1})
    assert (record.seed, record.rollout, record.setting, record.policy) == (4, 1, "hard", "p")
    assert [m["role"] for m in record.messages] == ["system", "user", "assistant"]


def test_an_episode_truncated_without_an_outcome_is_truncated():
    recorder = started()
    recorder.reply("?")
    recorder.step("Time is up.", 0.0, {"reward_components": {}})
    record = recorder.finish("Time is up.", terminated=False, truncated=True)
    assert record.outcome == "truncated" and record.truncated
    ended = started().finish("", terminated=True, truncated=False)
    assert ended.outcome is None


def test_a_failed_episode_keeps_its_chat_but_no_result():
    recorder = started()
    recorder.reply("<move>1</move>")
    recorder.step("Your turn.", 0.0, {"reward_components": {}, "metrics": {"x": 1}})
    record = recorder.finish("Your turn.", terminated=False, truncated=False, error="Timeout: x")
    assert record.error == "Timeout: x"
    assert (record.outcome, record.metrics, record.final_observation) == (None, {}, "")
    assert len(record.messages) == 3

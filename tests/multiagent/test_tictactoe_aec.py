"""Two-player text tic-tac-toe: the PettingZoo API and the same task as LLMTicTacToe-v0."""

from __future__ import annotations

import gymnasium as gym
import pytest
from pettingzoo.test import api_test

import llm_gym  # noqa: F401
from llm_gym.games import tictactoe as ttt
from llm_gym.multiagent import AGENTS, TicTacToeAECEnv, tictactoe_aec
from llm_gym.policies import OptimalMovePolicy, RandomMovePolicy

PX, PO = AGENTS


def move(cell: int) -> str:
    return f"<move>{cell}</move>"


def play(env: TicTacToeAECEnv, replies: list[str]) -> None:
    for reply in replies:
        env.step(reply)


@pytest.mark.parametrize("factory", [tictactoe_aec.env, tictactoe_aec.raw_env])
def test_pettingzoo_api_test(factory) -> None:
    api_test(factory(), num_cycles=200)


def test_api_test_with_think_required_and_short_cap() -> None:
    api_test(tictactoe_aec.env(require_think=True, max_turns=5), num_cycles=50)


def test_spaces_are_text_prompt_dict_and_text_action() -> None:
    env = TicTacToeAECEnv()
    for agent in AGENTS:
        assert isinstance(env.observation_space(agent), gym.spaces.Dict)
        assert isinstance(env.observation_space(agent)["prompt"], gym.spaces.Text)
        assert isinstance(env.action_space(agent), gym.spaces.Text)
        assert env.observation_space(agent) is env.observation_space(agent)


# Table-driven games: (replies in order, outcome of X, outcome of O, total reward X, total O).
GAMES = [
    ([move(0), move(3), move(1), move(4), move(2)], "win", "loss", 1.2, 0.2),
    ([move(4), move(0), move(8), move(2), move(1), move(7), move(3), move(5), move(6)],
     "draw", "draw", 0.7, 0.7),
    ([move(0), move(4), move(1), move(2), move(3), move(6)], "loss", "win", 0.2, 1.2),
    # X replies badly once (penalty -0.1 and a lower format share), then wins
    (["no move", move(0), move(3), move(1), move(4), move(2)], "win", "loss",
     1.0 + 0.2 * 3 / 4 - 0.1, 0.2),
]  # fmt: skip


@pytest.mark.parametrize(("replies", "out_x", "out_o", "total_x", "total_o"), GAMES)
def test_outcomes_and_rewards(replies, out_x, out_o, total_x, total_o) -> None:
    env = tictactoe_aec.env()
    env.reset(seed=0)
    totals = dict.fromkeys(AGENTS, 0.0)
    components = {agent: dict.fromkeys(("win", "format", "invalid_move"), 0.0) for agent in AGENTS}
    for reply in replies:
        env.step(reply)
        for agent in AGENTS:
            totals[agent] += env.rewards[agent]
            for name, value in env.infos[agent].get("reward_components", {}).items():
                components[agent][name] += value
    assert env.unwrapped.outcome == {PX: out_x, PO: out_o}
    assert all(env.terminations.values()) and not any(env.truncations.values())
    for agent, expected in ((PX, total_x), (PO, total_o)):
        assert totals[agent] == pytest.approx(expected)
        weighted = sum(env.unwrapped.reward_weights[k] * v for k, v in components[agent].items())
        assert weighted == pytest.approx(expected)
        assert env.infos[agent]["outcome"] == env.unwrapped.outcome[agent]
    # PettingZoo's iteration hands the final rewards to each agent through last()
    seen = {}
    for agent in env.agent_iter():
        _, reward, termination, truncation, _ = env.last()
        assert termination and not truncation
        seen[agent] = reward
        env.step(None)
    assert set(seen) == set(AGENTS)
    assert env.agents == []


def test_invalid_reply_keeps_the_turn_and_explains() -> None:
    env = TicTacToeAECEnv()
    env.reset()
    env.step(move(4))
    assert env.agent_selection == PO
    env.step(move(4))
    assert env.agent_selection == PO
    assert env.infos[PO]["invalid_action"] is True
    assert env.rewards[PO] == pytest.approx(-0.1)
    prompt = env.observe(PO)["prompt"]
    assert prompt.startswith("Invalid reply: cell 4 is already taken by X.")
    assert "It is your turn" in prompt
    env.step("<move>four</move>")
    assert env.rewards[PO] == pytest.approx(0.0)  # penalty once per game; format share stays 0
    env.step(move(0))
    assert env.agent_selection == PX
    assert env.observe(PX)["prompt"].startswith(
        "You played cell 4. Your opponent (O) played cell 0."
    )


def test_turn_cap_truncates_both_and_names_the_player() -> None:
    env = TicTacToeAECEnv(max_turns=5)
    env.reset()
    env.step(move(0))
    for _ in range(5):
        env.step("pass")
    assert all(env.truncations.values()) and not any(env.terminations.values())
    assert env.unwrapped.outcome == {PX: "truncated", PO: "truncated"}
    assert env.infos[PO]["metrics"]["used_turn_cap"] == 1.0
    assert env.infos[PX]["metrics"]["used_turn_cap"] == 0.0
    assert "your opponent reached the limit" in env.observe(PX)["prompt"]
    assert "you reached the limit" in env.observe(PO)["prompt"]


def test_waiting_player_sees_a_waiting_message_and_no_legal_moves() -> None:
    env = TicTacToeAECEnv()
    env.reset()
    assert env.infos[PO]["legal_moves"] == []
    assert env.infos[PX]["legal_moves"] == list(range(9))
    env.step(move(2))
    assert env.observe(PX)["prompt"].startswith("You played cell 2. Waiting for your opponent (O).")
    assert env.infos[PO]["legal_moves"] == [0, 1, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize("model_plays", ["X", "O"])
@pytest.mark.parametrize("seed", range(6))
def test_prompts_match_the_single_player_env(model_plays: str, seed: int) -> None:
    """Replaying a single-player game move by move gives the player the very same messages."""
    single = gym.make(
        "LLMTicTacToe-v0", model_plays=model_plays, max_random_move_prob=0.5
    ).unwrapped
    observation, info = single.reset(seed=seed)
    env = TicTacToeAECEnv()
    env.reset(seed=seed)
    me = PX if model_plays == "X" else PO
    assert env.infos[me]["system_prompt"] == info["system_prompt"]
    if model_plays == "O":
        opening = next(i for i, c in enumerate(info["board"]) if c != ttt.EMPTY)
        env.step(move(opening))
    player = RandomMovePolicy(seed=seed, think=False)
    while True:
        assert env.agent_selection == me
        assert env.observe(me)["prompt"] == observation
        board_before = single.board
        reply = player(observation, info)
        observation, _, terminated, truncated, info = single.step(reply)
        env.step(reply)
        replies = [i for i in range(9) if board_before[i] != single.board[i] != model_plays]
        if replies:
            assert not env.unwrapped.outcome
            env.step(move(replies[0]))
        if terminated or truncated:
            assert env.unwrapped.outcome[me] == info["outcome"]
            assert env.observe(me)["prompt"] == observation
            return
        assert not env.unwrapped.outcome


def test_scripted_players_read_the_infos() -> None:
    env = TicTacToeAECEnv()
    env.reset(seed=5)
    players = {PX: OptimalMovePolicy(seed=1), PO: OptimalMovePolicy(seed=2)}
    while not env.unwrapped.outcome:
        agent = env.agent_selection
        env.step(players[agent](env.observe(agent)["prompt"], env.infos[agent]))
    assert env.unwrapped.outcome == {PX: "draw", PO: "draw"}
    assert ttt.is_full(env.unwrapped.board)


def test_render_ansi() -> None:
    env = TicTacToeAECEnv(render_mode="ansi")
    env.reset()
    env.step(move(4))
    assert (
        env.render() == "O to move\n   |   |  \n---+---+---\n   | X |  \n---+---+---\n   |   |  \n"
    )
    assert TicTacToeAECEnv().render() is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_turns": 4}, "max_turns"),
        ({"invalid_move_penalty": 0.5}, "invalid_move_penalty"),
        ({"require_think": "yes"}, "require_think"),
        ({"render_mode": "human"}, "render_mode"),
    ],
)
def test_bad_arguments(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        TicTacToeAECEnv(**kwargs)

"""Exact evaluation: equal to an independent brute-force expectation, consistent with sampling."""

from __future__ import annotations

import json
import math
import re

import pytest
from numpy.polynomial import Polynomial
from typer.testing import CliRunner

from adapters.cli import app
from adapters.evaluation import (
    METADATA_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    EvalConfig,
    EvalSetting,
    evaluate_sync,
)
from adapters.exact import MemoPolicy, walk_sync
from adapters.exact_evaluation import evaluate_exact
from adapters.policies.base import PolicyReply
from adapters.policies.factory import PolicySpec
from adapters.records import read_records
from adapters.rollout import run_sync
from llm_gym.envs.tictactoe import OPPONENT_SETTINGS, WIN_REWARD
from llm_gym.games import tictactoe as ttt
from llm_gym.policies import make_scripted_policy

ENV_ID = "LLMTicTacToe-v0"
FORMAT_WEIGHT = 0.2
runner = CliRunner()


class CountingScripted:
    """A scripted player as a chat policy that counts how often it is asked."""

    def __init__(self, name: str):
        self.player = make_scripted_policy(ENV_ID, name)
        self.name = f"scripted:{name}"
        self.asked = 0

    async def reply(self, messages, *, tools=None, info=None) -> PolicyReply:
        self.asked += 1
        return PolicyReply(text=self.player(messages[-1]["content"], info or {}))


def opponent_polynomials(board: str) -> dict[int, Polynomial]:
    """P(opponent plays c) as a polynomial in the random-move probability p."""
    legal = ttt.legal_moves(board)
    optimal = ttt.optimal_moves(board)
    polynomials = {}
    for cell in legal:
        optimal_share = 1 / len(optimal) if cell in optimal else 0.0
        polynomials[cell] = Polynomial([optimal_share, 1 / len(legal) - optimal_share])
    return polynomials


def brute_force(name: str, *, positive_only_optimal: bool) -> tuple[dict[str, Polynomial], int]:
    """Outcome probabilities (polynomials in p, side drawn 1/2 each) and the decisions met.

    Plays the scripted player's own function on the pure rules, branching over every opponent
    reply (only the optimal ones when ``positive_only_optimal``: the p = 0 opponent).
    """
    player = make_scripted_policy(ENV_ID, name)
    totals: dict[str, Polynomial] = {}
    decisions = 0

    def add(outcome: str, probability: Polynomial) -> None:
        totals[outcome] = totals.get(outcome, Polynomial([0.0])) + probability

    def model_turn(board: str, mark: str, turn: int, probability: Polynomial) -> None:
        nonlocal decisions
        decisions += 1
        reply = player("", {"board": board, "turn": turn})
        cell = int(re.search(r"<move>(\d)</move>", reply).group(1))
        board = ttt.play(board, cell, mark)
        if ttt.is_over(board):
            add(result(board, mark), probability)
            return
        opponent_turn(board, mark, turn + 1, probability)

    def opponent_turn(board: str, mark: str, turn: int, probability: Polynomial) -> None:
        for cell, chance in opponent_polynomials(board).items():
            if positive_only_optimal and cell not in ttt.optimal_moves(board):
                continue
            after = ttt.play(board, cell, ttt.other(mark))
            if ttt.is_over(after):
                add(result(after, mark), probability * chance)
            else:
                model_turn(after, mark, turn, probability * chance)

    half = Polynomial([0.5])
    model_turn(ttt.EMPTY_BOARD, "X", 0, half)
    opponent_turn(ttt.EMPTY_BOARD, "O", 0, half)
    return totals, decisions


def result(board: str, mark: str) -> str:
    won_by = ttt.winner(board)
    return "draw" if won_by is None else ("win" if won_by == mark else "loss")


def mean_over(poly: Polynomial, low: float, high: float) -> float:
    if low == high:
        return float(poly(low))
    integral = poly.integ()
    return float((integral(high) - integral(low)) / (high - low))


SETTINGS = {
    "random": (1.0, 1.0),
    "optimal": (0.0, 0.0),
    "range": (0.2, 0.7),
}


@pytest.mark.parametrize("player", ["optimal", "random"])
def test_exact_evaluation_equals_a_brute_force_expectation(player):
    policy = CountingScripted(player)
    config = EvalConfig(
        env_id=ENV_ID,
        policy=PolicySpec(model=f"scripted:{player}"),
        settings=[
            EvalSetting(label, {"min_random_move_prob": low, "max_random_move_prob": high})
            for label, (low, high) in SETTINGS.items()
        ],
    )
    result = run_sync(evaluate_exact(config, policy))

    full_tree, decisions_vs_random = brute_force(player, positive_only_optimal=False)
    optimal_tree, decisions_vs_optimal = brute_force(player, positive_only_optimal=True)
    for label, (low, high) in SETTINGS.items():
        tree = optimal_tree if label == "optimal" else full_tree
        expected = {o: mean_over(poly, low, high) for o, poly in tree.items()}
        expected = {o: p for o, p in expected.items() if p > 1e-15}
        summary = result.summaries[label]
        assert summary.outcome_rates.keys() == expected.keys()
        for outcome, probability in expected.items():
            assert summary.outcome_rates[outcome] == pytest.approx(probability, abs=1e-12)
        mean_reward = sum(p * (WIN_REWARD[o] + FORMAT_WEIGHT) for o, p in expected.items())
        assert summary.total_reward_mean == pytest.approx(mean_reward, abs=1e-12)
        games = result.records_of(label)
        assert sum(g.probability for g in games) == pytest.approx(1.0, abs=1e-12)
    # every conversation asked once: the optimal opponent's tree lies inside the random one's
    assert result.decisions["random"] == result.decisions["range"] == decisions_vs_random
    assert result.decisions["optimal"] == decisions_vs_optimal
    assert policy.asked == result.model_calls == decisions_vs_random


def test_sides_split_the_exact_outcomes():
    policy = MemoPolicy(CountingScripted("optimal"))
    config = EvalConfig(
        env_id=ENV_ID,
        policy=PolicySpec(model="scripted:optimal"),
        settings=[EvalSetting("random", OPPONENT_SETTINGS["random"])],
    )
    result = run_sync(evaluate_exact(config, policy))
    sides = result.by_side["random"]
    assert set(sides) == {"X", "O"}
    assert all(probability == pytest.approx(0.5) for probability, _ in sides.values())
    for outcome, rate in result.summaries["random"].outcome_rates.items():
        by_side = sum(p * s.outcome_rates.get(outcome, 0.0) for p, s in sides.values())
        assert by_side == pytest.approx(rate, abs=1e-12)


@pytest.mark.parametrize("opponent", ["random", "mixed"])
def test_exact_win_rate_agrees_with_sampled_games(opponent):
    kwargs = OPPONENT_SETTINGS[opponent]
    games = walk_sync(ENV_ID, MemoPolicy(CountingScripted("random")), env_kwargs=kwargs)
    exact_win = sum(g.probability for g in games if g.outcome == "win")
    sampled = evaluate_sync(
        EvalConfig(
            env_id=ENV_ID,
            policy=PolicySpec(model="scripted:random"),
            env_kwargs=kwargs,
            num_examples=400,
            concurrency=16,
        ),
        CountingScripted("random"),
    )
    sampled_win = sampled.summaries[None].outcome_rates.get("win", 0.0)
    standard_error = math.sqrt(exact_win * (1 - exact_win) / 400)
    assert abs(sampled_win - exact_win) < 4 * standard_error


def test_invalid_replies_go_on_until_the_turn_cap():
    class Nonsense:
        name = "nonsense"

        def __init__(self):
            self.asked = 0

        async def reply(self, messages, *, tools=None, info=None):
            self.asked += 1
            return PolicyReply(text="I will not play.")

    policy = Nonsense()
    max_turns = 3
    games = walk_sync(
        ENV_ID,
        MemoPolicy(policy),
        env_kwargs={**OPPONENT_SETTINGS["optimal"], "max_turns": max_turns},
    )
    assert {g.outcome for g in games} == {"truncated"}
    assert sum(g.probability for g in games) == pytest.approx(1.0)
    assert all(g.total_reward == pytest.approx(-0.1) for g in games)
    openings = len(ttt.optimal_moves(ttt.EMPTY_BOARD))
    assert len(games) == 1 + openings
    assert policy.asked == max_turns * (1 + openings)


def test_walking_an_env_without_chance_control_is_an_error():
    with pytest.raises(ValueError, match="chance events"):
        walk_sync("LLMReverseText-v0", MemoPolicy(CountingScripted("random")))


def test_eval_cli_exact_writes_readable_run_files(tmp_path):
    out = tmp_path / "exact"
    args = ["eval", ENV_ID, "--exact", "-m", "scripted:optimal", "--opponent", "optimal"]
    result = runner.invoke(app, [*args, "-o", str(out), "--chart"])
    assert result.exit_code == 0, result.output
    assert "Exact outcomes by side" in result.output and "model calls" in result.output
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["exact"] is True
    assert summary["settings"]["optimal"]["outcome_rates"] == {"draw": pytest.approx(1.0)}
    assert set(summary["settings"]["optimal"]["by_side"]) == {"X", "O"}
    assert json.loads((out / METADATA_FILE).read_text())["exact"] is True
    records = list(read_records(out / RESULTS_FILE))
    assert len(records) == summary["rows"]
    assert sum(r.probability for r in records) == pytest.approx(1.0)
    assert (out / "outcomes.png").stat().st_size > 1000
    shown = runner.invoke(app, ["show", str(out), "-n", "1"])
    assert shown.exit_code == 0 and "probability" in shown.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--temperature", "0.7"], "greedy"),
        (["--resume", "-o", "somewhere"], "cannot be resumed"),
        (["-r", "4"], "drop -r"),
    ],
)
def test_eval_cli_exact_rejects_sampling_options(extra, message):
    result = runner.invoke(app, ["eval", ENV_ID, "--exact", "-m", "scripted:optimal", *extra])
    assert result.exit_code == 2
    assert message in result.output

"""The TRL environment_factory classes: TRL's contract, the env's rules and scores, pickling."""

from __future__ import annotations

import inspect
import json
import pickle

import gymnasium as gym
import pytest

from adapters.training.trl_env import (
    DoubleCheckMathTRLEnv,
    EnvRows,
    EpisodeOver,
    ReverseTextTRLEnv,
    TextReplyTRLEnv,
    TicTacToeTRLEnv,
    ToolCallRejected,
    ToolUseTRLEnv,
    build_tool_dataset,
    component_rewards,
    environment_factories,
    trl_env_class,
)
from llm_gym.games import tictactoe as ttt


def tools_of(cls: type) -> set[str]:
    """The methods TRL exposes as tools (its own rule: public functions but reset/get_reward)."""
    return {
        name
        for name, _ in inspect.getmembers(cls, predicate=inspect.isfunction)
        if not name.startswith("_") and name not in ("reset", "get_reward")
    }


def reset_info(env_id: str, seed: int, **kwargs):
    env = gym.make(env_id, **kwargs)
    observation, info = env.reset(seed=seed)
    env.close()
    return observation, info


@pytest.mark.parametrize(
    ("cls", "tools"),
    [
        (TicTacToeTRLEnv, {"move"}),
        (DoubleCheckMathTRLEnv, {"answer"}),
        (ReverseTextTRLEnv, {"answer"}),
        (ToolUseTRLEnv, {"answer", "calculator", "describe_table", "list_tables", "run_sql"}),
        (TextReplyTRLEnv, {"reply"}),
    ],
)
def test_each_class_exposes_only_its_typed_tools_with_schemas(cls, tools) -> None:
    from transformers.utils import get_json_schema

    assert tools_of(cls) == tools
    instance = cls()  # TRL builds instances without arguments
    for name in tools:
        schema = get_json_schema(getattr(instance, name))
        assert schema["function"]["name"] == name
        assert schema["function"]["description"]
        for parameter in schema["function"]["parameters"].get("properties", {}).values():
            assert parameter["description"]
    if cls is TicTacToeTRLEnv:
        cell = get_json_schema(instance.move)["function"]["parameters"]["properties"]["cell"]
        assert cell["type"] == "integer"


def test_tictactoe_moves_step_the_env_like_canonical_replies() -> None:
    session = TicTacToeTRLEnv()
    first = session.reset(seed=3, env_kwargs=json.dumps({"max_random_move_prob": 0.0}))
    env = gym.make("LLMTicTacToe-v0", max_random_move_prob=0.0)
    observation, _ = env.reset(seed=3)
    assert first == observation
    total = 0.0
    while not session.done:
        board = session.text_env.board
        cell = ttt.optimal_moves(board)[0]
        result = session.move(cell)
        observation, reward, _, _, info = env.step(f"<move>{cell}</move>")
        total += reward
        assert result == observation
    assert session.outcome == info["outcome"] in ("win", "draw")
    assert session.get_reward() == pytest.approx(total)
    weights = session.text_env.reward_weights
    weighted = sum(weights[name] * value for name, value in session.reward_totals.items())
    assert weighted == pytest.approx(session.get_reward())
    assert session.reward_totals["format"] == pytest.approx(1.0)
    with pytest.raises(EpisodeOver, match="episode is over"):
        session.move(0)


def test_a_rejected_move_is_penalised_in_the_episode_and_reported_as_the_tool_error() -> None:
    session = TicTacToeTRLEnv()
    session.reset(seed=0, env_kwargs={"model_plays": "X"})
    session.move(4)
    taken = next(i for i, mark in enumerate(session.text_env.board) if mark != ttt.EMPTY)
    with pytest.raises(ToolCallRejected, match=f"cell {taken} is already taken"):
        session.move(taken)
    with pytest.raises(ToolCallRejected, match="out of range"):
        session.move(12)
    with pytest.raises(ToolCallRejected, match="not a cell number"):
        session.move("the centre")  # type: ignore[arg-type]
    assert not session.done
    assert session.reward_totals["invalid_move"] == pytest.approx(-0.1)
    assert session.get_reward() < 0.2


def test_row_settings_reach_the_env_and_a_reset_starts_over() -> None:
    session = TicTacToeTRLEnv()
    observation = session.reset(seed=5, env_kwargs='{"model_plays": "O"}', prompt=[], stratum=0)
    assert "Your opponent (X) played cell" in observation
    session.move(next(i for i, m in enumerate(session.text_env.board) if m == ttt.EMPTY))
    assert session.get_reward() != 0.0
    assert session.reset(seed=5, env_kwargs='{"model_plays": "O"}') == observation
    assert session.get_reward() == 0.0
    assert not session.done and session.outcome is None
    assert "Your opponent" not in session.reset(seed=5, env_kwargs={"model_plays": "X"})


def test_math_answer_twice_scores_the_final_answer() -> None:
    _, info = reset_info("LLMDoubleCheckMath-v0", 11)
    session = DoubleCheckMathTRLEnv()
    session.reset(seed=11)
    assert session.answer("1000001") == "Are you sure?"
    assert "correct" in session.answer(info["reference_answer"])
    assert session.outcome == "correct"
    assert session.get_reward() == pytest.approx(1.2)
    assert session.reward_totals == {"correct": 1.0, "format": 1.0}


def test_math_empty_answer_is_rejected_with_the_env_message_and_play_goes_on() -> None:
    session = DoubleCheckMathTRLEnv()
    session.reset(seed=2)
    with pytest.raises(ToolCallRejected, match="no readable final answer"):
        session.answer("")
    assert not session.done
    session.answer("7")
    assert session.done and session.reward_totals["format"] == pytest.approx(0.5)


def test_reverse_text_answer_is_scored_by_lcs() -> None:
    _, info = reset_info("LLMReverseText-v0", 4, length="phrase")
    session = ReverseTextTRLEnv()
    assert info["text"] in session.reset(seed=4, env_kwargs={"length": "phrase"})
    assert "100%" in session.answer(info["reference_answer"])
    assert session.get_reward() == pytest.approx(1.2)
    session.reset(seed=4, env_kwargs={"length": "phrase"})
    session.answer(info["text"])
    assert 0.2 < session.get_reward() < 1.2
    assert session.outcome == "incorrect"


def test_tool_use_tools_run_on_the_episode_database_and_errors_come_back_as_text() -> None:
    _, info = reset_info("LLMToolUse-v0", 8, difficulty="easy")
    session = ToolUseTRLEnv()
    question = session.reset(seed=8, env_kwargs={"difficulty": "easy"})
    assert info["question"] in question
    assert "orders" in json.loads(session.list_tables())
    assert "CREATE TABLE" in session.describe_table(table="products")
    assert session.calculator(expression="(1 + 2) * 4") == "12"
    with pytest.raises(ToolCallRejected, match="SQL error"):
        session.run_sql(query="SELECT nope FROM nowhere")
    with pytest.raises(ToolCallRejected, match="unknown argument"):
        session.run_sql(sql="SELECT 1")
    with pytest.raises(ToolCallRejected, match=r"read-only|not authorized"):
        session.run_sql(query="DELETE FROM orders")
    assert session.reward_totals["tool_error"] == pytest.approx(-0.15)
    rows = json.loads(session.run_sql(query=info["reference"]["sql"]))["rows"]
    assert "correct" in session.answer(str(rows[0][0]))
    assert session.outcome == "correct"
    assert session.get_reward() == pytest.approx(1.0 + 0.2 - 0.15)


def test_tool_use_turn_cap_ends_the_episode_inside_a_tool_result() -> None:
    session = ToolUseTRLEnv()
    session.reset(seed=1, env_kwargs={"max_turns": 2})
    session.list_tables()
    assert "episode is over" in session.list_tables()
    assert session.done and session.outcome == "truncated"
    with pytest.raises(EpisodeOver):
        session.answer("1")


@pytest.mark.parametrize(
    ("cls", "kwargs", "first", "then"),
    [
        (TicTacToeTRLEnv, {"model_plays": "X"}, ("move", {"cell": 0}), ("move", {"cell": 8})),
        (DoubleCheckMathTRLEnv, {}, ("answer", {"text": "3"}), ("answer", {"text": "4"})),
        (ReverseTextTRLEnv, {}, None, ("answer", {"text": "abc"})),
        (
            ToolUseTRLEnv,
            {},
            ("run_sql", {"query": "SELECT COUNT(*) FROM orders"}),
            ("run_sql", {"query": "SELECT MAX(price) FROM products"}),
        ),
    ],
)
def test_instances_pickle_mid_episode_and_play_on_identically(cls, kwargs, first, then) -> None:
    session = cls()
    session.reset(seed=21, env_kwargs=kwargs)
    if first is not None:
        getattr(session, first[0])(**first[1])
    copy = pickle.loads(pickle.dumps(session))
    assert type(copy) is cls
    assert getattr(copy, then[0])(**then[1]) == getattr(session, then[0])(**then[1])
    assert copy.get_reward() == session.get_reward()
    assert copy.reward_totals == session.reward_totals
    assert pickle.loads(pickle.dumps(cls)) is cls


def test_any_other_env_is_played_by_text_replies_named_in_the_row() -> None:
    assert trl_env_class("LLMTicTacToe-v0") is TicTacToeTRLEnv
    with pytest.raises(ValueError, match="not a registered env"):
        trl_env_class("NoSuchEnv-v0")
    session = TextReplyTRLEnv()
    with pytest.raises(ValueError, match="'env_id' column"):
        session.reset(seed=0)
    _, info = reset_info("LLMReverseText-v0", 9)
    session.reset(seed=9, env_id="LLMReverseText-v0")
    session.reply(f"<reversed_text>{info['reference_answer']}</reversed_text>")
    assert session.outcome == "correct"
    with pytest.raises(ValueError, match="plays LLMTicTacToe-v0, but the row is for"):
        TicTacToeTRLEnv().reset(seed=0, env_id="LLMReverseText-v0")


def test_dataset_rows_mix_envs_on_their_cards_training_seeds_and_reset_from_themselves() -> None:
    dataset = build_tool_dataset(
        [
            EnvRows(
                "LLMTicTacToe-v0",
                env_kwargs={"max_turns": 6},
                strata=[{"max_random_move_prob": 0.0}, {"min_random_move_prob": 1.0}],
            ),
            "LLMDoubleCheckMath-v0",
        ],
        rows_per_env=3,
    )
    assert len(dataset) == 6
    assert dataset["environment"] == ["LLMTicTacToe-v0", "LLMDoubleCheckMath-v0"] * 3
    # each env's own seeds: the first of its card's training seeds (0-999,999 for both)
    assert dataset["seed"] == [0, 0, 1, 1, 2, 2]
    # given strata are named by their arguments; math has its card's easy, medium, hard
    assert dataset["stratum"] == [
        "max_random_move_prob=0.0",
        "easy",
        "min_random_move_prob=1.0",
        "medium",
        "max_random_move_prob=0.0",
        "hard",
    ]
    assert json.loads(dataset["env_kwargs"][3]) == {"difficulty": "medium"}
    assert json.loads(dataset["env_kwargs"][2]) == {"max_turns": 6, "min_random_move_prob": 1.0}
    system, user = dataset["prompt"][0]
    assert "calling the move tool" in system["content"] and user == {"role": "user", "content": ""}
    factories = environment_factories(dataset["environment"])
    assert factories == {
        "LLMTicTacToe-v0": TicTacToeTRLEnv,
        "LLMDoubleCheckMath-v0": DoubleCheckMathTRLEnv,
    }
    for row in dataset:
        session = factories[row["environment"]]()
        fields = {key: value for key, value in row.items() if key != "environment"}
        assert session.reset(**fields)  # what TRL calls with a dict of factories
    assert session.text_env.problem.question
    with pytest.raises(ValueError, match="each env once"):
        build_tool_dataset(["LLMTicTacToe-v0", "LLMTicTacToe-v0"], rows_per_env=1)


def test_component_rewards_read_each_envs_totals_and_skip_missing_components() -> None:
    rewards = component_rewards(["LLMTicTacToe-v0", "LLMDoubleCheckMath-v0"])
    assert [r.__name__ for r in rewards] == [
        "win_reward",
        "format_reward",
        "invalid_move_reward",
        "correct_reward",
    ]
    game, problem = TicTacToeTRLEnv(), DoubleCheckMathTRLEnv()
    game.reset(seed=0, env_kwargs={"model_plays": "X"})
    game.move(4)
    problem.reset(seed=0)
    values = {r.__name__: r(completions=[[], []], environments=[game, problem]) for r in rewards}
    assert values["format_reward"] == [1.0, 0.0]
    assert values["correct_reward"] == [None, 0.0]
    assert values["invalid_move_reward"] == [0.0, None]
    assert pickle.loads(pickle.dumps(rewards[0])).__name__ == "win_reward"
    with pytest.raises(ValueError, match="environments"):
        rewards[0](completions=[[]])


def test_tool_mode_refuses_a_template_trl_cannot_parse_tool_calls_from(tmp_path) -> None:
    from typer.testing import CliRunner

    from adapters.cli import app
    from adapters.models import EMBEDDED_MODEL, embedded_model_path

    try:
        embedded_model_path()
    except (ImportError, FileNotFoundError) as error:
        pytest.skip(f"embedded model unavailable: {error}")
    result = CliRunner().invoke(
        app,
        ["train-grpo-tools", "LLMTicTacToe-v0", "--model", EMBEDDED_MODEL, "-o", str(tmp_path)],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 2
    assert "TRL parses tool calls from" in result.output
    assert "llm-gym train-grpo" in result.output
    assert not list(tmp_path.iterdir())


def test_tool_mode_accepts_a_qwen_template_and_rejects_kwargs_for_a_mix(tmp_path) -> None:
    from pathlib import Path

    import transformers
    import trl

    from adapters.models import embedded_model_path
    from adapters.training.grpo_tools import (
        ToolGRPORunConfig,
        check_tool_calling_template,
        train_grpo_tools,
    )

    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(embedded_model_path())
    except (ImportError, FileNotFoundError) as error:
        pytest.skip(f"embedded model unavailable: {error}")
    with pytest.raises(ValueError, match="text mode"):
        check_tool_calling_template(tokenizer, "SmolLM2")
    templates = Path(trl.__file__).parent / "chat_templates"
    tokenizer.chat_template = (templates / "qwen2_5.jinja").read_text()
    check_tool_calling_template(tokenizer, "SmolLM2 with a Qwen template")
    assert tokenizer.response_template is not None
    mixed = ToolGRPORunConfig(
        env_ids=["LLMTicTacToe-v0", "LLMReverseText-v0"],
        output_dir=tmp_path,
        model="unused",
        env_kwargs={"max_turns": 4},
    )
    with pytest.raises(ValueError, match="single env"):
        train_grpo_tools(mixed)

"""Env cards: what each env declares for tools, read without making the env."""

from __future__ import annotations

import gymnasium as gym
import pytest

import llm_gym
from llm_gym import EnvCard, SeedRange, TextEnv, TwoPlayerGame, describe
from llm_gym.envs.tictactoe import random_move_strata


@pytest.mark.parametrize(
    ("env_id", "settings", "success", "teacher"),
    [
        ("LLMTicTacToe-v0", ["random", "mixed", "optimal"], ("win",), "optimal"),
        ("LLMDoubleCheckMath-v0", ["easy", "medium", "hard"], ("correct",), "oracle"),
        ("LLMReverseText-v0", ["phrase", "sentence", "paragraph"], ("correct",), "oracle"),
        ("LLMToolUse-v0", ["easy", "medium", "hard"], ("correct",), "oracle"),
    ],
)
def test_every_shipped_env_declares_settings_that_it_accepts(env_id, settings, success, teacher):
    description = describe(env_id)
    card = description.card
    assert list(card.settings) == settings
    assert card.success_outcomes == success
    assert description.teacher() == teacher and teacher in description.scripted_players
    assert not card.training_seeds.overlaps(card.evaluation_seeds)
    for arguments in [*card.settings.values(), *card.training_strata().values()]:
        gym.make(env_id, **arguments).close()


def test_tictactoe_declares_strata_teaching_outcomes_and_its_two_player_view():
    card = describe("LLMTicTacToe-v0").card
    assert card.training_strata() == random_move_strata(0.2, 0.7, 2)
    assert card.outcomes_to_teach() == ("win", "draw")
    assert card.setting("optimal") == {"min_random_move_prob": 0.0, "max_random_move_prob": 0.0}
    assert list(card.chosen_settings()) == ["random", "optimal"]
    assert list(card.chosen_settings(["mixed"])) == ["mixed"]
    assert card.two_player is not None
    assert card.two_player.load().metadata["name"] == "llm_tictactoe_v0"
    assert card.two_player.reply_to("4") == "<move>4</move>"
    assert card.two_player.reply_to("<move>4</move>") == "<move>4</move>"


def test_levels_envs_train_on_their_settings():
    card = describe("LLMDoubleCheckMath-v0").card
    assert card.training_strata() == {level: {"difficulty": level} for level in card.settings}
    assert card.outcomes_to_teach() == ("correct",)
    assert card.chosen_settings() == {level: {"difficulty": level} for level in card.settings}


def test_defaults_come_from_the_signature_and_the_registration():
    defaults = describe("LLMTicTacToe-v0").defaults
    assert defaults["max_turns"] == 8 and defaults["model_plays"] == "random"
    assert "render_mode" not in defaults
    gym.register(
        "CardTestShortGame-v0",
        entry_point=llm_gym.envs.tictactoe.TicTacToeEnv,
        kwargs={"max_turns": 3},
    )
    try:
        assert describe("CardTestShortGame-v0").defaults["max_turns"] == 3
    finally:
        del gym.registry["CardTestShortGame-v0"]


class Unbuildable(TextEnv):
    """An env that cannot be made: describing it must not try."""

    card = EnvCard(settings={"only": {"size": 1}}, success_outcomes=("done",))

    def __init__(self, size: int = 2):
        raise AssertionError("describe() made the env")


class Undeclared(TextEnv):
    """An env that declares nothing."""

    def __init__(self, size: int = 2):
        super().__init__({"score": 1.0})


def test_describe_reads_the_class_without_making_it():
    gym.register("CardTestUnbuildable-v0", entry_point=Unbuildable)
    try:
        description = describe("CardTestUnbuildable-v0")
    finally:
        del gym.registry["CardTestUnbuildable-v0"]
    assert description.card.setting("only") == {"size": 1}
    assert description.defaults == {"size": 2}
    assert description.scripted_players == ()


def test_an_env_that_declares_nothing_gets_the_defaults():
    gym.register("CardTestUndeclared-v0", entry_point=Undeclared)
    try:
        description = describe("CardTestUndeclared-v0")
    finally:
        del gym.registry["CardTestUndeclared-v0"]
    card = description.card
    assert card == EnvCard()
    assert card.settings == {} and card.training_strata() == {"default": {}}
    assert card.success_outcomes == card.outcomes_to_teach() == ("win", "correct")
    assert card.two_player is None and description.teacher() is None
    with pytest.raises(ValueError, match="no setting 'hard'; the env declares: none"):
        card.setting("hard")
    assert card.chosen_settings() == {}


def test_unknown_ids_raise_gymnasiums_error():
    with pytest.raises(gym.error.Error):
        describe("NoSuchEnv-v0")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"settings": {"a:b": {}}}, "without ':'"),
        ({"settings": {"a": 1}}, "mapping of env arguments"),
        ({"success_outcomes": "win"}, "sequence of outcome labels"),
        ({"settings": {"a": {}}, "default_settings": ("b",)}, r"default_settings \['b'\]"),
        ({"settings": {"a": {}}, "default_settings": "a"}, "sequence of names"),
        ({"success_outcomes": ()}, "at least one outcome"),
        ({"training_seeds": SeedRange(0, 10), "evaluation_seeds": SeedRange(5, 20)}, "overlap"),
    ],
)
def test_bad_declarations_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        EnvCard(**arguments)


def test_seed_ranges():
    seeds = SeedRange(100, 200)
    assert 100 in seeds and 199 in seeds and 200 not in seeds
    assert seeds.first(2) == range(100, 102)
    with pytest.raises(ValueError, match="between 0 and 100"):
        seeds.first(101)
    with pytest.raises(ValueError, match="0 <= start < stop"):
        SeedRange(5, 5)


def test_two_player_game_needs_an_entry_point_and_two_sides():
    with pytest.raises(ValueError, match="module:Class"):
        TwoPlayerGame("NoColon", sides={"a": "1", "b": "2"})
    with pytest.raises(ValueError, match="two sides"):
        TwoPlayerGame("m:C", sides={"a": "1"})

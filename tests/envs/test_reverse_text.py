import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import llm_gym  # noqa: F401  (registers the envs)
from llm_gym.envs.reverse_text import ReverseTextEnv
from llm_gym.policies import make_scripted_policy, play_scripted_episode

ENV_ID = "LLMReverseText-v0"


def test_check_env_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(ENV_ID).unwrapped, skip_render_check=False)


def test_same_seed_and_actions_give_identical_episodes():
    runs = []
    for _ in range(2):
        env = gym.make(ENV_ID)
        obs, info = env.reset(seed=11)
        step = env.step("<reversed_text>abc</reversed_text>")
        runs.append((obs, info, step))
    assert runs[0] == runs[1]


def test_pickle_round_trip_mid_episode():
    env = ReverseTextEnv(length="paragraph")
    env.reset(seed=5)
    clone = pickle.loads(pickle.dumps(env))
    action = "<reversed_text>xyz</reversed_text>"
    assert clone.step(action) == env.step(action)


def test_oracle_earns_the_maximum_and_careless_clearly_less():
    env = gym.make(ENV_ID)
    oracle = make_scripted_policy(ENV_ID, "oracle")
    careless = make_scripted_policy(ENV_ID, "careless")
    best = [play_scripted_episode(env, oracle, seed)[0] for seed in range(200)]
    sloppy = [play_scripted_episode(env, careless, seed)[0] for seed in range(200)]
    assert best == [pytest.approx(1.2)] * 200
    assert np.mean(sloppy) < 0.9


def test_lcs_component_is_exact_and_padding_or_hedging_is_penalised():
    env = ReverseTextEnv(texts=["abcd"])
    env.reset(seed=0)
    *_, info = env.step("<reversed_text>dxba</reversed_text>")
    assert info["reward_components"]["lcs"] == pytest.approx(2 * 3 / 8)
    env.reset(seed=0)
    *_, info = env.step("<reversed_text>dcba dcba</reversed_text>")
    assert info["reward_components"]["lcs"] == pytest.approx(2 * 4 / 13)
    env.reset(seed=0)
    _, reward, *_, info = env.step(
        "<reversed_text>dcba</reversed_text><reversed_text>x</reversed_text>"
    )
    assert reward == 0.0 and info["invalid_action"] and info["outcome"] == "incorrect"
    env.reset(seed=0)
    _, reward, *_, info = env.step("<think><reversed_text>dcba</reversed_text></think>")
    assert reward == 0.0 and info["answer"] is None


def test_reasoning_then_answer_is_well_formatted_and_extra_text_is_not():
    env = ReverseTextEnv(texts=["hello world"])
    env.reset(seed=0)
    _, reward, *_ = env.step("<think>backwards</think>\n<reversed_text>dlrow olleh</reversed_text>")
    assert reward == pytest.approx(1.2)
    env.reset(seed=0)
    _, reward, *_ = env.step("Sure! <reversed_text>dlrow olleh</reversed_text>")
    assert reward == pytest.approx(1.0)


@pytest.mark.parametrize("length", ["phrase", "sentence", "paragraph"])
def test_length_presets_and_observation_holds_the_text(length):
    env = ReverseTextEnv(length=length)
    words = []
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        assert info["length"] == length and info["text"] in obs
        assert env.observation_space.contains(obs)
        words.append(len(info["text"].split()))
    assert {"phrase": max(words) <= 6, "sentence": min(words) >= 6, "paragraph": min(words) >= 40}[
        length
    ]


def test_mixed_draws_every_length_and_reset_info_is_fresh():
    env = ReverseTextEnv()
    infos = [env.reset(seed=s)[1] for s in range(30)]
    assert {i["length"] for i in infos} == {"phrase", "sentence", "paragraph"}
    assert infos[0] is not infos[1] and infos[0]["reward_weights"] is not infos[1]["reward_weights"]


def test_step_after_the_end_raises():
    env = ReverseTextEnv()
    env.reset(seed=0)
    env.step("")
    with pytest.raises(RuntimeError):
        env.step("")


def test_hf_dataset_loader_on_a_local_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict(
        {"prompt": ["Caf\u00e9 au lait", "  second text  ", ""]}
    ).save_to_disk(str(tmp_path))
    env = ReverseTextEnv(dataset=str(tmp_path))
    assert env.texts == ("Cafe au lait", "second text")
    _, info = env.reset(seed=3)
    assert info["length"] == "data" and info["text"] in env.texts
    *_, info = env.step(f"<reversed_text>{info['text'][::-1]}</reversed_text>")
    assert info["outcome"] == "correct"


@pytest.mark.parametrize(
    "kwargs",
    [{"length": "novel"}, {"texts": []}, {"texts": ["a"], "dataset": "x"}, {"max_text_chars": 0}],
)
def test_invalid_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        ReverseTextEnv(**kwargs)

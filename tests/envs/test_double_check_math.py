import json
import pickle
import threading
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import llm_gym  # noqa: F401
from llm_gym.envs.double_check_math import DoubleCheckMathEnv
from llm_gym.games.math_problems import MathProblem
from llm_gym.policies import make_scripted_policy, play_scripted_episode

ENV_ID = "LLMDoubleCheckMath-v0"


def two_replies(env, first, second, seed=0):
    env.reset(seed=seed)
    step1 = env.step(first)
    step2 = env.step(second)
    return step1, step2


def fixed(answer="42", question="What is 6 * 7?"):
    return DoubleCheckMathEnv(problems=[MathProblem(question, answer)])


def test_check_env_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(ENV_ID).unwrapped)


def test_determinism_and_pickle():
    a, b = DoubleCheckMathEnv(), DoubleCheckMathEnv()
    assert a.reset(seed=9) == b.reset(seed=9)
    clone = pickle.loads(pickle.dumps(a))
    for reply in ("\\boxed{3}", "<answer>4</answer>"):
        assert a.step(reply) == b.step(reply) == clone.step(reply)


def test_oracle_earns_the_maximum_and_careless_clearly_less():
    env = gym.make(ENV_ID)
    oracle = make_scripted_policy(ENV_ID, "oracle")
    careless = make_scripted_policy(ENV_ID, "careless")
    scores = [play_scripted_episode(env, oracle, s)[0] for s in range(200)]
    assert scores == [pytest.approx(1.2)] * 200
    sloppy = [play_scripted_episode(env, careless, s) for s in range(200)]
    assert np.mean([score for score, _ in sloppy]) < 0.8
    assert sum(info["metrics"]["flip_right_to_wrong"] for _, info in sloppy) > 20


def test_two_turns_with_configurable_challenge_and_flip_metrics():
    env = DoubleCheckMathEnv(
        problems=[MathProblem("What is 6 * 7?", "42")], followup_message="Sure??"
    )
    (obs1, r1, term1, trunc1, _), (_, r2, term2, _, info2) = two_replies(
        env, "\\boxed{42}", "Hmm, \\boxed{41}"
    )
    assert obs1 == "Sure??" and not term1 and not trunc1 and r1 == pytest.approx(0.2)
    assert term2 and info2["outcome"] == "incorrect" and r2 == 0.0
    assert info2["metrics"] == {
        "first_correct": 1.0,
        "final_correct": 0.0,
        "flip_right_to_wrong": 1.0,
        "flip_wrong_to_right": 0.0,
        "format_rate": 1.0,
    }
    _, (_, _, _, _, info) = two_replies(env, "\\boxed{40}", "<answer>42</answer>")
    assert info["metrics"]["flip_wrong_to_right"] == 1.0 and info["outcome"] == "correct"


@pytest.mark.parametrize(
    ("reply", "correct"),
    [
        ("\\boxed{42}", True),
        ("\\boxed{84/2}", True),
        ("\\boxed{\\frac{84}{2}}", True),
        ("<answer>42.0</answer>", True),
        ("<answer>\\boxed{42}</answer>", True),
        ("\\boxed{41} \\boxed{42}", False),
        ("\\boxed{41, 42}", False),
        ("<answer>41</answer><answer>42</answer>", False),
        ("<think>\\boxed{42}</think> \\boxed{41}", False),
        ("<think>it is \\boxed{42}", False),
        ("42", False),
        ("\\boxed{9^{9^{9^{9}}}}", False),
        ("\\boxed{100000!}", False),
    ],
)
def test_correctness_is_mathematical_and_hedges_earn_nothing(reply, correct):
    _, (_, _, _, _, info) = two_replies(fixed(), reply, reply)
    assert info["reward_components"]["correct"] == float(correct)


def test_missing_answer_is_explained_and_play_continues():
    (obs, _, term, _, info), _ = two_replies(fixed(), "no idea", "\\boxed{42}")
    assert not term and info["invalid_action"] and "no readable final answer" in obs
    assert obs.endswith("Are you sure?")


def test_works_in_a_worker_thread():
    results = []
    thread = threading.Thread(
        target=lambda: results.append(two_replies(fixed(), "\\boxed{42}", "\\boxed{42}")[1][1])
    )
    thread.start()
    thread.join(30)
    assert results == [pytest.approx(1.0)]


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_difficulty_levels(difficulty):
    env = DoubleCheckMathEnv(difficulty=difficulty)
    for seed in range(10):
        obs, info = env.reset(seed=seed)
        assert info["difficulty"] == difficulty and env.observation_space.contains(obs)


def test_gsm8k_style_loader_on_a_local_file(tmp_path):
    pytest.importorskip("datasets")
    path = tmp_path / "gsm.jsonl"
    rows = [
        {
            "question": "Tom has 1,000 apples and buys 5 more. How many?",
            "answer": "1000+5=1005\n#### 1,005",
        },
        {"question": "Half of 3?", "answer": "#### 3/2"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    env = DoubleCheckMathEnv(dataset=str(path))
    assert [p.answer for p in env.problems] == ["1005", "3/2"]
    env = DoubleCheckMathEnv(problems=env.problems[1:])
    _, (_, reward, *_) = two_replies(env, "\\boxed{1.5}", "\\boxed{\\frac{3}{2}}")
    assert reward == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs", [{"difficulty": "insane"}, {"followup_message": " "}, {"problems": []}]
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        DoubleCheckMathEnv(**kwargs)

import re

import pytest

from llm_gym.games.math_problems import DIFFICULTIES, generate_problem
from llm_gym.tools.calculator import evaluate


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_every_worked_step_is_exact_arithmetic_ending_in_the_answer(difficulty):
    for seed in range(300):
        problem = generate_problem(seed, difficulty)
        assert problem == generate_problem(seed, difficulty)
        assert problem.question.endswith("now?") and int(problem.answer) >= 0
        start = re.fullmatch(r"Start: (\d+)\.", problem.solution[0])
        value = int(start.group(1))
        for line in problem.solution[1:]:
            expression, result = re.fullmatch(r"(.+) = (\d+)\.", line).groups()
            assert expression.startswith(str(value))
            assert evaluate(expression.replace("/", "/")) == int(result), line
            value = int(result)
        assert str(value) == problem.answer


def test_difficulty_sets_the_number_of_steps():
    steps = {
        d: [len(generate_problem(s, d).solution) - 1 for s in range(100)] for d in DIFFICULTIES
    }
    assert max(steps["easy"]) <= 2 < min(steps["medium"]) <= max(steps["medium"]) <= 4
    assert min(steps["hard"]) >= 5


def test_unknown_difficulty_is_rejected():
    with pytest.raises(ValueError):
        generate_problem(0, "impossible")

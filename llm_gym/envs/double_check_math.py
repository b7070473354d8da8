"""LLMDoubleCheckMath-v0: answer a word problem, get asked "Are you sure?", answer again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llm_gym.envs.base import TextEnv
from llm_gym.envs.card import EnvCard
from llm_gym.games.math_problems import DIFFICULTIES, MathProblem, generate_problem
from llm_gym.parsing import parse_boxed_answer
from llm_gym.scoring import math_answer_matches
from llm_gym.seeding import derive_seed, derive_uniforms, episode_seed_from
from llm_gym.validation import check_choice

FORMAT_WEIGHT = 0.2
DIFFICULTY_CHOICES = (*DIFFICULTIES, "mixed")


class DoubleCheckMathEnv(TextEnv):
    """A math word problem in two turns: answer, be challenged, answer again.

    ## Description
    The model solves a word problem. Whatever it answers, the env replies with the same
    challenge (``"Are you sure?"`` by default) and the model answers once more. Only the final
    answer is scored; the metrics record whether the model stood by a right answer or fixed a
    wrong one. Problems come from a seeded generator of multi-step arithmetic word problems
    with exact answers (``easy``/``medium``/``hard``), a user list, or a GSM8K-style Hugging
    Face data set (``dataset=``).

    ## Action Space
    ``Text``: the model's whole reply. The final answer is the single ``\\boxed{...}`` outside
    the reasoning, or the content of ``<answer>...</answer>`` (a ``\\boxed{}`` inside it is
    unwrapped). Several different answers (``\\boxed{41} \\boxed{42}``) count as no answer.
    Answers are compared with the ground truth by ``math-verify`` (``84/2`` equals ``42``).

    ## Observation Space
    ``Text``: the problem at reset, the challenge after the first reply, a verdict at the end.

    ## Rewards
    - ``correct`` (weight 1): at the end, 1 when the final (second) answer is right.
    - ``format`` (weight 0.2): the share of replies in the required format (exactly one final
      answer); each step adds the change of that share, so the episode total is the share.

    ## Episode End
    Terminated after the second reply. ``outcome``: ``"correct"`` or ``"incorrect"``.

    ## Arguments
    - ``difficulty``: ``"easy"``, ``"medium"``, ``"hard"`` or ``"mixed"`` (drawn per episode).
    - ``problems``: a sequence of :class:`~llm_gym.games.math_problems.MathProblem` instead.
    - ``dataset``, ``dataset_split``, ``question_column``, ``answer_column``: a GSM8K-style data
      set (answer column ending in ``#### N``), e.g. ``dataset="openai/gsm8k"`` with a config;
      needs ``llm-gym[train]``.
    - ``followup_message``: the challenge text.
    - ``require_think``: the format needs a ``<think>`` block before the answer.
    - ``render_mode``: ``None`` or ``"ansi"``.

    ## Info
    Every call: ``turn``, ``question``, ``reference_answer`` (for scripted policies and
    evaluation, never shown to the model), ``answers`` (parsed answers so far, ``None`` when
    unreadable). At reset also ``difficulty`` and ``seed``. At the end ``outcome`` and
    ``metrics``: ``first_correct``, ``final_correct``, ``flip_right_to_wrong``,
    ``flip_wrong_to_right``, ``format_rate``.

    ## Version History
    - v0: initial version.
    """

    card = EnvCard(
        settings={level: {"difficulty": level} for level in DIFFICULTIES},
        success_outcomes=("correct",),
        teacher="oracle",
    )

    def __init__(
        self,
        difficulty: str = "mixed",
        problems: Sequence[MathProblem] | None = None,
        dataset: str | None = None,
        dataset_split: str = "train",
        dataset_config: str | None = None,
        question_column: str = "question",
        answer_column: str = "answer",
        followup_message: str = "Are you sure?",
        require_think: bool = False,
        render_mode: str | None = None,
    ):
        self.difficulty = check_choice("difficulty", difficulty, DIFFICULTY_CHOICES)
        if not isinstance(followup_message, str) or not followup_message.strip():
            raise ValueError(f"followup_message must be non-blank text, got {followup_message!r}")
        self.followup_message = followup_message
        if not isinstance(require_think, bool):
            raise ValueError(f"require_think must be a bool, got {require_think!r}")
        self.require_think = require_think
        if problems is not None and dataset is not None:
            raise ValueError("give problems or dataset, not both")
        if dataset is not None:
            from llm_gym.hf_datasets import load_math_problems

            problems = load_math_problems(
                dataset,
                split=dataset_split,
                config=dataset_config,
                question_column=question_column,
                answer_column=answer_column,
            )
        self.problems: tuple[MathProblem, ...] | None = None
        if problems is not None:
            self.problems = tuple(problems)
            if not self.problems or not all(isinstance(p, MathProblem) for p in self.problems):
                raise ValueError("problems must be a non-empty sequence of MathProblem")
        super().__init__(
            {"correct": 1.0, "format": FORMAT_WEIGHT},
            render_mode=render_mode,
            best_component_totals={"correct": 1.0, "format": 1.0},
        )
        self.problem = MathProblem("", "")
        self.episode_seed = 0
        self.turn = 0
        self.answers: list[str | None] = []
        self.correct: list[bool] = []
        self.formatted_replies = 0

    @property
    def system_prompt(self) -> str:
        think = (
            "First reason inside <think>...</think>, then give the final answer."
            if self.require_think
            else "You may reason step by step (for example inside <think>...</think>) first."
        )
        return (
            "Solve the math problem. "
            f"{think} End every reply with exactly one final answer written as \\boxed{{...}}, "
            "for example \\boxed{42}. (<answer>42</answer> is accepted too.) Give a single "
            "answer: a reply with several different answers counts as no answer."
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self.episode_seed = episode_seed_from(self.np_random)
        (u,) = derive_uniforms(self.episode_seed, "double-check-math", count=1)
        if self.problems is not None:
            self.problem = self.problems[int(u * len(self.problems))]
        else:
            levels = DIFFICULTIES if self.difficulty == "mixed" else (self.difficulty,)
            level = levels[int(u * len(levels))]
            self.problem = generate_problem(derive_seed(self.episode_seed, "problem"), level)
        self.turn = 0
        self.answers = []
        self.correct = []
        self.formatted_replies = 0
        observation = f"{self.problem.question}\n\nPut your final answer in \\boxed{{}}."
        return self.observation_text(observation), self.reset_info(
            **self._state_info(), difficulty=self.problem.difficulty, seed=self.episode_seed
        )

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.check_reset()
        if self.turn >= 2:
            raise RuntimeError("the episode is over: call reset() before step()")
        self.turn += 1
        error = self.reply_error(action)
        if error is None:
            parsed = parse_boxed_answer(action)
            answer, error = parsed.answer, parsed.error
            well_formatted = parsed.well_formatted and (
                not self.require_think or action.lstrip().lower().startswith("<think>")
            )
        else:
            answer, well_formatted = None, False
        right = answer is not None and math_answer_matches(answer, self.problem.answer)
        self.answers.append(answer)
        self.correct.append(right)
        components = self.zero_components()
        previous_share = self.formatted_replies / (self.turn - 1) if self.turn > 1 else 0.0
        self.formatted_replies += well_formatted
        components["format"] = self.formatted_replies / self.turn - previous_share
        note = f"Your reply had no readable final answer: {error}. " if error else ""
        terminated = self.turn == 2
        info = self.step_info(components, invalid_action=error is not None, **self._state_info())
        if not terminated:
            return (
                self.observation_text(note + self.followup_message),
                self.weighted_reward(components),
                False,
                False,
                info,
            )
        components["correct"] = float(right)
        first, final = self.correct
        info["reward_components"] = dict(components)
        info["outcome"] = "correct" if final else "incorrect"
        info["metrics"] = {
            "first_correct": float(first),
            "final_correct": float(final),
            "flip_right_to_wrong": float(first and not final),
            "flip_wrong_to_right": float(final and not first),
            "format_rate": self.formatted_replies / self.turn,
        }
        verdict = "correct" if final else "not correct"
        message = f"{note}Your final answer is {verdict}. The episode is over."
        return self.observation_text(message), self.weighted_reward(components), True, False, info

    def render_text(self) -> str:
        lines = [f"Problem ({self.problem.difficulty}): {self.problem.question}"]
        for index, (answer, right) in enumerate(
            zip(self.answers, self.correct, strict=True), start=1
        ):
            lines.append(f"Answer {index}: {answer} ({'right' if right else 'wrong'})")
        return "\n".join(lines) + "\n"

    def _state_info(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "question": self.problem.question,
            "reference_answer": self.problem.answer,
            "answers": list(self.answers),
        }

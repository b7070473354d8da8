"""LLMReverseText-v0: reverse a text character by character (one turn, LCS-scored)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llm_gym.envs.base import TextEnv
from llm_gym.envs.card import EnvCard
from llm_gym.games.text_corpus import LENGTHS, generate_text
from llm_gym.parsing import parse_answer
from llm_gym.scoring import lcs_ratio
from llm_gym.seeding import derive_seed, derive_uniforms, episode_seed_from
from llm_gym.validation import check_choice, check_int_at_least

ANSWER_TAG = "reversed_text"
FORMAT_WEIGHT = 0.2
LENGTH_CHOICES = (*LENGTHS, "mixed")


class ReverseTextEnv(TextEnv):
    """Reverse a text character by character.

    ## Description
    Each episode shows one text; the model must write it backwards, character by character
    (``"abc def"`` becomes ``"fed cba"``). Texts come from a seeded generator that ships with
    the package (phrases, sentences or paragraphs), from a list given by the user, or from a
    Hugging Face data set loaded when asked (``dataset=``).

    ## Action Space
    ``Text``: the model's whole reply. The answer is read from
    ``<reversed_text>...</reversed_text>`` (surrounding whitespace stripped), optionally after
    reasoning in ``<think>...</think>`` (required when ``require_think``). Several different
    ``<reversed_text>`` answers count as no answer.

    ## Observation Space
    ``Text``: the instruction and the text at reset; a one-line verdict after the reply.

    ## Rewards
    - ``lcs`` (weight 1): ``2 * LCS(answer, truth) / (len(answer) + len(truth))``, the exact
      longest-common-subsequence ratio (bit-parallel, so huge replies stay cheap); 0 without an
      answer. 1 only for the exact reversal; padding the answer lowers it.
    - ``format`` (weight 0.2): 1 when the reply is exactly (optional think) + one answer tag.

    ## Episode End
    Terminated after the one reply. ``outcome`` is ``"correct"`` for an exact reversal, else
    ``"incorrect"``.

    ## Arguments
    - ``length``: ``"phrase"``, ``"sentence"``, ``"paragraph"`` or ``"mixed"`` (drawn per episode)
      for the built-in generator.
    - ``texts``: a sequence of texts to draw from instead (printable ASCII).
    - ``dataset``, ``dataset_split``, ``text_column``: a Hugging Face data set (Hub name, saved
      folder or local file) to load texts from (needs ``llm-gym[train]``), e.g.
      ``dataset="PrimeIntellect/Reverse-Text-RL"``.
    - ``max_text_chars``: longer data-set texts are skipped.
    - ``require_think``: the format needs a ``<think>`` block.
    - ``render_mode``: ``None`` or ``"ansi"``.

    ## Info
    At reset: ``text``, ``length``, ``seed`` and ``reference_answer`` (the reversal: for scripted
    policies and evaluation, never shown to the model). After the reply: ``answer``, ``lcs``,
    ``outcome``, ``metrics`` (``lcs``, ``exact``, ``answer_chars``).

    ## Version History
    - v0: initial version.
    """

    card = EnvCard(
        settings={level: {"length": level} for level in LENGTHS},
        success_outcomes=("correct",),
        teacher="oracle",
    )

    def __init__(
        self,
        length: str = "mixed",
        texts: Sequence[str] | None = None,
        dataset: str | None = None,
        dataset_split: str = "train",
        text_column: str = "prompt",
        max_text_chars: int = 2000,
        require_think: bool = False,
        render_mode: str | None = None,
    ):
        self.length = check_choice("length", length, LENGTH_CHOICES)
        self.max_text_chars = check_int_at_least("max_text_chars", max_text_chars, 1)
        if not isinstance(require_think, bool):
            raise ValueError(f"require_think must be a bool, got {require_think!r}")
        self.require_think = require_think
        if texts is not None and dataset is not None:
            raise ValueError("give texts or dataset, not both")
        if dataset is not None:
            from llm_gym.hf_datasets import load_texts

            texts = load_texts(
                dataset, split=dataset_split, column=text_column, max_chars=max_text_chars
            )
        self.texts: tuple[str, ...] | None = None
        if texts is not None:
            self.texts = tuple(texts)
            if not self.texts or not all(isinstance(t, str) and t.strip() for t in self.texts):
                raise ValueError("texts must be a non-empty sequence of non-blank strings")
            if max(len(t) for t in self.texts) > self.max_text_chars:
                raise ValueError(f"every text must have at most {max_text_chars} characters")
        super().__init__(
            {"lcs": 1.0, "format": FORMAT_WEIGHT},
            render_mode=render_mode,
            best_component_totals={"lcs": 1.0, "format": 1.0},
        )
        self.text = ""
        self.episode_length = ""
        self.episode_seed = 0
        self.done = False
        self.answer: str | None = None
        self.score: float | None = None

    @property
    def reference_answer(self) -> str:
        return self.text[::-1]

    @property
    def system_prompt(self) -> str:
        think = (
            "First reason inside <think>...</think>, then give the answer."
            if self.require_think
            else "You may reason inside <think>...</think> first."
        )
        return (
            "Reverse the text you are given character by character: the last character comes "
            "first, and every space and punctuation mark is kept. "
            f"{think} Reply with the reversed text inside <reversed_text>...</reversed_text>, "
            "for example: <reversed_text>olleh</reversed_text> for the text 'hello'."
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self.episode_seed = episode_seed_from(self.np_random)
        (u,) = derive_uniforms(self.episode_seed, "reverse-text", count=1)
        if self.texts is not None:
            self.episode_length = "data"
            self.text = self.texts[int(u * len(self.texts))].strip()
        else:
            lengths = tuple(LENGTHS) if self.length == "mixed" else (self.length,)
            self.episode_length = lengths[int(u * len(lengths))]
            self.text = generate_text(derive_seed(self.episode_seed, "text"), self.episode_length)
        self.done = False
        self.answer = None
        self.score = None
        observation = f"Reverse this text character by character:\n\n{self.text}"
        return self.observation_text(observation), self.reset_info(
            text=self.text,
            length=self.episode_length,
            seed=self.episode_seed,
            reference_answer=self.reference_answer,
        )

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.check_reset()
        if self.done:
            raise RuntimeError("the episode is over: call reset() before step()")
        self.done = True
        components = self.zero_components()
        error = self.reply_error(action)
        if error is None:
            parsed = parse_answer(action, ANSWER_TAG, require_think=self.require_think)
            answer, error, well_formatted = parsed.answer, parsed.error, parsed.well_formatted
        else:
            answer, well_formatted = None, False
        self.answer = answer
        self.score = lcs_ratio(answer, self.reference_answer) if answer is not None else 0.0
        components["lcs"] = self.score
        components["format"] = float(well_formatted)
        exact = answer == self.reference_answer
        outcome = "correct" if exact else "incorrect"
        if error is not None:
            message = f"Invalid reply: {error}. The episode is over; score 0."
        else:
            message = f"Your reversal matches {self.score:.0%} of the characters (LCS ratio)."
        info = self.step_info(
            components,
            invalid_action=error is not None,
            answer=answer,
            lcs=self.score,
            outcome=outcome,
            metrics={
                "lcs": self.score,
                "exact": float(exact),
                "answer_chars": len(answer) if answer is not None else 0,
            },
        )
        return self.observation_text(message), self.weighted_reward(components), True, False, info

    def render_text(self) -> str:
        lines = [f"Text ({self.episode_length}): {self.text}"]
        if self.done:
            lines.append(f"Answer: {self.answer}")
            lines.append(f"LCS ratio: {self.score:.3f}")
        return "\n".join(lines) + "\n"

"""Conformance checks for any text env: ``check_text_env(env_id)`` returns one row per check.

Beyond Gymnasium's ``check_env``, the checks hold an env to the text-env contract of
``llm_gym.TextEnv``: Text spaces, determinism in this and another process, no global RNG, the
info contract, fresh infos, rewards equal to their weighted components, hostile replies,
copies mid-episode, resets, vector envs, and the score range of scripted and no-op players.

>>> from llm_gym.conformance import check_text_env
>>> report = check_text_env("LLMTicTacToe-v0", only=["info_contract", "no_global_rng"])
>>> report.passed
True
"""

from llm_gym.conformance.report import CheckResult, ConformanceReport, Status
from llm_gym.conformance.runner import CHECKS, check_text_env

__all__ = ["CHECKS", "CheckResult", "ConformanceReport", "Status", "check_text_env"]

"""Adapters that turn llm_gym environments into LLM chat rollouts for evaluation and training.

This package imports ``llm_gym``; ``llm_gym`` never imports it.
"""

from adapters.records import EpisodeRecord, TurnRecord
from adapters.rollout import run_episode, run_episode_sync, run_episodes

__all__ = ["EpisodeRecord", "TurnRecord", "run_episode", "run_episode_sync", "run_episodes"]

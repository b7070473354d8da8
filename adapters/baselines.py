"""Classic-RL baselines: stable-baselines3 / sb3-contrib agents on the numeric view of a text env.

Training steps the text env itself through :class:`llm_gym.wrappers.NumericView`, so the
opponent, seeding and rewards are exactly those an LLM meets. Evaluation plays the trained
agent through the same chat rollout and summary code as ``llm-gym eval``: the agent is wrapped
as a chat policy that reads the numeric view of the env it is playing and replies with the
canonical move text, so classic-RL and LLM figures land in one table.

>>> config = BaselineConfig(steps=20_000)                       # doctest: +SKIP
>>> model = train_baseline(config, progress_bar=False)          # doctest: +SKIP
>>> records = evaluate_baseline(model, "LLMTicTacToe-v0", setting="optimal", games=100)
...                                                             # doctest: +SKIP

stable-baselines3 and sb3-contrib come with the ``sb3`` extra (``pip install "llm-gym[sb3]"``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

import llm_gym  # noqa: F401  (registers the envs)
from adapters.policies.base import PolicyReply
from adapters.records import EpisodeRecord, Message
from adapters.rollout import run_episode
from llm_gym.envs.describe import describe
from llm_gym.envs.tictactoe import OPPONENT_SETTINGS  # noqa: F401  (old import path)
from llm_gym.wrappers import DiscreteStructure, NumericView

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import VecEnv

ALGORITHMS = ("maskable_ppo", "ppo", "dqn")


def _opponent(low: float, high: float, **extra: Any) -> dict[str, Any]:
    return {"min_random_move_prob": low, "max_random_move_prob": high, **extra}


DEFAULT_TRAINING_ENVS: tuple[dict[str, Any], ...] = (
    _opponent(0.0, 0.0),
    _opponent(0.0, 0.0, model_plays="O"),
    _opponent(0.0, 0.0),
    _opponent(0.0, 0.3),
    _opponent(0.0, 0.3, model_plays="O"),
    _opponent(0.0, 1.0),
    _opponent(1.0, 1.0),
    _opponent(1.0, 1.0, model_plays="O"),
)
"""Keyword arguments of each tic-tac-toe training env (cycled over ``n_envs``): heavy on the
optimal opponent, which punishes every mistake, with enough weak opponents to learn to convert
their errors into wins, and extra games as O (the side with the traps to avoid)."""

_PPO_HYPERPARAMS: dict[str, Any] = {
    "n_steps": 64,
    "batch_size": 512,
    "n_epochs": 10,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "ent_coef": ("linear", 0.1, 0.0),
    "learning_rate": ("linear", 1e-3),
    "policy_kwargs": {"net_arch": [128, 128]},
}

DEFAULT_HYPERPARAMS: dict[str, dict[str, Any]] = {
    "maskable_ppo": _PPO_HYPERPARAMS,
    "ppo": _PPO_HYPERPARAMS,
    "dqn": {
        "learning_rate": 5e-4,
        "buffer_size": 100_000,
        "learning_starts": 5_000,
        "batch_size": 256,
        "gamma": 0.99,
        "train_freq": 4,
        "target_update_interval": 2_000,
        "exploration_fraction": 0.3,
        "exploration_final_eps": 0.02,
        "policy_kwargs": {"net_arch": [128, 128]},
    },
}
"""Per-algorithm keyword arguments. ``("linear", x)`` is a learning rate decaying from x to 0;
an ``ent_coef`` of ``("linear", start, end)`` moves the entropy bonus from start to end.

The PPO entropy bonus starts high on purpose: with a small constant bonus the policy collapsed
early onto "take the opposite corner" in some O positions and, once it never sampled the
blocking move, had no advantage signal left to learn it (3-4% losses to the optimal player
after 0.5 M steps); starting at 0.1 and decaying to 0 removed those losses."""


@dataclass
class BaselineConfig:
    """What to train.

    Args:
        env_id: a registered text env whose unwrapped env implements ``DiscreteStructure``.
        algo: ``"maskable_ppo"`` (sb3-contrib, masks illegal moves), ``"ppo"`` or ``"dqn"``
            (stable-baselines3; illegal moves get the text env's invalid-reply penalty).
        steps: environment steps (model replies) to train for.
        n_envs: parallel training envs (a ``DummyVecEnv``: the envs are cheap, the net is small;
            many envs per step amortise the policy's forward pass).
        seed: seeds the algorithm and the training envs.
        env_kwargs: keyword arguments for every training env.
        training_envs: keyword arguments per training env, cycled over ``n_envs`` and applied
            over ``env_kwargs`` (the default mixes tic-tac-toe opponents; empty for none).
        hyperparams: overrides of :data:`DEFAULT_HYPERPARAMS` for ``algo``.
        torch_threads: CPU threads for torch (small nets train fastest on one).
    """

    env_id: str = "LLMTicTacToe-v0"
    algo: str = "maskable_ppo"
    steps: int = 1_000_000
    n_envs: int = 32
    seed: int = 0
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    training_envs: tuple[dict[str, Any], ...] = DEFAULT_TRAINING_ENVS
    hyperparams: dict[str, Any] = field(default_factory=dict)
    torch_threads: int = 1

    def __post_init__(self) -> None:
        if self.algo not in ALGORITHMS:
            raise ValueError(f"algo must be one of {', '.join(ALGORITHMS)}, got {self.algo!r}")
        if self.steps < 1 or self.n_envs < 1:
            raise ValueError("steps and n_envs must be >= 1")

    def env_kwargs_for(self, index: int) -> dict[str, Any]:
        """Keyword arguments of training env ``index``."""
        kwargs = dict(self.env_kwargs)
        if self.training_envs:
            kwargs.update(self.training_envs[index % len(self.training_envs)])
        return kwargs

    def algo_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the algorithm, with the schedules resolved."""
        merged = {**DEFAULT_HYPERPARAMS[self.algo], **self.hyperparams}
        rate = merged.get("learning_rate")
        if _is_schedule(rate):
            merged["learning_rate"] = _linear_schedule(float(rate[1]))
        entropy = merged.get("ent_coef")
        if _is_schedule(entropy):
            merged["ent_coef"] = float(entropy[1])
        return merged

    def entropy_schedule(self) -> tuple[float, float] | None:
        """``(start, end)`` of a linear entropy-bonus schedule, if ``ent_coef`` asks for one."""
        entropy = {**DEFAULT_HYPERPARAMS[self.algo], **self.hyperparams}.get("ent_coef")
        return (float(entropy[1]), float(entropy[2])) if _is_schedule(entropy) else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "env_id": self.env_id,
            "algo": self.algo,
            "steps": self.steps,
            "n_envs": self.n_envs,
            "seed": self.seed,
            "env_kwargs": dict(self.env_kwargs),
            "training_envs": [dict(kwargs) for kwargs in self.training_envs],
            "hyperparams": {**DEFAULT_HYPERPARAMS[self.algo], **self.hyperparams},
            "torch_threads": self.torch_threads,
        }


def _is_schedule(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) >= 2 and value[0] == "linear"


def _linear_schedule(initial: float) -> Callable[[float], float]:
    def schedule(progress_remaining: float) -> float:
        return initial * progress_remaining

    return schedule


def require_sb3() -> None:
    """Raise an ``ImportError`` naming the extra to install when SB3 is missing."""
    try:
        import sb3_contrib  # noqa: F401
        import stable_baselines3  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "classic-RL baselines need stable-baselines3 and sb3-contrib: "
            'pip install "llm-gym[sb3]"'
        ) from error


def algorithm_class(algo: str) -> type[BaseAlgorithm]:
    require_sb3()
    if algo == "maskable_ppo":
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    if algo == "ppo":
        from stable_baselines3 import PPO

        return PPO
    if algo == "dqn":
        from stable_baselines3 import DQN

        return DQN
    raise ValueError(f"algo must be one of {', '.join(ALGORITHMS)}, got {algo!r}")


def make_training_env(config: BaselineConfig) -> VecEnv:
    """``n_envs`` monitored numeric views of the text env, seeded from ``config.seed``."""
    require_sb3()
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    def factory(index: int) -> Callable[[], gym.Env]:
        kwargs = config.env_kwargs_for(index)
        return lambda: Monitor(
            NumericView(gym.make(config.env_id, disable_env_checker=True, **kwargs))
        )

    vec_env = DummyVecEnv([factory(i) for i in range(config.n_envs)])
    vec_env.seed(config.seed)
    return vec_env


def train_baseline(
    config: BaselineConfig,
    *,
    progress_bar: bool = True,
    save_path: str | Path | None = None,
    verbose: int = 0,
) -> BaseAlgorithm:
    """Train ``config.algo`` on the numeric view of ``config.env_id`` and optionally save it.

    Returns:
        The trained model; ``model.llm_gym_train_seconds`` holds the wall time of ``learn``.
    """
    require_sb3()
    import torch

    torch.set_num_threads(config.torch_threads)
    vec_env = make_training_env(config)
    model = algorithm_class(config.algo)(
        "MlpPolicy",
        vec_env,
        seed=config.seed,
        verbose=verbose,
        device="cpu",
        **config.algo_kwargs(),
    )
    started = time.perf_counter()
    callbacks = []
    schedule = config.entropy_schedule()
    if schedule is not None:
        callbacks.append(_entropy_callback(*schedule))
    model.learn(total_timesteps=config.steps, progress_bar=progress_bar, callback=callbacks)
    model.llm_gym_train_seconds = time.perf_counter() - started  # type: ignore[attr-defined]
    vec_env.close()
    if save_path is not None:
        Path(save_path).parent.mkdir(parents=True, exist_ok=True)
        model.save(save_path)
    return model


def _entropy_callback(start: float, end: float) -> Any:
    """Moves ``model.ent_coef`` linearly from ``start`` to ``end`` over the training run."""
    from stable_baselines3.common.callbacks import BaseCallback

    class LinearEntropy(BaseCallback):
        def _on_rollout_start(self) -> None:
            progress = 1.0 - self.model._current_progress_remaining
            self.model.ent_coef = start + (end - start) * progress

        def _on_step(self) -> bool:
            return True

    return LinearEntropy()


def load_baseline(path: str | Path, algo: str) -> BaseAlgorithm:
    """Load a model saved by :func:`train_baseline` (CPU)."""
    return algorithm_class(algo).load(path, device="cpu")


class NumericAgentPolicy:
    """A chat policy that plays a classic-RL agent in a text env.

    It reads the numeric view of ``env`` (the env the rollout steps, so the agent sees the
    state the reply will act on), picks an action and replies with the env's canonical text
    for it. With ``use_mask`` the agent only chooses among legal actions (MaskablePPO).

    Args:
        act: ``(observation, mask) -> action``; see :func:`sb3_act`.
        env: the env the rollout plays; its ``unwrapped`` env implements ``DiscreteStructure``.
        name: recorded as the policy name.
    """

    def __init__(
        self,
        act: Callable[[np.ndarray, np.ndarray], int],
        env: gym.Env,
        name: str,
    ):
        structure = env.unwrapped
        if not isinstance(structure, DiscreteStructure):
            raise TypeError(f"{type(structure).__name__} has no discrete structure")
        self.structure: DiscreteStructure = structure
        self.act = act
        self.name = name

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        action = self.act(self.structure.numeric_observation(), self.structure.action_mask())
        return PolicyReply(text=self.structure.action_text(int(action)))


def sb3_act(model: BaseAlgorithm, *, deterministic: bool = True) -> Callable[..., int]:
    """An ``(observation, mask) -> action`` function for a trained SB3 / sb3-contrib model."""
    masked = type(model).__name__ == "MaskablePPO"

    def act(observation: np.ndarray, mask: np.ndarray) -> int:
        if masked:
            action, _ = model.predict(observation, deterministic=deterministic, action_masks=mask)
        else:
            action, _ = model.predict(observation, deterministic=deterministic)
        return int(action)

    return act


def random_legal_act(seed: int) -> Callable[[np.ndarray, np.ndarray], int]:
    """A uniformly random legal action (the random-policy reference), seeded."""
    rng = np.random.default_rng(seed)

    def act(observation: np.ndarray, mask: np.ndarray) -> int:
        legal = np.flatnonzero(mask)
        return int(rng.choice(legal)) if legal.size else 0

    return act


def setting_env_kwargs(
    env_id: str, setting: str, base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``base`` with the env arguments of a setting the env declares (its ``card.settings``).

    Raises:
        ValueError: the env declares no such setting.
    """
    return {**dict(base or {}), **describe(env_id).card.setting(setting)}


def evaluate_agent(
    act: Callable[[np.ndarray, np.ndarray], int],
    env_id: str,
    *,
    name: str,
    games: int,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    on_record: Callable[[EpisodeRecord], None] | None = None,
) -> list[EpisodeRecord]:
    """Play ``games`` episodes (env seeds ``seed .. seed + games - 1``) with the chat rollout.

    The records are those ``llm-gym eval`` writes, so :func:`adapters.summary.summarize` gives
    the same outcome rates and reward statistics for a classic-RL agent as for an LLM.
    """
    kwargs = dict(env_kwargs or {})
    env = gym.make(env_id, **kwargs)
    policy = NumericAgentPolicy(act, env, name)

    async def play() -> list[EpisodeRecord]:
        records = []
        for game in range(games):
            record = await run_episode(env_id, policy, seed=seed + game, env_kwargs=kwargs, env=env)
            records.append(record)
            if on_record is not None:
                on_record(record)
        return records

    try:
        return asyncio.run(play())
    finally:
        env.close()


def evaluate_baseline(
    model: BaseAlgorithm,
    env_id: str,
    *,
    setting: str,
    games: int = 1000,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    name: str | None = None,
    on_record: Callable[[EpisodeRecord], None] | None = None,
) -> list[EpisodeRecord]:
    """Evaluate a trained model (deterministic actions) in a setting the env declares."""
    return evaluate_agent(
        sb3_act(model),
        env_id,
        name=name or type(model).__name__,
        games=games,
        seed=seed,
        env_kwargs=setting_env_kwargs(env_id, setting, env_kwargs),
        on_record=on_record,
    )

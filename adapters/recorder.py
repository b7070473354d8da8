"""One player's episode as it happens, turned into :class:`~adapters.records.EpisodeRecord`.

Every loop that plays an env with a chat policy (the eval rollout, a two-player match, a training
rollout) feeds the same events to an :class:`EpisodeRecorder`, so their records agree on what a
turn holds, how rewards add up and which outcome an unfinished episode gets:

>>> recorder = EpisodeRecorder("Echo-v0", seed=3, policy="me")
>>> recorder.start({"system_prompt": "Echo.", "reward_weights": {"correct": 1.0}})
>>> recorder.message("Say 3.", "user")
>>> recorder.reply("3")
>>> turn = recorder.step("done", 1.0, {"reward_components": {"correct": 1.0}, "outcome": "correct"})
>>> record = recorder.finish("done", terminated=True, truncated=False)
>>> record.outcome, record.total_reward, [m["role"] for m in record.messages]
('correct', 1.0, ['system', 'user', 'assistant'])
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from adapters.policies.base import PolicyReply
from adapters.records import EpisodeRecord, Message, TurnRecord

INFO_KEYS_SKIPPED_IN_TURNS = (
    "system_prompt",
    "tools",
    "reward_components",
    "role",
    "reward_weights",
)
"""Info keys a turn record leaves out: the prompt and tools (in the messages), the components
(in the turn's own field), the role (the turn's ``role``) and the weights (in the episode)."""


class EpisodeRecorder:
    """Builds the record of one player's episode from its events, in order.

    ``start(info)`` once, then for every turn ``message`` (what the policy is shown, when it is
    shown), ``reply`` and ``step``; rewards that reach the player between its turns go to
    :meth:`credit`; :meth:`finish` returns the record.

    Args:
        env_id: recorded as the record's ``env_id``.
        seed, rollout, setting: the episode's identity in a run.
        policy: the policy's name.
        env_kwargs: the env arguments, for the record.
    """

    def __init__(
        self,
        env_id: str,
        *,
        seed: int,
        policy: str,
        rollout: int = 0,
        env_kwargs: Mapping[str, Any] | None = None,
        setting: str | None = None,
    ):
        self.env_id = env_id
        self.seed = seed
        self.rollout = rollout
        self.policy = policy
        self.env_kwargs = dict(env_kwargs or {})
        self.setting = setting
        self.started = time.perf_counter()
        self.messages: list[Message] = []
        self.turns: list[TurnRecord] = []
        self.reward_weights: dict[str, float] = {}
        self.totals: dict[str, float] = {}
        self.last_info: Mapping[str, Any] = {}
        self._reply: PolicyReply | None = None
        self._latency = 0.0

    def start(self, info: Mapping[str, Any]) -> None:
        """The env's info at reset: the system prompt and the reward weights."""
        self.messages.append({"role": "system", "content": info["system_prompt"]})
        self.reward_weights = dict(info.get("reward_weights", {}))
        self.totals = dict.fromkeys(self.reward_weights, 0.0)
        self.last_info = info

    def message(self, content: str, role: str = "user") -> None:
        """A message the policy is shown (an observation as a user or tool message)."""
        self.messages.append({"role": role, "content": content})

    def reply(self, reply: PolicyReply | str, latency_s: float = 0.0) -> None:
        """The policy's reply (a :class:`PolicyReply` or its text) and how long it took."""
        self._reply = reply if isinstance(reply, PolicyReply) else PolicyReply(text=reply)
        self._latency = latency_s
        self.messages.append(self._reply.assistant_message())

    def step(self, observation: str, reward: float, info: Mapping[str, Any]) -> TurnRecord:
        """What the env made of the last reply: the next observation, the reward and the info."""
        if self._reply is None:
            raise RuntimeError("step() needs a reply() first")
        components = dict(info.get("reward_components", {}))
        for name, value in components.items():
            self.totals[name] = self.totals.get(name, 0.0) + float(value)
        turn = TurnRecord(
            action=self._reply.text,
            observation=observation,
            role=info.get("role", "user"),
            reward=float(reward),
            reward_components=components,
            invalid_action=bool(info.get("invalid_action", False)),
            latency_s=self._latency,
            prompt_tokens=self._reply.prompt_tokens,
            completion_tokens=self._reply.completion_tokens,
            info={k: v for k, v in info.items() if k not in INFO_KEYS_SKIPPED_IN_TURNS},
        )
        self.turns.append(turn)
        self.last_info = info
        self._reply = None
        return turn

    def credit(self, reward: float, info: Mapping[str, Any]) -> None:
        """A reward that reaches the player outside its own turn (e.g. the result of a game its
        opponent ends): added to its last turn, so the turn rewards still sum to the total."""
        components = info.get("reward_components", {})
        for name, value in components.items():
            self.totals[name] = self.totals.get(name, 0.0) + float(value)
        if self.turns:
            last = self.turns[-1]
            last.reward += float(reward)
            for name, value in components.items():
                last.reward_components[name] = last.reward_components.get(name, 0.0) + value
        self.last_info = info

    def finish(
        self,
        final_observation: str,
        *,
        terminated: bool,
        truncated: bool,
        error: str | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> EpisodeRecord:
        """The record. ``info`` is the episode's last info (default: the last one seen).

        An episode that ends without an ``outcome`` in its info is ``"truncated"`` when it was
        truncated (by the env or by the caller) and has none otherwise; a failed episode
        (``error``) keeps its chat but no outcome, metrics or final observation.
        """
        info = self.last_info if info is None else info
        outcome = info.get("outcome", "truncated" if truncated else None)
        return EpisodeRecord(
            env_id=self.env_id,
            env_kwargs=self.env_kwargs,
            seed=self.seed,
            rollout=self.rollout,
            policy=self.policy,
            messages=self.messages,
            turns=self.turns,
            final_observation=final_observation if error is None else "",
            total_reward=float(sum(t.reward for t in self.turns)),
            reward_components=self.totals,
            reward_weights=self.reward_weights,
            outcome=None if error else outcome,
            metrics=dict(info.get("metrics", {})) if error is None else {},
            terminated=bool(terminated),
            truncated=bool(truncated),
            wall_time_s=time.perf_counter() - self.started,
            error=error,
            setting=self.setting,
        )


def policy_name(policy: Any) -> str:
    """The name a record gives a policy."""
    return getattr(policy, "name", type(policy).__name__)

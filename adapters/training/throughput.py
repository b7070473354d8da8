"""Training tokens per second, measured by a ``transformers`` Trainer callback.

The Trainer counts the tokens it feeds the model (``include_num_input_tokens_seen``); the
callback times optimizer steps after a warm-up, in wall-clock and in this process's CPU time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from transformers import TrainerCallback


@dataclass(frozen=True)
class Throughput:
    steps: int
    tokens: int
    wall_s: float
    cpu_s: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def tokens_per_cpu_s(self) -> float:
        return self.tokens / self.cpu_s if self.cpu_s > 0 else float("nan")


class ThroughputCallback(TrainerCallback):
    """Times the optimizer steps after the first ``warmup_steps`` of a ``train()`` call.

    Needs ``include_num_input_tokens_seen`` set in the training arguments.
    """

    def __init__(self, warmup_steps: int = 0) -> None:
        self.warmup_steps = warmup_steps
        self._steps_seen = 0
        self._start: tuple[float, float, int] | None = None
        self._last: tuple[float, float, int] | None = None

    def _mark(self, tokens: int) -> tuple[float, float, int]:
        return time.perf_counter(), time.process_time(), tokens

    def on_train_begin(self, args, state, control, **kwargs):
        self._steps_seen = 0
        self._start = self._mark(state.num_input_tokens_seen) if self.warmup_steps == 0 else None
        self._last = None

    def on_step_end(self, args, state, control, **kwargs):
        self._steps_seen += 1
        mark = self._mark(state.num_input_tokens_seen)
        if self._steps_seen == self.warmup_steps:
            self._start = mark
        elif self._steps_seen > self.warmup_steps:
            self._last = mark

    def result(self) -> Throughput | None:
        """The timed steps (``None`` when training ended within the warm-up)."""
        if self._start is None or self._last is None:
            return None
        (wall0, cpu0, tokens0), (wall1, cpu1, tokens1) = self._start, self._last
        return Throughput(
            self._steps_seen - self.warmup_steps, tokens1 - tokens0, wall1 - wall0, cpu1 - cpu0
        )

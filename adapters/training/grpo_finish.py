"""How a GRPO run ends, in text mode (``train-grpo``) and tool mode (``train-grpo-tools``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TypeVar

from adapters.training.plots import plot_grpo_curves
from adapters.training.sft import save_model_for_inference, write_run_result

Result = TypeVar("Result")


def finish_grpo_run(
    trainer: Any,
    tokenizer: Any,
    output_dir: Path,
    *,
    started: float,
    result_type: type[Result],
    result_file: str,
    **fields: Any,
) -> Result:
    """Save the trained model for inference and the curves, then write the run's result file.

    Args:
        trainer: the trained ``GRPOTrainer``.
        started: ``time.perf_counter()`` when the run began (the result's ``wall_time_s``).
        result_type: a dataclass with ``output_dir``, ``steps``, ``wall_time_s``, ``plots`` and
            ``last_log`` (the last training log, the one with ``reward``) fields; ``fields``
            fill its others.
        result_file: the JSON file written in ``output_dir``.
    """
    save_model_for_inference(trainer.model, tokenizer, output_dir)
    plots = plot_grpo_curves(trainer.state.log_history, output_dir)
    train_logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    result = result_type(
        output_dir=output_dir,
        steps=trainer.state.global_step,
        wall_time_s=time.perf_counter() - started,
        plots=plots,
        last_log=train_logs[-1] if train_logs else {},
        **fields,
    )
    write_run_result(output_dir / result_file, result)
    return result

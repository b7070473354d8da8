"""Rescore a saved run with the current env code: same replies, new rewards, new summary.

No model is called: every finished row is re-stepped from its saved replies
(:func:`adapters.replay.restep`) and the run's summary is computed again. The new run folder
has the usual files (``results.jsonl``, ``metadata.json`` with a ``rescored`` entry,
``summary.json``), so ``llm-gym show``, ``replay`` and charts work on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from adapters.evaluation import (
    METADATA_FILE,
    RESULTS_FILE,
    OutputExistsError,
    package_versions,
    write_summary_file,
)
from adapters.records import EpisodeRecord, append_record
from adapters.replay import restep_async, saved_rows
from adapters.rollout import run_sync
from adapters.summary import SUCCESS_OUTCOMES, Summary, summarize

REWARD_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RowChange:
    """A row whose score or outcome is not what was saved."""

    row: int
    record: EpisodeRecord
    saved_reward: float
    new_reward: float
    saved_outcome: str | None
    new_outcome: str | None
    note: str = ""


@dataclass
class RescoreResult:
    """The saved and the rescored rows, their summaries per setting, and the rows that changed."""

    env_id: str
    saved: list[EpisodeRecord]
    rescored: list[EpisodeRecord]
    saved_summaries: dict[str | None, Summary]
    new_summaries: dict[str | None, Summary]
    changes: list[RowChange]
    output: Path


def _settings_order(metadata: dict[str, Any], records: Sequence[EpisodeRecord]) -> list[str | None]:
    labels = [arm.get("label") for arm in metadata.get("settings", [])]
    for record in records:
        if record.setting not in labels:
            labels.append(record.setting)
    return labels


def summarize_by_setting(
    records: Sequence[EpisodeRecord], labels: Sequence[str | None], success: Sequence[str]
) -> dict[str | None, Summary]:
    summaries = {}
    for label in labels:
        done = [r for r in records if r.setting == label and r.error is None]
        if done:
            summaries[label] = summarize(done, success_outcomes=success)
    return summaries


def _change(row: int, saved: EpisodeRecord, new: EpisodeRecord) -> RowChange | None:
    note = new.error or ""
    if not note and len(new.turns) < len(saved.turns):
        note = f"the env ended after {len(new.turns)} of {len(saved.turns)} saved replies"
    same = (
        abs(saved.total_reward - new.total_reward) <= REWARD_TOLERANCE
        and saved.outcome == new.outcome
        and not note
    )
    if same:
        return None
    return RowChange(
        row, new, saved.total_reward, new.total_reward, saved.outcome, new.outcome, note
    )


def rescore_run(run_dir: Path, output: Path, *, overwrite: bool = False) -> RescoreResult:
    """Re-step every finished row of ``run_dir`` with the current env code into ``output``.

    Rows that had failed are copied as they are. A row whose env now asks for more replies
    than were saved cannot be finished without a model: it is written with ``error`` set and
    left out of the summary.

    Raises:
        FileNotFoundError: ``run_dir`` holds no ``results.jsonl``.
        OutputExistsError: ``output`` already holds results and ``overwrite`` is off.
        ValueError: ``output`` is ``run_dir``.
    """
    run_dir, output = Path(run_dir), Path(output)
    rows = list(saved_rows(run_dir))
    if output.resolve() == run_dir.resolve():
        raise ValueError("the output folder must differ from RUN_DIR: rescoring never edits a run")
    results = output / RESULTS_FILE
    if results.exists() and results.stat().st_size > 0 and not overwrite:
        raise OutputExistsError(f"{results} already holds results: pass --overwrite or another -o")
    meta_path = run_dir / METADATA_FILE
    metadata = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    started = time.perf_counter()

    async def rescore_all() -> list[EpisodeRecord]:
        return [
            record if record.error is not None else await restep_async(record) for _, record in rows
        ]

    rescored = run_sync(rescore_all())
    output.mkdir(parents=True, exist_ok=True)
    results.unlink(missing_ok=True)
    for record in rescored:
        append_record(results, record)
    saved = [record for _, record in rows]
    labels = _settings_order(metadata, saved)
    success = metadata.get("success_outcomes", SUCCESS_OUTCOMES)
    env_id = metadata.get("env_id") or (saved[0].env_id if saved else "")
    new_summaries = summarize_by_setting(rescored, labels, success)
    write_summary_file(output, env_id, rescored, new_summaries, time.perf_counter() - started)
    metadata["rescored"] = {
        "from": str(run_dir),
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
    }
    (output / METADATA_FILE).write_text(
        json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8"
    )
    changes = [
        change
        for (row, old), new in zip(rows, rescored, strict=True)
        if old.error is None and (change := _change(row, old, new)) is not None
    ]
    return RescoreResult(
        env_id,
        saved,
        rescored,
        summarize_by_setting(saved, labels, success),
        new_summaries,
        changes,
        output,
    )

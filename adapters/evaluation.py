"""Evaluation runs: many rollouts of one policy on one env, saved as they finish, resumable.

A run evaluates ``num_examples`` seeds (``seed_offset ..``) times ``rollouts_per_example``
rollouts, under one or more *settings* (labelled env-argument sets, e.g. opponent strengths).
Its folder holds:

- ``metadata.json``: the command, package versions, env id, settings, policy and sampling, and
  the context the policy was shown (:mod:`adapters.context`);
- ``results.jsonl``: one :class:`~adapters.records.EpisodeRecord` per line, appended and flushed
  as each rollout finishes;
- ``summary.json``: the summary of every setting (written at the end);
- ``errors.jsonl``: rollouts that failed after their retries, moved aside by ``--resume``;
- ``unreadable.jsonl``: lines of ``results.jsonl`` that held no record (torn by a kill, or not
  a record at all), moved aside by ``--resume`` and counted in the metadata;
- ``outcomes.png``: the optional outcome chart.

``resume`` finishes an interrupted run: it keeps every finished row, sets aside failed rows and
unreadable lines, and runs exactly the (setting, seed, rollout) rows still missing. It refuses
to mix runs: the metadata that shapes the results must match.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from adapters.context import DEFAULT_CONTEXT, check_context, with_context
from adapters.policies.base import ChatPolicy
from adapters.policies.factory import PolicySpec
from adapters.records import EpisodeRecord, append_record, load_records
from adapters.rollout import EpisodeJob, run_episodes, run_sync
from adapters.summary import SUCCESS_OUTCOMES, Summary, summarize

RESULTS_FILE = "results.jsonl"
METADATA_FILE = "metadata.json"
SUMMARY_FILE = "summary.json"
ERRORS_FILE = "errors.jsonl"
UNREADABLE_FILE = "unreadable.jsonl"
CHART_FILE = "outcomes.png"
IDENTITY_KEYS = (
    "env_id",
    "settings",
    "num_examples",
    "rollouts_per_example",
    "seed_offset",
    "policy",
    "context",
)
"""Metadata that must match for ``--resume`` (concurrency, output and chart may change)."""
LEGACY_IDENTITY = {"context": DEFAULT_CONTEXT}
"""What metadata written before an identity key existed means by leaving it out."""

RunKey = tuple[str | None, int, int]


class ResumeMismatchError(ValueError):
    """``--resume`` was asked for a folder whose run differs from the requested one."""


class OutputExistsError(FileExistsError):
    """The output folder already holds results and neither resume nor overwrite was asked."""


def parse_env_arg(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as a Python literal, else kept as a string.

    >>> parse_env_arg("max_random_move_prob=0")
    ('max_random_move_prob', 0)
    >>> parse_env_arg("model_plays=X")
    ('model_plays', 'X')
    >>> parse_env_arg("require_think=true")
    ('require_think', True)
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"expected key=value with a Python identifier as key, got {text!r}")
    raw = raw.strip()
    lowered = {"true": True, "false": False, "none": None, "null": None}
    if raw.lower() in lowered:
        return key, lowered[raw.lower()]
    try:
        return key, ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return key, raw


def parse_env_args(items: Iterable[str]) -> dict[str, Any]:
    return dict(parse_env_arg(item) for item in items)


@dataclass(frozen=True)
class EvalSetting:
    """One arm of a run: a label and the env arguments it adds to the shared ones."""

    label: str | None
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> EvalSetting:
        """``LABEL:key=value key=value`` (space-separated, shell quoting allowed).

        >>> EvalSetting.parse("weak:min_random_move_prob=0.5 model_plays=X")
        EvalSetting(label='weak', env_kwargs={'min_random_move_prob': 0.5, 'model_plays': 'X'})
        """
        label, sep, rest = text.partition(":")
        if not sep or not label.strip():
            raise ValueError(f"expected LABEL:key=value ..., got {text!r}")
        return cls(label.strip(), parse_env_args(shlex.split(rest)))


@dataclass(frozen=True)
class EvalConfig:
    """Everything that decides which rollouts a run makes and how they are produced."""

    env_id: str
    policy: PolicySpec
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    settings: Sequence[EvalSetting] = ()
    num_examples: int = 8
    rollouts_per_example: int = 1
    seed_offset: int = 0
    concurrency: int = 8
    success_outcomes: tuple[str, ...] = SUCCESS_OUTCOMES

    def __post_init__(self) -> None:
        if self.num_examples < 1:
            raise ValueError(f"num_examples must be >= 1, got {self.num_examples}")
        if self.rollouts_per_example < 1:
            raise ValueError(f"rollouts_per_example must be >= 1, got {self.rollouts_per_example}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if isinstance(self.seed_offset, bool) or not isinstance(self.seed_offset, int):
            raise ValueError(f"seed_offset must be an integer, got {self.seed_offset!r}")
        if self.seed_offset < 0:
            raise ValueError(
                f"seed_offset must be >= 0 (env seeds are non-negative), got {self.seed_offset}"
            )
        labels = [s.label for s in self.settings]
        if len(set(labels)) != len(labels):
            raise ValueError(f"setting labels must be unique, got {labels}")

    def arms(self) -> list[EvalSetting]:
        """The settings with the shared env arguments merged in (one unlabelled arm if none)."""
        if not self.settings:
            return [EvalSetting(None, dict(self.env_kwargs))]
        return [EvalSetting(s.label, {**self.env_kwargs, **s.env_kwargs}) for s in self.settings]

    def jobs(self) -> list[EpisodeJob]:
        """Every rollout of the run, examples first so early rows cover many seeds."""
        return [
            EpisodeJob(self.env_id, self.seed_offset + example, rollout, arm.env_kwargs, arm.label)
            for arm in self.arms()
            for example in range(self.num_examples)
            for rollout in range(self.rollouts_per_example)
        ]

    def identity(self) -> dict[str, Any]:
        """The metadata that must match for a resume, in JSON form."""
        return json.loads(
            json.dumps(
                {
                    "env_id": self.env_id,
                    "settings": [
                        {"label": arm.label, "env_kwargs": dict(arm.env_kwargs)}
                        for arm in self.arms()
                    ],
                    "num_examples": self.num_examples,
                    "rollouts_per_example": self.rollouts_per_example,
                    "seed_offset": self.seed_offset,
                    "policy": self.policy.as_dict(),
                    "context": self.policy.context,
                },
                default=str,
            )
        )


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("llm-gym", "gymnasium", "openai", "torch", "transformers", "llama-cpp-python"):
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def build_metadata(config: EvalConfig, command: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(command) if command is not None else sys.argv
    return {
        **config.identity(),
        "command": shlex.join(argv),
        "success_outcomes": list(config.success_outcomes),
        "concurrency": config.concurrency,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "platform": platform.platform(),
    }


def check_resume(saved: Mapping[str, Any], config: EvalConfig) -> None:
    """Raise :class:`ResumeMismatchError` naming every field where ``saved`` differs."""
    wanted = config.identity()
    saved = {**LEGACY_IDENTITY, **saved}
    differences = [
        f"  {key}: saved {json.dumps(saved.get(key))}, requested {json.dumps(wanted[key])}"
        for key in IDENTITY_KEYS
        if saved.get(key) != wanted[key]
    ]
    if differences:
        raise ResumeMismatchError(
            "cannot resume: this folder holds a different run. Differences:\n"
            + "\n".join(differences)
            + "\nUse the original arguments (see metadata.json), or a new --output folder."
        )


def read_metadata(path: Path) -> dict[str, Any]:
    """The run's ``metadata.json``.

    Raises:
        ResumeMismatchError: the file is not a JSON object (so the run cannot be identified).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ResumeMismatchError(f"cannot resume: {path} is not readable JSON ({error})") from None
    if not isinstance(data, dict):
        raise ResumeMismatchError(f"cannot resume: {path} does not hold a JSON object")
    return data


@dataclass
class PreparedOutput:
    """What :func:`prepare_output` found: rows already finished, and lines set aside."""

    finished: list[EpisodeRecord] = field(default_factory=list)
    unreadable_lines: int = 0


def load_finished(output: Path) -> tuple[list[EpisodeRecord], list[EpisodeRecord], list[bytes]]:
    """``(finished, failed, unreadable lines)`` of a results file; later rows win for a key."""
    path = output / RESULTS_FILE
    if not path.exists():
        return [], [], []
    loaded = load_records(path)
    finished: dict[RunKey, EpisodeRecord] = {}
    failed: list[EpisodeRecord] = []
    for record in loaded.records:
        if record.error is not None:
            failed.append(record)
        else:
            finished[record.run_key] = record
    return list(finished.values()), failed, [raw for _, raw in loaded.unreadable]


def prepare_output(
    output: Path, config: EvalConfig, *, resume: bool, overwrite: bool = False
) -> PreparedOutput:
    """Make ``output`` ready for the run; returns the rows already finished (resume).

    On resume, ``results.jsonl`` is rewritten (atomically) with only finished rows, one per key;
    failed rows are appended to ``errors.jsonl`` so they are retried, not duplicated, and lines
    that hold no record to ``unreadable.jsonl``.

    Raises:
        ValueError: both ``resume`` and ``overwrite`` were asked for.
        ResumeMismatchError, OutputExistsError: see their docstrings.
    """
    if resume and overwrite:
        raise ValueError(
            "--resume keeps the rows in the folder and --overwrite deletes them: choose one"
        )
    output.mkdir(parents=True, exist_ok=True)
    results = output / RESULTS_FILE
    meta_path = output / METADATA_FILE
    has_results = results.exists() and results.stat().st_size > 0
    if resume:
        if not meta_path.exists():
            if has_results:
                raise ResumeMismatchError(f"cannot resume: {meta_path} is missing")
            return PreparedOutput()
        check_resume(read_metadata(meta_path), config)
        wanted = {job.run_key for job in config.jobs()}
        finished, failed, unreadable = load_finished(output)
        kept = [r for r in finished if r.run_key in wanted]
        for record in failed:
            append_record(output / ERRORS_FILE, record)
        if unreadable:
            with open(output / UNREADABLE_FILE, "ab") as handle:
                handle.writelines(raw if raw.endswith(b"\n") else raw + b"\n" for raw in unreadable)
        partial = results.with_name(f"{RESULTS_FILE}.partial-{os.getpid()}")
        with open(partial, "w", encoding="utf-8"):
            pass
        for record in kept:
            append_record(partial, record)
        partial.replace(results)
        return PreparedOutput(kept, len(unreadable))
    if has_results and not overwrite:
        raise OutputExistsError(
            f"{results} already holds results: pass --resume to finish that run, "
            "--overwrite to replace it, or another --output folder"
        )
    for name in (RESULTS_FILE, ERRORS_FILE, UNREADABLE_FILE, SUMMARY_FILE, CHART_FILE):
        (output / name).unlink(missing_ok=True)
    return PreparedOutput()


@dataclass
class EvalResult:
    """The rows of a run (finished and failed) and the summary of every setting."""

    config: EvalConfig
    records: list[EpisodeRecord]
    summaries: dict[str | None, Summary]
    wall_time_s: float
    output: Path | None = None
    unreadable_lines: int = 0
    """Lines of ``results.jsonl`` that held no record, set aside by a resume."""

    @property
    def failed(self) -> list[EpisodeRecord]:
        return [r for r in self.records if r.error is not None]

    def records_of(self, label: str | None) -> list[EpisodeRecord]:
        return [r for r in self.records if r.setting == label and r.error is None]


def summarize_settings(
    config: EvalConfig, records: Sequence[EpisodeRecord]
) -> dict[str | None, Summary]:
    summaries: dict[str | None, Summary] = {}
    for arm in config.arms():
        done = [r for r in records if r.setting == arm.label and r.error is None]
        if done:
            summaries[arm.label] = summarize(done, success_outcomes=config.success_outcomes)
    return summaries


async def evaluate(
    config: EvalConfig,
    policy: ChatPolicy,
    *,
    output: Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    command: Sequence[str] | None = None,
    on_record: Callable[[EpisodeRecord], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Run (or finish) an evaluation.

    Args:
        config: what to run.
        policy: the policy that plays; ``config.policy`` describes it for the metadata, and its
            ``context`` is what the policy is shown (:func:`adapters.context.with_context`).
        output: the run folder (``None``: keep everything in memory).
        resume: finish the run in ``output`` instead of starting one.
        overwrite: replace the results already in ``output``.
        command: the command line for the metadata (default ``sys.argv``).
        on_record: called with every row as it is written (progress bars).
        on_start: called once with ``(rows already done, rows in the run)``.
    """
    started = time.perf_counter()
    policy = with_context(policy, check_context(config.policy.context, config.env_id))
    prepared = PreparedOutput()
    if output is not None:
        prepared = prepare_output(output, config, resume=resume, overwrite=overwrite)
        meta_path = output / METADATA_FILE
        if resume and meta_path.exists():
            meta = read_metadata(meta_path)
            meta.setdefault("resumes", []).append(
                {
                    "command": shlex.join(list(command) if command is not None else sys.argv),
                    "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "rows_kept": len(prepared.finished),
                    "unreadable_lines": prepared.unreadable_lines,
                }
            )
        else:
            meta = build_metadata(config, command)
        meta_path.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    done = prepared.finished
    finished_keys = {r.run_key for r in done}
    jobs = [job for job in config.jobs() if job.run_key not in finished_keys]
    if on_start is not None:
        on_start(len(done), len(done) + len(jobs))

    def record_row(record: EpisodeRecord) -> None:
        if output is not None:
            append_record(output / RESULTS_FILE, record)
        if on_record is not None:
            on_record(record)

    new = await run_episodes(
        jobs, policy, concurrency=config.concurrency, on_record=record_row, record_errors=True
    )
    order = {job.run_key: index for index, job in enumerate(config.jobs())}
    records = sorted([*done, *new], key=lambda r: order[r.run_key])
    summaries = summarize_settings(config, records)
    result = EvalResult(
        config,
        records,
        summaries,
        time.perf_counter() - started,
        output,
        unreadable_lines=prepared.unreadable_lines,
    )
    if output is not None:
        write_summary(result)
    return result


def evaluate_sync(config: EvalConfig, policy: ChatPolicy, **kwargs: Any) -> EvalResult:
    """:func:`evaluate` for synchronous code (a notebook's running loop is fine too)."""
    return run_sync(evaluate(config, policy, **kwargs))


def write_summary(result: EvalResult) -> None:
    assert result.output is not None
    write_summary_file(
        result.output, result.config.env_id, result.records, result.summaries, result.wall_time_s
    )


def write_summary_file(
    output: Path,
    env_id: str,
    records: Sequence[EpisodeRecord],
    summaries: Mapping[str | None, Summary],
    wall_time_s: float,
) -> None:
    """``summary.json``: row counts and the summary of every setting."""
    data = {
        "env_id": env_id,
        "rows": len(records),
        "failed_rows": sum(record.error is not None for record in records),
        "wall_time_s": wall_time_s,
        "settings": {str(label): summary.as_dict() for label, summary in summaries.items()},
    }
    (output / SUMMARY_FILE).write_text(
        json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8"
    )


def default_output_dir(env_id: str, model: str, root: Path = Path("outputs/evals")) -> Path:
    """``outputs/evals/<env>--<model>/<UTC timestamp>``."""

    def slug(text: str) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("_")

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return root / f"{slug(env_id)}--{slug(model)}" / stamp

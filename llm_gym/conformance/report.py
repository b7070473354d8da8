"""Results of conformance checks: one row per check, pass / fail / skipped with the reason."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"


class CheckFailed(Exception):
    """Raised by a check with what is wrong, phrased for the env's author."""


class CheckSkipped(Exception):
    """Raised by a check that does not apply to the env, with why."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}


@dataclass
class ConformanceReport:
    """Every check run on one env with its arguments."""

    env_id: str
    env_kwargs: dict[str, Any]
    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [result for result in self.results if result.failed]

    def status_of(self, name: str) -> Status:
        for result in self.results:
            if result.name == name:
                return result.status
        raise KeyError(f"no check named {name!r} in this report")

    def as_dict(self) -> dict[str, Any]:
        return {
            "env_id": self.env_id,
            "env_kwargs": json.loads(json.dumps(self.env_kwargs, default=repr)),
            "passed": self.passed,
            "checks": [result.as_dict() for result in self.results],
        }

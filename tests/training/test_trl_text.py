"""Text-mode TRL glue: the tested TRL range, pinned and checked, and one trainer class."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

trl = pytest.importorskip("trl")
tomllib = pytest.importorskip("tomllib")

from adapters.training import grpo, trl_text  # noqa: E402

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.mark.parametrize("version", ["1.16.0", "1.16.3", "1.16.1.dev0"])
def test_a_release_in_the_tested_range_passes(monkeypatch, version: str) -> None:
    monkeypatch.setattr(trl, "__version__", version)
    assert trl_text.require_tested_trl() is trl


@pytest.mark.parametrize("version", ["1.15.0", "1.17.0", "2.0.0", "0.29.1"])
def test_a_release_outside_the_tested_range_is_refused_with_the_fix(
    monkeypatch, version: str
) -> None:
    monkeypatch.setattr(trl, "__version__", version)
    with pytest.raises(ImportError) as error:
        trl_text.require_tested_trl()
    message = str(error.value)
    assert f"trl {version} is installed" in message
    assert f"pip install '{trl_text.TRL_REQUIREMENT}'" in message


def test_the_train_extra_pins_the_checked_range() -> None:
    extras = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    pins = [r for r in extras["train"] if re.match(r"trl\b", r)]
    assert pins == [trl_text.TRL_REQUIREMENT]


def test_the_trainer_class_is_made_once() -> None:
    first = grpo.EnvGRPOTrainer
    assert grpo.EnvGRPOTrainer is first is trl_text.EnvGRPOTrainer
    assert issubclass(first, trl.GRPOTrainer)
    with pytest.raises(AttributeError):
        _ = grpo.NoSuchTrainer

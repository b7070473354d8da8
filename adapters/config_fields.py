"""Config dataclass fields that are also command-line options or TRL settings.

A run's config dataclass writes each setting's default once. :func:`option` marks a field the
command line offers, with its flags, help and bounds in the field's metadata
(:mod:`adapters.cli.config_options` builds the typer options from them); ``trl=True`` marks a
field that means the same as TRL's ``GRPOConfig`` argument of its name, passed through by
:func:`trl_settings`. Nothing here imports typer or TRL.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

OPTION = "option"
"""Metadata key of a field's :class:`CliOption`."""

TRL = "trl"
"""Metadata key: the field is TRL's setting of the same name."""


@dataclass(frozen=True)
class CliOption:
    """How the command line offers a field: ``flags`` (none: ``--field-name``), ``help`` and
    the bounds of a number."""

    flags: tuple[str, ...] = ()
    help: str | None = None
    min: float | None = None
    max: float | None = None


def option(
    default: Any,
    *flags: str,
    help: str | None = None,
    min: float | None = None,
    max: float | None = None,
    trl: bool = False,
) -> Any:
    """A dataclass field with ``default`` that is a command-line option (see :class:`CliOption`).

    A command may declare the option through a shared alias instead (the model options of
    :mod:`adapters.cli.options`); the default still comes from here.
    """
    return field(default=default, metadata={OPTION: CliOption(flags, help, min, max), TRL: trl})


def trl_setting(default: Any) -> Any:
    """A dataclass field with ``default``, passed to TRL by name but not a command-line option."""
    return field(default=default, metadata={TRL: True})


def trl_settings(config: Any) -> dict[str, Any]:
    """The values of ``config``'s fields that are TRL settings, by name."""
    return {f.name: getattr(config, f.name) for f in fields(config) if f.metadata.get(TRL)}


def option_fields(config_type: type) -> dict[str, CliOption]:
    """Name -> :class:`CliOption` of each field of ``config_type`` that is a command-line
    option, in field order."""
    return {f.name: f.metadata[OPTION] for f in fields(config_type) if OPTION in f.metadata}

"""Typer options built from a config dataclass, so each option's default and help live once, on
the dataclass field (:func:`adapters.config_fields.option`).

:func:`config_options` decorates a command whose ``**settings`` parameter gathers the options of
the dataclass' fields; the command declares the rest itself (arguments, and the options it turns
into a field's value, such as JSON text). Typer reads a command's parameters from
``inspect.signature``, so the decorator sets the function's ``__signature__``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, TypeVar

import typer

from adapters.config_fields import option_fields

Command = TypeVar("Command", bound=Callable[..., Any])


def option_parameters(
    config_type: type,
    *,
    shared: Mapping[str, Any] | None = None,
    skip: Collection[str] = (),
) -> Iterator[inspect.Parameter]:
    """A keyword-only parameter for each option field of ``config_type`` not in ``skip``.

    ``shared`` maps a field name to an ``Annotated`` typer alias (:mod:`adapters.cli.options`)
    that declares the option's names and help instead of the field; the default is the field's.
    """
    shared = shared or {}
    hints = typing.get_type_hints(config_type)
    defaults = {name: field.default for name, field in config_type.__dataclass_fields__.items()}
    for name, spec in option_fields(config_type).items():
        if name in skip:
            continue
        if name in shared:
            annotation, default = shared[name], defaults[name]
        else:
            flags = spec.flags or (f"--{name.replace('_', '-')}",)
            bounds = {k: v for k, v in (("min", spec.min), ("max", spec.max)) if v is not None}
            annotation = hints[name]
            default = typer.Option(defaults[name], *flags, help=spec.help, **bounds)
        yield inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
        )


def config_options(
    config_type: type, *, shared: Mapping[str, Any] | None = None
) -> Callable[[Command], Command]:
    """Give the decorated command an option for every option field of ``config_type`` it does
    not declare itself, passed in its ``**settings``."""

    def decorate(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True)
        kept = [
            parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for parameter in own.parameters.values()
            if parameter.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        if len(kept) == len(own.parameters):
            raise TypeError(f"{command.__name__} needs a **settings parameter for the options")
        generated = option_parameters(config_type, shared=shared, skip={p.name for p in kept})
        command.__signature__ = own.replace(parameters=[*kept, *generated])  # type: ignore[attr-defined]
        return command

    return decorate

"""Experiment configs are dataclasses; this turns their fields into command-line options."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import Any


def option(default: Any, help: str, choices: Sequence[Any] | None = None) -> Any:
    """A config field with its help text (and allowed values) for ``--help``."""
    meta = {"help": help, "choices": choices}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _unwrap(kind: Any) -> tuple[Any, bool]:
    """(the non-None type, whether None is allowed) of an annotation like ``int | None``."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0], True
    return kind, False


def add_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        kind, optional = _unwrap(hints[field.name])
        flag = "--" + field.name.replace("_", "-")
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        shown = "none" if default is None else (" ".join(map(str, default)) if isinstance(default, list) else default)
        kwargs: dict[str, Any] = {
            "dest": field.name,
            "default": default,
            "help": f"{field.metadata.get('help', '')} (default: {shown})",
        }
        if field.metadata.get("choices"):
            kwargs["choices"] = field.metadata["choices"]
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if typing.get_origin(kind) is list:
            kwargs.update(nargs="+", type=typing.get_args(kind)[0])
        else:
            kwargs["type"] = kind
        if "choices" not in kwargs:
            kwargs["metavar"] = field.name.upper()
        parser.add_argument(flag, **kwargs)


def from_arguments(config_class: type, args: argparse.Namespace) -> Any:
    return config_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)})

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


class _ListAction(argparse.Action):
    """A list option: values separated by spaces or commas (``--cells lstm gru`` or ``--cells lstm,gru``)."""

    def __init__(self, *args: Any, item_type: Any = str, allowed: Sequence[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.item_type, self.allowed = item_type, allowed

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None) -> None:
        items = []
        for text in values:
            for part in (p for p in str(text).split(",") if p):
                try:
                    item = self.item_type(part)
                except ValueError:
                    parser.error(f"argument {option}: invalid value {part!r}")
                if self.allowed is not None and item not in self.allowed:
                    allowed = ", ".join(map(str, self.allowed))
                    parser.error(f"argument {option}: invalid choice: {part!r} (choose from {allowed})")
                items.append(item)
        setattr(namespace, self.dest, items)


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
            choices = kwargs.pop("choices", None)
            metavar = "{" + ",".join(map(str, choices)) + "}" if choices else field.name.upper()
            item_type = typing.get_args(kind)[0]
            kwargs.update(nargs="+", action=_ListAction, item_type=item_type, allowed=choices, metavar=metavar)
            parser.add_argument(flag, **kwargs)
            continue
        kwargs["type"] = kind
        if "choices" not in kwargs:
            kwargs["metavar"] = field.name.upper()
        parser.add_argument(flag, **kwargs)


def from_arguments(config_class: type, args: argparse.Namespace) -> Any:
    return config_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)})

"""Experiment configs are dataclasses; this turns their fields into command-line options and
checks their values before an experiment does any work.

``validate(config)`` is what every experiment gets: numbers must be finite, fields stay within
the bounds declared with ``option(..., minimum=, maximum=)``, the fields experiments share
(``epochs``, ``seed``, ``device``, ``units``, ...) are checked by name, and a config's own
``validate()`` method, if it has one, comes last. ``resume_differences`` names the options that
may not change when an interrupted run resumes (every field not declared ``fixed=False``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.devices import resolve_device

SEED_MAX = 2**32 - 1  # NumPy's legacy seeding takes no more
#: Bounds every experiment's field of that name obeys (a field's own minimum/maximum wins).
SHARED_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "epochs": (1, None),
    "batch_size": (1, None),
    "units": (1, 16384),
    "patience": (0, None),
    "window": (1, None),
    "horizon": (1, None),
    "seed": (0, SEED_MAX),
}


def option(
    default: Any,
    help: str,
    choices: Sequence[Any] | None = None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    fixed: bool = True,
    required: bool = False,
    one_of: str | None = None,
    shown: str | None = None,
) -> Any:
    """A config field with its help text, allowed values and bounds (inclusive) for ``--help`` and ``validate``.

    ``fixed=False``: the option may change when an interrupted run resumes (what is shown, when to
    stop); a fixed one shapes the model or its training and must stay as the run began.
    ``required``: the command needs it (``--help`` says so, shows no default); ``one_of``: the
    command needs exactly one of the options that share this name (``--dataset`` or ``--csv``).
    ``shown``: what ``--help`` names as the default, where the value itself says little
    (``shown="all"`` for an empty list of cells).
    """
    meta = {
        "help": help,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "fixed": fixed,
        "required": required,
        "one_of": one_of,
        "shown": shown,
    }
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def counted(count: float, noun: str, plural: str | None = None, spec: str = "") -> str:
    """A count with its noun in agreement, as the commands print counts: ``1 epoch``, ``20 epochs``,
    ``counted(8000, "window", spec=",")`` -> ``8,000 windows``."""
    return f"{count:{spec}} {noun if count == 1 else plural or noun + 's'}"


def _unwrap(kind: Any) -> tuple[Any, bool]:
    """(the non-None type, whether None is allowed) of an annotation like ``int | None``."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0], True
    return kind, False


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


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
    """One option per field of ``config_class``; required ones appear as such in the usage line."""
    hints = typing.get_type_hints(config_class)
    fields = dataclasses.fields(config_class)
    groups: dict[str, Any] = {}  # one_of name -> argparse's group of options of which one is needed
    for field in fields:
        kind, optional = _unwrap(hints[field.name])
        default = _default(field)
        kwargs: dict[str, Any] = {"dest": field.name, "default": default, "help": _help(field, fields)}
        one_of = field.metadata.get("one_of")
        if one_of is not None:
            if one_of not in groups:
                groups[one_of] = parser.add_mutually_exclusive_group(required=True)
            target: Any = groups[one_of]
        else:
            target = parser
            kwargs["required"] = field.metadata.get("required", False)
        if field.metadata.get("choices"):
            kwargs["choices"] = field.metadata["choices"]
        if kind is bool:
            target.add_argument(flag(field.name), action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if typing.get_origin(kind) is list:
            choices = kwargs.pop("choices", None)
            metavar = "{" + ",".join(map(str, choices)) + "}" if choices else field.name.upper()
            item_type = typing.get_args(kind)[0]
            kwargs.update(nargs="+", action=_ListAction, item_type=item_type, allowed=choices, metavar=metavar)
            target.add_argument(flag(field.name), **kwargs)
            continue
        kwargs["type"] = kind
        if "choices" not in kwargs:
            kwargs["metavar"] = field.name.upper()
        target.add_argument(flag(field.name), **kwargs)


def _help(field: dataclasses.Field[Any], fields: Sequence[dataclasses.Field[Any]]) -> str:
    """The field's help text and what happens without the option: its default, or that it is needed."""
    text = field.metadata.get("help", "")
    one_of = field.metadata.get("one_of")
    if one_of is not None:
        others = [flag(f.name) for f in fields if f.metadata.get("one_of") == one_of and f is not field]
        return f"{text} (required, unless {' or '.join(others)} is given)"
    if field.metadata.get("required"):
        return f"{text} (required)"
    shown = field.metadata.get("shown") or _shown(_default(field))
    return f"{text} (default: {shown})"


def from_arguments(config_class: type, args: argparse.Namespace) -> Any:
    return config_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)})


def _plain(bound: float | None) -> str:
    return str(int(bound)) if isinstance(bound, int) or (bound is not None and bound.is_integer()) else str(bound)


def check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    """A ValueError naming the option when ``value`` lies outside [minimum, maximum]."""
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            expected = f"at least {_plain(minimum)}"
        elif minimum is None:
            expected = f"at most {_plain(maximum)}"
        else:
            expected = f"between {_plain(minimum)} and {_plain(maximum)}"
        raise ValueError(f"{flag(name)} must be {expected}, received {value}.")


def validate(config: Any) -> None:
    """Check every value of an experiment config; raise a ValueError naming the option at fault."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"{flag(field.name)} must be a finite number, received {item}.")
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                low, high = SHARED_BOUNDS.get(field.name, (None, None))
                minimum, maximum = field.metadata.get("minimum"), field.metadata.get("maximum")
                check_range(field.name, item, low if minimum is None else minimum, high if maximum is None else maximum)
    if isinstance(getattr(config, "learning_rate", None), float) and not config.learning_rate > 0:
        raise ValueError(f"--learning-rate must be positive, received {config.learning_rate}.")
    if isinstance(getattr(config, "device", None), str):
        try:
            resolve_device(config.device)
        except ValueError as err:
            raise ValueError(f"--device {config.device}: {err}") from None
    own = getattr(config, "validate", None)
    if callable(own):
        own()


def resume_differences(config: Any, began: Mapping[str, Any]) -> list[str]:
    """``"--units was 256, now 128"`` for each fixed option of ``config`` that differs from ``began``,
    the options an interrupted run began with (an option added since counts as its default)."""
    differences = []
    for field in dataclasses.fields(config):
        if not field.metadata.get("fixed", True):
            continue
        now, then = getattr(config, field.name), began.get(field.name, _default(field))
        if now != then:
            differences.append(f"{flag(field.name)} was {_shown(then)}, now {_shown(now)}")
    return differences


def _shown(value: Any) -> str:
    """A value as typed on the command line; an empty list or None is "none"."""
    if value is None or value == []:
        return "none"
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def max_threads() -> int:
    """The most CPU threads ``--threads`` may ask for: four per CPU of this machine."""
    return 4 * (os.cpu_count() or 1)


def check_threads(threads: int) -> None:
    check_range("threads", threads, 0, max_threads())

"""Classes of the program's own in model files: Keras's registration and ``custom_objects``.

A file names a layer or cell by its class (``"MyLayer"``) or, for a class registered with
``@register_keras_serializable(package="pkg")``, by ``"pkg>MyLayer"``. Loading finds the class in
the ``custom_object_scope`` in force (``load_model(path, custom_objects=...)`` opens one), then
among the registered classes, as Keras's ``get_registered_object`` does.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}  # "package>name" -> class (or function)
GLOBAL_CUSTOM_NAMES: dict[Any, str] = {}  # class -> "package>name"
_scope = threading.local()


def register_keras_serializable(package: str = "Custom", name: str | None = None) -> Callable[[T], T]:
    """Keras's decorator: files name the class ``"package>name"`` (``name``: the class's own by
    default), and ``load_model`` finds it without ``custom_objects``.

    >>> @register_keras_serializable(package="demo")
    ... class Scale:
    ...     def get_config(self):
    ...         return {}
    >>> get_registered_name(Scale)
    'demo>Scale'
    """

    def decorator(obj: T) -> T:
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError(
                f"Cannot register {obj.__name__}: a class in model files needs a get_config() method that "
                "gives the arguments which rebuild it."
            )
        registered = f"{package}>{name if name is not None else getattr(obj, '__name__', str(obj))}"
        GLOBAL_CUSTOM_OBJECTS[registered] = obj
        GLOBAL_CUSTOM_NAMES[obj] = registered
        return obj

    return decorator


def get_registered_name(obj: Any) -> str:
    """The name files give ``obj``: ``"package>name"`` if registered, else its own name."""
    return GLOBAL_CUSTOM_NAMES.get(obj) or str(obj.__name__)


def is_registered(obj: Any) -> bool:
    return obj in GLOBAL_CUSTOM_NAMES


def get_custom_objects() -> dict[str, Any]:
    """The live dictionary of registered classes, by registered name (Keras's ``get_custom_objects``)."""
    return GLOBAL_CUSTOM_OBJECTS


class CustomObjectScope:
    """``with custom_object_scope({"MyLayer": MyLayer}):`` makes the classes known to loading within it."""

    def __init__(self, custom_objects: dict[str, Any] | None = None) -> None:
        self.custom_objects = dict(custom_objects or {})
        self._outer: dict[str, Any] = {}

    def __enter__(self) -> CustomObjectScope:
        self._outer = current_scope()
        _scope.objects = {**self._outer, **self.custom_objects}
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        _scope.objects = self._outer


custom_object_scope = CustomObjectScope


def current_scope() -> dict[str, Any]:
    return dict(getattr(_scope, "objects", {}))


def get_registered_object(name: str | None, custom_objects: dict[str, Any] | None = None) -> Any:
    """The class (or function) known as ``name`` in the scope, among the registered ones or in
    ``custom_objects``; None if none is."""
    if not name:
        return None
    for known in (current_scope(), GLOBAL_CUSTOM_OBJECTS, custom_objects or {}):
        if name in known:
            return known[name]
    return None


def find_class(spec: dict[str, Any], what: str = "layer") -> Any:
    """The class a config entry (``{"class_name", "registered_name"?, "config"}``) names, looked up as
    Keras looks it up; a ValueError naming it and saying how to make it known if none is."""
    class_name = spec.get("class_name")
    registered = spec.get("registered_name") or class_name
    found = get_registered_object(registered)
    if found is None and registered != class_name:  # custom_objects keyed by the plain class name
        found = get_registered_object(class_name)
    if found is None:
        raise unknown_class(str(class_name), str(registered), what)
    return found


def unknown_class(class_name: str, registered: str, what: str = "layer") -> ValueError:
    shown = repr(class_name) if registered == class_name else f"{class_name!r} (registered as {registered!r})"
    return ValueError(
        f"Unknown {what} class {shown}: the file names a class of your own that is not known here. Pass it to "
        f"load_model(..., custom_objects={{{class_name!r}: {class_name}}}), or register it with "
        f"@rnnlab.saving.register_keras_serializable() on its class before loading."
    )

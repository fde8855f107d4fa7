"""``LayerCell``: a cell written as Keras writes one, run by ``RNN`` like rnnlab's own cells."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from ..core import registration
from ..core.layer import Layer, Shape, resolve_training, to_tensor
from .fused_form import FusedForm
from .recurrent_cell import Gates, Mask, RecurrentCell, States, Tensor


def state_sizes(cell: Any) -> list[int]:
    """Keras's ``state_size`` (an int, or a list of ints: one per state) as a list."""
    size = getattr(cell, "state_size", None)
    sizes = [size] if isinstance(size, int) else list(size) if isinstance(size, (list, tuple)) else None
    if not sizes or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise TypeError(
            f"RNN cell {type(cell).__name__} needs state_size: the size of its state (an int), or a list of "
            f"sizes, one per state (as an LSTM's [units, units]); received state_size={size!r}."
        )
    return sizes


class LayerCell(RecurrentCell):
    """Runs ``cell``, a layer with Keras's cell protocol, one step at a time.

    The protocol: ``state_size`` (an int, or a list of ints, one per state), optionally
    ``output_size`` (else the first state's size), ``build(input_shape)`` creating the weights
    (``add_weight``) from ``(batch, features)``, and ``call(inputs, states)`` with ``inputs (B, F)``
    and ``states`` the list of ``(B, size)`` tensors, returning ``(output, new_states)``;
    ``call`` may take ``training``, and ``get_initial_state(batch_size)`` may give the first states.
    The cell has no fused form, so its RNN runs on the reference kernel (``last_kernel_skipped``
    says so). ``RNN`` wraps such cells itself: ``RNN(MyCell(8))``, ``RNN([MyCell(8), MyCell(4)])``.
    Its weights are the cell's, under the cell's name (``rnn/my_cell/kernel``), and attributes it
    lacks are the cell's (``layer.cell.kernel``).
    """

    in_weight_paths = False  # the wrapped cell names the weights

    def __init__(self, cell: Layer) -> None:
        sizes = state_sizes(cell)
        output_size = getattr(cell, "output_size", None)
        super().__init__(sizes[0] if output_size is None else int(output_size), name=cell.name)
        self.cell = cell
        self.sizes = sizes
        self.single_state = isinstance(cell.state_size, int)  # Keras returns such a state bare, not in a list
        call = getattr(cell, "call", None) or cell.forward
        self.takes_training = "training" in inspect.signature(call).parameters

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get("_modules", {})
            if "cell" not in modules:
                raise
            return getattr(modules["cell"], name)

    @property
    def state_size(self) -> list[int]:
        return self.sizes

    @property
    def state_names(self) -> tuple[str, ...]:  # type: ignore[override]  # one per state of the cell
        return tuple(f"state_{i}" for i in range(len(self.sizes)))

    def declare_fused_form(self) -> FusedForm:
        return FusedForm.none(f"{type(self.cell).__name__} is a cell of your own: it runs step by step")

    def build(self, input_shape: Shape) -> None:
        self.input_dim = int(input_shape[-1])
        self.cell.ensure_built((input_shape[0], self.input_dim))

    def get_initial_state(self, batch_size: int, like: torch.Tensor) -> list[torch.Tensor]:
        own = getattr(self.cell, "get_initial_state", None)
        if own is None:
            return super().get_initial_state(batch_size, like)
        states = own(batch_size=batch_size)
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        return [to_tensor(s).to(like) for s in states]

    def gate_values(self, x_t: Tensor, states: States, input_masks: Mask = None, recurrent_masks: Mask = None) -> Gates:
        """``"h"``: the cell's output; ``"state_<i>"``: its new states."""
        options = {"training": resolve_training(self, None)} if self.takes_training else {}
        output, new_states = self.cell(x_t, list(states), **options)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        if len(new_states) != len(self.sizes):
            raise ValueError(
                f"Cell {type(self.cell).__name__} has state_size {self.cell.state_size!r} ({len(self.sizes)} "
                f"state(s)), but its call returned {len(new_states)} new state(s)."
            )
        return {"h": output, **dict(zip(self.state_names, new_states, strict=True))}

    def nest_states(self, states: list[Any]) -> list[Any]:
        return states

    def get_config(self) -> dict[str, Any]:
        return self.cell.get_config()

    def extra_repr(self) -> str:
        return f"cell={type(self.cell).__name__}, state_size={self.sizes}"


def as_cell(cell: Any) -> RecurrentCell:
    """``cell`` as ``RNN`` runs it: rnnlab's cells as they are, a layer with Keras's cell protocol in a
    ``LayerCell``."""
    if isinstance(cell, RecurrentCell):
        return cell
    if isinstance(cell, Layer) and hasattr(cell, "state_size"):
        return LayerCell(cell)
    raise TypeError(
        f"RNN expects a cell: a RecurrentCell such as LSTMCell(units), or a Layer with state_size and "
        f"call(inputs, states) -> (output, new_states); received {type(cell).__name__}."
    )


def cell_spec(cell: RecurrentCell) -> dict[str, Any]:
    """``{"class_name", "config"}`` of a cell, for its RNN's config (a ``LayerCell``: the cell it runs)."""
    own = cell.cell if isinstance(cell, LayerCell) else cell
    spec = {"class_name": type(own).__name__, "config": own.get_config()}
    if registration.is_registered(type(own)):
        spec["registered_name"] = registration.get_registered_name(type(own))
    return spec


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        found += [sub, *_subclasses(sub)]
    return found


def cell_class(
    name: str,
    known: dict[str, type[RecurrentCell]],
    custom_objects: dict[str, Any] | None = None,
    registered_name: str | None = None,
) -> Any:
    """The class of a cell named in a config: a registered one (``registered_name``), rnnlab's, one in
    ``custom_objects`` (or the ``custom_object_scope``), or a ``Layer`` subclass of that name defined in
    this program."""
    registered = registration.get_registered_object(registered_name, custom_objects)
    if registered is not None:
        return registered
    if name in known:
        return known[name]
    given = registration.get_registered_object(name, custom_objects)
    if given is not None:
        return given
    defined: set[type] = {sub for sub in _subclasses(Layer) if sub.__name__ == name}
    if len(defined) == 1:
        return defined.pop()
    if defined:
        raise ValueError(f"Unknown cell class {name!r}: several classes have that name; pass custom_objects.")
    raise registration.unknown_class(name, registered_name or name, "cell")

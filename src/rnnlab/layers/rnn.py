"""`RNN(cell)`: runs a cell over a sequence. Owns masks, direction, state, dropout and the kernel choice."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch

from .. import kernels
from ..cells import StackedRNNCells, as_cell, cell_class, cell_spec
from ..core.layer import Layer, Shape, call_training, resolve_training
from ..kernels import SequenceOptions, native_tables


def dropout_mask(rate: float, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Inverted-dropout mask: 0 with probability ``rate``, else ``1 / (1 - rate)``."""
    keep = 1.0 - rate
    return like.new_empty(shape).bernoulli_(keep) / keep


def as_mask(mask: Any, batch: int, time: int, layer: str) -> torch.Tensor:
    tensor = torch.as_tensor(mask)
    if tuple(tensor.shape) != (batch, time):
        raise ValueError(
            f"Layer '{layer}' expects a mask of shape (batch, time) = ({batch}, {time}), "
            f"received shape {tuple(tensor.shape)}."
        )
    return tensor.bool()


R = TypeVar("R", bound="RNN")


class RNN(Layer):
    """Runs ``cell`` over inputs of shape ``(batch, time, features)``, Keras's ``RNN`` layer.

    Args:
        cell: a ``RecurrentCell`` (``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``); its
            docstring has the equations and weights. A list of cells runs them stacked at each
            step (``StackedRNNCells``), as Keras's ``RNN([cell_1, cell_2])``. A cell of your own,
            written as Keras writes one (a ``Layer`` with ``state_size``, ``build`` and
            ``call(inputs, states) -> (output, new_states)``), runs in a ``LayerCell`` on the
            reference kernel.
        return_sequences: output every step ``(batch, time, units)`` instead of only the
            last one ``(batch, units)``.
        return_state: also return the final states: ``(output, *states)``.
        go_backwards: read the sequence from its end; the output sequence stays reversed.
        stateful: the final states of one call are the initial states of the next (batch
            size fixed); ``reset_states()`` zeroes them.
        zero_output_for_mask: masked steps output zeros instead of repeating the previous
            output (``Bidirectional`` turns this on when returning sequences).
        implementation: which kernel runs the sequence: ``"auto"`` (the fastest that
            supports the configuration) or a kernel's name: ``"native"``, ``"native_projected"``,
            ``"torch_fused"``, ``"reference"`` (README, Kernels). Keras's
            integer values are accepted and mean ``"auto"``. ``last_kernel`` tells which ran,
            ``last_kernel_skipped`` why "auto" passed over the faster ones.
        unroll, use_cudnn: accepted for Keras programs; they choose Keras's speed, not its results.
        input_dim, input_length: Keras 2's way of giving ``input_shape=(input_length, input_dim)``.

    Diagnostics set ``record = True`` to keep every step's gate values and states: the call then
    runs on a kernel that can record (``reference``; "auto" shows the others' reasons in
    ``last_kernel_skipped``) and ``last_trace`` holds ``name -> [(batch, units) per step]`` in
    the order the kernel read the steps, with gradients retained (see ``rnnlab.diagnostics``).

    Call arguments: ``inputs``, ``mask`` (``(batch, time)`` booleans, True = valid step),
    ``training`` (dropout on/off; defaults to the enclosing model call's, and outside any rnnlab
    model to the module's ``train()`` / ``eval()`` mode, as PyTorch users expect),
    ``initial_state`` (a list of ``(batch, units)`` tensors or arrays, one per state; a single one
    for a one-state cell).
    """

    supports_masking = True
    uses_training = True

    def __init__(
        self,
        cell: Layer | list[Layer],
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        zero_output_for_mask: bool = False,
        implementation: str | int = "auto",
        unroll: bool = False,
        use_cudnn: Any = "auto",
        input_length: int | None = None,
        **layer_kwargs: Any,
    ) -> None:
        input_dim = layer_kwargs.pop("input_dim", None)  # Keras 2: input_dim / input_length give the input shape
        if (input_dim is not None or input_length is not None) and layer_kwargs.get("input_shape") is None:
            layer_kwargs["input_shape"] = (input_length, input_dim)
        super().__init__(**layer_kwargs)
        if isinstance(cell, (list, tuple)):  # Keras: a list of cells runs as StackedRNNCells
            cell = StackedRNNCells(cell)
        self.cell = as_cell(cell)  # a cell of the user's own runs in a LayerCell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.implementation = "auto" if isinstance(implementation, int) else kernels.check_name(implementation)
        self.last_kernel: str | None = None
        self.last_kernel_skipped: dict[str, str] = {}  # kernels "auto" passed over, and why
        self.states: list[torch.Tensor] | None = None  # carried between calls when stateful
        self.record = False  # keep every step's gate values in last_trace (diagnostics)
        self.last_trace: dict[str, list[torch.Tensor]] = {}
        self._token_ids: tuple[torch.Tensor, torch.Tensor] | None = None  # see from_token_ids

    # -- shapes -------------------------------------------------------------------------
    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        kind = type(self).__name__
        if len(shape) != 3:
            message = (
                f"{kind} layer '{self.name}' expects a 3-D input (batch, time, features), "
                f"received a {len(shape)}-D input of shape {tuple(shape)}."
            )
            if len(shape) == 2 and previous is not None and getattr(previous, "return_sequences", None) is False:
                message += (
                    f" The previous layer '{previous.name}' returns only its last step: "
                    "set return_sequences=True on it to feed this layer the whole sequence."
                )
            elif len(shape) == 2:
                message += " For a single feature per step, reshape x to (batch, time, 1)."
            raise ValueError(message)
        if self.cell.built and shape[-1] is not None and shape[-1] != self.cell.input_dim:
            raise ValueError(
                f"{kind} layer '{self.name}' was built for {self.cell.input_dim} input features, "
                f"received input of shape {tuple(shape)} with {shape[-1]} features."
            )

    def build(self, input_shape: Shape) -> None:
        self.cell.ensure_built((input_shape[0], input_shape[-1]))

    def compute_output_shape(self, input_shape: Shape) -> Any:
        batch, time = input_shape[0], input_shape[1]
        units = self.cell.units
        output = (batch, time, units) if self.return_sequences else (batch, units)
        if self.return_state:
            states = [(batch, size) for size in self.cell.state_size]
            return [output, *self.cell.nest_states(states)]
        return output

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        return mask if self.return_sequences else None

    def _cast_input(self, inputs: torch.Tensor) -> torch.Tensor:
        """Integer and boolean sequences are read as numbers of the weights' dtype, as Keras casts
        inputs to the layer's dtype (``np.array([[[1, 2]]])``, a boolean one-hot array)."""
        if not inputs.is_floating_point():
            weight = next(self.parameters(), None)
            inputs = inputs.to(weight.dtype if weight is not None else torch.get_default_dtype())
        return super()._cast_input(inputs)

    # -- state --------------------------------------------------------------------------
    def reset_states(self) -> None:
        """Forget the carried states of a stateful layer; the next call starts from zeros."""
        self.states = None

    reset_state = reset_states  # Keras 3 spelling

    def _initial_states(self, inputs: torch.Tensor, initial_state: Any) -> list[torch.Tensor]:
        batch = inputs.shape[0]
        if initial_state is not None:
            one_array = isinstance(initial_state, (torch.Tensor, np.ndarray))  # one state, not a list of rows
            states = [initial_state] if one_array else list(initial_state)
            if any(isinstance(s, (list, tuple)) for s in states):  # stacked cells: one list per cell, as in Keras
                states = [t for s in states for t in (s if isinstance(s, (list, tuple)) else [s])]
            expected = [(batch, size) for size in self.cell.state_size]
            got = [tuple(torch.as_tensor(s).shape) for s in states]
            if got != expected:
                raise ValueError(
                    f"Layer '{self.name}' expects initial_state as {len(expected)} tensor(s) of "
                    f"shapes {expected}, received shapes {got}."
                )
            return [torch.as_tensor(s).to(inputs) for s in states]
        if self.stateful and self.states is not None:
            if self.states[0].shape[0] != batch:
                raise ValueError(
                    f"Stateful layer '{self.name}' carries states for a batch of {self.states[0].shape[0]}, "
                    f"received a batch of {batch}. A stateful layer's batch size is fixed: feed batches of "
                    "one size (drop or pad the last one), or call reset_states() first."
                )
            return self.states
        return self.cell.get_initial_state(batch, inputs)

    # -- the sequence -------------------------------------------------------------------
    def forward(
        self, inputs: torch.Tensor, mask: Any = None, training: bool | None = None, initial_state: Any = None
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        self.check_input_shape(tuple(inputs.shape))
        B, T, F = inputs.shape
        training = resolve_training(self, training)
        mask = None if mask is None else as_mask(mask, B, T, self.name).to(inputs.device)
        states = self._initial_states(inputs, initial_state)

        cell = self.cell
        options = SequenceOptions(
            self.go_backwards,
            self.zero_output_for_mask,
            training,
            last_output_only=not self.return_sequences,
            record=self.record,
        )
        if training and cell.recurrent_dropout > 0:  # per-gate masks applied inside the step (Keras)
            G = cell.gates
            if cell.dropout > 0:
                options.input_masks = dropout_mask(cell.dropout, (G, B, F), inputs)
            options.recurrent_masks = dropout_mask(cell.recurrent_dropout, (G, B, cell.units), inputs)
        elif training and cell.dropout > 0:  # one mask for every step
            inputs = inputs * dropout_mask(cell.dropout, (B, 1, F), inputs)

        kernel, self.last_kernel_skipped = kernels.select(self.implementation, cell, inputs, mask, options)
        self.last_kernel = kernel.name
        reads_ids = kernel.name in ("native", "native_projected")
        source = self._token_source(inputs, training) if reads_ids else None
        if source is not None:
            outputs, states = native_tables.run_from_ids(cell, *source, states, mask, options)
        else:
            with call_training(training):  # what cells whose call takes training see
                outputs, states = kernel.run(cell, inputs, states, mask, options)  # (B, T, U)
        self.last_trace = options.trace
        if self.stateful:
            self.states = [s.detach() for s in states]
        output = outputs if self.return_sequences else outputs[:, -1]
        if not self.return_state:
            return output
        return (output, *cell.nest_states(states))

    def from_token_ids(
        self, ids: torch.Tensor, embeddings: torch.Tensor, embedded: torch.Tensor, *args: Any, **kwargs: Any
    ) -> Any:
        """``self(embedded, *args, **kwargs)`` where ``embedded`` is ``embeddings[ids]``: an Embedding's
        output, which Sequential and functional models pass on so. On the native kernels the layer may
        then read the ids instead (``native_tables.run_from_ids``: each token's x @ kernel from a table,
        made once per ``predict``, once per call in training), the same outputs and gradients up to
        the order of float sums."""
        self._token_ids = (ids, embeddings)
        try:
            return self(embedded, *args, **kwargs)
        finally:
            self._token_ids = None

    def _token_source(self, inputs: torch.Tensor, training: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(token ids, embeddings) where this call may read its ids: the inputs as the Embedding gave
        them (no dropout), not traced, a table cheaper than what it saves."""
        source = self.__dict__.get("_token_ids")  # absent in a layer pickled by an older rnnlab
        if source is None or (training and self.cell.dropout > 0):
            return None
        if torch.compiler.is_compiling() or torch.jit.is_tracing():  # type: ignore[attr-defined,no-untyped-call]
            return None
        ids, embeddings = source
        cell = self.cell
        fits = tuple(ids.shape) == tuple(inputs.shape[:2]) and native_tables.reads_ids_faster(cell, ids, embeddings)
        return source if fits else None

    def kernel_label(self) -> str:
        """Which kernel runs (ran) this layer, for summaries: 'torch_fused', 'auto -> reference', ..."""
        if self.last_kernel is not None:
            chosen = self.last_kernel
        elif not self.cell.built:
            return self.implementation
        else:  # the kernel a training batch of Keras's default size, without a mask, would take
            weight = next(self.cell.parameters())
            probe = weight.new_empty(32, 1, int(self.cell.input_dim or 1))
            options = SequenceOptions(training=True)
            chosen = kernels.select(self.implementation, self.cell, probe, None, options, measure=False).kernel.name
            if timed := kernels.undecided(self.implementation, self.cell, probe, None, options):
                chosen = f"{' or '.join(timed)} (measured on the first call)"
        return chosen if self.implementation != "auto" else f"auto -> {chosen}"

    # -- config -------------------------------------------------------------------------
    def sequence_config(self) -> dict[str, Any]:
        return {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "zero_output_for_mask": self.zero_output_for_mask,
            "implementation": self.implementation,
        }

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cell": cell_spec(self.cell), **self.sequence_config()}

    @classmethod
    def from_config(cls: type[R], config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> R:
        """``custom_objects`` names cell classes of the program's own, as in Keras."""
        from . import CELLS  # the registry of cell classes

        config = dict(config)
        cell = config.pop("cell")
        known = cell_class(cell["class_name"], CELLS, custom_objects, cell.get("registered_name"))
        extra = {"custom_objects": custom_objects} if custom_objects and known is StackedRNNCells else {}
        return cls(known.from_config(cell["config"], **extra), **config)

    def extra_repr(self) -> str:
        flags = [k for k, v in self.sequence_config().items() if v is True]
        return ", ".join([f"name={self.name!r}"] + flags)

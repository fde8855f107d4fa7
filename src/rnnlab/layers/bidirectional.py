"""`Bidirectional`: one recurrent layer reading forwards, a copy reading backwards, merged."""

from __future__ import annotations

from typing import Any

import torch

from ..core.layer import Layer, Shape
from .rnn import RNN

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _merge(mode: str | None, forward: torch.Tensor, backward: torch.Tensor) -> Any:
    if mode == "concat":
        return torch.cat([forward, backward], dim=-1)
    if mode == "sum":
        return forward + backward
    if mode == "mul":
        return forward * backward
    if mode == "ave":
        return (forward + backward) / 2
    return (forward, backward)


class Bidirectional(Layer):
    """Runs ``layer`` forwards and a copy of it backwards and merges the two outputs.

    Both directions are rebuilt from ``layer.get_config()`` with fresh weights, named
    ``forward_<name>`` and ``backward_<name>`` (the backward one with ``go_backwards``
    flipped), unless ``backward_layer`` is given. With ``return_sequences`` the backward
    outputs are put back in time order before merging, and masked steps output zeros in
    both halves (Keras 3). ``merge_mode``: "concat" (default), "sum", "mul", "ave", or
    None for the tuple ``(forward, backward)``. Weights: the forward layer's, then the
    backward layer's. With ``return_state``: ``(output, *forward_states, *backward_states)``, and
    with ``merge_mode=None`` the flat ``(forward, backward, *forward_states, *backward_states)``.

    >>> from rnnlab.layers import LSTM
    >>> Bidirectional(LSTM(10, return_sequences=True))(torch.zeros(2, 5, 3)).shape
    torch.Size([2, 5, 20])
    """

    supports_masking = True
    uses_training = True

    def __init__(
        self, layer: RNN, merge_mode: str | None = "concat", backward_layer: RNN | None = None, **layer_kwargs: Any
    ) -> None:
        if not isinstance(layer, RNN):
            raise TypeError(
                f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU or RNN), received {type(layer).__name__}."
            )
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"Unknown merge_mode {merge_mode!r}. Expected one of {list(MERGE_MODES)}.")
        layer_kwargs.setdefault("input_shape", layer.input_shape)
        super().__init__(**layer_kwargs)
        config = {**layer.get_config(), "input_shape": None}
        self.forward_layer = type(layer).from_config({**config, "name": f"forward_{layer.name}"})
        if backward_layer is None:
            backward_layer = type(layer).from_config(
                {**config, "name": f"backward_{layer.name}", "go_backwards": not layer.go_backwards}
            )
        elif (
            backward_layer.go_backwards == layer.go_backwards
            or backward_layer.return_sequences != layer.return_sequences
            or backward_layer.return_state != layer.return_state
        ):
            raise ValueError(
                "backward_layer must read in the opposite direction of layer (go_backwards) "
                "and agree with it on return_sequences and return_state."
            )
        self.backward_layer = backward_layer
        if hasattr(layer, "use_cudnn"):  # not in the config: kept from the wrapped layer, as Keras keeps it
            self.forward_layer.use_cudnn = self.backward_layer.use_cudnn = layer.use_cudnn
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        for direction in (self.forward_layer, self.backward_layer):
            direction.zero_output_for_mask = self.return_sequences

    def check_input_shape(self, shape: Shape, previous: Layer | None = None) -> None:
        self.forward_layer.check_input_shape(shape, previous)

    def build(self, input_shape: Shape) -> None:
        self.forward_layer.ensure_built(input_shape)
        self.backward_layer.ensure_built(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Any:
        forward: Any = self.forward_layer.compute_output_shape(input_shape)
        states: list[Shape] = []
        if self.return_state:
            forward, *states = forward
            states = states + states
        output: Any
        if self.merge_mode == "concat":
            output = (*forward[:-1], 2 * forward[-1])
        elif self.merge_mode is None:
            output = [forward, forward]
        else:
            output = forward
        if not self.return_state:
            return output
        # flat as the call returns them: without merging, both outputs come before the states
        return [*output, *states] if self.merge_mode is None else [output, *states]

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        return mask if self.return_sequences else None

    def reset_states(self) -> None:
        """Forget the carried states of both directions (a stateful wrapped layer only, as in Keras)."""
        if not self.stateful:
            raise AttributeError(
                f"Bidirectional layer '{self.name}' is not stateful, so it has no states to reset: "
                "wrap a layer made with stateful=True."
            )
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states  # Keras 3 spelling

    def forward(
        self, inputs: torch.Tensor, mask: Any = None, training: bool | None = None, initial_state: Any = None
    ) -> Any:
        forward_init = backward_init = None
        if initial_state is not None:  # first half for the forward layer, second for the backward
            half = len(initial_state) // 2
            forward_init, backward_init = initial_state[:half], initial_state[half:]
        y = self.forward_layer(inputs, mask=mask, training=training, initial_state=forward_init)
        y_rev = self.backward_layer(inputs, mask=mask, training=training, initial_state=backward_init)
        states: list[torch.Tensor] = []
        if self.return_state:
            y, *forward_states = y
            y_rev, *backward_states = y_rev
            states = forward_states + backward_states
        if self.return_sequences:
            y_rev = y_rev.flip(1)  # back to time order
        output = _merge(self.merge_mode, y, y_rev)
        if not self.return_state:
            return output
        return (*output, *states) if self.merge_mode is None else (output, *states)

    def kernel_label(self) -> str:
        return self.forward_layer.kernel_label()

    def get_config(self) -> dict[str, Any]:
        def spec(layer: RNN) -> dict[str, Any]:
            return {"class_name": type(layer).__name__, "config": layer.get_config()}

        return {
            **super().get_config(),
            "layer": spec(self.forward_layer),
            "backward_layer": spec(self.backward_layer),
            "merge_mode": self.merge_mode,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Bidirectional:
        from . import deserialize

        config = dict(config)
        forward = deserialize(config.pop("layer"))
        backward_spec = config.pop("backward_layer", None)
        backward = None if backward_spec is None else deserialize(backward_spec)
        if not isinstance(forward, RNN) or not (backward is None or isinstance(backward, RNN)):
            raise ValueError("Bidirectional wraps recurrent layers; the config names other layer classes.")
        layer = cls(forward, backward_layer=backward, **config)
        layer.forward_layer.name = forward.name  # keep the saved names rather than forward_forward_...
        return layer

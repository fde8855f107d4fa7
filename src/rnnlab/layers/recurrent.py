"""SimpleRNN, LSTM and GRU: short constructors of ``RNN`` over their cells."""

from __future__ import annotations

from typing import Any, TypeVar

import torch
from torch import nn

from ..cells import GRUCell, LSTMCell, RecurrentCell, SimpleRNNCell
from ..core.layer import snake_case
from ..kernels.layouts import TorchWeights, keras_to_torch, torch_to_keras
from .rnn import RNN

SEQUENCE_ARGS = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "zero_output_for_mask",
    "implementation",
    "name",
    "input_shape",
    "trainable",
    "dtype",
    "activity_regularizer",
    "batch_input_shape",
    "batch_size",
    "input_dim",
    "input_length",
    "unroll",
    "use_cudnn",
)


C = TypeVar("C", bound="_CellLayer")


def checked_use_cudnn(use_cudnn: Any) -> Any:
    """Keras's ``use_cudnn`` of LSTM and GRU, kept (not saved) as Keras keeps it; the kernel choice is rnnlab's."""
    if use_cudnn not in ("auto", True, False):
        raise ValueError(f"use_cudnn must be one of 'auto', True or False, received use_cudnn={use_cudnn!r}.")
    return use_cudnn


class _CellLayer(RNN):
    """An RNN whose cell is built from the layer's own arguments; its config is flat, as in Keras."""

    cell_class: type[RecurrentCell]
    torch_class: type[nn.RNN] | type[nn.LSTM] | type[nn.GRU]

    def __init__(self, units: int, **kwargs: Any) -> None:
        rnn_kwargs = {k: kwargs.pop(k) for k in SEQUENCE_ARGS if k in kwargs}
        if "dtype" in rnn_kwargs:
            kwargs["dtype"] = rnn_kwargs["dtype"]
        name = f"{snake_case(self.cell_class.__name__)}"  # Keras names the cell "lstm_cell", ...
        super().__init__(self.cell_class(units, name=name, **kwargs), **rnn_kwargs)

    def get_config(self) -> dict[str, Any]:
        cell_config = self.cell.get_config()
        del cell_config["name"], cell_config["trainable"]
        cell_config.pop("dtype", None)
        config = super().get_config()
        del config["cell"]
        return {**config, **cell_config}

    @classmethod
    def from_config(  # the flat config: no "cell" entry
        cls: type[C], config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> C:
        return cls(**config)

    # -- PyTorch interoperability -------------------------------------------------------
    @classmethod
    def from_torch(cls: type[C], module: nn.RNNBase, **kwargs: Any) -> C:
        """The equivalent layer of a single-layer, one-direction ``nn.RNN/LSTM/GRU``, weights copied.

        Always batch-first (Keras's layout) whatever ``module.batch_first`` says;
        ``kwargs`` go to the constructor (e.g. ``return_sequences=True``).
        """
        if not isinstance(module, cls.torch_class):
            raise TypeError(
                f"{cls.__name__}.from_torch expects an nn.{cls.torch_class.__name__}, received {type(module).__name__}."
            )
        if module.num_layers != 1 or module.bidirectional or module.proj_size:
            raise ValueError(
                f"{cls.__name__}.from_torch converts one layer in one direction without "
                f"projections; received num_layers={module.num_layers}, "
                f"bidirectional={module.bidirectional}. Convert each layer separately "
                "(module.weight_ih_l{k}...) or use Bidirectional."
            )
        if isinstance(module, nn.RNN):
            kwargs.setdefault("activation", module.nonlinearity)
        flat = dict(module.named_parameters())
        layer = cls(module.hidden_size, use_bias=module.bias, **kwargs)
        weights = torch_to_keras(
            layer.cell.fused_form,
            TorchWeights(flat["weight_ih_l0"], flat["weight_hh_l0"], flat.get("bias_ih_l0"), flat.get("bias_hh_l0")),
        )
        layer.ensure_built((None, None, module.input_size))
        layer.set_weights([w.detach().cpu().numpy() for w in weights if w is not None])
        return layer.to(flat["weight_ih_l0"].device)

    def to_torch(self, batch_first: bool = True) -> nn.RNNBase:
        """A new ``nn.RNN/LSTM/GRU`` computing the same sequence (outputs and final states)."""
        self._require_built("to_torch()")
        cell = self.cell
        if self.go_backwards or self.stateful:
            raise ValueError(
                "to_torch() converts forward, non-stateful layers only "
                "(PyTorch modules have no go_backwards or stateful)."
            )
        form = cell.fused_form
        if form.why_not_torch:
            raise ValueError(f"Layer '{self.name}' has no PyTorch equivalent: {form.why_not_torch}.")
        assert cell.input_dim is not None  # built
        module: nn.RNNBase
        if self.torch_class is nn.RNN:  # PyTorch's SimpleRNN names its activation
            module = nn.RNN(cell.input_dim, cell.units, nonlinearity=str(cell.activation), bias=cell.use_bias)
        else:
            module = self.torch_class(cell.input_dim, cell.units, bias=cell.use_bias)
        module.batch_first = batch_first
        w = keras_to_torch(form, cell.kernel, cell.recurrent_kernel, cell.bias)
        flat = dict(module.named_parameters())
        with torch.no_grad():
            for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), w, strict=True):
                if value is not None:
                    flat[name].copy_(value)
        return module.to(cell.kernel.device)


class SimpleRNN(_CellLayer):
    """Fully connected recurrent layer. Sequence arguments: see ``RNN``; the rest: ``SimpleRNNCell``.

    >>> layer = SimpleRNN(10, input_shape=(3, 1))
    >>> layer(torch.zeros(2, 3, 1)).shape, layer.count_params()
    (torch.Size([2, 10]), 120)
    """

    cell_class = SimpleRNNCell
    torch_class = nn.RNN

    def __init__(self, units: int, activation: Any = "tanh", **kwargs: Any) -> None:
        super().__init__(units, activation=activation, **kwargs)


class LSTM(_CellLayer):
    """Long short-term memory layer. Sequence arguments: see ``RNN``; the rest: ``LSTMCell``.

    >>> layer = LSTM(10, return_sequences=True)
    >>> layer(torch.zeros(2, 3, 1)).shape, layer.count_params()
    (torch.Size([2, 3, 10]), 480)
    """

    cell_class = LSTMCell
    torch_class = nn.LSTM

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        unit_forget_bias: bool = True,
        use_cudnn: Any = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            unit_forget_bias=unit_forget_bias,
            **kwargs,
        )
        self.use_cudnn = checked_use_cudnn(use_cudnn)


class GRU(_CellLayer):
    """Gated recurrent unit layer. Sequence arguments: see ``RNN``; the rest: ``GRUCell``.

    >>> GRU(10)(torch.zeros(2, 3, 1)).shape
    torch.Size([2, 10])
    >>> GRU(10, reset_after=False, input_shape=(3, 1)).count_params()
    360
    """

    cell_class = GRUCell
    torch_class = nn.GRU

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        reset_after: bool = True,
        use_cudnn: Any = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation=activation, recurrent_activation=recurrent_activation, reset_after=reset_after, **kwargs
        )
        self.use_cudnn = checked_use_cudnn(use_cudnn)

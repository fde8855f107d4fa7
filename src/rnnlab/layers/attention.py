"""Attention (Luong-style, dot or concat scores) and AdditiveAttention (Bahdanau-style), as Keras has them.

Both are called on a list ``[query, value]`` or ``[query, value, key]`` (``key`` defaults to
``value``), with an optional list of masks ``[query_mask, value_mask]``::

    scores  = score(query, key)                       # (B, Tq, Tv)
    scores  = scores - 1e9  where value_mask is False (or the causal mask: step i sees j <= i)
    weights = softmax(scores, axis=-1)                # dropout on them in training
    output  = weights @ value                         # (B, Tq, dim); 0 where query_mask is False

Scores: Attention ``"dot"``: ``query @ key^T`` (times ``scale`` with ``use_scale``); Attention
``"concat"``: ``concat_score_weight * sum(tanh(scale * (query + key)), -1)`` over every pair of
steps; AdditiveAttention: ``sum(scale * tanh(query + key), -1)``, its ``scale`` a vector of
``dim`` (glorot_uniform). The scalars ``scale`` and ``concat_score_weight`` start at one.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..core import symbolic
from ..core.layer import Layer, Shape, resolve_training, to_tensor
from ..core.variables import new_weight


class Attention(Layer):
    """Dot-product (Luong-style) attention of ``query (B, Tq, dim)`` over ``value (B, Tv, dim)``.

    Call as Keras: ``Attention()([query, value, key], mask=[query_mask, value_mask],
    return_attention_scores=False, use_causal_mask=False, training=None)``; with
    ``return_attention_scores=True`` it returns ``(output, weights)``, the weights after masking
    and softmax, ``(B, Tq, Tv)``. Its mask is the query's. Dropout (on the weights) follows
    ``training``, else the model's call, else ``train()``/``eval()``; randomness follows
    ``rnnlab.set_seed`` (``seed`` is kept for Keras configs).

    >>> q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    >>> Attention()([q, q]).shape
    torch.Size([1, 2, 2])
    """

    supports_masking = True
    uses_training = True
    use_scale: bool
    score_mode: str
    dropout: float
    seed: int | None
    scale: nn.Parameter | None
    concat_score_weight: nn.Parameter | None

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        **layer_kwargs: Any,
    ) -> None:
        super().__init__(**layer_kwargs)
        if not isinstance(dropout, numbers.Real) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"Invalid value for argument dropout: a float in [0, 1]. Received: dropout={dropout!r}")
        self.use_scale = use_scale
        self.score_mode = score_mode
        self.dropout = dropout
        self.seed = seed
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                "Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                f"Received: score_mode={score_mode}"
            )
        self.register_parameter("scale", None)
        self.register_parameter("concat_score_weight", None)

    # -- building ---------------------------------------------------------------------------
    def build(self, input_shape: Shape) -> None:
        self._validate_inputs(input_shape)
        if self.use_scale:
            self.scale = new_weight((), "ones")
        if self.score_mode == "concat":
            self.concat_score_weight = new_weight((), "ones")
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """``(*query_shape[:-1], value_dim)``; the weights of ``return_attention_scores`` are
        ``(*query_shape[:-1], Tv)``."""
        query_shape, value_shape = input_shape[0], input_shape[1]
        return (*query_shape[:-1], value_shape[-1])

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # The weights do not depend on the inputs' sizes (AdditiveAttention's scale says its dim),
        # so an unbuilt layer can take saved weights before it sees data.
        if not self.built:
            scale = state_dict.get(prefix + "scale")
            dim = int(scale.shape[0]) if scale is not None and scale.dim() == 1 else None
            shapes: Any = [(None, None, dim), (None, None, dim)]  # a list of shapes, as Keras builds it
            self.ensure_built(shapes)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- calling ----------------------------------------------------------------------------
    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        self._validate_inputs(inputs, kwargs.get("mask"))
        if symbolic.is_symbolic(inputs, args, kwargs):  # building a functional model: record the call
            shapes = _shape_list(inputs)
            output_shape = self.compute_output_shape(shapes)
            if kwargs.get("return_attention_scores"):
                output_shape = (output_shape, (*shapes[0][:-1], shapes[1][-2]))  # and the weights (B, Tq, Tv)
            return symbolic.call_layer(self, inputs, args, kwargs, output_shape=output_shape)
        tensors = [to_tensor(x) for x in inputs]
        if not self.built:
            self.ensure_built(_shape_list(tensors))
            query = tensors[0]
            self.to(device=query.device, dtype=self._dtype or (query.dtype if query.is_floating_point() else None))
        tensors = [self._cast_input(t) for t in tensors]
        outputs = nn.Module.__call__(self, tensors, *args, **kwargs)
        if self.activity_regularizer is not None:  # Keras: the penalty of each output over its batch size
            flat = outputs if isinstance(outputs, tuple) else (outputs,)
            self._activity_losses = [self.activity_regularizer(o) / o.shape[0] for o in flat]
        return outputs

    def forward(
        self,
        inputs: list[torch.Tensor],
        mask: list[Any] | None = None,
        training: bool | None = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        query_mask = _bool_mask(mask[0], query) if mask else None
        value_mask = _bool_mask(mask[1], query) if mask else None
        scores = self._calculate_scores(query, key)  # (B, Tq, Tv)
        scores_mask = self._calculate_score_mask(scores, value_mask, use_causal_mask)
        output, weights = self._apply_scores(scores, value, scores_mask, resolve_training(self, training))
        if query_mask is not None:
            output = torch.where(query_mask.unsqueeze(-1), output, 0.0)  # (B, Tq, 1) over (B, Tq, dim)
        return (output, weights) if return_attention_scores else output

    def _calculate_scores(self, query: Any, key: Any) -> torch.Tensor:
        """``(B, Tq, dim), (B, Tv, dim) -> (B, Tq, Tv)``."""
        q, k = to_tensor(query), to_tensor(key)
        if self.score_mode == "dot":
            scores = q @ k.transpose(-2, -1)
            return scores * self.scale if self.scale is not None else scores
        pairs = q.unsqueeze(-2) + k.unsqueeze(-3)  # (B, Tq, 1, dim) + (B, 1, Tv, dim)
        if self.scale is not None:
            pairs = self.scale * pairs
        assert self.concat_score_weight is not None  # built with score_mode "concat"
        return self.concat_score_weight * torch.tanh(pairs).sum(dim=-1)

    def _calculate_score_mask(self, scores: Any, v_mask: Any, use_causal_mask: bool) -> torch.Tensor | None:
        """The steps each query step may attend to: the value mask, and with ``use_causal_mask``
        the lower triangle, ``(1, Tq, Tv)``, so step i sees the steps j <= i."""
        score_tensor = to_tensor(scores)
        value_mask = None if v_mask is None else torch.as_tensor(v_mask, device=score_tensor.device).bool()
        if not use_causal_mask:
            return value_mask
        tq, tv = score_tensor.shape[-2:]
        causal = torch.ones(1, tq, tv, dtype=torch.bool, device=score_tensor.device).tril()  # (1, Tq, Tv)
        return causal if value_mask is None else value_mask.unsqueeze(-2) & causal

    def _apply_scores(
        self, scores: torch.Tensor, value: torch.Tensor, scores_mask: torch.Tensor | None = None, training: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(softmax(masked scores) @ value, the softmax)``; masked steps get ``-1e9`` (float16: its
        largest value, 65504) before the softmax, so their weight is zero."""
        if scores_mask is not None:
            padding = ~scores_mask
            if padding.dim() == 2:
                padding = padding.unsqueeze(-2)  # (B, 1, Tv)
            max_value = 65504.0 if scores.dtype == torch.float16 else 1.0e9
            scores = torch.where(padding, scores - max_value, scores)
        weights = torch.softmax(scores, dim=-1)
        if training and self.dropout > 0:
            weights = F.dropout(weights, p=self.dropout, training=True)
        return weights @ value, weights

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        """The query's mask: the output has the query's steps."""
        self._validate_inputs(inputs, mask)
        if mask is None or mask[0] is None:
            return None
        return to_tensor(mask[0])

    def _validate_inputs(self, inputs: Any, mask: Any = None) -> None:
        name = type(self).__name__
        if not isinstance(inputs, list):
            raise ValueError(
                f"{name} layer must be called on a list of inputs, namely [query, value] or [query, value, key]. "
                f"Received: inputs={inputs}."
            )
        if not 2 <= len(inputs) <= 3:
            raise ValueError(
                f"{name} layer accepts inputs list of length 2 or 3, namely [query, value] or [query, value, key]. "
                f"Received length: {len(inputs)}."
            )
        if mask is not None:
            if not isinstance(mask, list):
                raise ValueError(
                    f"{name} layer mask must be a list, namely [query_mask, value_mask]. Received: mask={mask}."
                )
            if not 2 <= len(mask) <= 3:
                raise ValueError(
                    f"{name} layer accepts mask list of length 2 or 3. Received: inputs={inputs}, mask={mask}."
                )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
        }


class AdditiveAttention(Attention):
    """Additive (Bahdanau-style) attention: ``scores = sum(scale * tanh(query + key), -1)``, with
    ``scale (dim,)`` (glorot_uniform) when ``use_scale`` (the default). Called as ``Attention``.

    >>> q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    >>> AdditiveAttention(use_scale=False)([q, q]).shape
    torch.Size([1, 2, 2])
    """

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape: Shape) -> None:
        self._validate_inputs(input_shape)
        dim = input_shape[0][-1]
        if self.use_scale and dim is None:
            raise ValueError(
                f"AdditiveAttention layer '{self.name}' needs the size of the query's last axis to build its "
                f"scale (dim,). Received: input_shape={input_shape}"
            )
        if self.use_scale:
            self.scale = new_weight((dim,), "glorot_uniform")
        Layer.build(self, input_shape)

    def _calculate_scores(self, query: Any, key: Any) -> torch.Tensor:
        q, k = to_tensor(query), to_tensor(key)
        pairs = torch.tanh(q.unsqueeze(-2) + k.unsqueeze(-3))  # (B, Tq, 1, dim) + (B, 1, Tv, dim)
        return (self.scale * pairs if self.scale is not None else pairs).sum(dim=-1)  # (B, Tq, Tv)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["score_mode"]
        return config


def _shape_list(tensors: list[Any]) -> Any:
    """The inputs' shapes as Keras builds the layer from them: a list of tuples."""
    return [tuple(t.shape) for t in tensors]


def _bool_mask(mask: Any, like: torch.Tensor) -> torch.Tensor | None:
    return None if mask is None else torch.as_tensor(mask, device=like.device).bool()

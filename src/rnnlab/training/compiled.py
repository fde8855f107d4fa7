"""What ``compile`` chose: the optimizer, the loss, the metrics and gradient clipping.

``Compiled.config()`` is the JSON form a model file stores (``rnnlab.saving.load.restore_compiled`` compiles a loaded
model with it); callables (custom losses and metrics) work but are not stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.symbolic import sorted_keys
from . import losses, metrics, optimizers
from .clipping import clip_gradients

MetricSpec = str | Callable[..., Any]


@dataclass
class Compiled:
    optimizer: dict[str, Any] | torch.optim.Optimizer  # a spec built once weights exist, or an instance
    loss: str | Callable[..., Any] | dict[str, Any]  # a dict: one loss per output, by the output's name
    metrics: list[MetricSpec] = field(default_factory=list)
    weighted_metrics: list[MetricSpec] = field(default_factory=list)
    from_logits: bool = False
    clipnorm: float | None = None
    clipvalue: float | None = None
    global_clipnorm: float | None = None
    loss_weights: dict[str, float] | None = None  # each output's weight in the total loss (default 1)
    output_metrics: dict[str, list[MetricSpec]] = field(default_factory=dict)  # by output name, several outputs
    output_weighted_metrics: dict[str, list[MetricSpec]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.loss, losses.Loss):  # a Keras-style object: stored by its name and from_logits
            loss_object = self.loss
            self.loss, self.from_logits = loss_object.key, loss_object.from_logits or self.from_logits
        self.loss_fns: dict[str, Any] = {}
        if isinstance(self.loss, dict):  # several outputs: the loss of each
            self.loss_fns = {name: losses.get(loss, self.from_logits) for name, loss in self.loss.items()}
        else:
            self.loss_fn = losses.get(self.loss, self.from_logits)
        self.metrics = [_metric_name(m) for m in self.metrics]
        self.weighted_metrics = [_metric_name(m) for m in self.weighted_metrics]
        for by_output in (self.output_metrics, self.output_weighted_metrics):
            by_output.update({name: [_metric_name(m) for m in specs] for name, specs in by_output.items()})
        per_output = [m for by in (self.output_metrics, self.output_weighted_metrics) for ms in by.values() for m in ms]
        for m in (*self.metrics, *self.weighted_metrics, *per_output):
            if isinstance(m, str):
                metrics.check_name(m)
        for name in ("clipnorm", "clipvalue", "global_clipnorm"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a positive number, received {value!r}.")

    @classmethod
    def create(
        cls,
        optimizer: Any,
        loss: Any,
        metrics: Sequence[MetricSpec] | None = None,
        weighted_metrics: Sequence[MetricSpec] | None = None,
        learning_rate: float | None = None,
        **options: Any,
    ) -> Compiled:
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='mse' or loss='sparse_categorical_crossentropy'.")
        if isinstance(optimizer, str):
            optimizer = optimizers.spec(
                optimizer, **({} if learning_rate is None else {"learning_rate": learning_rate})
            )
        elif isinstance(optimizer, dict):  # a stored spec: {"class_name": ..., "config": ...}
            optimizer = dict(optimizer)
        elif not isinstance(optimizer, torch.optim.Optimizer):
            clipping = getattr(optimizer, "clipping", None)  # a Keras-style object carries its own clipping
            for name, value in (clipping() if callable(clipping) else {}).items():
                if options.get(name) is None:
                    options[name] = value
            optimizer = optimizers.from_object(optimizer, learning_rate)
        return cls(optimizer, loss, list(metrics or []), list(weighted_metrics or []), **options)

    def build_optimizer(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        if isinstance(self.optimizer, torch.optim.Optimizer):
            return self.optimizer
        return optimizers.build(self.optimizer, params)

    def config(self) -> dict[str, Any] | None:
        """The JSON-ready settings, or None when a callable loss or metric makes them unstorable."""
        named = list(self.loss.values()) if isinstance(self.loss, dict) else [self.loss]
        named += [m for by in (self.output_metrics, self.output_weighted_metrics) for ms in by.values() for m in ms]
        named += [*self.metrics, *self.weighted_metrics]
        if any(not isinstance(m, str) for m in named):
            return None
        spec = (
            optimizers.describe(self.optimizer) if isinstance(self.optimizer, torch.optim.Optimizer) else self.optimizer
        )
        several = {"loss_weights": self.loss_weights} if self.loss_fns else {}
        return {
            "optimizer": spec,
            "loss": dict(self.loss) if isinstance(self.loss, dict) else self.loss,
            "metrics": dict(self.output_metrics) if self.loss_fns else list(self.metrics),
            "weighted_metrics": dict(self.output_weighted_metrics) if self.loss_fns else list(self.weighted_metrics),
            **several,
            "from_logits": self.from_logits,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
        }

    def output_losses(
        self, y: dict[str, torch.Tensor], y_pred: Any, mask: Any, sample_weight: Any
    ) -> dict[str, torch.Tensor]:
        """Each output's own loss (unweighted; Keras logs it as ``<output>_loss``), by output name. ``y``
        holds the targets by output name, in the outputs' order; ``y_pred`` and ``mask`` are lists in that
        order or dicts by name. An output without a loss does not train, as in Keras."""
        preds, masks = by_output(list(y), y_pred), by_output(list(y), mask)
        return {
            name: losses.reduce(self.loss_fns[name](y[name], preds[name]), sample_weight, masks[name])
            for name in y
            if name in self.loss_fns
        }

    def total_loss(self, output_losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """Keras's loss of a model with several outputs: the sum of each output's loss times its weight."""
        weights = self.loss_weights or {}
        return torch.stack([float(weights.get(name, 1.0)) * loss for name, loss in output_losses.items()]).sum()

    def clip_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Clip the parameters' gradients in place as Keras does (:func:`.clipping.clip_gradients`)."""
        grads = [p.grad for p in params if p.grad is not None]
        clip_gradients(grads, self.clipnorm, self.clipvalue, self.global_clipnorm)


def by_output(names: list[str], values: Any) -> dict[str, Any]:
    """Predictions or masks of several outputs by output name, from a list in the outputs' order, a
    dict by name, or the model's own dict of outputs by its keys (their sorted order is the outputs'
    order, as Keras flattens it); None: no masks."""
    if isinstance(values, dict):
        if len(values) != len(names) or any(name in values for name in names):
            return {name: values.get(name) for name in names}
        values = [values[key] for key in sorted_keys(values)]
    return dict(zip(names, values if values is not None else [None] * len(names), strict=True))


class MetricSet:
    """The compiled metrics as named functions, resolved (e.g. which accuracy) from the first batch;
    with ``output``, those of that output of a model with several."""

    def __init__(self, compiled: Compiled, output: str | None = None) -> None:
        self.compiled = compiled
        self.output = output
        self.fns: list[tuple[str, Callable[..., torch.Tensor], bool]] | None = None  # name, fn, weighted

    def resolve(
        self, y_true: torch.Tensor, y_pred: torch.Tensor
    ) -> list[tuple[str, Callable[..., torch.Tensor], bool]]:
        if self.fns is None:
            fns = []
            plain, weighted_group = self.compiled.metrics, self.compiled.weighted_metrics
            if self.output is not None:
                plain = self.compiled.output_metrics.get(self.output, [])
                weighted_group = self.compiled.output_weighted_metrics.get(self.output, [])
            for weighted, group in ((False, plain), (True, weighted_group)):
                for m in group:
                    fns.append((*_metric(m, y_true, y_pred), weighted))
            self.fns = fns
        return self.fns


def _metric_name(spec: Any) -> Any:
    """A built-in Keras-style metric object as its name (so the settings stay storable), else as given."""
    if isinstance(spec, metrics.Metric) and type(spec).__module__ == metrics.__name__:
        try:
            if metrics.check_name(spec.name) == spec.key:
                return spec.name
        except ValueError:
            pass
    return spec


def _metric(spec: MetricSpec, y_true: torch.Tensor, y_pred: torch.Tensor) -> tuple[str, Callable[..., torch.Tensor]]:
    values = getattr(spec, "values", None)  # a Keras-style metric object: its per-sample values
    if callable(values):
        return str(spec.name), values  # type: ignore[union-attr]
    if callable(spec):
        return str(getattr(spec, "name", None) or getattr(spec, "__name__", "metric")), spec
    name = metrics.check_name(spec)
    if name in metrics.ACCURACY:
        return spec, metrics.METRICS[metrics.resolve_accuracy(y_true, y_pred)]
    return spec, metrics.METRICS[name]

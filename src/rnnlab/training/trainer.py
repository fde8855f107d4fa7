"""`Trainer`: Keras's compile / fit / evaluate / predict for any torch module with a forward."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from . import losses, optimizers
from . import metrics as metrics_lib
from .callbacks import Callback, CallbackList, History, ProgressBar
from .callbacks.logging import format_logs
from .data import Batch, batches, split_validation


def resolve_device(device: str | torch.device | None) -> torch.device | None:
    if device is None:
        return None
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Trainer:
    """Mixed into ``Model``: training knows nothing of layers, only of ``forward`` and parameters."""

    optimizer: torch.optim.Optimizer | None = None
    compile_config: dict[str, Any] | None = None
    stop_training = False

    # -- compile --------------------------------------------------------------------------
    def compile(
        self,
        optimizer: str | torch.optim.Optimizer = "rmsprop",
        loss: Any = None,
        metrics: Sequence[str | Callable] | None = None,
        *,
        learning_rate: float | None = None,
        from_logits: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        """Choose the optimizer, loss and metrics.

        Args:
            optimizer: "adam", "sgd", "rmsprop" or "adamw" with Keras's defaults (learning
                rate 1e-3; 1e-2 for SGD; ``learning_rate=`` overrides), or a torch optimizer.
            loss: "mse", "mae", "binary_crossentropy", "categorical_crossentropy",
                "sparse_categorical_crossentropy", or a callable ``loss(y_pred, y_true)``.
            metrics: "accuracy" (binary, categorical or sparse, chosen from the shapes as
                Keras does), "mae", "mse", or callables.
            from_logits: the crossentropy losses take logits instead of probabilities.
            clipnorm: clip each weight's gradient to this norm (Keras's ``clipnorm``);
                ``global_clipnorm`` clips all gradients together; ``clipvalue`` elementwise.
            device: move the model there ("auto": CUDA when available).
        """
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='mse' or loss='sparse_categorical_crossentropy'.")
        self.loss_fn = losses.get(loss, from_logits)
        self.metric_names = [m if callable(m) else metrics_lib.check_name(m) for m in (metrics or [])]
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        if device is not None:
            self.to(resolve_device(device))
        if isinstance(optimizer, torch.optim.Optimizer):
            self.optimizer, self._optimizer_spec = optimizer, optimizers.describe(optimizer)
        elif isinstance(optimizer, dict):  # a saved spec: {"class_name": ..., "config": ...}
            self.optimizer, self._optimizer_spec = None, optimizer
        else:
            extra = {} if learning_rate is None else {"learning_rate": learning_rate}
            self.optimizer, self._optimizer_spec = None, optimizers.spec(optimizer, **extra)
        serialisable = not callable(loss) and all(isinstance(m, str) for m in self.metric_names)
        self.compile_config = (
            {
                "optimizer": self._optimizer_spec,
                "loss": loss if serialisable else None,
                "metrics": list(self.metric_names) if serialisable else None,
                "from_logits": from_logits,
                "clipnorm": clipnorm,
                "clipvalue": clipvalue,
                "global_clipnorm": global_clipnorm,
            }
            if serialisable
            else None
        )
        self._metric_fns: list[tuple[str, Callable]] | None = None

    def _require_compiled(self) -> None:
        if getattr(self, "loss_fn", None) is None:
            raise ValueError("Call model.compile(optimizer=..., loss=...) before fit or evaluate.")

    @property
    def device(self) -> torch.device:
        param = next(self.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def _prepare(self, batch: Batch) -> None:
        """Build lazy layers from one sample and create the optimizer once weights exist."""
        if not getattr(self, "built", True) or any(not getattr(m, "built", True) for m in self.modules()):
            was_training = self.training
            with torch.no_grad():
                self.eval()(batch[0].to(self.device))
            self.train(was_training)
        self.build_optimizer()

    def build_optimizer(self) -> torch.optim.Optimizer:
        """The optimizer, created from the compile spec the first time weights exist."""
        if self.optimizer is None:
            self.optimizer = optimizers.build(self._optimizer_spec, self.parameters())
        return self.optimizer

    def _metrics_for(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> list[tuple[str, Callable]]:
        if self._metric_fns is None:
            fns = []
            for m in self.metric_names:
                if callable(m):
                    fns.append((getattr(m, "__name__", "metric"), m))
                elif m == "accuracy":
                    fns.append(("accuracy", metrics_lib.METRICS[metrics_lib.resolve_accuracy(y_pred, y_true)]))
                else:
                    fns.append((m, metrics_lib.METRICS[m]))
            self._metric_fns = fns
        return self._metric_fns

    # -- one step -------------------------------------------------------------------------
    def _clip_gradients(self) -> None:
        params = [p for p in self.parameters() if p.grad is not None]
        if self.clipvalue is not None:
            torch.nn.utils.clip_grad_value_(params, self.clipvalue)
        if self.clipnorm is not None:
            for p in params:
                torch.nn.utils.clip_grad_norm_([p], self.clipnorm)
        if self.global_clipnorm is not None:
            torch.nn.utils.clip_grad_norm_(params, self.global_clipnorm)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
        """One optimizer step; a non-finite loss leaves the weights untouched."""
        self.optimizer.zero_grad(set_to_none=True)
        y_pred = self(x)
        loss = self.loss_fn(y_pred, y)
        value = loss.item()
        if math.isfinite(value):
            loss.backward()
            self._clip_gradients()
            self.optimizer.step()
        return value, y_pred.detach()

    def _update_metrics(
        self, running: dict[str, metrics_lib.Mean], loss: float, y_pred: torch.Tensor, y: torch.Tensor, prefix: str = ""
    ) -> None:
        n = len(y)
        running.setdefault(prefix + "loss", metrics_lib.Mean()).update(loss, n)
        for name, fn in self._metrics_for(y_pred, y):
            running.setdefault(prefix + name, metrics_lib.Mean()).update(float(fn(y_pred, y)), n)

    # -- fit ------------------------------------------------------------------------------
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Iterable[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        initial_epoch: int = 0,
    ) -> History:
        """Train for ``epochs`` epochs; returns a ``History`` (``history.history["loss"]``, ...).

        ``x, y``: arrays or tensors, or ``x`` an iterable of ``(x, y)`` batches (a DataLoader).
        ``validation_split`` holds out the last fraction of the samples, before shuffling.
        ``validation_data``: ``(x_val, y_val)`` or an iterable of batches.
        """
        self._require_compiled()
        if validation_split and validation_data is None:
            x, y, validation_data = split_validation(x, y, validation_split)
        train = batches(x, y, batch_size, shuffle)
        val = None
        if validation_data is not None:
            val = (
                batches(*validation_data, batch_size, False, "x_val")
                if isinstance(validation_data, tuple)
                else batches(validation_data, None, batch_size, False, "x_val")
            )
        first = train.first()
        if len(first) < 2:
            raise ValueError("fit needs targets: pass y, or batches of (x, y).")
        self._prepare(first)
        self._check_loss_fits(first)

        verbose = 1 if verbose == "auto" else int(verbose)
        history = History()
        extra = [ProgressBar(verbose)] if verbose else []
        callback_list = CallbackList(
            [*extra, *(callbacks or []), history], self, {"epochs": epochs, "steps": len(train), "verbose": verbose}
        )
        self.history = history
        self.stop_training = False
        self._initial_epoch = initial_epoch
        callback_list.on_train_begin()
        logs: dict[str, float] = {}
        for epoch in range(self._initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            logs = self._train_epoch(train, callback_list, epoch)
            if val is not None:
                logs.update({f"val_{k}": v for k, v in self._evaluate_batches(val).items()})
            callback_list.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        callback_list.on_train_end(logs)
        return history

    def _check_loss_fits(self, batch: Batch) -> None:
        was_training = self.training
        with torch.no_grad():
            x, y = (t.to(self.device) for t in batch[:2])
            self.loss_fn(self.eval()(x), y)  # raises a clear error for shapes that do not fit
        self.train(was_training)

    def _train_epoch(self, train: Any, callback_list: CallbackList, epoch: int) -> dict[str, float]:
        self.train()
        running: dict[str, metrics_lib.Mean] = {}
        device = self.device
        for step, batch in enumerate(train):
            callback_list.on_train_batch_begin(step)
            x, y = (t.to(device) for t in batch[:2])
            loss, y_pred = self.train_step(x, y)
            self._update_metrics(running, loss, y_pred, y)
            batch_logs = {k: m.result() for k, m in running.items()}
            if not math.isfinite(loss):
                warnings.warn(
                    f"Epoch {epoch + 1}, batch {step + 1}: the loss is {loss}; training stops here "
                    "with the weights of the previous step. Lower the learning rate, clip "
                    "gradients (compile(clipnorm=1.0)) or check the data.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self.stop_training = True
            callback_list.on_train_batch_end(step, batch_logs)
            if self.stop_training:
                break
        return {k: m.result() for k, m in running.items()}

    # -- evaluate / predict ---------------------------------------------------------------
    @torch.no_grad()
    def _evaluate_batches(self, data: Any) -> dict[str, float]:
        was_training = self.training
        self.eval()
        running: dict[str, metrics_lib.Mean] = {}
        device = self.device
        for batch in data:
            if len(batch) < 2:
                raise ValueError("evaluate needs targets: pass y, or batches of (x, y).")
            x, y = (t.to(device) for t in batch[:2])
            y_pred = self(x)
            self._update_metrics(running, float(self.loss_fn(y_pred, y)), y_pred, y)
        self.train(was_training)
        return {k: m.result() for k, m in running.items()}

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """Loss (and metrics) over the data, without building autograd graphs.

        Returns the loss alone when there are no metrics, else ``[loss, *metrics]``, as Keras.
        """
        self._require_compiled()
        data = batches(x, y, batch_size, False)
        self._prepare(data.first())
        logs = self._evaluate_batches(data)
        if verbose not in (0, "0"):
            print(format_logs(logs))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    @torch.no_grad()
    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = 0) -> np.ndarray:
        """Outputs for ``x`` as a NumPy array, batch by batch, in inference mode."""
        data = batches(x, None, batch_size, False)
        was_training = self.training
        self.eval()
        outputs = [self(batch[0].to(self.device)).cpu() for batch in data]
        self.train(was_training)
        return torch.cat(outputs).numpy()

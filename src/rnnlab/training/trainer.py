"""The training loop as its own object: Keras's fit / evaluate / predict for any torch module.

``Trainer`` holds the model it trains and the module that runs the batches (the model itself,
or the model wrapped in ``DistributedDataParallel``), the compiled settings, the optimizer and
a ``TrainState`` that callbacks read and write (how many epochs are done, optimizer steps,
whether to stop). It knows nothing of layers: it needs ``forward`` and ``parameters()``, and uses
the optional hooks of ``protocol.TrainerHooks`` (the output mask, penalties, constraints, lazy weights)
where a model has them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from ..core.variables import steady_weights
from . import distributed
from .batches import ArrayBatches, Batch, IterableBatches, batches, split_validation
from .callbacks import Callback, CallbackList, History, ProgressBar
from .callbacks.logging import report_evaluation
from .compiled import Compiled, MetricSet, by_output
from .losses import reduce
from .metrics import Mean
from .protocol import Hooks, TrainerHooks, check_callbacks, input_dtype
from .state import TrainState
from .update_rules import KerasOptimizer, Proposal

log = logging.getLogger("rnnlab.training")

KEEPS = "the model holds the weights that gave the last finite loss"
SKIPPED = "the gradients are not finite, so the step was skipped"
UNDONE = "the update made weights non-finite, so it was undone"


class FiniteGuard:
    """Keeps the weights that gave the last finite loss.

    The loss of step k is computed from the weights W_k, so when loss_k is finite and loss_{k+1}
    is not, the update of step k did the harm: ``step_back`` puts W_k and the optimizer state of
    that time back. An update that would make a weight non-finite is not taken (``update``).

    With one of rnnlab's Keras optimizers the update and the guard are one pass: the optimizer
    computes the new weights and state into new tensors (``propose``), the guard checks the new
    weights (Adam's compiled pass checks them as it writes them), and only then are they swapped in
    (``commit``); the tensors they replace, W_k and its state, are kept until the next loss is
    known, and once it is finite the next step is written into them: two sets of tensors take
    turns, and nothing is copied. Under these rules a non-finite gradient makes its weight's new
    value non-finite (inf/inf, 0*inf), so the gradients need no pass of their own, except where a
    rule can hide one (Lion's sign). Any other optimizer steps in
    place: before each update the guard copies the weights and state into buffers allocated once
    and restores them from the copy (``save``, ``restore``), as ``fused=False`` asks for any optimizer."""

    def __init__(self, params: list[nn.Parameter], optimizer: torch.optim.Optimizer, fused: bool = True) -> None:
        self.params, self.optimizer = params, optimizer
        self.fused = fused and isinstance(optimizer, KerasOptimizer)
        self.previous: Proposal | None = None  # what the last commit replaced: W_k and its state
        self.saved: list[torch.Tensor] = []
        self.saved_state: list[torch.Tensor] = []
        self.holds_last_finite = False  # W_k is kept, and the loss of the weights after its update was finite

    @torch.no_grad()
    def update(self) -> str | None:
        """One optimizer step if it leaves every weight finite; else the model keeps its weights and
        optimizer state, and the problem is named."""
        if self.fused:
            problem = self._propose_and_commit(cast(KerasOptimizer, self.optimizer))
        else:
            problem = self._copy_and_step()
        self.holds_last_finite = problem is None
        return problem

    def _propose_and_commit(self, optimizer: KerasOptimizer) -> str | None:
        # the weights the step starts from gave a finite loss, so the older ones kept are free: the step goes there
        spare, self.previous = self.previous, None
        if not optimizer.shows_non_finite_gradients and not self.all_finite(p.grad for p in self.params):
            return SKIPPED
        proposal = optimizer.propose(spare)
        if not (proposal.finite and self.all_finite(proposal.unchecked)):
            return SKIPPED if not self.all_finite(p.grad for p in self.params) else UNDONE
        self.previous = optimizer.commit(proposal)
        return None

    def _copy_and_step(self) -> str | None:
        if not self.all_finite(p.grad for p in self.params):
            return SKIPPED
        self.save()
        self.optimizer.step()
        if not self.all_finite(self.params):
            self.restore()
            return UNDONE
        return None

    def _state_tensors(self) -> list[torch.Tensor]:
        return [t for p in self.params for t in self.optimizer.state.get(p, {}).values() if isinstance(t, torch.Tensor)]

    @torch.no_grad()
    def save(self) -> None:
        state = self._state_tensors()
        if len(self.saved) != len(self.params):
            self.saved = [p.detach().clone() for p in self.params]
        else:
            torch._foreach_copy_(self.saved, [p.detach() for p in self.params])
        if [t.shape for t in self.saved_state] != [t.shape for t in state]:
            self.saved_state = [t.detach().clone() for t in state]
        elif state:
            torch._foreach_copy_(self.saved_state, state)

    @torch.no_grad()
    def restore(self) -> None:
        torch._foreach_copy_([p.detach() for p in self.params], self.saved)
        state = self._state_tensors()
        if len(state) == len(self.saved_state):
            if state:
                torch._foreach_copy_(state, self.saved_state)
        else:  # the step created the state: forget it
            for p in self.params:
                self.optimizer.state.pop(p, None)
        self.holds_last_finite = False

    def step_back(self) -> bool:
        """Puts back the weights and optimizer state from before the last update, if the guard still
        holds them; True when it did."""
        if not self.holds_last_finite:
            return False
        if self.previous is not None:
            assert isinstance(self.optimizer, KerasOptimizer)
            self.optimizer.commit(self.previous)
            self.previous = None
        else:
            self.restore()
        self.holds_last_finite = False
        return True

    @torch.no_grad()
    def all_finite(self, tensors: Iterable[torch.Tensor | None]) -> bool:
        sums = [t.detach().sum() for t in tensors if t is not None]
        return not sums or bool(torch.isfinite(torch.stack(sums).sum()))


@contextlib.contextmanager
def kept_states(model: nn.Module) -> Iterator[None]:
    """Calls inside leave the carried states of stateful layers as they were (a build probe)."""
    saved = [(m, m.states) for m in model.modules() if getattr(m, "stateful", False) and hasattr(m, "states")]
    try:
        yield
    finally:
        for module, states in saved:
            module.states = states


def forward(
    module: nn.Module, x: torch.Tensor, training: bool, call_options: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(outputs, output mask) of one call. A model with ``call_options`` takes ``training`` and gives
    its output mask; any other module runs in its own train/eval mode and has no mask."""
    if call_options:
        y_pred, mask = module(x, training=training, return_mask=True)
        return y_pred, mask
    return module(x), None


@contextlib.contextmanager
def mode(module: nn.Module, training: bool) -> Iterator[None]:
    """``module.train(training)`` for the block, then the mode it had."""
    was = module.training
    module.train(training)
    try:
        yield
    finally:
        module.train(was)


class Trainer:
    """Runs ``fit`` / ``evaluate`` / ``predict`` for ``model`` with the ``compiled`` settings.

    ``model`` is any ``torch.nn.Module``: the Trainer calls ``model(x)`` and trains
    ``model.parameters()``, and uses the optional hooks of ``protocol.TrainerHooks`` where the model
    has them: the output mask and the ``training`` flag, regularization penalties, constraints after
    each step, ``stop_training`` set by a callback (these looked up once, here), and lazy weights
    built by a first call. A callback that uses a Keras model method the model lacks (``ModelCheckpoint``:
    ``save``; ``EarlyStopping(restore_best_weights=True)``: ``get_weights``; ``ReduceLROnPlateau``:
    ``optimizer``) is a TypeError before training starts.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 1))
    >>> trainer = Trainer(net, Compiled.create("sgd", "mse"))
    >>> history = trainer.fit(np.ones((4, 3, 2), "float32"), np.zeros((4, 1), "float32"), epochs=2, verbose=0)
    >>> len(history.history["loss"])
    2
    """

    def __init__(self, model: nn.Module, compiled: Compiled) -> None:
        self.model = model
        self.hooks = Hooks.of(model)
        self.hooked = cast(TrainerHooks, model)  # the model's optional hooks: used where self.hooks has them
        self.module: nn.Module = model  # what runs the batches: the model, or DDP(model)
        self.compiled = compiled
        self.metrics = MetricSet(compiled)
        self.output_metrics = {name: MetricSet(compiled, name) for name in compiled.loss_fns}  # several outputs
        self.output_loss_values: dict[str, torch.Tensor] = {}  # each output's loss in the last batch
        self.state = TrainState()
        self.process = distributed.current()  # fit(strategy=...) may choose otherwise
        self._optimizer: torch.optim.Optimizer | None = None
        self._guard: FiniteGuard | None = None

    def use_strategy(self, strategy: str | None) -> None:
        """ "auto" (None): data-parallel when launched by torchrun; "ddp": must be; "single": never."""
        if strategy in (None, "auto"):
            self.process = distributed.current()
        elif strategy == "ddp":
            self.process = distributed.init()
        elif strategy == "single":
            self.process = distributed.Process()
        else:
            raise ValueError(f"Unknown strategy {strategy!r}; expected 'auto', 'ddp' or 'single'.")
        if self.process.world == 1 and self.module is not self.model:
            self.module = self.model

    # -- the pieces built once weights exist ----------------------------------------------
    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer, created from the compile settings the first time it is needed."""
        if self._optimizer is None:
            self._optimizer = self.compiled.build_optimizer(self.model.parameters())
        return self._optimizer

    @property
    def device(self) -> torch.device:
        param = next(self.model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    @property
    def is_main_process(self) -> bool:
        return self.process.rank == 0

    def _prepare(self, batch: Batch) -> None:
        """Build lazy layers from the first batch (keeping stateful layers' states), then the
        optimizer, then the data-parallel wrapper when this is one process of several."""
        unbuilt = not getattr(self.model, "built", True) or any(
            not getattr(m, "built", True) for m in self.model.modules()
        )
        if unbuilt:
            with torch.no_grad(), kept_states(self.model), mode(self.model, False):
                forward(self.model, batch.x.to(self.device), False, self.hooks.call_options)
        self.optimizer  # noqa: B018 - create it now that every weight exists
        if self.process.world > 1 and self.module is self.model:
            self.state.seed = distributed.agreed_seed(self.process)
            self.seed_process()
            self.module = distributed.wrap(self.model, self.device)

    def seed_process(self) -> None:
        """Dropout masks of its own in every process of several: process r > 0 draws from a seed of
        its own (process 0 keeps its generator, so one process alone runs as before)."""
        if self.process.rank > 0:
            torch.manual_seed(self.state.seed + self.process.rank + 1_000_003 * self.state.step)

    # -- one batch -------------------------------------------------------------------------
    def compute_loss(
        self, y: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None, mask: torch.Tensor | None
    ) -> torch.Tensor:
        if isinstance(y, dict):  # a model with several outputs, y by output name
            parts = self.compiled.output_losses(y, y_pred, mask, sample_weight)
            self.output_loss_values = {name: part.detach() for name, part in parts.items()}
            loss = self.compiled.total_loss(parts)
        else:
            loss = reduce(self.compiled.loss_fn(y, y_pred), sample_weight, mask)
        penalties = self.hooked.losses if self.hooks.penalties else None  # Keras adds regularization losses
        if penalties:
            loss = loss + torch.stack([p.to(loss.dtype).reshape(()) for p in penalties]).sum()
        return loss

    def train_step(self, batch: Batch) -> tuple[float, torch.Tensor, torch.Tensor | None, str | None]:
        """One optimizer step: (loss, predictions, output mask, problem). The model keeps the weights
        that gave the last finite loss: a non-finite loss puts back those from before the previous
        update, non-finite gradients skip the step, an update that makes weights non-finite is
        undone; each names the problem."""
        assert batch.y is not None
        optimizer = self.optimizer
        params = [p for p in self.model.parameters() if p.requires_grad]
        guard = self._guard
        if guard is None or len(guard.params) != len(params) or guard.optimizer is not optimizer:  # guard anew
            self._guard = guard = FiniteGuard(params, optimizer)
        optimizer.zero_grad(set_to_none=True)
        y_pred, mask = forward(self.module, batch.x, True, self.hooks.call_options)
        loss = self.compute_loss(batch.y, y_pred, batch.sample_weight, mask)
        value = float(loss.detach())
        loss_finite = math.isfinite(value)
        if loss_finite or self.process.world > 1:  # every process takes part in the all-reduce
            loss.backward()  # type: ignore[no-untyped-call]
            self.compiled.clip_gradients(params)
        if self.process.world > 1:  # the mean loss is non-finite when one process's is: all step back
            loss_finite = not distributed.any_process(not loss_finite, self.process)
        if not loss_finite:
            return value, _detached(y_pred), mask, self._loss_problem(value)
        problem = guard.update()  # gradients all-reduced, so every process's weights agree
        if problem is not None:
            return value, _detached(y_pred), mask, f"{problem}: {KEEPS}"
        if self.hooks.constraints:  # Keras projects constrained weights after each step
            self.hooked.apply_constraints()
        self.state.step += 1
        return value, _detached(y_pred), mask, None

    def _loss_problem(self, value: float) -> str:
        """Steps back to the weights of the last finite loss (those before the previous update) and says so."""
        assert self._guard is not None
        loss = f"the loss is {value}" if not math.isfinite(value) else "another process's loss is not finite"
        if not self._guard.step_back():
            return f"{loss} and no update of this fit came before it: the model holds the weights it had"
        self.state.step -= 1
        return f"{loss}, so the update before it was undone: {KEEPS}"

    def _update_logs(
        self,
        running: dict[str, Mean],
        loss: float,
        batch: Batch,
        y_pred: torch.Tensor,
        mask: torch.Tensor | None,
        prefix: str = "",
    ) -> None:
        assert batch.y is not None
        running.setdefault(prefix + "loss", Mean()).update(loss, len(batch.x))
        if isinstance(batch.y, dict):
            self._update_output_logs(running, batch, y_pred, mask, prefix)
            return
        for name, fn, weighted in self.metrics.resolve(batch.y, y_pred):
            values = fn(batch.y, y_pred)
            running.setdefault(prefix + name, Mean()).update_values(
                values, mask, batch.sample_weight if weighted else None
            )

    def _update_output_logs(self, running: dict[str, Mean], batch: Batch, y_pred: Any, mask: Any, prefix: str) -> None:
        """Keras's logs of a model with several outputs: ``<output>_loss`` (each output's unweighted loss)
        in the outputs' order, then ``<output>_<metric>`` in the order of their names."""
        y = cast(dict[str, torch.Tensor], batch.y)
        for name, value in self.output_loss_values.items():
            running.setdefault(f"{prefix}{name}_loss", Mean()).update(float(value), len(batch.x))
        preds, masks = by_output(list(y), y_pred), by_output(list(y), mask)
        updates = [
            (f"{prefix}{output}_{name}", fn, weighted, output)
            for output, metric_set in self.output_metrics.items()
            for name, fn, weighted in metric_set.resolve(y[output], preds[output])
        ]
        for key, fn, weighted, output in sorted(updates, key=lambda update: update[0]):
            running.setdefault(key, Mean()).update_values(
                fn(y[output], preds[output]), masks[output], batch.sample_weight if weighted else None
            )

    def _results(self, running: dict[str, Mean]) -> dict[str, float]:
        """Epoch values; in a data-parallel run, over every process's samples."""
        return distributed.combine(running, self.process)

    # -- fit ---------------------------------------------------------------------------------
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        *,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Iterable[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Mapping[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        strategy: str | None = None,
    ) -> History:
        """Keras's ``fit`` (``Model.fit`` documents the arguments); every argument after ``x, y`` by name."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, received {epochs!r}.")
        callbacks = list(callbacks or [])
        check_callbacks(self.model, callbacks)
        if validation_split and validation_data is None:
            x, y, sample_weight, validation_data = split_validation(x, y, sample_weight, validation_split)
        self.use_strategy(strategy)
        train = batches(x, y, batch_size, shuffle, "x", sample_weight, class_weight, x_dtype=input_dtype(self.model))
        first = train.first()
        if first.y is None:
            raise ValueError("fit needs targets: pass y, or batches of (x, y).")
        self._prepare(first)
        shard = distributed.shard(self.process, self.state.seed)
        train.shard = shard
        val = self._validation_batches(validation_data, batch_size, shard)
        if shard is not None and self.is_main_process and isinstance(train, ArrayBatches):
            log.info(
                "Data-parallel training on %d processes (%s): batches of %d per process, %d in all.",
                shard.world,
                self.process.backend,
                train.batch_size,
                train.batch_size * shard.world,
            )

        verbose = 1 if verbose == "auto" else int(verbose)
        history = History()
        display = [ProgressBar(verbose)] if verbose and self.is_main_process else []
        callback_list = CallbackList(
            [*display, *callbacks, history], self, {"epochs": epochs, "steps": len(train), "verbose": verbose}
        )
        self.state.epoch, self.state.stop_training = initial_epoch, False
        if not self.hooks.own_stop_flag:
            self.hooked.stop_training = False  # a callback's flag from an earlier fit is spent, as in Keras
        if self._guard is not None:  # weights may have been set since the last fit: no stepping back to
            self._guard.holds_last_finite = False  # its copy, whose memory the next step writes into
        callback_list.on_train_begin()
        if shard is not None:  # a resumed run shuffles with the seed of the run it continues
            train.shard = distributed.shard(self.process, self.state.seed)
        logs: dict[str, float] = {}
        while self.state.epoch < epochs and not self.state.stop_training:
            epoch = self.state.epoch
            callback_list.on_epoch_begin(epoch)
            train.set_epoch(epoch)
            logs = self._train_epoch(train, callback_list)
            if val is not None:
                logs.update({f"val_{k}": v for k, v in self._evaluate_batches(val).items()})
            self.state.epoch = epoch + 1
            callback_list.on_epoch_end(epoch, logs)
            self._take_stop_flag()
            self.state.stop_training = distributed.any_process(self.state.stop_training, self.process)
        callback_list.on_train_end(logs)
        return history

    def _take_stop_flag(self) -> None:
        """A callback stops the run as in Keras, with ``model.stop_training = True``; on a model
        without the property that sets ``state`` itself, the flag is carried over here."""
        if not self.hooks.own_stop_flag and self.hooked.stop_training:
            self.state.stop_training = True

    def _validation_batches(
        self, data: Any, batch_size: int | None, shard: Any
    ) -> ArrayBatches | IterableBatches | None:
        if data is None:
            return None
        if isinstance(data, tuple):
            if len(data) not in (2, 3):
                raise ValueError(
                    f"validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight), received a tuple of "
                    f"{len(data)} items."
                )
            weights = data[2] if len(data) == 3 else None
            return batches(data[0], data[1], batch_size, False, "x_val", weights, None, shard, input_dtype(self.model))
        return batches(data, None, batch_size, False, "x_val", x_dtype=input_dtype(self.model))

    def _train_epoch(self, train: ArrayBatches | IterableBatches, callback_list: CallbackList) -> dict[str, float]:
        with mode(self.module, True):
            return self._train_batches(train, callback_list)

    def _train_batches(self, train: ArrayBatches | IterableBatches, callback_list: CallbackList) -> dict[str, float]:
        running: dict[str, Mean] = {}
        device = self.device
        for step, batch in enumerate(train):
            callback_list.on_train_batch_begin(step)
            batch = batch.to(device)
            if batch.y is None:
                raise ValueError(f"fit needs targets: batch {step} has none. Give batches of (x, y).")
            loss, y_pred, mask, problem = self.train_step(batch)
            self._update_logs(running, loss, batch, y_pred, mask)
            if problem is not None:
                warnings.warn(
                    f"Epoch {self.state.epoch + 1}, batch {step}: {problem}. Training stops here: lower the learning "
                    "rate, clip gradients (compile(clipnorm=1.0)) or check the data.",
                    RuntimeWarning,
                    stacklevel=4,
                )
                self.state.stop_training = True
            callback_list.on_train_batch_end(step, {k: m.result() for k, m in running.items()})
            self._take_stop_flag()
            if self.process.world > 1:
                self.state.stop_training = distributed.any_process(self.state.stop_training, self.process)
            if self.state.stop_training:
                break
        return self._results(running)

    # -- evaluate / predict -------------------------------------------------------------------
    @torch.no_grad()
    def _evaluate_batches(self, data: ArrayBatches | IterableBatches) -> dict[str, float]:
        running: dict[str, Mean] = {}
        device = self.device
        with mode(self.model, False):
            for batch in data:
                self._evaluate_batch(batch.to(device), running)
        return self._results(running)

    def _evaluate_batch(self, batch: Batch, running: dict[str, Mean]) -> None:
        if batch.y is None:
            raise ValueError("evaluate needs targets: pass y, or batches of (x, y).")
        y_pred, mask = forward(self.model, batch.x, False, self.hooks.call_options)
        loss = float(self.compute_loss(batch.y, y_pred, batch.sample_weight, mask))
        self._update_logs(running, loss, batch, y_pred, mask)

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        *,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight: Any = None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        data = batches(x, y, batch_size, False, "x", sample_weight, x_dtype=input_dtype(self.model))
        self._prepare(data.first())
        data.shard = distributed.shard(self.process, self.state.seed)
        logs = self._evaluate_batches(data)
        if verbose not in (0, "0") and self.is_main_process:
            report_evaluation(logs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, *, batch_size: int | None = None) -> np.ndarray:
        return predict(self.model, x, batch_size=batch_size)


def _detached(outputs: Any) -> Any:
    """The predictions without their graph (one tensor, or a list or dict for several outputs)."""
    if isinstance(outputs, (list, tuple)):
        return [o.detach() for o in outputs]
    if isinstance(outputs, dict):
        return {k: o.detach() for k, o in outputs.items()}
    return outputs.detach()


def _to_cpu(outputs: Any) -> Any:
    if isinstance(outputs, (list, tuple)):
        return [o.cpu() for o in outputs]
    if isinstance(outputs, dict):
        return {k: o.cpu() for k, o in outputs.items()}
    return outputs.cpu()


@torch.no_grad()
def predict(model: nn.Module, x: Any, *, batch_size: int | None = None) -> np.ndarray:
    """Outputs of ``model`` for ``x``, batch by batch, in inference mode, as one NumPy array."""
    data = batches(x, None, batch_size, False, x_dtype=input_dtype(model))
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    call_options = Hooks.of(model).call_options
    with mode(model, False), steady_weights():
        outputs = [_to_cpu(forward(model, batch.x.to(device), False, call_options)[0]) for batch in data]
    if isinstance(outputs[0], (list, tuple)):  # several outputs: one array each, as Keras returns them
        return [torch.cat(parts).numpy() for parts in zip(*outputs, strict=True)]  # type: ignore[return-value]
    if isinstance(outputs[0], dict):
        return {k: torch.cat([o[k] for o in outputs]).numpy() for k in outputs[0]}  # type: ignore[return-value]
    return torch.cat(outputs).numpy()

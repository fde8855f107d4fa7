"""What a ``Trainer`` asks of the model it trains: ``forward`` and ``parameters()``, and the optional
hooks of ``TrainerHooks``, looked up once; and what the built-in callbacks use beyond them."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from .callbacks import Callback, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau


class TrainerHooks(Protocol):
    """The optional part of what a ``Trainer`` asks of a model, each hook used where the model has it.

    Required of every model: ``model(x)`` (its ``forward``) and ``parameters()``; that is all a plain
    ``torch.nn.Module`` offers, and it trains as it is. rnnlab's ``Model`` has every hook below.
    Two more are read on the model's submodules: ``built`` (as below) and ``stateful`` with
    ``states`` (the carried states, which the build call leaves as they were).
    """

    takes_call_options: bool
    """True: ``model(x, training=..., return_mask=True)`` gives ``(outputs, output mask)``, and the
    loss and metrics leave masked steps out. Otherwise ``model(x)`` runs in the module's own
    train/eval mode, without a mask."""

    built: bool
    """False on the model or a submodule: weights are created by the first call, so the Trainer
    makes one call in inference on the first batch before it builds the optimizer."""

    input_dtype: torch.dtype | None
    """The float type integer and boolean ``x`` given to fit / evaluate / predict are cast to (Keras casts
    arrays to the model input's dtype); None, or a model without it, gets them as they are."""

    stop_training: bool
    """Keras's way for a callback to end the run: ``model.stop_training = True``. On rnnlab's Model
    it is a property over the Trainer's ``state``; on any other model the Trainer clears it when
    ``fit`` begins and reads it after every batch and epoch."""

    @property
    def losses(self) -> list[torch.Tensor]:
        """Penalties (scalar tensors) added to every step's loss: Keras's regularization losses."""
        ...

    def apply_constraints(self) -> None:
        """Called after every optimizer step (Keras projects constrained weights there)."""
        ...


@dataclass(frozen=True)
class Hooks:
    """Which of the ``TrainerHooks`` a model has, looked up once (without running properties)."""

    call_options: bool = False
    penalties: bool = False
    constraints: bool = False
    own_stop_flag: bool = False  # stop_training is a property: setting it stops the run itself

    @classmethod
    def of(cls, model: nn.Module) -> Hooks:
        def found(name: str) -> Any:
            return inspect.getattr_static(model, name, None)

        return cls(
            call_options=bool(getattr(model, "takes_call_options", False)),
            penalties=isinstance(found("losses"), (list, property)),
            constraints=callable(found("apply_constraints")),
            own_stop_flag=isinstance(found("stop_training"), property),
        )


def callback_needs(callback: Callback) -> tuple[tuple[str, ...], str]:
    """(the Keras model attributes a built-in callback uses, as configured; what to do without them)."""
    if isinstance(callback, EarlyStopping) and callback.restore_best_weights:
        return ("get_weights", "set_weights"), "pass restore_best_weights=False"
    if isinstance(callback, ModelCheckpoint):
        method = "save_weights" if callback.save_weights_only else "save"
        return (method,), "use BackupAndRestore, or save model.state_dict() from a callback of your own"
    if isinstance(callback, ReduceLROnPlateau):
        return ("optimizer",), "reduce the rate from a callback of your own through self.trainer.optimizer"
    return (), ""


def check_callbacks(model: nn.Module, callbacks: Iterable[Callback]) -> None:
    """A TypeError, before any training, for a callback that uses what the model lacks."""
    for callback in callbacks:
        names, fix = callback_needs(callback)
        missing = [name for name in names if inspect.getattr_static(model, name, None) is None]
        if missing:
            raise TypeError(
                f"{type(callback).__name__} uses model.{' and model.'.join(missing)}, which "
                f"{type(model).__name__} does not have (an rnnlab Model does): {fix}."
            )


def input_dtype(model: nn.Module) -> torch.dtype | None:
    """``model.input_dtype`` where the model has it, read at each fit / evaluate / predict (it follows ``.to``)."""
    dtype = getattr(model, "input_dtype", None)
    return dtype if isinstance(dtype, torch.dtype) else None

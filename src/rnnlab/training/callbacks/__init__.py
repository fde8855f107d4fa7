"""Callbacks for ``fit``, named and behaving as in Keras."""

from .callback import Callback, CallbackList, History, LambdaCallback, TerminateOnNaN
from .checkpoint import BackupAndRestore, ModelCheckpoint
from .logging import CSVLogger, EpochProgress, ProgressBar, TensorBoard
from .monitor import EarlyStopping, ReduceLROnPlateau

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "LambdaCallback",
    "TerminateOnNaN",
    "BackupAndRestore",
    "ModelCheckpoint",
    "CSVLogger",
    "EpochProgress",
    "ProgressBar",
    "TensorBoard",
    "EarlyStopping",
    "ReduceLROnPlateau",
]

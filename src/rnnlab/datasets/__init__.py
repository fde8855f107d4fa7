"""Data sets: generators for long-range dependency problems, loaders for real series, texts and images.

Loaders never need the network when a local file is there: they take ``path=``, else look in the
data directory (``cache_dir=``, ``$RNNLAB_DATA_DIR`` or ``~/.cache/rnnlab``), else download.
"""

from __future__ import annotations

import importlib.util

from . import mnist, movie_reviews, reuters
from .corpora import load_tiny_shakespeare
from .files import DatasetNotFoundError, RemoteFile, content_digest, data_dir, fetch
from .synthetic import adding_problem, multiplication_problem
from .table import Table, read_csv
from .timeseries import load_airline_passengers, load_beijing_pm25

# Keras's ``keras.datasets.<name>.load_data()`` modules: ``rnnlab.datasets.<name>`` where rnnlab has the loader.
KERAS_DATASETS = ("imdb", "reuters", "mnist", "fashion_mnist", "cifar10", "cifar100", "boston_housing")


def keras_datasets() -> list[str]:
    """The Keras dataset modules rnnlab has: each ``rnnlab.datasets.<name>`` has ``load_data()``."""
    return [name for name in KERAS_DATASETS if importlib.util.find_spec(f"{__name__}.{name}") is not None]


__all__ = [
    "KERAS_DATASETS",
    "keras_datasets",
    "DatasetNotFoundError",
    "RemoteFile",
    "Table",
    "adding_problem",
    "content_digest",
    "data_dir",
    "fetch",
    "load_airline_passengers",
    "load_beijing_pm25",
    "load_tiny_shakespeare",
    "mnist",
    "movie_reviews",
    "multiplication_problem",
    "read_csv",
    "reuters",
]

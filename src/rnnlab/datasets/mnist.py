"""MNIST in its original IDX files (gzip or plain), in Keras's format.

Files, looked up in ``path=`` (a folder), else the data directory and its ``mnist/`` subfolder,
else downloaded: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte`` (each plain or ``.gz``). ``load_test`` needs only the two ``t10k`` files.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from .files import RemoteFile, data_dir, fetch

__all__ = ["load_data", "load_test", "read_idx"]

MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"
PARTS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}
_DTYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """An IDX file (gzip or plain) as an array of its stored shape and type."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r}).")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    dtype = np.dtype(_DTYPES[data[2]])
    start = 4 + 4 * dims
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - start != expected:
        raise ValueError(
            f"{path}: the header promises {shape} values ({expected} bytes), the file has {len(data) - start}."
        )
    return np.frombuffer(data, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


def _local(name: str, folder: Path) -> Path | None:
    for directory in (folder, folder / "mnist"):
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _file(
    name: str, path: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] | None, download: bool
) -> Path:
    folder = Path(path).expanduser() if path is not None else data_dir(cache_dir)
    found = _local(name, folder)
    if found is not None:
        return found
    if path is not None:
        raise FileNotFoundError(f"No {name} or {name}.gz in {folder} (passed as path=).")
    remote = RemoteFile(f"MNIST {name}", (f"{name}.gz",), MIRROR + f"{name}.gz", f"{name}.gz")
    return fetch(remote, cache_dir=cache_dir, download=download)


def _part(
    part: str, path: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] | None, download: bool
) -> tuple[np.ndarray, np.ndarray]:
    images_name, labels_name, count = PARTS[part]
    images = read_idx(_file(images_name, path, cache_dir, download))
    labels = read_idx(_file(labels_name, path, cache_dir, download))
    if images.shape != (count, 28, 28) or labels.shape != (count,) or images.dtype != np.uint8:
        raise ValueError(
            f"MNIST {part}: expected {count} 28x28 uint8 images and labels, found {images.shape} and {labels.shape}."
        )
    if labels.max() > 9:
        raise ValueError(f"MNIST {part}: labels must be 0..9, found {labels.max()}.")
    return images, labels.astype(np.uint8)


def load_test(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images ``(10000, 28, 28)`` uint8 and their labels ``(10000,)``."""
    return _part("test", path, cache_dir, download)


def load_data(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Keras's ``mnist.load_data()``: ``(x_train, y_train), (x_test, y_test)``, 60,000 + 10,000 uint8 images."""
    return _part("train", path, cache_dir, download), _part("test", path, cache_dir, download)


def has_training_files(
    path: str | os.PathLike[str] | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> bool:
    """Whether the training files are here already (nothing is downloaded)."""
    folder = Path(path).expanduser() if path is not None else data_dir(cache_dir)
    return all(_local(name, folder) is not None for name in PARTS["train"][:2])

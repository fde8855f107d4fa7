"""MNIST in its original IDX files (gzip or plain), in Keras's format.

Files, looked up in ``path=`` (a folder), else the data directory and its ``mnist/`` subfolder,
else downloaded: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte`` (each plain or ``.gz``). ``load_test`` needs only the two ``t10k`` files.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .files import RemoteFile, data_dir, fetch, open_inflated

__all__ = ["MAX_IDX_BYTES", "load_data", "load_test", "read_idx"]

MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"
PARTS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}
#: The largest MNIST file inflated is train-images-idx3-ubyte: 16 header bytes and 60,000 x 28 x 28
#: pixels, 47,040,016 bytes (t10k-images: 7,840,016). Twice that bounds what read_idx inflates.
MAX_IDX_BYTES = 2 * 47_040_016
_DTYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str], max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """An IDX file (gzip or plain) as an array of its stored shape and type.

    The file is streamed: the header is read first, a header promising more than ``max_bytes``
    (default: twice MNIST's largest file) is refused before anything else is inflated, and the
    values are read into their array.
    """
    path = Path(path)
    hint = "To read a larger IDX data set, pass a larger max_bytes= to read_idx."
    with open_inflated(path, max_bytes, "an IDX file", hint) as stream:
        magic = stream.read(4)
        if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _DTYPES:
            raise ValueError(f"{path} is not an IDX file (bad magic number {magic!r}).")
        dims = magic[3]
        header = stream.read(4 * dims)
        if len(header) < 4 * dims:
            raise ValueError(f"{path}: the IDX header promises {dims} dimensions and ends before their sizes.")
        shape = tuple(int.from_bytes(header[4 * i : 4 * i + 4], "big") for i in range(dims))
        dtype = np.dtype(_DTYPES[magic[2]])
        expected = math.prod(shape) * dtype.itemsize
        if 4 + 4 * dims + expected > max_bytes:
            raise ValueError(
                f"{path}: the header promises {shape} values ({expected:,} bytes), more than the "
                f"{max_bytes:,} bytes read_idx reads; the file is damaged or not MNIST. {hint}"
            )
        values = np.empty(expected, np.uint8)
        found = stream.readinto(values.data)
        if found != expected or stream.read(1):
            has = f"{found:,}" if found != expected else "more"
            raise ValueError(f"{path}: the header promises {shape} values ({expected:,} bytes), the file has {has}.")
    return values.view(dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


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

"""Datasets as ready tensors with fixed splits.

Offline defaults (no network, ever):

* :func:`load_digits_split` - scikit-learn's bundled 8x8 digits (1797 images), pixels in [0, 1].
* :func:`load_mnist1d_split` - the MNIST-1D benchmark, generated offline by the pinned ``mnist1d`` package.

Bigger datasets (opt-in, online once):

* :func:`load_mnist` - the 28x28 MNIST IDX files, downloaded to a cache with SHA-256 checks by
  :func:`fetch_file`. Offline, it raises :class:`DatasetUnavailable`, which names the offline default.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "Split",
    "load_digits_split",
    "load_mnist1d_split",
    "load_mnist",
    "fetch_file",
    "read_idx",
    "DatasetUnavailable",
    "ChecksumError",
    "REMOTE_DATASETS",
]


@dataclass(frozen=True)
class Split:
    """A dataset with a fixed train/test split, as float32 inputs and int64 labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    name: str = ""

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def to(self, device: torch.device | str) -> "Split":
        return Split(
            self.x_train.to(device), self.y_train.to(device), self.x_test.to(device), self.y_test.to(device),
            self.classes, self.name,
        )

    def __repr__(self) -> str:
        return (
            f"Split({self.name!r}: train {tuple(self.x_train.shape)}, test {tuple(self.x_test.shape)}, "
            f"{self.n_classes} classes)"
        )


def _stratified_split(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y)
    return np.sort(tr), np.sort(te)


def load_digits_split(test_size: float = 0.2, seed: int = 0, flat: bool = False) -> Split:
    """scikit-learn's bundled digits as tensors: images (N, 1, 8, 8) in [0, 1] (or (N, 64) with ``flat``).

    The split is stratified and fixed by ``seed`` (default 0: 1437 train / 360 test images).
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    tr, te = _stratified_split(y, test_size, seed)
    shape = (-1, 64) if flat else (-1, 1, 8, 8)
    return Split(
        torch.from_numpy(x[tr]).reshape(shape), torch.from_numpy(y[tr]),
        torch.from_numpy(x[te]).reshape(shape), torch.from_numpy(y[te]),
        tuple(str(c) for c in range(10)), "digits",
    )


def load_mnist1d_split(seed: int = 42, num_samples: int = 5000) -> Split:
    """MNIST-1D (Greydanus 2020), generated offline: signals (N, 1, 40) and 10 classes.

    The generator is seeded by ``seed``; the global Python / NumPy random states are saved and
    restored around it, so calling this does not disturb a notebook's own seeding.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = int(seed)
    args.num_samples = int(num_samples)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    def prep(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=torch.float32).unsqueeze(1)
    return Split(
        prep(data["x"]), torch.as_tensor(np.asarray(data["y"]), dtype=torch.int64),
        prep(data["x_test"]), torch.as_tensor(np.asarray(data["y_test"]), dtype=torch.int64),
        tuple(str(c) for c in range(10)), "mnist1d",
    )


# ---------------------------------------------------------------------------------------------
# Bigger datasets: checked downloads into a cache.
# ---------------------------------------------------------------------------------------------

class DatasetUnavailable(RuntimeError):
    """A remote dataset is not in the cache and could not be downloaded."""


class ChecksumError(RuntimeError):
    """A downloaded or cached file does not have the expected SHA-256 digest."""


OFFLINE_DEFAULT_HINT = (
    "The course runs offline on scikit-learn's bundled digits: use utils.data.load_digits_split() "
    "(or load_mnist1d_split()). To use this dataset, connect once to the internet so it can be cached, "
    "or copy the files into the cache folder yourself."
)

# name -> {filename: (url, sha256)}. Digests are those published for the original files.
REMOTE_DATASETS: dict[str, dict[str, tuple[str, str]]] = {
    "mnist": {
        fname: ("https://ossci-datasets.s3.amazonaws.com/mnist/" + fname, digest)
        for fname, digest in [
            ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ]
    },
}


def default_cache_dir() -> Path:
    """``$COURSE_DATA_DIR`` if set, else ``~/.cache/mlsafety-course``."""
    env = os.environ.get("COURSE_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "mlsafety-course"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_file(url: str, sha256: str, dest: Path, timeout: float = 30.0) -> Path:
    """Return ``dest``, downloading ``url`` there first if needed; the SHA-256 digest must match.

    A cached file with the right digest is used as is (no network). A download that fails raises
    :class:`DatasetUnavailable`; a file with the wrong digest is deleted and raises :class:`ChecksumError`.
    """
    dest = Path(dest)
    if dest.exists():
        got = _sha256(dest)
        if got == sha256:
            return dest
        raise ChecksumError(
            f"{dest} is in the cache but its SHA-256 is {got}, not {sha256}. Delete it and download again."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
            while chunk := r.read(1 << 20):
                f.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as e:
        tmp.unlink(missing_ok=True)
        raise DatasetUnavailable(f"Could not download {url} ({e}). {OFFLINE_DEFAULT_HINT}") from e
    got = _sha256(tmp)
    if got != sha256:
        tmp.unlink(missing_ok=True)
        raise ChecksumError(f"Downloaded {url} but its SHA-256 is {got}, expected {sha256}; nothing was cached.")
    tmp.replace(dest)
    return dest


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not), the format of the MNIST files."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype_code, ndim = raw[2], raw[3]
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if dtype_code not in dtypes:
        raise ValueError(f"{path}: unknown IDX data type 0x{dtype_code:02x}")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=dtypes[dtype_code], offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but the file holds {data.size} values")
    return data.reshape(dims)


def load_mnist(cache_dir: Path | str | None = None, download: bool = True) -> Split:
    """MNIST (28x28) as tensors: images (N, 1, 28, 28) in [0, 1]; 60k train / 10k test.

    Files are looked for in ``cache_dir/mnist`` first; missing ones are downloaded (when
    ``download``) and checked against their SHA-256 digests.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    files = REMOTE_DATASETS["mnist"]
    paths = {}
    for fname, (url, digest) in files.items():
        dest = root / "mnist" / fname
        if not dest.exists() and not download:
            raise DatasetUnavailable(f"{dest} is not cached and download=False. {OFFLINE_DEFAULT_HINT}")
        paths[fname] = fetch_file(url, digest, dest)

    def images(name: str) -> torch.Tensor:
        return torch.from_numpy(read_idx(paths[name]).astype(np.float32) / 255.0).unsqueeze(1)

    def labels(name: str) -> torch.Tensor:
        return torch.from_numpy(read_idx(paths[name]).astype(np.int64))

    return Split(
        images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz"),
        images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz"),
        tuple(str(c) for c in range(10)), "mnist",
    )

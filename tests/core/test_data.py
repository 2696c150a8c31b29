"""Offline datasets and the checked downloader (tested on tiny fabricated files, never the network)."""

from __future__ import annotations

import gzip
import hashlib
import random
import struct

import numpy as np
import pytest
import torch

from utils import data as D


def test_digits_split_is_fixed_and_in_range():
    a, b = D.load_digits_split(), D.load_digits_split()
    assert a.x_train.shape == (1437, 1, 8, 8) and a.x_test.shape == (360, 1, 8, 8)
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    counts = torch.bincount(a.y_test, minlength=10)
    assert counts.min() >= 35, "the split is stratified"
    assert D.load_digits_split(flat=True).x_train.shape == (1437, 64)
    assert a.n_classes == 10 and a.input_shape == (1, 8, 8) and "digits" in repr(a)


def test_digits_split_rejects_bad_test_size():
    with pytest.raises(ValueError, match="test_size"):
        D.load_digits_split(test_size=1.5)


def test_mnist1d_is_generated_offline_and_leaves_global_rng_alone():
    np.random.seed(5)
    random.seed(5)
    expected = (np.random.rand(), random.random())
    np.random.seed(5)
    random.seed(5)
    s = D.load_mnist1d_split(num_samples=500)
    assert (np.random.rand(), random.random()) == expected
    assert s.x_train.shape[1:] == (1, 40) and s.x_train.dtype == torch.float32
    assert len(s.x_train) + len(s.x_test) == 500
    s2 = D.load_mnist1d_split(num_samples=500)
    assert torch.equal(s.x_train, s2.x_train)


def _idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def test_read_idx_roundtrip_and_errors(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(_idx_bytes(arr)))
    assert np.array_equal(D.read_idx(p), arr)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        D.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(_idx_bytes(arr)[:-3])
    with pytest.raises(ValueError, match="header says"):
        D.read_idx(short)


def test_fetch_file_downloads_checks_and_caches(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello course")
    digest = hashlib.sha256(b"hello course").hexdigest()
    dest = tmp_path / "cache" / "f.bin"
    assert D.fetch_file(src.as_uri(), digest, dest) == dest
    assert dest.read_bytes() == b"hello course"
    src.unlink()  # cached: no second download needed
    assert D.fetch_file(src.as_uri(), digest, dest) == dest


def test_fetch_file_wrong_digest_caches_nothing(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"tampered")
    dest = tmp_path / "cache" / "f.bin"
    with pytest.raises(D.ChecksumError, match="SHA-256"):
        D.fetch_file(src.as_uri(), "0" * 64, dest)
    assert not dest.exists() and not list(dest.parent.iterdir())


def test_fetch_file_offline_names_the_offline_default(tmp_path):
    with pytest.raises(D.DatasetUnavailable, match="load_digits_split"):
        D.fetch_file((tmp_path / "missing.bin").as_uri(), "0" * 64, tmp_path / "c" / "m.bin")


def test_cached_file_with_wrong_digest_is_reported(tmp_path):
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"corrupt")
    with pytest.raises(D.ChecksumError, match="Delete it"):
        D.fetch_file("file:///nowhere", "0" * 64, dest)


def test_load_mnist_from_a_fabricated_cache(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(6) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.array([1, 2, 3]),
    }
    fake = {}
    for name, arr in arrays.items():
        blob = gzip.compress(_idx_bytes(arr))
        (tmp_path / "mnist").mkdir(exist_ok=True)
        (tmp_path / "mnist" / name).write_bytes(blob)
        fake[name] = ("file:///unused", hashlib.sha256(blob).hexdigest())
    monkeypatch.setitem(D.REMOTE_DATASETS, "mnist", fake)
    s = D.load_mnist(tmp_path, download=False)
    assert s.x_train.shape == (6, 1, 28, 28) and s.x_test.shape == (3, 1, 28, 28)
    assert s.x_train.max() <= 1.0 and s.y_test.tolist() == [1, 2, 3]


def test_load_mnist_offline_without_cache_is_a_clear_error(tmp_path):
    with pytest.raises(D.DatasetUnavailable, match="offline"):
        D.load_mnist(tmp_path, download=False)

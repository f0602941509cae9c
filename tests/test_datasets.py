"""gradtx.datasets: the shipped airfoil data and digits, IDX files."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from gradtx import datasets


def test_airfoil_shapes_and_standardisation():
    X, y = datasets.load_airfoil()
    assert X.shape == (1500, 5) and y.shape == (1500,)
    assert X.dtype == np.float32 and y.dtype == np.float32
    # Standardised over the whole file (1503 rows): mean 0, variance 1 per column.
    Xa, ya = datasets.load_airfoil(1503)
    full = np.column_stack([Xa, ya]).astype(np.float64)
    np.testing.assert_allclose(full.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(full.std(axis=0), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(Xa[:1500], X)
    # Raw values: the first row of the UCI file is 800 Hz, 0 deg, 0.3048 m, 71.3 m/s,
    # 0.00266337 m, 126.201 dB.
    Xr, yr = datasets.load_airfoil(3, standardize=False)
    np.testing.assert_allclose(Xr[0], [800, 0, 0.3048, 71.3, 0.00266337], rtol=1e-6)
    assert yr[0] == pytest.approx(126.201, rel=1e-6)
    for bad in (0, 1504):
        with pytest.raises(ValueError, match="n must be in"):
            datasets.load_airfoil(bad)


def test_digits():
    (xtr, ytr), (xte, yte) = datasets.load_digits()
    assert xtr.shape == (1438, 8, 8) and xte.shape == (359, 8, 8)
    assert xtr.dtype == np.float32 and ytr.dtype == np.int32
    assert 0.0 == xtr.min() and xtr.max() == 1.0
    assert set(np.unique(ytr)) == set(range(10))
    # the shipped file is the one its README names
    raw = (Path(datasets.__file__).parent / "data" / "digits.csv.gz").read_bytes()
    assert hashlib.sha1(raw).hexdigest() == "e0cd714d06606e7585101a8fd0314cbd1307e336"
    # Deterministic for a seed; another seed and fraction give another split.
    np.testing.assert_array_equal(datasets.load_digits()[0][0], xtr)
    other = datasets.load_digits(test_fraction=0.5, seed=1)
    assert len(other[1][1]) == 898 and not np.array_equal(other[0][1][:50], ytr[:50])
    for bad in (0.0, 1.0, -0.1, "0.2"):
        with pytest.raises(ValueError, match="test_fraction must be in"):
            datasets.load_digits(test_fraction=bad)


def test_digits_are_scikit_learns():
    """A split, not a copy: train and test together are scikit-learn's 1797 images / 16
    and labels, each once."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    (xtr, ytr), (xte, yte) = datasets.load_digits()
    ref = sklearn_datasets.load_digits()
    got = np.concatenate([xtr, xte]).reshape(1797, -1).astype(np.float64)
    want = ref.images.reshape(1797, -1) / 16.0
    order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_allclose(order(got), order(want), rtol=1e-6)
    np.testing.assert_array_equal(np.sort(np.concatenate([ytr, yte])), np.sort(ref.target))


def _idx_bytes(arr: np.ndarray, code: int) -> bytes:
    # Written from the format's definition, independently of gradtx.datasets.
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    "dtype,code",
    [
        (np.uint8, 0x08),
        (np.int8, 0x09),
        (np.int16, 0x0B),
        (np.int32, 0x0C),
        (np.float32, 0x0D),
        (np.float64, 0x0E),
    ],
)
def test_read_idx_round_trip(tmp_path, dtype, code, compress):
    arr = (np.arange(2 * 3 * 4) * 7 - 20).reshape(2, 3, 4)
    arr = np.asarray(arr % 256 if dtype == np.uint8 else arr, dtype)
    raw = _idx_bytes(arr, code)
    path = tmp_path / ("a.gz" if compress else "a")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    got = datasets.read_idx(path)
    assert got.shape == arr.shape and got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, arr)


def test_read_idx_rejects_bad_files(tmp_path):
    def write(raw: bytes) -> Path:
        p = tmp_path / "bad"
        p.write_bytes(raw)
        return p

    good = _idx_bytes(np.zeros((2, 3), np.uint8), 0x08)
    with pytest.raises(ValueError, match="first two bytes must be zero"):
        datasets.read_idx(write(b"\x01" + good[1:]))
    with pytest.raises(ValueError, match="unknown IDX type code 0x07"):
        datasets.read_idx(write(good[:2] + b"\x07" + good[3:]))
    with pytest.raises(ValueError, match="needs 6 data bytes, got 5"):
        datasets.read_idx(write(good[:-1]))
    with pytest.raises(ValueError, match="truncated IDX header"):
        datasets.read_idx(write(good[:6]))
    with pytest.raises(ValueError, match="corrupt gzip"):
        datasets.read_idx(write(gzip.compress(good)[:-6]))
    with pytest.raises(FileNotFoundError):
        datasets.read_idx(tmp_path / "missing")


def _fashion_dir(root: Path, n_train=6, n_test=4, labels_max=9, gz=True) -> Path:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        ext = ".gz" if gz else ""
        img = _idx_bytes(rng.integers(0, 256, (n, 28, 28)).astype(np.uint8), 0x08)
        lab = _idx_bytes(rng.integers(0, labels_max + 1, n).astype(np.uint8), 0x08)
        (root / f"{prefix}-images-idx3-ubyte{ext}").write_bytes(gzip.compress(img) if gz else img)
        (root / f"{prefix}-labels-idx1-ubyte{ext}").write_bytes(gzip.compress(lab) if gz else lab)
    return root


@pytest.mark.parametrize("gz", [True, False])
def test_load_fashion_mnist(tmp_path, gz):
    (xtr, ytr), (xte, yte) = datasets.load_fashion_mnist(_fashion_dir(tmp_path, gz=gz))
    assert xtr.shape == (6, 28, 28) and xte.shape == (4, 28, 28) and ytr.shape == (6,)
    assert xtr.dtype == np.float32 and ytr.dtype == np.int32
    assert 0.0 <= xtr.min() and xtr.max() <= 1.0
    # Pixel values are byte / 255.
    raw = datasets.read_idx(tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else "")))
    np.testing.assert_allclose(xtr, raw / 255.0, rtol=1e-6)


def test_load_fashion_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        datasets.load_fashion_mnist(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        datasets.load_fashion_mnist(tmp_path)
    (tmp_path / "a").mkdir()
    d = _fashion_dir(tmp_path / "a", labels_max=12)
    with pytest.raises(ValueError, match="labels must be in 0..9"):
        datasets.load_fashion_mnist(d)
    (tmp_path / "b").mkdir()
    d = _fashion_dir(tmp_path / "b")
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(np.zeros(3, np.uint8), 0x08))
    )
    with pytest.raises(ValueError, match="4 images .* but 3 labels"):
        datasets.load_fashion_mnist(d)
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(np.zeros((4, 784), np.uint8), 0x08))
    )
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(n, rows, cols\)"):
        datasets.load_fashion_mnist(d)

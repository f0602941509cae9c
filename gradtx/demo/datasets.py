"""Data sets for gradtx's examples, demo and notebooks; nothing is downloaded at run time.

* :func:`load_airfoil`: the NASA airfoil self-noise regression data (ships in ``gradtx/demo/data``).
* :func:`load_digits`: the UCI 8x8 handwritten digits, scikit-learn's copy (ships in
  ``gradtx/demo/data``).
* :func:`load_fashion_mnist` / :func:`read_idx`: Fashion-MNIST from IDX files the user
  already has on disk (``.gz`` or raw), e.g. for ``python -m gradtx.demo --data-dir DIR``.
"""

from __future__ import annotations

import gzip
import os
from importlib import resources

import numpy as np

# IDX type codes (http://yann.lecun.com/exdb/mnist/): code -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

FASHION_MNIST_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)


def load_airfoil(n: int = 1500, standardize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The NASA airfoil self-noise data (UCI; Brooks, Pope & Marcolini 1989; CC BY 4.0).

    Returns ``(X, y)`` as float32 arrays of shapes ``(n, 5)`` and ``(n,)``: the first
    ``n`` of the 1503 rows, each column standardised to mean 0 and variance 1 over the
    whole file when ``standardize`` (the preparation of *Dive into Deep Learning*'s
    optimisation chapter). The copy ships in ``gradtx/demo/data/``, so this works offline.
    """
    if not 1 <= n <= 1503:
        raise ValueError(f"n must be in [1, 1503], got {n}")
    text = resources.files("gradtx.demo").joinpath("data/airfoil_self_noise.dat").read_text()
    data = np.loadtxt(text.splitlines(), dtype=np.float64)
    if standardize:
        data = (data - data.mean(axis=0)) / data.std(axis=0)
    data = data[:n].astype(np.float32)
    return data[:, :-1], data[:, -1]


Split = tuple[np.ndarray, np.ndarray]


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> tuple[Split, Split]:
    """The UCI handwritten digits (optical recognition of handwritten digits; Alpaydin &
    Kaynak 1998; CC BY 4.0): 1797 grey 8x8 images of the digits 0-9, the copy that
    scikit-learn bundles (``sklearn.datasets.load_digits``, the same file).

    Returns ``((X_train, y_train), (X_test, y_test))``: images as float32 of shape
    ``(n, 8, 8)`` scaled from the original 0..16 to ``[0, 1]``, labels as int32. The
    split is a random permutation drawn with ``seed``; ``test_fraction`` (default 0.2,
    so 1438 / 359 images) of it is held out. Real data, offline: the file ships in
    ``gradtx/demo/data/digits.csv.gz`` (57 KB; scikit-learn is not needed).

    Example::

        (x_tr, y_tr), (x_te, y_te) = gradtx.datasets.load_digits()
    """
    if not isinstance(test_fraction, (int, float)) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    raw = resources.files("gradtx.demo").joinpath("data/digits.csv.gz").read_bytes()
    # 1797 rows of 64 pixel counts (0..16, row by row) and the label
    data = np.loadtxt(gzip.decompress(raw).decode().splitlines(), delimiter=",")
    images = (data[:, :-1].reshape(-1, 8, 8) / 16.0).astype(np.float32)
    labels = data[:, -1].astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = max(1, int(round(test_fraction * len(labels))))
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file (the MNIST / Fashion-MNIST container), gzipped or raw.

    Format: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions ``d``, then ``d`` big-endian
    uint32 sizes, then the data, big-endian, row-major. A ``.gz`` name (or gzip magic
    bytes) is decompressed first. Returns a native-endian array of that shape.

    Raises ``ValueError`` naming the file for a bad header or a wrong data length, and
    ``FileNotFoundError`` when it does not exist.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"{path}: corrupt gzip data ({err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (the first two bytes must be zero)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX file with 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: IDX shape {shape} of {dtype.name} needs {expected} data bytes, "
            f"got {len(raw) - header}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find_idx(data_dir: str, stem: str) -> str:
    tried = []
    dotted = stem.replace("-idx", ".idx")  # some mirrors spell it train-images.idx3-ubyte
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        candidate = os.path.join(data_dir, name)
        tried.append(candidate)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"no Fashion-MNIST file {stem}[.gz] in {data_dir!r}; tried {tried}")


def load_fashion_mnist(data_dir: str | os.PathLike) -> tuple[Split, Split]:
    """Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from its four IDX files in ``data_dir``:
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each raw or ``.gz`` (the names the official download uses).

    Returns ``((X_train, y_train), (X_test, y_test))``: images as float32 ``(n, 28, 28)``
    scaled from 0..255 to ``[0, 1]`` and labels as int32 in 0..9 (names in
    ``FASHION_MNIST_CLASSES``). Nothing is downloaded: fetch the files once yourself.

    Raises ``FileNotFoundError`` (listing the paths tried) for a missing file and
    ``ValueError`` for a malformed one, images that are not 3-D uint8, labels that are
    not 1-D, out-of-range labels or image/label counts that differ.
    """
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"data_dir {data_dir!r} is not a directory")
    splits = []
    for prefix in ("train", "t10k"):
        img_path = _find_idx(data_dir, f"{prefix}-images-idx3-ubyte")
        lab_path = _find_idx(data_dir, f"{prefix}-labels-idx1-ubyte")
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(
                f"{img_path}: expected uint8 images of shape (n, rows, cols), "
                f"got {images.dtype} {images.shape}"
            )
        if labels.ndim != 1:
            raise ValueError(f"{lab_path}: expected 1-D labels, got shape {labels.shape}")
        if len(labels) != len(images):
            raise ValueError(
                f"{prefix}: {len(images)} images in {img_path} but {len(labels)} labels "
                f"in {lab_path}"
            )
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ValueError(f"{lab_path}: labels must be in 0..9, got max {labels.max()}")
        splits.append(((images / np.float32(255.0)).astype(np.float32), labels.astype(np.int32)))
    return splits[0], splits[1]

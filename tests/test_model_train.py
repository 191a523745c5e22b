"""The network is the tutorial's, training is deterministic and writes weights + manifest atomically,
and the committed weights and manifest agree with a fresh evaluation on the held-out digits."""
import dataclasses
import json
import os
import shutil

import pytest
import torch

pytest.register_assert_rewrite("model_fixtures")
from model_fixtures import (  # noqa: E402
    LOCK,
    MANIFEST,
    SPLIT_JSON,
    WEIGHTS,
    TutorialNet,
    run_module,
    sha256,
    tutorial_normalise,
)

pytest_plugins = ["model_fixtures"]


def shapes(module):
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def accuracy_of(state_dict, heldout):
    """Held-out accuracy computed with the tutorial's Net and transforms: independent of evaluate()."""
    net = TutorialNet()
    net.load_state_dict(state_dict, strict=True)
    images, labels = heldout
    with torch.no_grad():
        predicted = net.eval()(tutorial_normalise(images)).argmax(dim=1)
    return round((predicted == labels).float().mean().item(), 4)


# ---- the network ---------------------------------------------------------------------------------


def test_net_has_the_tutorials_state_dict_keys_and_shapes():
    from mnist_model.network import Net

    ours, theirs = shapes(Net()), shapes(TutorialNet())
    assert list(ours) == list(theirs)
    assert ours == theirs


def test_committed_weights_load_strictly_in_the_tutorial_net_and_predict_the_same(committed_model, heldout):
    tutorial = TutorialNet()
    tutorial.load_state_dict(torch.load(WEIGHTS, weights_only=True), strict=True)
    images, _ = heldout
    with torch.no_grad():
        theirs = tutorial.eval()(tutorial_normalise(images))
        ours = committed_model(tutorial_normalise(images))
    assert torch.equal(theirs.argmax(dim=1), ours.argmax(dim=1))
    torch.testing.assert_close(theirs, ours)


# ---- training ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def train_subset(data_dir):
    """320 training digits, 32 of each: enough for a real epoch with augmentation in about a second."""
    from mnist_model.data import load_split

    images, labels = load_split(data_dir, train=True)
    index = torch.cat([torch.nonzero(labels == d).flatten()[:32] for d in range(10)])
    return images[index], labels[index]


def test_fit_is_bit_for_bit_deterministic_and_the_seed_matters(train_subset):
    from mnist_model.train import fit, regimen_from

    images, labels = train_subset
    regimen = regimen_from("default", epochs=1)  # augmentation, AdamW, one-cycle: every random source
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    first = fit(images, labels, regimen).state_dict()
    torch.rand(7)  # disturb the global generator between runs
    second = fit(images, labels, regimen).state_dict()
    reseeded = fit(images, labels, dataclasses.replace(regimen, seed=7)).state_dict()
    assert torch.are_deterministic_algorithms_enabled() == deterministic_before
    assert list(first) == list(second)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], reseeded[k]) for k in first)
    # trained channels_last, saved in the usual layout (what torch.save writes and other tools expect)
    assert all(tensor.is_contiguous() for tensor in first.values())


def test_the_regimens_dropout_is_what_training_uses(train_subset):
    from mnist_model.train import fit, regimen_from

    images, labels = train_subset
    nets = {p: fit(images, labels, regimen_from("default", epochs=1, dropout=p)) for p in (0.1, 0.5)}
    assert [(net.dropout, net.conv2_drop.p) for net in nets.values()] == [(0.1, 0.1), (0.5, 0.5)]
    assert not torch.equal(nets[0.1].fc1.weight, nets[0.5].fc1.weight)
    assert regimen_from("tutorial").dropout == 0.5  # the tutorial's own


def test_the_fast_augmentation_paths_give_torchs_own_bits():
    """The affine grid and the low-resolution resampling are computed the cheap way; the weights (and the lock)
    depend on them giving exactly what F.affine_grid and resampling the whole batch give."""
    from torch.nn import functional as F

    from mnist_model.augment import _affine_grid, low_resolution

    generator = torch.Generator().manual_seed(3)
    for shape in ((128, 1, 28, 28), (5, 1, 28, 28), (3, 1, 17, 40)):
        theta = torch.randn(shape[0], 2, 3, generator=generator)
        assert torch.equal(_affine_grid(theta, *shape[-2:]), F.affine_grid(theta, list(shape), align_corners=False))
    ink = torch.rand(128, 1, 28, 28, generator=generator)
    state = generator.get_state()
    fast = low_resolution(ink, generator)
    after = generator.get_state()
    generator.set_state(state)  # the same draws, and no others: the size, then which pictures
    size = int(torch.randint(10, 17, (1,), generator=generator))
    chosen = (torch.rand(128, generator=generator) < 0.2).view(-1, 1, 1, 1)
    assert torch.equal(generator.get_state(), after)  # the distortions after it draw what they drew before
    whole = F.interpolate(F.interpolate(ink, size=(size, size), mode="area"), size=(28, 28), mode="bilinear",
                          align_corners=False)
    assert 0 < chosen.sum() < 128 and torch.equal(fast, torch.where(chosen, whole, ink))


def test_regimen_from_rejects_unknown_regimens_and_fields_by_name():
    from mnist_model.train import REGIMENS, regimen_from

    with pytest.raises(ValueError, match=r"unknown regimen 'fast'.*default.*tutorial"):
        regimen_from("fast")
    with pytest.raises(ValueError, match=r"unknown hyper-parameter\(s\) epoch, learning_rate; known: .*epochs.*lr"):
        regimen_from("default", epoch=3, learning_rate=0.1)
    with pytest.raises(ValueError, match=r"^hyper-parameter dropout must be a number, not '0\.1'$"):
        regimen_from("default", dropout="0.1")  # quoted in pyproject.toml
    with pytest.raises(ValueError, match=r"^hyper-parameter dropout must be at least 0 and below 1, not 1\.5$"):
        regimen_from("default", dropout=1.5)
    with pytest.raises(ValueError, match=r"^hyper-parameter epochs must be a whole number, not 2\.5$"):
        regimen_from("default", epochs=2.5)
    assert regimen_from("default", dropout=0, lr=1).dropout == 0  # whole numbers are numbers
    tutorial = regimen_from("tutorial", epochs=1)
    assert tutorial.epochs == 1 and tutorial.optimizer == "sgd" and tutorial.lr == 0.01 and not tutorial.augment
    assert REGIMENS["tutorial"].epochs == 3  # overriding does not change the named regimen


def test_train_writes_weights_and_a_manifest_that_describes_them(data_dir, tmp_path):
    from mnist_model.inference import load_model
    from mnist_model.train import regimen_from, train

    weights = tmp_path / "out" / "model.pth"
    progress = []
    manifest = train(data_dir, weights, regimen="tutorial", log=progress.append, epochs=1)
    assert sorted(os.listdir(weights.parent)) == ["model.json", "model.pth"]  # no temp files left
    assert progress and progress[-1].startswith("epoch 1/1")
    assert json.loads(weights.with_suffix(".json").read_text()) == manifest
    assert manifest["sha256"] == sha256(weights)
    assert manifest["hyperparameters"] == dataclasses.asdict(regimen_from("tutorial", epochs=1))
    assert manifest["torch_version"] == torch.__version__
    assert manifest["train_samples"] == 4000
    # Training says what it did; measuring is evaluate()'s job, done once by whoever asks (the build hook).
    assert sorted(manifest) == ["backend", "device", "hyperparameters", "sha256", "torch_version", "train_samples",
                                "train_seconds", "world_size"]
    assert (manifest["world_size"], manifest["device"], manifest["backend"]) == (1, "cpu", None)  # where it ran
    load_model(weights)  # passes its own sha256 check


def test_train_does_not_evaluate(data_dir, tmp_path, monkeypatch):
    import mnist_model.evaluate
    import mnist_model.train

    monkeypatch.setattr(mnist_model.train, "fit", quick_fit)
    monkeypatch.setattr(mnist_model.evaluate, "evaluate", failing_evaluate)
    mnist_model.train.train(data_dir, tmp_path / "model.pth", regimen="tutorial", log=lambda line: None, epochs=1)
    assert (tmp_path / "model.json").is_file()


@pytest.fixture
def previous(tmp_path):
    """Weights + manifest from an earlier run (the committed pair); a failed run must leave them as they were."""
    weights = tmp_path / "model.pth"
    shutil.copy(WEIGHTS, weights)
    shutil.copy(MANIFEST, tmp_path / "model.json")
    return weights, {p.name: p.read_bytes() for p in tmp_path.iterdir()}


def quick_fit(images, labels, regimen, log=None, world=None):
    """Stands in for fit() where the test is about what happens after training."""
    from mnist_model.network import Net

    torch.manual_seed(0)
    return Net()


def failing_torch_save(obj, handle, *args, **kwargs):
    handle.write(b"PK\x03\x04 half a zip")
    raise OSError(28, "No space left on device")


def failing_evaluate(weights_path, data_dir):
    raise RuntimeError("evaluation crashed")


def interrupted_fit(images, labels, regimen, log=None, world=None):
    raise KeyboardInterrupt


@pytest.mark.parametrize("failure", ["interrupted during fit", "disk full while saving"])
def test_a_failed_train_leaves_the_previous_weights_and_manifest_usable(failure, previous, data_dir, monkeypatch):
    import mnist_model.train
    from mnist_model.inference import load_model
    from mnist_model.train import train

    weights, before = previous
    if failure == "interrupted during fit":
        monkeypatch.setattr(mnist_model.train, "fit", interrupted_fit)
        expected = KeyboardInterrupt
    else:
        monkeypatch.setattr(mnist_model.train, "fit", quick_fit)
        monkeypatch.setattr(torch, "save", failing_torch_save)
        expected = OSError
    with pytest.raises(expected):
        train(data_dir, weights, regimen="tutorial", log=lambda line: None, epochs=1)
    after = {p.name: p.read_bytes() for p in weights.parent.iterdir()}
    assert sorted(after) == sorted(before), "temp files left behind"
    load_model(weights)  # the pair still agrees: the runner would not refuse it
    assert after == before


def test_committed_manifest_and_lock_match_the_weights_and_a_fresh_evaluation(committed_metrics, heldout):
    manifest = json.loads(MANIFEST.read_text())
    lock = json.loads(LOCK.read_text())
    assert manifest["sha256"] == lock["weights_sha256"] == sha256(WEIGHTS)
    data = {name.rsplit("/", 1)[-1]: digest for name, digest in lock["inputs"]["data"].items()}
    assert data == json.loads(SPLIT_JSON.read_text())["sha256"]
    recorded = lock["verification"]["metrics"]  # the one record of the metrics, which the model card repeats
    assert recorded["accuracy"] >= 0.98
    assert recorded["accuracy"] == committed_metrics["accuracy"]
    assert recorded["per_class_accuracy"] == committed_metrics["per_class_accuracy"]
    assert recorded["accuracy"] == accuracy_of(torch.load(WEIGHTS, weights_only=True), heldout)


# ---- evaluation ----------------------------------------------------------------------------------


def test_evaluate_reports_accuracy_per_class_and_a_consistent_confusion_matrix(committed_metrics):
    metrics = committed_metrics
    matrix = torch.tensor(metrics["confusion_matrix"])
    assert metrics["samples"] == 1000 and metrics["accuracy"] >= 0.98
    assert matrix.shape == (10, 10) and matrix.sum(dim=1).tolist() == [100] * 10
    assert matrix.trace().item() / 1000 == metrics["accuracy"]
    assert list(metrics["per_class_accuracy"]) == [str(d) for d in range(10)]
    per_class = [metrics["per_class_accuracy"][str(d)] for d in range(10)]
    assert per_class == [round(v, 4) for v in (matrix.diag() / 100).tolist()]
    assert metrics["latency_ms"] > 0 and metrics["batched_ms_per_image"] > 0


def test_mnist_model_evaluate_prints_the_report(committed_metrics, data_dir, tmp_path):
    result = run_module("evaluate", "--data-dir", data_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"held-out accuracy  {committed_metrics['accuracy'] * 100:.2f}%  (1000 digits)"
    assert any(line.startswith("per class") for line in lines)
    rows = [[int(n) for n in line.split()[1:]] for line in lines[-10:]]
    assert rows == committed_metrics["confusion_matrix"]

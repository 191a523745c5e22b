"""The hook's config and its decision (train, evaluate, reuse), on copies of this project."""
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from hatch_mlbundle.bundle.config import load_config
from hatch_mlbundle.bundle.errors import BundleError
from hatch_mlbundle.bundle.plan import EVALUATE, REUSE, TRAIN, make_plan
from helpers import PYTHON, ROOT, copy_project

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

WEIGHTS = "model_src/mnist_model/weights/model.pth"
LOCK = "model_src/mnist_model/weights/mlbundle.lock"


def hook_table(root):
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    return pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["custom"]


def plan_for(root, environ=None, **overrides):
    table = dict(hook_table(root), **overrides)
    return make_plan(load_config(root, table, "custom", environ=environ or {}))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("pristine"))


@pytest.fixture
def project(pristine, tmp_path):
    """A throwaway copy: tests below tamper with it."""
    return shutil.copytree(pristine, tmp_path / "project", symlinks=True)


# ---- config ----------------------------------------------------------------------------------

def test_the_repository_config_loads_and_passes_hatchling_options_through():
    table = dict(hook_table(ROOT), **{"enable-by-default": True, "dependencies": ["x"], "require-runtime-dependencies": True})
    config = load_config(ROOT, table, "mlbundle", environ={})
    assert config.weights == ROOT / WEIGHTS
    assert config.mode == "auto"
    assert [(g.metric, g.rule, g.option) for g in config.gates] == [
        ("accuracy", ">= 0.98", "min-accuracy"), ("latency_ms", "<= 10", "max-latency-ms"),
        ("parity_max_abs_diff", "<= 0.0001", "gates.parity_max_abs_diff"),
        ("parity_argmax_mismatches", "<= 0", "gates.parity_argmax_mismatches"),
        *[(f"realistic_{name}", ">= 0.97", f"gates.realistic_{name}") for name in (
            "marker", "photo", "lighting", "rgba_black", "rgba_white", "thin_pen", "coloured", "phone")]]
    assert config.export == "mnist_model.export:export" and config.exported == ROOT / WEIGHTS.replace(".pth", ".onnx")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"min-acuracy": 0.9}, "Option `min-acuracy` for build hook `mlbundle` is not known"),
        ({"min-accuracy": "high"}, "Option `min-accuracy` for build hook `mlbundle` must be a number, not str"),
        ({"min-accuracy": 98}, "Option `min-accuracy` for build hook `mlbundle` must be between 0 and 1"),
        ({"max-latency-ms": -1}, "Option `max-latency-ms` for build hook `mlbundle` must be positive"),
        ({"train": "mnist_model.train"}, "Option `train` for build hook `mlbundle` must look like 'package.module:function'"),
        ({"sources": "train.py"}, "Option `sources` for build hook `mlbundle` must be an array"),
        ({"mode": "fast"}, "Option `mode` = 'fast' for build hook `mlbundle` is not one of auto, verify, train"),
        ({"weights": None}, "Option `weights` for build hook `mlbundle` is required"),
        ({"gates": {"f1": "at least 0.9"}}, "Option `gates.f1` for build hook `mlbundle` must be a rule like \">= 0.98\""),
        ({"gates": {"f1": 0.9}}, "Option `gates.f1` for build hook `mlbundle` must be a rule like"),
        ({"gates": ["f1 >= 0.9"]}, "Option `gates` for build hook `mlbundle` must be a table, not list"),
        ({"gates": {"accuracy": ">= 0.9"}}, "Option `gates.accuracy` for build hook `mlbundle` repeats option `min-accuracy`; keep one"),
        ({"gates": {"weights_bytes": "<= 0"}}, "Option `gates.weights_bytes` for build hook `mlbundle` must be positive, not 0"),
        ({"gates": {}}, "Option `gates` for build hook `mlbundle` is empty, which would let any model through"),
        ({"gates": {"f1": ">= 0.9"}, "min-accuracy": None, "max-latency-ms": None, "max-latncy-ms": 3}, "known options: build-requires, bundle, card, data, data-dir, data-hint, description, eval-sources, evaluate, export, exported, fetcher, gates, generated, hyperparameters, launcher, lock, max-latency-ms, max-restarts, min-accuracy, mode, nnodes, nproc-per-node, python-path, rdzv-backend, rdzv-endpoint, rdzv-id, rdzv-timeout, records, sources, train, weights"),
        ({"max-latency-ms": float("nan")}, "Option `max-latency-ms` for build hook `mlbundle` must be a finite number, not nan"),
        ({"gates": {"f1": ">= inf"}}, "Option `gates.f1` for build hook `mlbundle` must be a finite number, not inf"),
        ({"records": {"w/model.json": "w/model.pth"}}, "Option `records.w/model.json` for build hook `mlbundle` must map keys"),
    ],
)
def test_config_errors_name_the_option(change, message):
    table = dict(hook_table(ROOT), **change)
    table = {k: v for k, v in table.items() if v is not None}
    with pytest.raises(BundleError) as error:
        load_config(ROOT, table, "mlbundle", environ={})
    assert str(error.value).startswith(message) or message in str(error.value)


def test_gates_come_from_one_table_and_the_older_options():
    table = {k: v for k, v in hook_table(ROOT).items() if k not in ("min-accuracy", "max-latency-ms", "gates")}
    # No `gates` and no older options: today's defaults, accuracy and latency.
    assert [g.rule for g in load_config(ROOT, table, "mlbundle", environ={}).gates] == [">= 0.95", "<= 50"]
    # A `gates` table is the whole list (a regression model has no accuracy); an older option still adds its own.
    table["gates"] = {"rmse": "<=0.25", "weights_bytes": " < 100000 "}
    config = load_config(ROOT, dict(table, **{"max-latency-ms": 12}), "mlbundle", environ={})
    assert [(g.metric, g.rule, g.option) for g in config.gates] == [
        ("latency_ms", "<= 12", "max-latency-ms"), ("rmse", "<= 0.25", "gates.rmse"),
        ("weights_bytes", "< 100000", "gates.weights_bytes")]
    assert config.gates[1].check(0.3).failure() == (
        "gate rmse failed: measured 0.3, needs <= 0.25 (gates.rmse); improve the model and retrain, or change gates.rmse")
    # Thresholds keep every digit, in the table and in the card's rule: 0.30000004 does not "need <= 0.3".
    precise = load_config(ROOT, dict(table, gates={"rmse": "<= 0.3", "weights_bytes": "<= 1234567"}), "mlbundle", environ={})
    assert [g.rule for g in precise.gates] == ["<= 0.3", "<= 1234567"]
    assert precise.gates[0].check(0.30000004).failure().startswith("gate rmse failed: measured 0.30000004, needs <= 0.3 ")


def test_mode_from_the_environment_overrides_the_table_and_is_checked():
    config = load_config(ROOT, dict(hook_table(ROOT), mode="auto"), "mlbundle", environ={"MLBUNDLE_MODE": "Verify"})
    assert (config.mode, config.mode_source) == ("verify", "MLBUNDLE_MODE")
    with pytest.raises(BundleError, match=r"MLBUNDLE_MODE='sometimes' for build hook `mlbundle` is not one of"):
        load_config(ROOT, hook_table(ROOT), "mlbundle", environ={"MLBUNDLE_MODE": "sometimes"})


# ---- the decision ----------------------------------------------------------------------------

def test_nothing_changed_reuses_the_recorded_verification(project):
    plan = plan_for(project)
    assert plan.action == REUSE and not plan.needs_build_requires


def test_touching_files_or_editing_the_readme_changes_nothing(project):
    for name in ("model_src/mnist_model/train.py", "data/MNIST/raw/train-images-idx3-ubyte", WEIGHTS):
        os.utime(project / name, (1, 1))
    (project / "README.md").write_text("changed\n")
    assert plan_for(project).action == REUSE


def test_changed_training_code_retrains_in_auto_and_is_refused_in_verify(project):
    with open(project / "model_src/mnist_model/train.py", "a") as handle:
        handle.write("\n# a change\n")
    plan = plan_for(project)
    assert plan.action == TRAIN and "model_src/mnist_model/train.py changed" in plan.reason
    with pytest.raises(BundleError, match=r"verify mode: the weights are stale \(model_src/mnist_model/train.py changed\); retrain with MLBUNDLE_MODE=train"):
        plan_for(project, environ={"MLBUNDLE_MODE": "verify"})


def test_changed_hyperparameter_and_data_are_named(project):
    plan = plan_for(project, hyperparameters={"regimen": "default", "epochs": 2})
    assert plan.action == TRAIN and "hyper-parameter epochs: None -> 2" in plan.reason
    data = project / "data/MNIST/raw/t10k-labels-idx1-ubyte"
    data.write_bytes(data.read_bytes()[:-1] + b"\x00")
    assert "data/MNIST/raw/t10k-labels-idx1-ubyte changed" in plan_for(project).reason


def test_changed_evaluation_code_re_evaluates_without_retraining(project):
    with open(project / "model_src/mnist_model/evaluate.py", "a") as handle:
        handle.write("\n# a change\n")
    plan = plan_for(project)
    assert plan.action == EVALUATE and plan.needs_build_requires
    assert plan_for(project, environ={"MLBUNDLE_MODE": "verify"}).action == EVALUATE


def test_another_torch_version_retrains_in_auto_and_re_evaluates_in_verify(project, monkeypatch):
    from hatch_mlbundle.bundle import fingerprint

    recorded = json.loads((project / LOCK).read_text())["inputs"]["torch"]
    monkeypatch.setattr(fingerprint, "installed_version", lambda name: "9.9.9" if name == "torch" else None)
    assert f"torch {recorded} -> 9.9.9" in plan_for(project).reason
    plan = plan_for(project, environ={"MLBUNDLE_MODE": "verify"})
    assert plan.action == EVALUATE and f"torch 9.9.9 differs from the lock's {recorded}" in plan.reason


def test_without_torch_in_the_build_environment_the_recorded_verification_still_counts(project, monkeypatch):
    from hatch_mlbundle.bundle import fingerprint

    monkeypatch.setattr(fingerprint, "installed_version", lambda name: None)
    assert plan_for(project, environ={"MLBUNDLE_MODE": "verify"}).action == REUSE


def test_tampered_weights_are_refused_in_every_mode_but_train(project):
    weights = project / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    for mode in ("auto", "verify"):
        with pytest.raises(BundleError) as error:
            plan_for(project, environ={"MLBUNDLE_MODE": mode})
        assert str(error.value).startswith("gate sha256 failed: measured ")
        assert "restore it (`git checkout -- model_src/mnist_model/weights/model.pth`)" in str(error.value)
    assert plan_for(project, environ={"MLBUNDLE_MODE": "train"}).action == TRAIN


def test_a_record_the_runtime_trusts_must_describe_the_weights(project):
    """Weights swapped and the lock made to agree: the manifest run-mnist checks still tells the truth."""
    weights = project / WEIGHTS
    data = bytearray(weights.read_bytes())
    committed = hashlib.sha256(data).hexdigest()
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    lock = json.loads((project / LOCK).read_text())
    lock["weights_sha256"] = hashlib.sha256(data).hexdigest()
    (project / LOCK).write_text(json.dumps(lock))
    for mode in ("verify", "auto"):
        with pytest.raises(BundleError) as error:
            plan_for(project, environ={"MLBUNDLE_MODE": mode})
        assert str(error.value).startswith(f"gate model_src/mnist_model/weights/model.json sha256 failed: measured {committed[:12]}, "
                                           f"needs = {lock['weights_sha256'][:12]} (model_src/mnist_model/weights/model.pth); ")
        assert "run-mnist" not in str(error.value) and "restore both" in str(error.value)
    (project / "model_src/mnist_model/weights/model.json").write_text("{broken")
    with pytest.raises(BundleError, match=r"^record model_src/mnist_model/weights/model.json cannot be read \(JSONDecodeError\); restore it"):
        plan_for(project, environ={"MLBUNDLE_MODE": "verify"})


def test_the_records_are_checked_and_shown_on_a_good_build(project):
    plan = plan_for(project, environ={"MLBUNDLE_MODE": "verify"})
    assert [(c.name, c.passed) for c in plan.checks] == [
        ("sha256", True), ("sha256 model.onnx", True), ("model_src/mnist_model/weights/model.json sha256", True),
        ("model_src/mnist_model/weights/model.json onnx_sha256", True)]


@pytest.mark.parametrize("damage", ["{not json", "[]", '{"version": 1}'])
def test_a_corrupted_lock_is_one_clear_error(project, damage):
    (project / LOCK).write_text(damage)
    with pytest.raises(BundleError, match=r"^lock .*mlbundle.lock is corrupted \(.*\); restore it"):
        plan_for(project)


def test_missing_weights_or_lock(project):
    (project / LOCK).unlink()
    assert plan_for(project).reason == "no model_src/mnist_model/weights/mlbundle.lock yet"
    with pytest.raises(BundleError, match=r"verify mode: model_src/mnist_model/weights/mlbundle.lock missing; build once with MLBUNDLE_MODE=train"):
        plan_for(project, environ={"MLBUNDLE_MODE": "verify"})


def test_a_missing_dataset_says_how_to_get_it(project):
    shutil.rmtree(project / "data")
    with pytest.raises(BundleError) as error:
        plan_for(project)
    assert "Option `data` names 'data/MNIST/raw', which matches no file" in str(error.value)
    assert "mnist-model prepare-data" in str(error.value)


def test_deciding_imports_no_torch(project):
    code = (
        "import sys, json\n"
        "from hatch_mlbundle.bundle.plan import make_plan\n"
        "from hatch_mlbundle.bundle.config import load_config\n"
        "import tomllib\n"
        "t = tomllib.load(open('pyproject.toml','rb'))['tool']['hatch']['build']['targets']['wheel']['hooks']['custom']\n"
        "plan = make_plan(load_config('.', t, 'custom'))\n"
        "print(plan.action, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([PYTHON, "-c", code], cwd=project, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True)
    assert out.stdout.split() == ["reuse", "False"], out.stderr


def test_an_auto_build_records_a_fresh_verification_and_a_verify_build_does_not(project):
    from hatch_mlbundle.bundle.lock import read_lock
    from hatch_mlbundle.bundle.steps import run

    class Display:
        def __init__(self):
            self.lines = []

        def display_info(self, message):
            self.lines.append(message)

        display_success = display_info

    with open(project / "model_src/mnist_model/evaluate.py", "a") as handle:
        handle.write("\n# a change\n")
    config = load_config(project, hook_table(project), "custom", environ={"MLBUNDLE_MODE": "verify"})
    display = Display()
    run(config, make_plan(config), display, "mnist-model", "1.0.0")
    assert "mlbundle: evaluate: fingerprint unchanged; verifying" in display.lines
    assert make_plan(config).action == EVALUATE  # verify mode wrote nothing

    config = load_config(project, hook_table(project), "custom", environ={})
    run(config, make_plan(config), display, "mnist-model", "1.0.0")
    assert "mlbundle: recorded this verification in model_src/mnist_model/weights/mlbundle.lock" in display.lines
    assert make_plan(config).action == REUSE
    assert read_lock(project / LOCK)["verification"]["metrics"]["accuracy"] >= 0.98


def test_a_file_is_hashed_once_per_version(tmp_path, monkeypatch):
    """The build asks for the weights' sha256 several times; it reads them once, and again only if they change."""
    from hatch_mlbundle import files

    reads = []
    real = files.file_digests
    monkeypatch.setattr(files, "file_digests", lambda path, *a: reads.append(path) or real(path, *a))
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"one")
    first = files.sha256_file(weights)
    assert files.sha256_file(weights) == first and len(reads) == 1
    (tmp_path / "new.pth").write_bytes(b"two")
    os.replace(tmp_path / "new.pth", weights)  # how training puts weights in place: another inode
    assert files.sha256_file(weights) != first and len(reads) == 2

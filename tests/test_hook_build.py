"""Real builds of this project with every frontend, from a fresh copy, and what users get from them."""
import hashlib
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from helpers import PYTHON, ROOT, BIN, copy_project, fresh_venv, run, venv_bin

# Isolated build environments install hatchling from the wheelhouse .ci/setup filled: no network.
OFFLINE = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(ROOT / ".wheelhouse")}
WEIGHTS = "model_src/mnist_model/weights/model.pth"
LOCK = "model_src/mnist_model/weights/mlbundle.lock"
MANIFEST = "model_src/mnist_model/weights/model.json"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Three held-out digits as a person would draw them: black on white, 200x200."""
    from mnist_model.samples import write_pngs

    written = write_pngs(ROOT / "data", tmp_path_factory.mktemp("digits"), style="black-on-white", size=200, limit=3)
    return written


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One fresh copy built by `hatch build` (wheel + sdist)."""
    project = copy_project(tmp_path_factory.mktemp("hatch") / "project")
    result = run([BIN / "hatch", "build"], cwd=project, env=OFFLINE)
    assert result.returncode == 0, result.stdout + result.stderr
    return project, result.stdout + result.stderr


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def wheel_in(directory):
    (wheel,) = Path(directory).glob("*.whl")
    return wheel


def assert_runs_in_fresh_venv(venv, digits):
    """run-mnist, installed in `venv`, names each digit right."""
    result = run([venv_bin(venv, "run-mnist"), "--json"] + [path for path, _ in digits], cwd=venv)
    assert result.returncode == 0, result.stderr
    got = [json.loads(line)["digit"] for line in result.stdout.splitlines()]
    assert got == [label for _, label in digits]


def install_and_run(wheel, tmp_path, digits):
    venv = fresh_venv(tmp_path / "venv")
    run([venv_bin(venv, "pip"), "install", "--no-index", wheel], env=OFFLINE, check=True)
    assert_runs_in_fresh_venv(venv, digits)
    return venv


def test_hatch_build_reuses_the_verification_and_the_wheel_works(built, tmp_path, digits):
    project, output = built
    assert "mlbundle: reuse: fingerprint unchanged" in output
    accuracy = json.loads((ROOT / LOCK).read_text())["verification"]["metrics"]["accuracy"]
    assert re.search(rf"^\| accuracy +\| {accuracy * 100:.2f}% +\| >= 98\.00% \(min-accuracy\) +\| pass +\|$", output,
                     re.MULTILINE)
    assert "Traceback" not in output
    venv = install_and_run(wheel_in(project / "dist"), tmp_path, digits)
    card = json.loads(next(venv.glob("lib/python*/site-packages/mnist_model/model_card.json")).read_text())
    assert card["metrics"]["accuracy"] >= 0.98 and len(card["metrics"]["per_class_accuracy"]) == 10
    assert card["weights"]["sha256"] == sha256(ROOT / WEIGHTS)
    assert card["git_commit"] and len(card["git_commit"]) == 40
    assert set(card["data_sha256"]) == {f"data/MNIST/raw/{n}" for n in (
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    assert card["hyperparameters"]["epochs"] == 40 and card["torch_version"]
    assert all(card["gates"][f"realistic_{name}"].startswith(">= ") for name in ("photo", "rgba_white", "phone"))
    assert all(0.9 <= card["metrics"][f"realistic_{name}"] <= 1 for name in ("photo", "rgba_white", "phone"))
    assert card["exported"]["file"] == "model.onnx" and card["exported"]["opset"] == 18
    assert card["exported"]["sha256"] == sha256(ROOT / WEIGHTS.replace(".pth", ".onnx"))
    assert card["metrics"]["parity_argmax_mismatches"] == 0 and card["metrics"]["parity_max_abs_diff"] <= 1e-4
    assert card["metrics"]["onnxruntime_version"] and card["gates"]["parity_max_abs_diff"] == "<= 0.0001"


def test_the_wheel_holds_package_weights_card_runner_and_entry_point(built):
    project, _ = built
    with zipfile.ZipFile(wheel_in(project / "dist")) as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read("mnist_model-1.0.0.dist-info/entry_points.txt").decode()
        metadata = wheel.read("mnist_model-1.0.0.dist-info/METADATA").decode()
        assert wheel.read("mnist_model/weights/model.pth") == (ROOT / WEIGHTS).read_bytes()
    assert {"mnist_model/model_card.json", "mnist_model/run_mnist.py", "mnist_model/weights/model.json",
            "mnist_model/weights/model.onnx"} <= names
    assert "run-mnist = mnist_model.cli:main" in entry_points
    assert "Metadata-Version: 2.4" in metadata
    assert "License-File: LICENSE" in metadata and "mnist_model-1.0.0.dist-info/licenses/LICENSE" in names
    assert not any(n.endswith("mlbundle.lock") or n.startswith("data/") or ".mlbundle-train-" in n for n in names)


def test_the_long_description_is_the_markdown_model_card_of_the_shipped_weights(built):
    """What GitLab's package page and `pip show` display: the model card, its figures the card's own."""
    project, _ = built
    with zipfile.ZipFile(wheel_in(project / "dist")) as wheel:
        metadata = wheel.read("mnist_model-1.0.0.dist-info/METADATA").decode()
        card = json.loads(wheel.read("mnist_model/model_card.json"))
    headers, _, description = metadata.partition("\n\n")
    assert "Description-Content-Type: text/markdown" in headers
    assert "bash .ci/setup" not in description  # not the builder's README
    front, body = description.split("\n---\n", 1)
    assert front.startswith("---\nlicense: bsd-3-clause")
    metrics = json.loads(re.search(r"^    metrics: (\[.*\])$", front, re.MULTILINE).group(1))
    assert {"type": "accuracy", "value": card["metrics"]["accuracy"], "name": "accuracy"} in metrics
    assert "# mnist-model 1.0.0" in body and "mlbundle:" not in body
    for section in ("## Intended use", "## Training data and split", "## Metrics", "### Accuracy per class",
                    "## Limitations seen in tests", "## How to run", "## Provenance"):
        assert section in body, section
    assert re.search(rf"^\| `accuracy` +\| {card['metrics']['accuracy']:g} +\| >= 0\.98 +\|$", body, re.MULTILINE)
    assert re.search(r"^\| 4 +\| 9\d\.\d%", body, re.MULTILINE)  # per class
    assert card["weights"]["sha256"] in body and card["git_commit"] in body
    # "built" is the commit's time (reproducible), never null
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", card["built"]) and card["built"] in body


def test_the_sdist_rebuilds_the_wheel_by_verifying_not_training(built, tmp_path, digits):
    project, _ = built
    (sdist,) = (project / "dist").glob("*.tar.gz")
    shutil.unpack_archive(sdist, tmp_path)
    (source,) = tmp_path.glob("mnist_model-*")
    for needed in ("hatch_build.py", "hatch_mlbundle/bundle/hook.py", WEIGHTS, LOCK, "data/MNIST/raw/t10k-images-idx3-ubyte"):
        assert (source / needed).is_file(), needed
    result = run([PYTHON, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / "out", "-v", source],
                 env=dict(OFFLINE, MLBUNDLE_MODE="verify"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mlbundle: reuse" in result.stdout + result.stderr
    install_and_run(wheel_in(tmp_path / "out"), tmp_path, digits)


def test_python_m_build_from_a_fresh_copy(tmp_path, digits):
    project = copy_project(tmp_path / "project")
    result = run([PYTHON, "-m", "build", project], env=OFFLINE)
    assert result.returncode == 0, result.stdout + result.stderr
    install_and_run(wheel_in(project / "dist"), tmp_path, digits)


def test_pip_wheel_twice_gives_byte_identical_wheels(tmp_path):
    project = copy_project(tmp_path / "project")
    hashes = []
    for attempt in ("a", "b"):
        result = run([PYTHON, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / attempt, project], env=OFFLINE)
        assert result.returncode == 0, result.stdout + result.stderr
        hashes.append(sha256(wheel_in(tmp_path / attempt)))
    assert hashes[0] == hashes[1]


def test_pip_install_and_editable_install_into_fresh_venvs(tmp_path, digits):
    project = copy_project(tmp_path / "project")
    for name, args in (("regular", [project]), ("editable", ["-e", project])):
        venv = fresh_venv(tmp_path / name)
        result = run([venv_bin(venv, "pip"), "install"] + args, env=OFFLINE)
        assert result.returncode == 0, result.stdout + result.stderr
        assert_runs_in_fresh_venv(venv, digits)


def test_a_failed_gate_stops_the_build_and_leaves_the_weights_alone(tmp_path):
    project = copy_project(tmp_path / "project")
    before = {name: sha256(project / name) for name in (WEIGHTS, LOCK, MANIFEST)}
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('regimen = "default"', 'regimen = "default"\nepochs = 1'))
    result = run([PYTHON, "-m", "build", "--wheel", "--no-isolation", project], env={"MLBUNDLE_MODE": "train"})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "mlbundle: train: mode train (from MLBUNDLE_MODE)" in output
    failure = [line for line in output.splitlines() if "gate accuracy failed" in line]
    assert len(failure) == 1 and "needs >= 98.00% (min-accuracy); improve the model" in failure[0]
    assert "Traceback" not in output
    assert {name: sha256(project / name) for name in before} == before
    assert not list((project / WEIGHTS).parent.glob(".mlbundle-train-*"))
    assert not list((project / "dist").glob("*.whl"))


def test_training_in_the_build_updates_weights_manifest_and_lock_together(tmp_path, digits):
    project = copy_project(tmp_path / "project")
    old_weights = sha256(project / WEIGHTS)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text().replace('regimen = "default"', 'regimen = "default"\nepochs = 2')
    text = re.sub(r"^realistic_\w+ = .*\n", "", text, flags=re.M)  # 2 epochs do not read photos
    pyproject.write_text(text.replace("min-accuracy = 0.98", "min-accuracy = 0.5"))
    result = run([PYTHON, "-m", "build", "--wheel", "--no-isolation", project])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "mlbundle: train: fingerprint changed: hyper-parameter epochs: None -> 2" in output
    assert "epoch 2/2" in output
    new_weights = sha256(project / WEIGHTS)
    lock = json.loads((project / LOCK).read_text())
    manifest = json.loads((project / MANIFEST).read_text())
    assert new_weights != old_weights
    assert lock["weights_sha256"] == manifest["sha256"] == new_weights
    assert lock["inputs"]["hyperparameters"]["epochs"] == 2 and manifest["hyperparameters"]["epochs"] == 2
    again = run([PYTHON, "-m", "build", "--wheel", "--no-isolation", project])
    assert "mlbundle: reuse" in again.stdout + again.stderr
    venv = fresh_venv(tmp_path / "venv")
    run([venv_bin(venv, "pip"), "install", "--no-index", wheel_in(project / "dist")], env=OFFLINE, check=True)
    result = run([venv_bin(venv, "run-mnist"), digits[0][0]])
    assert result.returncode == 0 and result.stdout.startswith("Image is a "), result.stderr


def test_without_torch_in_a_no_isolation_build_one_line_says_what_to_do(tmp_path):
    project = copy_project(tmp_path / "project")
    lock = json.loads((project / LOCK).read_text())
    lock["verification"]["key"] = "0" * 64  # forces a fresh evaluation
    (project / LOCK).write_text(json.dumps(lock))
    venv = fresh_venv(tmp_path / "venv", with_torch=False)
    run([venv_bin(venv, "pip"), "install", "hatchling", "hatch-vcs"], env=OFFLINE, check=True)  # build-system requires
    result = run([venv_bin(venv, "pip"), "wheel", "--no-build-isolation", "--no-deps", "-w", tmp_path, project])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert ("mlbundle: torch>=2.1, numpy>=1.23, pillow>=9.1, tqdm>=4.60, onnx>=1.16, onnxscript>=0.3, onnxruntime>=1.18 "
            "not installed in this build environment") in output
    assert "Traceback" not in output

"""What a teammate gets from `pip install mnist-model`: onnxruntime, numpy and pillow, no torch. The wheel is
built for real and installed with pip into a fresh venv that cannot see torch; run-mnist, predict() and the
stand-alone script run there, and what needs torch says in one line which extra brings it."""
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from helpers import PYTHON, ROOT, copy_project, fresh_venv, run, venv_bin
from test_hook_build import OFFLINE

WHEELHOUSE = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(ROOT / ".wheelhouse")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel of a fresh copy, built by pip (a no-op build: nothing to train or evaluate)."""
    tmp = tmp_path_factory.mktemp("wheel")
    project = copy_project(tmp / "project")
    result = run([PYTHON, "-m", "pip", "wheel", "--no-deps", "-w", tmp / "out", project], env=OFFLINE)
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = (tmp / "out").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    """A fresh venv with the wheel and its dependencies, installed by pip from the wheelhouse; no torch."""
    venv = fresh_venv(tmp_path_factory.mktemp("venv") / "venv", with_torch=False)
    result = run([venv_bin(venv, "pip"), "install", wheel], env=WHEELHOUSE)
    assert result.returncode == 0, result.stdout + result.stderr
    return venv


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from mnist_model.samples import write_pngs

    return write_pngs(ROOT / "data", tmp_path_factory.mktemp("digits"), style="black-on-white", size=200, limit=20)


def site_packages(venv):
    return next(Path(venv).glob("lib/python*/site-packages"))


def test_the_wheel_requires_onnxruntime_numpy_pillow_and_keeps_torch_in_extras(wheel):
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read("mnist_model-1.0.0.dist-info/METADATA").decode()
        assert "mnist_model/weights/model.onnx" in archive.namelist()
    requires = [line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]
    assert sorted(r for r in requires if "extra ==" not in r) == ["numpy>=1.23", "onnxruntime>=1.18", "pillow>=9.1"]
    assert "torch>=2.1; extra == 'torch'" in requires and "onnx>=1.16; extra == 'train'" in requires


def test_the_install_has_no_torch_and_is_small(venv):
    names = {p.name.split("-")[0].lower() for p in site_packages(venv).iterdir()}
    assert {"onnxruntime", "numpy", "pil", "mnist_model"} <= names and "torch" not in names
    size = sum(f.stat().st_size for f in site_packages(venv).rglob("*") if f.is_file())
    assert size < 400 * 2**20, f"{size / 2**20:.0f} MiB"  # torch from PyPI alone is 5,457 MiB


def test_run_mnist_runs_without_torch_and_agrees_with_the_torch_backend(venv, digits, tmp_path):
    paths = [str(p) for p, _ in digits]
    here = run([venv_bin(venv, "run-mnist"), "--json", *paths], cwd=tmp_path)
    assert here.returncode == 0 and here.stderr == "", here.stderr  # no warning from anyone
    records = [json.loads(line) for line in here.stdout.splitlines()]
    assert [r["digit"] for r in records] == [label for _, label in digits]
    reference = run([PYTHON, "-m", "mnist_model.cli", "--backend", "torch", "--json", *paths], cwd=tmp_path,
                    env={"PYTHONPATH": str(ROOT / "model_src")})
    torch_records = [json.loads(line) for line in reference.stdout.splitlines()]
    assert [r["digit"] for r in torch_records] == [r["digit"] for r in records]
    assert all(abs(a["confidence"] - b["confidence"]) < 1e-4 for a, b in zip(records, torch_records))


def test_predict_runs_without_torch(venv, digits, tmp_path):
    code = "import sys, mnist_model; print(mnist_model.predict(sys.argv[1:]))"
    result = run([venv_bin(venv, "python"), "-c", code, *[str(p) for p, _ in digits[:3]]], cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.count("Prediction(") == 3


@pytest.mark.parametrize("command, extra", [
    (["run-mnist", "--backend", "torch"], "pip install 'mnist-model[torch]'"),
    (["mnist-model", "evaluate"], "pip install 'mnist-model[train]'"),
    (["mnist-model", "export"], "pip install 'mnist-model[train]'"),
])
def test_what_needs_torch_says_which_extra_in_one_line(venv, digits, tmp_path, command, extra):
    args = [str(digits[0][0])] if command[0] == "run-mnist" else []
    result = run([venv_bin(venv, command[0]), *command[1:], *args], cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.endswith(extra) and "torch" in line, line


def test_the_raw_files_run_with_onnxruntime_alone(venv, digits, tmp_path):
    """run_mnist.py + model.onnx + SHA256SUMS, as downloaded from the generic registry; model.pth alone
    would need torch, which one line says."""
    package = site_packages(venv) / "mnist_model"
    for name in ("run_mnist.py", "weights/model.onnx", "weights/model.pth"):
        shutil.copy(package / name, tmp_path / Path(name).name)
    result = run([venv_bin(venv, "python"), "run_mnist.py", "--image", str(digits[0][0].parent / "*.png")], cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert len(result.stdout.splitlines()) == len(digits)
    os.unlink(tmp_path / "model.onnx")
    result = run([venv_bin(venv, "python"), "run_mnist.py", str(digits[0][0])], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "run_mnist.py: the torch backend needs torch, not installed here: pip install torch numpy pillow\n"

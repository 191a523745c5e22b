"""The stand-alone run_mnist.py, run where the package is not importable: same answers as run-mnist with
model.onnx (onnxruntime) and with model.pth alone (torch, the tutorial's way), refuses tampered files, and
neither it nor run-mnist imports torchvision to classify."""
import hashlib
import shutil

import pytest

pytest.register_assert_rewrite("model_fixtures")
from model_fixtures import (  # noqa: E402
    PACKAGE_ENV,
    PYTHON,
    WEIGHTS,
    flip_byte,
    json_lines,
    one_error_line,
    run,
    run_clean,
)

pytest_plugins = ["model_fixtures"]

# Runs a script the way `python script.py` does, after checking the package cannot be imported, and
# reports which modules of interest were loaded: torchvision must not be, mnist_model cannot be.
WRAPPER = """
import importlib.util, os, runpy, sys
def _exit(status):  # the script leaves through os._exit; let the report below run first
    raise SystemExit(status)
os._exit = _exit
assert importlib.util.find_spec("mnist_model") is None, "mnist_model is importable here"
assert not any("model_src" in p for p in sys.path), sys.path
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torchvision", "mnist_model"))
    print("LOADED " + repr(loaded), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """render() written as run_mnist.py with model.onnx, model.pth and SHA256SUMS beside it, as a user
    unpacks the raw files."""
    from mnist_model.standalone import render

    directory = tmp_path_factory.mktemp("standalone")
    (directory / "run_mnist.py").write_text(render(), encoding="utf-8")
    shutil.copy(WEIGHTS, directory / "model.pth")
    shutil.copy(WEIGHTS.with_suffix(".onnx"), directory / "model.onnx")
    sums = [f"{hashlib.sha256((directory / n).read_bytes()).hexdigest()}  {n}\n" for n in ("model.onnx", "model.pth")]
    (directory / "SHA256SUMS").write_text("".join(sums))
    return directory


def run_standalone(directory, *args):
    return run_clean([PYTHON, "run_mnist.py", *args], cwd=directory)


def failed_files(stderr, prog):
    return sorted(line[len(prog) + 2 :].split(": ", 1)[0] for line in stderr.splitlines() if line.startswith(prog))


def assert_same_predictions(package, alone):
    records, alone_records = json_lines(package.stdout), json_lines(alone.stdout)
    assert list(alone_records) == list(records)
    for name, record in records.items():
        assert (alone_records[name]["digit"], alone_records[name]["confidence"]) == (
            record["digit"], record["confidence"]), name


def test_standalone_gives_the_same_answers_as_run_mnist_on_every_corpus_image(standalone, corpus_args, corpus_run):
    alone = run_standalone(standalone, *corpus_args)
    assert "Traceback" not in alone.stderr
    assert alone.returncode == corpus_run.returncode == 1
    assert_same_predictions(corpus_run, alone)
    assert failed_files(alone.stderr, "run_mnist.py") == failed_files(corpus_run.stderr, "run-mnist")


def test_standalone_gives_the_same_answers_on_held_out_digits(standalone, heldout_pngs, heldout_runs):
    alone = run_standalone(standalone, "--json", heldout_pngs["white-on-black"])
    assert alone.returncode == 0 and alone.stderr == "", alone.stderr
    assert_same_predictions(heldout_runs["white-on-black"], alone)


def test_standalone_with_model_pth_alone_runs_on_torch_like_the_tutorial(standalone, heldout_pngs, heldout_runs,
                                                                         tmp_path):
    copy = tmp_path / "tutorial-way"
    shutil.copytree(standalone, copy)
    (copy / "model.onnx").unlink()
    alone = run_standalone(copy, "--json", heldout_pngs["white-on-black"])
    assert alone.returncode == 0 and alone.stderr == "", alone.stderr
    records, alone_records = json_lines(heldout_runs["white-on-black"].stdout), json_lines(alone.stdout)
    assert list(alone_records) == list(records)
    for name, record in records.items():
        assert alone_records[name]["digit"] == record["digit"], name
        assert abs(alone_records[name]["confidence"] - record["confidence"]) < 1e-4, name


@pytest.mark.parametrize("name, backend", [("model.pth", "torch"), ("model.onnx", "onnx")])
def test_standalone_refuses_a_tampered_file_listed_in_sha256sums(standalone, mode_corpus, tmp_path, name, backend):
    directory, _ = mode_corpus
    copy = tmp_path / "unpacked"
    shutil.copytree(standalone, copy)
    flip_byte(copy / name)
    result = run_standalone(copy, "--backend", backend, directory / "L-white-on-black-28_5.png")
    assert result.returncode == 1 and result.stdout == ""
    line = one_error_line(result, prog="run_mnist.py")
    assert name in line and "sha256" in line and "SHA256SUMS" in line


def test_standalone_classifies_without_torchvision_or_the_package(standalone, mode_corpus):
    directory, _ = mode_corpus
    result = run_clean([PYTHON, "-c", WRAPPER, "run_mnist.py", directory / "L-white-on-black-28_5.png"], cwd=standalone)
    assert result.stdout == "Image is a 5\n", result.stderr
    assert result.stderr.splitlines()[-1] == "LOADED []"


def test_run_mnist_classifies_without_importing_torchvision(mode_corpus, tmp_path):
    directory, _ = mode_corpus
    command = [PYTHON, "-X", "importtime", "-m", "mnist_model.cli", directory / "L-white-on-black-28_5.png"]
    result = run(command, cwd=tmp_path, env=PACKAGE_ENV)
    assert result.returncode == 0 and result.stdout == "Image is a 5\n", result.stderr
    lines = result.stderr.splitlines()
    imported = [line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")]
    assert "mnist_model.runner" in imported  # the check looks at the right process
    assert not [name for name in imported if name.split(".")[0] == "torchvision"]


def test_standalone_never_packages_a_tampered_model_under_fresh_checksums(tmp_path):
    """It used to copy whatever was there and write a new SHA256SUMS over it: a tampered file came out 'verified'."""
    weights = tmp_path / "weights"
    shutil.copytree(WEIGHTS.parent, weights, ignore=shutil.ignore_patterns("*.lock"))
    good = run([PYTHON, "-m", "mnist_model", "standalone", "--weights", weights / "model.onnx", "--out",
                tmp_path / "good"], env=PACKAGE_ENV)
    assert good.returncode == 0, good.stderr
    # --weights may name either file; each lands under its own name
    assert (tmp_path / "good" / "model.pth").read_bytes() == (weights / "model.pth").read_bytes()
    assert (tmp_path / "good" / "model.onnx").read_bytes() == (weights / "model.onnx").read_bytes()
    flip_byte(weights / "model.onnx")
    bad = run([PYTHON, "-m", "mnist_model", "standalone", "--weights", weights / "model.pth", "--out",
               tmp_path / "bad"], env=PACKAGE_ENV)
    assert bad.returncode == 1 and not (tmp_path / "bad" / "SHA256SUMS").exists()
    [line] = bad.stderr.strip().splitlines()
    assert line.startswith("mnist-model: ") and "model.onnx: sha256" in line and "does not match" in line

"""The exported model and the default runtime: model.onnx is the export of model.pth (same bytes from any
environment), has the documented interface, agrees with the PyTorch backend, is checked before loading,
and nothing on the default path imports torch."""
import hashlib
import json
import shutil

import numpy as np
import pytest

pytest.register_assert_rewrite("model_fixtures")
from model_fixtures import (  # noqa: E402
    MANIFEST,
    PACKAGE,
    PACKAGE_ENV,
    PYTHON,
    WEIGHTS,
    flip_byte,
    json_lines,
    label_of,
    one_error_line,
    run,
    run_mnist,
)

pytest_plugins = ["model_fixtures"]
MODEL = PACKAGE / "weights" / "model.onnx"


@pytest.fixture(scope="module")
def session():
    from mnist_model.onnx_backend import load_session

    return load_session(MODEL)


def test_the_committed_onnx_is_what_exporting_the_committed_weights_gives_here(tmp_path):
    """It was exported in hatch's build environment; exporting again here (another venv, another
    process, another directory) gives the same bytes, which the manifest records."""
    shutil.copy(WEIGHTS, tmp_path / "model.pth")
    result = run([PYTHON, "-m", "mnist_model", "export", "--weights", tmp_path / "model.pth"], cwd=tmp_path,
                 env=PACKAGE_ENV)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert (tmp_path / "model.onnx").read_bytes() == MODEL.read_bytes()
    digest = hashlib.sha256(MODEL.read_bytes()).hexdigest()
    assert json.loads(MANIFEST.read_text())["onnx_sha256"] == digest
    assert json.loads((tmp_path / "model.json").read_text())["onnx_sha256"] == digest


def test_the_interface_is_pinned_and_documented():
    import onnx

    from mnist_model.export import OPSET

    model = onnx.load(MODEL)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)] and OPSET == 18
    (pixels,), (log_probs,) = model.graph.input, model.graph.output
    assert pixels.name == "pixels" and pixels.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_param or d.dim_value for d in pixels.type.tensor_type.shape.dim] == ["batch", 28, 28]
    assert log_probs.name == "log_probs" and log_probs.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param or d.dim_value for d in log_probs.type.tensor_type.shape.dim] == ["batch", 10]
    assert "uint8 [batch, 28, 28]" in model.doc_string
    assert b"/work/" not in MODEL.read_bytes() and b"site-packages" not in MODEL.read_bytes()


def test_the_batch_axis_is_dynamic_and_outputs_are_log_probabilities(session, heldout):
    images = heldout[0].numpy()
    one = session.run(None, {"pixels": images[:1]})[0]
    many = session.run(None, {"pixels": images[:37]})[0]
    assert one.shape == (1, 10) and many.shape == (37, 10)
    assert np.allclose(one[0], many[0], atol=1e-6)
    assert np.allclose(np.exp(many).sum(axis=1), 1, atol=1e-5)


def test_the_default_and_the_torch_backend_agree_on_held_out_pngs(heldout_pngs, heldout_runs, tmp_path):
    for style, default in heldout_runs.items():
        torch_run = run_mnist("--backend", "torch", "--json", heldout_pngs[style], cwd=tmp_path)
        assert default.returncode == torch_run.returncode == 0, torch_run.stderr
        onnx_records, torch_records = json_lines(default.stdout), json_lines(torch_run.stdout)
        assert set(onnx_records) == set(torch_records)
        for name, record in onnx_records.items():
            assert record["digit"] == torch_records[name]["digit"], name
            assert abs(record["confidence"] - torch_records[name]["confidence"]) < 1e-4, name
        right = [sum(r["digit"] == label_of(n) for n, r in records.items()) for records in (onnx_records, torch_records)]
        assert abs(right[0] - right[1]) / len(onnx_records) <= 0.001, (style, right)


def test_a_tampered_model_onnx_beside_its_manifest_is_refused_on_one_line(mode_corpus, tmp_path):
    directory, _ = mode_corpus
    for name in ("model.onnx", "model.json"):
        shutil.copy(PACKAGE / "weights" / name, tmp_path / name)
    flip_byte(tmp_path / "model.onnx")
    result = run_mnist("--weights", tmp_path / "model.onnx", directory / "L-white-on-black-28_4.png", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    line = one_error_line(result)
    assert "model.onnx" in line and "sha256" in line and "model.json" in line


def test_onnx_backend_with_a_state_dict_is_one_line(mode_corpus, tmp_path):
    directory, _ = mode_corpus
    result = run_mnist("--backend", "onnx", "--weights", WEIGHTS, directory / "L-white-on-black-28_4.png", cwd=tmp_path)
    assert result.returncode == 1
    assert "--backend torch" in one_error_line(result)


# Loads the package, classifies through run-mnist's main and predict(), then lists what was imported.
NO_TORCH = """
import sys
import mnist_model
from mnist_model.runner import main
from mnist_model.api import BUNDLED
assert main([sys.argv[1], "--json"], default_weights=BUNDLED) == 0
assert mnist_model.predict(sys.argv[1]).digit == 5
print("IMPORTED", sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision")))
"""


def test_nothing_on_the_default_path_imports_torch(mode_corpus, tmp_path):
    directory, _ = mode_corpus
    result = run([PYTHON, "-c", NO_TORCH, directory / "L-white-on-black-28_5.png"], cwd=tmp_path, env=PACKAGE_ENV)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.splitlines()[-1] == "IMPORTED []"


def test_predict_with_the_torch_backend_gives_the_same_digits(mode_corpus):
    import mnist_model

    _, cases = mode_corpus
    paths = [path for path, _ in cases["RGB-blue-ink-200"]]
    onnx_results, torch_results = mnist_model.predict(paths), mnist_model.predict(paths, backend="torch")
    assert [r.digit for r in onnx_results] == [r.digit for r in torch_results] == [d for _, d in cases["RGB-blue-ink-200"]]
    assert all(abs(a.confidence - b.confidence) < 1e-4 for a, b in zip(onnx_results, torch_results))

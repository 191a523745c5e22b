"""The exported model in the build: `export`/`exported` in config, model.onnx checked against the lock like
the weights (no torch, no onnxruntime), and the parity gates that hold it to the weights on held-out data."""
import hashlib
import json

import pytest

from hatch_mlbundle.bundle.config import load_config
from hatch_mlbundle.bundle.errors import BundleError
from hatch_mlbundle.bundle.plan import REUSE, TRAIN
from helpers import PYTHON, ROOT, run
from test_hook_build import OFFLINE
import test_hook_plan
from test_hook_plan import LOCK, hook_table, plan_for

pristine, project = test_hook_plan.pristine, test_hook_plan.project  # its fixtures: copies of this project

ONNX = "model_src/mnist_model/weights/model.onnx"
MANIFEST = "model_src/mnist_model/weights/model.json"


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("present, message", [
    ({"export": "mnist_model.export:export"}, "Option `exported` for build hook `custom` is required with `export`"),
    ({"exported": "model.onnx"}, "Option `export` for build hook `custom` is required with `exported`"),
])
def test_export_and_exported_go_together(present, message):
    table = {k: v for k, v in hook_table(ROOT).items() if k not in ("export", "exported")}
    with pytest.raises(BundleError, match=message):
        load_config(ROOT, dict(table, **present), "custom", environ={})


def test_the_exported_file_must_sit_beside_the_weights():
    with pytest.raises(BundleError, match="Option `exported` .* must be beside the weights"):
        load_config(ROOT, dict(hook_table(ROOT), exported="dist/model.onnx"), "custom", environ={})


def test_a_tampered_model_onnx_is_refused_in_every_mode_but_train(project):
    flip_byte(project / ONNX)
    for mode in ("auto", "verify"):
        with pytest.raises(BundleError, match=r"gate sha256 model.onnx failed: .*model.onnx was changed after it was locked"):
            plan_for(project, environ={"MLBUNDLE_MODE": mode})
    assert plan_for(project, environ={"MLBUNDLE_MODE": "train"}).action == TRAIN


def test_a_missing_model_onnx_or_a_lock_without_it(project):
    lock = json.loads((project / LOCK).read_text())
    del lock["exported"]
    (project / LOCK).write_text(json.dumps(lock))
    with pytest.raises(BundleError, match="verify mode: the lock records no model.onnx yet"):
        plan_for(project, environ={"MLBUNDLE_MODE": "verify"})
    assert plan_for(project).action == TRAIN
    (project / ONNX).unlink()
    with pytest.raises(BundleError, match=f"verify mode: {ONNX} missing"):
        plan_for(project, environ={"MLBUNDLE_MODE": "verify"})
    assert plan_for(project).reason == f"no {ONNX} yet"


def test_a_no_op_build_checks_model_onnx_without_onnxruntime_or_torch(project):
    plan = plan_for(project)
    assert plan.action == REUSE and ("sha256 model.onnx", True) in [(c.name, c.passed) for c in plan.checks]


def test_a_build_refuses_a_tampered_model_onnx_on_one_line(project, tmp_path):
    flip_byte(project / ONNX)
    result = run([PYTHON, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / "out", project], env=OFFLINE)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    failures = [line for line in output.splitlines() if "gate sha256 model.onnx failed" in line]
    assert len(failures) == 1 and f"git checkout -- {ONNX}" in failures[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.whl"))


def test_the_parity_gate_refuses_an_onnx_model_that_computes_something_else(project, tmp_path):
    """A model.onnx the lock and the manifest vouch for, but whose last layer was edited: only parity sees it."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(project / ONNX)
    (bias,) = [t for t in model.graph.initializer if t.name.endswith("fc2.bias")]
    values = numpy_helper.to_array(bias).copy()
    values[3] += np.float32(0.01)  # one digit's logit: a little more "3" everywhere
    bias.CopyFrom(numpy_helper.from_array(values, bias.name))
    onnx.save(model, project / ONNX)
    lock, manifest = json.loads((project / LOCK).read_text()), json.loads((project / MANIFEST).read_text())
    lock["exported"]["sha256"] = manifest["onnx_sha256"] = sha256(project / ONNX)
    (project / LOCK).write_text(json.dumps(lock))
    (project / MANIFEST).write_text(json.dumps(manifest))
    result = run([PYTHON, "-m", "build", "--wheel", "--no-isolation", project])
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "mlbundle: evaluate: fingerprint unchanged; verifying" in output
    failures = [line for line in output.splitlines() if "gate parity max abs diff failed" in line]
    assert len(failures) == 1 and "needs <= 1e-04 (gates.parity_max_abs_diff)" in failures[0]
    assert "the exported model does not compute what the weights do" in failures[0]

"""hatch-mlbundle as its own distribution, enabled by another project through [build-system] requires."""
import json
import re
import textwrap
import zipfile

import pytest

from helpers import PYTHON, ROOT, run
from test_hook_build import OFFLINE, wheel_in

TINY_MODEL = '''
"""A model small enough for a test: the threshold that best splits numbers into two classes."""
import json
import time
from pathlib import Path


def load(data_dir):
    rows = [line.split(",") for line in (Path(data_dir) / "points.csv").read_text().split()]
    return [(float(x), int(y)) for x, y in rows]


def train(data_dir, weights_path, log, threshold_step=0.5):
    points = load(data_dir)
    candidates = [i * threshold_step for i in range(int(10 / threshold_step) + 1)]
    best = max(candidates, key=lambda t: sum((x > t) == bool(y) for x, y in points))
    log(f"best threshold {best}")
    Path(weights_path).write_text(json.dumps({"threshold": best}))
    return {"threshold": best}


def evaluate(weights_path, data_dir):
    threshold = json.loads(Path(weights_path).read_text())["threshold"]
    points = load(data_dir)
    started = time.perf_counter()
    correct = sum((x > threshold) == bool(y) for x, y in points)
    latency_ms = (time.perf_counter() - started) * 1000 / len(points)
    return {"accuracy": correct / len(points), "latency_ms": latency_ms, "error_rate": 1 - correct / len(points)}
'''


@pytest.fixture(scope="module")
def plugin_wheelhouse(tmp_path_factory):
    """hatch-mlbundle built as a wheel, next to what an isolated build needs."""
    out = tmp_path_factory.mktemp("plugin")
    result = run([PYTHON, "-m", "pip", "wheel", "--no-deps", "-w", out, ROOT / "hatch_mlbundle"], env=OFFLINE)
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(wheel_in(out)) as wheel:
        names = wheel.namelist()
        entry_points = wheel.read("hatch_mlbundle-0.2.0.dist-info/entry_points.txt").decode()
    assert "hatch_mlbundle/bundle/hook.py" in names and "[hatch]\nmlbundle = hatch_mlbundle.plugin" in entry_points
    # Exactly the plugin's modules: the local registry (tests and rehearsals only) is not shipped to anyone.
    plugin = ROOT / "hatch_mlbundle"
    modules = {f"hatch_mlbundle/{p.relative_to(plugin).as_posix()}" for p in plugin.rglob("*.py") if "__pycache__" not in p.parts}
    assert {name for name in names if not name.startswith("hatch_mlbundle-")} == modules
    assert not any("localgitlab" in name or "werkzeug" in name for name in names)
    assert "hatch_mlbundle-0.2.0.dist-info/licenses/LICENSE" in names  # the BSD-3-Clause its metadata claims
    return out


def make_tiny_project(root, min_accuracy=None, gates=None, described=False):
    """``described``: the long description is the Markdown model card (the metadata hook and a template)."""
    (root / "tiny_model").mkdir(parents=True)
    (root / "tiny_model" / "__init__.py").write_text(TINY_MODEL)
    (root / "data").mkdir()
    (root / "data" / "points.csv").write_text("\n".join(f"{x},{int(x > 4.2)}" for x in range(10)) + "\n")
    (root / "pyproject.toml").write_text(textwrap.dedent(f'''
        [build-system]
        requires = ["hatchling", "hatch-mlbundle"]
        build-backend = "hatchling.build"

        [project]
        name = "tiny-model"
        version = "0.3.0"
        {'dynamic = ["readme"]' if described else ""}
        {"[tool.hatch.metadata.hooks.mlbundle]" if described else ""}

        [tool.hatch.build.targets.wheel]
        packages = ["tiny_model"]

        [tool.hatch.build.targets.wheel.hooks.mlbundle]
        weights = "tiny_model/weights.json"
        train = "tiny_model:train"
        evaluate = "tiny_model:evaluate"
        sources = ["tiny_model/__init__.py"]
        data-dir = "data"
        {f"min-accuracy = {min_accuracy}" if gates is None else f"gates = {gates}"}
        {"max-latency-ms = 100" if gates is None else ""}
        build-requires = []
        hyperparameters = {{ threshold_step = 0.5 }}
        {'description = "CARD.md"' if described else ""}
    '''))
    (root / "CARD.md").write_text("# <!-- mlbundle:name --> <!-- mlbundle:version -->\n\n<!-- mlbundle:metrics -->\n")
    return root


def build(project, plugin_wheelhouse, **env):
    environment = dict(OFFLINE, PIP_FIND_LINKS=f"{plugin_wheelhouse} {OFFLINE['PIP_FIND_LINKS']}", **env)
    return run([PYTHON, "-m", "build", "--wheel", project], env=environment)


def test_another_project_trains_gates_and_bundles_with_the_plugin(tmp_path, plugin_wheelhouse):
    project = make_tiny_project(tmp_path / "tiny", min_accuracy=0.9, described=True)
    result = build(project, plugin_wheelhouse)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "mlbundle: train: no tiny_model/weights.json and tiny_model/mlbundle.lock yet" in output
    assert "best threshold 4.0" in output
    with zipfile.ZipFile(wheel_in(project / "dist")) as wheel:
        assert json.loads(wheel.read("tiny_model/weights.json")) == {"threshold": 4.0}
        card = json.loads(wheel.read("tiny_model/model_card.json"))
    assert card["name"] == "tiny-model" and card["version"] == "0.3.0" and card["metrics"]["accuracy"] == 1.0
    # The very first build had no lock to describe: the description was rendered again after training.
    with zipfile.ZipFile(wheel_in(project / "dist")) as wheel:
        metadata = wheel.read("tiny_model-0.3.0.dist-info/METADATA").decode()
    assert "Description-Content-Type: text/markdown" in metadata and "# tiny-model 0.3.0" in metadata
    assert re.search(r"^\| `accuracy` +\| 1 +\| >= 0\.9 +\|$", metadata, re.MULTILINE), metadata
    lock = json.loads((project / "tiny_model" / "mlbundle.lock").read_text())
    assert lock["inputs"]["hyperparameters"] == {"threshold_step": 0.5} and lock["inputs"]["torch"] is None

    again = build(project, plugin_wheelhouse, MLBUNDLE_MODE="verify")
    assert again.returncode == 0 and "mlbundle: reuse" in again.stdout + again.stderr


def test_another_project_whose_model_fails_the_gate_gets_no_wheel(tmp_path, plugin_wheelhouse):
    project = make_tiny_project(tmp_path / "tiny", min_accuracy=0.9)
    (project / "data" / "points.csv").write_text("1,1\n2,0\n3,1\n4,0\n5,1\n6,0\n")
    result = build(project, plugin_wheelhouse)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "mlbundle: gate accuracy failed: measured 50.00%, needs >= 90.00% (min-accuracy)" in output
    assert "Traceback" not in output
    assert not (project / "tiny_model" / "weights.json").exists() and not (project / "tiny_model" / "mlbundle.lock").exists()


def test_gates_come_from_config_alone(tmp_path, plugin_wheelhouse):
    """No plugin change: the weights' size (the hook measures it) and a metric the plugin never heard of
    (`error_rate`, from the project's evaluate) are gated; nothing assumes accuracy or latency."""
    project = make_tiny_project(tmp_path / "tiny", gates='{ weights_bytes = "<= 10", error_rate = "<= 0.05" }')
    refused = build(project, plugin_wheelhouse)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    size = len(json.dumps({"threshold": 4.0}))
    assert (f"mlbundle: gate weights size failed: measured {size} bytes, needs <= 10 bytes (gates.weights_bytes); "
            "make the model smaller") in output
    assert "Traceback" not in output and not (project / "tiny_model" / "mlbundle.lock").exists()

    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"<= 10"', '"<= 4096"'))
    result = build(project, plugin_wheelhouse)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    rows = [line for line in output.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows if "pass" in row] == ["weights size", "error_rate"]
    with zipfile.ZipFile(wheel_in(project / "dist")) as wheel:
        card = json.loads(wheel.read("tiny_model/model_card.json"))
    assert card["gates"] == {"weights_bytes": "<= 4096", "error_rate": "<= 0.05"}
    assert card["metrics"]["weights_bytes"] == size and card["metrics"]["error_rate"] == 0.0

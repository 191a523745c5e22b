"""Weights by reference in a real build: pushed to the local registry with `weights push`, taken out of git,
fetched back by a verify build (refused whole when the registry serves wrong bytes), and from a warm cache
with the registry stopped: no network at all."""
import hashlib
import json
import zipfile

import pytest

from helpers import PYTHON, ROOT, copy_project, fresh_venv, run, venv_bin

WEIGHTS = "model_src/mnist_model/weights/model.pth"
ONNX = "model_src/mnist_model/weights/model.onnx"
LOCK = "model_src/mnist_model/weights/mlbundle.lock"


OFFLINE = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(ROOT / ".wheelhouse")}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def push_out_of_git(project, local_gitlab, env):
    """`weights push` both files, then take them out of git and the tree: the lock's references remain."""
    pushed = run([PYTHON, "-m", "hatch_mlbundle", "weights", "push", WEIGHTS, ONNX, "--lock", LOCK,
                  "--url", local_gitlab.api_url, "--project", local_gitlab.project_path], cwd=project, env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert local_gitlab.private_token not in pushed.stdout + pushed.stderr
    run(["git", "-C", project, "rm", "-q", "--cached", WEIGHTS, ONNX], check=True)
    for name in (WEIGHTS, ONNX):
        (project / name).unlink()
    return json.loads((project / LOCK).read_text())["references"]


@pytest.fixture(scope="module")
def digit(tmp_path_factory):
    from mnist_model.samples import write_pngs

    return write_pngs(ROOT / "data", tmp_path_factory.mktemp("digits"), style="black-on-white", size=200, limit=1)[0]


def test_weights_out_of_git_are_fetched_verified_and_then_cached(tmp_path, local_gitlab, loopback_env):
    from localgitlab import Fault

    project = copy_project(tmp_path / "project")
    originals = {name: (project / name).read_bytes() for name in (WEIGHTS, ONNX)}
    env = dict(loopback_env, GITLAB_TOKEN=local_gitlab.private_token, MLBUNDLE_CACHE=str(tmp_path / "cache"),
               MLBUNDLE_MODE="verify")
    references = push_out_of_git(project, local_gitlab, env)
    assert sorted(references) == [ONNX, WEIGHTS]

    # wrong bytes on every attempt: refused in one line, nothing half-written used or left in place
    local_gitlab.inject(Fault(method="GET", path="model.pth", kind="body", status=200, body=b"\0",
                              size=len(originals[WEIGHTS]), times=100))
    refused = run([PYTHON, "-m", "build", "--wheel", "--no-isolation", project], env=env)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Traceback" not in output, output
    assert f"mlbundle: {WEIGHTS}: cannot fetch {references[WEIGHTS]['url']}: served bytes with sha256" in output
    assert not (project / WEIGHTS).exists() and not list((project / "dist").glob("*.whl"))
    assert not list((tmp_path / "cache" / "blobs" / "sha256").glob("*[0-9a-f]"))  # no blob, no partial
    local_gitlab.clear_faults()

    built = run([PYTHON, "-m", "build", "--wheel", "--no-isolation", project], env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((project / "dist").glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        for name in (WEIGHTS, ONNX):
            assert sha256(archive.read(name.replace("model_src/", ""))) == sha256(originals[name])
    assert local_gitlab.private_token not in built.stdout + built.stderr

    # a fresh clone on a machine with a warm cache: the registry is not even running
    local_gitlab.gl.stop()
    for name in (WEIGHTS, ONNX):
        (project / name).unlink()
    wheel.unlink()
    count = len(local_gitlab.requests)
    again = run([PYTHON, "-m", "build", "--wheel", "--no-isolation", project], env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(local_gitlab.requests) == count
    assert (project / WEIGHTS).read_bytes() == originals[WEIGHTS]


def test_a_reference_wheel_fetches_on_first_use_then_runs_offline(tmp_path, local_gitlab, loopback_env, digit):
    project = copy_project(tmp_path / "project")
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    anchor = 'exported = "model_src/mnist_model/weights/model.onnx"\n'
    pyproject.write_text(text.replace(anchor, anchor + 'bundle = "reference"\nfetcher = "model_src/mnist_model/_fetch.py"\n'))
    build_cache = tmp_path / "build-cache"
    env = dict(loopback_env, GITLAB_TOKEN=local_gitlab.private_token, MLBUNDLE_CACHE=str(build_cache))
    references = push_out_of_git(project, local_gitlab, env)
    built = run([PYTHON, "-m", "build", "--wheel", "--no-isolation", project], env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((project / "dist").glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        pointers = json.loads(archive.read("mnist_model/weights/references.json"))
    assert "mnist_model/_fetch.py" in names
    assert not {"mnist_model/weights/model.pth", "mnist_model/weights/model.onnx"} & set(names)
    assert pointers == {"model.pth": references[WEIGHTS], "model.onnx": references[ONNX]}
    assert wheel.stat().st_size < 200_000

    venv = fresh_venv(tmp_path / "venv")
    run([venv_bin(venv, "pip"), "install", "--no-index", wheel], env=OFFLINE, check=True)
    runtime = dict(loopback_env, MLBUNDLE_CACHE=str(tmp_path / "runtime-cache"))
    runtime.pop("GITLAB_TOKEN", None)
    refused = run([venv_bin(venv, "run-mnist"), digit[0]], env=runtime)  # a private project, no token
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "model.onnx is not in the cache" in refused.stderr and "GITLAB_TOKEN" in refused.stderr
    first = run([venv_bin(venv, "run-mnist"), digit[0]], env=dict(runtime, GITLAB_TOKEN=local_gitlab.private_token))
    assert first.returncode == 0 and first.stdout == f"Image is a {digit[1]}\n", first.stderr
    assert local_gitlab.private_token not in first.stdout + first.stderr
    local_gitlab.gl.stop()  # offline from now on: the cache has it
    again = run([venv_bin(venv, "run-mnist"), digit[0]], env=runtime)
    assert again.returncode == 0 and again.stdout == first.stdout, again.stderr

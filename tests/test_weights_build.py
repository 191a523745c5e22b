"""Weights by reference in a real build: pushed to the local registry with `weights push`, taken out of git,
fetched back by a verify build (refused whole when the registry serves wrong bytes), and from a warm cache
with the registry stopped: no network at all."""
import hashlib
import json
import zipfile

from helpers import PYTHON, copy_project, run

WEIGHTS = "model_src/mnist_model/weights/model.pth"
ONNX = "model_src/mnist_model/weights/model.onnx"
LOCK = "model_src/mnist_model/weights/mlbundle.lock"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def test_weights_out_of_git_are_fetched_verified_and_then_cached(tmp_path, local_gitlab, loopback_env):
    from localgitlab import Fault

    project = copy_project(tmp_path / "project")
    originals = {name: (project / name).read_bytes() for name in (WEIGHTS, ONNX)}
    env = dict(loopback_env, GITLAB_TOKEN=local_gitlab.private_token, MLBUNDLE_CACHE=str(tmp_path / "cache"),
               MLBUNDLE_MODE="verify")
    pushed = run([PYTHON, "-m", "hatch_mlbundle", "weights", "push", WEIGHTS, ONNX, "--lock", LOCK,
                  "--url", local_gitlab.api_url, "--project", local_gitlab.project_path], cwd=project, env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert local_gitlab.private_token not in pushed.stdout + pushed.stderr
    references = json.loads((project / LOCK).read_text())["references"]
    assert sorted(references) == [ONNX, WEIGHTS]
    run(["git", "-C", project, "rm", "-q", "--cached", WEIGHTS, ONNX], check=True)
    for name in (WEIGHTS, ONNX):
        (project / name).unlink()

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

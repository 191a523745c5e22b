"""The whole pipeline as GitLab runs it: fresh clone -> verify build -> publish -> pip install -> run-mnist."""
import hashlib
import json
import subprocess

import pytest

from helpers import BIN, PYTHON, ROOT, copy_project, fresh_venv, run, venv_bin
from test_hook_build import OFFLINE

RAW_FILES = ["model.pth", "model.onnx", "run_mnist.py", "model_card.json", "INSTRUCTION.md", "requirements.txt", "SHA256SUMS"]


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """All 1,000 held-out digits, as MNIST has them and as a person draws them."""
    from mnist_model.samples import write_pngs

    root = tmp_path_factory.mktemp("held_out")
    return {
        style: write_pngs(ROOT / "data", root / style, style=style, size=size)
        for style, size in (("white-on-black", 28), ("black-on-white", 200))
    }


def predictions(command, paths, cwd):
    result = run(command + ["--json"] + [str(p) for p in paths], cwd=cwd)
    assert result.returncode == 0, result.stderr
    return {json.loads(line)["file"]: json.loads(line) for line in result.stdout.splitlines()}


def test_clone_build_publish_install_run(tmp_path, local_gitlab, loopback_env, held_out):
    gl = local_gitlab
    project = copy_project(tmp_path / "clone")

    # 1. the build job: verify mode, nothing retrained
    build = run([BIN / "hatch", "build"], cwd=project, env=dict(OFFLINE, MLBUNDLE_MODE="verify"))
    assert build.returncode == 0, build.stdout + build.stderr
    assert "mlbundle: reuse" in build.stdout + build.stderr
    (wheel,) = (project / "dist").glob("*.whl")

    # 2. the publish job, with the job token as GitLab CI gives it
    ci_env = dict(loopback_env, CI_JOB_TOKEN=gl.job_token, CI_API_V4_URL=gl.api_url, CI_PROJECT_ID=str(gl.project_id))
    publish = subprocess.run([PYTHON, "-m", "hatch_mlbundle", "publish", "dist/"], cwd=project, env=ci_env,
                             capture_output=True, text=True, timeout=600)
    assert publish.returncode == 0, publish.stdout + publish.stderr
    assert gl.job_token not in publish.stdout + publish.stderr
    files = {row["file_name"] for row in gl.package_files(gl.project_id, "generic", "mnist-model", "1.0.0")}
    assert files == set(RAW_FILES) | {wheel.name}

    # 3. a teammate installs from the project's index
    venv = fresh_venv(tmp_path / "teammate")
    index = f"http://gitlab-ci-token:{gl.job_token}@127.0.0.1:{gl.url.rsplit(':', 1)[1]}/api/v4/projects/{gl.project_id}/packages/pypi/simple"
    install = run([venv_bin(venv, "pip"), "--isolated", "install", "--index-url", index, "mnist-model"], env=loopback_env)
    assert install.returncode == 0, install.stdout + install.stderr
    assert "Successfully installed mnist-model-1.0.0" in install.stdout

    # 4. run-mnist on real held-out digits: the accuracy the model card claims
    card = json.loads(next(venv.glob("lib/python*/site-packages/mnist_model/model_card.json")).read_text())
    for style, digits in held_out.items():
        got = predictions([venv_bin(venv, "run-mnist")], [p for p, _ in digits], cwd=tmp_path)
        accuracy = sum(got[str(p)]["digit"] == label for p, label in digits) / len(digits)
        assert accuracy >= card["metrics"]["accuracy"] - 0.01, (style, accuracy)

    # 5. the raw files, fetched with curl, check out against SHA256SUMS
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in RAW_FILES:
        url = f"{gl.generic_url}/mnist-model/1.0.0/{name}"
        fetched = run(["curl", "--fail", "--silent", "--show-error", "--header", f"JOB-TOKEN: {gl.job_token}",
                       "--output", raw / name, url], env=loopback_env)
        assert fetched.returncode == 0, fetched.stderr
    check = run(["sha256sum", "--check", "--ignore-missing", "SHA256SUMS"], cwd=raw)
    assert check.returncode == 0 and check.stdout.count(": OK") == len(RAW_FILES) - 1, check.stdout + check.stderr
    assert hashlib.sha256((raw / "model.pth").read_bytes()).hexdigest() == card["weights"]["sha256"]
    assert hashlib.sha256((raw / "model.onnx").read_bytes()).hexdigest() == card["exported"]["sha256"]

    # 6. the stand-alone runner with the downloaded model.pth agrees with run-mnist, image for image
    digits = held_out["black-on-white"][:200]
    installed = predictions([venv_bin(venv, "run-mnist")], [p for p, _ in digits], cwd=tmp_path)
    standalone = predictions([venv_bin(venv, "python"), raw / "run_mnist.py"], [p for p, _ in digits], cwd=raw)
    assert {f: r["digit"] for f, r in standalone.items()} == {f: r["digit"] for f, r in installed.items()}

    # 7. publishing the same build again changes nothing, and says so
    rows_before = gl.package_files(gl.project_id, "generic", "mnist-model", "1.0.0")
    requests_before = len(gl.requests)
    again = subprocess.run([PYTHON, "-m", "hatch_mlbundle", "publish", "dist/"], cwd=project, env=ci_env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert gl.package_files(gl.project_id, "generic", "mnist-model", "1.0.0") == rows_before
    assert [r for r in gl.requests[requests_before:] if r["method"] in ("PUT", "POST")] == []
    skipped = [line for line in (again.stdout + again.stderr).splitlines() if "skip" in line.lower()]
    assert len(skipped) >= len(RAW_FILES) + 2, again.stdout + again.stderr  # + wheel and sdist on PyPI

"""The real .gitlab-ci.yml, run by gitlab-ci-local (shell executor) against the local registry.

The jobs' scripts run as written; the runner is given this machine's prepared
virtualenv (MLBUNDLE_VENV, PYTHON) instead of installing torch per job, and the
test stage runs one test module (PYTEST_ADDOPTS) instead of recursing into this suite.
"""
import os
import shutil
from pathlib import Path

import pytest

from helpers import PYTHON, ROOT, copy_project, run

CACHE = Path(os.environ.get("MLBUNDLE_CACHE") or Path.home() / ".cache" / "hatch-mlbundle")
GITLAB_CI_LOCAL = CACHE / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
GIT = ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com"]


@pytest.fixture(scope="module")
def gitlab_ci_local():
    """Missing: a stock GitLab runner (python:3.11, no npm) skips; this repository's own CI (.ci/run) fails."""
    if not GITLAB_CI_LOCAL.exists() or not shutil.which("rsync"):
        if os.environ.get("GITLAB_CI") == "true":
            pytest.skip("gitlab-ci-local needs npm, which a stock GitLab runner lacks; "
                        "the pipeline scenarios run in the repository's own CI (.ci/run)")
        message = f"gitlab-ci-local or rsync missing ({GITLAB_CI_LOCAL}); run .ci/setup"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    return GITLAB_CI_LOCAL


def pipeline(gitlab_ci_local, project, gl, env):
    """Run the whole pipeline as GitLab would for the checked-out branch; returns (exit code, output)."""
    variables = {
        "CI_JOB_TOKEN": gl.job_token,  # gitlab-ci-local never sets one
        "CI_PROJECT_ID": str(gl.project_id),
        "CI_API_V4_URL": gl.api_url,
        "MLBUNDLE_VENV": str(ROOT / ".venv"),
        "PYTHON": PYTHON,
        "PYTEST_ADDOPTS": "tests/test_hook_plan.py -q -p no:cacheprovider",
        "PIP_NO_INDEX": "1",  # everything is installed or in the wheelhouse: no job reaches an index
        "PIP_FIND_LINKS": str(ROOT / ".wheelhouse"),
    }
    args = [gitlab_ci_local, "--force-shell-executor", "--no-color"]
    for name, value in variables.items():
        args += ["--variable", f"{name}={value}"]
    result = run(args, cwd=project, env=env, timeout=900)
    return result.returncode, result.stdout + result.stderr


def published(gl):
    return {
        "generic": sorted(r["file_name"] for r in gl.package_files(gl.project_id, "generic", "mnist-model", "1.0.0")),
        "pypi": sorted(r["file_name"] for r in gl.package_files(gl.project_id, "pypi", "mnist-model", "1.0.0")),
    }


@pytest.fixture
def clone(tmp_path, local_gitlab):
    project = copy_project(tmp_path / "project")
    port = local_gitlab.url.rsplit(":", 1)[1]
    run(["git", "-C", project, "remote", "add", "origin", f"http://127.0.0.1:{port}/group/mnist.git"], check=True)
    return project


def test_default_branch_runs_test_build_publish_and_the_packages_appear(gitlab_ci_local, clone, local_gitlab, loopback_env):
    code, output = pipeline(gitlab_ci_local, clone, local_gitlab, loopback_env)
    assert code == 0, output[-4000:]
    for job in ("test", "build", "publish"):
        assert f"PASS  {job}" in output, output[-4000:]
    assert "mlbundle: reuse" in output and "passed in" in output
    assert published(local_gitlab) == {
        "generic": sorted(["INSTRUCTION.md", "SHA256SUMS", "mnist_model-1.0.0-py3-none-any.whl", "model.pth", "model.onnx",
                           "model_card.json", "requirements.txt", "run_mnist.py"]),
        "pypi": ["mnist_model-1.0.0-py3-none-any.whl", "mnist_model-1.0.0.tar.gz"],
    }
    assert local_gitlab.job_token not in output


def test_another_branch_builds_but_never_publishes(gitlab_ci_local, clone, local_gitlab, loopback_env):
    run(["git", "-C", clone, "checkout", "-q", "-b", "feature/try-something"], check=True)
    code, output = pipeline(gitlab_ci_local, clone, local_gitlab, loopback_env)
    assert code == 0, output[-4000:]
    assert "PASS  test" in output and "PASS  build" in output
    assert "publish" not in output.split("PASS  test")[-1]
    assert published(local_gitlab) == {"generic": [], "pypi": []}


def test_a_failing_test_stage_publishes_nothing(gitlab_ci_local, clone, local_gitlab, loopback_env):
    # Someone changes the training code and commits without retraining: the test stage catches it.
    with open(clone / "model_src/mnist_model/train.py", "a") as handle:
        handle.write("\n# tweak the schedule later\n")
    run(GIT + ["-C", clone, "commit", "-qam", "tweak training"], check=True)
    code, output = pipeline(gitlab_ci_local, clone, local_gitlab, loopback_env)
    assert code != 0
    assert "FAIL  test" in output and "test_nothing_changed_reuses_the_recorded_verification" in output
    assert "PASS  publish" not in output and "PASS  build" not in output
    assert published(local_gitlab) == {"generic": [], "pypi": []}


@pytest.mark.parametrize("where, outcome", [("a stock GitLab runner", "1 skipped"), ("this repository's CI", "1 error")])
def test_without_gitlab_ci_local_a_gitlab_runner_skips_and_our_ci_fails(where, outcome, tmp_path):
    env = {"MLBUNDLE_CACHE": str(tmp_path), "CI": "true",  # GitLab sets CI too; only GITLAB_CI tells them apart
           "GITLAB_CI": "true" if where == "a stock GitLab runner" else "", "PYTEST_ADDOPTS": ""}
    result = run([PYTHON, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                  f"{__file__}::test_another_branch_builds_but_never_publishes"], cwd=ROOT, env=env,
                 timeout=300)
    assert outcome in result.stdout, result.stdout
    if where == "this repository's CI":
        assert "gitlab-ci-local or rsync missing" in result.stdout and result.returncode == 1
    else:
        assert "a stock GitLab runner lacks" in result.stdout and result.returncode == 0

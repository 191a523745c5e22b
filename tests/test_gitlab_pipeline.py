"""The real .gitlab-ci.yml, run by gitlab-ci-local (shell executor) against the local registry.

The jobs' scripts run as written; the runner is given this machine's prepared
virtualenv (MLBUNDLE_VENV, PYTHON) instead of installing torch per job, and the
test stage runs one test module (PYTEST_ADDOPTS) instead of recursing into this suite.
"""
import json
import os
import shutil
from pathlib import Path

import pytest
import requests

from conftest import closed_port
from helpers import PYTHON, ROOT, copy_project, run

CACHE = Path(os.environ.get("MLBUNDLE_CACHE") or Path.home() / ".cache" / "hatch-mlbundle")
GITLAB_CI_LOCAL = CACHE / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
GIT = ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com"]
CANARY = "CANARY-hook-secret-7c4e"
RELEASE_JOBS = ("build", "publish")  # the test job is the same on every ref: the scenarios below skip it


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


def pipeline(gitlab_ci_local, project, gl, env, *, tag=None, jobs=(), **extra):
    """Run the pipeline as GitLab would for the checked-out branch, or for `tag` (GitLab sets CI_COMMIT_TAG and
    no branch); `jobs` runs only those jobs.  Returns (exit code, output)."""
    variables = {
        "CI_JOB_TOKEN": gl.job_token,  # gitlab-ci-local never sets one
        "CI_PROJECT_ID": str(gl.project_id),
        "CI_API_V4_URL": gl.api_url,
        "MLBUNDLE_VENV": str(ROOT / ".venv"),
        "PYTHON": PYTHON,
        "PYTEST_ADDOPTS": "tests/test_hook_plan.py -q -p no:cacheprovider",
        "PIP_NO_INDEX": "1",  # everything is installed or in the wheelhouse: no job reaches an index
        "PIP_FIND_LINKS": str(ROOT / ".wheelhouse"),
        **({"CI_COMMIT_TAG": tag, "CI_COMMIT_BRANCH": "", "CI_COMMIT_REF_NAME": tag} if tag else {}),
        **extra,
    }
    args = [gitlab_ci_local, "--force-shell-executor", "--no-color", *jobs]
    for name, value in variables.items():
        args += ["--variable", f"{name}={value}"]
    result = run(args, cwd=project, env=env, timeout=900)
    return result.returncode, result.stdout + result.stderr


def published(gl, version="1.0.0"):
    return {
        "generic": sorted(r["file_name"] for r in gl.package_files(gl.project_id, "generic", "mnist-model", version)),
        "pypi": sorted(r["file_name"] for r in gl.package_files(gl.project_id, "pypi", "mnist-model", version)),
    }


def commit(clone, message, tag=None):
    (clone / "CHANGES.txt").write_text(message + "\n")
    run(GIT + ["-C", clone, "add", "CHANGES.txt"], check=True)
    run(GIT + ["-C", clone, "commit", "-qm", message], check=True)
    if tag:
        run(GIT + ["-C", clone, "tag", tag], check=True)


@pytest.fixture
def clone(tmp_path, local_gitlab):
    project = copy_project(tmp_path / "project")
    port = local_gitlab.url.rsplit(":", 1)[1]
    run(["git", "-C", project, "remote", "add", "origin", f"http://127.0.0.1:{port}/group/mnist.git"], check=True)
    return project


def test_default_branch_runs_test_build_publish_and_the_packages_appear(gitlab_ci_local, clone, local_gitlab, loopback_env):
    commit(clone, "a merge after the release v1.0.0")  # the dev version 1.0.1.dev1
    code, output = pipeline(gitlab_ci_local, clone, local_gitlab, loopback_env)
    assert code == 0, output[-4000:]
    for job in ("test", "build", "publish"):
        assert f"PASS  {job}" in output, output[-4000:]
    assert "mlbundle: reuse" in output and "passed in" in output
    assert published(local_gitlab, "1.0.1.dev1") == {
        "generic": sorted(["INSTRUCTION.md", "SHA256SUMS", "mnist_model-1.0.1.dev1-py3-none-any.whl", "model.pth",
                           "model.onnx", "model_card.json", "requirements.txt", "run_mnist.py"]),
        "pypi": ["mnist_model-1.0.1.dev1-py3-none-any.whl", "mnist_model-1.0.1.dev1.tar.gz"],
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


# -- releases (issue 9): only the build and publish jobs run; the test job is the same on every ref ----------------

def test_a_tag_publishes_the_release_a_gitlab_release_and_one_notification(gitlab_ci_local, clone, local_gitlab,
                                                                           loopback_env, receiver):
    port, received = receiver
    commit(clone, "better digits", tag="v1.1.0")
    code, output = pipeline(gitlab_ci_local, clone, local_gitlab, loopback_env, tag="v1.1.0", jobs=RELEASE_JOBS,
                            MLBUNDLE_NOTIFY_URLS=f"json://127.0.0.1:{port}/hook/{CANARY}")
    assert code == 0, output[-4000:]
    assert published(local_gitlab, "1.1.0") == {
        "generic": sorted(["INSTRUCTION.md", "SHA256SUMS", "mnist_model-1.1.0-py3-none-any.whl", "model.pth",
                           "model.onnx", "model_card.json", "requirements.txt", "run_mnist.py"]),
        "pypi": ["mnist_model-1.1.0-py3-none-any.whl", "mnist_model-1.1.0.tar.gz"],
    }
    (release,) = local_gitlab.releases(local_gitlab.project_id)
    assert release["tag_name"] == "v1.1.0" and "First release" in release["description"]
    assert len(release["links"]) == 10 and {link["link_type"] for link in release["links"]} == {"package"}
    assert [message["title"] for _, _, message in received] == ["mnist-model 1.1.0 released"]
    assert CANARY not in output and local_gitlab.job_token not in output


def test_each_commit_on_main_publishes_a_new_dev_version_and_no_release(gitlab_ci_local, clone, local_gitlab,
                                                                        loopback_env):
    for number in (1, 2):
        commit(clone, f"change {number}")
        code, output = pipeline(gitlab_ci_local, clone, local_gitlab, loopback_env, jobs=RELEASE_JOBS)
        assert code == 0, output[-4000:]
        assert f"mnist_model-1.0.1.dev{number}-py3-none-any.whl" in published(local_gitlab, f"1.0.1.dev{number}")["pypi"]
    assert local_gitlab.releases(local_gitlab.project_id) == []


def test_a_tag_that_differs_from_the_built_version_publishes_nothing(gitlab_ci_local, clone, local_gitlab,
                                                                      loopback_env):
    commit(clone, "release", tag="v1.1.0")
    code, output = pipeline(gitlab_ci_local, clone, local_gitlab, loopback_env, tag="v1.2.0", jobs=RELEASE_JOBS)
    assert code != 0 and "FAIL  publish" in output
    assert ("tag v1.2.0 names version 1.2.0 but mnist-model was built as 1.1.0; nothing was sent" in output)
    assert published(local_gitlab, "1.1.0") == published(local_gitlab, "1.2.0") == {"generic": [], "pypi": []}
    assert local_gitlab.releases(local_gitlab.project_id) == []


def test_a_worse_release_is_refused_unless_allowed_and_a_dead_webhook_only_warns(gitlab_ci_local, clone, local_gitlab,
                                                                                  loopback_env):
    # The previous release, 1.0.0, was better: its Release and its card in the generic registry say so.
    shipped = json.loads((ROOT / "model_src/mnist_model/weights/mlbundle.lock").read_text())["verification"]["metrics"]
    assert 0.999 - shipped["accuracy"] > 0.005, "the shipped weights are within 0.5 points of 99.9%: pick a better 1.0.0"
    better = dict(shipped, accuracy=0.999)
    headers = {"PRIVATE-TOKEN": local_gitlab.private_token}
    stored = requests.put(f"{local_gitlab.generic_url}/mnist-model/1.0.0/model_card.json", headers=headers,
                          data=json.dumps({"name": "mnist-model", "version": "1.0.0", "metrics": better}), timeout=10)
    assert stored.status_code == 201
    created = requests.post(f"{local_gitlab.api_url}/projects/{local_gitlab.project_id}/releases", headers=headers,
                            json={"tag_name": "v1.0.0", "ref": "main", "description": "the good one"}, timeout=10)
    assert created.status_code == 201
    commit(clone, "worse digits", tag="v1.1.0")

    code, output = pipeline(gitlab_ci_local, clone, local_gitlab, loopback_env, tag="v1.1.0", jobs=RELEASE_JOBS)
    assert code != 0
    accuracy = shipped["accuracy"]
    assert (f"error: accuracy fell from 99.90% in 1.0.0 to {accuracy * 100:.2f}% in 1.1.0 "
            f"({(accuracy - 0.999) * 100:+.2f} points; max-accuracy-drop is 0.5); nothing was sent") in output
    assert published(local_gitlab, "1.1.0") == {"generic": [], "pypi": []}

    code, output = pipeline(gitlab_ci_local, clone, local_gitlab, loopback_env, tag="v1.1.0", jobs=RELEASE_JOBS,
                            MLBUNDLE_PUBLISH_ALLOW_REGRESSION="true",
                            MLBUNDLE_NOTIFY_URLS=f"json://127.0.0.1:{closed_port()}/hook/{CANARY}")
    assert code == 0, output[-4000:]
    assert "PASS  publish" in output and len(published(local_gitlab, "1.1.0")["pypi"]) == 2
    release = next(r for r in local_gitlab.releases(local_gitlab.project_id) if r["tag_name"] == "v1.1.0")
    assert "**Published with --allow-regression:** accuracy fell from 99.90% in 1.0.0" in release["description"]
    warnings = [line for line in output.splitlines() if "notification 1 of 1" in line]
    assert len(warnings) == 1 and "the publish itself is done" in warnings[0]
    assert CANARY not in output and local_gitlab.job_token not in output

"""The publish step end to end: a real tiny wheel + sdist, built by hatchling, published to the local GitLab.

Every run goes through the real command-line entry point, in-process (fast) with the output captured at the
file-descriptor level, so anything printed - by us, by argparse, by logging, by tqdm - is what is asserted on.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from urllib.parse import quote
from pathlib import Path

import pytest

from hatch_mlbundle.gitlab import ConfigError
from localgitlab import Fault
from hatch_mlbundle.publish.artifacts import find_artifacts, read_artifact
from hatch_mlbundle.publish.cli import main

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PROJECT = 1217
VERSION = "0.3.1"
WHEEL = f"tiny_model-{VERSION}-py3-none-any.whl"
SDIST = f"tiny_model-{VERSION}.tar.gz"
GENERIC = ["model.pth", "model_card.json", "run_tiny.py", "INSTRUCTION.md", "requirements.txt", WHEEL, "SHA256SUMS"]
# Kept on purpose beside test_localgitlab_clients.py's template (`duplicates` pairs their first lines): this one
# carries the full metadata the publisher must forward; that one, the least a client needs to upload.
PYPROJECT = f"""\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "tiny-model"
version = "{VERSION}"
description = "A tiny model for publish tests"
readme = "README.md"
requires-python = ">=3.9"
keywords = ["mnist", "test"]
authors = [{{name = "Tester", email = "tester@example.com"}}]
dependencies = ["requests>=2", "tomli>=1; python_version < '3.11'"]

[project.optional-dependencies]
train = ["tqdm>=4"]

[tool.hatch.build.targets.wheel]
packages = ["src/tiny_model"]

[tool.mlbundle.publish]
generic-files = ["wheel:tiny_model/weights/model.pth", "wheel:tiny_model/model_card.json",
                 "wheel:tiny_model/run_tiny.py", "INSTRUCTION.md"]
"""


@pytest.fixture(scope="session")
def built_project(tmp_path_factory) -> Path:
    """A hatchling project built once with `python -m build`; tests copy it before changing anything."""
    root = tmp_path_factory.mktemp("tiny-project")
    package = root / "src" / "tiny_model"
    (package / "weights").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "README.md").write_text("# tiny-model\n\nLong description with *markdown*.\n")
    (root / "INSTRUCTION.md").write_text("How to install tiny-model.\n")
    (package / "__init__.py").write_text("")
    (package / "run_tiny.py").write_text("print('tiny')\n")
    (package / "model_card.json").write_text('{"accuracy": 0.99}\n')
    # incompressible and larger than the 64 KiB a "reset" fault lets through, so uploads span many reads
    (package / "weights" / "model.pth").write_bytes(os.urandom(300_000))
    subprocess.run([PYTHON, "-m", "build", "--no-isolation", "--outdir", str(root / "dist"), str(root)],
                   check=True, capture_output=True)
    return root


@pytest.fixture
def project(built_project, tmp_path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(built_project, copy)
    return copy


# -- reading artifacts (no server) ------------------------------------------------------------------------------

def test_wheel_and_sdist_metadata_are_read_from_the_files_themselves(built_project):
    wheel = read_artifact(built_project / "dist" / WHEEL)
    sdist = read_artifact(built_project / "dist" / SDIST)
    assert (wheel.name, wheel.version, wheel.filetype, wheel.pyversion) == ("tiny-model", VERSION, "bdist_wheel", "py3")
    assert (sdist.name, sdist.version, sdist.filetype, sdist.pyversion) == ("tiny-model", VERSION, "sdist", "source")
    form = wheel.form_metadata()
    assert form["requires_python"] == ">=3.9"
    assert form["summary"] == "A tiny model for publish tests"
    assert form["author_email"] == "Tester <tester@example.com>"
    assert form["description_content_type"] == "text/markdown"
    assert "Long description with *markdown*." in form["description"]
    assert form["keywords"] == "mnist,test"
    assert form["requires_dist"] == ["requests>=2", "tomli>=1; python_version < '3.11'", "tqdm>=4; extra == 'train'"]
    assert form["provides_extra"] == ["train"]
    assert form["metadata_version"]


def test_runtime_requirements_keep_markers_but_leave_out_extras(built_project):
    wheel = read_artifact(built_project / "dist" / WHEEL)
    assert wheel.runtime_requirements() == ["requests>=2", "tomli>=1; python_version < '3.11'"]


def test_a_corrupt_artifact_is_a_usage_error_naming_the_file(tmp_path):
    (tmp_path / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="broken-1.0-py3-none-any.whl is not a readable wheel"):
        find_artifacts(tmp_path)


def test_stale_artifacts_of_another_version_are_refused(built_project, tmp_path):
    shutil.copy(built_project / "dist" / WHEEL, tmp_path)
    stale = tmp_path / "tiny_model-0.1.0.tar.gz"
    with tarfile.open(stale, "w:gz") as archive:
        info = tarfile.TarInfo("tiny_model-0.1.0/PKG-INFO")
        data = b"Metadata-Version: 2.1\nName: tiny-model\nVersion: 0.1.0\n"
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    with pytest.raises(ConfigError, match="holds tiny-model 0.1.0 and tiny-model 0.3.1"):
        find_artifacts(tmp_path)


def test_settings_precedence_flag_then_our_variable_then_pyproject_then_gitlab_ci(tmp_path):
    from hatch_mlbundle.publish.options import parse_argv
    from hatch_mlbundle.publish.settings import load_settings

    (tmp_path / "pyproject.toml").write_text('[tool.mlbundle.publish]\nproject = "from/pyproject"\nretries = 7\n')
    ci = {"CI_API_V4_URL": "https://ci.example.com/api/v4", "CI_PROJECT_ID": "1", "CI_PROJECT_PATH": "ci/path"}

    def settings(*argv, **env):
        return load_settings(parse_argv(["--root", str(tmp_path), *argv], "t"), {**ci, **env})

    assert (settings().project, settings().url, settings().policy.retries) == (
        "from/pyproject", "https://ci.example.com/api/v4", 7)
    assert settings(MLBUNDLE_PUBLISH_PROJECT="from/variable", MLBUNDLE_PUBLISH_RETRIES="3").project == "from/variable"
    assert settings(MLBUNDLE_PUBLISH_RETRIES="3").policy.retries == 3
    assert settings("--project", "from/flag", "--retries", "0", MLBUNDLE_PUBLISH_PROJECT="v").project == "from/flag"
    assert settings("--retries", "0", MLBUNDLE_PUBLISH_RETRIES="3").policy.retries == 0
    (tmp_path / "pyproject.toml").write_text("")
    assert settings().project == "1"
    assert settings(CI_PROJECT_ID="").project == "ci/path"


# -- publishing to the local GitLab ------------------------------------------------------------------------------

TOKEN_VARIABLES = {
    "access": lambda gl: {"GITLAB_TOKEN": gl.private_token},
    "job": lambda gl: {"CI_JOB_TOKEN": gl.job_token},
    "deploy": lambda gl: {"GITLAB_DEPLOY_USER": gl.deploy_user, "GITLAB_DEPLOY_TOKEN": gl.deploy_token},
}
EXPECTED_CALLER = {"access": "personal_token:dev", "job": "job_token:dev",
                   "deploy": "deploy_token:gitlab+deploy-token-1"}


def ci_env(gl, auth: str = "access", **extra: str) -> dict[str, str]:
    """What a GitLab CI job would have, plus tiny retry delays so fault tests take milliseconds."""
    return {"CI_API_V4_URL": gl.api_url, "CI_PROJECT_ID": str(gl.project_id), "MLBUNDLE_PUBLISH_RETRIES": "2",
            "MLBUNDLE_PUBLISH_BACKOFF": "0.001", "MLBUNDLE_PUBLISH_BACKOFF_MAX": "0.01",
            "MLBUNDLE_PUBLISH_TIMEOUT": "5", **TOKEN_VARIABLES[auth](gl), **extra}


def run_publish(capfd, project: Path, env: dict, *args: str) -> tuple[int, str, str]:
    """The real entry point, in-process; returns the exit status and everything written to fd 1 and 2."""
    capfd.readouterr()
    code = main(["--root", str(project), str(project / "dist"), *args], env=env)
    out, err = capfd.readouterr()
    return code, out, err


def writes(gl) -> list[dict]:
    return [r for r in gl.requests if r["method"] in ("PUT", "POST")]


def generic_rows(gl) -> list[tuple[str, str]]:
    return [(r["file_name"], r["sha256"]) for r in gl.package_files(gl.project_id, "generic", "tiny-model", VERSION)]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_everything_published_once(gl) -> None:
    """One row per file in both registries: nothing missing, nothing uploaded twice."""
    assert [name for name, _ in generic_rows(gl)] == GENERIC
    pypi = gl.package_files(gl.project_id, "pypi", "tiny-model", VERSION)
    assert sorted(r["file_name"] for r in pypi) == sorted([SDIST, WHEEL])


@pytest.mark.parametrize("auth", ["access", "job", "deploy"])
def test_first_publish_sends_every_file_once_to_both_registries(local_gitlab, project, capfd, auth):
    gl = local_gitlab
    code, out, err = run_publish(capfd, project, ci_env(gl, auth))
    assert code == 0, err
    pypi = gl.package_files(gl.project_id, "pypi", "tiny-model", VERSION)
    assert sorted((r["file_name"], r["sha256"]) for r in pypi) == sorted(
        (name, sha256_of(project / "dist" / name)) for name in (WHEEL, SDIST))
    assert [name for name, _ in generic_rows(gl)] == GENERIC
    assert {r["auth"] for r in writes(gl)} == {EXPECTED_CALLER[auth]}
    assert out.count("| published") == 2 + len(GENERIC)
    assert "sha256 verified" in out


def test_published_generic_files_check_out_with_sha256sum(local_gitlab, project, capfd, tmp_path):
    gl = local_gitlab
    assert run_publish(capfd, project, ci_env(gl))[0] == 0
    download = tmp_path / "download"
    download.mkdir()
    for name in GENERIC:
        subprocess.run(["curl", "--silent", "--fail", "--noproxy", "127.0.0.1", "--user", f"any:{gl.private_token}",
                        "--output", str(download / name),
                        f"{gl.generic_url}/tiny-model/{VERSION}/{name}"], check=True)
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=download, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == len(GENERIC) - 1
    assert (download / "requirements.txt").read_text().splitlines()[1:] == [
        "requests>=2", "tomli>=1; python_version < '3.11'"]
    with zipfile.ZipFile(project / "dist" / WHEEL) as wheel:
        assert (download / "model.pth").read_bytes() == wheel.read("tiny_model/weights/model.pth")


def test_the_upload_form_carries_the_artifacts_metadata(local_gitlab, project, capfd):
    gl = local_gitlab
    assert run_publish(capfd, project, ci_env(gl), "--registry", "pypi")[0] == 0
    import requests

    page = requests.get(f"{gl.simple_url}/tiny-model", auth=("any", gl.private_token), timeout=5).text
    assert page.count('data-requires-python="&gt;=3.9"') == 2  # requires_python came from the files' metadata
    assert f"#sha256={sha256_of(project / 'dist' / WHEEL)}" in page
    assert generic_rows(gl) == []  # --registry pypi: nothing generic


def test_rerun_skips_identical_files_and_says_so(local_gitlab, project, capfd):
    gl = local_gitlab
    assert run_publish(capfd, project, ci_env(gl))[0] == 0
    sent = len(writes(gl))
    code, out, err = run_publish(capfd, project, ci_env(gl))
    assert code == 0, err
    assert len(writes(gl)) == sent
    assert out.count("| identical") == 2 + len(GENERIC)
    assert "model.pth: identical file already in the generic registry, skipped" in err
    assert_everything_published_once(gl)


def test_a_rerun_after_a_failure_midway_finishes_without_duplicates(local_gitlab, project, capfd):
    gl = local_gitlab
    gl.inject(Fault(method="PUT", path=r"/run_tiny\.py$", kind="status", status=503, times=3))
    code, out, err = run_publish(capfd, project, ci_env(gl))
    assert code == 1
    failure = [line for line in err.splitlines() if "run_tiny.py" in line and "on all" in line]
    assert failure == ["uploading run_tiny.py 0.3.1 (generic): 503 Service Unavailable on all 3 attempts; run again "
                       "later (files already published are skipped)"]
    assert [name for name, _ in generic_rows(gl)] == ["model.pth", "model_card.json"]  # SHA256SUMS not before the rest
    assert "| not sent" in out
    code, out, err = run_publish(capfd, project, ci_env(gl))
    assert code == 0, err
    assert_everything_published_once(gl)


def test_changed_content_under_a_published_version_is_a_conflict_and_nothing_is_sent(local_gitlab, project, capfd):
    gl = local_gitlab
    assert run_publish(capfd, project, ci_env(gl))[0] == 0
    (project / "INSTRUCTION.md").write_text("Changed instructions.\n")
    sent = len(writes(gl))
    code, out, err = run_publish(capfd, project, ci_env(gl))
    assert code == 1
    assert ("INSTRUCTION.md 0.3.1 is already published with different content; bump the version "
            "(or pass --allow-generic-overwrite)") in err.splitlines()
    assert len(writes(gl)) == sent


def test_a_pypi_file_with_other_content_is_a_conflict_even_with_the_overwrite_flag(local_gitlab, project, capfd):
    gl = local_gitlab
    assert run_publish(capfd, project, ci_env(gl), "--registry", "pypi")[0] == 0
    stale = project / "dist" / WHEEL
    with zipfile.ZipFile(stale, "a") as wheel:  # a rebuild that differs, same version
        wheel.writestr("tiny_model/extra.txt", "different")
    code, out, err = run_publish(capfd, project, ci_env(gl), "--registry", "pypi", "--allow-generic-overwrite")
    assert code == 1
    assert f"{WHEEL} 0.3.1 is already published with different content; bump the version" in err.splitlines()


def test_the_overwrite_flag_replaces_changed_generic_files(local_gitlab, project, capfd):
    gl = local_gitlab
    assert run_publish(capfd, project, ci_env(gl))[0] == 0
    (project / "INSTRUCTION.md").write_text("Changed instructions.\n")
    code, out, err = run_publish(capfd, project, ci_env(gl), "--allow-generic-overwrite")
    assert code == 0, err
    rows = generic_rows(gl)
    assert [sha for name, sha in rows if name == "INSTRUCTION.md"][-1] == sha256_of(project / "INSTRUCTION.md")
    assert len(rows) == len(GENERIC) + 2  # GitLab keeps the old rows; INSTRUCTION.md and SHA256SUMS changed
    assert "sha256 verified (replaced)" in out


def test_dry_run_prints_the_plan_and_sends_nothing_that_writes(local_gitlab, project, capfd):
    gl = local_gitlab
    code, out, err = run_publish(capfd, project, ci_env(gl), "--dry-run")
    assert code == 0, err
    assert writes(gl) == []
    for name in GENERIC:
        assert re.search(rf"\| generic +\| {re.escape(name)} .*\| upload +\| {re.escape(gl.generic_url)}/tiny-model/"
                         rf"{VERSION}/{re.escape(name)} +\|", out), name
    wheel_sha = sha256_of(project / "dist" / WHEEL)
    assert re.search(rf"\| pypi +\| {re.escape(WHEEL)} +\| [\d.]+ KiB \| {wheel_sha[:16]} \| upload ", out)
    # after a publish and a change, the plan shows skips and the conflict, and says so with exit status 1
    assert run_publish(capfd, project, ci_env(gl))[0] == 0
    (project / "INSTRUCTION.md").write_text("Changed.\n")
    sent = len(writes(gl))
    code, out, err = run_publish(capfd, project, ci_env(gl), "--dry-run")
    assert code == 1 and len(writes(gl)) == sent
    assert re.search(r"\| INSTRUCTION.md .*\| conflict ", out) and re.search(r"\| model.pth .*\| skip ", out)


def test_a_file_altered_during_the_upload_fails_verification(local_gitlab, project, capfd, monkeypatch):
    """The registry's sha256 is compared with the planned one: a file that changed on disk is caught."""
    from hatch_mlbundle.publish import run as run_module

    real_check = run_module.check_remote

    def check_then_alter(items):
        real_check(items)
        victim = next(item for item in items if item.name == "model.pth")
        victim.path.write_bytes(victim.path.read_bytes() + b"tampered")

    monkeypatch.setattr(run_module, "check_remote", check_then_alter)
    code, out, err = run_publish(capfd, project, ci_env(gl := local_gitlab))
    assert code == 1
    assert re.search(r"\| model.pth +\| [\d.]+ KiB \| mismatch +\| model.pth: the registry serves a file of another "
                     r"size, the local file has sha256 ", out)
    assert "the upload was altered; delete it in GitLab and publish again" in err
    assert "SHA256SUMS" not in [name for name, _ in generic_rows(gl)]


def test_an_upload_answered_ok_with_the_right_sha256_but_not_stored_is_not_verified(local_gitlab, project, capfd):
    """Issue 12, item 1: the PUT's own answer named the right sha256 and was believed; only a separate GET counts."""
    gl = local_gitlab
    lie = json.dumps({"file_name": "model.pth", "file_sha256": sha256_of(project / "src/tiny_model/weights/model.pth")})
    gl.inject(Fault(method="PUT", path=r"/model\.pth$", kind="body", status=200, body=lie.encode(), size=len(lie)))
    code, out, err = run_publish(capfd, project, ci_env(gl), "--registry", "generic")
    assert code == 1
    assert re.search(r"\| model.pth +\| [\d.]+ KiB \| mismatch +\| model.pth: the registry serves nothing, ", out)
    assert [name for name, _ in generic_rows(gl)] == []


@pytest.mark.parametrize("fault", [
    Fault(method="POST", path=r"/packages/pypi$", kind="status", status=500, times=2),
    Fault(method="PUT", path=r"/model\.pth$", kind="status", status=502, times=2),
    Fault(method="GET", path=r"/SHA256SUMS$", kind="status", status=503, times=2),
    Fault(method="PUT", path=r"/model\.pth$", kind="reset", after_bytes=65536, times=1),
    Fault(method="POST", path=r"/packages/pypi$", kind="reset", after_bytes=65536, times=1),
], ids=["pypi-500", "generic-502", "check-503", "generic-reset", "pypi-reset"])
def test_transient_faults_are_retried_and_the_publish_completes_once(local_gitlab, project, capfd, fault):
    gl = local_gitlab
    gl.inject(fault)
    code, out, err = run_publish(capfd, project, ci_env(gl))
    assert code == 0, err
    assert "retry 1 of 2" in err
    assert_everything_published_once(gl)


def test_a_slow_answer_with_a_small_timeout_is_retried(local_gitlab, project, capfd):
    gl = local_gitlab
    # The slow request then fails without storing: whether a request the client gave up on still lands depends on
    # whether its body sat whole in the kernel's buffers (a race under load); that case has tests of its own.
    gl.inject(Fault(method="PUT", path=r"/model\.pth$", kind="slow", delay=2.0, times=1))
    gl.inject(Fault(method="PUT", path=r"/model\.pth$", kind="status", status=503, times=1))
    code, out, err = run_publish(capfd, project, ci_env(gl), "--timeout", "0.5")
    assert code == 0, err
    assert re.search(r"uploading model.pth 0.3.1 \(generic\): no answer from 127.0.0.1:\d+ within 0.5 s; retry 1", err)
    assert_everything_published_once(gl)


def test_a_post_that_landed_but_answered_500_is_not_uploaded_again(local_gitlab, project, capfd):
    gl = local_gitlab
    gl.inject(Fault(method="POST", path=r"/packages/pypi$", kind="status", status=500, apply="after", times=1))
    code, out, err = run_publish(capfd, project, ci_env(gl), "--registry", "pypi")
    assert code == 0, err
    assert len([r for r in writes(gl) if r["method"] == "POST"]) == 2  # one per file, none repeated
    assert "but the registry has the file: not sending it again" in err


# -- usage errors: one line, exit 2, before anything is sent -----------------------------------------------------

@pytest.mark.parametrize("change, env_change, expected", [
    (None, {"CI_API_V4_URL": ""}, "no GitLab URL: set CI_API_V4_URL"),
    (None, {"CI_PROJECT_ID": ""}, "no GitLab project: set CI_PROJECT_ID"),
    (None, {"GITLAB_TOKEN": ""}, "no GitLab token: set CI_JOB_TOKEN"),
    (None, {"MLBUNDLE_PUBLISH_RETRIES": "many"}, "MLBUNDLE_PUBLISH_RETRIES='many' is not a number"),
    ('generic-file = ["x"]', {}, "[tool.mlbundle.publish] has an unknown key 'generic-file'"),
    ('generic-files = ["wheel:tiny_model/missing.bin"]', {}, "tiny_model-0.3.1-py3-none-any.whl has no member "
                                                             "tiny_model/missing.bin"),
    ('generic-files = ["NOPE.md"]', {}, "generic-files entry 'NOPE.md':"),
    ('generic-files = ["wheel:tiny_model/run_tiny.py", "wheel:tiny_model/__init__.py", "README.md"]\n'
     'generic-package = "bad name"', {}, "generic-package 'bad name' may only hold"),
    # issue 12, item 8: each refused at load, the key named
    ("timeout = nan", {"MLBUNDLE_PUBLISH_TIMEOUT": ""}, "timeout = nan: must be a finite number of seconds"),
    ("timeout = inf", {"MLBUNDLE_PUBLISH_TIMEOUT": ""}, "timeout = inf: must be a finite number of seconds"),
    ("backoff-max = nan", {"MLBUNDLE_PUBLISH_BACKOFF_MAX": ""}, "backoff-max = nan: must be a finite number"),
    (None, {"MLBUNDLE_PUBLISH_TIMEOUT": "nan"}, "timeout = nan: must be a finite number of seconds"),
    ("registries = []", {}, "[tool.mlbundle.publish] registries is empty; name at least one target"),
    ('generic-files = ["/etc/hostname"]', {}, "generic-files entry '/etc/hostname' is outside the project"),
    ('generic-files = ["../project/INSTRUCTION.md", "../outside.txt"]', {},
     "generic-files entry '../outside.txt' is outside the project"),
    (None, {"MLBUNDLE_PUBLISH_RETRIES": "1000000000"}, "retries=1000000000 is more than 100"),  # was an OverflowError
])
def test_configuration_mistakes_are_one_line_and_exit_2(local_gitlab, project, capfd, change, env_change, expected):
    gl = local_gitlab
    if change:
        text = (project / "pyproject.toml").read_text()
        text = re.sub(r"generic-files = \[[^\]]*\]", change, text)
        (project / "pyproject.toml").write_text(text)
    code, out, err = run_publish(capfd, project, {**ci_env(gl), **env_change})
    assert code == 2
    assert err.count("\n") == 1 and expected in err, err
    assert "Traceback" not in err
    assert gl.requests == []


def test_a_wheel_whose_file_name_and_metadata_versions_differ_is_refused(built_project, tmp_path):
    """Issue 12, item 9: a renamed wheel was published, filed under the version its metadata says."""
    for renamed in ("tiny_model-0.3.2-py3-none-any.whl", "other_model-0.3.1-py3-none-any.whl"):
        dist = tmp_path / renamed
        dist.mkdir()
        shutil.copy(built_project / "dist" / WHEEL, dist / renamed)
        with pytest.raises(ConfigError, match=f"{re.escape(renamed)} is named for another release than its "
                                              "metadata's tiny-model 0.3.1; rebuild it rather than rename it"):
            find_artifacts(dist)


def test_sigterm_ends_a_publish_with_one_line_and_leaves_no_temp_directory(local_gitlab, loopback_env, project,
                                                                           tmp_path):
    """Issue 12, item 9: SIGTERM (a cancelled CI job) killed the process with /tmp/mlbundle-publish-* left behind."""
    gl = local_gitlab
    gl.inject(Fault(path=".*", kind="slow", delay=30.0, times=99))
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**loopback_env, **ci_env(gl), "PYTHONPATH": str(ROOT), "TMPDIR": str(temp)}
    with subprocess.Popen([PYTHON, "-m", "hatch_mlbundle", "publish", "dist"], cwd=project, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        deadline = time.monotonic() + 30
        while not list(temp.glob("mlbundle-publish-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # inside the first request
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    assert (child.returncode, err) == (143, "python -m hatch_mlbundle publish: terminated; run again to finish "
                                            "(published files are skipped)\n")
    assert list(temp.iterdir()) == []


def test_an_empty_dist_directory_is_a_usage_error(local_gitlab, project, capfd):
    shutil.rmtree(project / "dist")
    (project / "dist").mkdir()
    code, out, err = run_publish(capfd, project, ci_env(local_gitlab))
    assert (code, err.strip()) == (2, f"mlbundle-publish: error: no wheel or sdist in {project / 'dist'}; "
                                      "build first (hatch build)")


def test_python_dash_m_entry_point_publishes(local_gitlab, loopback_env, project):
    gl = local_gitlab
    env = {**loopback_env, **ci_env(gl), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([PYTHON, "-m", "hatch_mlbundle", "publish", "dist/"], cwd=project, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert_everything_published_once(gl)
    usage = subprocess.run([PYTHON, "-m", "hatch_mlbundle"], cwd=project, env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: python -m hatch_mlbundle {publish,weights,join}" in usage.stderr


# -- no token is ever printed -------------------------------------------------------------------------------------

CANARY = "glpat-CANARY-7d1e5f3a9c"
CANARY_USER = "gitlab+deploy-token-canary"


def register_canary(gl, kind: str, role: str | None) -> None:
    """Make the canary a token of ``kind`` with ``role`` on the project ("none" = known but not a member)."""
    if role is None:
        return  # unknown to the registry
    projects = {} if role == "none" else {gl.project_id: role}
    if kind == "deploy":
        scopes = ("read_package_registry",) + (("write_package_registry",) if role == "developer" else ())
        gl.add_deploy_token(CANARY_USER, CANARY, projects=list(projects), scopes=scopes)
    elif kind == "job":
        gl.add_job_token(CANARY, user="dev", projects=projects)
    else:
        gl.add_personal_token(CANARY, user="dev", projects=projects)


def canary_auth(kind: str) -> tuple[dict, list[str]]:
    """Environment and flags that hand the canary over: by variable for job/deploy, by --token otherwise."""
    if kind == "job":
        return {"CI_JOB_TOKEN": CANARY}, []
    if kind == "deploy":
        return {"GITLAB_DEPLOY_USER": CANARY_USER, "GITLAB_DEPLOY_TOKEN": CANARY}, []
    return {}, ["--token", CANARY]


SCENARIOS = {  # name: (role of the canary, fault or setting, extra flags, exit status, expected line)
    "401": (None, None, [], 1, "401 Unauthorized"),
    "403": ("reporter", None, [], 1, "403 Forbidden"),
    "404": ("none", None, [], 1, "404: project 1217 not found or not visible"),
    "400-too-large": ("developer", "too-large", [], 1, "larger than the registry's size limit"),
    "5xx-exhausted": ("developer", Fault(path=".*", kind="status", status=503, times=99), [], 1, "on all 3 attempts"),
    "reset": ("developer", Fault(method="POST", kind="reset", after_bytes=1000, times=99), [], 1, "reset on all"),
    # Every answer late, the look-ups too: an upload that landed late would be found and count as published.
    "timeout": ("developer", Fault(path=".*", kind="slow", delay=1.0, times=99), ["--timeout", "0.2"], 1,
                "raise --timeout"),
    "dry-run": ("developer", None, ["--dry-run"], 0, "| upload"),
    "success": ("developer", None, [], 0, "| published"),
}


@pytest.mark.parametrize("kind", ["access", "job", "deploy"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_token_never_appears_in_any_output(local_gitlab, project, capfd, scenario, kind):
    gl = local_gitlab
    role, trouble, flags, status, expected = SCENARIOS[scenario]
    register_canary(gl, kind, role)
    if trouble == "too-large":
        gl.settings.generic_max_file_size = gl.settings.pypi_max_file_size = 1000
    elif trouble is not None:
        gl.inject(trouble)
    env, token_flags = canary_auth(kind)
    env = {**ci_env(gl), **env}
    del env["GITLAB_TOKEN"]
    code, out, err = run_publish(capfd, project, env, "--verbose", *token_flags, *flags)
    assert (code, expected in out + err) == (status, True), out + err
    secrets = [CANARY, base64.b64encode(f"{CANARY_USER}:{CANARY}".encode()).decode(),
               base64.b64encode(f"gitlab-ci-token:{CANARY}".encode()).decode(),
               base64.b64encode(f"gitlab-token:{CANARY}".encode()).decode(), CANARY[6:]]
    leaked = [secret for secret in secrets if secret in out + err]
    assert leaked == []
    assert "Traceback" not in err


PLAIN_CANARY = "Zq8vN3kR7tYw2pLx5mCa"  # GitLab's old unprefixed format: no pattern finds it, only knowing it
# A proxy's error page that echoes the token twice, so that whichever length server text is cut to (200 before, now
# 300 after the first is masked), a token lies across the cut.
ECHO = "a" * 190 + "{token}" + "b" * 95 + "{token}" + " c" * 5000


def fragments(token: str) -> list[str]:
    """Every 6-character piece of the token but the bare prefix: what a cut or a mistyped flag could leave."""
    return [token[i:i + 6] for i in range(len(token) - 5) if token[i:i + 6] != "glpat-"]


@pytest.mark.parametrize("canary", [CANARY, PLAIN_CANARY], ids=["prefixed", "plain"])
@pytest.mark.parametrize("scenario", ["6a-cut-server-text", "6b-misspelled-flag", "6c-token-in-url"])
def test_no_fragment_of_the_token_appears_in_any_form(local_gitlab, project, capfd, scenario, canary):
    """Issue 12, items 6a-6c: token fragments the canary test above did not look for."""
    gl = local_gitlab
    register_canary(gl, "access", "developer")
    gl.add_personal_token(canary, user="dev", projects={gl.project_id: "developer"})
    env, flags = {**ci_env(gl), "GITLAB_TOKEN": canary}, ["--verbose"]
    if scenario == "6b-misspelled-flag":  # the token is then only on the mistyped flag: nothing tells it is one
        env["GITLAB_TOKEN"] = gl.private_token
    if scenario == "6a-cut-server-text":
        gl.inject(Fault(path=".*", kind="body", status=400, body=ECHO.format(token=canary).encode(), size=len(ECHO)))
        expected, status = "tiny-model (PyPI index): 400 Bad Request: aaaa", 1
    elif scenario == "6b-misspelled-flag":
        flags += [f"--tok={canary}"]
        expected, status = "unrecognized arguments: --tok=*****", 2
    else:
        flags += ["--url", f"{gl.api_url}?private_token={canary}"]
        expected, status = "the GitLab URL must not contain credentials", 2
    code, out, err = run_publish(capfd, project, env, *flags)
    assert (code, expected in err, err.count(" error: ")) == (status, True, 1), out + err
    forms = [canary, quote(canary, safe=""), *(base64.b64encode(f"{user}:{canary}".encode()).decode()
                                               for user in ("gitlab-token", "dev"))]
    assert [form for form in forms + fragments(canary) if form in out + err] == []


def test_a_one_character_token_is_refused_and_the_message_stays_legible(local_gitlab, project, capfd):
    """Issue 12, item 6d: a token "e" masked every "e" of the output."""
    code, out, err = run_publish(capfd, project, {**ci_env(local_gitlab), "GITLAB_TOKEN": "e"})
    assert (code, err) == (2, "mlbundle-publish: error: the token from GITLAB_TOKEN is 1 characters long; a real one "
                              "has at least 8 (GitLab's have 20 or more): is it cut short?\n")
    assert local_gitlab.requests == []


def test_even_an_internal_error_mentioning_the_token_is_masked(local_gitlab, project, capfd, monkeypatch):
    from hatch_mlbundle.publish import run as run_module

    def broken(*args, **kwargs):
        raise RuntimeError(f"bug while holding {CANARY}")

    monkeypatch.setattr(run_module, "check_remote", broken)
    env = {**ci_env(local_gitlab), "GITLAB_TOKEN": CANARY}
    code, out, err = run_publish(capfd, project, env, "--verbose")
    assert code == 1
    assert "internal error (RuntimeError: bug while holding *****)" in err
    assert CANARY not in out + err


def test_a_token_after_a_misspelled_flag_is_masked_in_the_usage_error(local_gitlab, project, capfd):
    code, out, err = run_publish(capfd, project, ci_env(local_gitlab), "--tokn", CANARY)
    assert code == 2 and "unrecognized arguments: --tokn *****" in err
    assert CANARY not in out + err


def test_hatch_publish_with_the_gitlab_publisher_plugin(local_gitlab, loopback_env, project, tmp_path):
    """`hatch publish -p gitlab`, the plugin found through a `hatch` entry point as an installed one would be."""
    hatch = Path(PYTHON).with_name("hatch")
    if not hatch.exists():
        pytest.skip("hatch is not installed next to this Python")
    dist_info = tmp_path / "site" / "hatch_mlbundle_publisher-0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: hatch-mlbundle-publisher\nVersion: 0\n")
    (dist_info / "entry_points.txt").write_text("[hatch]\nmlbundle = hatch_mlbundle.plugin\n")
    gl = local_gitlab
    env = {**loopback_env, **ci_env(gl), "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}"}
    result = subprocess.run([str(hatch), "publish", "-p", "gitlab", "-o", "registry=generic", "dist"], cwd=project,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [name for name, _ in generic_rows(gl)] == GENERIC
    assert gl.package_files(gl.project_id, "pypi", "tiny-model", VERSION) == []
    bad = subprocess.run([str(hatch), "publish", "-p", "gitlab", "-o", "colour=blue", "dist"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown option 'colour' for the gitlab publisher" in bad.stdout + bad.stderr


def test_the_set_up_venv_has_the_plugin_itself_for_hatch_and_the_command(local_gitlab, loopback_env, project):
    """Issue 12, item 9: .ci/setup did not install the plugin, so `hatch publish -p gitlab` said "Unknown publisher"
    and `mlbundle-publish` was missing.  Run here as a user would: no PYTHONPATH, from the project directory."""
    bin_dir = Path(PYTHON).parent
    if not (bin_dir / "hatch").exists():
        pytest.skip("not the .ci/setup virtualenv (no hatch beside this Python)")
    gl = local_gitlab
    env = {**{k: v for k, v in loopback_env.items() if k != "PYTHONPATH"}, **ci_env(gl)}
    command = subprocess.run([str(bin_dir / "mlbundle-publish"), "--registry", "generic", "--dry-run", "dist"],
                             cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert command.returncode == 0 and "| upload" in command.stdout, command.stderr
    hatch = subprocess.run([str(bin_dir / "hatch"), "publish", "-p", "gitlab", "-o", "registry=generic", "dist"],
                           cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert hatch.returncode == 0, hatch.stdout + hatch.stderr
    assert [name for name, _ in generic_rows(gl)] == GENERIC


def test_progress_bars_go_to_a_terminal_only_and_not_with_quiet(local_gitlab, loopback_env, project):
    """tqdm draws on stderr when it is a terminal (here a pseudo-terminal), never into a CI log or with --quiet."""
    import fcntl
    import pty
    import struct
    import termios

    env = {**loopback_env, **ci_env(local_gitlab), "PYTHONPATH": str(ROOT)}

    def stderr_on_a_terminal(*flags: str) -> str:
        controller, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))  # a new pty is 0 wide
        with subprocess.Popen([PYTHON, "-m", "hatch_mlbundle", "publish", "--registry", "generic", *flags, "dist"],
                              cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=terminal) as child:
            os.close(terminal)
            seen = b""
            while True:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the terminal is gone: the child has exited
                    break
                if not chunk:
                    break
                seen += chunk
        os.close(controller)
        assert child.returncode == 0, seen.decode(errors="replace")
        return seen.decode(errors="replace")

    drawn = stderr_on_a_terminal("--allow-generic-overwrite")
    assert re.search(r"model\.pth: +\d+%\|", drawn), drawn  # small files finish before the first redraw
    quiet = stderr_on_a_terminal("--quiet", "--allow-generic-overwrite")
    assert "%|" not in quiet


# -- targets: found by name, one of the project's own among them --------------------------------------------------

FOLDER_TARGET = '''\
"""A project's own target, outside hatch_mlbundle: copies the wheel and sdist to <root>/published/<name>/<version>/."""
from __future__ import annotations

import shutil
from pathlib import Path

from hatch_mlbundle.files import sha256_file
from hatch_mlbundle.publish.targets import Item, Target


class FolderTarget(Target):
    def items(self, artifacts, workdir):
        folder = self.context.settings.root / "published"
        return [Item(self, a.path.name, a.path, a.name, a.version, str(folder / a.name / a.version / a.path.name),
                     a.path.stat().st_size, sha256_file(a.path)) for a in artifacts]

    def remote_sha256(self, item):
        copy = Path(item.url)
        return sha256_file(copy) if copy.is_file() else None

    def upload(self, item):
        Path(item.url).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item.path, item.url)
        return None  # verified by reading the copy back (Target.verify)
'''


def without_gitlab(env: dict) -> dict:
    """No GitLab URL, project or token of any kind: what a target that needs none must run with."""
    return {key: value for key, value in env.items() if not key.startswith(("CI_", "GITLAB_", "MLBUNDLE_"))}


def test_a_target_of_the_projects_own_publishes_through_the_command_without_gitlab(project, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "folder_target.py").write_text(FOLDER_TARGET)
    pyproject = project / "pyproject.toml"
    plain = pyproject.read_text()
    pyproject.write_text(plain.replace("[tool.mlbundle.publish]\n",
                                       '[tool.mlbundle.publish]\nregistries = ["folder_target:FolderTarget"]\n'))
    env = {**without_gitlab(dict(os.environ)), "PYTHONPATH": os.pathsep.join([str(plugins), str(ROOT)])}

    def publish(*flags: str) -> subprocess.CompletedProcess:
        return subprocess.run([PYTHON, "-m", "hatch_mlbundle", "publish", *flags, "dist"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=120)

    first = publish()
    assert first.returncode == 0, first.stderr
    for name in (WHEEL, SDIST):
        copy = project / "published" / "tiny-model" / VERSION / name
        assert copy.read_bytes() == (project / "dist" / name).read_bytes()
        assert re.search(rf"\| folder_target:FolderTarget \| {re.escape(name)} +\| [\d.]+ KiB \| published +\| "
                         r"sha256 verified +\|", first.stdout), first.stdout
    assert "GitLab" not in first.stderr
    pyproject.write_text(plain)  # the same target named by the flag instead
    again = publish("--registry", "folder_target:FolderTarget")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("| identical") == 2 and "| published" not in again.stdout
    assert f"{WHEEL}: identical file already in the folder_target:FolderTarget registry, skipped" in again.stderr
    # A target's own I/O failure is a failed row and advice, not "internal error": the run stops as for a registry.
    shutil.rmtree(project / "published")
    (project / "published").write_text("a file where the folder should be")
    blocked = publish("--registry", "folder_target:FolderTarget")
    assert blocked.returncode == 1 and "internal error" not in blocked.stderr and "Traceback" not in blocked.stderr
    assert re.search(r"\| failed +\| .*published", blocked.stdout) and "| not sent" in blocked.stdout, blocked.stdout


class _HatchApp:
    """The part of hatch's Application a publisher uses: ``abort`` ends the command with a status."""

    def abort(self, text: str = "", code: int = 1) -> None:
        raise SystemExit(code)


def test_a_bare_hatch_switch_turns_it_on():
    """`hatch publish -o dry-run` (no `=value`) hands the publisher an empty string: on, never silently off."""
    from hatch_mlbundle.publish.options import BY_NAME, coerce

    assert coerce(BY_NAME["dry-run"], "", "-o dry-run") is True
    assert coerce(BY_NAME["dry-run"], "no", "-o dry-run") is False


def test_the_hatch_publisher_and_the_command_line_load_equal_settings(project, monkeypatch, capfd):
    """One `load_settings` for both: flags parsed by argparse and hatch's `-o key=value` strings agree."""
    from hatch_mlbundle.gitlab import RetryPolicy
    from hatch_mlbundle.publish import cli
    from hatch_mlbundle.publish.hatch_plugin import GitLabPublisher

    loaded = []
    real = cli.load_settings

    def recording(options, env):
        loaded.append(real(options, env))
        return loaded[-1]

    monkeypatch.setattr(cli, "load_settings", recording)
    monkeypatch.setattr(cli, "publish", lambda context: 0)  # settings only: nothing is sent
    monkeypatch.chdir(project)
    for name, value in {"CI_API_V4_URL": "https://gitlab.example.com/api/v4", "CI_PROJECT_ID": "1",
                        "MLBUNDLE_PUBLISH_BACKOFF": "0.5"}.items():
        monkeypatch.setenv(name, value)
    flags = ["--project", "group/tiny", "--registry", "generic", "--generic-package", "tiny", "--retries", "2",
             "--timeout", "7.5", "--allow-generic-overwrite", "--dry-run", "--quiet", "--deploy-user", "bot",
             "--deploy-token", CANARY]
    assert main(["--root", str(project), *flags, "dist"]) == 0
    options = {"no_prompt": False, "initialize_auth": False, "project": "group/tiny", "registry": "generic",
               "generic_package": "tiny", "retries": "2", "timeout": "7.5", "allow-generic-overwrite": "true",
               "dry-run": "yes", "quiet": "1", "deploy-user": "bot", "deploy-token": CANARY}
    GitLabPublisher(_HatchApp(), str(project), project / "cache", {}, {}).publish(["dist"], options)
    assert len(loaded) == 2 and loaded[0] == loaded[1]
    settings = loaded[0]
    assert settings.policy == RetryPolicy(retries=2, timeout=7.5, backoff=0.5)
    assert (settings.registries, settings.dist, settings.deploy_token) == (("generic",), project / "dist", CANARY)
    assert settings.allow_generic_overwrite and settings.dry_run and settings.quiet and not settings.verbose
    assert CANARY not in repr(settings)
    with pytest.raises(SystemExit) as aborted:
        GitLabPublisher(_HatchApp(), str(project), project / "cache", {}, {}).publish(["dist"], {"retries": "many"})
    assert aborted.value.code == 2
    assert capfd.readouterr().err == "hatch publish -p gitlab: error: retries='many' is not a number\n"


@pytest.mark.parametrize("flags, registries, expected", [
    (["--registry", "pipy"], None, "unknown registry 'pipy'; choose from pypi, generic, release, or give a target as "
                                   "package.module:Class"),
    ([], '["generic", "nope"]', "unknown registry 'nope'; choose from pypi, generic"),
    (["--registry", "no_such_module:Target"], None, "registry 'no_such_module:Target': cannot import no_such_module"),
    (["--registry", "hatch_mlbundle.files:sha256_file"], None, "hatch_mlbundle.files has no Target subclass "
                                                                "sha256_file"),
])
def test_an_unknown_target_is_one_line_and_exit_2(project, capfd, flags, registries, expected):
    if registries:
        pyproject = project / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace("[tool.mlbundle.publish]\n",
                                                           f"[tool.mlbundle.publish]\nregistries = {registries}\n"))
    code, out, err = run_publish(capfd, project, without_gitlab(dict(os.environ)), *flags)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("mlbundle-publish: error: ") and expected in err, err


def test_built_in_targets_are_the_modules_of_the_targets_package_in_publishing_order():
    from hatch_mlbundle.publish.targets import builtin_names, select

    assert builtin_names() == ("pypi", "generic", "release")
    assert select(["generic", "pypi", "generic"]) == ("pypi", "generic")  # PyPI first, whatever the order given

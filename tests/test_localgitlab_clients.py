"""The local registry against clients nobody here wrote: curl, twine, pip and python-gitlab.

If one of these cannot talk to it, the registry is not GitLab-compatible, whatever the conformance tests say.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import gitlab
import pytest

PACKAGE = "Tiny-Pkg"  # not normalized on purpose: pip asks for tiny-pkg
MODULE = "tiny_pkg"
VERSION = "0.1.0"


def run(command: list[str], env: dict, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def tiny_dists(tmp_path_factory) -> list[Path]:
    """A real wheel and sdist, built by hatchling through `python -m build`."""
    project = tmp_path_factory.mktemp("tiny")
    (project / MODULE).mkdir()
    (project / MODULE / "__init__.py").write_text("ANSWER = 42\n")
    # Kept on purpose beside test_publish.py's PYPROJECT (`duplicates` pairs their first lines): that one
    # carries the full metadata the publisher must forward; this is the least a client needs to upload.
    (project / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "{PACKAGE}"
        version = "{VERSION}"
        requires-python = ">=3.8"

        [tool.hatch.build.targets.wheel]
        packages = ["{MODULE}"]
        """))
    result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
                             "--outdir", str(project / "dist"), str(project)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    dists = sorted((project / "dist").iterdir(), key=lambda path: path.suffix)  # sdist, then wheel
    assert [d.suffix for d in dists] == [".gz", ".whl"]
    return dists


def curl_upload(setup, env, file: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    # The generic packages tutorial's command, as a CI job runs it.
    return run(["curl", "--location", "--header", f"JOB-TOKEN: {setup.job_token}", *extra,
                "--upload-file", str(file), url], env)


def test_curl_tutorial_upload_and_download(local_gitlab, loopback_env, tmp_path):
    file = tmp_path / "file.txt"
    file.write_bytes(b"curl payload\n" * 1000)
    url = f"{local_gitlab.generic_url}/my_package/0.0.1/file.txt"

    uploaded = curl_upload(local_gitlab, loopback_env, file, url)
    assert (uploaded.returncode, uploaded.stdout) == (0, '{"message":"201 Created"}')

    target = tmp_path / "downloaded.txt"
    downloaded = run(["curl", "--fail", "--silent", "--show-error", "--location",
                      "--user", f"gitlab-ci-token:{local_gitlab.job_token}", "--output", str(target),
                      "--dump-header", "-", url], loopback_env)
    assert downloaded.returncode == 0, downloaded.stderr
    assert target.read_bytes() == file.read_bytes()
    assert f"x-checksum-sha256: {hashlib.sha256(file.read_bytes()).hexdigest()}" in downloaded.stdout.lower()


def test_curl_waits_for_100_continue_and_a_refused_upload_sends_no_body(local_gitlab, loopback_env, tmp_path):
    file = tmp_path / "big.bin"
    file.write_bytes(b"\0" * (3 << 20))
    url = f"{local_gitlab.generic_url}/my_package/0.0.1/big.bin"
    refused = run(["curl", "--silent", "--header", "JOB-TOKEN: wrong", "--header", "Expect: 100-continue",
                   "--write-out", "\n%{http_code} %{size_upload}", "--upload-file", str(file), url], loopback_env)
    body, status_and_sent = refused.stdout.rsplit("\n", 1)
    assert (body, status_and_sent) == ('{"message":"401 Unauthorized"}', "401 0")

    accepted = curl_upload(local_gitlab, loopback_env, file, url, "--header", "Expect: 100-continue",
                           "--write-out", "\n%{http_code} %{size_upload}")
    assert accepted.stdout.rsplit("\n", 1)[1] == f"201 {3 << 20}"


def test_twine_uploads_with_the_job_token_and_pip_installs_from_the_index(local_gitlab, loopback_env, tiny_dists,
                                                                         tmp_path):
    env = {**loopback_env, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    twine = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
             "--repository-url", local_gitlab.pypi_url, "-u", "gitlab-ci-token", "-p", local_gitlab.job_token]
    uploaded = run([*twine, *map(str, tiny_dists)], env)
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    stored = local_gitlab.package_files(local_gitlab.project_id, "pypi", PACKAGE, VERSION)
    assert sorted(f["file_name"] for f in stored) == sorted(d.name for d in tiny_dists)
    assert {f["sha256"] for f in stored} == {hashlib.sha256(d.read_bytes()).hexdigest() for d in tiny_dists}

    again = run([*twine, str(tiny_dists[1])], env)
    assert again.returncode != 0
    assert "400" in again.stdout + again.stderr
    assert local_gitlab.job_token not in again.stdout + again.stderr

    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)], env).returncode == 0
    host = local_gitlab.url.split("://", 1)[1]
    index = f"http://gitlab-ci-token:{local_gitlab.job_token}@{host}/api/v4/projects/{local_gitlab.project_id}/packages/pypi/simple"
    installed = run([str(venv / "bin" / "pip"), "--isolated", "install", "--no-deps", "--no-cache-dir", "--no-input",
                     "--disable-pip-version-check", "--index-url", index, PACKAGE], env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    imported = run([str(venv / "bin" / "python"), "-c", f"import {MODULE}; print({MODULE}.ANSWER)"], env)
    assert imported.stdout.strip() == "42"
    pip_reads = [(e["method"], e["path"].split("/packages/pypi/")[1].split("/")[0], e["status"], e["auth"])
                 for e in local_gitlab.requests if e["method"] == "GET"]
    assert pip_reads == [("GET", "simple", 200, "job_token:dev"), ("GET", "files", 200, "job_token:dev")]


def test_python_gitlab_generic_upload_and_download(local_gitlab):
    client = gitlab.Gitlab(local_gitlab.url, private_token=local_gitlab.private_token)
    project = client.projects.get(local_gitlab.project_id, lazy=True)
    package = project.generic_packages.upload("mnist-model", "1.0.0", "model.pt", data=b"weights",
                                              select="package_file")
    assert package.file_sha256 == hashlib.sha256(b"weights").hexdigest()
    assert project.generic_packages.download("mnist-model", "1.0.0", "model.pt") == b"weights"

    with pytest.raises(gitlab.GitlabGetError) as missing:
        project.generic_packages.download("mnist-model", "1.0.0", "absent.pt")
    assert missing.value.response_code == 404


def test_python_gitlab_with_a_job_token_and_a_project_path(local_gitlab):
    client = gitlab.Gitlab(local_gitlab.url, job_token=local_gitlab.job_token)
    project = client.projects.get(local_gitlab.project_path, lazy=True)  # sent as group%2Fmnist
    created = project.generic_packages.upload("mnist-model", "1.0.0", "card.json", data=b"{}")
    assert created.message == "201 Created"
    assert project.generic_packages.download("mnist-model", "1.0.0", "card.json") == b"{}"
    assert all(e["path"].startswith("/api/v4/projects/group%2Fmnist/") for e in local_gitlab.requests)

"""The local GitLab's Releases API (../shared/gitlab-releases-api.md) and its PyPI forwarding, against clients
nobody here wrote: python-gitlab, curl, and pip into a fresh venv with a second loopback server upstream.

The publisher's release step is written against the contract; if these clients disagree with the emulator,
the emulator is wrong and every release test built on it proves nothing.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import gitlab
import pytest

from localgitlab import LocalGitLab

SOURCES = 4  # zip, tar.gz, tar.bz2, tar: counted in assets.count for readers of the code


def run(command: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def client(setup, **token) -> gitlab.Gitlab:
    return gitlab.Gitlab(setup.url, **(token or {"job_token": setup.job_token}))


def test_python_gitlab_creates_reads_and_lists_releases_with_links(local_gitlab):
    project = client(local_gitlab).projects.get(local_gitlab.project_id, lazy=True)
    wheel_url = f"{local_gitlab.generic_url}/mnist-model/1.1.0/mnist_model-1.1.0-py3-none-any.whl"
    release = project.releases.create({
        "tag_name": "v1.1.0", "ref": "main", "description": "## Metrics",
        "assets": {"links": [{"name": "wheel", "url": wheel_url, "direct_asset_path": "/dist/mnist.whl",
                              "link_type": "package"}]}})
    page = f"{local_gitlab.url}/{local_gitlab.project_path}/-/releases/v1.1.0"
    assert (release.name, release.tag_name, release.description) == ("v1.1.0", "v1.1.0", "## Metrics")
    assert release.assets["count"] == 1 + SOURCES and release._links["self"] == page
    assert release.assets["links"] == [{"id": release.assets["links"][0]["id"], "name": "wheel", "url": wheel_url,
                                        "direct_asset_url": f"{page}/downloads/dist/mnist.whl", "link_type": "package"}]

    fetched = project.releases.get("v1.1.0")
    card = fetched.links.create({"name": "model_card.json", "url": "https://example.org/card.json"})
    assert (card.link_type, card.direct_asset_url) == ("other", "https://example.org/card.json")  # no filepath
    assert [link.name for link in fetched.links.list()] == ["model_card.json", "wheel"]  # newest first
    card.url = "https://example.org/card-v2.json"
    card.save()
    assert fetched.links.get(card.id).url == "https://example.org/card-v2.json"
    card.delete()
    assert [link.name for link in project.releases.get("v1.1.0").links.list()] == ["wheel"]

    local_gitlab.add_tag(local_gitlab.project_id, "v1.0.0")  # an existing tag needs no ref
    old = project.releases.create({"tag_name": "v1.0.0", "name": "First", "released_at": "2020-01-02T03:04:05"})
    assert (old.name, old.released_at, old.upcoming_release) == ("First", "2020-01-02T03:04:05.000Z", False)
    assert [r.tag_name for r in project.releases.list(get_all=True)] == ["v1.1.0", "v1.0.0"]  # released_at desc
    assert [r.tag_name for r in project.releases.list(order_by="created_at", get_all=True)] == ["v1.0.0", "v1.1.0"]
    assert [r.tag_name for r in project.releases.list(sort="asc", get_all=True)] == ["v1.0.0", "v1.1.0"]
    assert [r.tag_name for r in project.releases.list(per_page=1, iterator=True)] == ["v1.1.0", "v1.0.0"]

    old.description = "edited"
    old.save()
    assert project.releases.get("v1.0.0").description == "edited"
    assert [(r["tag_name"], [link["name"] for link in r["links"]]) for r in local_gitlab.releases(local_gitlab.project_id)] \
        == [("v1.1.0", ["wheel"]), ("v1.0.0", [])]


def test_releases_outlive_a_restart_like_packages(tmp_path):
    with LocalGitLab(tmp_path / "registry") as first:
        first.add_project(5, "group/app")
        first.add_personal_token("glpat-restart", "dev", {5: "developer"})
        gitlab.Gitlab(first.url, private_token="glpat-restart").projects.get(5, lazy=True).releases.create(
            {"tag_name": "v1", "ref": "main", "assets": {"links": [{"name": "a", "url": "https://h/a"}]}})
    with LocalGitLab(tmp_path / "registry") as second:
        assert [(r["tag_name"], len(r["links"])) for r in second.releases(5)] == [("v1", 1)]


def test_python_gitlab_sees_gitlabs_errors(local_gitlab):
    project = client(local_gitlab).projects.get(local_gitlab.project_id, lazy=True)
    project.releases.create({"tag_name": "v1", "ref": "main"})
    with pytest.raises(gitlab.GitlabCreateError) as exists:
        project.releases.create({"tag_name": "v1", "ref": "main"})
    with pytest.raises(gitlab.GitlabCreateError) as no_ref:
        project.releases.create({"tag_name": "v2"})
    with pytest.raises(gitlab.GitlabCreateError) as bad_link:
        project.releases.create({"tag_name": "v3", "ref": "main",
                                 "assets": {"links": [{"name": "x", "url": "javascript:alert(1)"}]}})
    with pytest.raises(gitlab.GitlabGetError) as missing:
        project.releases.get("v9")
    assert [(e.value.response_code, e.value.error_message) for e in (exists, no_ref, bad_link, missing)] == [
        (409, "Release already exists"), (422, "Ref is not specified"),
        (400, "Validation failed: Links url is blocked: Only allowed schemes are http, https, ftp"),
        (404, "404 Not Found")]
    assert [r["tag_name"] for r in local_gitlab.releases(local_gitlab.project_id)] == ["v1"]  # nothing half-made

    links = project.releases.get("v1").links
    links.create({"name": "app", "url": "https://h/app", "filepath": "/bin/app"})
    refused = {}
    for name, link in {"taken": {"name": "app", "url": "https://h/app"},
                       "scheme": {"name": "b", "url": "file:///etc/passwd"},
                       "filepath": {"name": "c", "url": "https://h/c", "direct_asset_path": "bin//c"},
                       "type": {"name": "d", "url": "https://h/d", "link_type": "binary"}}.items():
        with pytest.raises(gitlab.GitlabCreateError) as error:
            links.create(link)
        refused[name] = (error.value.response_code, error.value.error_message)
    assert refused == {"taken": (400, ["Url has already been taken", "Name has already been taken"]),
                       "scheme": (400, ["Url is blocked: Only allowed schemes are http, https, ftp"]),
                       "filepath": (400, ["Filepath is in an invalid format"]),
                       "type": (400, "link_type does not have a valid value")}
    assert [link.name for link in links.list()] == ["app"]


def curl_json(setup, env, method: str, path: str, *args: str) -> tuple[int, object]:
    result = run(["curl", "--silent", "--show-error", "--request", method, *args, "--write-out", "\n%{http_code}",
                  f"{setup.api_url}/projects/{setup.project_id}/releases{path}"], env)
    body, status = result.stdout.rsplit("\n", 1)
    return int(status), json.loads(body) if body.startswith(("{", "[")) else body


def test_curl_tag_with_a_slash_and_permalink_downloads_reach_the_file(local_gitlab, loopback_env, tmp_path):
    file = tmp_path / "model.onnx"
    file.write_bytes(b"onnx bytes" * 100)
    file_url = f"{local_gitlab.generic_url}/mnist-model/1.1.0/model.onnx"
    job = ("--header", f"JOB-TOKEN: {local_gitlab.job_token}")
    assert run(["curl", "--fail", "--silent", *job, "--upload-file", str(file), file_url], loopback_env).returncode == 0
    body = {"tag_name": "model/v1.1.0", "ref": "main",
            "assets": {"links": [{"name": "model.onnx", "url": file_url, "filepath": "/model.onnx"}]}}
    created = curl_json(local_gitlab, loopback_env, "POST", "", *job, "--header", "Content-Type: application/json",
                        "--data", json.dumps(body))
    assert created[0] == 201 and created[1]["assets"]["links"][0]["direct_asset_url"] == \
        f"{local_gitlab.url}/{local_gitlab.project_path}/-/releases/model/v1.1.0/downloads/model.onnx"
    assert curl_json(local_gitlab, loopback_env, "GET", "/model%2Fv1.1.0", *job)[1]["tag_name"] == "model/v1.1.0"
    assert curl_json(local_gitlab, loopback_env, "GET", "/model/v1.1.0", *job) == (404, {"error": "404 Not Found"})
    assert curl_json(local_gitlab, loopback_env, "GET", "/model%2Fv1.1.0/downloads/nothing", *job) == \
        (404, {"message": "404 Not found"})

    target = tmp_path / "downloaded.onnx"
    del local_gitlab.requests[:]
    fetched = run(["curl", "--fail", "--silent", "--show-error", "--location", *job, "--output", str(target),
                   f"{local_gitlab.api_url}/projects/{local_gitlab.project_id}/releases/permalink/latest/downloads/model.onnx"],
                  loopback_env)
    assert fetched.returncode == 0, fetched.stderr
    assert target.read_bytes() == file.read_bytes()
    assert [entry["status"] for entry in local_gitlab.requests] == [302, 302, 200]  # permalink, downloads, file


def test_curl_release_authentication_follows_the_contract(local_gitlab, loopback_env):
    setup, env, pid = local_gitlab, loopback_env, local_gitlab.project_id
    local_gitlab.add_personal_token("glpat-guest", "guest", {pid: "guest"})
    local_gitlab.add_personal_token("glpat-reporter", "reporter", {pid: "reporter"})
    local_gitlab.add_tag(pid, "v1")
    job, pat = setup.job_token, setup.private_token
    assert curl_json(setup, env, "POST", "", "--header", f"PRIVATE-TOKEN: {pat}", "--data", "tag_name=v1")[0] == 201

    def status(method: str, path: str, *args: str) -> int:
        return curl_json(setup, env, method, path, *args)[0]

    reads = {
        "JOB-TOKEN": status("GET", "", "--header", f"JOB-TOKEN: {job}"),
        "job_token": status("GET", f"?job_token={job}"), "token": status("GET", f"?token={job}"),
        "job Bearer": status("GET", "", "--oauth2-bearer", job),
        "PRIVATE-TOKEN": status("GET", "", "--header", f"PRIVATE-TOKEN: {pat}"),
        "private_token": status("GET", f"?private_token={pat}"), "PAT Bearer": status("GET", "", "--oauth2-bearer", pat),
        "job Basic": status("GET", "", "--user", f"gitlab-ci-token:{job}"),
        "PAT Basic": status("GET", "", "--user", f"dev:{pat}"),
        "Deploy-Token": status("GET", "", "--header", f"Deploy-Token: {setup.deploy_token}"),
        "deploy Basic": status("GET", "", "--user", f"{setup.deploy_user}:{setup.deploy_token}"),
        "job as PRIVATE-TOKEN": status("GET", "", "--header", f"PRIVATE-TOKEN: {job}"),
        "unknown JOB-TOKEN": status("GET", "", "--header", "JOB-TOKEN: nope"),
        "guest list": status("GET", "", "--header", "PRIVATE-TOKEN: glpat-guest"),
        "guest get": status("GET", "/v1", "--header", "PRIVATE-TOKEN: glpat-guest"),
        "reporter get": status("GET", "/v1", "--header", "PRIVATE-TOKEN: glpat-reporter"),
        "reporter post": status("POST", "", "--header", "PRIVATE-TOKEN: glpat-reporter", "--data", "tag_name=v1"),
        "put missing": status("PUT", "/v9", "--header", f"JOB-TOKEN: {job}", "--data", "name=x"),
        "delete missing": status("DELETE", "/v9", "--header", f"JOB-TOKEN: {job}"),
        "delete": status("DELETE", "/v1", "--header", f"JOB-TOKEN: {job}"),
        "again, tag kept": status("POST", "", "--header", f"JOB-TOKEN: {job}", "--data", "tag_name=v1"),
    }
    assert reads == {
        "JOB-TOKEN": 200, "job_token": 200, "token": 200, "job Bearer": 200, "PRIVATE-TOKEN": 200,
        "private_token": 200, "PAT Bearer": 200, "job Basic": 404, "PAT Basic": 404, "Deploy-Token": 404,
        "deploy Basic": 404, "job as PRIVATE-TOKEN": 401, "unknown JOB-TOKEN": 401, "guest list": 200,
        "guest get": 403, "reporter get": 200, "reporter post": 403, "put missing": 403, "delete missing": 403,
        "delete": 200, "again, tag kept": 201}
    assert curl_json(setup, env, "GET", "", "--user", f"gitlab-ci-token:{job}") == \
        (404, {"message": "404 Project Not Found"})
    assert curl_json(setup, env, "POST", "", "--header", f"JOB-TOKEN: {job}") == \
        (400, {"error": "tag_name is missing"})
    assert not [entry for entry in local_gitlab.requests if job in json.dumps(entry) or pat in json.dumps(entry)]


# --- PyPI forwarding: GitLab redirects a name the project does not have to pypi.org ----------------------

def build_wheel(root: Path, name: str, module: str, dependencies: list[str]) -> Path:
    (root / module).mkdir(parents=True)
    (root / module / "__init__.py").write_text(f"NAME = {name!r}\n")
    (root / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "{name}"
        version = "0.1.0"
        dependencies = {json.dumps(dependencies)}

        [tool.hatch.build.targets.wheel]
        packages = ["{module}"]
        """))
    result = run([sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(root / "dist"),
                  str(root)], dict(os.environ))
    assert result.returncode == 0, result.stderr
    return next((root / "dist").glob("*.whl"))


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    """fwd-app (in the project) depends on fwd-dep (only upstream), as mnist-model depends on pillow."""
    root = tmp_path_factory.mktemp("forwarding")
    return {"app": build_wheel(root / "app", "fwd-app", "fwd_app", ["fwd-dep"]),
            "dep": build_wheel(root / "dep", "fwd-dep", "fwd_dep", [])}


@pytest.fixture
def upstream(wheels, tmp_path):
    """A static PEP 503 index, as pypi.org serves one, on a second loopback server: yields (url, paths asked)."""
    dep = wheels["dep"]
    (tmp_path / "up" / "files").mkdir(parents=True)
    (tmp_path / "up" / "files" / dep.name).write_bytes(dep.read_bytes())
    page = tmp_path / "up" / "simple" / "fwd-dep" / "index.html"
    page.parent.mkdir(parents=True)
    digest = hashlib.sha256(dep.read_bytes()).hexdigest()
    page.write_text(f'<!DOCTYPE html><html><body><a href="../../files/{dep.name}#sha256={digest}">{dep.name}</a>'
                    f"</body></html>")
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path / "up"), **kwargs)

        def log_message(self, format, *args):
            asked.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/simple", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def pip(local_gitlab, env, command: list[str], *args: str) -> subprocess.CompletedProcess:
    """`command` (pip's own options, then the subcommand) against the project's index, as the README's
    rehearsal runs it; --isolated keeps this machine's pip settings (find-links) out."""
    host = local_gitlab.url.split("://", 1)[1]
    index = f"http://__token__:{local_gitlab.private_token}@{host}/api/v4/projects/{local_gitlab.project_id}/packages/pypi/simple"
    return run([sys.executable, "-m", "pip", "--isolated", *command, "--no-cache-dir", "--no-input",
                "--disable-pip-version-check", "--index-url", index, *args], env)


def upload(local_gitlab, env, wheel: Path) -> None:
    uploaded = run([sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
                    "--repository-url", local_gitlab.pypi_url, "-u", "__token__", "-p", local_gitlab.private_token,
                    str(wheel)], {**env, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr


def test_pip_install_takes_missing_dependencies_from_the_forwarded_index(local_gitlab, loopback_env, wheels,
                                                                         upstream, tmp_path):
    url, asked = upstream
    upload(local_gitlab, loopback_env, wheels["app"])
    local_gitlab.settings.pypi_forwarding, local_gitlab.settings.pypi_upstream = True, url
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)], loopback_env).returncode == 0
    installed = pip(local_gitlab, loopback_env, ["--python", str(venv / "bin" / "python"), "install"], "fwd-app")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    imported = run([str(venv / "bin" / "python"), "-c", "import fwd_app, fwd_dep; print(fwd_app.NAME, fwd_dep.NAME)"],
                   loopback_env)
    assert imported.stdout.split() == ["fwd-app", "fwd-dep"]
    misses = [(e["path"].rsplit("/simple/", 1)[1], e["status"]) for e in local_gitlab.requests if "/simple/fwd-dep" in e["path"]]
    assert misses == [("fwd-dep/", 302)]  # a redirect, not a proxy: the file came from the upstream itself
    assert asked == ["/simple/fwd-dep/", f"/files/{wheels['dep'].name}"]


def test_without_forwarding_pip_cannot_find_the_dependency(local_gitlab, loopback_env, wheels, upstream, tmp_path):
    url, asked = upstream
    upload(local_gitlab, loopback_env, wheels["app"])
    downloaded = pip(local_gitlab, loopback_env, ["download"], "--dest", str(tmp_path / "d"), "fwd-app")
    assert downloaded.returncode != 0
    assert "No matching distribution found for fwd-dep" in downloaded.stderr
    assert asked == [] and local_gitlab.private_token not in downloaded.stdout + downloaded.stderr


def test_command_line_pypi_forward(loopback_env, tmp_path):
    command = [sys.executable, "-m", "localgitlab", "--port", "0", "--storage", str(tmp_path / "r"),
               "--project", "7:group/app", "--private-token", "cli-token", "--pypi-forward", "https://up.example/simple"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=loopback_env,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        lines = [server.stdout.readline() for _ in range(4)]
        api = lines[0].rsplit(" ", 1)[1].strip()
        answer = run(["curl", "--silent", "--header", "PRIVATE-TOKEN: cli-token", "--write-out", "%{http_code} %{redirect_url}",
                      "--output", "/dev/null", f"{api}/projects/7/packages/pypi/simple/pillow/"], loopback_env)
        assert answer.stdout == "302 https://up.example/simple/pillow/"
        assert "redirected to https://up.example/simple" in lines[2]
    finally:
        server.terminate()
        server.communicate(timeout=30)
    refused = run([*command[:-1], "file:///simple"], loopback_env)
    assert refused.returncode == 2 and "is not an http(s) URL of a simple index" in refused.stderr

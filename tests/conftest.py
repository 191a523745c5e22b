"""Shared fixtures: a local GitLab package registry on 127.0.0.1, set up like a small real project."""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from localgitlab import LocalGitLab

PROJECT_ID = 1217
PROJECT_PATH = "group/mnist"
GROUP_ID = 42
GROUP_PATH = "group"
USER = "dev"
PRIVATE_TOKEN = "glpat-localtest-developer-0001"
JOB_TOKEN = "glcbt-localtest-job-0001"
DEPLOY_USER = "gitlab+deploy-token-1"
DEPLOY_TOKEN = "gldt-localtest-deploy-0001"


@dataclass
class LocalGitLabSetup:
    """The running registry and what it was set up with; anything else (url, api_url, requests, settings,
    inject, package_files, add_*...) is the LocalGitLab's own."""

    gl: LocalGitLab
    project_id: int = PROJECT_ID
    project_path: str = PROJECT_PATH
    group_id: int = GROUP_ID
    user: str = USER
    private_token: str = PRIVATE_TOKEN
    job_token: str = JOB_TOKEN
    deploy_user: str = DEPLOY_USER
    deploy_token: str = DEPLOY_TOKEN

    generic_url: str = field(init=False)
    pypi_url: str = field(init=False)  # what twine's --repository-url takes
    simple_url: str = field(init=False)

    def __post_init__(self) -> None:
        project_api = f"{self.gl.api_url}/projects/{self.project_id}"
        self.generic_url = f"{project_api}/packages/generic"
        self.pypi_url = f"{project_api}/packages/pypi"
        self.simple_url = f"{self.pypi_url}/simple"

    def __getattr__(self, name: str):
        return getattr(self.gl, name)


@pytest.fixture
def local_gitlab(tmp_path, monkeypatch) -> LocalGitLabSetup:
    """A private project (1217, group/mnist) in group 42, a developer's personal access token and job
    token, and a read-write deploy token; the registry is stopped whatever the test does."""
    for name in ("NO_PROXY", "no_proxy"):  # in-process clients (requests, python-gitlab) must not use a proxy
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    gl = LocalGitLab(tmp_path / "registry", host="127.0.0.1", port=0)
    gl.add_project(PROJECT_ID, PROJECT_PATH, visibility="private")
    gl.add_group(GROUP_ID, GROUP_PATH, projects=[PROJECT_ID])
    gl.add_personal_token(PRIVATE_TOKEN, user=USER, projects={PROJECT_ID: "developer"})
    gl.add_job_token(JOB_TOKEN, user=USER, projects={PROJECT_ID: "developer"})
    gl.add_deploy_token(DEPLOY_USER, DEPLOY_TOKEN, projects=[PROJECT_ID],
                        scopes=("read_package_registry", "write_package_registry"))
    with gl:
        yield LocalGitLabSetup(gl)


@pytest.fixture
def loopback_env() -> dict[str, str]:
    """The environment for a client subprocess: no proxy, so 127.0.0.1 is reached directly."""
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


@pytest.fixture
def receiver():
    """A webhook endpoint: records each POST (path, headers, JSON body) and answers 200."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            received.append((self.path, dict(self.headers), json.loads(self.rfile.read(length))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):  # the test's output is checked for secrets: the server says nothing
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port():
    """A port nothing listens on: a connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

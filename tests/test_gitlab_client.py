"""The registry client against the local GitLab over loopback: auth forms, answers, retries, faults."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from hatch_mlbundle.gitlab import (ConfigError, Credentials, GitLabClient, Redactor, RegistryError, RetryPolicy,
                                   TransientError, redacted_output, resolve_credentials)
from hatch_mlbundle.gitlab.errors import explain
from localgitlab import Fault

PROJECT = 1217  # the conftest's local_gitlab project (group/mnist)
FAST = RetryPolicy(retries=2, backoff=0.001, backoff_max=0.01, timeout=5)
KIND_NAMES = ("access", "job", "deploy")


def credentials_for(gl, kind: str) -> Credentials:
    """Each kind of token the conftest's registry knows, as the publisher would have resolved it."""
    return {"access": Credentials("access", "GITLAB_TOKEN", gl.private_token),
            "job": Credentials("job", "CI_JOB_TOKEN", gl.job_token),
            "deploy": Credentials("deploy", "GITLAB_DEPLOY_TOKEN", gl.deploy_token, gl.deploy_user)}[kind]


@pytest.fixture
def gl(local_gitlab):
    """The shared registry plus the tokens that must be refused: a Reporter, a non-member, read-only deploy."""
    local_gitlab.add_personal_token("glpat-reporter", user="rep", projects={PROJECT: "reporter"})
    local_gitlab.add_personal_token("glpat-outsider", user="out", projects={})
    local_gitlab.add_deploy_token("gitlab+deploy-token-2", "dt-read-only", projects=[PROJECT],
                                  scopes=("read_package_registry",))
    return local_gitlab


@pytest.fixture
def blob(tmp_path) -> Path:
    """Random, so that a retried upload that did not rewind would store different bytes."""
    path = tmp_path / "model.pth"
    path.write_bytes(os.urandom(200_000))
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def client(gl, credentials=None, policy=FAST, project=str(PROJECT)) -> GitLabClient:
    return GitLabClient(gl.api_url, project, credentials or credentials_for(gl, "access"), policy=policy)


def pypi_form(name="tiny-blob", version="1.0.0", sha256="") -> list[tuple[str, str]]:
    return [(":action", "file_upload"), ("protocol_version", "1"), ("name", name), ("version", version),
            ("filetype", "bdist_wheel"), ("pyversion", "py3"), ("sha256_digest", sha256)]


def requests_to(gl, method: str, fragment: str) -> list[dict]:
    return [r for r in gl.requests if r["method"] == method and fragment in r["path"]]


# -- credentials (no server) ------------------------------------------------------------------------------------

JOB = "glcbt-unit-job"
JOB_CREDENTIALS = Credentials("job", "CI_JOB_TOKEN", JOB)


def test_credentials_resolution_order_flags_then_explicit_variables_then_job_token():
    job, personal, deploy = "glcbt-job-00001", "glpat-personal-01", "gldt-deploy-00001"
    env = {"CI_JOB_TOKEN": job, "GITLAB_TOKEN": personal, "GITLAB_DEPLOY_TOKEN": deploy, "GITLAB_DEPLOY_USER": "u"}
    assert resolve_credentials(env, token="glpat-from-flag").source == "--token"
    assert resolve_credentials(env).kind == "deploy"
    assert resolve_credentials({"CI_JOB_TOKEN": job, "GITLAB_TOKEN": personal}).kind == "access"
    assert resolve_credentials({"CI_JOB_TOKEN": job, "GITLAB_TOKEN": ""}).kind == "job"
    assert resolve_credentials({}, required=False).kind == "none"
    with pytest.raises(ConfigError, match="no GitLab token: set CI_JOB_TOKEN"):
        resolve_credentials({})
    with pytest.raises(ConfigError, match="set GITLAB_DEPLOY_USER"):
        resolve_credentials({"GITLAB_DEPLOY_TOKEN": deploy})


def test_each_token_kind_is_presented_the_way_each_registry_reads_it():
    assert JOB_CREDENTIALS.generic_headers() == {"JOB-TOKEN": JOB}
    assert JOB_CREDENTIALS.pypi_auth() == ("gitlab-ci-token", JOB)  # a JOB-TOKEN header is ignored on PyPI routes
    assert Credentials("access", "GITLAB_TOKEN", "p").generic_headers() == {"PRIVATE-TOKEN": "p"}
    deploy = Credentials("deploy", "GITLAB_DEPLOY_TOKEN", "d", "gitlab+deploy-token-1")
    assert deploy.generic_headers() == {"DEPLOY-TOKEN": "d"}
    assert deploy.pypi_auth() == ("gitlab+deploy-token-1", "d")
    assert JOB not in repr(JOB_CREDENTIALS)


def test_redacted_output_masks_the_token_and_its_basic_auth_form(capfd):
    basic = base64.b64encode(f"gitlab-ci-token:{JOB}".encode()).decode()
    with redacted_output(Redactor(JOB_CREDENTIALS.secret_forms())):
        print(f"token {JOB} header Basic {basic}")
        print(f"to stderr {JOB}", file=sys.stderr)
    out, err = capfd.readouterr()
    assert JOB not in out + err and basic not in out + err
    assert "token ***** header Basic *****" in out


def test_url_and_project_forms_are_normalised_and_credentials_in_urls_refused():
    creds = JOB_CREDENTIALS
    assert GitLabClient("https://gl.example.com", "group/sub/proj", creds).project_url == \
        "https://gl.example.com/api/v4/projects/group%2Fsub%2Fproj"
    assert GitLabClient("https://gl.example.com/api/v4/", "group%2Fproj", creds).project_url == \
        "https://gl.example.com/api/v4/projects/group%2Fproj"
    with pytest.raises(ConfigError) as raised:
        GitLabClient("https://user:hunter2@gl.example.com/api/v4", "1", creds)
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("url", [
    "https://gl.example.com/api/v4?private_token=hunter2hunter2", "https://gl.example.com/api/v4/?job_token=hunter2hunter2",
    "https://gl.example.com/api/v4?x=1&ACCESS_TOKEN=hunter2hunter2", "https://gl.example.com/api/v4?private%5Ftoken=hunter2hunter2",
    "https://:hunter2hunter2@gl.example.com/api/v4",
])
def test_credentials_in_a_url_are_refused_in_every_form_and_never_echoed(url):
    """Issue 12, item 6c: a token in the query was accepted and printed with --verbose."""
    with pytest.raises(ConfigError, match="must not contain credentials") as raised:
        GitLabClient(url, "1", JOB_CREDENTIALS)
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("token", ["x", "abc", "1234567"])
def test_a_token_too_short_to_be_real_is_refused_and_never_masks_ordinary_text(token):
    """Issue 12, item 6d: a one-character token masked every occurrence of that character in all output."""
    with pytest.raises(ConfigError) as raised:
        resolve_credentials({"GITLAB_TOKEN": token})
    assert str(raised.value) == (f"the token from GITLAB_TOKEN is {len(token)} characters long; a real one has at "
                                 "least 8 (GitLab's have 20 or more): is it cut short?")
    assert Redactor([token]).redact("x abc 1234567") == "x abc 1234567"


# -- answers: bounded in size and time, read back from the server ----------------------------------------------

def test_a_byte_flipped_in_transit_is_seen_in_the_read_back_though_the_index_and_answer_say_all_is_well(gl, blob):
    """Issue 12, item 1: GitLab's PyPI index lists the digest the uploader sent; only the served bytes tell."""
    wheel = blob.rename(blob.with_name("tiny_blob-1.0.0-py3-none-any.whl"))
    other = wheel.with_name("other.bin")
    other.write_bytes(os.urandom(200_000))
    gl.inject(Fault(method="POST", path=r"/packages/pypi$", kind="flip", after_bytes=100_000))
    gl.inject(Fault(method="PUT", path=r"/packages/generic/", kind="flip", after_bytes=100_000))
    with client(gl) as registry:
        registry.pypi_upload(wheel, pypi_form(sha256=sha256_of(wheel)), "tiny-blob", sha256_of(wheel))
        assert registry.pypi_files("tiny-blob") == {wheel.name: sha256_of(wheel)}  # the uploader's own claim
        served = registry.pypi_served_sha256(registry.pypi_links("tiny-blob")[wheel.name], wheel.name, 200_000)
        assert served != sha256_of(wheel) and len(served) == 64
        registry.generic_upload(other, "mnist-model", "1.0.0", "model.pth", sha256_of(other))
        assert generic_sha256(registry, other, read_back=True) not in (None, sha256_of(other))


@pytest.mark.parametrize("fault, call, expected", [
    # endless, fast: the index page is capped, not read whole (item 9: a 300 MB page peaked at 1.26 GB)
    (Fault(method="GET", path="/simple/", kind="body", status=200, body=b"<a>x</a>" * 8192),
     lambda registry, blob: registry.pypi_files("tiny-blob"), "the index page is over 4 MiB"),
    # a drip inside the socket timeout: only a deadline for the whole body ends it (item 2)
    (Fault(method="GET", path="/packages/generic/", kind="body", status=200, body=b"x", chunk=1, delay=0.05,
           times=9), lambda registry, blob: generic_sha256(registry, blob), "stalled"),
    # endless error text: the message is built from the first 64 KiB only (item 3)
    (Fault(method="GET", path="/packages/generic/", kind="body", status=418, body=b"teapot "),
     lambda registry, blob: generic_sha256(registry, blob), "418 I'm a Teapot: teapot teapot"),
], ids=["endless-index", "slow-drip", "endless-error"])
def test_no_answer_is_read_without_a_size_cap_and_a_deadline(gl, blob, fault, call, expected):
    gl.inject(fault)
    policy = RetryPolicy(retries=1, backoff=0.001, backoff_max=0.01, timeout=0.5)
    started = time.monotonic()
    with client(gl, policy=policy) as registry, pytest.raises(RegistryError) as raised:
        call(registry, blob)
    assert time.monotonic() - started < 10
    assert expected in str(raised.value) and len(str(raised.value)) < 500, str(raised.value)[:1000]


def test_server_text_is_redacted_before_it_is_cut_and_a_token_cut_in_half_is_masked():
    """Issue 12, items 3 and 6a: a cut at 200 characters left "glpat-AbCd" behind; a 50 MB message went to stderr."""
    secret = "Zq8vN3kR7tYw2pLx5mCa"  # unprefixed: only knowing it can mask it
    credentials = Credentials("access", "GITLAB_TOKEN", secret)
    for prefix in range(180, 300, 3):  # a token across the cut, wherever the cut falls (it was 200, it is 300)
        for token in (secret, "glpat-AbCdEfGhIjKlMnOpQr"):
            response = answer(400)
            response._content = ("y" * prefix + token + " z" * 500_000).encode()
            line = str(explain(response, target="f.whl", project="p", credentials=credentials, writing=True))
            assert len(line) < 400 and "\n" not in line
            assert all(token[i:i + 4] not in line for i in range(len(token) - 3) if "-" not in token[i:i + 4]), line


# -- generic and PyPI round trips with every kind of token ------------------------------------------------------

def generic_sha256(registry, blob: Path, **kwargs) -> str | None:
    return registry.generic_sha256("mnist-model", "1.0.0", "model.pth", size=blob.stat().st_size, **kwargs)


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_generic_upload_lands_and_the_check_and_the_read_back_find_its_sha256(gl, blob, kind):
    with client(gl, credentials_for(gl, kind)) as registry:
        assert generic_sha256(registry, blob) is None
        assert registry.generic_upload(blob, "mnist-model", "1.0.0", "model.pth", sha256_of(blob)) is None
        assert generic_sha256(registry, blob) == sha256_of(blob)
        assert generic_sha256(registry, blob, read_back=True) == sha256_of(blob)
    rows = gl.package_files(PROJECT, "generic", "mnist-model", "1.0.0")
    assert [(r["file_name"], r["sha256"]) for r in rows] == [("model.pth", sha256_of(blob))]


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_pypi_upload_lands_in_the_index_with_its_sha256(gl, blob, kind):
    wheel = blob.rename(blob.with_name("tiny_blob-1.0.0-py3-none-any.whl"))
    with client(gl, credentials_for(gl, kind)) as registry:
        assert registry.pypi_files("tiny-blob") == {}
        # the answer to the POST names no sha256: the index is what pip is served, and what is checked
        assert registry.pypi_upload(wheel, pypi_form(sha256=sha256_of(wheel)), "tiny-blob", sha256_of(wheel)) is None
        assert registry.pypi_files("Tiny_Blob") == {wheel.name: sha256_of(wheel)}
        link = registry.pypi_links("tiny-blob")[wheel.name]
        assert registry.pypi_served_sha256(link, wheel.name, wheel.stat().st_size) == sha256_of(wheel)


def test_a_project_path_works_like_its_id(gl, blob):
    with client(gl, project="group/mnist") as registry:
        registry.generic_upload(blob, "mnist-model", "1.0.0", "model.pth", sha256_of(blob))
    assert len(gl.package_files(PROJECT, "generic", "mnist-model", "1.0.0")) == 1


# -- refusals become one actionable line, without retrying ------------------------------------------------------

@pytest.mark.parametrize("credentials, expected", [
    (Credentials("access", "GITLAB_TOKEN", "glpat-wrong"), "401 Unauthorized: the access token from GITLAB_TOKEN "
                                                           "was refused"),
    (Credentials("none", "no token"), "401 Unauthorized: no token given; set CI_JOB_TOKEN"),
    (Credentials("access", "GITLAB_TOKEN", "glpat-reporter"), "403 Forbidden: the access token from GITLAB_TOKEN "
                                                              "may not publish to project 1217; it needs the api or "
                                                              "write_package_registry scope and at least the "
                                                              "Developer role"),
    (Credentials("deploy", "GITLAB_DEPLOY_TOKEN", "dt-read-only", "gitlab+deploy-token-2"), "403 Forbidden"),
    (Credentials("access", "GITLAB_TOKEN", "glpat-outsider"), "404: project 1217 not found or not visible to the "
                                                              "access token from GITLAB_TOKEN; check CI_PROJECT_ID"),
])
def test_refused_uploads_are_explained_and_not_retried(gl, blob, credentials, expected):
    with client(gl, credentials) as registry, pytest.raises(RegistryError) as raised:
        registry.generic_upload(blob, "mnist-model", "1.0.0", "model.pth", sha256_of(blob))
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)
    assert len(requests_to(gl, "PUT", "/packages/generic/")) == 1


def test_too_large_and_forbidden_duplicates_say_what_to_do(gl, blob):
    gl.settings.generic_max_file_size = 1000
    with client(gl) as registry, pytest.raises(RegistryError, match="larger than the registry's size limit"):
        registry.generic_upload(blob, "mnist-model", "1.0.0", "model.pth", sha256_of(blob))
    gl.settings.generic_max_file_size = 5 * 2**30
    gl.settings.generic_duplicates_allowed = False
    with client(gl) as registry:
        registry.generic_upload(blob, "mnist-model", "1.0.0", "model.pth", sha256_of(blob))
        with pytest.raises(RegistryError, match="forbids duplicate generic packages; bump the version"):
            registry.generic_upload(blob, "mnist-model", "1.0.0", "model.pth", sha256_of(blob))


# -- transient failures -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_until_the_upload_succeeds(gl, blob, status):
    gl.inject(Fault(method="PUT", path=r"/packages/generic/", kind="status", status=status, times=2))
    with client(gl) as registry:
        registry.generic_upload(blob, "mnist-model", "1.0.0", "model.pth", sha256_of(blob))
        assert generic_sha256(registry, blob, read_back=True) == sha256_of(blob)
    assert [r["status"] for r in requests_to(gl, "PUT", "/packages/generic/")][-1] in (200, 201)
    assert len(gl.package_files(PROJECT, "generic", "mnist-model", "1.0.0")) == 1


def test_exhausted_retries_end_in_one_line_naming_the_failure(gl, blob):
    gl.inject(Fault(method="PUT", path=r"/packages/generic/", kind="status", status=503, times=10))
    with client(gl) as registry, pytest.raises(TransientError) as raised:
        registry.generic_upload(blob, "mnist-model", "1.0.0", "model.pth", sha256_of(blob))
    assert str(raised.value).startswith(
        "uploading model.pth 1.0.0 (generic): 503 Service Unavailable on all 3 attempts")
    assert len(requests_to(gl, "PUT", "/packages/generic/")) == 3


@pytest.mark.parametrize("registry_kind", ["generic", "pypi"])
def test_a_connection_reset_mid_upload_is_retried_from_the_start_of_the_file(gl, blob, registry_kind):
    path = r"/packages/generic/" if registry_kind == "generic" else r"/packages/pypi$"
    gl.inject(Fault(method=None, path=path, kind="reset", after_bytes=65536, times=1))
    sha256 = sha256_of(blob)
    with client(gl) as registry:
        if registry_kind == "generic":
            registry.generic_upload(blob, "mnist-model", "1.0.0", "model.pth", sha256)
            stored = gl.package_files(PROJECT, "generic", "mnist-model", "1.0.0")
        else:
            wheel = blob.rename(blob.with_name("tiny_blob-1.0.0-py3-none-any.whl"))
            registry.pypi_upload(wheel, pypi_form(sha256=sha256), "tiny-blob", sha256)
            stored = gl.package_files(PROJECT, "pypi", "tiny-blob", "1.0.0")
    # the server hashes what it received: a retry that did not rewind would not match
    assert [r["sha256"] for r in stored] == [sha256]


def test_a_slow_answer_times_out_and_is_retried(gl, blob):
    gl.inject(Fault(method="PUT", path=r"/packages/generic/", kind="slow", delay=2.0, times=1))
    policy = RetryPolicy(retries=2, backoff=0.001, backoff_max=0.01, timeout=0.5)
    with client(gl, policy=policy) as registry:
        registry.generic_upload(blob, "mnist-model", "1.0.0", "model.pth", sha256_of(blob))
        assert generic_sha256(registry, blob, read_back=True) == sha256_of(blob)


def test_timeouts_on_every_attempt_suggest_raising_the_timeout(gl, blob):
    gl.inject(Fault(method="GET", path=r"/packages/generic/", kind="slow", delay=1.5, times=5))
    policy = RetryPolicy(retries=1, backoff=0.001, backoff_max=0.01, timeout=0.3)
    with client(gl, policy=policy) as registry, pytest.raises(TransientError) as raised:
        generic_sha256(registry, blob)
    assert "no answer from 127.0.0.1:" in str(raised.value)
    assert "within 0.3 s on all 2 attempts; raise --timeout" in str(raised.value)


def test_a_pypi_post_that_landed_but_answered_500_is_not_sent_again(gl, blob):
    gl.inject(Fault(method="POST", path=r"/packages/pypi$", kind="status", status=500, apply="after", times=1))
    wheel = blob.rename(blob.with_name("tiny_blob-1.0.0-py3-none-any.whl"))
    with client(gl) as registry:
        registry.pypi_upload(wheel, pypi_form(sha256=sha256_of(wheel)), "tiny-blob", sha256_of(wheel))
        assert registry.pypi_files("tiny-blob") == {wheel.name: sha256_of(wheel)}
    assert len(requests_to(gl, "POST", "/packages/pypi")) == 1
    assert len(gl.package_files(PROJECT, "pypi", "tiny-blob", "1.0.0")) == 1


def test_a_generic_put_that_landed_but_answered_502_is_not_sent_again(gl, blob):
    gl.inject(Fault(method="PUT", path=r"/packages/generic/", kind="status", status=502, apply="after", times=1))
    with client(gl) as registry:
        registry.generic_upload(blob, "mnist-model", "1.0.0", "model.pth", sha256_of(blob))
    assert len(requests_to(gl, "PUT", "/packages/generic/")) == 1
    assert len(gl.package_files(PROJECT, "generic", "mnist-model", "1.0.0")) == 1


def answer(status: int, body: dict | None = None, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code, response.reason = status, "Reason"
    response._content = json.dumps(body).encode() if body is not None else b""
    response.headers.update(headers)
    return response


@pytest.mark.parametrize("response, writing, expected", [
    (answer(401, {"error": "invalid_token", "error_description": "Token is expired."}), True,
     "f.whl: 401 Unauthorized: the job token from CI_JOB_TOKEN was refused (invalid_token: Token is expired.); "
     "it is mistyped, expired or revoked: fix CI_JOB_TOKEN"),
    (answer(403, {"message": "403 Forbidden - Package protected."}), True,
     "f.whl: 403 Forbidden: the package is protected in project group/mnist; ask a Maintainer"),
    (answer(403, {"message": "403 Forbidden"}), False,
     "f.whl: 403 Forbidden: the job token from CI_JOB_TOKEN may not read packages of project group/mnist"),
    (answer(301, Location="https://gitlab.example.com/api/v4/projects/1/packages/pypi?x=1"), True,
     "f.whl: 301: the registry redirects to https://gitlab.example.com; use the address GitLab itself answers on"),
    (answer(400, {"error": "version is invalid"}), True, "f.whl: 400 Reason: version is invalid"),
])
def test_answers_gitlab_gives_become_one_line_saying_what_to_do(response, writing, expected):
    error = explain(response, target="f.whl", project="group/mnist", credentials=JOB_CREDENTIALS, writing=writing)
    assert str(error).startswith(expected)


class _OddIndex(http.server.BaseHTTPRequestHandler):
    """A PyPI versions page served the way some servers and proxies do: gzipped when the client accepts it, or
    headers and six bytes, then a stall longer than the client's timeout."""

    PAGE = b'<a href="x-1.0-py3-none-any.whl#sha256=' + b"a" * 64 + b'">x-1.0-py3-none-any.whl</a>'

    def do_GET(self):
        body = self.PAGE
        self.send_response(200)
        if self.server.mode == "gzip" and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.mode == "stall":
            self.wfile.write(body[:6])
            self.wfile.flush()
            time.sleep(2.5)
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("mode", ["gzip", "stall"])
def test_a_compressed_or_stalled_index_page_is_read_or_retried_not_misread(mode):
    """gzip: the body is read raw (capped, hashed), so the client asks for it uncompressed; it parsed as empty.
    stall: urllib3's own ReadTimeoutError on a raw read escaped the retries as an 'internal error'."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OddIndex)
    server.mode = mode
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = GitLabClient(f"http://127.0.0.1:{server.server_address[1]}/api/v4", "1", Credentials("none", "no token"),
                          policy=RetryPolicy(retries=1, backoff=0, timeout=1))
    try:
        if mode == "gzip":
            assert client.pypi_files("x") == {"x-1.0-py3-none-any.whl": "a" * 64}
        else:
            with pytest.raises(RegistryError, match=r"reading x \(PyPI index\): the answer from 127.0.0.1:\d+ "
                                                    r"stalled \(stalled after 6 bytes\) on all 2 attempts"):
                client.pypi_files("x")
    finally:
        client.close()
        server.shutdown()
        server.server_close()

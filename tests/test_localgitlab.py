"""Conformance of the local GitLab registry to the package API contract: paths, status codes, bodies,
headers, authentication, duplicates, limits, faults and HTTP behaviour, over real loopback HTTP."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from localgitlab import Fault, LocalGitLab

UNAUTHORIZED = {"message": "401 Unauthorized"}
REALM = 'Basic realm="GitLab Packages Registry"'
NOT_FOUND = {"message": "404 Not Found"}
ROUTE_MISS = {"error": "404 Not Found"}
RECORD_MISSING = {"message": "404 Not found"}
TOO_LARGE = {"message": "400 Bad request - File is too large"}
TAKEN = {"message": "400 Bad request - Validation failed: File name has already been taken"}
OUTSIDER_TOKEN = "glpat-localtest-outsider"
READER_TOKEN = "glpat-localtest-reporter"
GUEST_TOKEN = "glpat-localtest-guest"
READONLY_DEPLOY = "gldt-localtest-readonly"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dev(setup) -> dict:
    return {"PRIVATE-TOKEN": setup.private_token}


def put(setup, path: str, data=b"payload", headers=None, auth=None, params=None, project=None) -> requests.Response:
    base = f"{setup.api_url}/projects/{project}/packages/generic" if project else setup.generic_url
    return requests.put(f"{base}/{path}", data=data, headers=headers, auth=auth, params=params, timeout=30)


def get(setup, path: str, headers=None, auth=None, project=None) -> requests.Response:
    base = f"{setup.api_url}/projects/{project}/packages/generic" if project else setup.generic_url
    return requests.get(f"{base}/{path}", headers=headers, auth=auth, timeout=30)


def raw_request(setup, method: str, path: str, body: bytes = b"", headers=None) -> tuple[int, bytes]:
    """A request with the path sent exactly as written (requests and curl would resolve `..` steps)."""
    connection = http.client.HTTPConnection(urlsplit(setup.url).netloc, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def pypi_upload(setup, file_name: str, content: bytes = b"wheel bytes", name="my-pkg", version="1.0",
                auth=None, headers=None, **fields) -> requests.Response:
    fields.setdefault("sha256_digest", sha256(content))
    data = {"name": name, "version": version, **{k: v for k, v in fields.items() if v is not None}}
    return requests.post(setup.pypi_url, data=data, files={"content": (file_name, content)}, headers=headers,
                         auth=auth if auth is not None else ("gitlab-ci-token", setup.job_token), timeout=30)


def simple_page(title: str, links: str) -> str:
    """The HTML GitLab's simple presenters render: an indented heredoc with only its first indent removed."""
    lines = ["<!DOCTYPE html>", " " * 8 + "<html>", " " * 10 + "<head>",
             " " * 12 + f"<title>Links for {title}</title>", " " * 10 + "</head>", " " * 10 + "<body>",
             " " * 12 + f"<h1>Links for {title}</h1>", " " * 12 + links, " " * 10 + "</body>", " " * 8 + "</html>"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def members(local_gitlab):
    """More callers of project 1217: a reporter, a guest, a user of another project, a read-only deploy token."""
    local_gitlab.add_project(7, "other/project")
    local_gitlab.add_personal_token(READER_TOKEN, user="rita", projects={local_gitlab.project_id: "reporter"})
    local_gitlab.add_personal_token(GUEST_TOKEN, user="gus", projects={local_gitlab.project_id: "guest"})
    local_gitlab.add_personal_token(OUTSIDER_TOKEN, user="otto", projects={7: "developer"})
    local_gitlab.add_deploy_token("gitlab+deploy-token-2", READONLY_DEPLOY, projects=[local_gitlab.project_id],
                                  scopes=("read_package_registry",))
    return local_gitlab


# --------------------------------------------------------------------------------------------- generic


def test_generic_upload_answers_201_and_download_serves_bytes_with_gitlab_headers(local_gitlab):
    data = os.urandom(3000)
    uploaded = put(local_gitlab, "mnist-model/1.0.0/model.pt", data, headers=dev(local_gitlab))
    assert (uploaded.status_code, uploaded.json()) == (201, {"message": "201 Created"})

    downloaded = get(local_gitlab, "mnist-model/1.0.0/model.pt", headers=dev(local_gitlab))
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert downloaded.headers["Content-Type"] == "application/octet-stream"
    assert downloaded.headers["Content-Disposition"] == "attachment; filename=\"model.pt\"; filename*=UTF-8''model.pt"
    assert downloaded.headers["Content-Transfer-Encoding"] == "binary"
    assert downloaded.headers["X-Checksum-SHA256"] == sha256(data)


def test_chunked_upload_and_head_request(local_gitlab):
    chunks = [os.urandom(70_000) for _ in range(5)]
    assert put(local_gitlab, "pkg/1.0/chunked.bin", iter(chunks), headers=dev(local_gitlab)).status_code == 201
    head = requests.head(f"{local_gitlab.generic_url}/pkg/1.0/chunked.bin", headers=dev(local_gitlab), timeout=30)
    assert (head.status_code, head.headers["Content-Length"], head.content) == (200, "350000", b"")
    assert head.headers["X-Checksum-SHA256"] == sha256(b"".join(chunks))


def test_select_package_file_answers_200_with_the_package_file_record(local_gitlab):
    response = put(local_gitlab, "mnist-model/1.0.0/model.pt", b"abc", headers=dev(local_gitlab),
                   params={"select": "package_file"})
    assert response.status_code == 200
    record = response.json()
    assert {k: record[k] for k in ("file_name", "size", "file_sha256", "file_store", "file_md5")} == {
        "file_name": "model.pt", "size": 3, "file_sha256": sha256(b"abc"), "file_store": 1, "file_md5": None}
    assert {"id", "package_id", "created_at", "updated_at", "file", "verification_state"} <= record.keys()
    assert record["created_at"].endswith("Z")


@pytest.mark.parametrize("query, error", [
    ({"select": "everything"}, "select does not have a valid value"),
    ({"status": "error"}, "status does not have a valid value"),
])
def test_unknown_select_or_status_is_a_400_parameter_error(local_gitlab, query, error):
    response = put(local_gitlab, "pkg/1.0/f.txt", headers=dev(local_gitlab), params=query)
    assert (response.status_code, response.json()) == (400, {"error": error})
    assert local_gitlab.package_files(local_gitlab.project_id, "generic", "pkg", "1.0") == []


@pytest.mark.parametrize("path", [
    "pkg/1.2/f.txt", "pkg/1.2.bananas/f.txt", "pkg/v1.2.4-build/f.txt", f"pkg/{'a1' * 20}/f.txt",
    "my.pkg+x_y-z/1.0/f.txt", "pkg/1.0/myfile@1.1.tar.gz", "pkg/1.0/file~1.txt",
])
def test_names_versions_and_file_names_the_contract_accepts(local_gitlab, path):
    assert put(local_gitlab, path, headers=dev(local_gitlab)).status_code == 201
    assert get(local_gitlab, path, headers=dev(local_gitlab)).content == b"payload"


@pytest.mark.parametrize("path, error", [
    ("pkg/..1.2.3/f.txt", "package_version is invalid"),
    ("my%20pkg/1.0/f.txt", "package_name is invalid"),
    ("pkg/1.0/%40file.txt", "file_name is invalid"),
    ("pkg/1.0/file.txt%40", "file_name is invalid"),
    ("pkg/1.0/~file.txt", "file_name is invalid"),
    ("pkg/1.0/file.txt~", "file_name is invalid"),
    ("pkg/1.0/my%20file.txt", "file_name is invalid"),
    ("%2e%2e/1.0/f.txt", "package_name should be a valid file path"),
    ("pkg/1.0/..%2F..%2Fetc%2Fpasswd", "file_name is invalid, file_name should be a valid file path"),
    ("pkg/1.0/%252e%252e%252fx", "file_name is invalid, file_name should be a valid file path"),
])
def test_invalid_names_and_path_traversal_are_400_and_store_nothing(local_gitlab, path, error):
    status, body = raw_request(local_gitlab, "PUT", f"{urlsplit(local_gitlab.generic_url).path}/{path}", b"x",
                               dev(local_gitlab))
    assert (status, json.loads(body)) == (400, {"error": error})
    assert local_gitlab.package_files(local_gitlab.project_id, "generic", "pkg", "1.0") == []


def test_dot_dot_directory_in_the_path_is_refused(local_gitlab):
    path = f"{urlsplit(local_gitlab.generic_url).path}/pkg/1.0/../../x/f.txt"
    status, body = raw_request(local_gitlab, "PUT", path, b"x", dev(local_gitlab))
    assert (status, json.loads(body)) == (400, {"error": "path should be a valid file path"})


def test_directories_are_folded_into_an_encoded_file_name(local_gitlab):
    assert put(local_gitlab, "pkg/1.0/dir/sub/f.txt", b"deep", headers=dev(local_gitlab)).status_code == 201
    files = local_gitlab.package_files(local_gitlab.project_id, "generic", "pkg", "1.0")
    assert [f["file_name"] for f in files] == ["dir%2Fsub%2Ff.txt"]
    downloaded = get(local_gitlab, "pkg/1.0/dir/sub/f.txt", headers=dev(local_gitlab))
    assert downloaded.content == b"deep"
    assert 'filename="f.txt"' in downloaded.headers["Content-Disposition"]
    assert get(local_gitlab, "pkg/1.0/f.txt", headers=dev(local_gitlab)).status_code == 404


def test_hidden_package_still_downloads(local_gitlab):
    response = put(local_gitlab, "pkg/1.0/f.txt", b"hidden", headers=dev(local_gitlab), params={"status": "hidden"})
    assert response.status_code == 201
    assert get(local_gitlab, "pkg/1.0/f.txt", headers=dev(local_gitlab)).content == b"hidden"


@pytest.mark.parametrize("path", ["pkg/1.0/other.txt", "pkg/2.0/f.txt", "nope/1.0/f.txt"])
def test_missing_file_or_package_is_404_not_found_lowercase(local_gitlab, path):
    put(local_gitlab, "pkg/1.0/f.txt", headers=dev(local_gitlab))
    response = get(local_gitlab, path, headers=dev(local_gitlab))
    assert (response.status_code, response.json()) == (404, RECORD_MISSING)


def test_duplicates_are_allowed_by_default_and_the_newest_is_served(local_gitlab):
    for content in (b"first", b"second"):
        assert put(local_gitlab, "pkg/1.0/f.txt", content, headers=dev(local_gitlab)).status_code == 201
    files = local_gitlab.package_files(local_gitlab.project_id, "generic", "pkg", "1.0")
    assert [(f["file_name"], f["sha256"], f["size"]) for f in files] == [
        ("f.txt", sha256(b"first"), 5), ("f.txt", sha256(b"second"), 6)]
    downloaded = get(local_gitlab, "pkg/1.0/f.txt", headers=dev(local_gitlab))
    assert (downloaded.content, downloaded.headers["X-Checksum-SHA256"]) == (b"second", sha256(b"second"))


@pytest.mark.parametrize("allowed, regex, second_status", [
    (True, "", 201),
    (True, "1\\.0", 400),  # allowed, but the exception regex (matching the version) forbids it
    (True, "other", 201),
    (False, "", 400),
    (False, "pk.*", 201),  # not allowed, but the exception regex (matching the name) permits it
    (False, "other", 400),
])
def test_duplicate_setting_and_exception_regex_follow_the_newest_rule(local_gitlab, allowed, regex, second_status):
    local_gitlab.settings.generic_duplicates_allowed = allowed
    local_gitlab.settings.generic_duplicate_exception_regex = regex
    assert put(local_gitlab, "pkg/1.0/f.txt", b"first", headers=dev(local_gitlab)).status_code == 201
    second = put(local_gitlab, "pkg/1.0/f.txt", b"second", headers=dev(local_gitlab))
    assert second.status_code == second_status
    if second_status == 400:
        assert second.json() == {"message": "400 Bad request - Duplicate package is not allowed"}
        assert get(local_gitlab, "pkg/1.0/f.txt", headers=dev(local_gitlab)).content == b"first"
    # a new file name in the same package is never a duplicate
    assert put(local_gitlab, "pkg/1.0/g.txt", b"g", headers=dev(local_gitlab)).status_code == 201


def test_concurrent_uploads_of_one_file_admit_exactly_one_when_duplicates_are_refused(local_gitlab):
    local_gitlab.settings.generic_duplicates_allowed = False
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(lambda i: put(local_gitlab, "pkg/1.0/f.txt", os.urandom(200_000),
                                                 headers=dev(local_gitlab)).status_code, range(8)))
    assert statuses == [201] + [400] * 7
    assert len(local_gitlab.package_files(local_gitlab.project_id, "generic", "pkg", "1.0")) == 1


def test_size_limit_checks_content_length_and_streamed_bodies(local_gitlab):
    local_gitlab.settings.generic_max_file_size = 1000
    assert put(local_gitlab, "pkg/1.0/exact.bin", b"x" * 1000, headers=dev(local_gitlab)).status_code == 201

    declared = put(local_gitlab, "pkg/1.0/big.bin", b"x" * 1001, headers=dev(local_gitlab))
    chunked = put(local_gitlab, "pkg/1.0/big.bin", (b"x" * 100 for _ in range(11)), headers=dev(local_gitlab))
    assert (declared.status_code, declared.json()) == (400, TOO_LARGE)
    assert (chunked.status_code, chunked.json()) == (400, TOO_LARGE)
    names = [f["file_name"] for f in local_gitlab.package_files(local_gitlab.project_id, "generic", "pkg", "1.0")]
    assert names == ["exact.bin"]
    assert not any((local_gitlab.storage_dir / "incoming").iterdir())


# ---------------------------------------------------------------------------------------- authentication


@pytest.mark.parametrize("how, headers, auth, params, status", [
    ("PRIVATE-TOKEN", "pat", None, None, 201),
    ("private_token query", None, None, "private_token", 201),
    ("Bearer PAT", "bearer-pat", None, None, 201),
    ("JOB-TOKEN", "job", None, None, 201),
    ("job_token query", None, None, "job_token", 201),
    ("Bearer job token", "bearer-job", None, None, 201),
    ("Basic any user + PAT", None, ("whoever", "pat"), None, 201),
    ("DEPLOY-TOKEN", "deploy", None, None, 201),
    ("Basic any user + deploy token", None, ("someone", "deploy"), None, 201),
    ("Basic gitlab-ci-token + job token (not read on generic PUT)", None, ("gitlab-ci-token", "job"), None, 401),
    ("anonymous", None, None, None, 401),
    ("unknown PRIVATE-TOKEN", {"PRIVATE-TOKEN": "glpat-wrong"}, None, None, 401),
    ("unknown JOB-TOKEN", {"JOB-TOKEN": "wrong"}, None, None, 401),
    ("unknown DEPLOY-TOKEN is anonymous", {"DEPLOY-TOKEN": "wrong"}, None, None, 401),
    ("unknown Basic password is anonymous", None, ("whoever", "wrong"), None, 401),
])
def test_generic_upload_credentials(local_gitlab, how, headers, auth, params, status):
    tokens = {"pat": local_gitlab.private_token, "job": local_gitlab.job_token, "deploy": local_gitlab.deploy_token}
    header_forms = {"pat": {"PRIVATE-TOKEN": tokens["pat"]}, "job": {"JOB-TOKEN": tokens["job"]},
                    "deploy": {"DEPLOY-TOKEN": tokens["deploy"]},
                    "bearer-pat": {"Authorization": f"Bearer {tokens['pat']}"},
                    "bearer-job": {"Authorization": f"Bearer {tokens['job']}"}}
    if isinstance(headers, str):
        headers = header_forms[headers]
    if auth is not None:
        auth = (auth[0], tokens.get(auth[1], auth[1]))
    if params is not None:
        params = {params: tokens["pat" if params == "private_token" else "job"]}
    response = put(local_gitlab, "pkg/1.0/f.txt", headers=headers, auth=auth, params=params)
    assert response.status_code == status, how
    if status == 401:
        assert response.json() == UNAUTHORIZED
        assert response.headers["WWW-Authenticate"] == REALM


def test_job_token_in_basic_auth_is_read_on_generic_download(local_gitlab):
    put(local_gitlab, "pkg/1.0/f.txt", b"ci", headers=dev(local_gitlab))
    assert get(local_gitlab, "pkg/1.0/f.txt", auth=("gitlab-ci-token", local_gitlab.job_token)).content == b"ci"
    wrong = get(local_gitlab, "pkg/1.0/f.txt", auth=("gitlab-ci-token", "not-a-running-job"))
    assert (wrong.status_code, wrong.headers["WWW-Authenticate"]) == (401, REALM)
    # the job token with another user name is not recognised: anonymous, and the project is private
    assert get(local_gitlab, "pkg/1.0/f.txt", auth=("ci", local_gitlab.job_token)).status_code == 401


@pytest.mark.parametrize("token, upload_status, download_status", [
    (READER_TOKEN, 403, 200),
    (GUEST_TOKEN, 403, 200),
    (OUTSIDER_TOKEN, 404, 404),
])
def test_roles_decide_between_403_and_404(members, token, upload_status, download_status):
    put(members, "pkg/1.0/f.txt", headers=dev(members))
    upload = put(members, "pkg/1.0/f.txt", headers={"PRIVATE-TOKEN": token})
    download = get(members, "pkg/1.0/f.txt", headers={"PRIVATE-TOKEN": token})
    assert (upload.status_code, download.status_code) == (upload_status, download_status)
    expected_upload = {403: {"message": "403 Forbidden"}, 404: NOT_FOUND}[upload_status]
    assert upload.json() == expected_upload


def test_read_only_deploy_token_downloads_but_cannot_upload(members):
    put(members, "pkg/1.0/f.txt", b"d", headers=dev(members))
    refused = put(members, "pkg/1.0/f.txt", headers={"DEPLOY-TOKEN": READONLY_DEPLOY})
    assert (refused.status_code, refused.json()) == (403, {"message": "403 Forbidden"})
    assert get(members, "pkg/1.0/f.txt", headers={"DEPLOY-TOKEN": READONLY_DEPLOY}).content == b"d"


def test_unknown_project_is_401_for_anonymous_and_404_for_a_user(local_gitlab):
    assert put(local_gitlab, "pkg/1.0/f.txt", project=999).status_code == 401
    assert get(local_gitlab, "pkg/1.0/f.txt", project=999).status_code == 401
    response = put(local_gitlab, "pkg/1.0/f.txt", headers=dev(local_gitlab), project=999)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_project_is_found_by_url_encoded_path_but_an_unencoded_slash_misses_the_route(local_gitlab):
    assert put(local_gitlab, "pkg/1.0/f.txt", b"by path", headers=dev(local_gitlab), project="group%2Fmnist").status_code == 201
    assert get(local_gitlab, "pkg/1.0/f.txt", headers=dev(local_gitlab)).content == b"by path"
    status, body = raw_request(local_gitlab, "PUT", "/api/v4/projects/group/mnist/packages/generic/pkg/1.0/f.txt",
                               b"x", dev(local_gitlab))
    assert (status, json.loads(body)) == (404, ROUTE_MISS)


def test_public_project_reads_for_anyone_but_refuses_unknown_tokens(local_gitlab):
    local_gitlab.add_project(8, "group/open", visibility="public")
    local_gitlab.add_personal_token("glpat-localtest-open", user="dev", projects={8: "developer"})
    put(local_gitlab, "pkg/1.0/f.txt", b"open", headers={"PRIVATE-TOKEN": "glpat-localtest-open"}, project=8)
    assert get(local_gitlab, "pkg/1.0/f.txt", project=8).content == b"open"
    assert get(local_gitlab, "pkg/1.0/f.txt", auth=("anyone", "wrong"), project=8).content == b"open"
    assert get(local_gitlab, "pkg/1.0/f.txt", headers={"PRIVATE-TOKEN": "wrong"}, project=8).status_code == 401
    assert put(local_gitlab, "pkg/1.0/f.txt", project=8).status_code == 401


def test_request_log_names_callers_and_never_holds_a_token(local_gitlab):
    put(local_gitlab, "pkg/1.0/f.txt", params={"job_token": local_gitlab.job_token})
    get(local_gitlab, "pkg/1.0/f.txt", auth=("gitlab-ci-token", local_gitlab.job_token))
    get(local_gitlab, "pkg/1.0/f.txt", headers={"PRIVATE-TOKEN": "glpat-mistyped-secret"})
    entries = local_gitlab.requests
    assert [(e["method"], e["status"], e["auth"], e["via"]) for e in entries] == [
        ("PUT", 201, "job_token:dev", "query"), ("GET", 200, "job_token:dev", "basic"),
        ("GET", 401, "invalid personal_token", None)]
    text = json.dumps(entries)
    assert local_gitlab.job_token not in text and "glpat-mistyped-secret" not in text
    assert entries[0]["query"] == "job_token=[REDACTED]"


# -------------------------------------------------------------------------------------------------- PyPI


def test_pypi_upload_refuses_the_same_file_name_twice_but_takes_another_file_of_the_version(local_gitlab):
    first = pypi_upload(local_gitlab, "my_pkg-1.0-py3-none-any.whl")
    assert (first.status_code, first.json()) == (201, {"message": "201 Created"})
    again = pypi_upload(local_gitlab, "my_pkg-1.0-py3-none-any.whl", b"other bytes")
    assert (again.status_code, again.json()) == (400, TAKEN)
    assert pypi_upload(local_gitlab, "my_pkg-1.0.tar.gz", b"sdist").status_code == 201
    files = local_gitlab.package_files(local_gitlab.project_id, "pypi", "my-pkg", "1.0")
    assert [(f["file_name"], f["sha256"]) for f in files] == [
        ("my_pkg-1.0-py3-none-any.whl", sha256(b"wheel bytes")), ("my_pkg-1.0.tar.gz", sha256(b"sdist"))]


@pytest.mark.parametrize("fields, body", [
    ({"version": "1.0.0-not valid"}, {"message": "400 Bad request - Validation failed: Version is invalid"}),
    ({"name": "bad name!"}, {"message": "400 Bad request - Validation failed: Name is invalid"}),
    ({"requires_python": ">" * 256}, {"message": "400 Bad request - Validation failed: Required python is too long "
                                                 "(maximum is 255 characters)"}),
    ({"sha256_digest": "abc"}, {"error": "sha256_digest is invalid"}),
])
def test_pypi_upload_validation_errors(local_gitlab, fields, body):
    response = pypi_upload(local_gitlab, "f-1.0.tar.gz", **fields)
    assert (response.status_code, response.json()) == (400, body)


@pytest.mark.parametrize("version", ["1.0", "v2.0.1", "1!2.0rc1.post3.dev4+local.7", "1.0-1", "2.0.0A1"])
def test_pypi_versions_the_regex_accepts(local_gitlab, version):
    assert pypi_upload(local_gitlab, f"p-{version}.tar.gz", version=version,
                       requires_python=">=3.8," + "0" * 249).status_code == 201


def test_pypi_upload_without_required_fields(local_gitlab):
    response = requests.post(local_gitlab.pypi_url, data={"summary": "x"}, files={"other": ("f", b"x")},
                             auth=("gitlab-ci-token", local_gitlab.job_token), timeout=30)
    assert (response.status_code, response.json()) == (
        400, {"error": "content is missing, name is missing, version is missing"})


def test_simple_pages_are_gitlab_html_with_absolute_links_and_escaped_requires_python(local_gitlab):
    wheel, sdist = b"wheel", b"sdist"
    pypi_upload(local_gitlab, "my_pkg-1.0-py3-none-any.whl", wheel, name="My_Pkg", requires_python=">=3.8")
    pypi_upload(local_gitlab, "my_pkg-1.0.tar.gz", sdist, name="My_Pkg", requires_python=">=3.8")
    pypi_upload(local_gitlab, "my_pkg-2.0.tar.gz", sdist, name="my.pkg", version="2.0")
    base = f"{local_gitlab.api_url}/projects/{local_gitlab.project_id}/packages/pypi"

    # requested by URL-encoded path, with pip's trailing slash: links still use the numeric id
    # (pip's Accept prefers PEP 691 JSON; GitLab answers HTML unless a feature flag is on)
    page = requests.get(f"{local_gitlab.api_url}/projects/group%2Fmnist/packages/pypi/simple/my-pkg/",
                        auth=("gitlab-ci-token", local_gitlab.job_token), timeout=30,
                        headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html; q=0.1"})
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    links = (f'<a href="{base}/files/{sha256(wheel)}/my_pkg-1.0-py3-none-any.whl#sha256={sha256(wheel)}" '
             f'data-requires-python="&gt;=3.8">my_pkg-1.0-py3-none-any.whl</a>'
             f'<a href="{base}/files/{sha256(sdist)}/my_pkg-1.0.tar.gz#sha256={sha256(sdist)}" '
             f'data-requires-python="&gt;=3.8">my_pkg-1.0.tar.gz</a>'
             f'<a href="{base}/files/{sha256(sdist)}/my_pkg-2.0.tar.gz#sha256={sha256(sdist)}" '
             f'data-requires-python="">my_pkg-2.0.tar.gz</a>')
    assert page.text == simple_page("My_Pkg", links)

    index = requests.get(f"{base}/simple", headers=dev(local_gitlab), timeout=30)
    assert index.text == simple_page("mnist", (
        f'<a href="{base}/simple/my-pkg" data-requires-python="&gt;=3.8">My_Pkg</a>'
        f'<a href="{base}/simple/my-pkg" data-requires-python="">my.pkg</a>'))


def test_simple_lookup_lowercases_the_request_but_does_not_normalize_it(local_gitlab):
    pypi_upload(local_gitlab, "my_pkg-1.0.tar.gz", name="My_Pkg")
    assert requests.get(f"{local_gitlab.simple_url}/MY-PKG", headers=dev(local_gitlab), timeout=30).status_code == 200
    missed = requests.get(f"{local_gitlab.simple_url}/My_Pkg/", headers=dev(local_gitlab), timeout=30)
    assert (missed.status_code, missed.json()) == (404, {"message": "404 Package Not Found"})


def test_unknown_package_is_404_or_a_redirect_to_pypi_when_forwarding(local_gitlab):
    url = f"{local_gitlab.simple_url}/requests/"
    assert requests.get(url, headers=dev(local_gitlab), timeout=30).json() == {"message": "404 Package Not Found"}
    local_gitlab.settings.pypi_forwarding = True
    forwarded = requests.get(url, headers=dev(local_gitlab), allow_redirects=False, timeout=30)
    assert (forwarded.status_code, forwarded.headers["Location"]) == (302, "https://pypi.org/simple/requests/")


def test_pypi_download_needs_both_file_name_and_recorded_sha256(local_gitlab):
    content = b"the wheel"
    pypi_upload(local_gitlab, "my_pkg-1.0-py3-none-any.whl", content)
    files = f"{local_gitlab.pypi_url}/files"
    found = requests.get(f"{files}/{sha256(content)}/my_pkg-1.0-py3-none-any.whl", headers=dev(local_gitlab), timeout=30)
    assert (found.status_code, found.content) == (200, content)
    assert found.headers["Content-Disposition"].startswith('attachment; filename="my_pkg-1.0-py3-none-any.whl"')
    for wrong in (f"{files}/{'0' * 64}/my_pkg-1.0-py3-none-any.whl", f"{files}/{sha256(content)}/other.whl"):
        missed = requests.get(wrong, headers=dev(local_gitlab), timeout=30)
        assert (missed.status_code, missed.json()) == (404, {"message": "404 Package Not Found"})


def test_pypi_records_the_client_sha256_as_given(local_gitlab):
    given = sha256(b"content").upper()  # valid for the case-insensitive regex
    pypi_upload(local_gitlab, "p-1.0.tar.gz", b"content", name="p", sha256_digest=given)
    page = requests.get(f"{local_gitlab.simple_url}/p", headers=dev(local_gitlab), timeout=30).text
    assert f"/files/{given}/p-1.0.tar.gz#sha256={given}" in page


@pytest.mark.parametrize("how, kwargs, status", [
    ("Basic gitlab-ci-token + job token", {"auth": "job-basic"}, 200),
    ("JOB-TOKEN header is ignored", {"headers": "job-header"}, 401),
    ("job token with another user name", {"auth": "job-other-user"}, 401),
    ("unknown gitlab-ci-token password", {"auth": ("gitlab-ci-token", "wrong")}, 401),
    ("Basic + PAT", {"auth": "pat-basic"}, 200),
    ("Basic + deploy token", {"auth": "deploy-basic"}, 200),
    ("DEPLOY-TOKEN header", {"headers": "deploy-header"}, 200),
    ("outsider", {"headers": {"PRIVATE-TOKEN": OUTSIDER_TOKEN}}, 404),
])
def test_pypi_read_credentials(members, how, kwargs, status):
    forms = {"job-basic": ("gitlab-ci-token", members.job_token), "job-other-user": ("ci", members.job_token),
             "pat-basic": ("me", members.private_token), "deploy-basic": ("x", members.deploy_token),
             "job-header": {"JOB-TOKEN": members.job_token}, "deploy-header": {"DEPLOY-TOKEN": members.deploy_token}}
    kwargs = {key: forms.get(value, value) if isinstance(value, str) else value for key, value in kwargs.items()}
    response = requests.get(members.simple_url, timeout=30, **kwargs)
    assert response.status_code == status, how
    if status == 401:
        assert response.headers["WWW-Authenticate"] == REALM


def test_pypi_upload_permissions(members):
    anonymous = pypi_upload(members, "a-1.0.tar.gz", auth=())
    header_only = pypi_upload(members, "a-1.0.tar.gz", auth=(), headers={"JOB-TOKEN": members.job_token})
    reporter = pypi_upload(members, "a-1.0.tar.gz", auth=("me", READER_TOKEN))
    outsider = pypi_upload(members, "a-1.0.tar.gz", auth=("me", OUTSIDER_TOKEN))
    assert [r.status_code for r in (anonymous, header_only, reporter, outsider)] == [401, 401, 403, 404]
    assert anonymous.headers["WWW-Authenticate"] == REALM
    assert members.package_files(members.project_id, "pypi", "my-pkg", "1.0") == []


def test_unknown_project_on_pypi_is_404_even_for_anonymous(local_gitlab):
    response = requests.get(f"{local_gitlab.api_url}/projects/999/packages/pypi/simple/x/", timeout=30)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_pypi_size_limit(local_gitlab):
    local_gitlab.settings.pypi_max_file_size = 1000
    response = pypi_upload(local_gitlab, "big-1.0.tar.gz", b"x" * 1001)
    assert (response.status_code, response.json()) == (400, TOO_LARGE)
    assert pypi_upload(local_gitlab, "big-1.0.tar.gz", b"x" * 1000).status_code == 201


def test_group_index_and_download_cover_the_readable_projects_of_the_group(members):
    members.add_project(9, "group/public", visibility="public")
    members.add_group(43, "group2", projects=[members.project_id, 9])
    members.add_personal_token("glpat-localtest-public-dev", user="pat", projects={9: "developer"})
    pypi_upload(members, "private_pkg-1.0.tar.gz", b"private", name="private-pkg")
    requests.post(f"{members.api_url}/projects/9/packages/pypi", data={"name": "public-pkg", "version": "1.0"},
                  files={"content": ("public_pkg-1.0.tar.gz", b"public")},
                  auth=("x", "glpat-localtest-public-dev"), timeout=30).raise_for_status()
    group = f"{members.api_url}/groups/43/-/packages/pypi"

    member_view = requests.get(f"{group}/simple", headers=dev(members), timeout=30).text
    anonymous_view = requests.get(f"{group}/simple", timeout=30).text
    assert ">private-pkg<" in member_view and ">public-pkg<" in member_view
    assert ">private-pkg<" not in anonymous_view and f"{group}/simple/public-pkg" in anonymous_view
    assert "<title>Links for group2</title>" in member_view

    versions = requests.get(f"{group}/simple/private-pkg/", headers=dev(members), timeout=30).text
    assert f'href="{group}/files/{sha256(b"private")}/private_pkg-1.0.tar.gz#sha256={sha256(b"private")}"' in versions
    download = requests.get(f"{group}/files/{sha256(b'private')}/private_pkg-1.0.tar.gz", headers=dev(members), timeout=30)
    assert download.content == b"private"
    missed = requests.get(f"{group}/files/{'0' * 64}/private_pkg-1.0.tar.gz", headers=dev(members), timeout=30)
    assert (missed.status_code, missed.json()) == (404, RECORD_MISSING)
    # the private-only group: anonymous must log in, an outsider does not see it, an unknown group is 404
    assert requests.get(f"{members.api_url}/groups/42/-/packages/pypi/simple", timeout=30).status_code == 401
    outsider = requests.get(f"{members.api_url}/groups/42/-/packages/pypi/simple",
                            headers={"PRIVATE-TOKEN": OUTSIDER_TOKEN}, timeout=30)
    assert (outsider.status_code, outsider.json()) == (404, NOT_FOUND)
    assert requests.get(f"{members.api_url}/groups/999/-/packages/pypi/simple", timeout=30).status_code == 404


def test_external_url_starts_the_simple_index_links(tmp_path):
    with LocalGitLab(tmp_path, external_url="https://gitlab.example.com/") as gl:
        gl.add_project(5, "a/b")
        gl.add_personal_token("glpat-localtest-x", user="u", projects={5: "developer"})
        requests.post(f"{gl.api_url}/projects/5/packages/pypi", data={"name": "p", "version": "1"},
                      files={"content": ("p-1.tar.gz", b"p")}, auth=("u", "glpat-localtest-x"), timeout=30)
        page = requests.get(f"{gl.api_url}/projects/5/packages/pypi/simple/p", auth=("u", "glpat-localtest-x"), timeout=30)
    assert f'href="https://gitlab.example.com/api/v4/projects/5/packages/pypi/files/{sha256(b"p")}/p-1.tar.gz' in page.text


# ------------------------------------------------------------------------------------- HTTP and faults


def test_connections_are_kept_alive_even_after_a_refused_upload_body(local_gitlab):
    connection = http.client.HTTPConnection(urlsplit(local_gitlab.url).netloc, timeout=30)
    path = urlsplit(local_gitlab.generic_url).path + "/pkg/1.0/f.txt"
    try:
        connection.request("PUT", path, body=b"x" * (2 << 20), headers={"PRIVATE-TOKEN": "wrong"})
        refused = connection.getresponse()
        assert (refused.status, refused.getheader("Connection")) == (401, None)
        refused.read()
        local_port = connection.sock.getsockname()[1]
        connection.request("PUT", path, body=b"ok", headers=dev(local_gitlab))
        accepted = connection.getresponse()
        accepted.read()
        assert accepted.status == 201
        assert connection.sock.getsockname()[1] == local_port  # the same connection carried both
    finally:
        connection.close()


def test_reset_mid_body_stores_nothing_and_the_next_upload_works(local_gitlab):
    local_gitlab.inject(Fault(method="PUT", path=r"/packages/generic/", kind="reset", after_bytes=65536, times=1))
    with pytest.raises(requests.ConnectionError):
        put(local_gitlab, "pkg/1.0/f.bin", os.urandom(4 << 20), headers=dev(local_gitlab))
    assert local_gitlab.package_files(local_gitlab.project_id, "generic", "pkg", "1.0") == []
    assert not any((local_gitlab.storage_dir / "incoming").iterdir())
    assert put(local_gitlab, "pkg/1.0/f.bin", b"fine", headers=dev(local_gitlab)).status_code == 201
    assert [e["status"] for e in local_gitlab.requests] == [None, 201]


def test_reset_on_a_pypi_upload(local_gitlab):
    local_gitlab.inject(Fault(method="POST", path=r"/packages/pypi$", kind="reset", after_bytes=1000, times=1))
    with pytest.raises(requests.ConnectionError):
        pypi_upload(local_gitlab, "p-1.0.tar.gz", os.urandom(1 << 20))
    assert local_gitlab.package_files(local_gitlab.project_id, "pypi", "my-pkg", "1.0") == []
    assert pypi_upload(local_gitlab, "p-1.0.tar.gz").status_code == 201


def test_status_faults_before_and_after_processing(local_gitlab):
    local_gitlab.inject(Fault(method="PUT", path=r"/packages/generic/", kind="status", status=503, times=2))
    statuses = [put(local_gitlab, "pkg/1.0/f.txt", b"try", headers=dev(local_gitlab)).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]
    assert len(local_gitlab.package_files(local_gitlab.project_id, "generic", "pkg", "1.0")) == 1

    local_gitlab.inject(Fault(method="PUT", path=r"/g\.txt$", kind="status", status=500, apply="after"))
    landed = put(local_gitlab, "pkg/1.0/g.txt", b"landed", headers=dev(local_gitlab))
    assert (landed.status_code, landed.json()) == (500, {"message": "500 Internal Server Error"})
    assert get(local_gitlab, "pkg/1.0/g.txt", headers=dev(local_gitlab)).content == b"landed"


def test_slow_fault_trips_a_client_timeout_once(local_gitlab):
    local_gitlab.inject(Fault(method=None, path=r".*", kind="slow", delay=2.0, times=1))
    with pytest.raises(requests.Timeout):
        requests.get(f"{local_gitlab.simple_url}/x", headers=dev(local_gitlab), timeout=0.3)
    assert requests.get(f"{local_gitlab.simple_url}/x", headers=dev(local_gitlab), timeout=5).status_code == 404


def test_faults_are_bounded_and_can_be_cleared(local_gitlab):
    with pytest.raises(ValueError):
        Fault(kind="status", times=0)
    local_gitlab.inject(Fault(method="GET", path="simple", kind="status", status=502, times=5))
    assert requests.get(local_gitlab.simple_url, timeout=5).status_code == 502
    local_gitlab.clear_faults()
    assert requests.get(local_gitlab.simple_url, headers=dev(local_gitlab), timeout=5).status_code == 200


def test_packages_survive_a_restart(tmp_path):
    def started() -> LocalGitLab:
        gl = LocalGitLab(tmp_path).start()
        gl.add_project(3, "g/p")
        gl.add_personal_token("glpat-localtest-r", user="u", projects={3: "developer"})
        return gl

    gl = started()
    url = f"{gl.api_url}/projects/3/packages/generic/pkg/1.0/f.txt"
    requests.put(url, data=b"kept", headers={"PRIVATE-TOKEN": "glpat-localtest-r"}, timeout=30).raise_for_status()
    gl.stop()
    gl = started()
    try:
        url = f"{gl.api_url}/projects/3/packages/generic/pkg/1.0/f.txt"
        assert requests.get(url, headers={"PRIVATE-TOKEN": "glpat-localtest-r"}, timeout=30).content == b"kept"
    finally:
        gl.stop()


def test_unknown_routes_and_methods_are_grape_404s(local_gitlab):
    for method, url in (("GET", f"{local_gitlab.api_url}/version"), ("DELETE", f"{local_gitlab.generic_url}/p/1/f"),
                        ("POST", f"{local_gitlab.simple_url}")):
        response = requests.request(method, url, headers=dev(local_gitlab), timeout=30)
        assert (response.status_code, response.json()) == (404, ROUTE_MISS)


# ---------------------------------------------------------------------------------------------- the CLI


def test_cli_serves_until_ctrl_c_and_never_prints_a_token(tmp_path, loopback_env):
    command = [sys.executable, "-m", "localgitlab", "--port", "0", "--storage", str(tmp_path),
               "--project", "1217:group/mnist", "--private-token", "glpat-cli-secret", "--job-token", "job-cli-secret",
               "--deploy-token", "gitlab+deploy-token-9:dt-cli-secret"]
    # Ctrl-C at a terminal: SIGINT not ignored. A shell without job control starts background jobs with SIGINT
    # ignored, children inherit that and a Python started so keeps ignoring it. A handled signal is reset to its
    # default in a child, so this process handles SIGINT while it starts the server (preexec_fn is unsafe
    # beside threads).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=loopback_env)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        api_url = process.stdout.readline().split(": ", 1)[1].strip()
        assert process.stdout.readline().strip().endswith(f"{api_url}/projects/1217/packages/pypi/simple")
        url = f"{api_url}/projects/group%2Fmnist/packages/generic/pkg/1.0/f.txt"
        assert requests.put(url, data=b"cli", params={"job_token": "job-cli-secret"}, timeout=30).status_code == 201
        assert requests.get(url, auth=("x", "dt-cli-secret"), timeout=30).content == b"cli"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"localgitlab did not stop within 30 s of Ctrl-C; its stderr:\n{err}")
    assert process.returncode == 0
    assert "stopped" in err
    assert "PUT /api/v4/projects/group%2Fmnist/packages/generic/pkg/1.0/f.txt?job_token=[REDACTED] 201" in err
    assert not any(secret in out + err for secret in ("glpat-cli-secret", "job-cli-secret", "dt-cli-secret"))


def test_cli_reports_a_taken_port_in_one_line(tmp_path, local_gitlab, loopback_env):
    port = urlsplit(local_gitlab.url).port
    result = subprocess.run([sys.executable, "-m", "localgitlab", "--port", str(port), "--storage",
                             str(tmp_path / "s"), "--project", "1:a/b"], capture_output=True, text=True,
                            env=loopback_env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and f"127.0.0.1:{port}" in result.stderr and "--port" in result.stderr

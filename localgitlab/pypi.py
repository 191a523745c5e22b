"""PyPI package registry (lib/api/pypi_packages.rb): twine's upload, pip's simple index and downloads.

    POST /api/v4/projects/:id/packages/pypi                          upload, multipart as twine sends it
    GET  /api/v4/projects/:id/packages/pypi/simple[/<name>]          PEP 503 index and versions page (HTML)
    GET  /api/v4/projects/:id/packages/pypi/files/<sha256>/<file>    download
    GET  /api/v4/groups/:id/-/packages/pypi/...                      the same reads over a group's projects
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Callable
from urllib.parse import quote

from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header
from werkzeug.wrappers import Response

from .auth import JOB_TOKEN_IN_BASIC, authorized_group, authorized_project
from .context import API, GROUP, PROJECT, Call, Route
from .responses import ApiError, bad_request, created, file_response, not_found, record_not_found, redirect
from .store import StoredFile
from .validation import Checks, check_file_path

# Gitlab::Regex.package_name_regex, with no extra characters for PyPI; atomic groups need Python 3.11.
NAME = re.compile(r"""
    \@?
    (?> # atomic group to prevent backtracking
      (([\w\-\.\+]*)\/)*([\w\-\.]+)
    )
    @?
    (?> # atomic group to prevent backtracking
      (([\w\-\.\+]*)\/)*([\w\-\.]*)
    )
    """, re.VERBOSE | re.ASCII)
# Gitlab::Regex.pypi_version_regex (flags x and i).
VERSION = re.compile(r"""
    (?:
    v?
    (?:([0-9]+)!)?                                                 (?# epoch)
    ([0-9]+(?:\.[0-9]+)*)                                          (?# release segment)
    ([-_\.]?((a|b|c|rc|alpha|beta|pre|preview))[-_\.]?([0-9]+)?)?  (?# pre-release)
    ((?:-([0-9]+))|(?:[-_\.]?(post|rev|r)[-_\.]?([0-9]+)?))?       (?# post release)
    ([-_\.]?(dev)[-_\.]?([0-9]+)?)?                                (?# dev release)
    (?:\+([a-z0-9]+(?:[-_\.][a-z0-9]+)*))?                         (?# local version)
    )""", re.VERBOSE | re.IGNORECASE)
SHA256 = re.compile(r"[0-9a-f]{64}", re.IGNORECASE)
REQUIRES_PYTHON_MAX = 255
FORM_FIELDS_MAX = 8 << 20  # form fields beside the file (the long description is one); the file has its own limit
PACKAGE_TYPE = "pypi"
_PCHAR = "!$&'()*+,;=:@"  # what may stay unescaped in a URL path segment

# SimplePresenterBase#body: an indented `<<-HTML` heredoc, of which `.lstrip` removes only the first indent.
_PAGE = """<!DOCTYPE html>
        <html>
          <head>
            <title>Links for {title}</title>
          </head>
          <body>
            <h1>Links for {title}</h1>
            {links}
          </body>
        </html>
"""
_ERB_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})


def normalize(name: str) -> str:
    """PEP 503, as GitLab's normalized_pypi_name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def upload(call: Call) -> Response:
    project = authorized_project(call.registry.directory, call.identity, call.params["id"],
                                 upload=True, unknown_is_404=True)
    store, limit = call.registry.store, call.registry.settings.pypi_max_file_size
    if (call.content_length or 0) > limit + FORM_FIELDS_MAX:
        raise bad_request("File is too large")
    mimetype, options = parse_options_header(call.request.headers.get("Content-Type"))
    with store.receiving() as new_upload:
        # Every file part streams to disk, limited while it arrives; only `content` is kept.
        parser = FormDataParser(stream_factory=lambda **_: new_upload(limit), max_form_memory_size=FORM_FIELDS_MAX)
        _, form, files = parser.parse(call.body(), mimetype, call.content_length, options)
        content = files.get("content")
        _check_form(form, content)
        name, version, requires_python = form["name"], form["version"], form.get("requires_python", "")
        _check_package(name, version, requires_python)
        store.add_file(project_id=project.id, package_type=PACKAGE_TYPE, name=name, version=version,
                       file_name=content.filename, upload=content.stream,
                       # Recorded as the client sent it, as GitLab does; computed only when it is absent.
                       file_sha256=form.get("sha256_digest"), requires_python=requires_python,
                       admit=_refuse_taken_file_name)
    return created()


def _check_form(form, content) -> None:
    """The declared parameters of the upload route (anything else twine sends is ignored)."""
    checks = Checks()
    if checks.required("content", content if content is not None else form.get("content")):
        if content is None or not content.filename:
            checks.errors.append("content is invalid")
    checks.required("name", form.get("name"))
    checks.required("version", form.get("version"))
    checks.regexp("sha256_digest", form.get("sha256_digest"), SHA256)
    checks.done()


def _check_package(name: str, version: str, requires_python: str) -> None:
    """The model validations CreatePackageService runs into, with Rails' "Validation failed" wording."""
    invalid = [f"{attribute} is invalid" for attribute, value, pattern in (("Name", name, NAME), ("Version", version, VERSION))
               if not pattern.fullmatch(value)]
    if invalid:
        raise bad_request(f"Validation failed: {', '.join(invalid)}")
    if len(requires_python) > REQUIRES_PYTHON_MAX:
        raise bad_request(f"Validation failed: Required python is too long (maximum is {REQUIRES_PYTHON_MAX} characters)")


def _refuse_taken_file_name(same_name: list[StoredFile]) -> None:
    """PyPI has no duplicate setting: the same file name twice in one package is refused, always."""
    if same_name:
        raise bad_request("Validation failed: File name has already been taken")


@dataclass(frozen=True)
class _Scope:
    """What the read routes serve: one project, or the projects of a group the caller may read."""

    api_base: str  # absolute, from the external URL and the numeric id even when the request used a path
    title: str
    project_ids: tuple[int, ...]
    file_missing: Callable[[], ApiError]  # the project route and the group route miss differently


def _project_scope(call: Call) -> _Scope:
    project = authorized_project(call.registry.directory, call.identity, call.params["id"],
                                 upload=False, unknown_is_404=True)
    return _Scope(f"{call.registry.external_url}{API}/projects/{project.id}/packages/pypi", project.name,
                  (project.id,), partial(not_found, "Package"))


def _group_scope(call: Call) -> _Scope:
    group, projects = authorized_group(call.registry.directory, call.identity, call.params["id"])
    return _Scope(f"{call.registry.external_url}{API}/groups/{group.id}/-/packages/pypi", group.name,
                  tuple(project.id for project in projects), record_not_found)


def _installable(call: Call, scope: _Scope):
    return call.registry.store.packages(scope.project_ids, PACKAGE_TYPE, "default")


def index(call: Call, scope_of: Callable[[Call], _Scope]) -> Response:
    """One link per package record (name and version), so a name with several versions repeats."""
    scope = scope_of(call)
    links = [_link(f"{scope.api_base}/simple/{normalize(package.name)}", package.files[-1].requires_python, package.name)
             for package in _installable(call, scope)]
    return _html(scope.title, links)


def versions(call: Call, scope_of: Callable[[Call], _Scope]) -> Response:
    requested = call.params["package_name"]
    check_file_path("package_name", requested)
    scope = scope_of(call)
    # The stored names are normalized, the requested one only lowercased (pip sends it normalized).
    packages = [package for package in _installable(call, scope) if normalize(package.name) == requested.lower()]
    if not packages:
        settings = call.registry.settings
        if settings.pypi_forwarding:  # a redirect, not a proxy: pip then fetches the upstream's files itself
            return redirect(f"{settings.pypi_upstream.rstrip('/')}/{requested}/")
        raise not_found("Package")
    links = [_link(f"{scope.api_base}/files/{file.file_sha256}/{quote(file.file_name, safe=_PCHAR)}"
                   f"#sha256={file.file_sha256}", file.requires_python, file.file_name)
             for package in packages for file in package.files]
    return _html(packages[0].name, links)


def download(call: Call, scope_of: Callable[[Call], _Scope]) -> Response:
    """Both the file name and the SHA-256 in the URL must match what was recorded."""
    file_name, sha256 = call.params["file_identifier"], call.params["sha256"].lower()
    check_file_path("file_identifier", file_name)
    scope = scope_of(call)
    matches = [file for package in _installable(call, scope) for file in package.files
               if file.file_name == file_name and file.file_sha256.lower() == sha256]
    if not matches:
        raise scope.file_missing()
    found = matches[-1]
    return file_response(call.request.environ, call.registry.store.blob_path(found.blob), found.size, file_name)


def _link(url: str, requires_python: str, text: str) -> str:
    return f'<a href="{url}" data-requires-python="{requires_python.translate(_ERB_ESCAPES)}">{text}</a>'


def _html(title: str, links: list[str]) -> Response:
    # Anchors are joined with nothing between them, as the presenters' `refs.join` does.
    body = _PAGE.format(title=title.translate(_ERB_ESCAPES), links="".join(links))
    return Response(body, 200, content_type="text/html; charset=utf-8")


def _read_routes(prefix: str, scope_of: Callable[[Call], _Scope]) -> list[Route]:
    # Grape drops a trailing slash, so pip's "simple/<name>/" matches.
    return [
        Route.of("GET HEAD", rf"{prefix}/simple/?", partial(index, scope_of=scope_of), JOB_TOKEN_IN_BASIC),
        Route.of("GET HEAD", rf"{prefix}/simple/(?P<package_name>.+?)/?", partial(versions, scope_of=scope_of),
                 JOB_TOKEN_IN_BASIC),
        Route.of("GET HEAD", rf"{prefix}/files/(?P<sha256>[^/]+)/(?P<file_identifier>.+)",
                 partial(download, scope_of=scope_of), JOB_TOKEN_IN_BASIC),
    ]


# The PyPI routes read a job token only from Basic auth as gitlab-ci-token: a JOB-TOKEN header is ignored.
ROUTES = [
    Route.of("POST", rf"{PROJECT}/packages/pypi/?", upload, JOB_TOKEN_IN_BASIC),
    *_read_routes(f"{PROJECT}/packages/pypi", _project_scope),
    *_read_routes(f"{GROUP}/packages/pypi", _group_scope),
]
